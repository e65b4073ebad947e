"""The analyses' options: one settings class per config section they read.

Torch-free: the workflow reads them when it plans the DAG (lingscope.core.settings).
"""

from __future__ import annotations

import dataclasses

from lingscope.core.settings import Settings, option

@dataclasses.dataclass(frozen=True)
class DistributionSettings(Settings):
    """Figs. 2 and 3 (``analysis.min_count`` in the config)."""

    min_count: int = option(500, "keep labels with at least this many tokens", minimum=1)
    # Scores are floored here before the log ratio is taken. A score of 0 (the state at <eos>
    # did not move) would make the ratio infinite, and below about 1e-6 a score computed from
    # float32 states is rounding noise: cos near 1 is resolved to 2^-24 = 6e-8.
    epsilon: float = option(1e-6, "floor on omission scores before the log ratio", positive=True, in_config=False)

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
