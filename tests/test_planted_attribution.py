"""Planted truth for the attribution methods and their agreement, on the default run.

- The COCO generator gives every object noun the largest weight in its image's features
  (lingscope.synth.coco), so VISUAL's score (its predicted image vector) should hang on the object
  noun: the most important word of a caption is an object noun, by every method.
- The treebank generator gives adjectives, nouns and verbs a lexical polarity
  (lingscope.synth.sst), so the sentiment score of a network that learned it (the LSTM and the
  BiLSTM; the tanh RNN leans on the last words) should hang on a strongly polar word.
- SUM's visual network is linear in the embeddings: integrated gradients from the zero baseline
  is then exactly gradient x input, and the gradient is the same at every position.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from workflow_runs import SUMMARY

from lingscope.synth.coco import word_categories
from lingscope.synth.sst import POLARITY

R = "results"
METHODS = ("saliency_norm", "gxi_norm", "ig_norm", "omission")


def scored(default_run, name: str) -> pl.DataFrame:
    table = pl.read_parquet(default_run / R / f"attribution/{name}.parquet")
    omission = pl.read_parquet(default_run / R / f"omission/{name}.parquet").select("sentence_id", "position",
                                                                                   "omission")
    return table.join(omission, on=["sentence_id", "position"], how="inner")


def top_word_shares(table: pl.DataFrame, planted: pl.Expr) -> tuple[dict[str, float], float, int]:
    """Per method, the share of sentences (3+ words, with a planted word) whose top word is
    planted; the chance share (planted words per word, averaged over those sentences); their count."""
    table = table.with_columns(planted.alias("planted"))
    per = table.group_by("sentence_id").agg(
        pl.len().alias("n"), pl.col("planted").mean().alias("chance"), pl.col("planted").any().alias("has"),
        *[pl.col("planted").sort_by(m, descending=True).first().alias(m) for m in METHODS])
    per = per.filter((pl.col("n") >= 3) & pl.col("has"))
    return {m: float(per[m].mean()) for m in METHODS}, float(per["chance"].mean()), per.height


def test_visuals_most_important_word_is_the_object_noun_by_every_method(default_run):
    objects = [w for w, c in word_categories().items() if c == "object"]
    shares, chance, n = top_word_shares(scored(default_run, "imaginet.visual"),
                                        pl.col("token").str.to_lowercase().is_in(objects))
    SUMMARY.append(f"attribution, Visual: top word an object noun in {n} captions: "
                   + ", ".join(f"{m} {v:.3f}" for m, v in shares.items()) + f" (chance {chance:.3f})")
    assert n >= 100
    for method in ("saliency_norm", "gxi_norm", "ig_norm"):
        assert shares[method] >= 0.8, (shares, chance)
    assert shares["omission"] > 3 * chance, (shares, chance)


@pytest.mark.parametrize("model", ["lstm", "bilstm"])
def test_the_sentiment_score_hangs_on_a_polar_word(default_run, model):
    polar = [w for w, p in POLARITY.items() if abs(p) >= 0.4]
    shares, chance, n = top_word_shares(scored(default_run, f"{model}.sentiment"),
                                        pl.col("token").str.to_lowercase().is_in(polar))
    SUMMARY.append(f"attribution, {model}: top word strongly polar in {n} sentences: "
                   + ", ".join(f"{m} {v:.3f}" for m, v in shares.items()) + f" (chance {chance:.3f})")
    assert n >= 50
    for method in METHODS:
        assert shares[method] > 2 * chance, (method, shares, chance)


def test_variance_salience_finds_visuals_object_noun_but_not_the_polar_word(default_run):
    """Variance salience reads only the embeddings. On VISUAL the object nouns' embeddings stand
    out of their captions (the top word is an object noun well above chance); on the LSTM the
    words whose embeddings grew most are the frequent ones (punctuation, articles, negators), so
    its top word is rarely the polar one: it measures the embedding, not the decision."""
    objects = [w for w, c in word_categories().items() if c == "object"]
    variance = pl.col("variance_norm")
    visual = scored(default_run, "imaginet.visual").with_columns(
        pl.col("token").str.to_lowercase().is_in(objects).alias("planted"))
    per = visual.group_by("sentence_id").agg(pl.col("planted").sort_by(variance, descending=True).first(),
                                             pl.col("planted").mean().alias("chance"), pl.len())
    per = per.filter(pl.col("len") >= 3)
    share, chance = per["planted"].mean(), per["chance"].mean()
    polar = [w for w, v in POLARITY.items() if abs(v) >= 0.4]
    lstm = scored(default_run, "lstm.sentiment")
    top = lstm.sort(variance, descending=True).group_by("sentence_id").first()
    polar_share = top["token"].str.to_lowercase().is_in(polar).mean()
    SUMMARY.append(f"variance salience: Visual's top word an object noun in {share:.3f} of {per.height} captions "
                   f"(chance {chance:.3f}); the LSTM's top word strongly polar in {polar_share:.3f}")
    assert share > 2 * chance, (share, chance)
    # Its values are the definition's: the squared deviation from the sentence's mean embedding.
    assert (lstm["variance_norm"] >= 0).all() and lstm["variance_norm"].is_finite().all()


def test_on_a_linear_network_integrated_gradients_is_gradient_times_input(default_run):
    table = pl.read_parquet(default_run / R / "attribution/sum.visual.parquet")
    np.testing.assert_allclose(table["ig_norm"], table["gxi_norm"], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(table["ig_total"], table["gxi_total"], rtol=1e-4, atol=1e-6)
    spread = table.group_by("sentence_id").agg((pl.col("saliency_norm").max() - pl.col("saliency_norm").min())
                                               / pl.col("saliency_norm").max())
    assert spread["saliency_norm"].max() < 1e-5  # one gradient for every position
    gap = (table["completeness_gap"].abs() / (table["score"] - table["baseline_score"]).abs()).max()
    assert gap < 1e-4, gap


def test_the_agreement_table_covers_every_network(default_run):
    table = pl.read_csv(default_run / R / "analysis/across_papers/agreement.csv")
    networks = {"Visual", "Textual", "Sum", "Sum textual", "LM", "RNN", "LSTM", "BiLSTM", "Autoencoder"}
    assert set(table["network"]) == networks
    assert table.group_by("network").len()["len"].to_list() == [10] * len(networks)  # every pair of 5 methods
    assert table.filter(pl.col("network") == "Sum", pl.col("method_a") == "gradient x input",
                        pl.col("method_b") == "integrated gradients")["spearman"].item() == pytest.approx(1.0)
    visual = table.filter(pl.col("network") == "Visual", pl.col("method_a") == "omission",
                          pl.col("method_b") != "variance salience")
    assert visual.height == 3
    assert (visual["spearman_low"] > 0.5).all(), visual  # on VISUAL the four score-based methods tell one story
    for row in table.filter(pl.col("method_a") == "omission").iter_rows(named=True):
        SUMMARY.append(f"agreement, {row['network']}: omission vs {row['method_b']}: spearman {row['spearman']:.3f} "
                       f"[{row['spearman_low']:.3f}, {row['spearman_high']:.3f}], within sentences "
                       f"{row['within_sentence']:.3f}, same top word {row['top_word']:.3f}")
