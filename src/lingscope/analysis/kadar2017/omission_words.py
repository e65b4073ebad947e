"""Fig. 5 of Kadar et al. (2017, sec. 5.3): the words whose omission scores are predicted much
better once their dependency label is known, and their omission per label.

WORD and +DEPREL (or FULL, what the arXiv figure was in fact made with) are fitted on the fit
half exactly as for Fig. 4 (:mod:`lingscope.analysis.kadar2017.ridge`: the same halves, folds and
penalty grid from ``analysis.ridge``). On the held-out half, per token,
``gain = |pred_WORD - y| - |pred_model - y|``; the mean gain per word type ranks the words with
more than ``min_tokens`` held-out tokens, and the top ``words`` are shown as omission boxplots
by deprel (every token of the word, both halves), keeping the deprels with more than
``min_deprel`` tokens among them. The paper's words: stove, light, clock, zebra, baby.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl

from lingscope.analysis.networks import read_omission
from lingscope.analysis.plotting import boxplot, new_figure, save_figure
from lingscope.analysis.kadar2017.ridge import (
    fit_feature_set,
    prepare_tokens,
    sentence_folds,
    split_halves,
)
from lingscope.analysis.settings import OmissionWordSettings, RidgeSettings
from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet
from lingscope.core.schemas import FIG5_BOXES, FIG5_WORDS

_COLUMNS = ["sentence_id", "position", "token", "deprel", "model", "pathway", "omission"]


def word_gains(frame: pl.DataFrame, model: str, ridge: RidgeSettings) -> pl.DataFrame:
    """Per word type: held-out tokens and mean gain of ``model`` over WORD (all words, ranked)."""
    frame = frame.sort(["sentence_id", "position"])
    tokens = prepare_tokens(frame)
    fit = split_halves(tokens.sentence_id, ridge.seed)
    folds = np.full(len(fit), -1)
    folds[fit] = sentence_folds(tokens.sentence_id[fit], ridge.folds, ridge.seed)
    predictions = {}
    for name in ("word", model):
        result = fit_feature_set(tokens, name, fit, folds, list(ridge.alphas))
        predictions[name] = result.intercept + result.design.matrix[~fit] @ result.coef
        print(f"{name}: alpha {result.alpha:g}, held-out R2 {result.r2:.3f}")
    y = tokens.omission[~fit]
    gain = np.abs(predictions["word"] - y) - np.abs(predictions[model] - y)
    held = frame.filter(pl.Series(~fit)).select(pl.col("token").str.to_lowercase().alias("word"))
    stats = held.with_columns(gain=gain).group_by("word").agg(pl.len().cast(pl.Int64).alias("n_test"),
                                                              pl.col("gain").mean().alias("mean_gain"))
    return stats.sort(["mean_gain", "word"], descending=[True, False])


def boxes(frame: pl.DataFrame, words: list[str], min_deprel: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the shown words' tokens with a kept deprel, FIG5_BOXES rows)."""
    tokens = frame.with_columns(word=pl.col("token").str.to_lowercase()).filter(pl.col("word").is_in(words))
    kept = tokens.group_by("deprel").len().filter(pl.col("len") > min_deprel)["deprel"]
    tokens = tokens.filter(pl.col("deprel").is_in(kept.implode()))
    stats = tokens.group_by("word", "deprel").agg(
        pl.len().cast(pl.Int64).alias("n"), pl.col("omission").median().alias("median"),
        pl.col("omission").quantile(0.25, "linear").alias("q25"),
        pl.col("omission").quantile(0.75, "linear").alias("q75"))
    order = {w: i for i, w in enumerate(words)}
    stats = stats.with_columns(o=pl.col("word").replace_strict(order, return_dtype=pl.Int64)).sort(["o", "deprel"])
    return tokens, stats.drop("o")


def figure5(tokens: pl.DataFrame, stats: pl.DataFrame, network: str, model: str):
    """Per word a group of boxes, one per deprel; deprels share a colour across words."""
    deprels = sorted(set(stats["deprel"]))
    words = list(dict.fromkeys(stats["word"]))
    fig = new_figure(max(4.5, 1.1 * len(words) + 2.0), 3.4)
    ax = fig.add_subplot()
    palette = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"]
    width = 0.8 / max(len(deprels), 1)
    for d, deprel in enumerate(deprels):
        groups, positions = [], []
        for w, word in enumerate(words):
            values = tokens.filter((pl.col("word") == word) & (pl.col("deprel") == deprel))["omission"].to_numpy()
            if len(values):
                groups.append(values)
                positions.append(w + (d - (len(deprels) - 1) / 2) * width)
        if groups:
            boxplot(ax, groups, positions, width * 0.9, palette[d % len(palette)], deprel)
    ax.set_xticks(np.arange(len(words)), words)
    ax.set_ylabel(f"omission score ({network})")
    ax.set_title(f"Words whose omission {model} predicts better than WORD, by deprel", fontsize=9)
    if deprels:
        ax.legend(frameon=False, fontsize=7, ncols=min(len(deprels), 4))
    return fig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--omission", type=Path, nargs="+", required=True, help="OMISSION tables (one must be the network's)")
    ap.add_argument("--tokens", type=Path, required=True, help="parse of the analysis split (TOKENS): the deprels")
    ap.add_argument("--words-table", dest="words_out", type=Path, required=True, help="FIG5_WORDS table (Parquet)")
    ap.add_argument("--boxes", type=Path, required=True, help="FIG5_BOXES table (Parquet)")
    ap.add_argument("--fig5", type=Path, required=True, help="Fig. 5 (PNG; SVG beside it)")
    OmissionWordSettings.add_arguments(ap, "settings (config: analysis.fig5)")
    RidgeSettings.add_arguments(ap, "the linear models (config: analysis.ridge)")
    args = ap.parse_args(argv)
    settings, ridge = OmissionWordSettings.from_args(args), RidgeSettings.from_args(args)

    frames = read_omission(args.omission, _COLUMNS, args.tokens, networks=(settings.network,))
    if settings.network not in frames:
        raise InputError(None, "--omission", f"no table holds the network {settings.network!r} (analysis.fig5.network)")
    frame = frames[settings.network]
    gains = word_gains(frame, settings.model, ridge)
    eligible = gains.filter(pl.col("n_test") > settings.min_tokens)
    if eligible.is_empty():
        raise InputError(None, "analysis.fig5.min_tokens", f"no word has more than {settings.min_tokens} held-out "
                         f"tokens in {settings.network}'s table; lower it")
    ranked = eligible.with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int32)).select(
        pl.lit(settings.network).alias("network"), pl.lit(settings.model).alias("model"), pl.all())
    shown = ranked["word"].head(settings.words).to_list()
    tokens, stats = boxes(frame, shown, settings.min_deprel)
    write_parquet(ranked.select(FIG5_WORDS.names).to_arrow(), args.words_out, FIG5_WORDS, "fig5_words")
    write_parquet(stats.select(pl.lit(settings.network).alias("network"), pl.all()).select(FIG5_BOXES.names).to_arrow(),
                  args.boxes, FIG5_BOXES, "fig5_boxes")
    save_figure(figure5(tokens, stats, settings.network, settings.model), args.fig5)
    print(f"{settings.network}, {settings.model} vs word: "
          + ", ".join(f"{w} ({g:+.4f})" for w, g in zip(ranked["word"].head(settings.words),
                                                       ranked["mean_gain"].head(settings.words))))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
