"""Sentence-level accuracy of the sentiment models beside Li et al.'s (2016) table, with 95%
confidence intervals and McNemar tests between the models (docs/li2016.md#accuracy).

Reads the per-sentence PREDICTIONS of every model with a class readout (written by
:mod:`lingscope.training.evaluate`). For each model, split (val, test) and granularity:

- ``fine``: the 5 labels; ``coarse``: negative (0-1) against positive (3-4), the neutral
  sentences left out (the usual SST binary protocol);
- the accuracy with its Wilson score interval (statsmodels ``proportion_confint``), the majority
  baseline (the train sentences' most frequent label or polarity, from the evaluation table),
  and the published test accuracy of the network of that name (the paper's table);
- a ``data`` column naming the treebank: the synthetic one is not the real SST, so its numbers
  are not comparable with the published ones.

McNemar's exact test (statsmodels ``mcnemar``, binomial on the discordant pairs) compares every
pair of models on the same sentences of each split and granularity.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import polars as pl
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from lingscope.analysis.networks import network_name, read_table
from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import conform, write_parquet, write_text
from lingscope.core.schemas import EVALUATION, MCNEMAR, PREDICTIONS, SENTIMENT_ACCURACY

# Li et al. (2016), sentence-level test accuracy: (fine, coarse), by the catalog's display name.
PUBLISHED = {"RNN": (0.429, 0.850), "LSTM": (0.469, 0.870), "BiLSTM": (0.488, 0.878)}
GRANULARITIES = ("fine", "coarse")  # the SST's; any other corpus: "labels" (its own N labels)
SST_GRANULARITIES = GRANULARITIES
ALPHA = 0.05


def read_predictions(paths: list[Path]) -> pl.DataFrame:
    frames = [read_table(p, PREDICTIONS, PREDICTIONS.names) for p in paths]
    table = pl.concat(frames) if frames else pl.from_arrow(PREDICTIONS.empty_table())
    keys = ["model", "pathway", "readout", "split", "sentence_id"]
    if table.select(keys).is_duplicated().any():
        first = table.filter(table.select(keys).is_duplicated()).row(0, named=True)
        raise InputError(None, ", ".join(f"{k} {first[k]!r}" for k in keys), "predicted more than once")
    if table.is_empty():
        raise InputError(None, "--predictions", "no predictions of a class readout in any file")
    return table


def is_sst(evaluation: pl.DataFrame, model: str) -> bool:
    """The model's evaluation has the SST's granularities (evaluate --sst-polarity)."""
    return evaluation.filter((pl.col("model") == model) & (pl.col("metric") == "accuracy_fine")).height > 0


def correctness(predictions: pl.DataFrame, granularity: str) -> pl.DataFrame:
    """One row per (model, pathway, split, sentence) with ``correct``; coarse leaves out neutral sentences."""
    if granularity in ("fine", "labels"):
        return predictions.with_columns(correct=pl.col("predicted") == pl.col("label"))
    return predictions.filter(pl.col("coarse_label").is_not_null()).with_columns(
        correct=pl.col("coarse_predicted") == pl.col("coarse_label"))


def granularities(predictions: pl.DataFrame, evaluation: pl.DataFrame):
    """(granularity, the predictions it scores): fine and coarse for the models on the SST, labels
    for the others."""
    sst = [m for m in predictions["model"].unique().to_list() if is_sst(evaluation, m)]
    on_sst = predictions.filter(pl.col("model").is_in(sst))
    others = predictions.filter(~pl.col("model").is_in(sst))
    out = [(g, on_sst) for g in SST_GRANULARITIES if on_sst.height]
    return out + ([("labels", others)] if others.height else [])


def accuracy_table(predictions: pl.DataFrame, evaluation: pl.DataFrame, data: dict[str, str] | str) -> pl.DataFrame:
    """``data``: how each model's corpus is named (by model; one string names every model's)."""
    rows = []
    for granularity, subset in granularities(predictions, evaluation):
        scored = correctness(subset, granularity)
        metric = "majority" if granularity == "labels" else f"majority_{granularity}"
        for (model, pathway, split), part in scored.group_by(["model", "pathway", "split"], maintain_order=True):
            n, k = part.height, int(part["correct"].sum())
            low, high = proportion_confint(k, n, alpha=ALPHA, method="wilson")
            name = network_name(model, pathway)
            majority = evaluation.filter((pl.col("model") == model) & (pl.col("pathway") == pathway)
                                         & (pl.col("split") == split) & (pl.col("metric") == metric))
            published = PUBLISHED.get(name) if granularity != "labels" else None
            rows.append({
                "model": model, "pathway": pathway, "network": name, "split": split, "granularity": granularity,
                "n": n, "correct": k, "accuracy": k / n, "ci_low": float(low), "ci_high": float(high),
                "majority": float(majority["value"][0]) if majority.height else None,
                "published_test": (published[GRANULARITIES.index(granularity)]
                                   if published is not None and split == "test" else None),
                "data": data if isinstance(data, str) else data.get(model, model),
            })
    return pl.DataFrame(rows, schema=pl.from_arrow(SENTIMENT_ACCURACY.empty_table()).schema).sort(
        ["split", "granularity", "model"], descending=[True, False, False])


def mcnemar_table(predictions: pl.DataFrame, evaluation: pl.DataFrame,
                  data: dict[str, str] | str = "") -> pl.DataFrame:
    """McNemar's exact test for every pair of networks on the sentences both predicted; networks
    on different corpora (``data``, as :func:`accuracy_table` takes it) are not compared, their
    sentence ids being another corpus's."""

    def corpus(model: str) -> str:
        return data if isinstance(data, str) else data.get(model, model)

    rows = []
    for granularity, subset in granularities(predictions, evaluation):
        scored = correctness(subset, granularity)
        for split in scored["split"].unique().sort().to_list():
            part = scored.filter(pl.col("split") == split)
            networks = part.select("model", "pathway").unique(maintain_order=True).sort(["model", "pathway"]).rows()
            for a, b in itertools.combinations(networks, 2):
                if corpus(a[0]) != corpus(b[0]):
                    continue
                left = part.filter((pl.col("model") == a[0]) & (pl.col("pathway") == a[1])).select("sentence_id", "correct")
                right = part.filter((pl.col("model") == b[0]) & (pl.col("pathway") == b[1])).select("sentence_id", "correct")
                joined = left.join(right, on="sentence_id", suffix="_b")
                x, y = joined["correct"].to_numpy(), joined["correct_b"].to_numpy()
                table = np.array([[np.sum(x & y), np.sum(x & ~y)], [np.sum(~x & y), np.sum(~x & ~y)]])
                result = mcnemar(table, exact=True)
                rows.append({"split": split, "granularity": granularity,
                             "model_a": a[0], "pathway_a": a[1], "network_a": network_name(*a),
                             "model_b": b[0], "pathway_b": b[1], "network_b": network_name(*b),
                             "n": int(table.sum()), "both_correct": int(table[0, 0]), "a_only": int(table[0, 1]),
                             "b_only": int(table[1, 0]), "neither": int(table[1, 1]),
                             "statistic": float(result.statistic), "p_value": float(result.pvalue)})
    return pl.DataFrame(rows, schema=pl.from_arrow(MCNEMAR.empty_table()).schema)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--predictions", type=Path, nargs="+", required=True, help="PREDICTIONS tables")
    ap.add_argument("--evaluation", type=Path, nargs="+", required=True, help="EVALUATION tables of the same models")
    ap.add_argument("--data", required=True, nargs="+", metavar="MODEL=DESCRIPTION",
                    help="each model's corpus, as the table names it (one DESCRIPTION alone names every model's)")
    ap.add_argument("--out", type=Path, required=True, help="SENTIMENT_ACCURACY Parquet table (a CSV beside it)")
    ap.add_argument("--out-mcnemar", type=Path, required=True, help="MCNEMAR Parquet table (a CSV beside it)")
    args = ap.parse_args(argv)
    predictions = read_predictions(args.predictions)
    evaluation = pl.concat([read_table(p, EVALUATION, EVALUATION.names) for p in args.evaluation])
    if len(args.data) == 1 and "=" not in args.data[0]:
        data: dict[str, str] | str = args.data[0]
    else:
        bad = [d for d in args.data if "=" not in d]
        if bad:
            raise InputError(None, "--data", f"expected MODEL=DESCRIPTION, got {bad[0]!r}")
        data = dict(d.split("=", 1) for d in args.data)
    accuracy = accuracy_table(predictions, evaluation, data)
    tests = mcnemar_table(predictions, evaluation, data)
    for table, out, schema, name in ((accuracy, args.out, SENTIMENT_ACCURACY, "sentiment_accuracy"),
                                     (tests, args.out_mcnemar, MCNEMAR, "mcnemar")):
        arrow = conform(table.to_arrow(), schema, name)
        write_parquet(arrow, out, schema, name)
        write_text(out.with_suffix(".csv"), pl.from_arrow(arrow).write_csv(float_precision=4))
    for row in accuracy.iter_rows(named=True):
        print(f"{row['network']} {row['split']} {row['granularity']}: {row['accuracy']:.3f} "
              f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}] (n {row['n']}, majority {row['majority']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
