"""Mutual information between units and contexts (Kadar et al. 2017, sec. 5.6, Fig. 8): the
vectorised kernel against scikit-learn, the bins, the bootstrap and the CLI on real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import mutual_info_score

from lingscope.analysis.kadar2017 import mutual_information as mi
from lingscope.analysis.settings import MutualInformationSettings
from lingscope.core.errors import run_cli
from lingscope.core.schemas import (
    MI_RATIO,
    MI_SUMMARY,
    MI_UNITS,
    TOKENS,
    activations_schema,
)

DEPRELS = np.array(["det", "nsubj", "root", "prep", "pobj", "amod"])
DIM = 6  # 0: f(deprel) + jitter, 1: noise, 2: f(word), 3: heavy ties, 4: constant, 5: f(deprel of previous word)


def corpus(n_sentences: int = 150, seed: int = 0) -> dict[str, np.ndarray]:
    """Captions of 3-9 words over 25 word types, one deprel per word type (mostly) and position."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 10, n_sentences)
    sentence_id = np.repeat(np.arange(500, 500 + n_sentences), lengths)
    position = np.concatenate([np.arange(1, n + 1) for n in lengths]).astype(np.int32)
    word = rng.integers(0, 25, len(position))
    deprel = np.where(rng.random(len(word)) < 0.8, word % len(DEPRELS), rng.integers(0, len(DEPRELS), len(word)))
    return {"sentence_id": sentence_id, "position": position, "word": word, "deprel": deprel}


def planted_states(data: dict[str, np.ndarray], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = len(data["word"])
    previous = np.r_[0, data["deprel"][:-1]] * (data["position"] > 1)
    states = np.stack([
        data["deprel"] + 0.01 * rng.normal(size=n),
        rng.normal(size=n),
        np.sin(data["word"]) + 0.01 * rng.normal(size=n),
        np.round(rng.normal(size=n)),  # five or so distinct values: ties everywhere
        np.full(n, 0.5),
        previous + 0.01 * rng.normal(size=n),
    ], axis=1)
    return states.astype(np.float32)


def network_states(data: dict[str, np.ndarray], seed: int, deprel_share: float, dim: int = 24) -> np.ndarray:
    """``dim`` units, each a mix of the deprel and noise: deprel_share of the variance, spread over units."""
    rng = np.random.default_rng(seed)
    share = deprel_share * rng.uniform(0.5, 1.0, dim)
    signal = (data["deprel"] - data["deprel"].mean()) / data["deprel"].std()
    noise = rng.normal(size=(len(signal), dim))
    return (np.sqrt(share) * signal[:, None] + np.sqrt(1 - share) * noise).astype(np.float32)


def write_activations(folder: Path, data: dict[str, np.ndarray], states: np.ndarray, layer: int = 0) -> Path:
    """One layer of one network's store, with an <eos> row after each sentence, rows shuffled by
    sentence; returns the network's folder."""
    (folder / f"layer={layer}").mkdir(parents=True, exist_ok=True)
    sid, pos = data["sentence_id"], data["position"]
    ends = np.r_[sid[1:] != sid[:-1], True]
    rows = {"sentence_id": list(sid), "position": list(pos), "token": [f"w{w}" for w in data["word"]],
            "activation": list(states)}
    for i in np.flatnonzero(ends):
        rows["sentence_id"].append(sid[i])
        rows["position"].append(pos[i] + 1)
        rows["token"].append("<eos>")
        rows["activation"].append(np.full(states.shape[1], 9.0, dtype=np.float32))  # must not count
    order = np.random.default_rng(3).permutation(len(rows["token"]))
    dim = states.shape[1]
    flat = np.concatenate([rows["activation"][i] for i in order]).astype(np.float32)
    table = pa.table({
        "sentence_id": pa.array([rows["sentence_id"][i] for i in order], pa.int64()),
        "position": pa.array([rows["position"][i] for i in order], pa.int32()),
        "token": pa.array([rows["token"][i] for i in order], pa.string()),
        "activation": pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), dim),
    }, schema=activations_schema(dim))
    half = len(order) // 2
    pq.write_table(table.slice(0, half), folder / f"layer={layer}" / "part-0.parquet")
    pq.write_table(table.slice(half), folder / f"layer={layer}" / "part-1.parquet")
    return folder


def write_parse(path: Path, data: dict[str, np.ndarray], drop: int | None = None) -> Path:
    n = len(data["word"])
    keep = np.ones(n, bool)
    if drop is not None:
        keep[drop] = False
    forms = [f"W{w}" if i % 3 == 0 else f"w{w}" for i, w in enumerate(data["word"])]  # the word is lower-cased
    table = pa.table({
        "sentence_id": pa.array(data["sentence_id"][keep], pa.int64()),
        "position": pa.array(data["position"][keep], pa.int32()),
        "form": pa.array([f for f, k in zip(forms, keep) if k], pa.string()),
        "lemma": pa.nulls(int(keep.sum()), pa.string()),
        "xpos": pa.array(["NN"] * int(keep.sum()), pa.string()),
        "upos": pa.array(["NOUN"] * int(keep.sum()), pa.string()),
        "deprel": pa.array(DEPRELS[data["deprel"][keep]], pa.string()),
        "head": pa.array(np.zeros(int(keep.sum()), np.int32), pa.int32()),
    }, schema=TOKENS)
    pq.write_table(table, path)
    return path


def settings(**kwargs) -> MutualInformationSettings:
    return MutualInformationSettings(**kwargs)


@pytest.mark.parametrize("pooled", [False, True])
def test_unit_mi_equals_scikit_learn(pooled):
    data = corpus()
    states = planted_states(data, seed=1)
    words = np.array([f"w{w}" for w in data["word"]], dtype=object)
    contexts = mi.contexts(data["sentence_id"], data["position"], words, DEPRELS[data["deprel"]], 3)
    assert [(c.name, c.n) for c in contexts] == [(x, n) for x in ("word", "deprel") for n in (1, 2, 3)]
    assert any(c.singletons for c in contexts)  # the singleton shortcut is exercised (trigrams)
    per_token = [c.kept_classes * 20 > len(c.kept) for c in contexts if c.singletons]
    assert any(per_token) and contexts[3].classes * 20 < len(states)  # both sums of the kernel run
    config = settings(pooled=pooled)
    cuts = mi.cut_points(states, config.bins, pooled)
    bins = mi.bin_codes(states, cuts)
    values = mi.unit_mi(states, contexts, config)
    assert values.shape == (6, DIM)
    for i, context in enumerate(contexts):
        for unit in range(DIM):
            expected = mutual_info_score(context.code, bins[unit])
            assert abs(values[i, unit] - expected) < 1e-9, (context.name, context.n, unit)
    assert np.all(values[:, 4] == 0.0)  # a constant unit fills one bin

def test_unit_mi_does_not_depend_on_chunks_or_token_order(monkeypatch):
    data = corpus()
    states = planted_states(data, seed=1)
    words = np.array([f"w{w}" for w in data["word"]], dtype=object)
    contexts = mi.contexts(data["sentence_id"], data["position"], words, DEPRELS[data["deprel"]], 3)
    values = mi.unit_mi(states, contexts, settings())
    monkeypatch.setattr(mi, "CHUNK_CELLS", 64)  # one unit per bincount
    monkeypatch.setattr(mi, "SMALL_TABLE", 0)  # small tables reordered by context as well
    monkeypatch.setattr(mi, "UNIT_BLOCK", 1)
    np.testing.assert_allclose(mi.unit_mi(states, contexts, settings()), values, rtol=0, atol=1e-12)


def test_planted_deprel_unit_has_high_mi_and_noise_unit_near_zero():
    data = corpus(300)
    states = planted_states(data, seed=2)
    words = np.array([f"w{w}" for w in data["word"]], dtype=object)
    contexts = mi.contexts(data["sentence_id"], data["position"], words, DEPRELS[data["deprel"]], 1)
    values = mi.unit_mi(states, contexts, settings(max_n=1))
    deprel = [c.name for c in contexts].index("deprel")
    entropy = -np.sum((p := np.bincount(data["deprel"]) / len(data["deprel"])) * np.log(p))
    assert values[deprel, 0] > 0.85 * entropy  # the bin determines the deprel (but where a bin straddles two)
    assert values[deprel, 1] < 0.05  # noise: only the plug-in bias, about (C-1)(B-1)/2N
    assert values[deprel, 0] > 20 * values[deprel, 1]


def test_bins_are_equal_mass_and_ties_share_a_bin():
    rng = np.random.default_rng(4)
    for n in (1000, 1013, 37):
        states = np.stack([rng.normal(size=n), np.round(rng.normal(size=n) * 2)], axis=1).astype(np.float32)
        bins = mi.bin_codes(states, mi.cut_points(states, 20))
        counts = np.bincount(bins[0], minlength=20)
        assert counts.sum() == n and counts.max() - counts.min() <= 1  # distinct values
        for value in np.unique(states[:, 1]):  # ties: one bin per value, the bins still ordered
            assert len(np.unique(bins[1][states[:, 1] == value])) == 1
        order = np.argsort(states[:, 1], kind="stable")
        assert np.all(np.diff(bins[1][order].astype(int)) >= 0)
        # ties move a bin's mass by at most the size of the tied groups at its edges
        counts = np.bincount(bins[1], minlength=20)
        largest_tie = np.unique(states[:, 1], return_counts=True)[1].max()
        assert np.all(np.abs(np.cumsum(counts)[:-1] - np.ceil(np.arange(1, 20) * n / 20)) <= largest_tie)
    pooled = np.stack([np.arange(100.0), np.arange(100.0, 200.0)], axis=1)
    bins = mi.bin_codes(pooled, mi.cut_points(pooled, 20, pooled=True))
    assert bins[0].max() == 9 and bins[1].min() == 10  # one set of cut points over both units
    assert np.all(np.bincount(bins.ravel()) == 10)


def test_bootstrap_interval_contains_the_estimate_and_is_reproducible():
    rng = np.random.default_rng(5)
    top, bottom = rng.gamma(4.0, 0.1, 128), rng.gamma(3.0, 0.1, 96)
    point, low, high = mi.log_ratio_interval(top, bottom, 500, 0.95, [1, 0])
    assert point == pytest.approx(np.log(np.median(top) / np.median(bottom)))
    assert low < point < high
    assert (point, low, high) == mi.log_ratio_interval(top, bottom, 500, 0.95, [1, 0])
    assert (low, high) != mi.log_ratio_interval(top, bottom, 500, 0.95, [2, 0])[1:]


def cli_args(tmp_path: Path, folders: list[Path], parse: Path, out: str = "out") -> list[str]:
    o = tmp_path / out
    return ["--activations", *map(str, folders), "--tokens", str(parse), "--units", str(o / "units.parquet"),
            "--summary", str(o / "summary.parquet"), "--ratios", str(o / "ratios.parquet"),
            "--ratios-csv", str(o / "ratios.csv"), "--fig8", str(o / "fig8.png"), "--bootstrap", "300"]


def test_cli_writes_every_output_deterministically(tmp_path, capsys):
    data = corpus(200)
    store = tmp_path / "activations" / "tokens"
    folders = [write_activations(store / "model=imaginet" / "pathway=visual", data, network_states(data, 7, 0.1)),
               write_activations(store / "model=imaginet" / "pathway=textual", data, network_states(data, 8, 0.8)),
               write_activations(store / "model=lm" / "pathway=textual", data, network_states(data, 9, 0.8))]
    parse = write_parse(tmp_path / "tokens.parquet", data)
    assert mi.main(cli_args(tmp_path, folders, parse)) == 0
    out = tmp_path / "out"
    units = pl.read_parquet(out / "units.parquet")
    assert pq.read_schema(out / "units.parquet").names == MI_UNITS.names
    assert len(units) == 3 * 6 * 24 and set(units["network"]) == {"Visual", "Textual", "LM"}
    assert set(units["layer"]) == {0}
    summary = pl.read_parquet(out / "summary.parquet")
    assert pq.read_schema(out / "summary.parquet").names == MI_SUMMARY.names and len(summary) == 18
    published = summary.filter((pl.col("network") == "Textual") & (pl.col("context") == "deprel") & (pl.col("n") == 1))
    assert published["published"].item() == 0.13 and published["units"].item() == 24
    ratios = pl.read_parquet(out / "ratios.parquet")
    assert pq.read_schema(out / "ratios.parquet").names == MI_RATIO.names and len(ratios) == 12
    tv = ratios.filter((pl.col("numerator") == "Textual") & (pl.col("context") == "deprel") & (pl.col("n") == 1))
    assert tv["log_ratio"].item() > 0 and tv["ci_low"].item() > 0  # the planted direction
    assert tv["published"].item() == 0.253
    assert ratios.filter(pl.col("numerator") == "LM")["published"].is_null().all()
    assert pl.read_csv(out / "ratios.csv").shape == ratios.shape
    assert (out / "fig8.png").stat().st_size > 0 and (out / "fig8.svg").stat().st_size > 0
    assert "ln(Textual/Visual) deprel n=1" in capsys.readouterr().out
    # the same inputs and seed give the same tables, whatever order the folders come in
    assert mi.main(cli_args(tmp_path, folders[::-1], parse, "again")) == 0
    for name in ("summary.parquet", "ratios.parquet"):
        key = ["network", "context", "n"] if name == "summary.parquet" else ["numerator", "context", "n"]
        first = pl.read_parquet(out / name).sort(key)
        assert first.equals(pl.read_parquet(tmp_path / "again" / name).sort(key))
    assert units.sort(["network", "context", "n", "unit"]).equals(
        pl.read_parquet(tmp_path / "again" / "units.parquet").sort(["network", "context", "n", "unit"]))


def test_cli_bad_input_is_a_clear_error(tmp_path, capsys):
    data = corpus(20)
    store = tmp_path / "activations" / "tokens"
    good = write_activations(store / "model=imaginet" / "pathway=visual", data, planted_states(data, seed=1))
    empty = store / "model=imaginet" / "pathway=textual"
    empty.mkdir(parents=True)
    parse = write_parse(tmp_path / "tokens.parquet", data)
    assert run_cli(mi.main, cli_args(tmp_path, [good, empty], parse)) == 2
    assert "part-k.parquet" in capsys.readouterr().err
    assert run_cli(mi.main, [*cli_args(tmp_path, [good], parse), "--layer", "1"]) == 2
    assert "pathway=visual: layer 1: not in the store: its layers are [0]" in capsys.readouterr().err
    short = write_parse(tmp_path / "short.parquet", data, drop=7)
    assert run_cli(mi.main, cli_args(tmp_path, [good], short)) == 2
    err = capsys.readouterr().err
    assert "has no token in the parse" in err and f"position {data['position'][7]}" in err
    assert not (tmp_path / "out" / "units.parquet").exists()


def test_the_layer_setting_picks_the_layer_read(tmp_path):
    """A two-layer store: the top layer by default, the bottom one with layer 0 or -2, each the MI
    of a one-layer store of the same states, and MI_UNITS says which layer."""
    data = corpus(40)
    bottom, top = planted_states(data, seed=1), network_states(data, 2, 0.5, dim=3)
    two = write_activations(tmp_path / "two" / "model=imaginet" / "pathway=visual", data, bottom)
    write_activations(two, data, top, layer=1)
    one = write_activations(tmp_path / "one" / "model=imaginet" / "pathway=visual", data, bottom)
    parse = write_parse(tmp_path / "tokens.parquet", data)
    frames = {layer: mi.network_mi(two, parse, settings(layer=layer))[1] for layer in (-1, 0, -2)}
    reference = mi.network_mi(one, parse, settings())[1]
    assert set(frames[-1]["layer"]) == {1} and frames[-1]["unit"].max() == 2
    assert set(frames[0]["layer"]) == set(frames[-2]["layer"]) == {0}
    assert frames[0].equals(frames[-2]) and frames[0]["mi"].equals(reference["mi"])
