"""Mutual information speed on one core (Kadar et al. 2017, Fig. 8).

Measured in the same run, on synthetic captions with planted structure: Zipf-distributed
words (5,000 types), 40 deprels tied to the words, sentences of 6-16 words, and states whose
units mix the deprel, the word and noise in random proportions (so MI ranges from near 0 to
large). Both sides get the same 20 equal-mass bins per unit and the same six contexts (word
and deprel n-grams, n = 1, 2, 3):

(a) **vectorised vs scikit-learn.** ``lingscope.analysis.kadar2017.mutual_information.mutual_information``
    for every unit and context at once, against ``sklearn.metrics.mutual_info_score`` called in
    a Python loop over units and contexts. The results must agree to 1e-9 (asserted). Also
    timed: the whole per-network step (binning + MI, ``unit_mi``). Target: >= 20x.
(b) **paper scale.** ``unit_mi`` alone on 260k tokens x 1,024 units (the size of the authors'
    MSCOCO validation split and GRU), its time and the peak memory it allocates on top of the
    states (tracemalloc).

    python benchmarks/mutual_information_speed.py [--tokens 100000] [--units 256] [--no-paper]
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from _common import best_of, figure, machine, table, write_results
from sklearn.metrics import mutual_info_score

from lingscope.analysis.kadar2017 import mutual_information as mi
from lingscope.analysis.settings import MutualInformationSettings

TARGET = 20.0


def planted(n_tokens: int, n_units: int, seed: int):
    """(sentence_id, position, words, deprels, states (tokens, units) float32) with planted structure."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(6, 17, n_tokens // 6 + 1)
    lengths = lengths[: np.searchsorted(np.cumsum(lengths), n_tokens) + 1]
    lengths[-1] -= lengths.sum() - n_tokens
    sentence_id = np.repeat(np.arange(len(lengths)), lengths)
    position = np.concatenate([np.arange(1, n + 1) for n in lengths if n > 0]).astype(np.int32)
    ranks = np.arange(1, 5001)
    word = rng.choice(5000, n_tokens, p=(1 / ranks) / (1 / ranks).sum())
    deprel = np.where(rng.random(n_tokens) < 0.7, word % 40, rng.integers(0, 40, n_tokens))
    mix = rng.dirichlet([1.0, 1.0, 2.0], n_units)  # per unit: shares of deprel, word, noise
    deprel_signal, word_signal = rng.normal(size=40)[deprel], rng.normal(size=5000)[word]
    states = (np.sqrt(mix[:, 0]) * deprel_signal[:, None] + np.sqrt(mix[:, 1]) * word_signal[:, None]
              + np.sqrt(mix[:, 2]) * rng.normal(size=(n_tokens, n_units)).astype(np.float32))
    words = np.array([f"w{w}" for w in range(5000)], dtype=object)[word]
    deprels = np.array([f"d{d}" for d in range(40)], dtype=object)[deprel]
    return sentence_id, position, words, deprels, states.astype(np.float32)


def sklearn_loop(bins: np.ndarray, contexts) -> np.ndarray:
    return np.array([[mutual_info_score(context.code, bins[unit]) for unit in range(len(bins))]
                     for context in contexts])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, default=100_000, help="word tokens in (a)")
    p.add_argument("--units", type=int, default=256, help="units in (a)")
    p.add_argument("--paper-tokens", type=int, default=260_000, help="word tokens in (b)")
    p.add_argument("--paper-units", type=int, default=1024, help="units in (b)")
    p.add_argument("--no-paper", action="store_true", help="leave out (b)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    settings = MutualInformationSettings()

    sentence_id, position, words, deprels, states = planted(args.tokens, args.units, seed=2017)
    t0 = time.perf_counter()
    contexts = mi.contexts(sentence_id, position, words, deprels, settings.max_n)
    t_contexts = time.perf_counter() - t0
    bins = mi.bin_codes(states, mi.cut_points(states, settings.bins))
    t_kernel, all_kernel = best_of(lambda: mi.mutual_information(bins, settings.bins, contexts), args.repeats)
    t_full, all_full = best_of(lambda: mi.unit_mi(states, contexts, settings), args.repeats)
    held = {}
    t_sklearn, all_sklearn = best_of(lambda: held.update(theirs=sklearn_loop(bins, contexts)), 1)  # once is enough
    ours, theirs = mi.mutual_information(bins, settings.bins, contexts), held["theirs"]
    assert np.abs(ours - theirs).max() < 1e-9, np.abs(ours - theirs).max()
    assert np.array_equal(ours, mi.unit_mi(states, contexts, settings))
    ratio = t_sklearn / t_kernel
    results = {"tokens": args.tokens, "units": args.units, "bins": settings.bins,
               "contexts": [f"{c.name}{c.n}" for c in contexts], "classes": [c.classes for c in contexts],
               "contexts_seconds": t_contexts, "kernel_seconds": all_kernel, "unit_mi_seconds": all_full,
               "sklearn_seconds": all_sklearn, "max_abs_difference": float(np.abs(ours - theirs).max()),
               "ratio": ratio, "ratio_with_binning": t_sklearn / t_full}
    rows = [[f"{args.tokens:,}", args.units, f"{t_kernel:.2f}", f"{t_full:.2f}", f"{t_sklearn:.1f}",
             f"{ratio:.1f}x", f"{t_sklearn / t_full:.1f}x", "yes" if ratio >= TARGET else "NO"]]
    print(f"(a) MI of {args.units} units x 6 contexts, {args.tokens:,} tokens, one core; contexts built in "
          f"{t_contexts:.2f} s (not timed below); max |ours - sklearn| {results['max_abs_difference']:.1e}\n",
          flush=True)
    print(table(["tokens", "units", "vectorised MI (s)", "bins + MI (s)", "sklearn loop (s)", "ratio",
                 "ratio incl. bins", f">= {TARGET:.0f}x"], rows), flush=True)

    paper = {}
    if not args.no_paper:
        sentence_id, position, words, deprels, states = planted(args.paper_tokens, args.paper_units, seed=2018)
        contexts = mi.contexts(sentence_id, position, words, deprels, settings.max_n)
        tracemalloc.start()
        t0 = time.perf_counter()
        mi.unit_mi(states, contexts, settings)
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        paper = {"tokens": args.paper_tokens, "units": args.paper_units, "seconds": seconds,
                 "peak_bytes_beyond_states": peak, "states_bytes": states.nbytes,
                 "classes": [c.classes for c in contexts]}
        print(f"\n(b) paper scale: bins + MI of {args.paper_units} units x 6 contexts, {args.paper_tokens:,} tokens: "
              f"{seconds:.1f} s, peak {peak / 2**20:,.0f} MiB allocated beyond the states "
              f"({states.nbytes / 2**20:,.0f} MiB)")
    summary = [figure(f"vectorised MI / scikit-learn loop, {args.tokens:,} tokens x {args.units} units",
                      round(ratio, 2), f">= {TARGET:.0f}x"),
               figure("vectorised MI with binning / scikit-learn loop", round(results["ratio_with_binning"], 2))]
    if paper:
        summary += [figure(f"paper scale ({args.paper_tokens:,} tokens x {args.paper_units} units), seconds",
                           round(paper["seconds"], 2)),
                    figure("paper scale, peak MiB allocated beyond the states",
                           round(paper["peak_bytes_beyond_states"] / 2**20, 1))]
    path = write_results("mutual_information_speed", {"machine": machine(), "repeats": args.repeats,
                                                      "vs_sklearn": results, "paper_scale": paper}, args.out,
                         title="Mutual information per unit: vectorised against scikit-learn's loop, and at paper "
                         "scale", summary=summary)
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
