"""Ridge regressions of omission scores (Kadar et al. 2017, sec. 5.3): solver, features, splits, CLI."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from lingscope.analysis.kadar2017 import ridge
from lingscope.core.schemas import RIDGE_POSITIONS, RIDGE_R2
from lingscope.core.errors import run_cli
from lingscope.core.io import write_parquet
from lingscope.core.schemas import OMISSION, TOKENS


def dense_ridge(X: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, np.ndarray]:
    """The textbook closed form with an unpenalised intercept: solve (A'A + P) b = A'y, A = [1 X]."""
    A = np.hstack([np.ones((X.shape[0], 1)), X])
    penalty = np.diag([0.0] + [alpha] * X.shape[1])
    solution = np.linalg.solve(A.T @ A + penalty, A.T @ y)
    return solution[0], solution[1:]


def synthetic_frame(n_sentences: int, seed: int, word_effect=None, bin_effect=None, noise: float = 0.05,
                    n_words: int = 30) -> pl.DataFrame:
    """Captions of 5-12 words over ``n_words`` types; omission = f(word) + g(position bin) + noise."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 13, n_sentences)
    sentence_id = np.repeat(np.arange(100, 100 + n_sentences), lengths)
    position = np.concatenate([np.arange(1, n + 1) for n in lengths])
    word = rng.integers(0, n_words, len(sentence_id))
    length = np.repeat(lengths, lengths)
    bins = ridge.position_bins(position, length)
    f = np.zeros(n_words) if word_effect is None else word_effect
    g = np.zeros(len(ridge.POSITION_BINS)) if bin_effect is None else bin_effect
    omission = f[word] + g[bins] + noise * rng.normal(size=len(word))
    return pl.DataFrame({
        "sentence_id": sentence_id,
        "position": position.astype(np.int32),
        # mixed case on purpose: the word type is the lower-cased token
        "token": [f"W{w}" if i % 2 else f"w{w}" for i, w in enumerate(word)],
        "deprel": rng.choice(["det", "nsubj", "root", "prep", "pobj"], len(word)),
        "omission": omission,
    })


def test_sparse_solver_equals_dense_closed_form():
    rng = np.random.default_rng(0)
    X = sp.random(80, 20, density=0.3, random_state=1, format="csr")
    y = rng.normal(size=80)
    for alpha in (0.25, 3.0):
        intercept, coef = ridge.ridge_fit(X, y, alpha)
        expected_intercept, expected_coef = dense_ridge(X.toarray(), y, alpha)
        assert abs(intercept - expected_intercept) < 1e-8
        np.testing.assert_allclose(coef, expected_coef, rtol=0, atol=1e-8)
    # A one-hot design spans the intercept column, the case where an unpenalised intercept matters.
    tokens = ridge.prepare_tokens(synthetic_frame(40, seed=1, word_effect=rng.normal(size=30)))
    design = ridge.one_hot_design(tokens.keys, ridge.FEATURE_SETS["full"], np.ones(len(tokens.omission), bool))
    intercept, coef = ridge.ridge_fit(design.matrix, tokens.omission, 0.5)
    expected_intercept, expected_coef = dense_ridge(design.matrix.toarray(), tokens.omission, 0.5)
    assert abs(intercept - expected_intercept) < 1e-8
    np.testing.assert_allclose(coef, expected_coef, rtol=0, atol=1e-8)
    assert abs(intercept - tokens.omission.mean()) > 1e-3  # the intercept is not just the mean


@pytest.mark.parametrize("length, expected", [
    (1, ["last"]),
    (2, ["penult", "last"]),
    (3, ["antepenult", "penult", "last"]),
    (4, ["first", "antepenult", "penult", "last"]),
    (7, ["first", "second", "third", "middle", "antepenult", "penult", "last"]),
    (10, ["first", "second", "third", "middle", "middle", "middle", "middle", "antepenult", "penult", "last"]),
])
def test_position_bins_count_from_the_end_first(length, expected):
    codes = ridge.position_bins(np.arange(1, length + 1), np.full(length, length))
    assert [ridge.POSITION_BINS[c] for c in codes] == expected


def test_position_helps_only_when_position_matters():
    rng = np.random.default_rng(3)
    word_effect = rng.uniform(0, 1, 30)
    bin_effect = np.array([0.6, 0.3, 0.1, 0.0, -0.1, -0.2, 0.4])
    planted = ridge.fit_network(ridge.prepare_tokens(synthetic_frame(500, 4, word_effect, bin_effect)),
                                ridge.DEFAULT_ALPHAS, 5, seed=0)
    r2 = {fit.feature_set: fit.r2 for fit in planted}
    assert r2["+position"] > r2["word"] + 0.2
    assert r2["full"] > r2["word"] + 0.2
    assert r2["+position"] > 0.9
    assert abs(r2["+deprel"] - r2["word"]) < 0.02  # deprels were drawn independently of the score
    # Fig. 6: the FULL model's position coefficients recover the planted bin effects.
    full = next(fit for fit in planted if fit.feature_set == "full")
    coef = full.term_coefficients("position")
    recovered = np.array([coef[c] for c in range(len(ridge.POSITION_BINS))])
    assert np.corrcoef(recovered, bin_effect)[0, 1] > 0.95

    lexical = ridge.fit_network(ridge.prepare_tokens(synthetic_frame(500, 5, word_effect)), ridge.DEFAULT_ALPHAS, 5, 0)
    r2 = {fit.feature_set: fit.r2 for fit in lexical}
    assert r2["word"] > 0.9
    for name in ("+deprel", "+position", "full"):
        assert abs(r2[name] - r2["word"]) < 0.01, (name, r2)


def test_cross_validation_penalises_noisy_data_more():
    rng = np.random.default_rng(6)
    word_effect = rng.normal(size=400)  # many words seen a few times each: shrinkage pays off under noise
    chosen = {}
    for noise in (0.05, 3.0):
        tokens = ridge.prepare_tokens(synthetic_frame(600, 7, word_effect, noise=noise, n_words=400))
        fit = ridge.split_halves(tokens.sentence_id, 0)
        folds = np.full(len(fit), -1)
        folds[fit] = ridge.sentence_folds(tokens.sentence_id[fit], 5, 0)
        chosen[noise] = ridge.fit_feature_set(tokens, "word", fit, folds, list(ridge.DEFAULT_ALPHAS)).alpha
    assert chosen[0.05] == min(ridge.DEFAULT_ALPHAS)
    assert chosen[3.0] >= 4.0


def test_r2_is_measured_on_held_out_sentences():
    # Every sentence repeats its own word, and the score is a property of the sentence. A
    # model tested on its own sentences (or on tokens split without regard to sentences)
    # would explain almost everything; on unseen sentences the word is unknown and only the
    # intercept is left, so the held-out and cross-validated R^2 are about zero.
    rng = np.random.default_rng(8)
    lengths = rng.integers(5, 10, 300)
    sentence_id = np.repeat(np.arange(300), lengths)
    frame = pl.DataFrame({
        "sentence_id": sentence_id,
        "position": np.concatenate([np.arange(1, n + 1) for n in lengths]).astype(np.int32),
        "token": [f"s{s}" for s in sentence_id],
        "deprel": ["dep"] * len(sentence_id),
        "omission": rng.normal(size=300)[sentence_id] + 0.01 * rng.normal(size=len(sentence_id)),
    })
    tokens = ridge.prepare_tokens(frame)
    word = next(fit for fit in ridge.fit_network(tokens, ridge.DEFAULT_ALPHAS, 5, seed=2) if fit.feature_set == "word")
    assert word.r2 < 0.05 and word.cv_r2 < 0.05
    fit = ridge.split_halves(tokens.sentence_id, seed=2)
    X_fit, y_fit = word.design.matrix[fit], tokens.omission[fit]
    in_sample = ridge.ridge_fit(X_fit, y_fit, word.alpha)
    assert ridge.r2_score(y_fit, in_sample[0] + X_fit @ in_sample[1]) > 0.95
    assert word.n_fit + word.n_test == len(frame)


def test_halves_and_folds_are_disjoint_by_sentence_and_seeded():
    sentence_id = np.repeat(np.arange(0, 402, 2), 3)  # 201 sentences of 3 tokens, sparse ids
    fit = ridge.split_halves(sentence_id, seed=11)
    assert not set(sentence_id[fit]) & set(sentence_id[~fit])
    assert len(set(sentence_id[fit])) == 101  # ceil(201 / 2)
    assert np.array_equal(fit, ridge.split_halves(sentence_id, seed=11))
    assert not np.array_equal(fit, ridge.split_halves(sentence_id, seed=12))
    # the same sentences in another order get the same halves (networks are compared on one split)
    shuffled = np.random.default_rng(0).permutation(sentence_id)
    assert set(shuffled[ridge.split_halves(shuffled, 11)]) == set(sentence_id[fit])

    folds = ridge.sentence_folds(sentence_id, 5, seed=11)
    per_sentence = pl.DataFrame({"s": sentence_id, "f": folds}).group_by("s").agg(pl.col("f").n_unique())
    assert per_sentence["f"].max() == 1
    sizes = np.bincount(folds) // 3
    assert sizes.max() - sizes.min() <= 1 and len(sizes) == 5
    assert np.array_equal(folds, ridge.sentence_folds(sentence_id, 5, seed=11))


def test_unseen_categories_contribute_nothing():
    keys = {"word": np.array([0, 1, 0, 2]), "position": np.array([6, 6, 0, 3])}
    fit = np.array([True, True, True, False])  # word 2 and bin 3 occur in the held-out row only
    design = ridge.one_hot_design(keys, ("word", "position"), fit)
    assert design.matrix.shape == (4, 4)  # words 0, 1 and bins 0, 6
    assert design.matrix[3].nnz == 0
    assert list(design.terms["word"][1]) == [0, 1] and list(design.terms["position"][1]) == [0, 6]
    assert design.matrix[2].toarray().tolist() == [[1, 0, 1, 0]]


def _write_omission(path, frame: pl.DataFrame, model: str, pathway: str) -> None:
    """The omission table (no labels) and, beside it, the parse the analyses join them from."""
    table = frame.drop("deprel").with_columns(model=pl.lit(model), pathway=pl.lit(pathway)).to_arrow()
    write_parquet(table, path, OMISSION, "omission")
    parse = frame.select("sentence_id", "position", pl.col("token").alias("form"), "deprel", xpos=pl.lit("NN"),
                         lemma=pl.lit(None, pl.String), upos=pl.lit("X"), head=pl.lit(0, pl.Int32))
    write_parquet(parse.to_arrow(), path.with_name(f"tokens-{path.name}"), TOKENS, "tokens")


def test_cli_writes_tables_and_figures_and_skips_missing_networks(tmp_path, capsys):
    rng = np.random.default_rng(9)
    word_effect = rng.uniform(0, 1, 30)
    _write_omission(tmp_path / "v.parquet", synthetic_frame(120, 1, word_effect, np.linspace(0.5, 0, 7)),
                    "imaginet", "visual")
    _write_omission(tmp_path / "t.parquet", synthetic_frame(120, 1, word_effect, np.linspace(0, 0.5, 7)),
                    "imaginet", "textual")
    _write_omission(tmp_path / "x.parquet", synthetic_frame(20, 1), "sentiment", "textual")
    out = tmp_path / "out"
    argv = ["--omission", str(tmp_path / "v.parquet"), str(tmp_path / "t.parquet"), str(tmp_path / "x.parquet"),
            "--tokens", str(tmp_path / "tokens-v.parquet"), "--alphas", "0.25", "1", "4", "--folds", "3", "--seed", "1",
            "--r2", str(out / "r2.parquet"), "--positions", str(out / "positions.parquet"),
            "--fig4", str(out / "fig4.png"), "--fig6", str(out / "fig6.png")]
    assert run_cli(ridge.main, argv) == 0
    captured = capsys.readouterr()
    assert "no omission table for Sum" in captured.out and "no omission table for LM" in captured.out
    r2 = pl.read_parquet(out / "r2.parquet")
    assert pq.read_schema(out / "r2.parquet").names == RIDGE_R2.names
    assert sorted(r2["network"].unique()) == ["Textual", "Visual"] and len(r2) == 8
    assert set(r2["alpha"]) <= {0.25, 1.0, 4.0}
    assert (r2["n_fit"] + r2["n_test"]).unique().to_list() == [len(synthetic_frame(120, 1))]
    positions = pl.read_parquet(out / "positions.parquet")
    assert pq.read_schema(out / "positions.parquet").names == RIDGE_POSITIONS.names
    assert len(positions) == 14 and set(positions["position_bin"]) == set(ridge.POSITION_BINS)
    visual = positions.filter(pl.col("network") == "Visual").sort("coefficient")
    textual = positions.filter(pl.col("network") == "Textual").sort("coefficient")
    assert visual["position_bin"][-1] == "first" and textual["position_bin"][-1] == "last"
    for stem in ("fig4", "fig6"):
        assert (out / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
        assert b"<svg" in (out / f"{stem}.svg").read_bytes()[:500]

    assert run_cli(ridge.main, ["--omission", str(tmp_path / "x.parquet")] + argv[4:]) == 2  # no network
    assert "none of the files holds one of the networks" in capsys.readouterr().err
