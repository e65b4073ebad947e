"""Linear models of omission scores (Kadar et al. 2017, sec. 5.3, Figs. 4 and 6).

Ridge regressions predict each token's omission score from one-hot features:

- ``word``: the word type (the lower-cased token);
- ``+deprel``: word, dependency label, word x deprel;
- ``+position``: word, position bin, word x position bin;
- ``full``: word, deprel, position bin, word x deprel, word x position bin.

The tokens are split in two halves by sentence (a seeded permutation of the sentence ids).
On the first half the L2 penalty is chosen from a grid (2^-2 .. 2^5 by default) by K-fold
cross-validation with folds grouped by sentence; the model is refitted on the whole first
half and its R^2 reported on the second. This departs from the authors' code, which fit on
the first 100,000 tokens and picked the penalty on the test half (docs/kadar2017.md#ridge-regressions).

The design stays sparse throughout and every fit is exact: the normal equations are solved
with a sparse LU factorisation, so paper-scale data (about 260k tokens, tens of thousands of
one-hot columns) fit in seconds.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from lingscope.analysis.networks import NETWORK_NAMES, read_omission
from lingscope.analysis.plotting import new_figure, save_figure
from lingscope.core.schemas import RIDGE_POSITIONS, RIDGE_R2
from lingscope.core.catalog import colour
from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet
from lingscope.analysis.settings import RidgeSettings

POSITION_BINS = ("first", "second", "third", "middle", "antepenult", "penult", "last")

FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "word": ("word",),
    "+deprel": ("word", "deprel", "word:deprel"),
    "+position": ("word", "position", "word:position"),
    "full": ("word", "deprel", "position", "word:deprel", "word:position"),
}

DEFAULT_ALPHAS = RidgeSettings.alphas  # 2^-2 .. 2^5, the authors' grid

_COLUMNS = ["sentence_id", "position", "token", "deprel", "model", "pathway", "omission"]


# --- features ---------------------------------------------------------------------------

def position_bins(position: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Bin 1-based word positions in sentences of ``length`` words; codes index ``POSITION_BINS``.

    The bins are first, second, third, middle, antepenult, penult and last. In sentences of
    six words or fewer a position can be both (word 2 of 4 is second and antepenult); the
    bins counted from the end win, because the omission score is read at the end of the
    sentence, so distance to the end is what a recurrent network's state is most sensitive
    to. A one-word sentence is thus "last", and "middle" needs at least seven words.
    """
    position = np.asarray(position, dtype=np.int64)
    length = np.asarray(length, dtype=np.int64)
    if np.any(position < 1) or np.any(position > length):
        raise ValueError("positions must lie between 1 and the sentence length")
    codes = np.full(position.shape, POSITION_BINS.index("middle"), dtype=np.int8)
    for offset, name in ((1, "first"), (2, "second"), (3, "third")):
        codes[position == offset] = POSITION_BINS.index(name)
    from_end = length - position
    for offset, name in ((2, "antepenult"), (1, "penult"), (0, "last")):
        codes[from_end == offset] = POSITION_BINS.index(name)
    return codes


@dataclass
class Tokens:
    """One network's tokens, in sentence order: ids, targets and an integer key per term."""

    sentence_id: np.ndarray
    omission: np.ndarray
    keys: dict[str, np.ndarray]


def prepare_tokens(frame: pl.DataFrame) -> Tokens:
    """Integer keys for every term of :data:`FEATURE_SETS` from an omission table.

    The word type is the lower-cased token; a sentence's length is its largest position.
    """
    bad = frame.filter(pl.col("position") < 1)
    if not bad.is_empty():
        row = bad.row(0, named=True)
        raise InputError(None, f"sentence {row['sentence_id']} position {row['position']}",
                         "positions count words from 1")
    frame = frame.sort(["sentence_id", "position"]).with_columns(
        length=pl.col("position").max().over("sentence_id"),
        word_code=pl.col("token").str.to_lowercase().rank("dense").cast(pl.Int64) - 1,
        deprel_code=pl.col("deprel").rank("dense").cast(pl.Int64) - 1,
    )
    word = frame["word_code"].to_numpy()
    deprel = frame["deprel_code"].to_numpy()
    n_deprels = int(deprel.max()) + 1 if len(deprel) else 1
    bins = position_bins(frame["position"].to_numpy(), frame["length"].to_numpy()).astype(np.int64)
    keys = {
        "word": word,
        "deprel": deprel,
        # the bin's code is the key so that coefficients can be named after POSITION_BINS
        "position": bins,
        "word:deprel": word * n_deprels + deprel,
        "word:position": word * len(POSITION_BINS) + bins,
    }
    return Tokens(frame["sentence_id"].to_numpy(), frame["omission"].to_numpy().astype(np.float64), keys)


@dataclass
class Design:
    """A one-hot design: one column per category of each term seen in the fit rows."""

    matrix: sp.csr_matrix  # every token, fit and held-out alike
    terms: dict[str, tuple[int, np.ndarray]]  # term -> (its first column, its categories)


def one_hot_design(keys: dict[str, np.ndarray], terms: tuple[str, ...], fit: np.ndarray) -> Design:
    """The sparse design for ``terms``, with categories taken from the rows where ``fit`` is true.

    A category that occurs only outside ``fit`` gets no column, so it contributes nothing to
    a prediction: such a row is zero in that term's block, and the model falls back on the
    other terms and the intercept.
    """
    n = len(fit)
    rows, cols, offset, blocks = [], [], 0, {}
    for term in terms:
        key = keys[term]
        categories = np.unique(key[fit])
        index = np.searchsorted(categories, key)
        seen = index < len(categories)
        seen[seen] = categories[index[seen]] == key[seen]
        rows.append(np.flatnonzero(seen))
        cols.append(offset + index[seen])
        blocks[term] = (offset, categories)
        offset += len(categories)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, offset))
    return Design(matrix, blocks)


# --- the exact sparse ridge solver -------------------------------------------------------

def fill_reducing_order(X: sp.spmatrix) -> np.ndarray:
    """A column order of ``X`` that keeps the LU factors of X'X sparse (minimum degree on X'X).

    The order depends only on the sparsity pattern, so one order serves every penalty and
    every cross-validation fold (a fold's pattern is a subset of the whole fit half's).
    """
    p = X.shape[1]
    if p == 0:
        return np.zeros(0, dtype=np.int64)
    gram = (X.T @ X + sp.identity(p)).tocsc()
    lu = splu(gram, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    # perm_c[i] is where column i goes; the order lists, for each new place, the old column.
    return np.argsort(lu.perm_c)


@dataclass
class _Normal:
    """Sufficient statistics of a ridge fit: X'X, X'1, n, X'y and 1'y."""

    xtx: sp.csc_matrix
    col_sums: np.ndarray
    n: int
    xty: np.ndarray
    y_sum: float


def _normal(X: sp.csr_matrix, y: np.ndarray) -> _Normal:
    return _Normal((X.T @ X).tocsc(), np.asarray(X.sum(axis=0)).ravel(), X.shape[0], X.T @ y, float(y.sum()))


def _solve(normal: _Normal, alpha: float) -> tuple[float, np.ndarray]:
    """Solve [[X'X + aI, X'1], [1'X, n]] [w; b] = [X'y; 1'y]: ridge with the intercept b unpenalised.

    The matrix is symmetric positive definite for a > 0, so LU without pivoting is stable;
    the columns are assumed to be in a fill-reducing order already, and the intercept comes
    last so its dense row and column add no fill. One step of iterative refinement brings
    the residual down to rounding level.
    """
    p = normal.xtx.shape[0]
    col = sp.csc_matrix(normal.col_sums.reshape(-1, 1))
    gram = sp.bmat([[normal.xtx + alpha * sp.identity(p, format="csc"), col],
                    [col.T, sp.csc_matrix([[float(normal.n)]])]], format="csc")
    rhs = np.append(normal.xty, normal.y_sum)
    # Supernodes of a one-hot Gram are tiny; SuperLU's default relaxation only pads them
    # with zeros, and switching it off halves the factorisation time at paper scale.
    lu = splu(gram, permc_spec="NATURAL", diag_pivot_thresh=0.0, relax=1, panel_size=1,
              options={"SymmetricMode": True})
    solution = lu.solve(rhs)
    solution += lu.solve(rhs - gram @ solution)
    return float(solution[-1]), solution[:-1]


def ridge_fit(X: sp.spmatrix, y: np.ndarray, alpha: float, order: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Exact ridge regression with an unpenalised intercept; returns (intercept, coefficients).

    Minimises ``||y - b - X w||^2 + alpha ||w||^2`` without ever densifying ``X``.
    """
    if not alpha > 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    X = sp.csr_matrix(X)
    y = np.asarray(y, dtype=np.float64)
    order = fill_reducing_order(X) if order is None else order
    intercept, coef_ordered = _solve(_normal(X[:, order], y), alpha)
    coef = np.empty_like(coef_ordered)
    coef[order] = coef_ordered
    return intercept, coef


def r2_score(y: np.ndarray, predicted: np.ndarray) -> float:
    """Proportion of variance explained, 1 - SSE / SST around the mean of ``y`` itself."""
    sst = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - predicted) ** 2)) / sst if sst > 0 else float("nan")


def cross_validate(X: sp.csr_matrix, y: np.ndarray, folds: np.ndarray, alphas, order: np.ndarray) -> np.ndarray:
    """Pooled out-of-fold R^2 for each alpha: every row is predicted by the model not fit on its fold."""
    X = sp.csr_matrix(X)[:, order]
    sse = np.zeros(len(alphas))
    for fold in np.unique(folds):
        held = folds == fold
        normal = _normal(X[~held], y[~held])
        X_held, y_held = X[held], y[held]
        for a, alpha in enumerate(alphas):
            intercept, coef = _solve(normal, alpha)
            sse[a] += float(np.sum((y_held - intercept - X_held @ coef) ** 2))
    sst = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - sse / sst if sst > 0 else np.full(len(alphas), np.nan)


# --- splits -----------------------------------------------------------------------------

def split_halves(sentence_id: np.ndarray, seed: int) -> np.ndarray:
    """True for the tokens of the fit half: the first ceil(S/2) of a seeded permutation of the S sentences.

    The permutation is of the sorted distinct ids, so every network scored on the same
    sentences gets the same halves.
    """
    sentences = np.unique(sentence_id)
    permuted = np.random.default_rng((seed, 0)).permutation(sentences)
    return np.isin(sentence_id, permuted[: (len(sentences) + 1) // 2])


def sentence_folds(sentence_id: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """A fold number (0 .. n_folds-1) per token; all tokens of a sentence share one fold."""
    sentences = np.unique(sentence_id)
    if not 2 <= n_folds <= len(sentences):
        raise ValueError(f"need 2 <= folds <= {len(sentences)} sentences, got {n_folds}")
    permuted = np.random.default_rng((seed, 1)).permutation(sentences)
    fold_of = np.empty(len(sentences), dtype=np.int64)
    fold_of[np.searchsorted(sentences, permuted)] = np.arange(len(sentences)) % n_folds
    return fold_of[np.searchsorted(sentences, sentence_id)]


# --- one network ------------------------------------------------------------------------

@dataclass
class FeatureSetFit:
    feature_set: str
    alpha: float
    cv_r2: float
    r2: float
    n_fit: int
    n_test: int
    design: Design
    intercept: float
    coef: np.ndarray

    def term_coefficients(self, term: str) -> dict[int, float]:
        """Category key -> coefficient for one term of the design."""
        start, categories = self.design.terms[term]
        return {int(c): float(self.coef[start + i]) for i, c in enumerate(categories)}


def fit_feature_set(tokens: Tokens, feature_set: str, fit: np.ndarray, folds: np.ndarray, alphas) -> FeatureSetFit:
    """Choose alpha by CV on the fit half, refit there, score R^2 on the other half."""
    design = one_hot_design(tokens.keys, FEATURE_SETS[feature_set], fit)
    X_fit, y_fit = design.matrix[fit], tokens.omission[fit]
    X_test, y_test = design.matrix[~fit], tokens.omission[~fit]
    order = fill_reducing_order(X_fit)
    cv = cross_validate(X_fit, y_fit, folds[fit], alphas, order)
    best = int(np.argmax(cv))  # the smallest of tied alphas, deterministically
    intercept, coef = ridge_fit(X_fit, y_fit, alphas[best], order)
    r2 = r2_score(y_test, intercept + X_test @ coef)
    return FeatureSetFit(feature_set, float(alphas[best]), float(cv[best]), r2, int(fit.sum()),
                         int((~fit).sum()), design, intercept, coef)


def fit_network(tokens: Tokens, alphas, n_folds: int, seed: int) -> list[FeatureSetFit]:
    """All four feature sets on one network's tokens, with shared halves and folds."""
    fit = split_halves(tokens.sentence_id, seed)
    folds = sentence_folds(tokens.sentence_id[fit], n_folds, seed)
    fold_per_token = np.full(len(fit), -1)
    fold_per_token[fit] = folds
    return [fit_feature_set(tokens, name, fit, fold_per_token, list(alphas)) for name in FEATURE_SETS]


# --- figures ----------------------------------------------------------------------------

def figure4(r2: pl.DataFrame):
    """Fig. 4: held-out R^2 per network, one bar per feature set."""
    networks = [n for n in NETWORK_NAMES if n in set(r2["network"])]
    sets = list(FEATURE_SETS)
    fig = new_figure(max(4.5, 1.5 + 1.3 * len(networks)), 3.4)
    ax = fig.add_subplot()
    width = 0.8 / len(sets)
    shades = ["#c6dbef", "#6baed6", "#2171b5", "#08306b"]
    for s, name in enumerate(sets):
        values = [r2.filter((pl.col("network") == n) & (pl.col("feature_set") == name))["r2"].item() for n in networks]
        ax.bar(np.arange(len(networks)) + (s - (len(sets) - 1) / 2) * width, values, width, color=shades[s], label=name)
    ax.set_xticks(np.arange(len(networks)), networks)
    ax.set_ylabel("R² on the held-out half")
    ax.set_ylim(min(0.0, float(r2["r2"].min())), 1.0)
    fig.legend(frameon=False, ncols=len(sets), loc="outside lower center", fontsize=8)
    ax.set_title("Variance in omission scores explained")
    return fig


def figure6(positions: pl.DataFrame):
    """Fig. 6: the FULL model's position-bin coefficients, one line per network."""
    fig = new_figure(5.0, 3.2)
    ax = fig.add_subplot()
    x = np.arange(len(POSITION_BINS))
    for name in NETWORK_NAMES:
        part = positions.filter(pl.col("network") == name)
        if part.is_empty():
            continue
        coef = dict(zip(part["position_bin"], part["coefficient"]))
        values = [coef.get(b, np.nan) for b in POSITION_BINS]
        ax.plot(x, values, marker="o", color=colour(name), label=name)
    ax.axhline(0.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(x, POSITION_BINS, rotation=30)
    ax.set_ylabel("coefficient in FULL")
    ax.legend(frameon=False)
    ax.set_title("Position effects on omission scores")
    return fig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--omission", type=Path, nargs="+", required=True, help="OMISSION tables, one per model and pathway")
    ap.add_argument("--tokens", type=Path, required=True, help="parse of the analysis split (TOKENS): the deprels")
    ap.add_argument("--r2", type=Path, required=True, help="RIDGE_R2 table (Parquet)")
    ap.add_argument("--positions", type=Path, required=True, help="RIDGE_POSITIONS table (Parquet)")
    ap.add_argument("--fig4", type=Path, required=True, help="Fig. 4 (PNG; SVG beside it)")
    ap.add_argument("--fig6", type=Path, required=True, help="Fig. 6 (PNG; SVG beside it)")
    RidgeSettings.add_arguments(ap, "settings (config: analysis.ridge)")
    args = ap.parse_args(argv)
    settings = RidgeSettings.from_args(args)

    frames = read_omission(args.omission, _COLUMNS, args.tokens)
    for name in NETWORK_NAMES:
        if name not in frames:
            print(f"note: no omission table for {name}; skipped")
    if not frames:
        raise InputError(None, "--omission", f"none of the files holds one of the networks {list(NETWORK_NAMES)}")

    r2_rows, position_rows = [], []
    for name, frame in frames.items():
        tokens = prepare_tokens(frame)
        n_sentences = len(np.unique(tokens.sentence_id))
        if (n_sentences + 1) // 2 < settings.folds or n_sentences < 2:
            raise InputError(None, name, f"{n_sentences} sentences are too few for a half split and {settings.folds} folds")
        for result in fit_network(tokens, settings.alphas, settings.folds, settings.seed):
            r2_rows.append({"network": name, "feature_set": result.feature_set, "alpha": result.alpha,
                            "cv_r2": result.cv_r2, "r2": result.r2, "n_fit": result.n_fit, "n_test": result.n_test,
                            "n_features": result.design.matrix.shape[1]})
            print(f"{name:8s} {result.feature_set:10s} alpha {result.alpha:g} cv R2 {result.cv_r2:.3f} "
                  f"held-out R2 {result.r2:.3f} ({result.design.matrix.shape[1]} features)")
            if result.feature_set == "full":
                for code, coef in sorted(result.term_coefficients("position").items()):
                    position_rows.append({"network": name, "position_bin": POSITION_BINS[code], "coefficient": coef})
    r2 = pl.DataFrame(r2_rows, schema={"network": pl.String, "feature_set": pl.String, "alpha": pl.Float64,
                                       "cv_r2": pl.Float64, "r2": pl.Float64, "n_fit": pl.Int64, "n_test": pl.Int64,
                                       "n_features": pl.Int64})
    positions = pl.DataFrame(position_rows, schema={"network": pl.String, "position_bin": pl.String,
                                                    "coefficient": pl.Float64})
    write_parquet(r2.to_arrow(), args.r2, RIDGE_R2, "ridge_r2")
    write_parquet(positions.to_arrow(), args.positions, RIDGE_POSITIONS, "ridge_positions")
    save_figure(figure4(r2), args.fig4)
    save_figure(figure6(positions), args.fig6)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
