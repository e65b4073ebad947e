"""The benchmarks' committed results follow one contract (the docs site renders them), and
``make gpu-check`` stops at once without a GPU. Cheap: no benchmark runs here."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
RESULTS = sorted((BENCHMARKS / "results").glob("*.json"))
NO_CUDA = "no CUDA device: make gpu-check needs a GPU"


def test_every_benchmark_has_committed_results():
    scripts = {p.stem for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_")}
    missing = scripts - {p.stem for p in RESULTS} - {"gpu_check"}  # gpu_check's file comes from a GPU machine
    assert not missing, f"no benchmarks/results/<name>.json for {sorted(missing)}: run them (see benchmarks/)"


@pytest.mark.parametrize("path", RESULTS, ids=[p.stem for p in RESULTS])
def test_results_follow_the_contract(path: Path):
    record = json.loads(path.read_text())
    where = f"benchmarks/results/{path.name}"
    assert isinstance(record, dict), f"{where}: not a JSON object"
    assert record.get("benchmark") == path.stem, f"{where}: 'benchmark' must be {path.stem!r}"
    assert (BENCHMARKS / f"{path.stem}.py").exists(), f"{where}: no script benchmarks/{path.stem}.py"
    title = record.get("title")
    assert isinstance(title, str) and title and "\n" not in title, f"{where}: 'title' must be one line"
    command = record.get("command")
    assert isinstance(command, str) and command.startswith(f"python benchmarks/{path.stem}.py"), \
        f"{where}: 'command' must be the command that reproduces it, python benchmarks/{path.stem}.py ..."
    datetime.datetime.fromisoformat(record.get("date", ""))  # raises unless ISO 8601
    machine = record.get("machine")
    assert isinstance(machine, dict) and {"cpu", "cores", "torch"} <= set(machine), f"{where}: 'machine'"
    summary = record.get("summary")
    assert isinstance(summary, list) and summary, f"{where}: 'summary' must list the headline figures"
    for item in summary:
        assert isinstance(item, dict) and set(item) >= {"figure", "value", "target"}, f"{where}: {item}"
        assert isinstance(item["figure"], str) and item["figure"], f"{where}: {item}"
        value = item["value"]
        assert isinstance(value, (str, int, float)) and not isinstance(value, bool), f"{where}: {item}"
        assert item["target"] is None or isinstance(item["target"], str), f"{where}: {item}"
    notes = record.get("notes", [])
    assert isinstance(notes, list) and all(isinstance(n, str) for n in notes), f"{where}: 'notes' must be strings"


def test_gpu_check_stops_at_once_without_cuda():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: make gpu-check would run")
    before = {p: p.stat().st_mtime_ns for p in (BENCHMARKS / "results").glob("*")}
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "gpu_check.py")], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    assert NO_CUDA in proc.stderr
    after = {p: p.stat().st_mtime_ns for p in (BENCHMARKS / "results").glob("*")}
    assert after == before, "gpu_check.py wrote results without a GPU"


def test_gpu_check_plan_fits_eight_minutes():
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "gpu_check.py"), "--dry-run"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    budgets = [int(line.split("(")[1].split(" s)")[0]) for line in proc.stdout.splitlines() if line.startswith("- ")]
    assert len(budgets) == 7 and sum(budgets) <= 480, proc.stdout
