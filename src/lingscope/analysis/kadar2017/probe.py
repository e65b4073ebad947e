"""The grammatical-function probe of Kadar et al. (2017, sec. 5.5, Table 2), with a control task.

Each word token's dependency label (its deprel) is predicted by multinomial logistic regression
(scikit-learn, lbfgs, L2) from one of four feature sets:

- ``word``: a one-hot of the lower-cased word;
- ``4-gram``: every contiguous sub-n-gram of ``w_{t-3} .. w_t`` tagged with its offsets from t
  (``the_2``, ``nice_1``, ``dog_0``, ``the_2 nice_1``, ``nice_1 dog_0``, ``the_2 nice_1 dog_0``,
  ...), up to 10 binary features per token, fewer near the sentence start;
- ``state``: a network's state h_t, standardised on the training part;
- ``state+4-gram``: both, side by side (the n-grams stay sparse).

The sentences are split in a training and a held-out part (``test_share``, seeded); the inverse
penalty C is chosen from a grid by K-fold cross-validation on the training sentences (folds
grouped by sentence, scored by accuracy, warm-started along the path of C by
``LogisticRegressionCV``), the model refitted on the whole training part and its micro-F1 on the
held-out part reported. The authors give no split, penalty or solver (docs/kadar2017.md#probe).

Beyond the paper, the control task of Hewitt and Liang (2019): every word type gets a random
label drawn from the training label distribution, the state probes are fitted to those labels
at the C their deprel probe chose (task and control compared at the same probe complexity, as
Hewitt and Liang do), and selectivity = deprel F1 - control F1. Selectivity falls with weaker
penalties (measured on the default run, TEXTUAL's state: +.131 at C = 0.001, -.022 at 0.1),
so it is a statement about the probe as well as the states.

Labels, n-gram and word categories come from the training part only: a held-out word or n-gram
never seen in training gets no column, and a deprel with fewer than ``min_count`` training
tokens is merged into ``other``.

The states are those of the ``layer`` setting's layer of each network's activation store (-1, the
top, by default; Table 2's ``layer`` column says which, 0 the bottom); the units' top contexts are
taken from top-contexts tables of that same layer.
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from lingscope.analysis.kadar2017.ridge import sentence_folds
from lingscope.analysis.settings import ProbeSettings
from lingscope.analysis.kadar2017.units import (
    check_sorted,
    codes,
    corpus_of,
    load_states,
    network_of,
    ngram_codes,
    read_top_contexts,
    resolve_layer,
    tokens_per_folder,
)
from lingscope.core import catalog
from lingscope.core.catalog import network_display
from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet, write_text
from lingscope.core.schemas import PROBE_F1, PROBE_UNITS

FEATURE_SETS = ("word", "4-gram", "state", "state+4-gram")
STATE_SETS = ("state", "state+4-gram")
OTHER = "other"
ORDER = 4  # the n-grams end at t and reach back to w_{t-3}
# (start, end) offsets from t of every contiguous sub-n-gram of w_{t-3} .. w_t: 10 spans
SPANS = tuple((start, end) for start in range(ORDER) for end in range(start, -1, -1))
CONTEXTS_SHOWN = 3  # trigrams listed per unit in PROBE_UNITS.top_contexts

# The draft's micro-F1 (never published, probably not on held-out data; docs/kadar2017.md#probe),
# keyed by (feature set, display name of the network; None for the network-free sets).
PUBLISHED = {
    ("word", None): 0.710, ("4-gram", None): 0.807,
    ("state", "Visual"): 0.751, ("state+4-gram", "Visual"): 0.809,
    ("state", "Textual"): 0.811, ("state+4-gram", "Textual"): 0.823,
}


# --- splits and labels -------------------------------------------------------------------

def split_sentences(sentence_id: np.ndarray, test_share: float, seed: int) -> np.ndarray:
    """True for the training tokens: a seeded permutation of the sorted distinct sentence ids,
    of which the first ``round(S * test_share)`` (at least 1, at most S - 1) are held out."""
    sentences = np.unique(sentence_id)
    if len(sentences) < 2:
        raise ValueError(f"need at least 2 sentences for a split, got {len(sentences)}")
    n_test = min(max(round(len(sentences) * test_share), 1), len(sentences) - 1)
    permuted = np.random.default_rng((seed, 0)).permutation(sentences)
    return ~np.isin(sentence_id, permuted[:n_test])


def merge_rare(labels: np.ndarray, train: np.ndarray, min_count: int) -> tuple[np.ndarray, list[str]]:
    """Labels with fewer than ``min_count`` training tokens (none at all included) become
    ``other``; returns the new labels and the sorted list of those merged."""
    kept, counts = np.unique(labels[train], return_counts=True)
    kept = set(kept[counts >= min_count].tolist())
    merged = sorted(set(labels.tolist()) - kept)
    out = np.array([label if label in kept else OTHER for label in labels.tolist()], dtype=object)
    return out, merged


def control_labels(form: np.ndarray, labels: np.ndarray, train: np.ndarray, seed: int) -> np.ndarray:
    """Hewitt and Liang's (2019) control task: each word type (sorted, so the draw does not
    depend on token order) gets one label drawn from the training label distribution."""
    types, type_of = codes(np.asarray(form, dtype=object))
    values, counts = np.unique(labels[train], return_counts=True)
    drawn = np.random.default_rng((seed, 2)).choice(len(values), size=len(types), p=counts / counts.sum())
    return values[drawn][type_of]


# --- features ----------------------------------------------------------------------------

@dataclass
class OneHot:
    """A sparse binary design with the columns seen in the training rows."""

    matrix: sp.csr_matrix  # (tokens, columns) float32, every token
    span: np.ndarray  # per column, the index into SPANS (word features: span (0, 0))
    example: np.ndarray  # per column, a training row where it occurs (to name it)
    form: np.ndarray  # the lower-cased words, to name the columns

    def names(self, columns: np.ndarray | None = None) -> list[str]:
        """Feature names, as ``the_2 nice_1 dog_0``: the words from w_{t-start} to w_{t-end}."""
        columns = np.arange(self.matrix.shape[1]) if columns is None else np.asarray(columns)
        names = []
        for column in columns.tolist():
            start, end = SPANS[self.span[column]]
            row = int(self.example[column])
            names.append(" ".join(f"{self.form[row - k]}_{k}" for k in range(start, end - 1, -1)))
        return names

    def row_names(self, row: int) -> list[str]:
        return self.names(self.matrix[row].indices)


def _one_hot(rows: np.ndarray, keys: np.ndarray, spans: np.ndarray, train: np.ndarray, form: np.ndarray) -> OneHot:
    """Columns: the distinct ``keys`` among training rows; a held-out key never seen gets none."""
    categories, first = np.unique(keys[train[rows]], return_index=True)
    index = np.searchsorted(categories, keys)
    seen = index < len(categories)
    seen[seen] = categories[index[seen]] == keys[seen]
    matrix = sp.csr_matrix((np.ones(int(seen.sum()), np.float32), (rows[seen], index[seen])),
                           shape=(len(train), len(categories)), dtype=np.float32)
    matrix.sum_duplicates()
    train_rows, train_spans = rows[train[rows]], spans[train[rows]]
    return OneHot(matrix, train_spans[first], train_rows[first], form)


def word_design(form: np.ndarray, train: np.ndarray) -> OneHot:
    """One column per lower-cased word type of the training part."""
    _, word = codes(np.asarray(form, dtype=object))
    rows = np.arange(len(form))
    return _one_hot(rows, word, np.zeros(len(form), np.int64), train, np.asarray(form, dtype=object))


def fourgram_design(sentence_id: np.ndarray, position: np.ndarray, form: np.ndarray, train: np.ndarray) -> OneHot:
    """The offset-tagged sub-n-grams of ``w_{t-3} .. w_t`` (docs/kadar2017.md#probe, Table 2).

    Tokens must be sorted by sentence and position (1, 2, ... in every sentence). A span that
    reaches before the sentence start is left out, not padded: the first token has only
    ``w_0``, the second 3 features, the third 6, and from the fourth on all 10."""
    check_sorted(sentence_id, position, "4-gram features")
    form = np.asarray(form, dtype=object)
    _, word = codes(form)
    n = len(form)
    # the span w_{t-start} .. w_{t-end} is the n-gram ending at w_{t-end}, n = start - end + 1
    ending = {k: ngram_codes(sentence_id, position, word, k) for k in range(1, ORDER + 1)}
    all_rows, all_keys, all_spans = [], [], []
    for s, (start, end) in enumerate(SPANS):
        rows = np.flatnonzero(position > start)  # w_{t-start} lies in the sentence: no padding
        code = ending[start - end + 1][rows - end]
        all_rows.append(rows)
        all_keys.append(s * (n + 1) + code.astype(np.int64))  # codes < n: the spans never collide
        all_spans.append(np.full(len(rows), s))
    return _one_hot(np.concatenate(all_rows), np.concatenate(all_keys), np.concatenate(all_spans), train, form)


def standardise(states: np.ndarray, train: np.ndarray) -> np.ndarray:
    """z-scores with the training part's mean and standard deviation (a constant unit: sd 1)."""
    mean = states[train].mean(axis=0, dtype=np.float64)
    sd = states[train].std(axis=0, dtype=np.float64)
    sd[sd == 0] = 1.0
    return ((states - mean.astype(np.float32)) / sd.astype(np.float32)).astype(np.float32, copy=False)


# --- the fit -----------------------------------------------------------------------------

@dataclass
class ProbeFit:
    C: float
    cv_accuracy: float
    f1_micro: float
    n_train: int
    n_test: int
    n_features: int
    classes: np.ndarray
    coef: np.ndarray  # (classes, features)
    converged: bool
    seconds: float


def fit_probe(X, labels: np.ndarray, train: np.ndarray, folds: np.ndarray, c_grid, max_iter: int,
              search: str = "path", tol: float = 1e-4) -> ProbeFit:
    """Choose C by sentence-grouped CV on the training rows (accuracy), refit, held-out micro-F1.

    ``search="path"`` is ``LogisticRegressionCV``: per fold, the grid of C is solved in
    increasing order, each fit starting from the last, and the refit starts from the folds'
    mean solution. ``search="grid"`` is ``GridSearchCV`` over ``LogisticRegression`` (every
    fit from zero), kept for the benchmark's comparison."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.metrics import f1_score
    from sklearn.model_selection import GridSearchCV

    X_train, y_train = X[train], labels[train]
    fold = folds[train]
    splits = [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in np.unique(fold)]
    grid = sorted(float(c) for c in c_grid)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        if len(grid) == 1:  # nothing to choose: one fit, no cross-validation
            model = LogisticRegression(C=grid[0], solver="lbfgs", max_iter=max_iter, tol=tol).fit(X_train, y_train)
            C, cv_accuracy = grid[0], float("nan")
        elif search == "path":
            model = LogisticRegressionCV(Cs=grid, cv=splits, scoring="accuracy", solver="lbfgs", max_iter=max_iter, tol=tol,
                                         l1_ratios=(0.0,), use_legacy_attributes=False, refit=True)
            model.fit(X_train, y_train)
            best = grid.index(float(model.C_))
            cv_accuracy = float(np.mean(model.scores_[:, 0, best]))
            C = float(model.C_)
        elif search == "grid":
            search_cv = GridSearchCV(LogisticRegression(solver="lbfgs", max_iter=max_iter, tol=tol), {"C": grid},
                                     scoring="accuracy", cv=splits, refit=True)
            search_cv.fit(X_train, y_train)
            model = search_cv.best_estimator_
            C, cv_accuracy = float(search_cv.best_params_["C"]), float(search_cv.best_score_)
        else:
            raise ValueError(f"search must be path or grid, got {search!r}")
    seconds = time.perf_counter() - t0
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    f1 = float(f1_score(labels[~train], model.predict(X[~train]), average="micro"))
    return ProbeFit(C, cv_accuracy, f1, int(train.sum()), int((~train).sum()), int(X.shape[1]), model.classes_,
                    np.asarray(model.coef_), converged, seconds)


def top_units(fit: ProbeFit, n_units: int, k: int) -> list[dict]:
    """Per label (but ``other``), the ``k`` state columns (the first ``n_units``) with the
    largest |coefficient|; ties go to the lower unit."""
    rows = []
    for c, label in enumerate(fit.classes.tolist()):
        if label == OTHER:
            continue
        coef = fit.coef[c, :n_units]
        for rank, unit in enumerate(np.argsort(-np.abs(coef), kind="stable")[:k].tolist(), start=1):
            rows.append({"deprel": label, "rank": rank, "unit": unit, "coefficient": float(coef[unit])})
    return rows


def top_trigrams(paths: list[Path]) -> pl.DataFrame:
    """(model, pathway, layer, unit) -> the unit's top trigrams by rank, joined with ' | '."""
    frame = read_top_contexts(paths, ["model", "pathway", "layer", "unit", "rank", "trigram"])
    return (frame.filter(pl.col("rank") <= CONTEXTS_SHOWN).sort("model", "pathway", "layer", "unit", "rank")
            .group_by("model", "pathway", "layer", "unit", maintain_order=True)
            .agg(pl.col("trigram").str.join(" | ").alias("top_contexts")))


# --- the CLI -----------------------------------------------------------------------------

def _design(folder: Path, tokens_path: Path, tokens, settings: ProbeSettings, corpus: str, rows: list) -> tuple:
    """What every network read with one parse shares: the held-out split, the labels, the folds,
    the control labels and the 4-gram design; the word and 4-gram rows of that parse go to ``rows``."""
    sentences = np.unique(tokens.sentence_id)
    if len(sentences) < 2 or round(len(sentences) * (1 - settings.test_share)) < settings.folds:
        raise InputError(folder, None, f"{len(sentences)} sentences are too few for a held-out share of "
                                       f"{settings.test_share} and {settings.folds} folds")
    train = split_sentences(tokens.sentence_id, settings.test_share, settings.seed)
    labels, merged = merge_rare(tokens.deprel, train, settings.min_count)
    if len(np.unique(labels[train])) < 2:
        raise InputError(tokens_path, "column 'deprel'", f"fewer than 2 labels reach --min-count "
                                                         f"{settings.min_count} training tokens")
    if merged:
        print(f"note: {corpus}: {len(merged)} deprel(s) with fewer than {settings.min_count} training tokens merged "
              f"into '{OTHER}': {', '.join(merged)}")
    folds = np.full(len(train), -1)
    folds[train] = sentence_folds(tokens.sentence_id[train], settings.folds, settings.seed)
    control = control_labels(tokens.form, labels, train, settings.seed)
    ngrams = fourgram_design(tokens.sentence_id, tokens.position, tokens.form, train)
    print(f"{corpus}: {len(train)} tokens, {len(sentences)} sentences: {int(train.sum())} training, "
          f"{int((~train).sum())} held out; {len(np.unique(labels[train]))} labels; "
          f"{ngrams.matrix.shape[1]} 4-gram features", flush=True)
    for feature_set, design in (("word", word_design(tokens.form, train)), ("4-gram", ngrams)):
        fit = fit_probe(design.matrix, labels, train, folds, settings.c_grid, settings.max_iter, tol=settings.tol)
        rows.append(_row(corpus, None, feature_set, "deprel", fit))
        _report(rows[-1], fit)
    return (tokens.sentence_id, tokens.position), train, labels, folds, control, ngrams


def _deprel_row(rows: list[dict], network: str, feature_set: str) -> dict:
    return next(r for r in rows if r["network"] == network and r["feature_set"] == feature_set
                and r["task"] == "deprel")


def _row(corpus, network, feature_set, task, fit: ProbeFit, layer: int | None = None) -> dict:
    return {"corpus": corpus, "network": network, "layer": layer, "feature_set": feature_set, "task": task, "C": fit.C,
            "cv_accuracy": fit.cv_accuracy,
            "f1_micro": fit.f1_micro, "selectivity": None,
            "published": PUBLISHED.get((feature_set, network)) if task == "deprel" else None,
            "n_train": fit.n_train, "n_test": fit.n_test, "n_features": fit.n_features,
            "n_classes": len(fit.classes)}


def _report(row: dict, fit: ProbeFit) -> None:
    note = "" if fit.converged else " (lbfgs stopped at max_iter)"
    print(f"{row['network'] or '-':14s} {row['feature_set']:13s} {row['task']:8s} C {row['C']:<6g} "
          f"cv acc {row['cv_accuracy']:.3f} held-out F1 {row['f1_micro']:.3f} "
          f"({row['n_features']} features, {fit.seconds:.1f} s){note}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--activations", type=Path, nargs="+", required=True,
                    help="activation folders .../activations/tokens/model=M/pathway=P, one per network, same split")
    ap.add_argument("--tokens", type=Path, nargs="+", required=True,
                    help="parse of the same split (TOKENS): deprels and forms; one for every network, or one per "
                         "--activations folder (networks of different corpora), in the same order")
    ap.add_argument("--top-contexts", type=Path, nargs="*", default=[],
                    help="TOP_CONTEXTS tables: the units' top trigrams for --units")
    ap.add_argument("--table2", type=Path, required=True, help="PROBE_F1 table (Parquet)")
    ap.add_argument("--table2-csv", type=Path, required=True, help="the same table as CSV, for the report")
    ap.add_argument("--units", type=Path, required=True, help="PROBE_UNITS table (Parquet)")
    ProbeSettings.add_arguments(ap, "settings (config: units.probe)")
    args = ap.parse_args(argv)
    settings = ProbeSettings.from_args(args)

    networks = [network_of(folder) for folder in args.activations]
    if len(set(networks)) != len(networks):
        raise InputError(None, "--activations", "a network is given twice")
    contexts = top_trigrams(args.top_contexts)
    if not args.top_contexts:
        print("note: no --top-contexts given; PROBE_UNITS.top_contexts is left empty")

    rows, unit_rows = [], []
    parses = tokens_per_folder(args.activations, args.tokens)
    shared: dict[Path, tuple] = {}  # per parse: the first network's tokens and what they give every network
    for folder, tokens_path, (model, pathway) in zip(args.activations, parses, networks):
        t0 = time.perf_counter()
        layer = resolve_layer(folder, settings.layer)
        tokens = load_states(folder, tokens_path, layer)
        name = network_display(model, pathway)
        corpus = corpus_of(tokens_path)
        if tokens_path not in shared:
            shared[tokens_path] = _design(folder, tokens_path, tokens, settings, corpus, rows)
        reference, train, labels, folds, control, ngrams = shared[tokens_path]
        if not (np.array_equal(tokens.sentence_id, reference[0]) and np.array_equal(tokens.position, reference[1])):
            raise InputError(folder, None, f"holds other tokens than the first network read with {tokens_path}; "
                                           "the networks of one parse must be read on the same split")
        states = standardise(tokens.states, train)
        del tokens
        designs = {"state": states, "state+4-gram": sp.hstack([sp.csr_matrix(states), ngrams.matrix], format="csr",
                                                              dtype=np.float32)}
        fits = {}
        for task, target in (("deprel", labels), ("control", control)):
            if task == "control" and not settings.control:
                continue
            for feature_set in STATE_SETS:
                # Hewitt and Liang (2019) compare the task and its control at the same probe
                # complexity: the control is fitted at the C the deprel probe chose.
                grid = settings.c_grid if task == "deprel" else (fits["deprel", feature_set].C,)
                fit = fit_probe(designs[feature_set], target, train, folds, grid, settings.max_iter, tol=settings.tol)
                fits[task, feature_set] = fit
                rows.append(_row(corpus, name, feature_set, task, fit, layer))
                if task == "control":
                    deprel_row = _deprel_row(rows, name, feature_set)
                    deprel_row["selectivity"] = deprel_row["f1_micro"] - fit.f1_micro
                _report(rows[-1], fit)
        for feature_set in STATE_SETS if settings.control else ():
            deprel_row = _deprel_row(rows, name, feature_set)
            print(f"{name:14s} {feature_set:13s} selectivity {deprel_row['selectivity']:+.3f}")
        found = contexts.filter((pl.col("model") == model) & (pl.col("pathway") == pathway))
        if not found.is_empty() and not (found["layer"] == layer).any():
            print(f"note: {name}: the top-contexts tables are of layer(s) {sorted(set(found['layer']))}, the probe "
                  f"reads layer {layer}; PROBE_UNITS.top_contexts is left empty for it")
        found = found.filter(pl.col("layer") == layer)
        shown = dict(zip(found["unit"].to_list(), found["top_contexts"].to_list()))
        for unit_row in top_units(fits["deprel", "state+4-gram"], states.shape[1], settings.top_units):
            unit_rows.append({"network": name, **unit_row, "top_contexts": shown.get(unit_row["unit"], "")})
        print(f"{name}: {time.perf_counter() - t0:.1f} s", flush=True)
        del states, designs

    # The draft's word and 4-gram figures are of the captions Kadar et al.'s networks read: they stay
    # only on the baselines of a parse read by one of those networks (whichever the config probes).
    reported = {r["corpus"] for r in rows if r["network"] in catalog.KADAR_NETWORKS}
    for r in rows:
        if r["network"] is None and r["corpus"] not in reported:
            r["published"] = None
    table2 = pl.DataFrame(rows, schema=pl.from_arrow(PROBE_F1.empty_table()).schema)
    units = pl.DataFrame(unit_rows, schema=pl.from_arrow(PROBE_UNITS.empty_table()).schema)
    write_parquet(table2.to_arrow(), args.table2, PROBE_F1, "probe_f1")
    write_text(args.table2_csv, table2.write_csv(float_precision=6))
    write_parquet(units.to_arrow(), args.units, PROBE_UNITS, "probe_units")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
