"""The docs site and the front page.

- ``mkdocs build --strict`` succeeds: a broken link, a missing page or anchor, or a warning of
  the generated parts (docs/hooks.py) fails it;
- the generated parts render: the tables' columns from ``core/schemas.py``, the benchmarks
  from ``benchmarks/results/*.json`` (here from sample files, and from an empty folder);
- every docs page (and anchor) that a file of the package, the workflow, the tests or the
  benchmarks cites exists in the built site;
- nothing in the repository cites a file outside it;
- README.md stays a front page.
"""

from __future__ import annotations

import html
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
README_MAX_LINES = 200
README_MAX_BYTES = 15_000
# A citation of a docs page: docs/<page>.md, optionally with #<anchor>.
CITATION = re.compile(r"\bdocs/([A-Za-z0-9_\-]+)\.md(?:#([A-Za-z0-9_\-]+))?")
CITING_FOLDERS = ("src", "workflow", "tests", "benchmarks")
CITING_FILES = ("config.yaml", "README.md", "Makefile", "pyproject.toml", "mkdocs.yml")
# Files outside the repository that its text once cited; spelled in pieces so this file does
# not cite them itself.
OUTSIDE = (re.compile(re.escape("METHODS" + ".md")), re.compile(r"\.\./" + "shared" + r"(?![\w.])"),
           re.compile(re.escape("/work/" + "shared")))

# mkdocs is a dev dependency (pip install -e '.[dev]', which make test runs): the docs build is
# part of the suite, so a missing mkdocs fails here rather than skipping the check.
import mkdocs  # noqa: E402,F401


def _build(site: Path, results: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if results is not None:
        env["LINGSCOPE_BENCHMARK_RESULTS"] = str(results)
    else:
        env.pop("LINGSCOPE_BENCHMARK_RESULTS", None)
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)],
        cwd=REPO, env=env, capture_output=True, text=True,
    )


def _check(proc: subprocess.CompletedProcess) -> None:
    # --strict turns every warning into a failure; the output says which.
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    assert "WARNING" not in proc.stderr, proc.stderr


SAMPLES = [
    {
        "benchmark": "sample_speed",
        "title": "Sample speed: batched against one at a time",
        "command": "python benchmarks/sample_speed.py --units 160",
        "date": "2026-01-02T03:04:05+00:00",
        "machine": {"cpu": "Test CPU", "cores": 2, "torch": "2.13.0", "loadavg_at_start": [0.5, 0.25, 0.1]},
        "summary": [
            {"figure": "batched / loop | ratio", "value": 21.456789, "target": ">= 20x"},
            {"figure": "peak RSS", "value": "411 MB", "target": None},
        ],
        "notes": ["shared machine: load average 3.10 at start"],
        "details": {"free": "form"},
    },
    {
        "benchmark": "other_memory",
        "title": "Other memory",
        "command": "python benchmarks/other_memory.py",
        "date": "2026-01-03",
        "machine": {"cpu": "Test CPU", "cores": 16},
        "summary": [{"figure": "10x / 1x", "value": 1.08, "target": "flat"}],
    },
]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built from sample benchmark results (the committed ones may not exist yet)."""
    root = tmp_path_factory.mktemp("docs")
    results = root / "results"
    results.mkdir()
    for sample in SAMPLES:
        (results / f"{sample['benchmark']}.json").write_text(json.dumps(sample), encoding="utf-8")
    out = root / "site"
    _check(_build(out, results))
    return out


def _page(site: Path, name: str) -> Path:
    return site / ("index.html" if name == "index" else f"{name}/index.html")


def _text(path: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8")))


def test_the_site_builds_strictly_from_the_committed_files(tmp_path):
    """The build as CI runs it: whatever benchmarks/results/ holds today (possibly nothing)."""
    _check(_build(tmp_path / "site"))
    assert (tmp_path / "site" / "outputs" / "index.html").exists()


def test_benchmarks_page_renders_each_results_file(site):
    text = _text(_page(site, "benchmarks"))
    for sample in SAMPLES:
        assert sample["title"] in text
        assert sample["command"] in text
        assert sample["date"] in text
    assert "Test CPU" in text and "cores: 16" in text
    assert "21.46" in text and ">= 20x" in text and "411 MB" in text
    # A '|' inside a cell is escaped, so the row keeps its three columns.
    assert "batched / loop | ratio" in text
    assert "shared machine: load average 3.10 at start" in text


def test_benchmarks_page_says_so_when_there_are_no_results(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    _check(_build(tmp_path / "site", empty))
    text = _text(_page(tmp_path / "site", "benchmarks"))
    assert "No benchmark results are committed yet" in text


def test_outputs_page_lists_every_table_and_column_of_the_schemas(site):
    # This checkout's schemas, loaded as the hook loads them (not an installed copy's).
    spec = importlib.util.spec_from_file_location("_docs_hooks", DOCS / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    schemas = hooks._load_schemas()
    page = _page(site, "outputs").read_text(encoding="utf-8")
    text = _text(_page(site, "outputs"))
    assert "<!-- generated:tables -->" not in page
    for name, schema in schemas.TABLES.items():
        assert f'id="{name}"' in page, f"table {name} has no section"
        for field in schema:
            assert field.name in text, f"{name}.{field.name} is missing"
    # Descriptions stay text: '<eos>' is not swallowed as an HTML tag, a list type keeps its '<>'.
    assert "the last position of each sentence is <eos>" in text
    assert "fixed_size_list<float>[dim]" in text


def _anchors(path: Path) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', path.read_text(encoding="utf-8")))


def _repository_files() -> list[Path]:
    if shutil.which("git") and (REPO / ".git").exists():
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                             cwd=REPO, capture_output=True, text=True, check=True).stdout
        files = [REPO / p for p in out.split("\0") if p]
    else:
        skip = {".git", ".venv", "results", "site", ".snakemake", "__pycache__", "out", ".pytest_cache"}
        files = [p for p in REPO.rglob("*") if p.is_file() and not skip & set(p.relative_to(REPO).parts)]
    return [p for p in files if p.is_file()]


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def test_every_cited_docs_page_and_anchor_exists(site):
    cited = []
    for path in _repository_files():
        rel = path.relative_to(REPO)
        if not (rel.parts[0] in CITING_FOLDERS or str(rel) in CITING_FILES) or path == Path(__file__).resolve():
            continue
        text = _read(path)
        if text is None:
            continue
        for lineno, line in enumerate(text.splitlines(), start=1):
            for page, anchor in CITATION.findall(line):
                cited.append((f"{rel}:{lineno}", page, anchor))
    assert cited, "no file cites a docs page: the pattern is broken"
    missing = []
    for where, page, anchor in cited:
        built = _page(site, page)
        if not (DOCS / f"{page}.md").exists() or not built.exists():
            missing.append(f"{where}: docs/{page}.md does not exist")
        elif anchor and anchor not in _anchors(built):
            missing.append(f"{where}: docs/{page}.md has no heading #{anchor}")
    assert not missing, "\n".join(missing)


def test_every_cited_test_file_exists():
    """A docstring or page that says which test checks something names a test file that exists."""
    cited = re.compile(r"\btests/(test_\w+\.py)\b")
    missing = []
    for path in _repository_files():
        rel = path.relative_to(REPO)
        if rel.parts[0] not in ("src", "docs", "workflow", "benchmarks") and str(rel) != "README.md":
            continue
        text = _read(path)
        for lineno, line in enumerate((text or "").splitlines(), start=1):
            missing += [f"{rel}:{lineno}: tests/{name}" for name in cited.findall(line)
                        if not (REPO / "tests" / name).is_file()]
    assert not missing, "\n".join(missing)


def test_nothing_cites_files_outside_the_repository():
    found = []
    for path in _repository_files():
        if path == Path(__file__).resolve():
            continue
        text = _read(path)
        if text is None:
            continue
        for lineno, line in enumerate(text.splitlines(), start=1):
            if any(p.search(line) for p in OUTSIDE):
                found.append(f"{path.relative_to(REPO)}:{lineno}: {line.strip()[:120]}")
    assert not found, "cites a file outside the repository:\n" + "\n".join(found)


def test_readme_is_a_front_page():
    readme = REPO / "README.md"
    data = readme.read_bytes()
    lines = data.decode("utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines, at most {README_MAX_LINES}"
    assert len(data) <= README_MAX_BYTES, f"README.md has {len(data)} bytes, at most {README_MAX_BYTES}"


def test_readme_links_into_the_docs_resolve():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((?!https?:|#)([^)#\s]+)(?:#[^)\s]*)?\)", text)
    assert any(link.startswith("docs/") for link in links), "README.md links to no docs page"
    missing = [link for link in links if not (REPO / link).exists()]
    assert not missing, f"README.md links to missing files: {missing}"
