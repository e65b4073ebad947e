"""Omission scores of example captions, with the images VISUAL retrieves (Kadar et al. 2017, sec. 5.1, Fig. 1).

For each example caption the figure shows the per-word omission scores of IMAGINET's
VISUAL and TEXTUAL pathways side by side, and under them the image VISUAL retrieves for
the full caption and for the caption without its most important word. The image pixels
are not part of the pipeline, so the retrieved images appear as their id and one of
their captions.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import numpy as np
import polars as pl

from lingscope.analysis.networks import read_omission, read_table, require
from lingscope.analysis.plotting import new_figure, save_figure
from lingscope.core.schemas import OMISSION_EXAMPLES
from lingscope.core.errors import InputError, run_cli
from lingscope.core.catalog import KADAR_PAIR, colour
from lingscope.core.io import write_parquet
from lingscope.core.schemas import RETRIEVAL_EXAMPLES

PAIR = KADAR_PAIR  # VISUAL and TEXTUAL
VARIANTS = ("full", "without")


def check_retrieval(retrieval: pl.DataFrame, path: str | Path | None = None) -> list[int]:
    """The example sentence ids in file order; each must have exactly one ``full`` and one ``without`` row."""
    unknown = retrieval.filter(~pl.col("variant").is_in(VARIANTS))
    if not unknown.is_empty():
        row = unknown.row(0, named=True)
        raise InputError(path, f"sentence {row['sentence_id']}", f"variant {row['variant']!r}; expected one of {VARIANTS}")
    sentence_ids = retrieval["sentence_id"].unique(maintain_order=True).to_list()
    for sentence_id in sentence_ids:
        variants = retrieval.filter(pl.col("sentence_id") == sentence_id)["variant"].to_list()
        if sorted(variants) != sorted(VARIANTS):
            raise InputError(path, f"sentence {sentence_id}",
                             f"has the variants {variants}; expected one 'full' row and one 'without' row")
    without = retrieval.filter((pl.col("variant") == "without") & pl.col("removed_position").is_null())
    if not without.is_empty():
        raise InputError(path, f"sentence {without['sentence_id'][0]}", "the 'without' row names no removed_position")
    return sentence_ids


def example_table(visual: pl.DataFrame, textual: pl.DataFrame, sentence_ids: list[int]) -> pl.DataFrame:
    """Per word of each example caption, both pathways' omission scores (``OMISSION_EXAMPLES``), in example order."""
    keys = ["sentence_id", "position"]
    order = pl.DataFrame({"sentence_id": sentence_ids, "example": range(len(sentence_ids))},
                         schema={"sentence_id": pl.Int64, "example": pl.Int64})
    parts = {}
    for name, frame in zip(PAIR, (visual, textual)):
        part = frame.join(order, on="sentence_id", how="inner")
        missing = set(sentence_ids) - set(part["sentence_id"])
        if missing:
            raise InputError(None, f"sentence {min(missing)}", f"example caption has no omission scores for {name.upper()}")
        parts[name] = part
    table = parts[PAIR[0]].select(keys + ["example", "token", pl.col("omission").alias("omission_visual")]).join(
        parts[PAIR[1]].select(keys + [pl.col("omission").alias("omission_textual")]), on=keys, how="full",
        coalesce=True)
    incomplete = table.filter(pl.col("omission_visual").is_null() | pl.col("omission_textual").is_null())
    if not incomplete.is_empty():
        row = incomplete.row(0, named=True)
        raise InputError(None, f"sentence {row['sentence_id']} position {row['position']}",
                         "scored by one pathway only; VISUAL and TEXTUAL must score the same words")
    return table.sort(["example", "position"]).select(OMISSION_EXAMPLES.names)


def _retrieved(row: dict) -> str:
    return f"image {row['retrieved_image_id']}: \u201c{row['retrieved_caption']}\u201d"


def figure1(table: pl.DataFrame, retrieval: pl.DataFrame, sentence_ids: list[int]):
    """Fig. 1: one panel per example; bars of both pathways per word, the retrievals written underneath."""
    fig = new_figure(7.0, 2.9 * len(sentence_ids))
    axes = fig.subplots(len(sentence_ids), 1, squeeze=False)[:, 0]
    for ax, sentence_id in zip(axes, sentence_ids):
        words = table.filter(pl.col("sentence_id") == sentence_id)
        rows = {r["variant"]: r for r in retrieval.filter(pl.col("sentence_id") == sentence_id).iter_rows(named=True)}
        x = np.arange(len(words))
        for offset, name, column in ((-0.2, PAIR[0], "omission_visual"), (0.2, PAIR[1], "omission_textual")):
            ax.bar(x + offset, words[column].to_numpy(), 0.4, color=colour(name), label=name.upper())
        ax.set_xticks(x, words["token"].to_list(), rotation=30, ha="right")
        removed = rows["without"]["removed_position"]
        for tick, position in zip(ax.get_xticklabels(), words["position"]):
            if position == removed:
                tick.set_fontweight("bold")  # the word removed for the second retrieval
        ax.set_ylabel("omission score")
        ax.set_title(f"sentence {sentence_id}: {rows['full']['caption']}", fontsize=9)
        ax.legend(frameon=False, fontsize=8)
        lines = [f"full caption \u2192 {_retrieved(rows['full'])}",
                 f"without \u201c{rows['without']['removed_token']}\u201d \u2192 {_retrieved(rows['without'])}"]
        ax.set_xlabel("\n".join(textwrap.fill(line, 100) for line in lines), fontsize=8, loc="left")
    return fig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--omission", type=Path, nargs="+", required=True,
                    help="OMISSION tables; must include IMAGINET visual and textual")
    ap.add_argument("--retrieval", type=Path, required=True, help="RETRIEVAL_EXAMPLES table")
    ap.add_argument("--table", type=Path, required=True, help="OMISSION_EXAMPLES table (Parquet)")
    ap.add_argument("--figure", type=Path, required=True, help="Fig. 1 (PNG; SVG beside it)")
    args = ap.parse_args(argv)

    retrieval = read_table(args.retrieval, RETRIEVAL_EXAMPLES, RETRIEVAL_EXAMPLES.names)
    if retrieval.is_empty():
        raise InputError(args.retrieval, None, "no example captions")
    sentence_ids = check_retrieval(retrieval, args.retrieval)
    frames = read_omission(args.omission, ["sentence_id", "position", "token", "model", "pathway", "omission"])
    require(frames, list(PAIR), args.omission)
    table = example_table(frames[PAIR[0]], frames[PAIR[1]], sentence_ids)
    write_parquet(table.to_arrow(), args.table, OMISSION_EXAMPLES, "omission_examples")
    save_figure(figure1(table, retrieval, sentence_ids), args.figure)
    print(f"{len(sentence_ids)} example captions, {len(table)} words")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
