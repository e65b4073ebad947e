"""Fixtures and hooks: the workflow runs the tests share, and their place in the session.

The helpers they use live beside this file: workflow_runs.py (snakemake, the configs of
tests/configs/, background runs), slurm_workflow.py and slurm_cluster.py (the SLURM run).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from workflow_runs import SUMMARY, TINY, BackgroundDefaultRun, snakemake

SLURM_RUN = None  # slurm_workflow.BackgroundSlurmRun, started when a test that reads it is collected
DEFAULT_RUN: BackgroundDefaultRun | None = None


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One real run of the whole workflow on tests/configs/tiny.yaml; tests share its outputs."""
    workdir = tmp_path_factory.mktemp("workflow")
    snakemake(workdir, "--configfile", str(TINY), "--cores", "2")
    return workdir


@pytest.fixture(scope="session")
def default_run() -> Path:
    """One real run of the whole workflow on the default config.yaml (the `make run` job):
    the scientific checks on the planted effects read its outputs. It is started in the
    background when the tests are collected (:class:`BackgroundDefaultRun`), and its tests run
    after the others."""
    global DEFAULT_RUN
    if DEFAULT_RUN is None:  # a test asked for it without collection having started it
        DEFAULT_RUN = BackgroundDefaultRun()
        DEFAULT_RUN.start()
    run = DEFAULT_RUN
    code, log, seconds = run.wait(timeout=3600)
    if code != 0:
        raise AssertionError(f"the default run failed ({code}):\n{log[-6000:]}")
    steps = re.findall(r"(\d+) of (\d+) steps \(100%\) done", log)
    jobs = f"{steps[-1][1]} jobs" if steps else "its jobs"
    SUMMARY.append(f"default run (config.yaml, --cores 2): {jobs} in {seconds:.0f} s, beside the other tests")
    return run.workdir


@pytest.fixture(scope="module")
def slurm_run():
    """The tiny workflow with tests/configs/slurm.yaml through `--workflow-profile
    workflow/profiles/slurm` (slurm_workflow.BackgroundSlurmRun), started in the background when
    the tests were collected: (its folder, snakemake's output, seconds)."""
    run = SLURM_RUN
    if run.reason:
        if os.environ.get("LINGSCOPE_REQUIRE_SLURM") == "1":
            pytest.fail(f"LINGSCOPE_REQUIRE_SLURM=1 but no local SLURM can run: {run.reason}")
        pytest.skip(f"no local SLURM cluster: {run.reason}")
    if run.error:
        pytest.fail(run.error)
    code, log, seconds = run.wait(timeout=2400)
    if code != 0:
        ctld = (run.cluster.state / "slurmctld.log").read_text(errors="replace")[-2000:]
        raise AssertionError(f"snakemake on SLURM failed ({code}):\n{log[-5000:]}\nslurmctld.log:\n{ctld}")
    return run.workdir, log, seconds


# --- hooks -----------------------------------------------------------------------------------------
def _needs_slurm(item) -> bool:
    return "slurm_run" in getattr(item, "fixturenames", ())


def _needs_default(item) -> bool:
    return "default_run" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(session, config, items):
    # stable: the tests of the background runs last, after the runs had time; SLURM's at the end
    items.sort(key=lambda item: (_needs_slurm(item), _needs_default(item)))


def pytest_collection_finish(session):
    global SLURM_RUN, DEFAULT_RUN
    if session.config.option.collectonly:
        return
    if any(_needs_slurm(item) for item in session.items):
        from slurm_workflow import BackgroundSlurmRun

        SLURM_RUN = BackgroundSlurmRun()
        SLURM_RUN.start()
    if any(_needs_default(item) for item in session.items):
        DEFAULT_RUN = BackgroundDefaultRun()
        DEFAULT_RUN.start()


def pytest_sessionfinish(session, exitstatus):
    for run in (SLURM_RUN, DEFAULT_RUN):
        if run is not None:
            run.close(passed=exitstatus == 0)


def pytest_terminal_summary(terminalreporter):
    if SUMMARY:
        terminalreporter.section("lingscope")
        for line in SUMMARY:
            terminalreporter.write_line(line)
