"""Table 1 (top contexts of chosen units) and Fig. 7 (activation through time) of Kadar et
al. (2017, sec. 5.4).

**Which units.** The paper picked its units by hand; here a rule picks them. Per network,
the ``table_units`` units whose top-K tokens have the **fewest distinct words** (the most
word-selective units; ties: the larger mean |activation| over the top K, then the lower
index). Table 1 lists each one's top-K contexts. ``units.figures.units`` may list units
instead (``Visual:12``); then those are shown, for Table 1 and Fig. 7 alike.

**Fig. 7.** For the first chosen unit of every network (or every listed unit), ``captions``
example captions, one coloured cell per token (the original interpolated between tokens;
reviewers objected). A caption qualifies when one of its tokens reaches the unit's
``percentile`` over every word token of the split (the top decile by default), the
activation read in the direction of the unit's top-K tokens (their summed sign); the examples are a seeded draw among the qualifying captions. The activation
store is streamed for the shown units only, at the ``layer`` setting's layer (-1, the top, by
default), which must be the layer the top-contexts tables were made of (their ``layer`` column).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib import colormaps
from matplotlib.colors import TwoSlopeNorm
from matplotlib.patches import Rectangle

from lingscope.analysis.plotting import new_figure, save_figure
from lingscope.analysis.settings import UnitFigureSettings
from lingscope.analysis.kadar2017.units import (
    iter_states,
    network_of,
    read_top_contexts,
    resolve_layer,
    state_dim,
)
from lingscope.core.catalog import network_display
from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet, write_text
from lingscope.core.schemas import ACTIVATION_TRACES, UNIT_TABLE1

RULE = "fewest distinct words among its top-K tokens"


def selective_units(top: pl.DataFrame, per_network: int) -> pl.DataFrame:
    """network, unit, distinct_words, rule: per network the ``per_network`` units chosen by RULE."""
    stats = top.group_by("network", "unit").agg(
        pl.col("token").n_unique().cast(pl.Int32).alias("distinct_words"),
        pl.col("activation").abs().mean().alias("mean_abs"),
        pl.col("activation").sum().sign().alias("sign"))
    ranked = stats.sort(["network", "distinct_words", "mean_abs", "unit"], descending=[False, False, True, False])
    return (ranked.group_by("network", maintain_order=True).head(per_network)
            .select("network", "unit", "distinct_words", "sign", pl.lit(RULE).alias("rule")))


def listed_units(top: pl.DataFrame, listed: tuple[str, ...]) -> pl.DataFrame:
    """The units of ``units.figures.units`` (``Network:unit``), each checked against the tables."""
    rows = []
    networks = set(top["network"])
    for item in listed:
        network, sep, unit = item.rpartition(":")
        if not sep or not unit.isdigit():
            raise InputError(None, f"units.figures.units: {item!r}", "expected Network:unit, e.g. Visual:12")
        if network not in networks:
            raise InputError(None, f"units.figures.units: {item!r}", f"no network {network!r}; expected one of "
                             f"{sorted(networks)}")
        if top.filter((pl.col("network") == network) & (pl.col("unit") == int(unit))).is_empty():
            raise InputError(None, f"units.figures.units: {item!r}", f"network {network} has no unit {unit}")
        rows.append({"network": network, "unit": int(unit)})
    chosen = pl.DataFrame(rows, schema={"network": pl.String, "unit": pl.Int32})
    distinct = top.group_by("network", "unit").agg(pl.col("token").n_unique().cast(pl.Int32).alias("distinct_words"),
                                                   pl.col("activation").sum().sign().alias("sign"))
    return chosen.join(distinct, on=["network", "unit"], how="left", maintain_order="left").with_columns(
        rule=pl.lit("listed in units.figures.units"))


def table1(top: pl.DataFrame, chosen: pl.DataFrame) -> pl.DataFrame:
    return (chosen.join(top, on=["network", "unit"], how="inner", maintain_order="left")
            .sort(["network", "unit", "rank"], maintain_order=True).select(UNIT_TABLE1.names))


def traces(folder: Path, units: list[int], signs: list[float], percentile: float, captions: int, seed: int,
           batch_rows: int = 65536, layer: int = -1) -> tuple[np.ndarray, pl.DataFrame]:
    """Per unit of ``units``, the ``percentile`` of its activation oriented by ``signs`` (the
    sign of its top-K tokens, so a unit whose extremes are negative is read downwards) over
    every word token, and the tokens of ``captions`` drawn captions with a token at or beyond
    it: ``unit, threshold, sentence_id, position, token, activation``; the states of ``layer``
    (-1 the top)."""
    dim = state_dim(folder, layer)
    bad = [u for u in units if not 0 <= u < dim]
    if bad:
        raise InputError(folder, f"units {bad}", f"not units of a {dim}-dimensional state")
    metas, parts = [], []
    for meta, states in iter_states(folder, batch_rows, units=np.asarray(units), layer=layer):
        metas.append(pl.from_arrow(meta))
        parts.append(states)
    meta, values = pl.concat(metas), np.concatenate(parts)
    oriented = values * np.asarray(signs, dtype=np.float32)
    thresholds = np.percentile(oriented, percentile, axis=0)
    rng = np.random.RandomState(seed)
    out = []
    for i, unit in enumerate(units):
        frame = meta.with_columns(activation=values[:, i].astype(np.float64))
        qualifying = np.unique(frame.filter(pl.Series(oriented[:, i] >= thresholds[i]))["sentence_id"].to_numpy())
        picked = np.sort(rng.choice(qualifying, size=min(captions, len(qualifying)), replace=False))
        out.append(frame.filter(pl.col("sentence_id").is_in(picked)).sort(["sentence_id", "position"]).select(
            pl.lit(unit, dtype=pl.Int32).alias("unit"), pl.lit(float(thresholds[i])).alias("threshold"),
            "sentence_id", "position", "token", "activation"))
    return thresholds, pl.concat(out)


def figure7(trace: pl.DataFrame):
    """One row of coloured cells per (unit, caption); colours centred on 0, scaled per unit."""
    groups = trace.partition_by(["network", "unit", "sentence_id"], maintain_order=True)
    longest = max(len(g) for g in groups)
    fig = new_figure(max(4.0, 0.62 * longest + 1.8), 0.36 * len(groups) + 0.9)
    ax = fig.add_subplot()
    cmap = colormaps["RdBu_r"]
    scale = trace.group_by("network", "unit").agg(pl.col("activation").abs().max().alias("m"))
    scale = {(n, u): max(m, 1e-12) for n, u, m in scale.iter_rows()}
    labels = []
    for row, group in enumerate(groups):
        network, unit = group["network"][0], group["unit"][0]
        norm = TwoSlopeNorm(0.0, -scale[network, unit], scale[network, unit])
        for x, (token, value) in enumerate(zip(group["token"], group["activation"])):
            ax.add_patch(Rectangle((x, -row - 0.45), 1.0, 0.9, facecolor=cmap(norm(value)), edgecolor="white"))
            ax.text(x + 0.5, -row, token, ha="center", va="center", fontsize=6.5,
                    color="white" if abs(norm(value) - 0.5) > 0.35 else "black")
        labels.append(f"{network} {unit}")
    ax.set_xlim(0, longest)
    ax.set_ylim(-len(groups) + 0.4, 0.6)
    ax.set_yticks(-np.arange(len(groups)), labels, fontsize=7)
    ax.set_xticks([])
    ax.spines[:].set_visible(False)
    ax.set_title("Activation through time: one cell per token, red > 0 > blue, scaled per unit\n"
                 "(captions with a token in the unit's top decile, read in the direction of its top-K tokens)",
                 fontsize=8)
    return fig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--top-contexts", type=Path, nargs="+", required=True, help="TOP_CONTEXTS tables")
    ap.add_argument("--activations", type=Path, nargs="+", required=True,
                    help="the networks' per-token states (activations/tokens/model=M/pathway=P)")
    ap.add_argument("--table1", type=Path, required=True, help="UNIT_TABLE1 table (Parquet)")
    ap.add_argument("--table1-csv", type=Path, required=True, help="the same as CSV (the report)")
    ap.add_argument("--traces", type=Path, required=True, help="ACTIVATION_TRACES table behind Fig. 7 (Parquet)")
    ap.add_argument("--fig7", type=Path, required=True, help="Fig. 7 (PNG; SVG beside it)")
    UnitFigureSettings.add_arguments(ap, "settings (config: units.figures)")
    args = ap.parse_args(argv)
    settings = UnitFigureSettings.from_args(args)

    top = read_top_contexts(args.top_contexts)
    if top.is_empty():
        raise InputError(None, "--top-contexts", "the tables hold no unit")
    folders = {network_display(*network_of(f)): f for f in args.activations}
    missing = sorted(set(top["network"]) - set(folders))
    if missing:
        raise InputError(None, "--activations", f"no activation folder for the networks {missing}")
    for (network,), group in top.group_by("network", maintain_order=True):
        made_of, reading = sorted(set(group["layer"])), resolve_layer(folders[network], settings.layer)
        if made_of != [reading]:
            raise InputError(folders[network], f"layer {settings.layer}", f"is layer {reading} of the store, but the "
                             f"top-contexts tables of {network} were made of layer(s) {made_of}; give the same layer")
    if settings.units == ("auto",):
        chosen = selective_units(top, settings.table_units)
        shown = chosen.group_by("network", maintain_order=True).head(1)
    else:
        chosen = shown = listed_units(top, settings.units)
    table = table1(top, chosen)
    write_parquet(table.to_arrow(), args.table1, UNIT_TABLE1, "unit_table1")
    write_text(args.table1_csv, table.write_csv(float_precision=4))

    parts = []
    for (network,), group in shown.group_by("network", maintain_order=True):
        units = group["unit"].to_list()
        signs = [s if s != 0 else 1.0 for s in group["sign"]]
        _, trace = traces(folders[network], units, signs, settings.percentile, settings.captions, settings.seed,
                          layer=settings.layer)
        rules = dict(zip(group["unit"], group["rule"]))
        parts.append(trace.with_columns(network=pl.lit(network),
                                        rule=pl.col("unit").replace_strict(rules, return_dtype=pl.String)))
    trace = pl.concat(parts).select(ACTIVATION_TRACES.names)
    write_parquet(trace.to_arrow(), args.traces, ACTIVATION_TRACES, "activation_traces")
    save_figure(figure7(trace), args.fig7)
    for network, unit, distinct in chosen.select("network", "unit", "distinct_words").iter_rows():
        contexts = table.filter((pl.col("network") == network) & (pl.col("unit") == unit))["trigram"].head(3)
        print(f"{network} unit {unit}: {distinct} distinct words; {' | '.join(contexts)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
