"""Omission scores per POS tag and per dependency label (Kadar et al. 2017, sec. 5.2, Figs. 2 and 3).

Fig. 2 shows, per label, the distribution of the omission scores of VISUAL beside those of
TEXTUAL. Fig. 3 compares the two pathways token by token with ``ln(omission_V / omission_T)``:
above zero a word matters relatively more to VISUAL, below zero to TEXTUAL. Both keep only
labels with at least ``--min-count`` tokens (500 in the paper).

The paper gives no statistics for Fig. 3. Here each label's log ratios get a two-sided
Wilcoxon signed-rank test against 0 (scipy), and the p-values of one label kind a
Benjamini-Hochberg correction (statsmodels ``multipletests``); labels below the false
discovery rate ``--fdr`` are starred in the figure, and every p-value is in its table.

The by-label table also summarises SUM and LM when their omission tables are given.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl
from scipy.stats import wilcoxon
from statsmodels.stats.multitest import multipletests

from lingscope.analysis.networks import read_omission, require
from lingscope.analysis.plotting import boxplot, new_figure, save_figure
from lingscope.core.schemas import OMISSION_BY_LABEL, OMISSION_LOG_RATIO
from lingscope.core.errors import InputError, run_cli
from lingscope.core.catalog import KADAR_PAIR, colour
from lingscope.core.io import write_parquet
from lingscope.analysis.settings import DistributionSettings

LABEL_KINDS = ("xpos", "deprel")
PAIR = KADAR_PAIR  # the two IMAGINET pathways the figures compare (VISUAL, TEXTUAL)
EPSILON = DistributionSettings.epsilon  # floor of the scores before the log ratio (see its docs)

_COLUMNS = ["sentence_id", "position", "token", "xpos", "deprel", "model", "pathway", "omission"]


def label_summary(frame: pl.DataFrame, value: str, label_kind: str, min_count: int) -> pl.DataFrame:
    """n, mean, median and quartiles of ``value`` per ``label_kind`` label with >= ``min_count`` rows."""
    stats = frame.group_by(pl.col(label_kind).alias("label")).agg(
        pl.len().cast(pl.Int64).alias("n"),
        pl.col(value).mean().alias("mean"),
        pl.col(value).median().alias("median"),
        pl.col(value).quantile(0.25, "linear").alias("q25"),
        pl.col(value).quantile(0.75, "linear").alias("q75"),
    )
    return (stats.filter(pl.col("n") >= min_count).sort("label")
            .select(pl.lit(label_kind).alias("label_kind"), pl.all()))


def omission_by_label(frames: dict[str, pl.DataFrame], min_count: int) -> pl.DataFrame:
    """The by-label table (``OMISSION_BY_LABEL``) for every network in ``frames``."""
    parts = [label_summary(frame, "omission", kind, min_count).select(pl.lit(name).alias("network"), pl.all())
             for name, frame in frames.items() for kind in LABEL_KINDS]
    return pl.concat(parts).select(OMISSION_BY_LABEL.names)


def log_ratio_tokens(visual: pl.DataFrame, textual: pl.DataFrame, epsilon: float = EPSILON) -> pl.DataFrame:
    """Per token, ``ln(max(omission_V, eps) / max(omission_T, eps))``, joined on sentence_id and position.

    Tokens scored by one pathway only are dropped. Labels come from the VISUAL table; the
    two tables must agree on the word at every shared position.
    """
    keys = ["sentence_id", "position"]
    joined = visual.select(keys + ["token", "xpos", "deprel", "omission"]).join(
        textual.select(keys + [pl.col("token").alias("token_textual"), pl.col("omission").alias("omission_textual")]),
        on=keys, how="inner")
    mismatch = joined.filter(pl.col("token") != pl.col("token_textual"))
    if not mismatch.is_empty():
        row = mismatch.row(0, named=True)
        raise InputError(None, f"sentence {row['sentence_id']} position {row['position']}",
                         f"VISUAL's table has the word {row['token']!r} but TEXTUAL's has {row['token_textual']!r}; "
                         "were they scored on the same parsed sentences?")
    return joined.select(
        *keys, "token", "xpos", "deprel",
        (pl.col("omission").clip(lower_bound=epsilon) / pl.col("omission_textual").clip(lower_bound=epsilon))
        .log().alias("log_ratio"),
    )


def log_ratio_by_label(tokens: pl.DataFrame, min_count: int, fdr: float = 0.05) -> pl.DataFrame:
    """The log-ratio table (``OMISSION_LOG_RATIO``) from :func:`log_ratio_tokens`' output, with
    each label's Wilcoxon signed-rank test against 0, BH-adjusted within the label kind."""
    parts = []
    for kind in LABEL_KINDS:
        summary = label_summary(tokens, "log_ratio", kind, min_count)
        values = _values_by_label(tokens, kind, "log_ratio")
        p = np.array([_wilcoxon(values[label]) for label in summary["label"]], dtype=np.float64)
        adjusted = multipletests(p, alpha=fdr, method="fdr_bh")[1] if len(p) else p
        parts.append(summary.with_columns(p_value=pl.Series(p), p_adjusted=pl.Series(adjusted),
                                          significant=pl.Series(adjusted < fdr, dtype=pl.Boolean)))
    return pl.concat(parts).select(OMISSION_LOG_RATIO.names)


def _wilcoxon(values: np.ndarray) -> float:
    """Two-sided signed-rank p-value against 0; 1.0 when every value is 0 (no evidence either way)."""
    if not np.any(values != 0):
        return 1.0
    return float(wilcoxon(values, alternative="two-sided").pvalue)


def _values_by_label(frame: pl.DataFrame, kind: str, value: str) -> dict[str, np.ndarray]:
    return {key[0]: part[value].to_numpy() for key, part in frame.partition_by(kind, as_dict=True).items()}


def figure2(frames: dict[str, pl.DataFrame], by_label: pl.DataFrame, kind: str):
    """Fig. 2: per label, a VISUAL box beside a TEXTUAL box; labels by VISUAL's median, highest first."""
    kept = by_label.filter(pl.col("label_kind") == kind)
    visual = kept.filter(pl.col("network") == PAIR[0]).select("label", "median")
    textual_labels = set(kept.filter(pl.col("network") == PAIR[1])["label"])
    labels = visual.filter(pl.col("label").is_in(textual_labels)).sort(["median", "label"], descending=[True, False])
    labels = labels["label"].to_list()
    fig = new_figure(max(4.0, 0.45 * len(labels) + 1.5), 3.6)
    ax = fig.add_subplot()
    x = np.arange(len(labels), dtype=float)
    for offset, name in zip((-0.2, 0.2), PAIR):
        values = _values_by_label(frames[name], kind, "omission")
        if labels:
            boxplot(ax, [values[label] for label in labels], x + offset, 0.36, colour(name), name.upper())
    ax.set_xticks(x, labels, rotation=90)
    ax.set_xlim(-0.7, max(len(labels), 1) - 0.3)
    ax.set_xlabel("Penn POS tag" if kind == "xpos" else "dependency label")
    ax.set_ylabel("omission score")
    ax.set_title(f"Omission scores per {'POS tag' if kind == 'xpos' else 'dependency label'}")
    if labels:
        ax.legend(frameon=False)
    return fig


def figure3(tokens: pl.DataFrame, log_ratio: pl.DataFrame, kind: str, fdr: float = 0.05):
    """Fig. 3: per label, the log ratio's distribution; highest median (most VISUAL) first, zero line drawn."""
    kept = log_ratio.filter(pl.col("label_kind") == kind).sort(["median", "label"], descending=[True, False])
    labels = kept["label"].to_list()
    ticks = [f"{label}*" if star else label for label, star in zip(labels, kept["significant"])]
    fig = new_figure(max(5.0, 0.3 * len(labels) + 1.5), 3.6)
    ax = fig.add_subplot()
    x = np.arange(len(labels), dtype=float)
    values = _values_by_label(tokens, kind, "log_ratio")
    if labels:
        boxplot(ax, [values[label] for label in labels], x, 0.6, "#bbbbbb")
    ax.axhline(0.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(x, ticks, rotation=90)
    ax.set_xlim(-0.7, max(len(labels), 1) - 0.3)
    ax.set_xlabel("Penn POS tag" if kind == "xpos" else "dependency label")
    ax.set_ylabel("ln(omission VISUAL / TEXTUAL)")
    ax.set_title("Log ratio of omission scores (above 0: VISUAL more sensitive, below 0: TEXTUAL)\n"
                 f"* median differs from 0: Wilcoxon signed-rank, BH-adjusted p < {fdr:g}", fontsize=9)
    return fig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--omission", type=Path, nargs="+", required=True,
                    help="OMISSION tables; must include IMAGINET visual and textual")
    ap.add_argument("--tokens", type=Path, required=True, help="parse of the analysis split (TOKENS): the labels")
    ap.add_argument("--by-label", type=Path, required=True, help="OMISSION_BY_LABEL table (Parquet)")
    ap.add_argument("--log-ratio", type=Path, required=True, help="OMISSION_LOG_RATIO table (Parquet)")
    ap.add_argument("--fig2-xpos", type=Path, required=True, help="Fig. 2 per POS tag (PNG; SVG beside it)")
    ap.add_argument("--fig2-deprel", type=Path, required=True, help="Fig. 2 per deprel (PNG; SVG beside it)")
    ap.add_argument("--fig3-xpos", type=Path, required=True, help="Fig. 3 per POS tag (PNG; SVG beside it)")
    ap.add_argument("--fig3-deprel", type=Path, required=True, help="Fig. 3 per deprel (PNG; SVG beside it)")
    DistributionSettings.add_arguments(ap, "settings (config: analysis)")
    args = ap.parse_args(argv)
    settings = DistributionSettings.from_args(args)

    frames = read_omission(args.omission, _COLUMNS, args.tokens)
    require(frames, list(PAIR), args.omission)
    by_label = omission_by_label(frames, settings.min_count)
    tokens = log_ratio_tokens(frames[PAIR[0]], frames[PAIR[1]], settings.epsilon)
    unmatched = max(len(frames[PAIR[0]]), len(frames[PAIR[1]])) - len(tokens)
    if unmatched:
        print(f"note: {unmatched} tokens are scored by one pathway only and are left out of the log ratio")
    log_ratio = log_ratio_by_label(tokens, settings.min_count, settings.fdr)

    write_parquet(by_label.to_arrow(), args.by_label, OMISSION_BY_LABEL, "omission_by_label")
    write_parquet(log_ratio.to_arrow(), args.log_ratio, OMISSION_LOG_RATIO, "omission_log_ratio")
    for kind, fig2, fig3 in (("xpos", args.fig2_xpos, args.fig3_xpos), ("deprel", args.fig2_deprel, args.fig3_deprel)):
        save_figure(figure2(frames, by_label, kind), fig2)
        save_figure(figure3(tokens, log_ratio, kind, settings.fdr), fig3)
    for kind in LABEL_KINDS:
        kept = log_ratio.filter(pl.col("label_kind") == kind).sort("median", descending=True)
        print(f"{kind}: {len(kept)} labels with >= {settings.min_count} tokens; most VISUAL: "
              f"{', '.join(kept['label'].head(5))}; most TEXTUAL: {', '.join(kept['label'].tail(5).reverse())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
