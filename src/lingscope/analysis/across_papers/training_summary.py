"""Training curves and evaluation results of the models (Kadar et al. 2017, sec. 4).

The curves figure shows each model's training and validation loss per epoch, with the
epoch whose weights were kept marked. The results CSV lists every evaluation metric
(retrieval recall@k and median rank for VISUAL pathways, perplexity and cross-entropy for
TEXTUAL ones) with the paper's network name and the epoch evaluated, one row per
model x pathway x metric, for the report.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from matplotlib.ticker import MaxNLocator

from lingscope.analysis.networks import paper_name, read_table
from lingscope.analysis.plotting import new_figure, save_figure
from lingscope.core.schemas import EVALUATION_RESULTS, metrics_objectives, training_curves_schema, training_metrics_schema
from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import conform, write_parquet, write_text
from lingscope.core.schemas import EVALUATION

SPLITS = ("train", "val")
_SPLIT_COLOURS = {"train": "#1f77b4", "val": "#d62728"}


def read_many(paths: list[Path], schema, keys: list[str]) -> pl.DataFrame:
    """Concatenate tables of ``schema`` (a schema, or a function of a file's column names that
    gives its schema); columns one file lacks are null; a key repeated within or across files
    is an error."""
    frames = []
    for path in paths:
        file_schema = schema(_columns(path)) if callable(schema) else schema
        frames.append(read_table(path, file_schema, file_schema.names).with_columns(_file=pl.lit(str(path))))
    table = pl.concat(frames, how="diagonal")
    duplicated = table.select(keys).is_duplicated()
    if duplicated.any():
        first = table.filter(duplicated).row(0, named=True)
        files = table.filter(duplicated & pl.all_horizontal(pl.col(k) == first[k] for k in keys))["_file"]
        raise InputError(files[-1], ", ".join(f"{k} {first[k]!r}" for k in keys),
                         f"appears more than once (in {', '.join(files.unique(maintain_order=True))})")
    return table.drop("_file")


def best_epochs(metrics: pl.DataFrame) -> dict[str, int]:
    """The epoch flagged ``is_best`` per model; exactly one per model is expected."""
    best = {}
    for (model,), part in metrics.group_by(["model"], maintain_order=True):
        flagged = part.filter(pl.col("is_best"))["epoch"].to_list()
        if len(flagged) != 1:
            raise InputError(None, f"model {model!r}",
                             f"{len(flagged)} epochs are flagged is_best ({flagged}); expected exactly one")
        best[model] = int(flagged[0])
    return best


def _columns(path: Path) -> list[str]:
    try:
        return pq.read_schema(path).names
    except Exception:  # read_table names the file and the problem
        return []


def metrics_schema(columns: list[str]):
    """A training metrics table's schema, with the objectives its loss columns name."""
    return training_metrics_schema(metrics_objectives(columns))


def curves_table(metrics: pl.DataFrame) -> pl.DataFrame:
    """The long table behind the curves figure (``training_curves_schema``): one row per model,
    epoch and split, a loss column per objective any model has."""
    objectives = metrics_objectives(metrics.columns)
    parts = [metrics.select("model", "epoch", pl.lit(split).alias("split"), pl.col(f"{split}_loss").alias("loss"),
                            *[pl.col(f"{split}_loss_{o}").alias(f"loss_{o}") for o in objectives], "is_best")
             for split in SPLITS]
    return pl.concat(parts).sort(["model", "split", "epoch"]).select(training_curves_schema(objectives).names)


def results_table(evaluation: pl.DataFrame, best: dict[str, int]) -> pl.DataFrame:
    """The evaluation rows (``EVALUATION_RESULTS``) with network names and best epochs, grouped by model and pathway."""
    names = [paper_name(m, p) for m, p in evaluation.select("model", "pathway").iter_rows()]
    table = evaluation.with_columns(
        network=pl.Series(names, dtype=pl.String),
        best_epoch=pl.col("model").replace_strict(best, default=None, return_dtype=pl.Int32),
    )
    # A stable sort keeps each file's metric order within a model and pathway.
    return table.sort(["model", "pathway"], maintain_order=True).select(EVALUATION_RESULTS.names)


def curves_figure(curves: pl.DataFrame):
    """Loss per epoch, one panel per model, the kept epoch marked by a dotted line."""
    models = curves["model"].unique().sort().to_list()
    fig = new_figure(3.2 * max(len(models), 1), 3.0)
    axes = fig.subplots(1, max(len(models), 1), squeeze=False)[0]
    for ax, model in zip(axes, models):
        part = curves.filter(pl.col("model") == model)
        for split in SPLITS:
            rows = part.filter(pl.col("split") == split).sort("epoch")
            ax.plot(rows["epoch"], rows["loss"], marker="o", markersize=3, color=_SPLIT_COLOURS[split], label=split)
        best = part.filter(pl.col("is_best") & (pl.col("split") == "val"))
        if not best.is_empty():
            ax.axvline(best["epoch"][0], color="black", linestyle=":", linewidth=0.8)
            ax.plot(best["epoch"], best["loss"], marker="*", markersize=10, color="black", linestyle="none",
                    label=f"kept (epoch {best['epoch'][0]})")
        ax.set_title(model)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("loss")
        ax.legend(frameon=False, fontsize=8)
    return fig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--metrics", type=Path, nargs="*", default=[], help="TRAINING_METRICS tables, one per trained "
                    "model (none where every model was trained elsewhere)")
    ap.add_argument("--evaluation", type=Path, nargs="+", required=True, help="EVALUATION tables, one per model")
    ap.add_argument("--curves-table", type=Path, required=True, help="TRAINING_CURVES table (Parquet)")
    ap.add_argument("--curves", type=Path, required=True, help="loss curves figure (PNG; SVG beside it)")
    ap.add_argument("--results", type=Path, required=True, help="EVALUATION_RESULTS as CSV, for the report")
    args = ap.parse_args(argv)

    if args.metrics:
        metrics = read_many(args.metrics, metrics_schema, ["model", "epoch"])
    else:  # only networks trained elsewhere: no curves
        metrics = pl.from_arrow(metrics_schema([]).empty_table())
    evaluation = read_many(args.evaluation, EVALUATION, ["model", "pathway", "split", "metric"])
    best = best_epochs(metrics)
    curves = curves_table(metrics)
    results = results_table(evaluation, best)

    write_parquet(curves.to_arrow(), args.curves_table, training_curves_schema(metrics_objectives(metrics.columns)),
                  "training_curves")
    save_figure(curves_figure(curves), args.curves)
    checked = pl.from_arrow(conform(results.to_arrow(), EVALUATION_RESULTS, "evaluation_results"))
    write_text(args.results, checked.write_csv())
    for row in results.iter_rows(named=True):
        print(f"{row['model']}/{row['pathway']} {row['metric']}: {row['value']:.4g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
