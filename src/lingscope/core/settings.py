"""Settings objects: one frozen dataclass per stage is the single definition of its options.

From one class come
- the stage's command-line flags (:meth:`Settings.add_arguments`, :meth:`Settings.from_args`);
- the flags the workflow passes it, built from the matching section of ``config.yaml``
  (:meth:`Settings.from_config`, :meth:`Settings.argv`), so ``common.smk`` never spells a flag;
- the fingerprint of a training run (:meth:`Settings.as_dict` of every field), so no hand list
  of "the settings that matter" can fall out of step.

Field names are the config keys; the flag of ``chunk_tokens`` is ``--chunk-tokens``. A test
checks that ``config.yaml`` lists exactly these keys; ``workflow/schemas/config.schema.yaml`` is
generated from these classes (lingscope.core.config_schema).

This module is imported by the workflow at DAG time: it must stay free of torch, numpy and
polars, so that ``snakemake -n`` starts fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import shlex
import typing
from collections.abc import Mapping
from typing import Any, ClassVar

from lingscope.core.errors import InputError


def option(default: Any, help: str, *, choices: tuple | None = None, minimum: float | None = None,
           maximum: float | None = None, positive: bool = False, in_config: bool = True,
           empty: bool = False, pattern: str | None = None, unique: bool = False,
           length: int | None = None) -> Any:
    """A settings field: its default, its help text and the values it accepts.

    ``positive`` means strictly greater than 0 (for real numbers: learning rates, penalties).
    Tuples of numbers are checked element by element. A field with ``in_config=False`` is a
    command-line option only: the config section does not list it and it keeps its default. A
    tuple holds at least one value, and a string at least one character, unless ``empty``; the
    strings of a tuple are never empty. ``pattern`` is a regular expression every string must
    match whole; ``unique`` forbids repeated values in a tuple; ``length`` is the exact number of
    values of a tuple. The config schema (lingscope.core.config_schema) is generated from these.
    """
    if isinstance(default, (list, tuple)):
        default = tuple(default)
    return dataclasses.field(default=default, metadata=limits(
        help, choices=choices, minimum=minimum, maximum=maximum, positive=positive, in_config=in_config,
        empty=empty, pattern=pattern, unique=unique, length=length))


def limits(help: str, *, choices: tuple | None = None, minimum: float | None = None, maximum: float | None = None,
           positive: bool = False, in_config: bool = True, empty: bool = False, pattern: str | None = None,
           unique: bool = False, length: int | None = None) -> dict[str, Any]:
    """The metadata of an :func:`option`: its help text and the values it accepts."""
    return {"help": help, "choices": choices, "minimum": minimum, "maximum": maximum, "positive": positive,
            "in_config": in_config, "empty": empty, "pattern": pattern, "unique": unique, "length": length}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base of every settings class; subclasses are frozen dataclasses of :func:`option` fields.

    ``GROUPS`` nests fields in the config: ``{"keys": {"rnn": "key_rnn"}}`` reads the field
    ``key_rnn`` from ``keys: {rnn: ...}`` (the command line keeps the flat ``--key-rnn``)."""

    GROUPS: ClassVar[dict[str, dict[str, str]]] = {}

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
                kwargs.update(nargs="*" if meta.get("empty") else "+", type=typing.get_args(kind)[0])
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
    def from_config(cls, mapping: Mapping[str, Any], where: str, ignore: tuple[str, ...] = (),
                    defaults: bool = False) -> Settings:
        """The settings of one config section; an unknown or missing key, a wrong type or an
        out-of-range value is an :class:`InputError` naming ``where.key``. With ``defaults`` a
        missing key takes the field's default (a ``models.<name>`` entry need give only what
        differs)."""
        if not isinstance(mapping, Mapping):
            raise InputError(None, where, f"expected a mapping of settings, got {mapping!r}")
        mapping = cls._flatten(mapping, where, ignore)
        names = cls.flat_config_keys()
        unknown = sorted(set(mapping) - set(names) - set(ignore))
        if unknown:
            raise InputError(None, f"{where}.{unknown[0]}", f"unknown setting; expected one of {cls.config_keys()}")
        path = {field: f"{group}.{sub}" for group, subs in cls.GROUPS.items() for sub, field in subs.items()}
        missing = [n for n in names if n not in mapping]
        if missing and not defaults:
            raise InputError(None, f"{where}.{path.get(missing[0], missing[0])}", "missing setting")
        types = cls._types()
        values = {f.name: f.default for f in cls.fields()}
        for name in names:
            if name in mapping:
                values[name] = _coerce(mapping[name], types[name], f"{where}.{path.get(name, name)}")
        return cls._build(values, lambda n: f"{where}.{path.get(n, n)}")

    @classmethod
    def flat_config_keys(cls) -> list[str]:
        """The fields a config section sets (grouped ones included)."""
        return [f.name for f in cls.fields() if f.metadata["in_config"]]

    @classmethod
    def config_keys(cls) -> list[str]:
        """The keys of the config section these settings come from (a group is one key)."""
        grouped = {name for group in cls.GROUPS.values() for name in group.values()}
        return [name for name in cls.flat_config_keys() if name not in grouped] + list(cls.GROUPS)

    @classmethod
    def _flatten(cls, mapping: Mapping[str, Any], where: str, ignore: tuple[str, ...]) -> dict[str, Any]:
        """``mapping`` with each group's keys as the fields they name; an unknown key of a group,
        a group that is not a mapping or a grouped field given flat is an :class:`InputError`."""
        if not cls.GROUPS:
            return dict(mapping)
        grouped = {name for group in cls.GROUPS.values() for name in group.values()}
        out = {}
        for key, value in mapping.items():
            if key in cls.GROUPS:
                if not isinstance(value, Mapping):
                    raise InputError(None, f"{where}.{key}", f"expected a mapping with some of "
                                                             f"{list(cls.GROUPS[key])}, got {value!r}")
                for sub, item in value.items():
                    if sub not in cls.GROUPS[key]:
                        raise InputError(None, f"{where}.{key}.{sub}",
                                         f"unknown setting; expected one of {list(cls.GROUPS[key])}")
                    out[cls.GROUPS[key][sub]] = item
            elif key in grouped and key not in ignore:
                raise InputError(None, f"{where}.{key}", f"unknown setting; expected one of {cls.config_keys()}")
            else:
                out[key] = value
        return out

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
    if isinstance(value, tuple):
        if not value and not meta.get("empty"):
            raise InputError(None, label, "expected at least one value")
        if meta.get("length") is not None and len(value) != meta["length"]:
            raise InputError(None, label, f"expected {meta['length']} values, got {len(value)}")
        if meta.get("unique") and len(set(value)) < len(value):
            raise InputError(None, label, f"repeated values in {list(value)}")
    elif isinstance(value, str) and not value and not meta.get("empty"):
        raise InputError(None, label, "expected a non-empty string")
    for item in items:
        if isinstance(value, tuple) and isinstance(item, str) and not item:
            raise InputError(None, label, "an empty string among the values")
        if meta["choices"] and item not in meta["choices"]:
            raise InputError(None, label, f"must be one of {list(meta['choices'])}, got {item!r}")
        if meta.get("pattern") and isinstance(item, str) and not re.fullmatch(meta["pattern"], item):
            raise InputError(None, label, f"{item!r} does not match the pattern {meta['pattern']!r}")
        low, high = meta["minimum"], meta["maximum"]
        if low is not None and high is not None and not low <= item <= high:
            raise InputError(None, label, f"must lie in [{low:g}, {high:g}], got {item}")
        if low is not None and item < low:
            raise InputError(None, label, f"must be at least {low:g}, got {item}")
        if high is not None and item > high:
            raise InputError(None, label, f"must be at most {high:g}, got {item}")
        if meta["positive"] and not item > 0:
            raise InputError(None, label, f"must be positive, got {item}")


# --- settings every torch stage shares --------------------------------------------------------
# Each stage keeps its own settings classes beside its modules (``<stage>/settings.py``, torch-
# free), so that editing one stage's options reruns that stage only; a model family's settings
# live in its catalog entry (lingscope.core.catalog). Field names are the config keys.

@dataclasses.dataclass(frozen=True)
class Runtime(Settings):
    """Where a torch job runs (``training`` in the config). Not part of any result's identity."""

    device: str = option("auto", "auto (CUDA when present), cpu, cuda, cuda:1, ...",
                         pattern=r"auto|cpu|cuda(:[0-9]+)?")
    threads: int = option(1, "torch threads", minimum=1)


@dataclasses.dataclass(frozen=True)
class TrainingSettings(Settings):
    """Optimisation settings every model family shares; a family's settings add its architecture."""

    kind: str = option("", "model kind (lingscope.core.catalog)", empty=True)
    corpus: str = option("", "the corpus it trains on and is analysed on: a name under corpora: (empty: its kind's "
                         "corpus, coco for imaginet, sum and lm, sst for the sentiment kinds, wmt for the autoencoder)",
                         empty=True, pattern=r"([A-Za-z][A-Za-z0-9_]*)?")
    batch_size: int = option(64, "sentences per batch", minimum=1)
    learning_rate: float = option(1e-3, "learning rate of the optimiser", positive=True)
    grad_clip: float = option(5.0, "max gradient norm; 0 disables", minimum=0)
    max_epochs: int = option(10, "epochs at most", minimum=1)
    patience: int = option(2, "epochs without validation improvement before stopping", minimum=1)
    max_train_sentences: int = option(0, "use only the first N train sentences (0: all)", minimum=0)
    seed: int = option(1, "seed of the weights, the data order and every random draw")
    # Options a family opts into by redeclaring them with in_config=True (its config entries then
    # list them); the others train with these defaults.
    optimizer: str = option("adam", "adam, adagrad or sgd", choices=("adam", "adagrad", "sgd"), in_config=False)
    lr_decay_start: float = option(0.0, "epochs after which the learning rate is halved every lr_decay_every "
                                   "epochs; 0 keeps it constant", minimum=0, in_config=False)
    lr_decay_every: float = option(0.5, "epochs between two halvings of the learning rate", positive=True,
                                   in_config=False)
    l2: float = option(0.0, "L2 penalty: l2 * w is added to the gradient of every weight w (the optimiser's "
                       "weight_decay, the gradient of l2/2 * |w|^2); 0 disables", minimum=0, in_config=False)
    stop_on: str = option("loss", "early stopping and the kept epoch: the validation loss (lower is better) or the "
                          "accuracy of the class readouts (higher is better)", choices=("loss", "accuracy"),
                          in_config=False)
    examples: str = option("sentences", "train examples: whole sentences, or every labelled phrase of the train "
                           "trees (needs a phrases table)", choices=("sentences", "phrases"), in_config=False)
