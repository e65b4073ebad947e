"""The analyses' options: one settings class per config section they read.

Torch-free: the workflow reads them when it plans the DAG (lingscope.core.settings).
"""

from __future__ import annotations

import dataclasses

from lingscope.core.settings import Settings, option

# The unit-level analyses read one layer of a network's activation store (layer=K partitions).
LAYER_HELP = "layer of the activation store to read: 0 the bottom, -1 the top (default)"


def layer_option():
    """The ``layer`` field of the analyses that read the activation store (-1, the top layer)."""
    return option(-1, LAYER_HELP)


@dataclasses.dataclass(frozen=True)
class DistributionSettings(Settings):
    """Figs. 2 and 3 (``analysis.min_count`` in the config)."""

    min_count: int = option(500, "keep labels with at least this many tokens", minimum=1)
    # Scores are floored here before the log ratio is taken. A score of 0 (the state at <eos>
    # did not move) would make the ratio infinite, and below about 1e-6 a score computed from
    # float32 states is rounding noise: cos near 1 is resolved to 2^-24 = 6e-8.
    epsilon: float = option(1e-6, "floor on omission scores before the log ratio", positive=True, in_config=False)
    fdr: float = option(0.05, "Fig. 3: false discovery rate of the per-label Wilcoxon tests (Benjamini-Hochberg)",
                        positive=True, maximum=1)

@dataclasses.dataclass(frozen=True)
class RidgeSettings(Settings):
    """Linear models of omission, Figs. 4 and 6 (``analysis.ridge`` in the config)."""

    alphas: tuple[float, ...] = option(tuple(2.0**k for k in range(-2, 6)), "L2 penalties to choose from",
                                       positive=True)
    folds: int = option(5, "cross-validation folds, grouped by sentence", minimum=2)
    seed: int = option(1, "seed of the half split and the folds", minimum=0)


@dataclasses.dataclass(frozen=True)
class CheckSettings(Settings):
    """When a run's results will be weak (``analysis.checks`` in the config): each bound gives
    a warning at the end of the run and in the report, not an error."""

    max_unk_rate: float = option(0.1, "warn when more of a val or test split's word tokens are <unk>",
                                 minimum=0, maximum=1)
    min_labels: int = option(5, "warn when fewer parse labels than this reach analysis.min_count "
                                "(the labels of Figs. 2-3)", minimum=1)
    alpha: float = option(0.01, "warn when retrieval recall@k is not above chance at this level "
                                "(one-sided binomial test)", positive=True, maximum=1)


@dataclasses.dataclass(frozen=True)
class TsneSettings(Settings):
    """The t-SNE maps of Li et al.'s Figs. 2 and 4 (``li_figures.tsne`` in the config); the paper
    gives no parameters, so scikit-learn's defaults apply but for these."""

    perplexity: float = option(5.0, "t-SNE perplexity (capped below the number of points; sklearn's default 30 "
                               "needs more points than a figure has)", positive=True)
    seed: int = option(1, "t-SNE random_state", minimum=0)


@dataclasses.dataclass(frozen=True)
class PoernerTableSettings(Settings):
    """Poerner et al.'s (2018) Table 1 (``poerner_figures`` in the config)."""

    table_units: int = option(3, "drawn units shown per network (the first of the draw, which is random), besides "
                              "every named target", minimum=0)


# --- Kadar et al. 2017, the unit-level analyses (config section ``units``) -------------------------

@dataclasses.dataclass(frozen=True)
class TopContextSettings(Settings):
    """Top-K contexts of every unit, Table 1 (``units.top_contexts`` in the config)."""

    k: int = option(20, "tokens kept per unit, ranked by absolute activation (the paper: 20)", minimum=1)
    batch_rows: int = option(4096, "token rows read per batch from the activation store: bounds the memory",
                             minimum=1)
    layer: int = layer_option()


@dataclasses.dataclass(frozen=True)
class UnitFigureSettings(Settings):
    """Table 1 and Fig. 7 (``units.figures`` in the config)."""

    table_units: int = option(3, "units shown per network: those whose top-K tokens have the fewest distinct "
                                 "words (ties: the larger mean |activation|, then the lower index)", minimum=1)
    units: tuple[str, ...] = option(("auto",), "Fig. 7's units as Network:unit (e.g. Visual:12), or auto for "
                                               "the table_units rule", pattern=r"auto|.+:[0-9]+")
    captions: int = option(3, "Fig. 7: example captions per unit", minimum=1)
    percentile: float = option(90.0, "Fig. 7: a caption qualifies when one of its tokens reaches this percentile "
                                     "of the unit's activation over all tokens, read in the direction of its top-K "
                                     "tokens (the paper: top decile)",
                               minimum=0, maximum=100)
    seed: int = option(1, "Fig. 7: seed of the draw among the qualifying captions", minimum=0)
    layer: int = layer_option()


@dataclasses.dataclass(frozen=True)
class ProbeSettings(Settings):
    """The grammatical-function probe, Table 2 (``units.probe`` in the config)."""

    test_share: float = option(0.5, "share of the sentences held out for the F1 (split by sentence)",
                               positive=True, maximum=0.9)
    c_grid: tuple[float, ...] = option((0.01, 0.1, 1.0, 10.0), "inverse L2 penalties to choose from by "
                                                            "cross-validation on the training sentences",
                                   positive=True)
    folds: int = option(3, "cross-validation folds, grouped by sentence", minimum=2)
    max_iter: int = option(300, "lbfgs iterations per fit", minimum=1)
    tol: float = option(1e-4, "lbfgs stopping tolerance (scikit-learn's default 1e-4)", positive=True)
    top_units: int = option(5, "units listed per deprel (largest |coefficient| in state + 4-gram)", minimum=1)
    min_count: int = option(20, "deprels with fewer training tokens are merged into 'other'", minimum=1)
    control: bool = option(True, "also fit the control task (Hewitt and Liang 2019) and report selectivity")
    seed: int = option(1, "seed of the split, the folds and the control labels", minimum=0)
    layer: int = layer_option()


@dataclasses.dataclass(frozen=True)
class MutualInformationSettings(Settings):
    """Mutual information between units and contexts, Fig. 8 (``units.mutual_information``)."""

    bins: int = option(20, "equal-mass bins per unit (the paper: 20)", minimum=2)
    pooled: bool = option(False, "cut points from all units pooled, as the authors' code did (the paper: per unit)")
    max_n: int = option(3, "contexts: word and deprel n-grams ending at the token, n = 1 .. max_n", minimum=1)
    bootstrap: int = option(5000, "bootstrap replicates over units", minimum=100)
    confidence: float = option(0.95, "bootstrap interval level", positive=True, maximum=0.999)
    seed: int = option(1, "bootstrap seed", minimum=0)
    layer: int = layer_option()


@dataclasses.dataclass(frozen=True)
class OmissionWordSettings(Settings):
    """Fig. 5: the words whose omission the deprel predicts (``analysis.fig5`` in the config)."""

    network: str = option("Visual", "the network whose omission scores are modelled (the paper: VISUAL)")
    model: str = option("+deprel", "compared with WORD: +deprel (the paper's text) or full (what its arXiv figure "
                                   "used)", choices=("+deprel", "full"))
    words: int = option(5, "words shown: the largest mean held-out gain", minimum=1)
    min_tokens: int = option(100, "words need more held-out tokens than this (the paper: 100)", minimum=0)
    min_deprel: int = option(70, "deprels need more tokens than this among the shown words (the paper: 70)",
                             minimum=0)


@dataclasses.dataclass(frozen=True)
class AutoencoderFigureSettings(Settings):
    """The autoencoder's results by sentence length (``autoencoder_figures`` in the config)."""

    length_bins: tuple[int, ...] = option((10, 20, 30, 40), "upper edges (words) of the length bins; the last bin "
                                          "holds the longer sentences", minimum=1)


@dataclasses.dataclass(frozen=True)
class AgreementSettings(Settings):
    """How far the attribution methods agree (``agreement`` in the config)."""

    min_words: int = option(3, "words a sentence needs for the within-sentence correlation and the top-word share",
                            minimum=2)
