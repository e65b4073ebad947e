"""Poerner et al.'s (2018) Fig. 1 and Table 1 from the input-optimisation tables (docs/poerner2018.md#figures).

- **Fig. 1**: per network, the distribution of its drawn units' optimum activations for each
  method (boxes: quartiles and median; points: every unit).
- **Summary** (Parquet and CSV): per network and method, the quartiles, the share of units whose
  optimum beats ``crp``'s, the share of function words among the optima's tokens, ``emb``'s mean
  cosine between the optimum and its nearest words (the paper: 0.24) and the mean steps.
  Function words are the tokens whose most frequent universal POS tag in the parsed analysis
  split is a closed class, so the measure needs only the parse and works on any corpus.
- **Table 1** (Parquet and CSV): the ``crp`` and ``gbl`` 5-grams of every named target and of the
  first ``table_units`` drawn units of each network (the draw is random; its first units are an
  unbiased choice).

The named targets are shown in Table 1 only; every statistic is over the drawn units. The hidden
units (target ``representation``, beyond the paper) are in the summary, labelled by that target,
and stay out of Fig. 1 and Table 1, which show the paper's projections (the readouts).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl

from lingscope.analysis.networks import network_name, read_table
from lingscope.analysis.plotting import boxplot, new_figure, save_figure
from lingscope.analysis.settings import PoernerTableSettings
from lingscope.core import catalog
from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet, write_text
from lingscope.core.schemas import INPUT_OPTIMISATION, IO_SUMMARY, IO_TABLE1, TOKENS

METHOD_ORDER = ("crp", "emb", "logit", "smx", "gbl")
CLOSED_CLASSES = ("ADP", "AUX", "CCONJ", "DET", "NUM", "PART", "PRON", "SCONJ")
KEYS = ["network", "readout", "draw", "unit", "named"]


def read_results(paths: list[Path]) -> pl.DataFrame:
    frames = []
    for path in paths:
        frame = read_table(path, INPUT_OPTIMISATION, INPUT_OPTIMISATION.names)
        if frame.is_empty():
            raise InputError(path, None, "no optimised units")
        frames.append(frame)
    table = pl.concat(frames)
    pairs = table.select("model", "pathway").unique()
    names = pairs.with_columns(network=pl.Series([network_name(m, p) for m, p in pairs.iter_rows()],
                                                 dtype=pl.String))
    table = table.join(names, on=["model", "pathway"], how="left", maintain_order="left")
    doubled = table.select("network", "readout", "method", "draw", "unit", "named").is_duplicated()
    if doubled.any():
        row = table.filter(doubled).row(0, named=True)
        raise InputError(None, f"{row['network']} {row['method']} unit {row['unit']}", "optimised in two files")
    return table


def closed_class_words(tokens: Path) -> set[str]:
    """Lower-cased word forms whose most frequent universal POS tag is a closed class."""
    parse = read_table(tokens, TOKENS, ["form", "upos"]).with_columns(pl.col("form").str.to_lowercase())
    counts = parse.group_by("form", "upos").len().sort("form", "len", "upos", descending=[False, True, False])
    top = counts.group_by("form", maintain_order=True).first()
    return set(top.filter(pl.col("upos").is_in(CLOSED_CLASSES))["form"].to_list())


def summary(table: pl.DataFrame, function_words: set[str]) -> pl.DataFrame:
    drawn = table.filter(~pl.col("named"))
    crp = drawn.filter(pl.col("method") == "crp").select("network", "readout", "draw", "unit",
                                                          crp_activation="activation")
    joined = drawn.join(crp, on=["network", "readout", "draw", "unit"], how="left")
    joined = joined.with_columns(
        function_share=pl.col("tokens").list.eval(pl.element().str.to_lowercase().is_in(list(function_words)))
        .list.mean())
    out = joined.group_by("network", "readout", "method").agg(
        units=pl.len(),
        median=pl.col("activation").median(),
        q1=pl.col("activation").quantile(0.25, "linear"),
        q3=pl.col("activation").quantile(0.75, "linear"),
        beats_crp=(pl.col("activation") > pl.col("crp_activation")).mean(),
        function_word_share=pl.col("function_share").mean(),
        mean_cosine=pl.col("cosine").mean(),
        mean_steps=pl.col("steps").cast(pl.Float64).mean(),
    ).with_columns(beats_crp=pl.when(pl.col("method") == "crp").then(None).otherwise(pl.col("beats_crp")))
    return _ordered(out).select(IO_SUMMARY.names)


def _ordered(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        _n=_network_rank(frame),
        _m=pl.col("method").replace_strict(METHOD_ORDER, list(range(len(METHOD_ORDER))), return_dtype=pl.Int32),
    ).sort("_n", "readout", "_m").drop("_n", "_m")


def _network_rank(frame: pl.DataFrame) -> pl.Expr:
    """Each row's network's place in :func:`_network_order`."""
    networks = _network_order(frame["network"].unique().to_list())
    return pl.col("network").replace_strict(networks, list(range(len(networks))), return_dtype=pl.Int32)


def _network_order(names: list[str]) -> list[str]:
    """The paper's networks in its order (lingscope.core.catalog), then any other by name."""
    paper = [n for n in catalog.POERNER_NETWORKS if n in names]
    return paper + sorted(set(names) - set(paper))


def projections(table: pl.DataFrame) -> pl.DataFrame:
    """The readouts' rows: the paper's projection units, without the hidden units."""
    return table.filter(pl.col("readout") != catalog.HIDDEN_TARGET)


def table1(table: pl.DataFrame, table_units: int) -> pl.DataFrame:
    both = projections(table).filter(pl.col("method").is_in(["crp", "gbl"]))
    wide = both.select(*KEYS, "target_word", "method", "ngram", "activation").pivot(
        on="method", index=[*KEYS, "target_word"], values=["ngram", "activation"])
    if not {"ngram_crp", "ngram_gbl"} <= set(wide.columns):
        raise InputError(None, "--results", "Table 1 needs the crp and the gbl tables of every network")
    # Units in draw order: the order of the rows of the crp table.
    order = both.filter(pl.col("method") == "crp").with_row_index("_order").select(*KEYS, "_order")
    wide = wide.join(order, on=KEYS, nulls_equal=True).sort("_order")
    chosen = pl.concat([wide.filter(~pl.col("named")).group_by("network", "readout", maintain_order=True)
                        .head(table_units), wide.filter(pl.col("named"))])
    chosen = chosen.rename({"ngram_crp": "crp", "activation_crp": "crp_activation", "ngram_gbl": "gbl",
                            "activation_gbl": "gbl_activation"})
    return chosen.with_columns(_n=_network_rank(chosen)).sort("_n", "named", "_order").select(IO_TABLE1.names)


def figure(table: pl.DataFrame, out: Path) -> None:
    drawn = projections(table).filter(~pl.col("named"))
    panels = drawn.select("network", "readout").unique()
    networks = _network_order(panels["network"].unique().to_list())
    panels = [(n, r) for n in networks for r in sorted(panels.filter(pl.col("network") == n)["readout"])]
    fig = new_figure(3.2 * len(panels), 3.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    rng = np.random.default_rng(0)  # horizontal jitter of the points only
    for ax, (network, readout) in zip(axes, panels):
        rows = drawn.filter((pl.col("network") == network) & (pl.col("readout") == readout))
        methods = [m for m in METHOD_ORDER if m in set(rows["method"])]
        groups = [rows.filter(pl.col("method") == m)["activation"].to_numpy() for m in methods]
        colour = catalog.colour(network)
        boxplot(ax, groups, list(range(len(methods))), 0.6, colour)
        for i, values in enumerate(groups):
            ax.scatter(i + rng.uniform(-0.2, 0.2, len(values)), values, s=4, color="black", alpha=0.35,
                       linewidths=0)
        ax.set_xticks(range(len(methods)), methods)
        ax.set_title(f"{network} ({readout})")
        ax.set_ylabel("activation of the optimum")
    save_figure(fig, out)


def run(results: list[Path], tokens: Path, fig1: Path, summary_out: Path, table1_out: Path,
        settings: PoernerTableSettings) -> None:
    table = read_results(results)
    stats = summary(table, closed_class_words(tokens))
    write_parquet(stats.to_arrow(), summary_out, IO_SUMMARY, "io_summary")
    write_text(summary_out.with_suffix(".csv"), stats.write_csv(float_precision=4))
    examples = table1(table, settings.table_units)
    write_parquet(examples.to_arrow(), table1_out.with_suffix(".parquet"), IO_TABLE1, "io_table1")
    write_text(table1_out, examples.write_csv(float_precision=4))
    figure(table, fig1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", required=True, nargs="+", type=Path, help="INPUT_OPTIMISATION tables")
    p.add_argument("--tokens", required=True, type=Path, help="TOKENS parse of the analysis split (function words)")
    p.add_argument("--fig1", required=True, type=Path, help="Fig. 1 (PNG; an SVG is written beside it)")
    p.add_argument("--summary", required=True, type=Path, help="IO_SUMMARY Parquet (a CSV beside it)")
    p.add_argument("--table1", required=True, type=Path, help="Table 1 CSV (a Parquet beside it)")
    PoernerTableSettings.add_arguments(p, "Table 1 (config: poerner_figures)")
    args = p.parse_args(argv)
    run(args.results, args.tokens, args.fig1, args.summary, args.table1, PoernerTableSettings.from_args(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
