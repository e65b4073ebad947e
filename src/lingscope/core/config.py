"""The workflow config: read a YAML file and check it against the schema, with short messages.

Snakemake's own ``validate`` prints the whole config after the first problem (about 400 lines
for a misspelt top-level key) and its config loader reports a YAML syntax error without the
file or the line. This module checks the same schema with jsonschema and reports each problem
on one line: where it is (``corpora.coco.source``), what is wrong, and what is allowed.

Run it on config files before a run (``make run CONFIG=my.yaml`` does)::

    python -m lingscope.core.config my.yaml [more.yaml ...]

Each file is merged over the checkout's ``config.yaml`` as Snakemake merges ``--configfile``
files, and the result is checked against ``workflow/schemas/config.schema.yaml``, which
:mod:`lingscope.core.config_schema` generates from the settings classes.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from lingscope.core.errors import InputError, run_cli

REPO = Path(__file__).resolve().parents[3]
DEFAULT_CONFIG = REPO / "config.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
_SHOWN = 60  # characters of a value shown in a message


def load_yaml(path: str | Path) -> dict:
    """A config file as a mapping; a syntax error names the file, the line and the column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, None, "config file not found") from None
    except UnicodeDecodeError as err:
        raise InputError(path, f"byte {err.start}", "not valid UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = " ".join(p for p in (err.context, err.problem) if p)
        lines = text.splitlines()
        tab = mark is not None and mark.line < len(lines) and "\t" in lines[mark.line]
        hint = " (tabs cannot indent YAML)" if tab else ""
        raise InputError(path, where, f"not valid YAML: {problem}{hint}") from None
    except yaml.YAMLError as err:
        raise InputError(path, None, f"not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(path, "top level", f"expected a mapping of config keys, got {type(data).__name__}")
    return data


def _dotted(path: Iterable) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "top level"


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _describe(error) -> str:
    """One line for one jsonschema error: where, what, what is allowed."""
    where = _dotted(error.absolute_path)
    v, sub = error.validator, error.schema
    if v == "additionalProperties":
        allowed = sorted(sub.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        lines = []
        for key in extra:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            at = _dotted([*error.absolute_path, key])
            lines.append(f"{at}: unknown key{hint} Allowed here: {', '.join(allowed)}")
        return "\n".join(lines)
    if v == "enum":
        allowed = ", ".join(str(a) for a in error.validator_value)
        return f"{where}: {_shown(error.instance)} is not allowed; allowed: {allowed}"
    if v == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"{where}: expected {expected}, got {_shown(error.instance)} ({type(error.instance).__name__})"
    if v == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return f"{where}: missing key {', '.join(map(repr, missing))}"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        word = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[v]
        return f"{where}: {_shown(error.instance)} is not allowed; expected a number {word} {error.validator_value}"
    if v in ("minItems", "minProperties", "minLength"):
        return f"{where}: {_shown(error.instance)} is too short (at least {error.validator_value} expected)"
    if v in ("maxItems", "maxProperties", "maxLength"):
        return f"{where}: {_shown(error.instance)} is too long (at most {error.validator_value} expected)"
    if v == "uniqueItems":
        return f"{where}: {_shown(error.instance)} has repeated items"
    if v == "pattern":
        return f"{where}: {_shown(error.instance)} does not match the pattern {error.validator_value!r}"
    return f"{where}: {error.message if len(error.message) < 200 else error.message[:197] + '...'}"


def problems(config: Mapping, schema: dict | None = None) -> list[str]:
    """Every schema violation of ``config``, one short line each (empty when it is valid)."""
    import jsonschema

    schema = schema if schema is not None else yaml.safe_load(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    lines: list[str] = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        # if/then, anyOf and the like wrap the errors of their branches: report the innermost.
        while error.context:
            error = jsonschema.exceptions.best_match(error.context)
        line = _describe(error)
        if line not in lines:
            lines.append(line)
    return lines


def check(config: Mapping, schema: dict | None = None, source: str = "config") -> None:
    """Raise :class:`InputError` listing every problem of ``config``, one line each."""
    found = problems(config, schema)
    if found:
        noun = "problem" if len(found) == 1 else "problems"
        body = "\n  ".join(found)
        raise InputError(None, None, f"{source}: {len(found)} {noun} (schema: {SCHEMA.relative_to(REPO)}):\n  {body}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Check config files as the workflow will read them: YAML "
                                             "syntax (file, line) and the config schema (key, allowed values).")
    ap.add_argument("configfiles", nargs="+", type=Path, help="files merged over config.yaml, in order")
    args = ap.parse_args(argv)
    from snakemake.utils import update_config  # how Snakemake merges --configfile files

    config = load_yaml(DEFAULT_CONFIG)
    for path in args.configfiles:
        if path.suffix not in (".yaml", ".yml", ".json"):
            raise InputError(path, None, "a config file should end in .yaml, .yml or .json; is it a target "
                                         "placed after --configfile? Put targets before --configfile")
        update_config(config, load_yaml(path))
    check(config, source=" + ".join(str(p) for p in args.configfiles))
    print(f"lingscope: {', '.join(map(str, args.configfiles))}: valid (merged over {DEFAULT_CONFIG.name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
