"""Li et al.'s (2016) Figs. 1-8 for every sentiment network, each with the table behind it.

Reads, per network, the REPRESENTATIONS and STATES of :mod:`lingscope.methods.representations`
and the example SALIENCY of :mod:`lingscope.methods.saliency`:

- Fig. 1: heatmaps of the final representation (one cell per dimension) of the intensification
  and negation phrases, one column of panels per network;
- Fig. 2: t-SNE of the negation and intensification phrases with the random reference words;
- Fig. 3: the states over time of the two concessive sentences, and a row of their absolute
  differences;
- Fig. 4: t-SNE of clause composition (a sentence alone and with clauses added; arrows from the
  sentence alone to each extension), among the phrases of Fig. 2 for reference;
- Figs. 5-7: first-derivative saliency, word x embedding dimension, one figure per example
  sentence, one panel per network;
- Fig. 8: variance salience of the same sentences.

t-SNE is scikit-learn's, seeded, its perplexity capped below the number of points; every
parameter it ran with is recorded in the table (``settings``). Each network's map is its own
t-SNE run, as in the paper.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import polars as pl
import sklearn
from sklearn.manifold import TSNE

from lingscope.analysis.networks import network_name, read_table
from lingscope.analysis.plotting import new_figure, save_figure
from lingscope.analysis.settings import TsneSettings
from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet
from lingscope.core.schemas import LI_HEATMAP, LI_TSNE, REPRESENTATIONS, SALIENCY, STATES

FIG1_GROUPS = ("intensification", "negation")
FIG2_GROUPS = ("intensification", "negation", "random")
FIG4_GROUPS = ("clause_positive", "clause_negative")
LABEL_COLOURS = {0: "#b2182b", 1: "#ef8a62", 2: "#999999", 3: "#67a9cf", 4: "#2166ac"}
SALIENCY_FIGURES = ("fig5", "fig6", "fig7")


def _networks(frame: pl.DataFrame) -> list[tuple[str, str]]:
    return frame.select("model", "pathway").unique(maintain_order=True).rows()


def _matrix(values) -> np.ndarray:
    return np.stack([np.asarray(v, dtype=np.float64) for v in values])


def fig1_table(reps: pl.DataFrame) -> pl.DataFrame:
    rows = []
    for model, pathway in _networks(reps):
        part = reps.filter((pl.col("model") == model) & (pl.col("pathway") == pathway)
                           & pl.col("group").is_in(FIG1_GROUPS))
        for r in part.iter_rows(named=True):
            for dim, value in enumerate(r["representation"]):
                rows.append(("fig1", model, pathway, network_name(model, pathway), r["group"], r["text"], 0, None,
                             dim, float(value)))
    return pl.DataFrame(rows, schema=pl.from_arrow(LI_HEATMAP.empty_table()).schema, orient="row")


def fig3_table(states: pl.DataFrame) -> pl.DataFrame:
    rows = []
    for model, pathway in _networks(states):
        part = states.filter((pl.col("model") == model) & (pl.col("pathway") == pathway)).sort("example", "position")
        a, b = part.filter(pl.col("example") == 0), part.filter(pl.col("example") == 1)
        name = network_name(model, pathway)
        for label, sentence in (("a", a), ("b", b)):
            for r in sentence.iter_rows(named=True):
                for dim, value in enumerate(r["state"]):
                    rows.append(("fig3", model, pathway, name, label, r["text"], r["position"], r["token"], dim,
                                 float(value)))
        steps = min(a.height, b.height)  # the difference is defined where both sentences have a step
        diff = np.abs(_matrix(a["state"][:steps]) - _matrix(b["state"][:steps])) if steps else np.zeros((0, 0))
        for t in range(steps):
            token = f"{a['token'][t]}|{b['token'][t]}" if a["token"][t] != b["token"][t] else a["token"][t]
            for dim, value in enumerate(diff[t]):
                rows.append(("fig3", model, pathway, name, "|a-b|", f"{a['text'][0]} / {b['text'][0]}", t + 1, token,
                             dim, float(value)))
    return pl.DataFrame(rows, schema=pl.from_arrow(LI_HEATMAP.empty_table()).schema, orient="row")


def tsne_table(reps: pl.DataFrame, figure: str, groups: tuple[str, ...], settings: TsneSettings) -> pl.DataFrame:
    """One seeded t-SNE per network of the representations of ``groups``."""
    frames = []
    for model, pathway in _networks(reps):
        part = reps.filter((pl.col("model") == model) & (pl.col("pathway") == pathway) & pl.col("group").is_in(groups))
        part = part.unique(subset=["text"], keep="first", maintain_order=True)  # a phrase in two groups is one point
        if part.height < 3:
            raise InputError(None, f"{model}/{pathway} {figure}", f"t-SNE needs at least 3 phrases, got {part.height}")
        perplexity = min(settings.perplexity, part.height - 1.0)
        tsne = TSNE(n_components=2, perplexity=perplexity, random_state=settings.seed)
        xy = tsne.fit_transform(_matrix(part["representation"]))
        recorded = json.dumps({"sklearn": sklearn.__version__,
                               **{k: v for k, v in tsne.get_params().items() if isinstance(v, (int, float, str, type(None)))}},
                              sort_keys=True)
        frames.append(part.select("model", "pathway", "group", "text", "predicted").with_columns(
            figure=pl.lit(figure), network=pl.lit(network_name(model, pathway)), x=pl.Series(xy[:, 0]),
            y=pl.Series(xy[:, 1]), perplexity=pl.lit(perplexity), seed=pl.lit(settings.seed, pl.Int64),
            settings=pl.lit(recorded)))
    return pl.concat(frames).select(LI_TSNE.names)


def _heatmap(ax, matrix: np.ndarray, rows: list[str], title: str, columns: list[str] | None = None):
    limit = float(np.abs(matrix).max()) or 1.0
    image = ax.imshow(matrix, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    if columns is not None:
        ax.set_xticks(range(len(columns)), columns, rotation=60, fontsize=7)
    ax.set_title(title, fontsize=8)
    return image


def fig1(table: pl.DataFrame):
    networks = table.select("network").unique(maintain_order=True)["network"].to_list()
    fig = new_figure(4.0 * len(networks), 5.0)
    axes = fig.subplots(len(FIG1_GROUPS), len(networks), squeeze=False)
    for j, name in enumerate(networks):
        for i, group in enumerate(FIG1_GROUPS):
            part = table.filter((pl.col("network") == name) & (pl.col("row") == group))
            texts = part["text"].unique(maintain_order=True).to_list()
            matrix = np.array([part.filter(pl.col("text") == t).sort("dim")["value"].to_list() for t in texts])
            image = _heatmap(axes[i, j], matrix, texts, f"{name}: {group}")
            axes[i, j].set_xlabel("dimension")
            fig.colorbar(image, ax=axes[i, j], shrink=0.8)
    fig.suptitle("Fig. 1: final representations of intensified and negated phrases")
    return fig


def tsne_figure(table: pl.DataFrame, title: str, arrows: tuple[str, ...] = ()):
    networks = table.select("network").unique(maintain_order=True)["network"].to_list()
    fig = new_figure(4.2 * len(networks), 4.2)
    axes = fig.subplots(1, len(networks), squeeze=False)[0]
    for ax, name in zip(axes, networks):
        part = table.filter(pl.col("network") == name)
        for r in part.iter_rows(named=True):
            colour = LABEL_COLOURS.get(r["predicted"], "black")
            marker = "x" if r["group"] == "random" else "o"
            ax.scatter(r["x"], r["y"], c=colour, marker=marker, s=18)
            ax.annotate(r["text"], (r["x"], r["y"]), fontsize=6, xytext=(2, 2), textcoords="offset points",
                        color="#777777" if r["group"] == "random" else "black")
        for group in arrows:  # from the sentence alone (first of its group) to each extension
            rows = part.filter(pl.col("group") == group)
            if rows.height > 1:
                for r in rows[1:].iter_rows(named=True):
                    ax.annotate("", (r["x"], r["y"]), (rows["x"][0], rows["y"][0]),
                                arrowprops={"arrowstyle": "->", "color": "#555555", "lw": 0.7})
        ax.set_title(f"{name} (perplexity {part['perplexity'][0]:g})", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{title}; colour: predicted label (red negative, blue positive), x: random words")
    return fig


def fig3(table: pl.DataFrame):
    networks = table.select("network").unique(maintain_order=True)["network"].to_list()
    fig = new_figure(4.2 * len(networks), 7.5)
    axes = fig.subplots(3, len(networks), squeeze=False)
    for j, name in enumerate(networks):
        part = table.filter(pl.col("network") == name)
        for i, row in enumerate(("a", "b", "|a-b|")):
            rows = part.filter(pl.col("row") == row)
            steps = rows.select("position", "token").unique().sort("position")
            matrix = np.array([rows.filter(pl.col("position") == p).sort("dim")["value"].to_list()
                               for p in steps["position"]]).T
            title = f"{name}: {rows['text'][0]}" if row != "|a-b|" else f"{name}: |a - b|"
            image = _heatmap(axes[i, j], matrix, [], title, steps["token"].to_list())
            axes[i, j].set_ylabel("dimension")
            fig.colorbar(image, ax=axes[i, j], shrink=0.8)
    fig.suptitle("Fig. 3: states over time of two concessive sentences and their absolute difference")
    return fig


def salience_figure(saliency: pl.DataFrame, example: int, column: str, title: str):
    networks = _networks(saliency)
    fig = new_figure(4.0 * len(networks), 3.2)
    axes = fig.subplots(1, len(networks), squeeze=False)[0]
    for ax, (model, pathway) in zip(axes, networks):
        part = saliency.filter((pl.col("model") == model) & (pl.col("pathway") == pathway)
                               & (pl.col("sentence_id") == example)).sort("position")
        matrix = _matrix(part[column])
        image = ax.imshow(matrix, aspect="auto", cmap="Reds", vmin=0, interpolation="nearest")
        ax.set_yticks(range(part.height), part["token"].to_list(), fontsize=7)
        ax.set_xlabel("embedding dimension")
        ax.set_title(f"{network_name(model, pathway)} (predicted {part['predicted'][0]})", fontsize=8)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(title)
    return fig


def read_many(paths: list[Path], schema) -> pl.DataFrame:
    return pl.concat([read_table(p, schema, schema.names) for p in paths])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--representations", type=Path, nargs="+", required=True, help="REPRESENTATIONS tables")
    ap.add_argument("--states", type=Path, nargs="+", required=True, help="STATES tables")
    ap.add_argument("--saliency", type=Path, nargs="+", required=True, help="example SALIENCY tables")
    ap.add_argument("--out-dir", type=Path, required=True, help="folder for the figures (PNG + SVG) and tables")
    TsneSettings.add_arguments(ap, "t-SNE (config: li_figures.tsne)")
    args = ap.parse_args(argv)
    settings = TsneSettings.from_args(args)
    reps = read_many(args.representations, REPRESENTATIONS)
    states = read_many(args.states, STATES)
    saliency = read_many(args.saliency, SALIENCY)
    out = args.out_dir

    heat = pl.concat([fig1_table(reps), fig3_table(states)])
    write_parquet(heat.to_arrow(), out / "li_heatmaps.parquet", LI_HEATMAP, "li_heatmaps")
    save_figure(fig1(heat.filter(pl.col("figure") == "fig1")), out / "li_fig1_representations.png")
    save_figure(fig3(heat.filter(pl.col("figure") == "fig3")), out / "li_fig3_states.png")

    tsne = pl.concat([tsne_table(reps, "fig2", FIG2_GROUPS, settings),
                      tsne_table(reps, "fig4", FIG2_GROUPS + FIG4_GROUPS, settings)])
    write_parquet(tsne.to_arrow(), out / "li_tsne.parquet", LI_TSNE, "li_tsne")
    save_figure(tsne_figure(tsne.filter(pl.col("figure") == "fig2"), "Fig. 2: t-SNE of negation and intensification"),
                out / "li_fig2_tsne.png")
    save_figure(tsne_figure(tsne.filter((pl.col("figure") == "fig4") & pl.col("group").is_in(FIG4_GROUPS + ("random",))),
                            "Fig. 4: t-SNE of clause composition (arrows: clauses added)", FIG4_GROUPS),
                out / "li_fig4_clauses.png")

    write_parquet(saliency.sort("model", "pathway", "sentence_id", "position").to_arrow(),
                  out / "li_saliency_examples.parquet", SALIENCY, "li_saliency_examples")
    examples = saliency["sentence_id"].unique().sort().to_list()
    texts = {k: " ".join(saliency.filter(pl.col("sentence_id") == k).unique("position").sort("position")["token"])
             for k in examples}
    for k, figure in zip(examples, SALIENCY_FIGURES):
        save_figure(salience_figure(saliency, k, "saliency", f"Fig. {5 + k}: saliency |dS_c/de| of \"{texts[k]}\""),
                    out / f"li_{figure}_saliency.png")
    fig = new_figure(4.0 * len(_networks(saliency)), 3.0 * len(examples))
    subfigs = fig.subfigures(len(examples), 1, squeeze=False)[:, 0]
    for sub, k in zip(subfigs, examples):
        axes = sub.subplots(1, len(_networks(saliency)), squeeze=False)[0]
        for ax, (model, pathway) in zip(axes, _networks(saliency)):
            part = saliency.filter((pl.col("model") == model) & (pl.col("pathway") == pathway)
                                   & (pl.col("sentence_id") == k)).sort("position")
            image = ax.imshow(_matrix(part["variance"]), aspect="auto", cmap="Reds", vmin=0, interpolation="nearest")
            ax.set_yticks(range(part.height), part["token"].to_list(), fontsize=7)
            ax.set_title(network_name(model, pathway), fontsize=8)
            sub.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle("Fig. 8: variance salience (e_ij - mean_i' e_i'j)^2")
    save_figure(fig, out / "li_fig8_variance.png")
    print(f"{len(_networks(reps))} networks: Figs. 1-8 in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
