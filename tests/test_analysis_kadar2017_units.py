"""The unit-level analyses' reading of the activation store, top-K contexts (Table 1), the
chosen units and Fig. 7's captions, Fig. 5's words and Fig. 3's statistics, on real Parquet
files written in the store's layout."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import wilcoxon
from statsmodels.stats.multitest import multipletests

from lingscope.analysis.kadar2017 import distributions, omission_words, top_contexts, unit_figures
from lingscope.analysis.kadar2017.units import load_states, ngram_codes
from lingscope.core.errors import run_cli
from lingscope.core.schemas import OMISSION, TOKENS, UNIT_TABLE1, activations_schema


def write_store(folder, sentences: list[list[str]], states: np.ndarray, parts: int = 2, first_id: int = 10,
                layer: int = 0):
    """An activation folder ``model=m/pathway=p`` whose ``layer=<layer>`` partition has ``parts``
    files; every sentence gets an <eos> row (state 99, which must never be ranked) after its
    words; ``states`` are the words'. Returns the pathway folder."""
    (folder / f"layer={layer}").mkdir(parents=True)
    rows, k = [], 0
    for s, words in enumerate(sentences):
        for p, word in enumerate(words + ["<eos>"], start=1):
            state = states[k] if word != "<eos>" else np.full(states.shape[1], 99.0)
            k += word != "<eos>"
            rows.append({"sentence_id": first_id + s, "position": p, "token": word, "activation": state.tolist()})
    schema = activations_schema(states.shape[1])
    bounds = np.linspace(0, len(rows), parts + 1).astype(int)
    for i in range(parts):
        pq.write_table(pa.Table.from_pylist(rows[bounds[i]:bounds[i + 1]], schema=schema),
                       folder / f"layer={layer}" / f"part-{i}.parquet")
    return folder


def write_parse(path, sentences: list[list[str]], deprels: list[list[str]], first_id: int = 10):
    rows = [{"sentence_id": first_id + s, "position": p, "form": w, "lemma": None, "xpos": "NN", "upos": "NOUN",
             "deprel": d, "head": 0} for s, (ws, ds) in enumerate(zip(sentences, deprels))
            for p, (w, d) in enumerate(zip(ws, ds), start=1)]
    pq.write_table(pa.Table.from_pylist(rows, schema=TOKENS), path)
    return path


SENTENCES = [["a", "dog", "runs"], ["two", "dogs", "eat", "a", "pizza", "now"], ["cat"], ["a", "red", "dog", "sits"]]


@pytest.fixture
def store(tmp_path):
    rng = np.random.default_rng(3)
    n = sum(map(len, SENTENCES))
    states = np.round(rng.normal(size=(n, 4)), 1).astype(np.float32)  # rounded: ties at the K-th place
    states[:, 3] = 0.5  # a unit where every token ties
    return write_store(tmp_path / "model=m/pathway=p", SENTENCES, states, parts=3), states


def test_load_states_drops_eos_and_joins_the_parse(store, tmp_path):
    folder, states = store
    parse = write_parse(tmp_path / "parse.parquet", [[w.title() for w in s] for s in SENTENCES],
                        [["dep"] * len(s) for s in SENTENCES])
    loaded = load_states(folder, parse)
    assert len(loaded) == len(states) and np.array_equal(loaded.states, states)
    assert list(loaded.form[:3]) == ["a", "dog", "runs"] and set(loaded.deprel) == {"dep"}
    wrong = write_parse(tmp_path / "wrong.parquet", [["a", "cat", "runs"], *SENTENCES[1:]],
                        [["dep"] * len(s) for s in SENTENCES])
    with pytest.raises(Exception, match="the model read 'dog' but the parse"):
        load_states(folder, wrong)


def test_ngram_codes_are_left_padded_per_sentence():
    sentence = np.array([1, 1, 1, 2, 2])
    position = np.array([1, 2, 3, 1, 2])
    words = np.array([0, 1, 0, 0, 1])  # "x y x | x y"
    bigram = ngram_codes(sentence, position, words, 2)
    assert bigram[0] == bigram[3] and bigram[1] == bigram[4]  # "<s> x" and "x y" recur across sentences
    assert len(set(bigram)) == 3  # <s> x, x y, y x
    trigram = ngram_codes(sentence, position, words, 3)
    assert len(set(trigram)) == 3 and trigram[0] == trigram[3] and trigram[1] == trigram[4]


@pytest.mark.parametrize("batch_rows", [1, 2, 5, 1000])
def test_top_k_is_the_exact_ranking_whatever_the_batch(store, batch_rows):
    folder, states = store
    k = 4
    ranked = top_contexts.top_k(folder, k, batch_rows)
    for unit in range(states.shape[1]):
        # the reference: (|a| descending, store order ascending) over the word tokens, <eos> never
        order = np.lexsort((np.arange(len(states)), -np.abs(states[:, unit])))[:k]
        got = ranked.filter(pl.col("unit") == unit).sort("rank")
        np.testing.assert_array_equal(got["activation"].to_numpy(), states[order, unit].astype(np.float64))
    tie = ranked.filter(pl.col("unit") == 3).sort("rank")
    assert tie["sentence_id"].to_list() == [10, 10, 10, 11] and tie["position"].to_list() == [1, 2, 3, 1]


def test_top_contexts_table_has_padded_contexts_and_duplicates(store, tmp_path):
    folder, states = store
    out = tmp_path / "top.parquet"
    assert top_contexts.main(["--activations", str(folder), "--out", str(out), "--k", str(len(states))]) == 0
    table = pl.read_parquet(out)
    assert table.height == len(states) * states.shape[1]  # K = every token: all of them, duplicates kept
    row = table.filter((pl.col("sentence_id") == 11) & (pl.col("position") == 2)).row(0, named=True)
    assert (row["token"], row["trigram"], row["fivegram"]) == ("dogs", "<s> two dogs", "<s> <s> <s> two dogs")
    row = table.filter((pl.col("sentence_id") == 11) & (pl.col("position") == 6)).row(0, named=True)
    assert (row["trigram"], row["fivegram"]) == ("a pizza now", "dogs eat a pizza now")
    assert table["network"][0] == "m/p" and "<eos>" not in set(table["token"])


def test_top_contexts_bad_input_is_a_clear_error(tmp_path, capsys):
    empty = tmp_path / "model=m/pathway=p"
    empty.mkdir(parents=True)
    assert run_cli(top_contexts.main, ["--activations", str(empty), "--out", str(tmp_path / "o.parquet")]) == 2
    assert "holds no layer=K partition (nor part-k.parquet file)" in capsys.readouterr().err
    (empty / "layer=0").mkdir()
    assert run_cli(top_contexts.main, ["--activations", str(empty), "--out", str(tmp_path / "o.parquet")]) == 2
    assert "layer=0: holds no part-k.parquet" in capsys.readouterr().err
    (empty / "layer=2").mkdir()
    assert run_cli(top_contexts.main, ["--activations", str(empty), "--out", str(tmp_path / "o.parquet")]) == 2
    assert "its layer partitions are [0, 2]; expected layer=0 .. layer=1" in capsys.readouterr().err
    states = np.zeros((3, 2), dtype=np.float32)
    states[1, 0] = np.nan
    folder = write_store(tmp_path / "model=n/pathway=p", [["a", "b", "c"]], states, parts=1)
    assert run_cli(top_contexts.main, ["--activations", str(folder), "--out", str(tmp_path / "o.parquet")]) == 2
    assert "sentence 10 position 2: has a non-finite activation" in capsys.readouterr().err
    assert not (tmp_path / "o.parquet").exists()


def test_the_unit_rule_and_fig7_captions(tmp_path, capsys):
    """Unit 1 fires only on "dog" (one distinct word among its top K): the rule picks it first,
    and every caption Fig. 7 draws for it holds a token at or beyond its 90th percentile."""
    rng = np.random.default_rng(0)
    sentences = [[str(w) for w in rng.choice(["a", "dog", "cat", "runs", "sits", "red"], 6)] for _ in range(40)]
    words = [w for s in sentences for w in s]
    states = rng.normal(scale=0.1, size=(len(words), 3)).astype(np.float32)
    states[:, 1] = np.where(np.array(words) == "dog", -2.0, 0.0) + states[:, 1]
    folder = write_store(tmp_path / "model=m/pathway=p", sentences, states)
    top = tmp_path / "top.parquet"
    top_contexts.main(["--activations", str(folder), "--out", str(top), "--k", "5"])
    out = {k: tmp_path / f"{k}" for k in ("t1.parquet", "t1.csv", "tr.parquet", "fig7.png")}
    assert unit_figures.main(["--top-contexts", str(top), "--activations", str(folder), "--table-units", "2",
                              "--table1", str(out["t1.parquet"]), "--table1-csv", str(out["t1.csv"]),
                              "--traces", str(out["tr.parquet"]), "--fig7", str(out["fig7.png"])]) == 0
    table = pl.read_parquet(out["t1.parquet"])
    assert table.columns == UNIT_TABLE1.names
    assert table["unit"].unique(maintain_order=True).to_list()[0] == 1
    assert set(table.filter(pl.col("unit") == 1)["trigram"].str.split(" ").list.last()) == {"dog"}
    traces = pl.read_parquet(out["tr.parquet"])
    assert set(traces["unit"]) == {1}
    # read downwards (its top K is negative): each caption has a token at or below -threshold
    lowest = traces.group_by("sentence_id").agg(pl.col("activation").min(), pl.col("threshold").first())
    assert lowest.height == 3 and (lowest["activation"] <= -lowest["threshold"]).all()
    assert out["fig7.png"].exists() and out["fig7.png"].with_suffix(".svg").exists()
    bad = run_cli(unit_figures.main, ["--top-contexts", str(top), "--activations", str(folder), "--units", "m/p:9",
                                      "--table1", str(out["t1.parquet"]), "--table1-csv", str(out["t1.csv"]),
                                      "--traces", str(out["tr.parquet"]), "--fig7", str(out["fig7.png"])])
    assert bad == 2
    # a layer above: the tables were made of layer 0, now no longer the top one
    write_store(folder, sentences, -states, layer=1)
    figures = ["--top-contexts", str(top), "--activations", str(folder), "--table1", str(out["t1.parquet"]),
               "--table1-csv", str(out["t1.csv"]), "--traces", str(out["tr.parquet"]), "--fig7", str(out["fig7.png"])]
    assert run_cli(unit_figures.main, figures) == 2
    assert "layer -1: is layer 1 of the store, but the top-contexts tables of m/p were made of layer(s) [0]" \
        in capsys.readouterr().err
    assert unit_figures.main([*figures, "--layer", "0"]) == 0
    assert pl.read_parquet(out["tr.parquet"]).equals(traces)


def test_fig5_finds_the_word_whose_omission_its_deprel_decides(tmp_path):
    """"by" is an agent (high omission) or a preposition (low) at random; every other word has
    one omission level whatever its label: +DEPREL gains on "by" alone."""
    rng = np.random.default_rng(1)
    rows, parse = [], []
    levels = {"a": 0.1, "dog": 0.6, "runs": 0.3, "by": None}
    for s in range(300):
        for p, word in enumerate(["a", "dog", "runs", "by"], start=1):
            deprel = ("agent" if rng.random() < 0.5 else "prep") if word == "by" else {"a": "det", "dog": "nsubj",
                                                                                       "runs": "root"}[word]
            level = levels[word] if word != "by" else (0.8 if deprel == "agent" else 0.05)
            rows.append({"sentence_id": s, "position": p, "token": word, "model": "imaginet", "pathway": "visual",
                         "omission": level + rng.normal(scale=0.01)})
            parse.append({"sentence_id": s, "position": p, "form": word, "lemma": None, "xpos": "X", "upos": "X",
                          "deprel": deprel, "head": 0})
    pq.write_table(pa.Table.from_pylist(rows, schema=OMISSION), tmp_path / "om.parquet")
    pq.write_table(pa.Table.from_pylist(parse, schema=TOKENS), tmp_path / "parse.parquet")
    words, boxes = tmp_path / "w.parquet", tmp_path / "b.parquet"
    assert omission_words.main(["--omission", str(tmp_path / "om.parquet"), "--tokens", str(tmp_path / "parse.parquet"),
                                "--words-table", str(words), "--boxes", str(boxes), "--fig5", str(tmp_path / "f.png"),
                                "--words", "2", "--min-tokens", "50", "--min-deprel", "10", "--alphas", "0.1", "1",
                                "--folds", "2"]) == 0
    ranked = pl.read_parquet(words)
    assert ranked["word"][0] == "by" and ranked["mean_gain"][0] > 0.1 > abs(ranked["mean_gain"][1])
    box = pl.read_parquet(boxes).filter(pl.col("word") == "by")
    assert dict(zip(box["deprel"], box["median"]))["agent"] > 0.7


def test_fig3_statistics_are_wilcoxon_with_bh(tmp_path):
    rng = np.random.default_rng(2)
    labels = ["det"] * 80 + ["amod"] * 80 + ["prep"] * 80
    shift = {"det": -0.5, "amod": 0.4, "prep": 0.0}
    tokens = pl.DataFrame({"xpos": ["X"] * 240, "deprel": labels,
                           "log_ratio": [shift[lab] + rng.normal() for lab in labels]})
    table = distributions.log_ratio_by_label(tokens, min_count=10, fdr=0.05).filter(pl.col("label_kind") == "deprel")
    expected = {lab: wilcoxon(tokens.filter(pl.col("deprel") == lab)["log_ratio"].to_numpy()).pvalue
                for lab in table["label"]}
    np.testing.assert_allclose(table["p_value"].to_numpy(), [expected[lab] for lab in table["label"]], rtol=1e-12)
    np.testing.assert_allclose(table["p_adjusted"].to_numpy(),
                               multipletests(table["p_value"].to_numpy(), method="fdr_bh")[1], rtol=1e-12)
    significant = dict(zip(table["label"], table["significant"]))
    assert significant["det"] and significant["amod"] and not significant["prep"]
