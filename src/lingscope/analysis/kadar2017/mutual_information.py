"""Mutual information between single units and linguistic contexts (Kadar et al. 2017, sec. 5.6, Fig. 8).

For every unit of a network's per-token state (the ``<eos>`` step left out):

1. **Bins.** The unit's activations over the split's word tokens fall into ``bins`` (20)
   equal-mass bins. With the unit's N values sorted, ``x_(0) <= ... <= x_(N-1)``, cut point k
   (k = 1 .. bins-1) is the order statistic ``x_(j)``, ``j = ceil(k N / bins)``; a value's
   bin is the number of cut points at or below it (``np.digitize``). With distinct values
   bin k holds ``ceil((k+1) N / bins) - ceil(k N / bins)`` tokens, so bin sizes differ by at
   most one. **Ties** never straddle a cut: equal values share one bin, the upper one when
   they sit on a cut point, so tied values move mass up (and a repeated cut point leaves a
   bin empty). With ``pooled`` the cut points are taken the same way from all units' values
   pooled, as the authors' released code did (the paper says per unit; docs/kadar2017.md#mutual-information).
2. **Contexts.** The word n-gram and the deprel n-gram ending at the token, n = 1 ..
   ``max_n``, left-padded at the sentence start (:func:`lingscope.analysis.kadar2017.units.ngram_codes`);
   the word is the parse's lower-cased form.
3. **MI.** The plug-in (contingency-table) estimate in nats, no bias correction: exactly
   ``sklearn.metrics.mutual_info_score(context, bin)``, negatives clipped to 0. It is computed
   as ``MI = (S_cb - S_c - S_b) / N + ln N`` with ``S_x = sum_x n_x ln n_x`` over the cells of
   the context x bin table, its row sums and its column sums. ``S_c`` is shared by all units;
   ``S_cb`` comes from one ``np.bincount`` over a chunk of units at once (keys ``unit offset +
   context * bins + bin``) and a table of ``k ln k``. Tokens whose context occurs once are left
   out of ``S_cb`` exactly (their cell holds 1, and 1 ln 1 = 0), which shrinks the trigram
   tables. This is hand-written rather than a loop of scikit-learn calls for speed:
   ``benchmarks/mutual_information_speed.py`` measures it (about 30x faster at 100k tokens x 256 units) and
   checks it against scikit-learn to 1e-9.
4. **Summary.** The median MI over units per network, context and n; ``ln(median_T /
   median_V)`` and ``ln(median_LM / median_T)``, with a percentile bootstrap interval over
   units (each network's units resampled independently, ``scipy.stats.bootstrap``, seeded).

One network's states are in memory at a time: those of the ``layer`` setting's layer of its
activation store (-1, the top, by default; MI_UNITS' ``layer`` column says which, 0 the bottom).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

from lingscope.analysis.plotting import new_figure, save_figure
from lingscope.analysis.settings import MutualInformationSettings
from lingscope.analysis.kadar2017.units import (
    check_sorted,
    codes,
    load_states,
    network_of,
    ngram_codes,
    resolve_layer,
    tokens_per_folder,
)
from lingscope.core.catalog import colour, network_display
from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet, write_text
from lingscope.core.schemas import MI_RATIO, MI_SUMMARY, MI_UNITS

CONTEXTS = ("word", "deprel")
# (numerator, denominator) of the log ratios, in the paper's order.
COMPARISONS: tuple[tuple[str, str], ...] = (("Textual", "Visual"), ("LM", "Textual"))
# Median MI in the authors' data, CL version (docs/kadar2017.md#mutual-information): network -> context -> n = 1, 2, 3.
PUBLISHED_MEDIANS: dict[str, dict[str, tuple[float, ...]]] = {
    "Visual": {"word": (0.35, 1.03, 1.61), "deprel": (0.08, 0.21, 0.32)},
    "Textual": {"word": (0.36, 0.92, 1.33), "deprel": (0.13, 0.28, 0.39)},
    "LM": {"word": (0.34, 0.84, 1.18), "deprel": (0.10, 0.22, 0.30)},
}
# ln(T/V) in the arXiv version (per-unit bins): context -> n = 1, 2, 3.
PUBLISHED_LOG_RATIOS: dict[tuple[str, str], dict[str, tuple[float, ...]]] = {
    ("Textual", "Visual"): {"word": (0.098, 0.047, 0.019), "deprel": (0.253, 0.196, 0.180)},
}
CHUNK_CELLS = 1 << 22  # int64 cells per bincount (32 MiB): bounds the memory of a chunk of units
SMALL_TABLE = 1 << 16  # a context x bin table this small (512 KiB a unit) is counted without reordering the tokens
UNIT_BLOCK = 16  # units binned at a time


# --- bins -------------------------------------------------------------------------------------

def cut_indices(count: int, bins: int) -> np.ndarray:
    """Sorted positions ``ceil(k count / bins)``, k = 1 .. bins-1, of the cut points (clipped to the last)."""
    k = np.arange(1, bins, dtype=np.int64)
    return np.minimum((k * count + bins - 1) // bins, count - 1)


def _by_unit(values: np.ndarray):
    """``(start, stop, block)``: ``values`` ``(tokens, units)`` a few units at a time, each block
    unit-major and contiguous (``(stop - start, tokens)``), so sorts and compares run on rows."""
    values = np.asarray(values)
    for start in range(0, values.shape[1], UNIT_BLOCK):
        yield start, min(start + UNIT_BLOCK, values.shape[1]), np.ascontiguousarray(values[:, start:start + UNIT_BLOCK].T)


def cut_points(values: np.ndarray, bins: int, pooled: bool = False) -> np.ndarray:
    """``(units, bins - 1)`` cut points of ``values`` ``(tokens, units)``: per unit, or one set from
    all values pooled (repeated for every unit)."""
    values = np.asarray(values)
    n, units = values.shape
    if n == 0:
        raise ValueError("no tokens to bin")
    if pooled:
        flat = values.ravel().copy()
        index = cut_indices(flat.size, bins)
        flat.partition(index)
        return np.broadcast_to(flat[index], (units, bins - 1)).copy()
    index = cut_indices(n, bins)
    cuts = np.empty((units, bins - 1), dtype=values.dtype)
    for start, stop, block in _by_unit(values):
        # a full sort of a few rows beats np.partition with 19 pivots (measured: 0.8 s vs 1.2 s at 100k x 256)
        block.sort(axis=1)
        cuts[start:stop] = block[:, index]
    return cuts


def bin_codes(values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """``(units, tokens)`` uint8 (uint16 past 256 bins) bins of ``values`` ``(tokens, units)``: the number of the unit's
    cut points at or below the value (a value equal to a cut point goes up, as np.digitize)."""
    values = np.asarray(values)
    out = np.zeros((values.shape[1], values.shape[0]), dtype=np.uint8 if cuts.shape[1] < 256 else np.uint16)
    for start, stop, block in _by_unit(values):
        rows = out[start:stop]
        for k in range(cuts.shape[1]):
            rows += block >= cuts[start:stop, k : k + 1]
    return out


# --- contexts ---------------------------------------------------------------------------------

@dataclass
class Context:
    """One context's integer code per token, with what the MI kernel needs precomputed."""

    name: str  # word or deprel
    n: int
    code: np.ndarray  # (tokens,) int64, 0 .. distinct-1

    def __post_init__(self):
        self.code = np.asarray(self.code, dtype=np.int64)
        _, compact, counts = np.unique(self.code, return_inverse=True, return_counts=True)
        self.compact = compact.astype(np.int64)
        self.classes = len(counts)
        self.s_c = float(np.sum(counts * np.log(counts))) if len(counts) else 0.0
        self.singletons = int(np.sum(counts == 1))
        # For S_cb: the tokens whose context occurs more than once (one that occurs once adds
        # 1 ln 1 = 0 whatever its bin), ordered by context so that the bincount and the gathers
        # walk memory in order; their contexts renumbered 0 .. kept_classes-1.
        order = np.argsort(self.compact, kind="stable")
        self.kept = order[counts[self.compact[order]] > 1]
        self.kept_classes = self.classes - self.singletons
        self.kept_code = np.repeat(np.arange(self.kept_classes, dtype=np.int64), counts[counts > 1])


def contexts(sentence_id: np.ndarray, position: np.ndarray, words: np.ndarray, deprels: np.ndarray,
             max_n: int) -> list[Context]:
    """Word and deprel n-grams (n = 1 .. max_n) ending at each token; tokens sorted by sentence and position."""
    out = []
    for name, values in (("word", words), ("deprel", deprels)):
        _, unit_codes = codes(np.asarray(values))
        for n in range(1, max_n + 1):
            out.append(Context(name, n, ngram_codes(sentence_id, position, unit_codes, n)))
    return out


# --- the MI kernel ----------------------------------------------------------------------------

def mutual_information(bins: np.ndarray, n_bins: int, context_list: list[Context]) -> np.ndarray:
    """``(contexts, units)`` plug-in MI in nats between each unit's bin (``bins``: ``(units, tokens)``
    integers below ``n_bins``) and each context; equals ``mutual_info_score(context.code, bins[u])``."""
    n_units, n = bins.shape
    mi = np.zeros((len(context_list), n_units))
    if n == 0 or n_units == 0:
        return mi
    log_k = np.log(np.maximum(np.arange(n + 1, dtype=np.float64), 1.0))  # ln k, with ln 0 := 0 (unused)
    xlogx = np.arange(n + 1, dtype=np.float64) * log_k  # k ln k
    # S_b and how many bins each unit fills (one filled bin: MI is 0, as scikit-learn returns)
    s_b, filled = np.empty(n_units), np.empty(n_units, dtype=np.int64)
    step = max(1, CHUNK_CELLS // max(n, n_bins))
    for start in range(0, n_units, step):
        block = bins[start : start + step]
        offsets = (np.arange(len(block), dtype=np.int64) * n_bins)[:, None]
        counts = np.bincount((block + offsets).ravel(), minlength=len(block) * n_bins).reshape(len(block), n_bins)
        s_b[start : start + step] = xlogx[counts].sum(axis=1)
        filled[start : start + step] = np.count_nonzero(counts, axis=1)
    for i, context in enumerate(context_list):
        if context.classes < 2:
            continue  # a context with one value carries no information (scikit-learn returns 0)
        if context.singletons == 0 and context.classes * n_bins <= SMALL_TABLE:
            kept, codes_, cells = None, context.compact, context.classes * n_bins  # the table fits the cache
        else:
            kept, codes_, cells = context.kept, context.kept_code, context.kept_classes * n_bins
        base = codes_ * n_bins
        kept_tokens = len(base)
        per_token = cells > kept_tokens  # sum ln(count) over tokens, or k ln k over cells: the shorter
        step = max(1, CHUNK_CELLS // max(cells, kept_tokens, 1))
        s_cb = np.zeros(n_units)  # stays 0 when every context occurs once
        for start in range(0, n_units if kept_tokens else 0, step):
            block = bins[start : start + step]
            if kept is not None:
                block = block[:, kept]
            keys = (np.arange(len(block), dtype=np.int64) * cells)[:, None] + base
            keys += block
            counts = np.bincount(keys.ravel(), minlength=len(block) * cells)
            if per_token:
                s_cb[start : start + step] = log_k[counts[keys]].sum(axis=1)
            else:
                s_cb[start : start + step] = xlogx[counts].reshape(len(block), cells).sum(axis=1)
        mi[i] = (s_cb - context.s_c - s_b) / n + np.log(n)
    mi[:, filled < 2] = 0.0
    return np.clip(mi, 0.0, None)


def unit_mi(states: np.ndarray, context_list: list[Context], settings: MutualInformationSettings) -> np.ndarray:
    """``(contexts, units)`` MI of every unit of ``states`` ``(tokens, units)``, binned per the settings."""
    cuts = cut_points(states, settings.bins, settings.pooled)
    return mutual_information(bin_codes(states, cuts), settings.bins, context_list)


# --- one network ------------------------------------------------------------------------------

def network_mi(folder: Path, tokens: Path, settings: MutualInformationSettings) -> tuple[str, pl.DataFrame]:
    """(display name, MI_UNITS rows) of one network's activation folder, at the settings' layer."""
    model, pathway = network_of(folder)
    name = network_display(model, pathway)
    layer = resolve_layer(folder, settings.layer)
    states = load_states(folder, tokens, layer)
    check_sorted(states.sentence_id, states.position, str(folder))
    context_list = contexts(states.sentence_id, states.position, states.form, states.deprel, settings.max_n)
    mi = unit_mi(states.states, context_list, settings)
    n_units = mi.shape[1]
    frame = pl.DataFrame({
        "network": [name] * mi.size,
        "layer": np.full(mi.size, layer, dtype=np.int16),
        "context": np.repeat([c.name for c in context_list], n_units),
        "n": np.repeat([c.n for c in context_list], n_units).astype(np.int16),
        "unit": np.tile(np.arange(n_units, dtype=np.int32), len(context_list)),
        "mi": mi.ravel(),
    })
    print(f"{name}: {len(states)} word tokens, {n_units} units (layer {layer} of {folder})", flush=True)
    return name, frame


def summary(units: pl.DataFrame) -> pl.DataFrame:
    """MI_SUMMARY: the median over units per network, context and n, with the CL version's value."""
    order = {c: i for i, c in enumerate(CONTEXTS)}
    rows = []
    for (network, context, n), part in units.group_by(["network", "context", "n"], maintain_order=True):
        published = PUBLISHED_MEDIANS.get(network, {}).get(context, ())
        rows.append({"network": network, "context": context, "n": n, "units": len(part),
                     "median": float(np.median(part["mi"].to_numpy())),
                     "published": published[n - 1] if n <= len(published) else None})
    frame = pl.DataFrame(rows, schema={"network": pl.String, "context": pl.String, "n": pl.Int16,
                                       "units": pl.Int64, "median": pl.Float64, "published": pl.Float64})
    networks = list(dict.fromkeys(units["network"]))
    return frame.sort(pl.col("network").replace_strict({k: i for i, k in enumerate(networks)}, return_dtype=pl.Int32),
                      pl.col("context").replace_strict(order, return_dtype=pl.Int32), "n")


def _log_ratio_of_medians(numerator: np.ndarray, denominator: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.median(numerator, axis=axis) / np.median(denominator, axis=axis))


def log_ratio_interval(numerator: np.ndarray, denominator: np.ndarray, replicates: int, confidence: float,
                       seed) -> tuple[float, float, float]:
    """(ln(median numerator / median denominator), low, high): a percentile bootstrap interval,
    each sample of units resampled with replacement on its own. A median of 0 (most units
    constant) leaves the ratio undefined: then the interval is NaN too."""
    point = float(_log_ratio_of_medians(numerator, denominator))
    if not np.isfinite(point):
        return point, float("nan"), float("nan")
    result = stats.bootstrap((numerator, denominator), _log_ratio_of_medians, n_resamples=replicates,
                             vectorized=True, paired=False, confidence_level=confidence, method="percentile",
                             rng=np.random.default_rng(seed))
    return point, float(result.confidence_interval.low), float(result.confidence_interval.high)


def _unit_values(units: pl.DataFrame, network: str, context: str, n: int) -> np.ndarray:
    part = units.filter((pl.col("network") == network) & (pl.col("context") == context) & (pl.col("n") == n))
    return part.sort("unit")["mi"].to_numpy()


def ratios(units: pl.DataFrame, settings: MutualInformationSettings) -> pl.DataFrame:
    """MI_RATIO: every comparison of :data:`COMPARISONS` whose two networks are present."""
    present = set(units["network"])
    rows = []
    for c, (top, bottom) in enumerate(COMPARISONS):
        if top not in present or bottom not in present:
            continue
        for x, context in enumerate(CONTEXTS):
            for n in range(1, settings.max_n + 1):
                # the seed of a row depends only on the settings' seed and the row, not on what else is run
                point, low, high = log_ratio_interval(_unit_values(units, top, context, n),
                                                      _unit_values(units, bottom, context, n), settings.bootstrap,
                                                      settings.confidence, [settings.seed, c, x, n])
                published = PUBLISHED_LOG_RATIOS.get((top, bottom), {}).get(context, ())
                rows.append({"numerator": top, "denominator": bottom, "context": context, "n": n,
                             "log_ratio": point, "ci_low": low, "ci_high": high, "confidence": settings.confidence,
                             "replicates": settings.bootstrap,
                             "published": published[n - 1] if n <= len(published) else None})
    return pl.DataFrame(rows, schema={"numerator": pl.String, "denominator": pl.String, "context": pl.String,
                                      "n": pl.Int16, "log_ratio": pl.Float64, "ci_low": pl.Float64,
                                      "ci_high": pl.Float64, "confidence": pl.Float64, "replicates": pl.Int64,
                                      "published": pl.Float64})


# --- Fig. 8 -----------------------------------------------------------------------------------

def figure8(ratio: pl.DataFrame, max_n: int):
    """Fig. 8: the log ratios of median MI per context and n, one marker series per comparison,
    with their bootstrap intervals; the arXiv version's ln(T/V) as open markers."""
    groups = [(context, n) for context in CONTEXTS for n in range(1, max_n + 1)]
    fig = new_figure(max(4.5, 0.7 * len(groups) + 1.5), 3.4)
    ax = fig.add_subplot()
    x = np.arange(len(groups), dtype=float)
    pairs = list(dict.fromkeys(zip(ratio["numerator"], ratio["denominator"])))
    width = 0.5
    for p, (top, bottom) in enumerate(pairs):
        offset = (p - (len(pairs) - 1) / 2) * width / max(len(pairs), 1)
        part = ratio.filter((pl.col("numerator") == top) & (pl.col("denominator") == bottom))
        row = {(r["context"], r["n"]): r for r in part.iter_rows(named=True)}
        at = [g for g in groups if g in row]
        xs = np.array([x[groups.index(g)] for g in at]) + offset
        point = np.array([row[g]["log_ratio"] for g in at])
        low = np.array([row[g]["ci_low"] for g in at])
        high = np.array([row[g]["ci_high"] for g in at])
        ax.errorbar(xs, point, yerr=np.vstack([point - low, high - point]), fmt="o", capsize=3,
                    color=colour(top), label=f"ln({top} / {bottom})")
        published = [(xv, row[g]["published"]) for xv, g in zip(xs, at) if row[g]["published"] is not None]
        if published:
            ax.plot(*zip(*published), linestyle="none", marker="D", markerfacecolor="none", color=colour(top),
                    label=f"ln({top} / {bottom}), arXiv version")
    ax.axhline(0.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(x, [f"{context}\nn={n}" for context, n in groups])
    ax.set_ylabel("ln ratio of median MI")
    level = f"{100 * ratio['confidence'][0]:g}%" if len(ratio) else ""
    ax.set_title(f"Log ratio of median unit-context MI\n(bars: {level} bootstrap percentile intervals over units)",
                 fontsize=9)
    if pairs:
        ax.legend(frameon=False, fontsize=7)
    return fig


# --- command line -----------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--activations", type=Path, nargs="+", required=True,
                    help="activation folders .../activations/tokens/model=M/pathway=P, one per network, same split")
    ap.add_argument("--tokens", type=Path, nargs="+", required=True,
                    help="parse of that split (TOKENS): words and deprels; one for every network, or one per "
                         "--activations folder (networks of different corpora), in the same order")
    ap.add_argument("--units", type=Path, required=True, help="MI_UNITS table (Parquet): MI per unit and context")
    ap.add_argument("--summary", type=Path, required=True, help="MI_SUMMARY table (Parquet): medians over units")
    ap.add_argument("--ratios", type=Path, required=True, help="MI_RATIO table (Parquet): log ratios of medians")
    ap.add_argument("--ratios-csv", type=Path, required=True, help="the MI_RATIO table as CSV, for the report")
    ap.add_argument("--fig8", type=Path, required=True, help="Fig. 8 (PNG; SVG beside it)")
    MutualInformationSettings.add_arguments(ap, "settings (config: units.mutual_information)")
    args = ap.parse_args(argv)
    settings = MutualInformationSettings.from_args(args)

    frames: dict[str, pl.DataFrame] = {}
    folders: dict[str, Path] = {}
    parses = tokens_per_folder(args.activations, args.tokens)
    for folder, tokens in zip(args.activations, parses):
        name = network_display(*network_of(folder))
        if name in folders:
            raise InputError(folder, None, f"is the network {name} again (also {folders[name]})")
        folders[name] = folder
        frames[name] = network_mi(folder, tokens, settings)[1]  # one network's states in memory at a time
    units = pl.concat(list(frames.values()))
    medians = summary(units)
    ratio = ratios(units, settings)

    write_parquet(units.to_arrow(), args.units, MI_UNITS, "mi_units")
    write_parquet(medians.to_arrow(), args.summary, MI_SUMMARY, "mi_summary")
    write_parquet(ratio.to_arrow(), args.ratios, MI_RATIO, "mi_ratio")
    write_text(args.ratios_csv, ratio.write_csv(float_precision=6))
    save_figure(figure8(ratio, settings.max_n), args.fig8)

    binning = "pooled cut points" if settings.pooled else "per-unit cut points"
    print(f"median MI over units (nats; {settings.bins} equal-mass bins, {binning}; CL version in brackets):")
    for row in medians.iter_rows(named=True):
        published = f" [{row['published']:.2f}]" if row["published"] is not None else ""
        print(f"  {row['network']:12s} {row['context']:6s} n={row['n']}  {row['median']:.4f}{published}")
    if ratio.is_empty():
        print("no log ratio: needs Textual with Visual, or LM with Textual")
    for row in ratio.iter_rows(named=True):
        published = f" [arXiv {row['published']:.3f}]" if row["published"] is not None else ""
        print(f"  ln({row['numerator']}/{row['denominator']}) {row['context']:6s} n={row['n']}  "
              f"{row['log_ratio']:+.4f}  {100 * row['confidence']:g}% CI [{row['ci_low']:+.4f}, "
              f"{row['ci_high']:+.4f}]{published}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
