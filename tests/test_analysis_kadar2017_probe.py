"""The grammatical-function probe (Kadar et al. 2017, sec. 5.5, Table 2) with its control task:
features, splits, labels, and the CLI on planted activation stores."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lingscope.analysis.kadar2017 import probe
from lingscope.core.errors import run_cli
from lingscope.core.io import write_parquet
from lingscope.core.schemas import (
    PROBE_F1,
    PROBE_UNITS,
    TOKENS,
    TOP_CONTEXTS,
    activations_schema,
)

LABELS = ("det", "nsubj", "root")
PLANTED_UNIT = {"det": 2, "nsubj": 4, "root": 0}
DIM = 6


def sentences_of(words: list[list[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sentence_id = np.concatenate([np.full(len(w), 10 + s) for s, w in enumerate(words)])
    position = np.concatenate([np.arange(1, len(w) + 1) for w in words])
    form = np.array([x for w in words for x in w], dtype=object)
    return sentence_id, position, form


# --- features ------------------------------------------------------------------------------

def test_fourgram_features_of_a_hand_example():
    sentence_id, position, form = sentences_of([["the", "nice", "dog", "runs", "fast"], ["a", "cat"]])
    design = probe.fourgram_design(sentence_id, position, form, np.ones(len(form), bool))
    assert design.row_names(0) == ["the_0"]
    assert sorted(design.row_names(2)) == sorted(["dog_0", "nice_1", "the_2", "nice_1 dog_0", "the_2 nice_1",
                                                  "the_2 nice_1 dog_0"])
    assert sorted(design.row_names(3)) == sorted([
        "runs_0", "dog_1", "nice_2", "the_3", "dog_1 runs_0", "nice_2 dog_1", "the_3 nice_2",
        "nice_2 dog_1 runs_0", "the_3 nice_2 dog_1", "the_3 nice_2 dog_1 runs_0"])
    # w_{t-4} is out of reach, and a new sentence starts afresh
    assert "the_4" not in " ".join(design.row_names(4)) and len(design.row_names(4)) == 10
    assert sorted(design.row_names(6)) == ["a_1", "a_1 cat_0", "cat_0"]
    # binary, at most 10 per token
    assert design.matrix.max() == 1 and np.diff(design.matrix.indptr).max() == 10


def test_categories_come_from_the_training_part_only():
    sentence_id, position, form = sentences_of([["the", "dog"], ["the", "cat"], ["a", "dog"]])
    train = np.isin(sentence_id, [10, 11])
    words = probe.word_design(form, train)
    assert sorted(words.names()) == ["cat_0", "dog_0", "the_0"]
    assert words.row_names(4) == [] and words.row_names(5) == ["dog_0"]  # "a" was never seen in training
    ngrams = probe.fourgram_design(sentence_id, position, form, train)
    assert sorted(ngrams.names()) == sorted(["the_0", "dog_0", "the_1", "the_1 dog_0", "cat_0", "the_1 cat_0"])
    assert ngrams.row_names(5) == ["dog_0"]  # a_1 and a_1 dog_0 occur only in the held-out sentence


def test_split_is_by_sentence_seeded_and_honours_the_share():
    sentence_id = np.repeat(np.arange(200), np.random.default_rng(0).integers(1, 9, 200))
    train = probe.split_sentences(sentence_id, 0.25, seed=3)
    for s in np.unique(sentence_id):
        assert len(np.unique(train[sentence_id == s])) == 1
    assert len(np.unique(sentence_id[~train])) == 50
    assert np.array_equal(train, probe.split_sentences(sentence_id, 0.25, seed=3))
    assert not np.array_equal(train, probe.split_sentences(sentence_id, 0.25, seed=4))


def test_rare_labels_merge_and_control_labels_follow_the_word_type():
    rng = np.random.default_rng(0)
    form = rng.choice([f"w{i}" for i in range(30)], 600).astype(object)
    labels = rng.choice(["det", "nsubj", "root"], 600).astype(object)
    labels[:3] = "xcomp"
    train = np.arange(600) < 400
    labels[450] = "appos"  # held-out only: no training token at all
    merged_labels, merged = probe.merge_rare(labels, train, min_count=20)
    assert merged == ["appos", "xcomp"]
    assert set(merged_labels) == {"det", "nsubj", "root", probe.OTHER}
    control = probe.control_labels(form, merged_labels, train, seed=1)
    for word in np.unique(form):
        assert len(set(control[form == word])) == 1
    assert set(control) <= set(merged_labels[train])
    assert np.array_equal(control, probe.control_labels(form, merged_labels, train, seed=1))
    assert not np.array_equal(control, probe.control_labels(form, merged_labels, train, seed=2))


# --- the CLI on planted stores -------------------------------------------------------------

def planted_corpus(n_sentences: int = 160, seed: int = 0):
    """Sentences of 4-7 words from 12 types, each token's deprel drawn independently of its word
    (so the word alone is near chance); a few 'xcomp' tokens, too rare to keep."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(4, 8, n_sentences)
    words = [[f"W{w}" if i == 0 else f"w{w}" for i, w in enumerate(rng.integers(0, 12, n))] for n in lengths]
    sentence_id, position, form = sentences_of(words)
    deprel = rng.choice(LABELS, len(form)).astype(object)
    deprel[[3, 40, 77]] = "xcomp"
    return sentence_id, position, form, deprel


def write_parse(path, sentence_id, position, form, deprel):
    n = len(form)
    table = pa.table({"sentence_id": sentence_id.astype(np.int64), "position": position.astype(np.int32),
                      "form": form.tolist(), "lemma": [None] * n, "xpos": ["NN"] * n, "upos": ["NOUN"] * n,
                      "deprel": deprel.tolist(), "head": np.zeros(n, np.int32)})
    write_parquet(table, path, TOKENS, "tokens")


def write_store(folder, sentence_id, position, form, states):
    """One part file of layer 0, rows shuffled, with an <eos> row closing every sentence."""
    (folder / "layer=0").mkdir(parents=True)
    last = np.r_[sentence_id[1:] != sentence_id[:-1], True]
    eos_ids, eos_pos = sentence_id[last], position[last] + 1
    ids = np.r_[sentence_id, eos_ids]
    pos = np.r_[position, eos_pos]
    token = [str(f).lower() for f in form] + ["<eos>"] * int(last.sum())
    values = np.vstack([states, np.full((int(last.sum()), states.shape[1]), 99.0)]).astype(np.float32)
    order = np.random.default_rng(1).permutation(len(ids))
    schema = activations_schema(states.shape[1])
    table = pa.table({"sentence_id": ids[order].astype(np.int64), "position": pos[order].astype(np.int32),
                      "token": [token[i] for i in order],
                      "activation": pa.FixedSizeListArray.from_arrays(pa.array(values[order].ravel()),
                                                                        states.shape[1])}, schema=schema)
    pq.write_table(table, folder / "layer=0" / "part-0.parquet")


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe")
    sentence_id, position, form, deprel = planted_corpus()
    write_parse(root / "tokens.parquet", sentence_id, position, form, deprel)
    rng = np.random.default_rng(5)
    signal = rng.normal(0, 0.6, (len(form), DIM))
    for label, unit in PLANTED_UNIT.items():
        signal[deprel == label, unit] += 3.0
    noise = rng.normal(0, 1.0, (len(form), DIM))
    stores = root / "activations" / "tokens"
    write_store(stores / "model=imaginet" / "pathway=textual", sentence_id, position, form, signal)
    write_store(stores / "model=imaginet" / "pathway=visual", sentence_id, position, form, noise)
    contexts = pa.table({"network": ["Textual"] * 4, "model": ["imaginet"] * 4, "pathway": ["textual"] * 4,
                         "layer": np.zeros(4, np.int16), "unit": np.array([2, 2, 2, 2], np.int32),
                         "rank": np.array([2, 1, 4, 3], np.int16),
                         "activation": [3.0, 3.5, 2.0, 2.5], "sentence_id": np.arange(4, dtype=np.int64),
                         "position": np.ones(4, np.int32), "token": ["a"] * 4,
                         "trigram": ["b c d", "a b c", "z z z", "e f g"], "fivegram": ["x"] * 4})
    write_parquet(contexts, root / "top_contexts.parquet", TOP_CONTEXTS, "top_contexts")
    out = root / "out"
    argv = ["--activations", str(stores / "model=imaginet" / "pathway=textual"),
            str(stores / "model=imaginet" / "pathway=visual"), "--tokens", str(root / "tokens.parquet"),
            "--top-contexts", str(root / "top_contexts.parquet"), "--table2", str(out / "table2.parquet"),
            "--table2-csv", str(out / "table2.csv"), "--units", str(out / "units.parquet"),
            "--c-grid", "0.1", "1", "--top-units", "2"]
    assert probe.main(argv) == 0
    return {"root": root, "out": out, "argv": argv, "stores": stores}


def f1_of(table2: pl.DataFrame, network, feature_set, task="deprel") -> dict:
    network_filter = pl.col("network").is_null() if network is None else pl.col("network") == network
    return table2.filter(network_filter & (pl.col("feature_set") == feature_set) & (pl.col("task") == task)).row(
        0, named=True)


def test_cli_writes_table2_with_planted_directions(planted):
    table2 = pl.read_parquet(planted["out"] / "table2.parquet")
    assert pq.read_schema(planted["out"] / "table2.parquet").names == PROBE_F1.names
    # word and 4-gram once, then per network 2 state sets x 2 tasks
    assert table2.height == 2 + 2 * 4
    assert pl.read_csv(planted["out"] / "table2.csv").height == table2.height
    word = f1_of(table2, None, "word")
    assert word["published"] == pytest.approx(0.710) and word["n_classes"] == 4  # 3 labels + other
    textual = f1_of(table2, "Textual", "state")
    visual = f1_of(table2, "Visual", "state")
    assert textual["f1_micro"] > word["f1_micro"] + 0.3
    assert textual["selectivity"] > 0.3
    assert textual["published"] == pytest.approx(0.811)
    assert visual["f1_micro"] < word["f1_micro"] + 0.05
    assert abs(visual["selectivity"]) < 0.15
    control = f1_of(table2, "Textual", "state", "control")
    assert control["selectivity"] is None and control["published"] is None
    assert textual["selectivity"] == pytest.approx(textual["f1_micro"] - control["f1_micro"])
    assert set(table2["C"]) <= {0.1, 1.0}
    assert table2.filter(pl.col("network").is_null())["layer"].is_null().all()
    assert table2.filter(pl.col("network").is_not_null())["layer"].to_list() == [0] * 8  # the top, of one layer
    held_out = table2["n_test"].unique()
    assert len(held_out) == 1 and (table2["n_train"] + table2["n_test"]).unique().to_list() == [len(planted_corpus()[0])]


def test_cli_top_units_are_the_planted_units(planted):
    units = pl.read_parquet(planted["out"] / "units.parquet")
    assert pq.read_schema(planted["out"] / "units.parquet").names == PROBE_UNITS.names
    top = units.filter((pl.col("network") == "Textual") & (pl.col("rank") == 1))
    assert dict(zip(top["deprel"], top["unit"])) == PLANTED_UNIT  # 'other' gets no units
    first = top.filter(pl.col("deprel") == "det").row(0, named=True)
    assert first["coefficient"] > 0 and first["top_contexts"] == "a b c | b c d | e f g"
    assert units.filter(pl.col("network") == "Visual")["top_contexts"].to_list() == [""] * 6
    assert units.height == 2 * 3 * 2


def test_cli_is_deterministic(planted, tmp_path):
    argv = list(planted["argv"])
    for flag in ("--table2", "--table2-csv", "--units"):
        argv[argv.index(flag) + 1] = str(tmp_path / argv[argv.index(flag) + 1].split("/")[-1])
    assert probe.main(argv) == 0
    assert pl.read_parquet(tmp_path / "table2.parquet").equals(pl.read_parquet(planted["out"] / "table2.parquet"))


def test_bad_input_exits_with_a_clear_error(planted, tmp_path, capsys):
    argv = list(planted["argv"])
    argv[argv.index("--activations") + 1] = str(tmp_path / "model=imaginet" / "pathway=nothing")
    assert run_cli(probe.main, argv) == 2
    assert "no such activation folder" in capsys.readouterr().err
    assert run_cli(probe.main, [*planted["argv"], "--layer", "-2"]) == 2
    assert "pathway=textual: layer -2: not in the store: its layers are [0]" in capsys.readouterr().err
    # a network read on other sentences than the first
    sentence_id, position, form, _ = planted_corpus()
    keep = sentence_id != sentence_id[0]
    other = tmp_path / "model=lm" / "pathway=textual"
    write_store(other, sentence_id[keep], position[keep], form[keep], np.zeros((int(keep.sum()), 3)))
    argv = list(planted["argv"])
    argv[argv.index("--activations") + 2] = str(other)
    assert run_cli(probe.main, argv) == 2
    assert "same split" in capsys.readouterr().err
