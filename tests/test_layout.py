"""The architecture, checked statically: layers, the method folder's ignorance of families, rule
names, and config.yaml against the settings objects and the catalog."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import yaml

from lingscope.core import catalog, config_schema, settings
from workflow_runs import rule_blocks

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "lingscope"

# What each folder of the package may import besides itself (the layers of STYLE.md): a stage
# never imports a stage beside or above it; shared helpers live in core/ or encoding/.
ALLOWED = {
    "core": set(),
    "encoding": {"core"},
    "synth": {"core"},
    "data": {"core", "encoding"},
    "parse": {"core"},
    "models": {"core", "encoding"},
    "training": {"core", "encoding", "models"},
    "methods": {"core", "encoding", "models"},
    "analysis": {"core"},
}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return {n for n in names if n.split(".")[0] == "lingscope"}


def test_no_module_imports_a_stage_beside_or_above_it():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(ALLOWED), "a new folder needs its place in the layers"
    assert {p.name for p in PACKAGE.glob("*.py")} == {"__init__.py"}, "stage modules live in their folders"
    for folder, allowed in ALLOWED.items():
        for path in (PACKAGE / folder).rglob("*.py"):
            for name in _imports(path):
                parts = name.split(".")
                target = parts[1] if len(parts) > 1 else None
                assert target in allowed | {folder}, f"{path.relative_to(REPO)} imports {name}"


PAPERS = ("kadar2017", "li2016", "poerner2018")


def test_analyses_are_grouped_by_paper_and_a_paper_imports_no_other():
    """analysis/ holds one folder per paper and one for what spans them, beside the shared
    modules; a paper's folder reads the shared modules and core, never another paper's."""
    analysis = PACKAGE / "analysis"
    folders = {p.name for p in analysis.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == {*PAPERS, "across_papers"}
    assert {p.stem for p in analysis.glob("*.py")} == {"__init__", "networks", "plotting", "settings"}
    for paper in PAPERS:
        for path in (analysis / paper).rglob("*.py"):
            for name in _imports(path):
                parts = name.split(".")
                if len(parts) > 2 and parts[1] == "analysis":
                    assert parts[2] in (paper, "networks", "plotting", "settings"), f"{path.name} imports {name}"
    rules = REPO / "workflow" / "rules"
    reports = REPO / "workflow" / "report"
    for group in (*PAPERS, "across_papers"):
        assert (rules / f"{group}.smk").is_file() and (reports / group).is_dir(), group
        for module in (analysis / group).glob("[!_]*.py"):
            if module.stem == "units":  # the unit analyses' shared helpers: no rule of its own
                continue
            text = (rules / f"{group}.smk").read_text()
            assert f"rule {module.stem}:" in text, (group, module.stem)


def test_core_encoding_and_analysis_stay_free_of_torch():
    for folder in ("core", "encoding", "analysis"):
        for path in (PACKAGE / folder).rglob("*.py"):
            names = {n.split(".")[0] for n in _all_imports(path)}
            assert "torch" not in names, path


def _all_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_methods_name_no_family_network_or_token_id():
    """A method knows the contract and the catalog only: no kind, family, network or model class
    by name, and no special token id written as a number."""
    words = set(catalog.KINDS) | {k.family for k in catalog.KINDS.values()}
    words |= {n.name for k in catalog.KINDS.values() for n in k.networks}
    words |= {n.display for k in catalog.KINDS.values() for n in k.networks}
    words |= {"CaptionModel", "GRU", "LSTM", "BiLSTM"}
    words.discard("")  # a kind with no family of lingscope's (custom: the user's module)
    pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in sorted(words)) + r")\b", re.IGNORECASE)
    token_id = re.compile(r"(?i)(eos|pad|unk)\w*\s*=\s*\d|ignore_index\s*=\s*\d")
    for path in (PACKAGE / "methods").rglob("*.py"):
        text = path.read_text()
        previous = None
        # Every name, string, docstring and comment; attribute names (tensor.sum()) are torch's.
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in (tokenize.NAME, tokenize.STRING, tokenize.COMMENT) and not (
                    tok.type == tokenize.NAME and previous is not None and previous.string == "."):
                assert not pattern.search(tok.string), f"{path.name}:{tok.start[0]}: {tok.line.strip()}"
            if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
                previous = tok
        for number, line in enumerate(text.splitlines(), start=1):
            assert not token_id.search(line), f"{path.name}:{number}: {line.strip()}"


def test_a_rules_name_says_which_module_runs_it():
    """``rule omission`` runs ``python -m lingscope.methods.omission``: the rule is named after
    the module, or after its folder and the module where the name alone is shared
    (synth_coco, data_coco); and its code inputs derive from that same module. A rule made from
    the method template names its module in ``params.module``; a local ``run:`` rule runs no
    module of its own (the matrix plan: it writes what lingscope.core.plan decided)."""
    blocks = rule_blocks()
    assert len(blocks) >= 30
    for name, block in blocks.items():
        if re.search(r"^    run:", block, flags=re.M):
            assert name == "matrix_plan" and "write_cells(" in block, name
            continue
        found = re.search(r"module=\"(lingscope(?:\.\w+)+)\"", block) or re.search(
            r"python -m (lingscope(?:\.\w+)+)", block)
        module = found.group(1)
        folder, leaf = module.split(".")[-2:]
        assert name in (leaf, f"{folder}_{leaf}"), (name, module)
        code = re.search(r"(?:code=(?:model_)?code|method_inputs)\(\s*\"([\w.]+)\"", block)
        if code:  # retrieval_examples takes its code with its inputs, from the catalog
            assert code.group(1) == module, (name, code.group(1))
        else:
            assert catalog.METHODS[name].module == module


def test_config_yaml_lists_exactly_the_settings_fields():
    """Each section of config.yaml that a settings class reads (lingscope.core.config_schema.SECTIONS)
    has exactly its fields, besides the sub-sections and keys the table places there; its values
    pass the class's checks. The schema is generated from the same table (tests/test_core_config_schema.py)."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for path in config_schema.SECTIONS:
        cls = config_schema.settings_class(path)
        section = config
        for key in path.split("."):
            section = section[key]
        keys = set(section) - set(config_schema.ignored(path))
        assert keys == set(cls.config_keys()), (path, keys ^ set(cls.config_keys()))
        config_schema.settings(path, section)  # the defaults pass their own checks
    for name, entry in config["models"].items():
        assert catalog.check_models({name: entry})[name].kind == name
        assert set(entry) == set(catalog.settings_of(name).config_keys()), name


def test_catalog_describes_what_the_workflow_needs():
    assert set(catalog.KADAR_NETWORKS) <= {n.display for k in catalog.KINDS.values() for n in k.networks}
    displays = [n.display for k in catalog.KINDS.values() for n in k.networks]
    assert len(displays) == len(set(displays))
    for kind in catalog.KINDS.values():
        assert (PACKAGE / "models" / f"{kind.family}.py").is_file() or kind.name == "custom"  # custom: the user's
        assert issubclass(kind.settings, settings.TrainingSettings)
    for method in catalog.METHODS.values():
        assert (PACKAGE / Path(*method.module.split(".")[1:])).with_suffix(".py").is_file()
