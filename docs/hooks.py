"""MkDocs hook: the parts of the docs that are generated at build time, never pasted by hand.

- ``<!-- generated:tables -->`` becomes one section per Parquet table with its columns, read
  from ``TABLES`` in ``src/lingscope/core/schemas.py`` (the single source of the table schemas;
  ``workflow/schemas/tables/*.json`` are generated from it too).
- ``<!-- generated:benchmarks -->`` becomes one section per ``benchmarks/results/*.json``
  file, the current figures each benchmark script wrote. The folder can be replaced with the
  ``LINGSCOPE_BENCHMARK_RESULTS`` environment variable (the docs test builds from samples).

mkdocs.yml names this file under ``hooks:``.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "src" / "lingscope" / "core" / "schemas.py"
BENCHMARK_RESULTS = ROOT / "benchmarks" / "results"
TABLES_MARKER = "<!-- generated:tables -->"
BENCHMARKS_MARKER = "<!-- generated:benchmarks -->"


def _cell(value) -> str:
    """Text safe inside a Markdown table cell: ``<eos>`` stays text, not an HTML tag; ``*`` stays
    a star, not emphasis; ``|`` does not end the cell."""
    text = "" if value is None else str(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("|", "\\|").replace("\n", " ")


def _load_schemas():
    # Loaded from the file itself, not through the installed package: the docs describe this
    # checkout, and schemas.py needs only pyarrow.
    spec = importlib.util.spec_from_file_location("_lingscope_docs_schemas", SCHEMAS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _arrow_type(t) -> str:
    import pyarrow as pa

    if pa.types.is_fixed_size_list(t):
        return f"fixed_size_list<{t.value_type}>[dim]"
    if pa.types.is_list(t):
        return f"list<{t.value_type}>"
    return str(t)


def render_tables() -> str:
    schemas = _load_schemas()
    lines = [f"{len(schemas.TABLES)} tables, generated from `TABLES` in `src/lingscope/core/schemas.py`.", ""]
    for name, schema in schemas.TABLES.items():
        lines += [f"### {name}", "", "| column | type | null | description |", "|---|---|---|---|"]
        for field in schema:
            meta = field.metadata or {}
            doc = meta.get(b"doc", b"").decode()
            optional = meta.get(b"optional") == b"true"
            null = "yes" if field.nullable else ""
            if optional:
                doc = f"(optional column) {doc}"
            lines.append(f"| `{field.name}` | `{_arrow_type(field.type)}` | {null} | {_cell(doc)} |")
        lines.append("")
    return "\n".join(lines)


def _machine_line(machine) -> str:
    if not isinstance(machine, dict):
        return _cell(machine) if machine else "not recorded"
    parts = []
    for key, value in machine.items():
        if isinstance(value, list):
            value = ", ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in value)
        parts.append(f"{key}: {value}")
    return _cell("; ".join(parts))


def _value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return _cell(value)


def render_benchmarks(folder: Path | None = None) -> str:
    folder = Path(os.environ.get("LINGSCOPE_BENCHMARK_RESULTS") or folder or BENCHMARK_RESULTS)
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        return ("No benchmark results are committed yet: `benchmarks/results/` holds no JSON file. "
                "Run a benchmark (see the commands above) and rebuild the docs.")
    lines = []
    for path in files:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not a readable benchmark results file: {err}") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}: expected a JSON object with benchmark, title, command, date, machine, summary")
        name = record.get("benchmark") or path.stem
        lines += [f"## {_cell(record.get('title') or name)}", ""]
        lines += [f"- benchmark: `{name}` (`benchmarks/results/{path.name}`)"]
        if record.get("command"):
            lines.append(f"- rerun: `{record['command']}`")  # a code span shows its text as is
        lines.append(f"- date: {record.get('date') or 'not recorded'}")
        lines.append(f"- machine: {_machine_line(record.get('machine'))}")
        lines.append("")
        summary = record.get("summary") or []
        if summary:
            lines += ["| figure | value | target |", "|---|---|---|"]
            for row in summary:
                lines.append(f"| {_cell(row.get('figure'))} | {_value(row.get('value'))} | {_cell(row.get('target') or '')} |")
            lines.append("")
        notes = record.get("notes") or []
        if isinstance(notes, str):
            notes = [notes]
        for note in notes:
            lines.append(f"- note: {_cell(note)}")
        if notes:
            lines.append("")
    return "\n".join(lines)


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    if TABLES_MARKER in markdown:
        markdown = markdown.replace(TABLES_MARKER, render_tables())
    if BENCHMARKS_MARKER in markdown:
        markdown = markdown.replace(BENCHMARKS_MARKER, render_benchmarks())
    return markdown
