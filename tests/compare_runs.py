"""Compare the tables of two workflow runs: which are identical, and by how much the others differ.

    python tests/compare_runs.py OLD/results NEW/results [--tables analysis/*.parquet ...]

For each Parquet or CSV table found under both folders (by default the analysis tables behind
Figs. 1-4 and 6, the model results and the learning curves, the evaluation and the omission
tables), the rows are matched after sorting by their non-float columns and each column compared: string and integer
columns must be equal, float columns are reported by their largest absolute difference.
Timing columns (``seconds``, ``tokens_per_second``) are left out. The exit code is 0 when every
non-float column is equal and every float column is within ``--tolerance``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import polars as pl

TIMING = {"seconds", "tokens_per_second"}
DEFAULT = [
    "analysis/kadar2017/omission_by_label.parquet", "analysis/kadar2017/log_ratio_by_label.parquet", "analysis/kadar2017/ridge_r2.parquet",
    "analysis/kadar2017/ridge_positions.parquet", "analysis/kadar2017/fig1_examples.parquet", "analysis/kadar2017/retrieval_examples.parquet",
    "analysis/across_papers/learning_curves.parquet", "analysis/across_papers/model_results.csv",
    "models/imaginet/metrics.parquet", "models/sum/metrics.parquet", "models/lm/metrics.parquet",
    "models/imaginet/evaluation.parquet", "models/sum/evaluation.parquet", "models/lm/evaluation.parquet",
    "omission/imaginet.visual.parquet", "omission/imaginet.textual.parquet", "omission/sum.visual.parquet",
    "omission/sum.textual.parquet", "omission/lm.textual.parquet",
    "models/rnn/metrics.parquet", "models/lstm/metrics.parquet", "models/bilstm/metrics.parquet",
    "analysis/li2016/accuracy.parquet", "analysis/li2016/mcnemar.parquet",
    "models/autoencoder/metrics.parquet", "models/autoencoder/evaluation.parquet",
    "models/autoencoder/reconstructions.parquet", "analysis/li2016/autoencoder/results.csv",
    "analysis/li2016/autoencoder/alignment.csv",
]


def read(path: Path) -> pl.DataFrame:
    return pl.read_csv(path) if path.suffix == ".csv" else pl.read_parquet(path)


def compare(old: pl.DataFrame, new: pl.DataFrame) -> tuple[bool, float, list[str]]:
    """(exactly equal, largest float difference, notes) over the columns both tables have,
    rows matched after sorting both by their non-float columns (row order is not compared)."""
    notes = []
    if old.height != new.height:
        return False, float("inf"), [f"rows {old.height} -> {new.height}"]
    common = [c for c in old.columns if c in new.columns and c not in TIMING]
    keys = [c for c in common if not old[c].dtype.is_float()]
    old, new = old.sort(keys, maintain_order=True), new.sort(keys, maintain_order=True)
    dropped = sorted(set(old.columns) - set(new.columns) - TIMING)
    if dropped:
        notes.append(f"columns only in the old table: {dropped}")
    exact, worst = True, 0.0
    for column in common:
        a, b = old[column], new[column]
        if a.dtype.is_float() or b.dtype.is_float():
            x, y = a.cast(pl.Float64).to_numpy(), b.cast(pl.Float64).to_numpy()
            same_null = np.isnan(x) == np.isnan(y)
            diff = np.abs(np.nan_to_num(x) - np.nan_to_num(y))
            if not same_null.all():
                return False, float("inf"), [f"column {column}: nulls differ"]
            if diff.max(initial=0.0) > 0:
                exact = False
                worst = max(worst, float(diff.max()))
                notes.append(f"{column}: {int((diff > 0).sum())} of {len(diff)} values differ, max {diff.max():.3g}")
        elif not a.equals(b):
            return False, float("inf"), [f"column {column} differs"]
    return exact, worst, notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--tables", nargs="+", default=DEFAULT, help="paths relative to both results folders")
    ap.add_argument("--tolerance", type=float, default=1e-6)
    args = ap.parse_args(argv)
    ok = True
    for name in args.tables:
        a, b = args.old / name, args.new / name
        if not a.exists() or not b.exists():
            print(f"{name}: missing in {'old' if not a.exists() else 'new'}")
            ok = False
            continue
        exact, worst, notes = compare(read(a), read(b))
        status = "identical" if exact else (f"max |diff| {worst:.3g}" if worst < float("inf") else "DIFFERENT")
        ok &= worst <= args.tolerance
        print(f"{name}: {status}" + "".join(f"\n    {n}" for n in notes))
    print("all within tolerance" if ok else "SOME TABLES DIFFER")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
