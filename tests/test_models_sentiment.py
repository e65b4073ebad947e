"""The sentiment models of Li et al. (2016) on a small synthetic treebank built with the real
generator and ingest: the dropout path, phrase examples, training (determinism, kill -9 resume,
early stopping on dev accuracy), evaluation, the accuracy table with its intervals and McNemar
tests, and saliency on CUDA where a GPU is present."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import torch
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from killed_training import kill_after_first_checkpoint
from lingscope.analysis.li2016 import sentiment_accuracy
from lingscope.core.errors import InputError
from lingscope.data import sst as ingest_sst
from lingscope.data import vocab as build_vocab
from lingscope.encoding.captions import load_sentences
from lingscope.encoding.ids import load_vocab_checked
from lingscope.methods import saliency
from lingscope.models.checkpoint import load_model
from lingscope.models.sentiment import Architecture, SentimentModel, reverse_within, stepped
from lingscope.synth import sst as synth_sst
from lingscope.training import evaluate, train
from lingscope.training.objectives import load_labels

@pytest.fixture(scope="module")
def treebank(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sst")
    synth_sst.generate(root / "trees", 5, 300, 60, 80)
    paths = {"sentences": root / "sentences.parquet", "phrases": root / "phrases.parquet", "vocab": root / "vocab.parquet"}
    assert ingest_sst.main(["--trees-dir", str(root / "trees"), "--sentences", str(paths["sentences"]),
                            "--phrases", str(paths["phrases"])]) == 0
    assert build_vocab.main(["--sentences", str(paths["sentences"]), "--out", str(paths["vocab"]), "--min-count", "1"]) == 0
    return paths


def _args(treebank, out: Path, kind: str = "lstm", epochs: int = 3, *extra: str) -> list[str]:
    return ["--name", kind, "--kind", kind, "--sentences", str(treebank["sentences"]), "--vocab", str(treebank["vocab"]),
            "--phrases", str(treebank["phrases"]), "--embedding-dim", "16", "--hidden-dim", "16", "--batch-size", "50",
            "--learning-rate", "0.1", "--max-epochs", str(epochs), "--patience", "5", "--seed", "3", "--device", "cpu",
            "--checkpoint-dir", str(out / "ckpt"), "--out-model", str(out / "model.pt"),
            "--out-metrics", str(out / "metrics.parquet"), *extra]


@pytest.fixture(scope="module")
def trained(treebank, tmp_path_factory) -> dict[str, Path]:
    out = {}
    for kind in ("rnn", "lstm", "bilstm"):
        folder = tmp_path_factory.mktemp(kind)
        assert train.main(_args(treebank, folder, kind, 4)) == 0
        out[kind] = folder
    return out


def _same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_model(a)[0].state_dict(), load_model(b)[0].state_dict()
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


# --- the model ---------------------------------------------------------------------------------

@pytest.mark.parametrize("lstm", [False, True])
def test_the_stepped_dropout_path_is_the_fused_layer_without_dropout(lstm):
    torch.manual_seed(0)
    layer = torch.nn.LSTM(5, 7, batch_first=True) if lstm else torch.nn.RNN(5, 7, batch_first=True)
    x = torch.randn(3, 6, 5)
    torch.testing.assert_close(stepped(layer, x, 0.0), layer(x)[0], atol=1e-6, rtol=1e-5)
    torch.manual_seed(1)
    a = stepped(layer, x, 0.5)
    torch.manual_seed(1)
    assert torch.equal(a, stepped(layer, x, 0.5))  # masks come from torch's seeded RNG
    assert not torch.allclose(a, layer(x)[0])  # dropout does act


def test_dropout_acts_in_training_only():
    model = SentimentModel(Architecture("bilstm", 20, 6, 5, dropout=0.5))
    ids = torch.tensor([[3, 4, 5, 6]])
    lengths = torch.tensor([4])
    model.eval()
    rep = model.representation("sentiment", model.embed(ids), lengths)
    torch.testing.assert_close(rep, model.representation("sentiment", model.embed(ids), lengths))
    model.train()
    assert not torch.allclose(rep, model.representation("sentiment", model.embed(ids), lengths))


def test_bilstm_reads_backward_within_each_length():
    x = torch.arange(2 * 4, dtype=torch.float32).view(2, 4, 1)
    lengths = torch.tensor([2, 4])
    assert reverse_within(x, lengths)[:, :, 0].tolist() == [[1, 0, 2, 3], [7, 6, 5, 4]]
    model = SentimentModel(Architecture("bilstm", 20, 6, 5)).eval()
    ids = torch.tensor([[3, 4, 5]])
    rep = model.representation("sentiment", model.embed(ids), torch.tensor([3]))
    # the backward half is a forward run of the backward LSTM over the reversed sentence
    backward = model.backward_layer(model.embed(ids.flip(1)))[0][:, -1]
    torch.testing.assert_close(rep[:, 5:], backward)
    torch.testing.assert_close(rep[:, :5], model.forward_layer(model.embed(ids))[0][:, -1])


def test_every_train_phrase_is_an_example_and_dev_is_whole_sentences(treebank):
    vocab = load_vocab_checked(treebank["vocab"])
    phrases = pq.read_table(treebank["phrases"]).to_pandas()
    train_sentences = load_sentences(treebank["sentences"], vocab, "train", eos=False)
    examples, labels = load_labels(treebank["phrases"], "train", train_sentences, phrases=True)
    assert len(examples) == (phrases["split"] == "train").sum()
    # each example is its phrase's span, with its label
    row = phrases[phrases["split"] == "train"].iloc[7]
    sentence = train_sentences.tokens[list(train_sentences.sentence_ids).index(row["sentence_id"])]
    assert examples.tokens[7] == sentence[row["start"]:row["end"]]
    assert labels[7] == row["label"]
    assert np.array_equal(examples.lengths, (phrases[phrases["split"] == "train"]["end"]
                                             - phrases[phrases["split"] == "train"]["start"]).to_numpy())
    dev = load_sentences(treebank["sentences"], vocab, "val", eos=False)
    roots, root_labels = load_labels(treebank["phrases"], "val", dev, phrases=False)
    assert len(roots) == len(dev) and np.array_equal(roots.lengths, dev.lengths)
    gold = pq.read_table(treebank["sentences"], filters=[("split", "=", "val")]).column("label").to_numpy()
    assert np.array_equal(root_labels, gold)


def test_a_train_split_cut_short_trains_on_its_own_sentences_phrases(treebank, tmp_path):
    """``max_train_sentences``: the phrases of the sentences left out are not examples, while a
    phrase without its sentence in a whole split stays an error naming it."""
    vocab = load_vocab_checked(treebank["vocab"])
    first = load_sentences(treebank["sentences"], vocab, "train", limit=40, eos=False)
    with pytest.raises(InputError, match=r"sentence_id \d+.*has no sentence"):
        load_labels(treebank["phrases"], "train", first, phrases=True)
    examples, labels = load_labels(treebank["phrases"], "train", first, phrases=True, partial=True)
    phrases = pq.read_table(treebank["phrases"], filters=[("split", "=", "train")]).to_pandas()
    kept = phrases[phrases["sentence_id"].isin(first.sentence_ids)]
    assert 40 < len(examples) == len(kept) < len(phrases)
    assert np.array_equal(labels, kept["label"].to_numpy())
    assert train.main(_args(treebank, tmp_path, "rnn", 1, "--max-train-sentences", "40")) == 0


# --- training ----------------------------------------------------------------------------------

def test_training_stops_on_dev_accuracy_and_beats_the_majority(trained, treebank):
    for kind, folder in trained.items():
        rows = pq.read_table(folder / "metrics.parquet").to_pylist()
        best = max(rows, key=lambda r: (r["val_accuracy"], -r["epoch"]))
        assert best["is_best"] and sum(r["is_best"] for r in rows) == 1, kind
        dev = pq.read_table(treebank["sentences"], filters=[("split", "=", "val")]).column("label").to_numpy()
        majority = np.bincount(dev).max() / len(dev)
        assert best["val_accuracy"] > majority + 0.05, (kind, best["val_accuracy"], majority)


def test_training_is_deterministic_and_resumes_after_kill_9(treebank, trained, tmp_path):
    """The BiLSTM trains with dropout masks from torch's RNG: a run killed after its first
    checkpoint and rerun ends with exactly the weights of the uninterrupted run."""
    cmd, env = kill_after_first_checkpoint(_args(treebank, tmp_path, "bilstm", 4), tmp_path / "ckpt" / "last.pt")
    assert not (tmp_path / "model.pt").exists()
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "resumed from" in rerun.stderr
    assert _same_weights(tmp_path / "model.pt", trained["bilstm"] / "model.pt")


def test_adagrad_and_phrases_are_what_trains(treebank, tmp_path):
    assert train.main(_args(treebank, tmp_path, "rnn", 1, "--optimizer", "adam", "--examples", "sentences")) == 0
    log = pq.read_table(tmp_path / "metrics.parquet").to_pylist()
    assert len(log) == 1
    other = tmp_path / "other"
    assert train.main(_args(treebank, other, "rnn", 1)) == 0
    assert not _same_weights(tmp_path / "model.pt", other / "model.pt")


# --- evaluation and the accuracy table ---------------------------------------------------------

@pytest.fixture(scope="module")
def evaluated(trained, treebank, tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    out = {}
    for kind, folder in trained.items():
        table, predictions = folder / "evaluation.parquet", folder / "predictions.parquet"
        assert evaluate.main(["--model", str(folder / "model.pt"), "--sentences", str(treebank["sentences"]),
                              "--vocab", str(treebank["vocab"]), "--phrases", str(treebank["phrases"]),
                              "--split", "val", "test", "--device", "cpu", "--out", str(table),
                              "--predictions", str(predictions), "--sst-polarity"]) == 0
        out[kind] = (table, predictions)
    return out


def test_off_the_sst_only_the_corpuss_own_labels_are_scored(trained, treebank, tmp_path):
    """Without --sst-polarity (a labelled corpus of the user's own): accuracy over its labels and
    the majority baseline, no coarse polarity, and the accuracy table's granularity ``labels``
    with no published number."""
    table, predictions = tmp_path / "evaluation.parquet", tmp_path / "predictions.parquet"
    assert evaluate.main(["--model", str(trained["lstm"] / "model.pt"), "--sentences", str(treebank["sentences"]),
                          "--vocab", str(treebank["vocab"]), "--phrases", str(treebank["phrases"]),
                          "--split", "test", "--device", "cpu", "--out", str(table),
                          "--predictions", str(predictions)]) == 0
    rows = {r["metric"]: r for r in pq.read_table(table).to_pylist()}
    assert set(rows) == {"accuracy", "majority"}
    pred = pl.read_parquet(predictions)
    assert pred["coarse_label"].is_null().all() and pred["coarse_predicted"].is_null().all()
    assert rows["accuracy"]["value"] == pytest.approx((pred["label"] == pred["predicted"]).mean())
    out = tmp_path / "accuracy.parquet"
    assert sentiment_accuracy.main(["--predictions", str(predictions), "--evaluation", str(table), "--data",
                                    "lstm=mine (labelled: reviews.tsv)", "--out", str(out),
                                    "--out-mcnemar", str(tmp_path / "mcnemar.parquet")]) == 0
    accuracy = pl.read_parquet(out)
    assert accuracy["granularity"].to_list() == ["labels"] and accuracy["published_test"].is_null().all()
    assert accuracy["data"].to_list() == ["mine (labelled: reviews.tsv)"]
    assert accuracy["majority"][0] == pytest.approx(rows["majority"]["value"])


def test_evaluation_scores_fine_and_coarse_accuracy_from_the_predictions(evaluated, treebank):
    table, predictions = evaluated["lstm"]
    rows = {(r["split"], r["metric"]): r for r in pq.read_table(table).to_pylist()}
    pred = pl.read_parquet(predictions)
    for split in ("val", "test"):
        part = pred.filter(pl.col("split") == split)
        gold = pq.read_table(treebank["sentences"], filters=[("split", "=", split)]).column("label").to_numpy()
        assert part.height == len(gold)
        assert rows[(split, "accuracy_fine")]["value"] == pytest.approx((part["label"] == part["predicted"]).mean())
        polar = part.filter(pl.col("label") != 2)
        assert rows[(split, "accuracy_coarse")]["n"] == polar.height == int((gold != 2).sum())
        assert polar["coarse_label"].to_list() == [int(v >= 3) for v in polar["label"]]
        assert rows[(split, "accuracy_coarse")]["value"] == pytest.approx(
            (polar["coarse_label"] == polar["coarse_predicted"]).mean())
        # the coarse prediction is the side of the larger softmax mass
        p = torch.softmax(torch.tensor(np.stack(part["scores"].to_numpy())).double(), 1)
        assert part["coarse_predicted"].to_list() == (p[:, 3:].sum(1) > p[:, :2].sum(1)).int().tolist()


def test_accuracy_table_has_wilson_intervals_published_values_and_mcnemar(evaluated, tmp_path):
    out = tmp_path / "accuracy.parquet"
    preds = [str(p) for _, p in evaluated.values()]
    evals = [str(t) for t, _ in evaluated.values()]
    assert sentiment_accuracy.main(["--predictions", *preds, "--evaluation", *evals, "--data", "synthetic test",
                                    "--out", str(out), "--out-mcnemar", str(tmp_path / "mcnemar.parquet")]) == 0
    table = pl.read_parquet(out)
    assert table.height == 3 * 2 * 2  # models x splits x granularities
    row = table.filter((pl.col("model") == "lstm") & (pl.col("split") == "test") & (pl.col("granularity") == "fine")).row(0, named=True)
    low, high = proportion_confint(row["correct"], row["n"], alpha=0.05, method="wilson")
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    assert row["published_test"] == 0.469 and row["network"] == "LSTM" and row["data"] == "synthetic test"
    assert table.filter(pl.col("split") == "val")["published_test"].is_null().all()
    assert (tmp_path / "accuracy.csv").exists()
    tests = pl.read_parquet(tmp_path / "mcnemar.parquet")
    assert tests.height == 3 * 2 * 2  # pairs x splits x granularities
    pair = tests.filter((pl.col("split") == "test") & (pl.col("granularity") == "fine")
                        & (pl.col("model_a") == "bilstm") & (pl.col("model_b") == "lstm")).row(0, named=True)
    a = pl.read_parquet(evaluated["bilstm"][1]).filter(pl.col("split") == "test").sort("sentence_id")
    b = pl.read_parquet(evaluated["lstm"][1]).filter(pl.col("split") == "test").sort("sentence_id")
    x, y = (a["label"] == a["predicted"]).to_numpy(), (b["label"] == b["predicted"]).to_numpy()
    assert (pair["a_only"], pair["b_only"]) == (int((x & ~y).sum()), int((~x & y).sum()))
    expected = mcnemar([[int((x & y).sum()), pair["a_only"]], [pair["b_only"], int((~x & ~y).sum())]], exact=True)
    assert pair["p_value"] == pytest.approx(expected.pvalue)


# --- saliency on the GPU -----------------------------------------------------------------------

@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_saliency_runs_on_cuda_in_eval_mode_and_matches_the_cpu(trained, treebank):
    """cuDNN's RNN backward refuses eval mode; the method turns cuDNN off for its pass."""
    for kind, folder in trained.items():
        model_cpu, _ = load_model(folder / "model.pt", "cpu")
        model_gpu, _ = load_model(folder / "model.pt", "cuda")
        assert not model_gpu.training
        ids = torch.tensor([[5, 6, 7, 8], [9, 10, 11, 0]])
        lengths = torch.tensor([4, 3])
        g_cpu, _, p_cpu = saliency.saliency_batch(model_cpu, "sentiment", "sentiment", ids, lengths)
        g_gpu, _, p_gpu = saliency.saliency_batch(model_gpu, "sentiment", "sentiment", ids.cuda(), lengths.cuda())
        assert torch.equal(p_cpu, p_gpu.cpu())
        torch.testing.assert_close(g_gpu.cpu(), g_cpu, atol=1e-5, rtol=1e-4)
