"""The config schema is generated from the settings classes (lingscope.core.config_schema): the
committed file matches them, it accepts every config the project ships or the tests write, and it
rejects a typo, a wrong type, an out-of-range value and a bad choice, naming the key; and each limit
of each field is enforced alike by the schema and by the settings class (the flags of a job)."""

from __future__ import annotations

import copy
import functools
import re
import subprocess
import sys
import typing

import pytest
import yaml
from snakemake.utils import update_config

import slurm_workflow
import workflow_runs
from lingscope.core import catalog, config_schema
from lingscope.core.config import problems
from lingscope.core.errors import InputError

REPO = workflow_runs.REPO


@pytest.fixture(scope="module")
def schema() -> dict:
    return config_schema.schema()


@functools.cache
def _default_config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def default_config() -> dict:
    """A fresh copy of config.yaml (read once: the YAML loader takes most of a check's time)."""
    return copy.deepcopy(_default_config())


def merged(path) -> dict:
    """A --configfile merged over config.yaml, as Snakemake merges it."""
    config = default_config()
    update_config(config, yaml.safe_load(path.read_text()) or {})
    return config


def test_the_committed_schema_is_what_the_settings_classes_generate():
    problem = config_schema.stale()
    assert problem is None, problem
    proc = subprocess.run([sys.executable, "-m", "lingscope.core.config_schema", "--check"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_a_stale_schema_says_how_to_regenerate_it(tmp_path):
    old = tmp_path / "config.schema.yaml"
    old.write_text(config_schema.text().replace("minimum: 1\n", "minimum: 2\n", 1))
    problem = config_schema.stale(old)
    assert problem is not None and "python -m lingscope.core.config_schema --write" in problem
    assert any(line.startswith("-") and line.endswith("minimum: 2") for line in problem.splitlines())


def shipped_configs() -> list[tuple[str, dict]]:
    configs = [("config.yaml", default_config())]
    for path in sorted((REPO / "workflow" / "configs").glob("*.yaml")) + sorted(REPO.glob("tests/**/*.yaml")):
        configs.append((str(path.relative_to(REPO)), merged(path)))
    # the SLURM test's run: slurm.yaml over tiny.yaml over config.yaml, as its --configfile lists them
    configs.append(("tiny.yaml + slurm.yaml", workflow_runs.merged(workflow_runs.tiny_config(),
                                                                   workflow_runs.read_yaml(slurm_workflow.SLURM))))
    return configs


@pytest.mark.parametrize(("name", "config"), shipped_configs(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_shipped_config_is_valid(schema, name, config):
    assert problems(config, schema) == [], name


def test_user_configs_of_the_data_tests_are_valid(schema):
    """What tests/test_user_data.py writes: official captions with a split dropped, Karpathy files."""
    config = default_config()
    update_config(config, {"corpora": {"coco": {"source": "official", "official": {
        "captions": {"val": "captions_val2014.json", "train": None}, "features": "features.npz",
        "carve": {"val": 1, "test": 1, "seed": 3}}}}})
    assert problems(config, schema) == []
    config = default_config()
    update_config(config, {"corpora": {"coco": {"source": "karpathy", "feature_dim": 8, "karpathy": {
        "dataset": "dataset_coco.json", "features": "feats.npy"}}},
        "models": {"sum": None, "lm": None}, "parse": {"splits": {"sst": [], "wmt": []}},
        "input_optimisation": {"networks": [], "other_networks": []}})
    assert problems(config, schema) == []


def bad(schema, edit) -> list[str]:
    config = default_config()
    edit(config)
    return problems(config, schema)


def test_an_unknown_key_is_named_with_a_suggestion(schema):
    def edit(config):
        config["omission"]["chunk_token"] = 10
    assert bad(schema, edit) == [
        "omission.chunk_token: unknown key; did you mean 'chunk_tokens'? Allowed here: batch_rows, chunk_tokens"]

    def edit_model(config):
        config["models"]["bilstm"]["layers"] = 2  # a key of another kind's settings
    found = bad(schema, edit_model)
    assert len(found) == 1 and found[0].startswith("models.bilstm.layers: unknown key")


def test_a_wrong_type_is_named(schema):
    def edit(config):
        config["activations"]["gates"] = "yes"
        config["units"]["probe"]["c_grid"] = 0.1
    assert bad(schema, edit) == ["activations.gates: expected boolean, got 'yes' (str)",
                                 "units.probe.c_grid: expected array, got 0.1 (float)"]


def test_an_out_of_range_value_is_named(schema):
    def edit(config):
        config["units"]["mutual_information"]["bootstrap"] = 10
        config["models"]["imaginet"]["alpha"] = 1.5
        config["synthetic_scale"] = 0
        config["analysis"]["ridge"]["alphas"] = [1.0, -2.0]
    assert bad(schema, edit) == [
        "analysis.ridge.alphas.1: -2.0 is not allowed; expected a number > 0",
        "models.imaginet.alpha: 1.5 is not allowed; expected a number <= 1",
        "synthetic_scale: 0 is not allowed; expected a number > 0",
        "units.mutual_information.bootstrap: 10 is not allowed; expected a number >= 100",
    ]


def test_a_bad_choice_is_named_with_the_allowed_values(schema):
    def edit(config):
        config["attribution"]["ig_method"] = "riemann"
        config["parse"]["backend"] = "udpipe"
        config["input_optimisation"]["other_methods"] = ["gbl", "grad"]
        config["models"]["autoencoder"]["optimizer"] = "rmsprop"
    assert bad(schema, edit) == [
        "attribution.ig_method: 'riemann' is not allowed; allowed: gausslegendre, riemann_left, riemann_right, "
        "riemann_middle, riemann_trapezoid",
        "input_optimisation.other_methods.1: 'grad' is not allowed; allowed: crp, emb, logit, smx, gbl",
        "models.autoencoder.optimizer: 'rmsprop' is not allowed; allowed: adam, adagrad, sgd",
        "parse.backend: 'udpipe' is not allowed; allowed: spacy, stanza",
    ]


def test_lengths_patterns_repeats_and_empty_strings(schema):
    """The limits a settings field declares beyond type and range, in the schema and in the class."""
    def edit(config):
        config["li_figures"]["examples"]["concessive"] = ["a .", "b .", "c ."]
        config["li_figures"]["examples"]["negation"] = ["not bad", ""]
        config["li_figures"]["examples"]["saliency"] = ["a .", "b .", "c .", "d ."]  # no limit on the number
        config["training"]["device"] = "gpu"
        config["input_optimisation"]["crp"]["splits"] = ["val", "val"]
        config["parse"]["spacy"]["model"] = ""
        config["units"]["probe"]["networks"] = []
        config["input_optimisation"]["other_networks"] = "every"
    assert bad(schema, edit) == [
        "input_optimisation.crp.splits: ['val', 'val'] has repeated items",
        "input_optimisation.other_networks: 'every' is not allowed; allowed: all",
        "li_figures.examples.concessive: ['a .', 'b .', 'c .'] is too long (at most 2 expected)",
        "li_figures.examples.negation.1: '' is too short (at least 1 expected)",
        "parse.spacy.model: '' is too short (at least 1 expected)",
        "training.device: 'gpu' does not match the pattern '^(auto|cpu|cuda(:[0-9]+)?)$'",
        "units.probe.networks: [] is too short (at least 1 expected)",
    ]
    config = default_config()  # the settings classes check the same limits
    for section, key, value, message in [
        ("li_figures.examples", "concessive", ["i hate it ."], "expected 2 values, got 1"),
        ("training", "device", "gpu", "does not match the pattern"),
        ("input_optimisation.crp", "splits", ["val", "val"], "repeated values"),
        ("parse.spacy", "model", "", "expected a non-empty string"),
    ]:
        mapping = dict(section_of(config, section), **{key: value})
        with pytest.raises(InputError, match=rf"{section}\.{key}: .*{message}"):
            config_schema.settings(section, mapping)


def section_of(config: dict, section: str) -> dict:
    for part in section.split("."):
        config = config[part]
    return config


def test_model_entries_follow_the_catalog(schema):
    defs = schema["$defs"]
    assert defs["model_entry"]["properties"]["kind"]["enum"] == list(catalog.KINDS)
    for name, kind in catalog.KINDS.items():
        branch = [b for b in defs["model_entry"]["allOf"]
                  if name in b["if"]["properties"]["kind"].get("enum", [b["if"]["properties"]["kind"].get("const")])]
        assert len(branch) == 1, name
        entry = defs[branch[0]["then"]["$ref"].split("/")[-1]]
        assert list(entry["properties"]) == kind.settings.config_keys()
        assert set(entry["properties"]["kind"]["enum"]) >= {name}
    config = default_config()
    config["models"]["extra"] = {**config["models"]["lstm"], "kind": "lstm", "alpha": 0.5}
    config["models"]["sum"] = None  # dropped
    assert problems(config, schema) == ["models.extra.alpha: unknown key Allowed here: " + ", ".join(
        sorted(catalog.settings_of("lstm").config_keys()))]


def test_the_table_gives_the_workflow_each_sections_settings():
    config = default_config()
    assert config_schema.ignored("analysis") == ("ridge", "examples", "checks", "fig5")
    assert config_schema.ignored("training") == ("gpus",)
    assert set(config_schema.ignored("input_optimisation")) == {
        "networks", "other_networks", "other_methods", "crp", "emb", "logit", "smx", "gbl"}
    ridge = config_schema.settings("analysis.ridge", config["analysis"]["ridge"])
    assert ridge.folds == config["analysis"]["ridge"]["folds"]
    section = config["corpora"]["coco"]["synthetic"]
    assert config_schema.settings("corpora.coco.synthetic", section).command_line().startswith("--seed 2017 ")
    assert config_schema.settings("corpora.coco.synthetic.weights", section["weights"]).as_dict() == section["weights"]
    assert config_schema.subsections("parse") == ("spacy", "stanza")
    assert config_schema.subsections("input_optimisation") == ("crp", "emb", "logit", "smx", "gbl")


def test_generation_reads_no_config_and_stays_torch_free():
    code = ("import sys; from lingscope.core import config_schema; config_schema.text(); "
            "print(sorted(m for m in ('torch', 'numpy', 'polars') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def violations(cls):
    """(field, a value that breaks one of its limits) for every limit of every config field of ``cls``."""
    types = typing.get_type_hints(cls)
    for field in cls.fields():
        meta, kind = field.metadata, types[field.name]
        if not meta["in_config"]:
            continue
        many = typing.get_origin(kind) is tuple
        item = typing.get_args(kind)[0] if many else kind
        step = 1 if item is int else 0.5
        values = []
        if meta["choices"]:
            values.append("no-such-choice")
        if meta["minimum"] is not None:
            values.append(meta["minimum"] - step)
        if meta["maximum"] is not None:
            values.append(meta["maximum"] + step)
        if meta["positive"]:
            values.append(0)
        for value in values:
            yield field.name, [value] if many else value


@pytest.mark.parametrize("section", list(config_schema.SECTIONS))
def test_schema_and_settings_reject_the_same_values(schema, section):
    """Each limit of each field: the schema names the key, and so does the settings class."""
    cls = config_schema.settings_class(section)
    cases = list(violations(cls))
    for name, value in cases:
        config = default_config()
        section_of(config, section)[name] = value
        found = problems(config, schema)
        assert len(found) == 1 and found[0].startswith(f"{section}.{name}"), (name, value, found)
        with pytest.raises(InputError, match=rf"^{re.escape(section)}\.{name}: "):
            config_schema.settings(section, section_of(config, section))


# An entry of each kind config.yaml has none of.
SAMPLE_ENTRIES = {"pretrained": {"kind": "pretrained", "corpus": "coco", "checkpoint": "lm.pt",
                                 "vocabulary": "vocab.txt"},
                  "custom": {"kind": "custom", "corpus": "coco", "module": "my_family"}}


def test_model_settings_and_schema_reject_the_same_values(schema):
    for name, kind in catalog.KINDS.items():
        groups = {f: (g, sub) for g, subs in kind.settings.GROUPS.items() for sub, f in subs.items()}
        for field, value in violations(kind.settings):
            if field == "kind":
                continue  # the kind picks the branch: tested above
            config = default_config()
            entry = config["models"].setdefault(name, copy.deepcopy(SAMPLE_ENTRIES.get(name)))
            key = field
            if field in groups:  # a key of a nested mapping (architecture: {cell: ...})
                group, sub = groups[field]
                entry.setdefault(group, {})[sub] = value
                key = f"{group}.{sub}"
            else:
                entry[field] = value
            found = problems(config, schema)
            assert len(found) == 1 and found[0].startswith(f"models.{name}.{key}"), (name, field, found)
            with pytest.raises(InputError, match=rf"^models\.{name}\.{re.escape(key)}: "):
                catalog.check_models({name: entry})
