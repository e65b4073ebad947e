"""Planted truth through the user's own formats (docs/data.md#your-own-corpus): the synthetic
treebank's sentences written out as a labelled TSV, and the synthetic news text as plain text
files, one per split, run through the real workflow as corpora of the user's own, with the
default config's LSTM and autoencoder settings.

The effects planted by the generators must come out as they do on the native formats
(tests/test_planted_sentiment.py, tests/test_planted_autoencoder.py): the LSTM beats the
majority class, "hate" is the word whose omission changes the predicted score most, and the
autoencoder's step saliency points at the token being reproduced. The LSTM trains on whole
sentences here (a labelled corpus has no phrase labels), so its margin is checked against a
lower bar than the native run's.
"""

from __future__ import annotations

import subprocess
import sys

import polars as pl
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from workflow_runs import REPO, SUMMARY, snakemake, synth

from lingscope.encoding.ids import UNK_ID, load_vocab
from lingscope.methods.saliency import class_readout
from lingscope.models.checkpoint import load_network

R = "results"
# The LSTM trained on 2,000 sentences (no phrases) must still clear the majority class by this
# much on test; measured on the default seed: see the SUMMARY line this module prints.
LABELS_MARGIN = 0.2


@pytest.fixture(scope="module")
def formats_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("user-formats")
    default = yaml.safe_load((REPO / "config.yaml").read_text())
    # The published formats first, as the default run generates them ...
    synth("sst", work / "raw/sst", default)
    synth("wmt", work / "raw/wmt", default)
    subprocess.run([sys.executable, "-m", "lingscope.data.sst", "--trees-dir", str(work / "raw/sst"),
                    "--sentences", str(work / "sst.parquet"), "--phrases", str(work / "phrases.parquet")],
                   check=True, capture_output=True)
    # ... then the treebank's sentences as a labelled TSV (the tokens as the treebank has them,
    # so the whitespace tokenizer gives the native tokens back) and the news text as it is.
    sentences = pl.read_parquet(work / "sst.parquet")
    tsv = sentences.select(sentence=pl.col("tokens").list.join(" "), label=pl.col("label"), split=pl.col("split"))
    tsv.write_csv(work / "sst.tsv", separator="\t", quote_style="never")
    # ... and the issue's movie-review shape: one TSV of running text with string labels, drawn
    # splits and spaCy's tokenizer, written as real files come (a BOM, CRLF, quotes, brackets,
    # Unicode, a blank line).
    polar = sentences.filter(pl.col("label") != 2).head(1200)
    lines = ["\ufeffsentence\tpolarity"]
    for k, (tokens, label) in enumerate(zip(polar["tokens"].to_list(), polar["label"].to_list())):
        text = " ".join(tokens).replace(" ,", ",").replace(" .", ".").replace("-LRB- ", "(").replace(" -RRB-", ")")
        text = {0: f'"{text}" said the critic', 1: f"{text} – naïve, but 🎬 fun"}.get(k % 7, text)
        lines.append(f"{text}\t{'pos' if label > 2 else 'neg'}")
        if k == 10:
            lines.append("")
    (work / "mr.tsv").write_bytes("\r\n".join(lines).encode("utf-8") + b"\r\n")
    gz = work / "raw/wmt/train.txt.gz"
    config = {
        "corpora": {
            "sst_tsv": {"format": "labelled", "path": str(work / "sst.tsv"), "text": "sentence", "label": "label",
                        "tokenize": "whitespace"},
            "wmt_txt": {"format": "text", "files": {"train": str(gz), "val": str(work / "raw/wmt/val.txt"),
                                                    "test": str(work / "raw/wmt/test.txt")}, "tokenize": "spacy"},
            "mr": {"format": "labelled", "path": str(work / "mr.tsv"), "text": "sentence", "label": "polarity",
                   "split": {"val": 0.1, "test": 0.1, "seed": 1}, "tokenize": "spacy"},
        },
        "models": {name: None for name in default["models"]} | {
            "lstm_tsv": default["models"]["lstm"] | {"corpus": "sst_tsv", "examples": "sentences"},
            # Half the default's train lines: the planted alignment holds (the SUMMARY line shows
            # it), at half the CI time.
            "autoencoder_txt": default["models"]["autoencoder"] | {"corpus": "wmt_txt", "max_train_sentences": 15000},
            # The issue's shapes, small: a BiLSTM on the reviews, a 2-layer LSTM language model.
            "mr_bilstm": {"kind": "bilstm", "corpus": "mr", "max_epochs": 2},
            "lm_txt": {"kind": "lm", "corpus": "wmt_txt", "cell": "lstm", "layers": 2, "embedding_dim": 32,
                       "hidden_dim": 32, "max_epochs": 1, "max_train_sentences": 3000},
        },
        "attribution": {"sample": 50},
        "units": {"probe": {"c_grid": [1.0], "control": False}},
        "vocab": {"wmt_txt": default["vocab"]["wmt"]},
        "parse": {"splits": {"sst_tsv": ["val"], "wmt_txt": ["val"], "mr": ["val"]}},
        # Input optimisation of the 2-layer LM's bottom layer's hidden units, the others left out.
        "input_optimisation": {"other_networks": ["lm_txt/textual"], "other_methods": ["crp", "gbl"], "layer": 0},
    }
    path = work / "formats.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    snakemake(work, "--configfile", str(path), "--cores", "2")
    return work


def test_the_tsv_corpus_holds_the_treebanks_sentences_and_labels(formats_run):
    native = pl.read_parquet(formats_run / "sst.parquet").sort("split", "sentence_id")
    ingested = pl.read_parquet(formats_run / R / "data/sst_tsv/sentences.parquet")
    assert ingested.height == native.height
    for split in ("train", "val", "test"):
        a = native.filter(pl.col("split") == split)
        b = ingested.filter(pl.col("split") == split)
        assert a["tokens"].to_list() == b["tokens"].to_list()
        assert a["label"].to_list() == b["label"].to_list()  # integer labels keep their value
    labels = pl.read_parquet(formats_run / R / "data/sst_tsv/labels.parquet")
    assert labels["label_id"].to_list() == [0, 1, 2, 3, 4]


def test_the_lstm_on_the_tsv_beats_the_majority_class(formats_run):
    accuracy = pl.read_parquet(formats_run / R / "analysis/li2016/accuracy.parquet")
    assert set(accuracy["granularity"]) == {"labels"}  # not the SST: no fine, coarse or published rows
    assert accuracy["published_test"].is_null().all()
    row = accuracy.filter((pl.col("split") == "test")).row(0, named=True)
    assert row["data"].startswith("sst_tsv (labelled: ")
    SUMMARY.append(f"planted, labelled TSV: LSTM on sentences test accuracy {row['accuracy']:.3f} "
                   f"(majority {row['majority']:.3f}, n {row['n']})")
    assert row["accuracy"] > row["majority"] + LABELS_MARGIN, row
    assert row["ci_low"] > row["majority"], row


def test_leaving_out_hate_changes_the_predicted_score_most(formats_run):
    vocab = load_vocab(formats_run / R / "data/sst_tsv/vocab.parquet")
    net, _ = load_network(formats_run / R / "models/lstm_tsv/model.pt", "sentiment")
    readout = class_readout(net, "sentiment")
    for text in ("i hate the movie .", "i hate the movie i saw last night ."):
        words = text.split()
        rows = [words] + [words[:i] + words[i + 1:] for i in range(len(words))]
        width = max(map(len, rows))
        ids = torch.tensor([[vocab.get(w, UNK_ID) for w in r] + [0] * (width - len(r)) for r in rows])
        lengths = torch.tensor([len(r) for r in rows])
        with torch.no_grad():
            scores = net.readout("sentiment", readout, net.representation("sentiment", net.embed(ids), lengths))
        c = int(scores[0].argmax())
        change = (scores[0, c] - scores[1:, c]).abs()
        assert words[int(change.argmax())] == "hate", dict(zip(words, change.numpy().round(2)))


def test_the_autoencoder_on_text_files_points_at_the_reproduced_token(formats_run):
    folder = formats_run / R / "analysis/li2016/autoencoder"
    alignment = pl.read_csv(folder / "alignment.csv")
    assert alignment.height
    for row in alignment.iter_rows(named=True):
        SUMMARY.append(f"planted, text files: autoencoder step saliency aligned on {row['aligned_share']:.3f} of "
                       f"{row['steps']} steps (chance {row['chance_share']:.3f})")
        assert row["aligned_share"] > 2 * row["chance_share"], row
    report = yaml.safe_load((formats_run / R / "data/wmt_txt/ingest.json").read_text())
    n = pq.read_metadata(formats_run / R / "data/wmt_txt/sentences.parquet").num_rows
    assert sum(report["rows"].values()) == n and report["rows"]["val"] == 500  # what the ingest read
    table = pq.read_table(formats_run / R / "data/wmt_txt/sentences.parquet", columns=["corpus", "split"])
    assert set(table.column("corpus").to_pylist()) == {"wmt_txt"}


def test_the_issues_shapes_run_through_every_method(formats_run):
    """The movie reviews (drawn splits, string labels, spaCy, a BOM, CRLF, a blank line) and the
    2-layer LSTM language model on running text: ingested, parsed with one root per sentence,
    trained, evaluated, and every method that applies run on them."""
    results = formats_run / R
    report = yaml.safe_load((results / "data/mr/ingest.json").read_text())
    assert report["blank_lines"] == {str(formats_run / "mr.tsv"): 1}
    assert sum(report["rows"].values()) == 1200
    labels = pl.read_parquet(results / "data/mr/labels.parquet")
    assert labels.sort("label_id")["label"].to_list() == ["neg", "pos"]
    texts = pl.read_parquet(results / "data/mr/sentences.parquet")["text"].to_list()
    assert any("naïve, but 🎬 fun" in t for t in texts) and not any(t.startswith("\ufeff") for t in texts)
    assert not any(t.endswith("\r") for t in texts)
    roots = (pl.scan_parquet(str(results / "parse/*/*/tokens.parquet"), hive_partitioning=True)
             .group_by("corpus", "split", "sentence_id").agg(roots=(pl.col("head") == 0).sum()).collect())
    assert set(roots["corpus"]) == {"sst_tsv", "wmt_txt", "mr"}
    assert (roots["roots"] == 1).all(), roots.filter(pl.col("roots") != 1).head()

    accuracy = pl.read_parquet(results / "analysis/li2016/accuracy.parquet")
    mr = accuracy.filter(pl.col("model") == "mr_bilstm")
    assert set(mr["granularity"]) == {"labels"} and mr["data"].str.starts_with("mr (labelled: ").all()
    mcnemar = pl.read_parquet(results / "analysis/li2016/mcnemar.parquet")
    assert mcnemar.is_empty()  # the two classifiers are on different corpora: nothing to pair

    evaluation = pl.read_parquet(results / "models/lm_txt/evaluation.parquet")
    assert "perplexity" in evaluation["metric"].to_list()
    store = results / "activations/tokens/model=lm_txt/pathway=textual"
    assert sorted(p.name for p in store.iterdir() if not p.name.startswith(".")) == ["layer=0", "layer=1"]
    for method in ("omission", "attribution"):
        assert (results / method / "lm_txt.textual.parquet").exists(), method
    io = pl.read_parquet(results / "input_optimisation/lm_txt.textual.gbl.parquet")
    hidden = io.filter(pl.col("readout") == "representation")
    assert hidden.height  # input_optimisation.layer 0: the bottom layer's units (tests/test_methods_input_optimisation_eos.py)
    contexts = pl.read_parquet(results / "units/top_contexts/lm_txt.textual.parquet")
    assert set(contexts["layer"]) == {1}  # the top layer, by default
    matrix = pl.read_parquet(results / "analysis/across_papers/matrix.parquet")
    assert {"lm_txt", "mr_bilstm", "lstm_tsv", "autoencoder_txt"} <= set(matrix["model"])
