"""The config schema, generated: each option of ``config.yaml`` is defined once, in Python.

``workflow/schemas/config.schema.yaml`` is written by this module, never by hand::

    python -m lingscope.core.config_schema --write   # after changing an option
    python -m lingscope.core.config_schema --check   # exits 1 when the file is out of date

Where each option is defined:

- :data:`SECTIONS` maps a config section (a dotted path) to the settings class whose fields are
  its keys (:mod:`lingscope.core.settings`): type, help text (the schema's ``description``),
  choices and range all come from the field. The workflow builds a stage's flags from the same
  table (:func:`settings`), so the schema and the command lines cannot disagree.
- ``models.<name>`` entries: one ``if``/``then`` per settings class of the catalog's kinds
  (:data:`lingscope.core.catalog.KINDS`).
- :data:`KEYS`: the keys no stage takes as flags (where the corpora are, which splits to parse,
  which networks to optimise, the GPUs a job asks for). The workflow reads them to plan the DAG.
  They are declared here with the same vocabulary as a settings field (:func:`key`), rather than
  as settings classes beside their stages, because no command line parses them (a settings
  class would make flags nobody reads) and several have shapes a settings field has not: a path
  or null, ``all`` or a list, a mapping of optional keys.

The core layer may not import a stage (``tests/test_layout.py``), so :data:`SECTIONS` names each
class by ``module:Class``, as the catalog names each family's module; the settings modules are
torch-free, so resolving them keeps ``snakemake -n`` fast. This module reads no config file.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import importlib
import re
import sys
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from lingscope.core import catalog
from lingscope.core.errors import run_cli
from lingscope.core.settings import Settings, limits

REPO = Path(__file__).resolve().parents[3]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
COMMAND = "python -m lingscope.core.config_schema --write"

CORPORA = ("coco", "sst", "wmt")
SPLITS = ("train", "val", "test")

# Config section -> the settings class whose fields are its keys. A section may hold further
# sections and KEYS besides (``analysis`` holds ``analysis.ridge``); :func:`settings` leaves those out.
SECTIONS: dict[str, str] = {
    "corpora.coco.synthetic": "lingscope.synth.settings:CocoSynthetic",
    "corpora.coco.synthetic.weights": "lingscope.synth.settings:PlantedWeights",
    "corpora.sst.synthetic": "lingscope.synth.settings:SyntheticSizes",
    "corpora.wmt.synthetic": "lingscope.synth.settings:SyntheticSizes",
    **{f"vocab.{corpus}": "lingscope.data.settings:VocabSettings" for corpus in CORPORA},
    "parse.spacy": "lingscope.parse.settings:SpacySettings",  # parse.<backend>: parse.backend's choices
    "parse.stanza": "lingscope.parse.settings:StanzaSettings",
    "training": "lingscope.core.settings:Runtime",
    # A method's section is named after it, its class given by its catalog entry.
    **{m.name: m.settings for m in catalog.METHODS.values() if m.settings},
    "agreement": "lingscope.analysis.settings:AgreementSettings",
    "autoencoder_figures": "lingscope.analysis.settings:AutoencoderFigureSettings",
    # input_optimisation.<method>: one per method, also the choices of other_methods
    "input_optimisation.crp": "lingscope.methods.settings:CorpusSearchSettings",
    "input_optimisation.emb": "lingscope.methods.settings:GradientSettings",
    "input_optimisation.logit": "lingscope.methods.settings:GradientSettings",
    "input_optimisation.smx": "lingscope.methods.settings:GradientSettings",
    "input_optimisation.gbl": "lingscope.methods.settings:GumbelSettings",
    "poerner_figures": "lingscope.analysis.settings:PoernerTableSettings",
    "li_figures.examples": "lingscope.methods.settings:SentimentExamples",
    "li_figures.tsne": "lingscope.analysis.settings:TsneSettings",
    "analysis": "lingscope.analysis.settings:DistributionSettings",
    "analysis.ridge": "lingscope.analysis.settings:RidgeSettings",
    "analysis.examples": "lingscope.methods.settings:ExampleSettings",
    "analysis.checks": "lingscope.analysis.settings:CheckSettings",
    "analysis.fig5": "lingscope.analysis.settings:OmissionWordSettings",
    "units.top_contexts": "lingscope.analysis.settings:TopContextSettings",
    "units.figures": "lingscope.analysis.settings:UnitFigureSettings",
    "units.probe": "lingscope.analysis.settings:ProbeSettings",
    "units.mutual_information": "lingscope.analysis.settings:MutualInformationSettings",
}


@dataclasses.dataclass(frozen=True)
class Key:
    """One config key outside the settings classes (see :func:`key`)."""

    kind: Any  # int, float, str, bool or tuple[X, ...], as a settings field's annotation
    meta: Mapping[str, Any]  # as a settings field's metadata (lingscope.core.settings.limits)
    required: bool = True
    nullable: bool = False  # null is allowed too
    alternatives: tuple[str, ...] = ()  # words allowed instead of the value (``all``)


def key(kind: Any, help: str, *, required: bool = True, nullable: bool = False, alternatives: tuple[str, ...] = (),
        **accepts: Any) -> Key:
    """A config key in the vocabulary of a settings field: its type, help text and ``accepts``, the
    limits of :func:`lingscope.core.settings.option` (choices, minimum, positive, empty, ...)."""
    return Key(kind, limits(help, **accepts), required, nullable, alternatives)


def subsections(section: str) -> tuple[str, ...]:
    """The names of the sections SECTIONS lists right under ``section``: ``subsections("parse")``
    is the parse backends, ``subsections("input_optimisation")`` the input optimisation methods."""
    prefix = section + "."
    return tuple(p[len(prefix):] for p in SECTIONS if p.startswith(prefix) and "." not in p[len(prefix):])


_PATH = "a file or folder; relative paths are taken from the directory snakemake runs in"
_NETWORKS = "display names (lingscope.core.catalog: Visual, Textual, LM, ...)"

# Config keys that no stage takes as flags; the workflow reads them to plan the DAG.
KEYS: dict[str, Key] = {
    "results": key(str, "folder that receives every output (tables, logs, figures); " + _PATH),
    "synthetic_scale": key(float, "multiplies every synthetic corpus size (corpora.<corpus>.synthetic.n_*)",
                           positive=True),
    "corpora.coco.source": key(str, "synthetic: the embedded corpus; karpathy: Karpathy's dataset_coco.json with "
                               ".npy or .mat features; official: the official captions files with an .npz of "
                               "features", choices=("synthetic", "karpathy", "official")),
    "corpora.coco.keep_restval": key(bool, "keep Karpathy's restval images (and the rest of a carved val file) as "
                                     "their own split instead of adding them to train"),
    "corpora.coco.feature_dim": key(int, "the image features' dimension; ingest fails on any other (0 accepts any)",
                                    minimum=0),
    "corpora.coco.karpathy.dataset": key(str, "Karpathy's split file, dataset_coco.json"),
    "corpora.coco.karpathy.features": key(str, "image features: .mat (d x N, variable feats) or .npy (N x d)"),
    **{f"corpora.coco.official.captions.{split}": key(
        str, f"the official captions file read as {split} (null drops the split)", required=False, nullable=True)
       for split in SPLITS},
    "corpora.coco.official.features": key(str, ".npz with the arrays image_ids (N) and features (N x d)"),
    "corpora.coco.official.carve.val": key(int, "images drawn (seeded) out of the val file into val; the rest of "
                                           "that file is restval", minimum=0),
    "corpora.coco.official.carve.test": key(int, "images drawn (seeded) out of the val file into test", minimum=0),
    "corpora.coco.official.carve.seed": key(int, "seed of the carve", minimum=0),
    "corpora.sst.source": key(str, "synthetic: the embedded treebank; ptb: the Stanford Sentiment Treebank's "
                              "PTB-format trees", choices=("synthetic", "ptb")),
    "corpora.sst.ptb.trees_dir": key(str, "the folder of train.txt, dev.txt and test.txt"),
    "corpora.wmt.source": key(str, "synthetic: the embedded news-like English; text: WMT monolingual files",
                              choices=("synthetic", "text")),
    **{f"corpora.wmt.text.{split}": key(str, f"the {split} file, one sentence per line, plain or gzipped")
       for split in SPLITS},
    "corpora.wmt.text.max_lines": key(int, "train lines read at most (0: all)", minimum=0),
    "parse.backend": key(str, "the parser: spacy (ClearNLP/Stanford labels) or stanza (UD labels); its settings "
                         "are parse.<backend>", choices=subsections("parse")),
    "parse.shards": key(int, "shards per corpus split, each parsed by its own job", minimum=1),
    **{f"parse.splits.{corpus}": key(tuple[str, ...], f"the splits of {corpus} to parse", choices=SPLITS,
                                     unique=True, empty=True)
       for corpus in CORPORA},
    "training.gpus": key(int, "GPUs each training, evaluation, dump and omission job asks the scheduler for",
                         minimum=0),
    "input_optimisation.networks": key(tuple[str, ...], "the networks of Poerner et al.'s Fig. 1 and Table 1: "
                                       + _NETWORKS, unique=True, empty=True),
    "input_optimisation.other_networks": key(tuple[str, ...], "networks optimised beyond the paper's, with "
                                             "other_methods only: all (every network that networks does not "
                                             "name) or " + _NETWORKS, unique=True, empty=True,
                                             alternatives=("all",)),
    "input_optimisation.other_methods": key(tuple[str, ...], "the methods other_networks get",
                                            choices=subsections("input_optimisation"), unique=True, empty=True),
    "units.probe.networks": key(tuple[str, ...], "whose states the probe reads: all (every network whose "
                                "analysis split is parsed) or " + _NETWORKS, unique=True, alternatives=("all",)),
}


# --- the table, for the workflow --------------------------------------------------------------


def settings_class(section: str) -> type[Settings]:
    """The settings class of config section ``section`` (a dotted path of :data:`SECTIONS`)."""
    module, _, name = SECTIONS[section].partition(":")
    return getattr(importlib.import_module(module), name)


def ignored(section: str) -> tuple[str, ...]:
    """The keys of ``section`` that are not its settings class's: its sub-sections and KEYS."""
    prefix = section + "."
    below = [p[len(prefix):].split(".")[0] for p in (*SECTIONS, *KEYS) if p.startswith(prefix)]
    return tuple(dict.fromkeys(below))


def settings(section: str, mapping: Mapping[str, Any]) -> Settings:
    """The settings of config section ``section`` read from ``mapping`` (that section of the config),
    checked; an error names ``section.key``. ``settings("analysis.ridge", config["analysis"]["ridge"])``."""
    return settings_class(section).from_config(mapping, section, ignored(section))


# --- generating the schema ---------------------------------------------------------------------


def _number(value: float) -> float | int:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _value(kind: Any, meta: Mapping[str, Any], describe: bool = True) -> dict[str, Any]:
    """The JSON Schema of one value, from a settings field's annotation and metadata."""
    out: dict[str, Any] = {"description": meta["help"]} if describe else {}
    if typing.get_origin(kind) is tuple:
        out["type"] = "array"
        if not meta.get("empty"):
            out["minItems"] = 1
        if meta.get("length") is not None:
            out["minItems"] = out["maxItems"] = meta["length"]
        if meta.get("unique"):
            out["uniqueItems"] = True
        out["items"] = _value(typing.get_args(kind)[0], {**meta, "empty": False}, describe=False)
    elif meta.get("choices"):
        out["enum"] = list(meta["choices"])
    else:
        out["type"] = {bool: "boolean", int: "integer", float: "number", str: "string"}[kind]
        if kind is str and meta.get("pattern"):
            out["pattern"] = f"^({meta['pattern']})$"
        elif kind is str and not meta.get("empty"):
            out["minLength"] = 1
        if kind in (int, float):
            if meta.get("minimum") is not None:
                out["minimum"] = _number(meta["minimum"])
            if meta.get("positive"):
                out["exclusiveMinimum"] = 0
            if meta.get("maximum") is not None:
                out["maximum"] = _number(meta["maximum"])
    return out


def _key(entry: Key) -> dict[str, Any]:
    out = _value(entry.kind, entry.meta, describe=not entry.alternatives)
    if entry.nullable:
        out["type"] = [out["type"], "null"]
    if entry.alternatives:
        # if/then/else rather than oneOf: an error then comes from the branch the value meant
        out = {"description": entry.meta["help"], "if": {"type": "string"},
               "then": {"enum": list(entry.alternatives)}, "else": out}
    return out


def _docstring(cls: type) -> str:
    return " ".join((cls.__doc__ or "").split("\n\n")[0].split())


def _def_name(cls: type) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


def _object(cls: type[Settings] | None, children: dict[str, Any], required: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if cls is not None:
        out["description"] = _docstring(cls)
    properties: dict[str, Any] = {}
    if cls is not None:
        types = typing.get_type_hints(cls)
        groups = {f: (g, sub) for g, subs in cls.GROUPS.items() for sub, f in subs.items()}
        for field in cls.fields():
            if not field.metadata["in_config"]:
                continue
            value = _value(types[field.name], field.metadata)
            if field.name in groups:  # a key of a nested mapping (Settings.GROUPS)
                group, sub = groups[field.name]
                if group not in properties:
                    properties[group] = {"type": "object", "additionalProperties": False, "properties": {}}
                    required = [*required, group]
                properties[group]["properties"][sub] = value
                properties[group].setdefault("required", []).append(sub)
            else:
                properties[field.name] = value
                required = [*required, field.name]
    properties |= children
    order = list(properties)
    out |= {"type": "object", "additionalProperties": False}
    if required:
        out["required"] = sorted(required, key=order.index)
    out["properties"] = properties
    return out


class _Tree:
    """The config's nested sections, built from the dotted paths of SECTIONS and KEYS."""

    def __init__(self) -> None:
        self.cls: type[Settings] | None = None
        self.nodes: dict[str, _Tree | Key] = {}

    def at(self, path: list[str]) -> _Tree:
        node = self
        for part in path:
            node = node.nodes.setdefault(part, _Tree())  # type: ignore[assignment]
        return node


def _models(defs: dict[str, Any]) -> dict[str, Any]:
    """``models``: the per-kind entries, one if/then per settings class of the catalog's kinds."""
    by_class: dict[type, list[str]] = {}
    for name, entry in catalog.KINDS.items():
        by_class.setdefault(entry.settings, []).append(name)
    branches = []
    for cls, kinds in by_class.items():
        entry = _object(cls, {}, [])
        # Every key but kind may be left out: it takes the field's default (catalog.check_models).
        entry["required"] = ["kind"]
        for group in cls.GROUPS:  # and every key of a nested mapping
            entry["properties"][group].pop("required", None)
        defs[_def_name(cls)] = entry
        test = {"const": kinds[0]} if len(kinds) == 1 else {"enum": kinds}
        branches.append({"if": {"required": ["kind"], "properties": {"kind": test}},
                         "then": {"$ref": f"#/$defs/{_def_name(cls)}"}})
    defs["model_entry"] = {
        "description": "One models.<name> entry. Its kind (lingscope.core.catalog) decides its networks and its "
                       "settings class, whose fields are the entry's keys.",
        "type": "object", "required": ["kind"],
        "properties": {"kind": {"enum": list(catalog.KINDS)}}, "allOf": branches}
    return {
        "description": "One entry per model, each trained by its own job; the kind of each comes from the catalog. "
                       "An entry named after a kind must be of that kind. An entry set to null is dropped (a "
                       "--configfile can drop one of config.yaml's models this way, with everything that "
                       "analyses it).",
        "type": "object", "minProperties": 1,
        "additionalProperties": {"if": {"type": "null"}, "else": {"$ref": "#/$defs/model_entry"}}}


def schema() -> dict[str, Any]:
    """The config schema, as a mapping (what :func:`text` writes)."""
    tree = _Tree()
    for path, entry in KEYS.items():
        *parent, name = path.split(".")
        tree.at(parent).nodes[name] = entry
    for path in SECTIONS:
        tree.at(path.split(".")).cls = settings_class(path)
    uses: dict[type, int] = {}
    for path in SECTIONS:
        uses[settings_class(path)] = uses.get(settings_class(path), 0) + 1
    defs: dict[str, Any] = {}

    def build(node: _Tree) -> dict[str, Any]:
        if node.cls is not None and not node.nodes and uses[node.cls] > 1:
            defs.setdefault(_def_name(node.cls), _object(node.cls, {}, []))
            return {"$ref": f"#/$defs/{_def_name(node.cls)}"}
        children = {n: _key(c) if isinstance(c, Key) else build(c) for n, c in node.nodes.items()}
        required = [n for n, c in node.nodes.items() if not isinstance(c, Key) or c.required]
        return _object(node.cls, children, required)

    top = build(tree)
    top["properties"]["models"] = _models(defs)
    _open_to_user_corpora(top["properties"], defs)
    top["properties"] = dict(sorted(top["properties"].items()))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "lingscope configuration",
        "description": "The keys of config.yaml; unknown keys are errors so a typo cannot pass silently.",
        "type": "object", "additionalProperties": False, "required": list(top["properties"]),
        "properties": top["properties"],
        "$defs": dict(sorted(defs.items())),
    }


def _open_to_user_corpora(properties: dict[str, Any], defs: dict[str, Any]) -> None:
    """``corpora``, ``vocab`` and ``parse.splits`` take entries under names the user picks: a
    corpus of the user's own (lingscope.core.corpora), its vocabulary and its parsed splits."""
    from lingscope.core import corpora

    text = {"type": "string", "minLength": 1}
    split = {"type": "object", "additionalProperties": False, "properties": {
        "val": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "test": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "seed": {"type": "integer", "minimum": 0}}}
    files = {"type": "object", "additionalProperties": False, "required": list(corpora.SPLITS),
             "properties": {s: text for s in corpora.SPLITS}}
    values = {"format": {"enum": list(corpora.FORMATS)}, "path": text, "files": files, "text": text, "label": text,
              "split": split, "tokenize": {"enum": list(corpora.TOKENIZERS)}}
    defs["user_corpus"] = {
        "description": "A corpus of your own (docs/data.md#your-own-corpus), under a name you pick: labelled "
                       "sentences or running text in plain files.",
        "type": "object", "additionalProperties": False, "required": ["format"],
        "properties": {k: {"description": corpora.KEYS[k], **v} for k, v in values.items()},
        "oneOf": [{"required": ["path"]}, {"required": ["files"]}]}
    name = {"pattern": f"^{corpora.NAME_PATTERN}$"}
    properties["corpora"]["propertyNames"] = name
    properties["corpora"]["additionalProperties"] = {"if": {"type": "null"}, "else": {"$ref": "#/$defs/user_corpus"}}
    properties["vocab"]["propertyNames"] = name
    # A corpus of the user's own may give part of its vocabulary's settings: the rest are defaults.
    defs["user_vocab_settings"] = {k: v for k, v in defs["vocab_settings"].items() if k != "required"}
    properties["vocab"]["additionalProperties"] = {"$ref": "#/$defs/user_vocab_settings"}
    splits = properties["parse"]["properties"]["splits"]
    first = next(iter(splits["properties"].values()))
    splits["propertyNames"] = name
    splits["additionalProperties"] = first


class _Dumper(yaml.SafeDumper):
    """Block style, but one line for a schema without description or nested mappings (``items``)."""


def _mapping(dumper: yaml.SafeDumper, data: dict) -> yaml.Node:
    flow = "description" not in data and not any(
        isinstance(v, dict) or isinstance(v, list) and any(isinstance(i, dict) for i in v) for v in data.values())
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


def _sequence(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = not any(isinstance(i, dict) for i in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(dict, _mapping)
_Dumper.add_representer(list, _sequence)

HEADER = f"""\
# GENERATED from the settings classes by lingscope.core.config_schema; do not edit.
# After changing an option, regenerate it with: {COMMAND}
"""


def text() -> str:
    """The schema file's text."""
    return HEADER + yaml.dump(schema(), Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)


def stale(path: Path = SCHEMA) -> str | None:
    """Why the schema file at ``path`` differs from what the classes generate (None if it does not)."""
    expected = text()
    actual = path.read_text(encoding="utf-8") if path.exists() else ""
    if actual == expected:
        return None
    diff = difflib.unified_diff(actual.splitlines(), expected.splitlines(), str(path), "generated", lineterm="", n=1)
    shown = list(diff)[:40]
    return f"{path} is out of date with the settings classes; regenerate it with: {COMMAND}\n" + "\n".join(shown)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate the config schema from the settings classes.")
    what = ap.add_mutually_exclusive_group()
    what.add_argument("--write", action="store_true", help=f"write {SCHEMA.relative_to(REPO)}")
    what.add_argument("--check", action="store_true", help="exit 1 when the file differs from what is generated")
    args = ap.parse_args(argv)
    if args.write:
        SCHEMA.write_text(text(), encoding="utf-8")
        print(f"lingscope: wrote {SCHEMA.relative_to(REPO)}")
    elif args.check:
        problem = stale()
        if problem:
            print(problem, file=sys.stderr)
            return 1
        print(f"lingscope: {SCHEMA.relative_to(REPO)} is up to date")
    else:
        sys.stdout.write(text())
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
