"""The methods' options: one settings class per config section they read.

Torch-free: the workflow reads them when it plans the DAG (lingscope.core.settings).
"""

from __future__ import annotations

import dataclasses

from lingscope.core.errors import InputError
from lingscope.core.settings import Settings, option

@dataclasses.dataclass(frozen=True)
class ActivationSettings(Settings):
    """Per-token state dumps (``activations`` in the config)."""

    split: str = option("val", "the analysis split", choices=("train", "val", "test"))
    dtype: str = option("float32", "value type of the stored states", choices=("float32", "float16"))
    chunk_sentences: int = option(2048, "sentences computed per chunk (bounds memory)", minimum=1)
    rows_per_file: int = option(1_000_000, "token rows per part file", minimum=1)
    row_group_rows: int = option(8192, "rows per Parquet row group", minimum=1)
    batch_rows: int = option(1024, "sentences per batch of a recurrent step (1024 keeps a step in cache)", minimum=1)
    gates: bool = option(False, "also store each network's gate activations per token, one column each (the "
                         "model's gate_dims: gate_r, gate_z, gate_n or gate_i, gate_f, gate_g, gate_o, cell_c); "
                         "a network without gates gets none")

@dataclasses.dataclass(frozen=True)
class OmissionSettings(Settings):
    """Omission scores (``omission`` in the config)."""

    chunk_tokens: int = option(16384, "words read per chunk (bounds memory)", minimum=1)
    batch_rows: int = option(1024, "runs per recurrent step (1024 keeps a step's tensors in cache)", minimum=1)

@dataclasses.dataclass(frozen=True)
class ExampleSettings(Settings):
    """The example captions of Fig. 1 (``analysis.examples`` in the config)."""

    n: int = option(4, "example captions", minimum=1)
    seed: int = option(1, "seed of the sample", minimum=0)

@dataclasses.dataclass(frozen=True)
class SaliencySettings(Settings):
    """First-derivative saliency and variance salience of a whole split (``saliency`` in the config)."""

    split: str = option("test", "the split whose every token is scored", choices=("train", "val", "test"))
    chunk_sentences: int = option(2048, "sentences read and written per chunk (bounds memory)", minimum=1)
    batch_sentences: int = option(256, "sentences per backward pass", minimum=1)


@dataclasses.dataclass(frozen=True)
class SentimentExamples(Settings):
    """The phrases and sentences of Li et al.'s (2016) Figs. 1-8 (``li_figures.examples`` in the
    config); their defaults are the paper's, lower-cased as the vocabulary is."""

    intensification: tuple[str, ...] = option(
        ("i like it", "i like it a lot", "i like it so much", "good", "very good", "incredibly good", "bad",
         "incredibly bad"), "Figs. 1-2: intensification (the paper: 'a lot', 'so much', 'incredibly')")
    negation: tuple[str, ...] = option(
        ("nice", "not nice", "good", "not good", "bad", "not bad"), "Figs. 1-2: negation")
    concessive: tuple[str, ...] = option(
        ("i hate the movie though the plot is interesting .", "i hate the movie though the plot is boring ."),
        "Fig. 3: two sentences whose states over time are compared (their absolute difference below)", length=2)
    clause_positive: tuple[str, ...] = option(
        ("i like the movie", "i like the movie although it had bad acting", "i like the movie but it is too long"),
        "Fig. 4: a positive sentence alone (first), then with negative clauses added")
    clause_negative: tuple[str, ...] = option(
        ("i hate the movie", "i hate the movie but the plot is interesting", "i hate the movie but the acting is good"),
        "Fig. 4: a negative sentence alone (first), then with 'but ...' clauses added")
    saliency: tuple[str, ...] = option(
        ("i hate the movie .", "i hate the movie i saw last night .",
         "i hate the movie though the plot is interesting ."), "Figs. 5-8: the saliency sentences")
    random_words: int = option(20, "Fig. 2: random vocabulary words added for reference", minimum=0)
    seed: int = option(1, "seed of the random words", minimum=0)

    def check(self, label) -> None:
        for name in ("intensification", "negation", "concessive", "clause_positive", "clause_negative", "saliency"):
            if any(not text.split() for text in getattr(self, name)):
                raise InputError(None, label(name), "an empty phrase")


@dataclasses.dataclass(frozen=True)
class InputOptimisationSettings(Settings):
    """What input optimisation targets and what every method shares (``input_optimisation`` in
    the config; Poerner et al. 2018, docs/poerner2018.md#schedules). Each method's own schedule is the
    section under it named after the method (:class:`CorpusSearchSettings`,
    :class:`GradientSettings`, :class:`GumbelSettings`)."""

    n: int = option(5, "tokens of the optimised input (the paper: 5, no start or end symbol)", minimum=1)
    draws: int = option(2, "seeded draws of units per readout (the authors: 2)", minimum=1)
    per_draw: int = option(80, "distinct units per draw (the authors: 80; fewer when a readout has fewer)", minimum=1)
    unit_seed: int = option(123, "seed of the unit draws (the authors: NumPy RandomState(123))", minimum=0)
    unit_limit: int = option(1024, "units are drawn from 0 .. unit_limit - 1 (the authors: 1024)", minimum=1)
    targets: tuple[str, ...] = option(("umbrella",), "named targets: words whose next-word logit is optimised as "
                                      "well, in every network with a vocabulary readout")
    layer: int = option(-1, "whose state the hidden units (target representation) are: -1 the network's sentence "
                        "representation (default); K the state of layer K (0 the bottom, -2 the one below the top) "
                        "after the last word read")
    hidden_per_draw: int = option(20, "distinct units of the network's sentence representation (its hidden units) "
                                  "per draw, target 'representation'; 0: none", minimum=0)
    seed: int = option(1, "seed of the initial values and the Gumbel noise", minimum=0)
    init: float = option(0.05, "free variables start uniform in +-init (the paper: 0.05)", positive=True)
    max_elements: int = option(1 << 24, "bounds the soft-input tensor of one forward chunk (rows x samples x n x "
                               "vocabulary): memory stays bounded", minimum=1)


@dataclasses.dataclass(frozen=True)
class CorpusSearchSettings(Settings):
    """``crp``: every distinct n-gram of the corpus scored (``input_optimisation.crp``)."""

    splits: tuple[str, ...] = option(("train", "val", "test"), "splits whose distinct n-grams are scored (the "
                                     "paper: train, val and test)", choices=("train", "val", "test"),
                                     unique=True)
    batch_size: int = option(4096, "n-grams per forward pass", minimum=1)
    chunk_sentences: int = option(65536, "sentences read per chunk while the n-grams are collected", minimum=1)


@dataclasses.dataclass(frozen=True)
class GradientSettings(Settings):
    """One gradient method's schedule (``input_optimisation.emb``, ``.logit``, ``.smx``). Adam
    maximises the unit; every ``steps`` steps the discretised n-gram is scored, and a unit stops
    after ``patience`` such epochs without a better one, or at ``max_epochs``."""

    learning_rate: float = option(1e-3, "Adam's learning rate (the authors: 1e-3)", positive=True)
    steps: int = option(200, "optimisation steps per epoch", minimum=1)
    patience: int = option(100, "epochs without a better discretised activation before a unit stops", minimum=1)
    max_epochs: int = option(1000, "epoch cap (the authors: 1000)", minimum=1)


@dataclasses.dataclass(frozen=True)
class GumbelSettings(GradientSettings):
    """``gbl`` (``input_optimisation.gbl``): the schedule plus the Gumbel softmax's noise and
    temperature."""

    samples: int = option(64, "Gumbel noise samples averaged per step (the authors: 64)", minimum=1)
    tau_start: float = option(2.0, "initial temperature (the authors: 2.0)", positive=True)
    tau_decay: float = option(0.99995, "temperature multiplied by this each step (the authors: 0.99995)",
                              positive=True, maximum=1.0)
    tau_min: float = option(0.1, "temperature floor (the authors: 0.1)", positive=True)


@dataclasses.dataclass(frozen=True)
class StepSaliencySettings(Settings):
    """``step_saliency``: saliency per decoding step of a sequence readout (Li et al. 2016, Fig. 9)."""

    split: str = option("val", "the split whose sentences are scored", choices=("train", "val", "test"))
    sample: int = option(200, "sentences scored, a seeded sample of the split (0: all); the alignment share is "
                            "measured on them", minimum=0)
    figure: int = option(3, "sentences of the figure, one panel each: drawn among those of the split's median "
                         "length (then the nearest lengths) unless figure_ids names them", minimum=1)
    figure_ids: tuple[int, ...] = option((), "sentence_ids of the figure's sentences (empty: drawn as above)",
                                        empty=True)
    seed: int = option(1, "seed of the sample and of the figure's sentences", minimum=0)
    batch_sentences: int = option(64, "sentences per batch: each decoding step is one backward pass over it",
                                  minimum=1)


@dataclasses.dataclass(frozen=True)
class AttributionSettings(Settings):
    """``attribution``: saliency, gradient x input and integrated gradients of every network's score."""

    split: str = option("val", "the split whose sentences are scored (the omission scores' split, so the two join)",
                        choices=("train", "val", "test"))
    sample: int = option(200, "sentences scored, a seeded sample of the split (0: all)", minimum=0)
    seed: int = option(1, "seed of the sample", minimum=0)
    ig_steps: int = option(50, "points of integrated gradients' integral (Captum's n_steps; its default: 50)",
                           minimum=1)
    ig_method: str = option("gausslegendre", "integral rule, as Captum's method argument",
                            choices=("gausslegendre", "riemann_left", "riemann_right", "riemann_middle",
                                     "riemann_trapezoid"))
    batch_sentences: int = option(64, "sentences per batch", minimum=1)
    batch_rows: int = option(512, "rows (sentences x integration points) per backward pass (bounds memory; on a "
                             "CPU, 512 was faster than 4096 for both a class and a vocabulary readout)",
                             minimum=1)

