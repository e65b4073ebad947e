"""The grammatical-function probe (Table 2) at paper scale on one core.

Kadar et al.'s probe saw about 260k word tokens; IMAGINET's states have 1024 units, and the
labels number about 40. This times, on synthetic data of that shape (Zipfian words in
sentences of 6-14, deprels that depend partly on the word and partly on a planted direction
in the state, Gaussian noise elsewhere), the pieces of ``lingscope.analysis.kadar2017.probe``:

- building the 4-gram design (categories from the training half);
- the whole ``state+4-gram`` fit: C chosen from the grid by 3-fold sentence-grouped CV on the
  training half (``LogisticRegressionCV``, warm-started along the path), the refit, the
  held-out F1; with ``--compare-grid`` also ``GridSearchCV`` (every fit from zero);
- optionally (``--all-sets``) the ``word``, ``4-gram`` and ``state`` fits.

A full Table 2 run is word + 4-gram + (state + state+4-gram) x (deprel + control) per network.

    python benchmarks/probe_scale.py [--tokens 260000] [--dim 1024] [--labels 40] [--compare-grid]
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from _common import figure, table, write_results

from lingscope.analysis.kadar2017 import probe
from lingscope.analysis.kadar2017.ridge import sentence_folds
from lingscope.analysis.settings import ProbeSettings


def synthetic(n_tokens: int, dim: int, n_labels: int, vocab: int, seed: int):
    """Sentences, lower-cased forms, deprels and float32 states with a planted signal."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(6, 15, n_tokens // 10 + 10)
    lengths = lengths[: np.searchsorted(np.cumsum(lengths), n_tokens) + 1]
    lengths[-1] -= lengths.sum() - n_tokens
    lengths = lengths[lengths > 0]
    sentence_id = np.repeat(np.arange(len(lengths)), lengths)
    position = np.concatenate([np.arange(1, n + 1) for n in lengths])
    zipf = 1.0 / np.arange(1, vocab + 1)
    word = rng.choice(vocab, n_tokens, p=zipf / zipf.sum())
    form = np.array([f"w{w}" for w in range(vocab)], dtype=object)[word]
    label_share = 1.0 / np.arange(1, n_labels + 1) ** 1.2
    # half the tokens take their word's usual label, the rest one drawn at random
    usual = rng.choice(n_labels, vocab, p=label_share / label_share.sum())
    drawn = rng.choice(n_labels, n_tokens, p=label_share / label_share.sum())
    label_code = np.where(rng.random(n_tokens) < 0.5, usual[word], drawn)
    labels = np.array([f"d{k}" for k in range(n_labels)], dtype=object)[label_code]
    directions = rng.normal(size=(n_labels, dim)).astype(np.float32) / np.sqrt(dim)
    states = rng.normal(size=(n_tokens, dim)).astype(np.float32)
    states += 4.0 * directions[label_code]
    return sentence_id, position, form, labels, states


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, default=260_000, help="word tokens (the paper: about 260k)")
    p.add_argument("--dim", type=int, default=1024, help="state units (IMAGINET: 1024)")
    p.add_argument("--labels", type=int, default=40, help="deprels")
    p.add_argument("--vocab", type=int, default=10_000, help="word types (Zipfian)")
    p.add_argument("--compare-grid", action="store_true", help="also time GridSearchCV for state+4-gram")
    p.add_argument("--all-sets", action="store_true", help="also time word, 4-gram and state")
    p.add_argument("--seed", type=int, default=2017)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    settings = ProbeSettings()

    t0 = time.perf_counter()
    sentence_id, position, form, labels, states = synthetic(args.tokens, args.dim, args.labels, args.vocab, args.seed)
    t_data = time.perf_counter() - t0
    train = probe.split_sentences(sentence_id, settings.test_share, settings.seed)
    labels, _ = probe.merge_rare(labels, train, settings.min_count)
    folds = np.full(len(train), -1)
    folds[train] = sentence_folds(sentence_id[train], settings.folds, settings.seed)

    t0 = time.perf_counter()
    ngrams = probe.fourgram_design(sentence_id, position, form, train)
    t_ngrams = time.perf_counter() - t0
    t0 = time.perf_counter()
    z = probe.standardise(states, train)
    del states
    both = sp.hstack([sp.csr_matrix(z), ngrams.matrix], format="csr", dtype=np.float32)
    t_design = time.perf_counter() - t0

    designs = {"state+4-gram": both}
    if args.all_sets:
        designs = {"word": probe.word_design(form, train).matrix, "4-gram": ngrams.matrix, "state": z, **designs}
    searches = ["path", "grid"] if args.compare_grid else ["path"]
    results, rows = [], []
    for name, X in designs.items():
        for search in searches if name == "state+4-gram" else ["path"]:
            fit = probe.fit_probe(X, labels, train, folds, settings.c_grid, settings.max_iter, search=search, tol=settings.tol)
            results.append({"feature_set": name, "search": search, "seconds": fit.seconds, "C": fit.C,
                            "cv_accuracy": fit.cv_accuracy, "f1_micro": fit.f1_micro, "converged": fit.converged,
                            "n_features": fit.n_features, "n_classes": len(fit.classes)})
            rows.append([name, search, f"{fit.n_features:,}", len(fit.classes), f"{fit.C:g}", f"{fit.f1_micro:.3f}",
                         "yes" if fit.converged else "max_iter", f"{fit.seconds / 60:.2f}"])
            print(rows[-1], flush=True)

    print(f"\nProbe fits on one core: {args.tokens:,} tokens ({int(train.sum()):,} training), {args.dim} state units, "
          f"{args.labels} labels, {ngrams.matrix.shape[1]:,} 4-gram features; C from {list(settings.c_grid)} by "
          f"{settings.folds}-fold CV, max_iter {settings.max_iter}\n")
    print(table(["feature set", "C search", "features", "labels", "C", "held-out F1", "converged", "minutes"], rows))
    print(f"\ndata {t_data:.1f} s, 4-gram design {t_ngrams:.1f} s, standardise + hstack {t_design:.1f} s")
    summary = [figure(f"{r['feature_set']} fit ({r['search']} search), minutes", round(r["seconds"] / 60, 2))
               for r in results]
    summary += [figure(f"{r['feature_set']} held-out F1 ({r['search']} search)", round(r["f1_micro"], 3))
                for r in results]
    summary.append(figure("4-gram design, seconds", round(t_ngrams, 2)))
    path = write_results("probe_scale", {"tokens": args.tokens, "dim": args.dim, "labels": args.labels,
                                         "vocab": args.vocab, "ngram_features": int(ngrams.matrix.shape[1]),
                                         "ngram_seconds": t_ngrams, "data_seconds": t_data, "design_seconds": t_design,
                                         "fits": results}, args.out,
                         title=f"The grammatical-function probe (Table 2) on {args.tokens:,} tokens x {args.dim} units, "
                         "one core", summary=summary)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
