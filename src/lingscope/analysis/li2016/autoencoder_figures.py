"""The autoencoder's results (Li et al. 2016, sec. 3.2; docs/li2016.md#autoencoder): its results table, the
results by sentence length, the alignment of its step saliency, and Fig. 9.

Reads, for every network with a sequence readout, the EVALUATION and RECONSTRUCTIONS tables
written by :mod:`lingscope.training.evaluate` and the STEP_SALIENCY table written by
:mod:`lingscope.methods.step_saliency`:

- ``results.csv``: per network and split, perplexity and cross-entropy (teacher forcing), token
  accuracy and exact-match rate (greedy decoding);
- ``by_length.csv`` and ``by_length.png``: the same by sentence length (words), in the bins of
  ``autoencoder_figures.length_bins``; long sentences are where autoencoders fail;
- ``alignment.csv``: the share of decoding steps whose most salient *source* token is the token
  the step reproduces (the same word, compared lower-cased as the vocabulary does), over the
  steps that reproduce a word (not ``<eos>``), with the share a uniformly random source position
  would reach (``chance``: the mean share of the source tokens equal to the target);
- ``fig9_saliency.png``: one heatmap per chosen sentence: a row per decoding step, a column per
  source token and per decoded token (the matrix behind each panel is the table's ``chosen`` rows).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl

from lingscope.analysis.networks import network_column, network_name, read_table
from lingscope.analysis.plotting import new_figure, save_figure
from lingscope.analysis.settings import AutoencoderFigureSettings
from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_text
from lingscope.core.schemas import EVALUATION, RECONSTRUCTIONS, STEP_SALIENCY

METRICS = ("perplexity", "cross_entropy", "token_accuracy", "exact_match")


def results_table(evaluation: pl.DataFrame) -> pl.DataFrame:
    """One row per network and split with the sequence readouts' metrics."""
    rows = evaluation.filter(pl.col("metric").is_in(METRICS))
    if rows.is_empty():
        raise InputError(None, "evaluation", f"no autoencoder metrics ({', '.join(METRICS)}) in the evaluation tables")
    wide = rows.pivot(on="metric", index=["model", "pathway", "split"], values="value")
    counts = rows.filter(pl.col("metric").is_in(["cross_entropy", "exact_match"])).pivot(
        on="metric", index=["model", "pathway", "split"], values="n").rename(
        {"cross_entropy": "tokens", "exact_match": "sentences"})
    out = wide.join(counts, on=["model", "pathway", "split"])
    out = out.with_columns(network_column())
    return out.select("network", "model", "pathway", "split", "sentences", "tokens", *METRICS).sort(
        "network", pl.col("split").replace({"val": "0", "test": "1"}))


def length_bin_labels(edges: tuple[int, ...]) -> list[str]:
    labels, low = [], 1
    for edge in edges:
        labels.append(f"{low}-{edge}")
        low = edge + 1
    return [*labels, f"{low}+"]


def by_length(recon: pl.DataFrame, edges: tuple[int, ...]) -> pl.DataFrame:
    """Token accuracy, exact match and perplexity by sentence length (words), per network and split."""
    labels = length_bin_labels(edges)
    words = recon["n_tokens"].to_numpy() - 1
    bins = np.searchsorted(np.asarray(edges), words, side="left")
    frame = recon.with_columns(pl.Series("bin", bins), pl.Series("words", words))
    out = frame.group_by("model", "pathway", "split", "bin").agg(
        pl.len().alias("sentences"), pl.col("n_tokens").sum().alias("tokens"),
        (pl.col("correct").sum() / pl.col("n_tokens").sum()).alias("token_accuracy"),
        pl.col("exact").mean().alias("exact_match"),
        (-pl.col("log_likelihood").sum() / pl.col("n_tokens").sum()).exp().alias("perplexity"))
    out = out.with_columns(
        pl.col("bin").replace_strict(list(range(len(labels))), labels, return_dtype=pl.String).alias("length"),
        network_column())
    return out.sort("network", "split", "bin").select(
        "network", "model", "pathway", "split", "length", "bin", "sentences", "tokens", "token_accuracy",
        "exact_match", "perplexity")


def alignment(saliency: pl.DataFrame) -> pl.DataFrame:
    """Per network and split: the steps reproducing a word, the share whose most salient source
    token is that word, and the share a random source position would reach."""
    source = saliency.filter(pl.col("side") == "source").with_columns(
        (pl.col("token").str.to_lowercase() == pl.col("target").str.to_lowercase()).alias("equal"))
    # steps that reproduce a word: the last step of a sentence reproduces <eos>
    last = source.group_by("model", "pathway", "split", "sentence_id").agg(pl.col("step").max().alias("last"))
    source = source.join(last, on=["model", "pathway", "split", "sentence_id"]).filter(pl.col("step") < pl.col("last"))
    keys = ["model", "pathway", "split", "sentence_id", "step"]
    best = source.sort([*keys, "saliency", "position"], descending=[False] * 5 + [True, False]).group_by(
        keys, maintain_order=True).agg(pl.col("equal").first().alias("aligned"),
                                       pl.col("equal").mean().alias("chance"), pl.col("chosen").first())
    out = best.group_by("model", "pathway", "split").agg(
        pl.col("sentence_id").n_unique().alias("sentences"), pl.len().alias("steps"),
        pl.col("aligned").mean().alias("aligned_share"), pl.col("chance").mean().alias("chance_share"))
    out = out.with_columns(network_column())
    return out.select("network", "model", "pathway", "split", "sentences", "steps", "aligned_share",
                      "chance_share").sort("network")


def plot_by_length(table: pl.DataFrame, path: Path) -> None:
    networks = table["network"].unique(maintain_order=True).to_list()
    fig = new_figure(9, 3.4)
    axes = fig.subplots(1, 2, squeeze=False)[0]
    for ax, metric, title in zip(axes, ("token_accuracy", "exact_match"), ("token accuracy", "exact match")):
        for network in networks:
            for split, style in (("val", "-o"), ("test", "--s")):
                part = table.filter((pl.col("network") == network) & (pl.col("split") == split)).sort("bin")
                if part.is_empty():
                    continue
                ax.plot(part["bin"].to_list(), part[metric].to_list(), style, label=f"{network} {split}")
        labels = table.sort("bin")["length"].unique(maintain_order=True).to_list()
        ax.set_xticks(range(len(labels)), labels)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("sentence length (words)")
        ax.set_title(f"{title} under greedy decoding")
    axes[0].legend(frameon=False, fontsize=8)
    save_figure(fig, path)


def plot_fig9(saliency: pl.DataFrame, path: Path) -> None:
    """One heatmap per chosen sentence: rows are decoding steps (labelled by the token they
    reproduce), columns the source tokens, a gap, then the decoded tokens."""
    chosen = saliency.filter(pl.col("chosen"))
    panels = chosen.select("model", "pathway", "sentence_id").unique(maintain_order=True).sort(
        "model", "pathway", "sentence_id").rows()
    if not panels:
        raise InputError(None, "step_saliency", "no chosen sentence to draw (step_saliency.figure)")
    sizes = [chosen.filter((pl.col("model") == m) & (pl.col("pathway") == p) & (pl.col("sentence_id") == s))[
        "step"].max() for m, p, s in panels]
    width = max(2 * n + 1 for n in sizes)
    fig = new_figure(min(4 + 0.3 * width, 22), sum(1.2 + 0.28 * n for n in sizes))
    axes = fig.subplots(len(panels), 1, squeeze=False, height_ratios=sizes)[:, 0]
    for ax, (model, pathway, sentence), n in zip(axes, panels, sizes):
        part = chosen.filter((pl.col("model") == model) & (pl.col("pathway") == pathway) &
                             (pl.col("sentence_id") == sentence))
        matrix = np.full((n, 2 * n + 1), np.nan)
        src = part.filter(pl.col("side") == "source")
        dec = part.filter(pl.col("side") == "decoded")
        matrix[src["step"].to_numpy() - 1, src["position"].to_numpy() - 1] = src["saliency"].to_numpy()
        matrix[dec["step"].to_numpy() - 1, n + 1 + dec["position"].to_numpy()] = dec["saliency"].to_numpy()
        src_tokens = src.filter(pl.col("step") == 1).sort("position")["token"].to_list()
        dec_tokens = dec.filter(pl.col("step") == n).sort("position")["token"].to_list()
        targets = src.filter(pl.col("position") == 1).sort("step")["target"].to_list()
        image = ax.imshow(np.ma.masked_invalid(matrix), aspect="auto", cmap="viridis", interpolation="nearest")
        ax.set_xticks(range(matrix.shape[1]), [*src_tokens, "", *dec_tokens], rotation=90, fontsize=7)
        ax.set_yticks(range(n), targets, fontsize=7)
        ax.axvline(n, color="white", linewidth=2)
        ax.set_ylabel("step: reproduces")
        ax.set_title(f"{network_name(model, pathway)}, sentence {sentence}: source tokens | decoded tokens",
                     fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.02, pad=0.01, label="mean |d log p(y_t)/de|")
    save_figure(fig, path)


def _csv(frame: pl.DataFrame, path: Path) -> None:
    write_text(path, frame.write_csv(float_precision=4))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--evaluation", nargs="+", required=True, type=Path, help="EVALUATION tables")
    p.add_argument("--reconstructions", nargs="+", required=True, type=Path, help="RECONSTRUCTIONS tables")
    p.add_argument("--step-saliency", nargs="+", required=True, type=Path, help="STEP_SALIENCY tables")
    p.add_argument("--results", required=True, type=Path, help="results table (CSV)")
    p.add_argument("--by-length", required=True, type=Path, help="results by sentence length (CSV)")
    p.add_argument("--by-length-figure", required=True, type=Path, help="results by sentence length (PNG; SVG too)")
    p.add_argument("--alignment", required=True, type=Path, help="alignment of the step saliency (CSV)")
    p.add_argument("--fig9", required=True, type=Path, help="Fig. 9 (PNG; SVG too)")
    AutoencoderFigureSettings.add_arguments(p, "settings (config: autoencoder_figures)")
    args = p.parse_args(argv)
    settings = AutoencoderFigureSettings.from_args(args)
    evaluation = pl.concat([read_table(f, EVALUATION, EVALUATION.names) for f in args.evaluation])
    recon = pl.concat([read_table(f, RECONSTRUCTIONS, RECONSTRUCTIONS.names) for f in args.reconstructions])
    if recon.is_empty():
        raise InputError(args.reconstructions[0], None, "no reconstructions: no model has a sequence readout")
    saliency = pl.concat([read_table(f, STEP_SALIENCY, STEP_SALIENCY.names) for f in args.step_saliency])
    _csv(results_table(evaluation), args.results)
    lengths = by_length(recon, settings.length_bins)
    _csv(lengths, args.by_length)
    plot_by_length(lengths, args.by_length_figure)
    _csv(alignment(saliency), args.alignment)
    plot_fig9(saliency, args.fig9)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
