"""How far the attribution methods agree, network by network (docs/beyond.md#agreement).

For every network with both an omission table and an attribution table, the words scored by
both (joined on sentence_id and position) are ranked by each of five importance scores: omission
(``1 - cos`` of the representation without the word), the saliency norm, the gradient x input
norm, the integrated-gradients norm, and the variance-salience norm (which reads only the
embeddings: a check of how much of the others is the words' embeddings alone). For every pair
of methods:

- ``spearman``: the token-level Spearman correlation over all the words (scipy), with its
  95% interval from Fisher's z (standard error 1.03 / sqrt(n - 3), Fieller et al. 1957);
- ``within_sentence``: the mean over sentences of at least ``agreement.min_words`` words of the Spearman
  correlation inside the sentence: whether the methods order one sentence's words alike, which
  the token-level figure mixes with differences between sentences;
- ``top_word``: the share of those sentences whose most important word is the same by both
  (sentences where either method ties for the top are left out: a linear network's saliency is
  the same at every position).

Outputs: ``agreement.csv`` (the table, AGREEMENT schema, also as Parquet) and a figure with one
panel of token-level correlations per network.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

from lingscope.analysis.networks import network_column, read_table
from lingscope.analysis.plotting import new_figure, save_figure
from lingscope.analysis.settings import AgreementSettings
from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet
from lingscope.core.schemas import AGREEMENT, ATTRIBUTION, OMISSION

METHODS = {"omission": "omission", "saliency_norm": "saliency", "gxi_norm": "gradient x input",
           "ig_norm": "integrated gradients", "variance_norm": "variance salience"}
SHORT = {"omission": "omis.", "saliency_norm": "sal.", "gxi_norm": "gxi", "ig_norm": "IG", "variance_norm": "var."}
KEY = ["model", "pathway", "sentence_id", "position"]


def scores(omission_paths: list[Path], attribution_paths: list[Path]) -> pl.DataFrame:
    """One row per word scored by both tables: the key, the network and the methods' scores."""
    omission = pl.concat([read_table(p, OMISSION, [*KEY, "omission"]) for p in omission_paths])
    frames = []
    for path in attribution_paths:
        attribution = read_table(path, ATTRIBUTION, [*KEY, "token", *(m for m in METHODS if m != "omission")])
        if attribution.is_empty():
            raise InputError(path, None, "no rows: nothing to compare")
        joined = attribution.join(omission, on=KEY, how="inner")
        if joined.height < attribution.height:
            model, pathway = attribution.row(0)[:2]
            raise InputError(path, f"network {model}/{pathway}", f"{attribution.height - joined.height} of its "
                             f"{attribution.height} words have no omission score; the attribution and omission "
                             "tables must come from the same split")
        frames.append(joined)
    return pl.concat(frames).with_columns(network_column())


def _fisher_interval(rho: float, n: int) -> tuple[float, float]:
    if n <= 3 or not np.isfinite(rho):
        return float("nan"), float("nan")
    z, se = np.arctanh(np.clip(rho, -0.999999, 0.999999)), 1.03 / np.sqrt(n - 3)
    return float(np.tanh(z - 1.96 * se)), float(np.tanh(z + 1.96 * se))


def agreement(frame: pl.DataFrame, min_words: int) -> pl.DataFrame:
    """The AGREEMENT rows of every network and pair of methods."""
    rows = []
    for (network, model, pathway), group in frame.sort(KEY).group_by(["network", "model", "pathway"],
                                                                     maintain_order=True):
        sentences = [g for _, g in group.group_by("sentence_id", maintain_order=True) if g.height >= min_words]
        for a, b in itertools.combinations(METHODS, 2):
            x, y = group[a].to_numpy(), group[b].to_numpy()
            rho = float(stats.spearmanr(x, y).statistic)
            low, high = _fisher_interval(rho, len(x))
            within, same = [], []
            for g in sentences:
                u, v = g[a].to_numpy(), g[b].to_numpy()
                if np.ptp(u) > 0 and np.ptp(v) > 0:
                    within.append(stats.spearmanr(u, v).statistic)
                if (u == u.max()).sum() == 1 and (v == v.max()).sum() == 1:  # a tie has no top word
                    same.append(int(np.argmax(u)) == int(np.argmax(v)))
            rows.append({"network": network, "model": model, "pathway": pathway, "method_a": METHODS[a],
                         "method_b": METHODS[b], "words": len(x), "sentences": len(sentences), "spearman": rho,
                         "spearman_low": low, "spearman_high": high,
                         "within_sentence": float(np.mean(within)) if within else float("nan"),
                         "top_word": float(np.mean(same)) if same else float("nan")})
    return pl.DataFrame(rows, schema=pl.from_arrow(AGREEMENT.empty_table()).schema)


def figure(table: pl.DataFrame, path: Path) -> None:
    """One panel per network: the token-level correlation matrix of the methods."""
    networks = table["network"].unique(maintain_order=True).to_list()
    names = list(METHODS.values())
    columns = min(3, len(networks))
    lines = -(-len(networks) // columns)
    fig = new_figure(3.6 * columns, 3.4 * lines)
    for k, network in enumerate(networks):
        ax = fig.add_subplot(lines, columns, k + 1)
        matrix = np.eye(len(names))
        for row in table.filter(pl.col("network") == network).iter_rows(named=True):
            i, j = names.index(row["method_a"]), names.index(row["method_b"])
            matrix[i, j] = matrix[j, i] = row["spearman"]
        image = ax.imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r")
        for i, j in itertools.product(range(len(names)), repeat=2):
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7)
        short = list(SHORT.values())
        ax.set_xticks(range(len(names)), short, fontsize=7)
        ax.set_yticks(range(len(names)), short, fontsize=7)
        ax.set_title(network, fontsize=9)
    fig.colorbar(image, ax=fig.axes, shrink=0.6, label="Spearman (tokens)")
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--omission", nargs="+", required=True, type=Path, help="OMISSION tables")
    p.add_argument("--attribution", nargs="+", required=True, type=Path, help="ATTRIBUTION tables")
    p.add_argument("--table", required=True, type=Path, help="agreement.csv (and .parquet beside it)")
    p.add_argument("--figure", required=True, type=Path, help="agreement.png (and .svg)")
    AgreementSettings.add_arguments(p, "settings (config: agreement)")
    args = p.parse_args(argv)
    table = agreement(scores(args.omission, args.attribution), AgreementSettings.from_args(args).min_words)
    write_parquet(table.to_arrow(), args.table.with_suffix(".parquet"), AGREEMENT, "agreement")
    args.table.parent.mkdir(parents=True, exist_ok=True)
    table.write_csv(args.table, float_precision=4)
    figure(table, args.figure)
    for row in table.filter(pl.col("method_a") == "omission").iter_rows(named=True):
        print(f"{row['network']}: omission vs {row['method_b']}: spearman {row['spearman']:.3f}, within sentences "
              f"{row['within_sentence']:.3f}, same top word {row['top_word']:.3f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
