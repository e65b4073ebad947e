"""Shared helpers: run the real Snakemake workflow on a tiny config in a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# Lines a test wants in the CI log whatever the capture mode: printed after the run.
SUMMARY: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if SUMMARY:
        terminalreporter.section("lingscope")
        for line in SUMMARY:
            terminalreporter.write_line(line)


def tiny_config() -> dict:
    """The default config, shrunk so the whole DAG runs in well under a minute on 2 cores."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    corpora = config["corpora"]
    corpora["coco"]["synthetic"].update(n_train=40, n_val=12, n_test=8)
    corpora["sst"]["synthetic"].update(n_train=30, n_val=10, n_test=10)
    corpora["wmt"]["synthetic"].update(n_train=60, n_val=10, n_test=10)
    config["vocab"]["coco"]["min_count"] = 1
    # One shard per split keeps the SLURM test's job count down; the default config's run
    # (default_run) parses in two shards, and test_parse checks shards against one pass.
    config["parse"].update(shards=1, splits={"coco": ["val", "test"], "sst": ["val"], "wmt": ["val"]})
    for model in config["models"].values():
        model.update(embedding_dim=12, hidden_dim=16, max_epochs=2, patience=1, batch_size=32)
    config["activations"].update(chunk_sentences=16, row_group_rows=64)
    config["omission"].update(chunk_tokens=100, batch_rows=32)
    config["analysis"].update(min_count=5, examples={"n": 2, "seed": 1})
    config["analysis"]["ridge"].update(alphas=[1.0, 4.0], folds=2)
    return config


def write_config(folder: Path, config: dict, name: str = "tiny.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run snakemake from this venv on the repository's Snakefile, in ``workdir``."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def planned_jobs(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """The 'Job stats' table of a dry run, as {rule: count}; empty when nothing is to be done."""
    text = proc.stdout + proc.stderr
    if "Nothing to be done" in text:
        return {}
    lines = text[text.index("Job stats:"):].splitlines()[3:]
    jobs = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    return jobs


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One real run of the whole workflow on the tiny config; tests share its outputs."""
    workdir = tmp_path_factory.mktemp("workflow")
    config = write_config(workdir, tiny_config())
    snakemake(workdir, "--configfile", str(config), "--cores", "2")
    return workdir


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> Path:
    """One real run of the whole workflow on the default config.yaml (the `make run` job):
    the scientific checks on the planted effects read its outputs."""
    workdir = tmp_path_factory.mktemp("default")
    snakemake(workdir, "--configfile", str(REPO / "config.yaml"), "--cores", "2")
    return workdir
