"""Shared helpers: run the real Snakemake workflow on a tiny config in a temporary folder."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
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


def kill_after_first_checkpoint(train_args: list[str], ckpt: Path) -> tuple[list[str], dict[str, str]]:
    """Start ``python -m lingscope.training.train`` with ``train_args`` and kill -9 it as soon as
    its checkpoint ``ckpt`` appears; returns the command and env to rerun it with."""
    import signal

    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "lingscope.training.train", *train_args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.005)
    assert ckpt.exists(), "no checkpoint appeared"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return cmd, env


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
    config["analysis"]["fig5"].update(min_tokens=0, min_deprel=0)
    config["units"]["probe"].update(folds=2, min_count=1, c_grid=[1.0])
    config["units"]["mutual_information"].update(bootstrap=200)
    optimisation = config["input_optimisation"]
    optimisation.update(per_draw=6, hidden_per_draw=3, targets=["a"])  # the tiny vocabulary has no "umbrella"
    # Beyond the paper's three, one network with class units and one with hidden units only (the
    # tiny and SLURM runs stay short); the default run's test covers every network.
    optimisation["other_networks"] = ["RNN", "Autoencoder"]
    for method in ("emb", "logit", "smx", "gbl"):
        optimisation[method].update(steps=2, patience=1, max_epochs=2)
    optimisation["gbl"]["samples"] = 2
    config["attribution"].update(ig_steps=8)
    return config


# What the SLURM run leaves out of the tiny config. Each SLURM job starts Snakemake twice (the job,
# then its step): about 9 core-seconds a job on the 2-core CI machine, against 2.6 for the same job
# run locally. So the run keeps the networks that some rule needs (every rule of the tiny run still
# runs under sbatch) and input optimisation of two of the paper's networks, an image readout and a
# vocabulary readout.
SLURM_DROPPED = ("rnn", "bilstm")
SLURM_OPTIMISED = ("imaginet.visual", "lm.textual")


def slurm_config() -> dict:
    """The tiny config less :data:`SLURM_DROPPED` and input optimisation beyond
    :data:`SLURM_OPTIMISED`: every file outside results/analysis/ equals the tiny run's."""
    config = tiny_config()
    config["models"].update(dict.fromkeys(SLURM_DROPPED))
    config["input_optimisation"].update(networks=["Visual", "LM"], other_networks=[])
    return config


# The SLURM run groups the jobs of each rule that has several (Snakemake's --groups and
# --group-components, as a site would for many short jobs): one sbatch job runs all of a
# rule's jobs, so Snakemake starts twice per rule instead of twice per job. The other rules'
# jobs go to sbatch one by one, as the profile sends them: the test covers both paths.
SLURM_GROUPED = ("parse_shard", "vocab", "train", "evaluate", "activations", "attribution", "input_optimisation",
                 "omission", "top_contexts")


def slurm_group(rule: str) -> str:
    """The group that holds the jobs of ``rule`` (one of :data:`SLURM_GROUPED`)."""
    return f"g_{rule}"


def slurm_grouping(cpus: int, mem_mb: int) -> tuple[str, ...]:
    """Command-line options that group :data:`SLURM_GROUPED`, each rule's jobs into one group
    job. Snakemake sums the resources of a group's parallel jobs; ``--cores`` and
    ``--resources`` (the node's) make it stack them in series to fit one node."""
    return ("--groups", *(f"{rule}={slurm_group(rule)}" for rule in SLURM_GROUPED),
            "--group-components", *(f"{slurm_group(rule)}=1000" for rule in SLURM_GROUPED),
            "--cores", str(cpus), "--resources", f"mem_mb={mem_mb}")


def write_config(folder: Path, config: dict, name: str = "tiny.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake_command(workdir: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    """snakemake from this venv on the repository's Snakefile, in ``workdir``, and its env."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    return cmd, env


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run snakemake from this venv on the repository's Snakefile, in ``workdir``."""
    cmd, env = snakemake_command(workdir, *args)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir)
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


# --- runs in the background ---------------------------------------------------------------------
class BackgroundRun:
    """A real Snakemake run started in the background as soon as the tests that read it are
    collected; the tests that read it are moved after the others and wait for it. The suite is
    CPU-bound on 2 cores, so this orders the work rather than shortening it (measured: the same
    CI time with the default run in the foreground)."""

    def __init__(self, prefix: str):
        self.base = Path(tempfile.mkdtemp(prefix=prefix))
        self.workdir = self.base / "run"
        self.proc = None

    def launch(self, *args: str) -> None:
        cmd, env = snakemake_command(self.workdir, *args)
        self.log = self.workdir / "snakemake.log"
        self.started = time.time()
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.workdir)

    def wait(self, timeout: float) -> tuple[int, str, float]:
        """(exit code, snakemake's output, seconds) once the run is over; kills it after
        ``timeout`` seconds from its start."""
        try:
            code = self.proc.wait(timeout=max(1.0, timeout - (time.time() - self.started)))
        except subprocess.TimeoutExpired:
            self._kill()
            code = -9
        # snakemake's last line was its last act: the log's mtime is when the run ended
        return code, self.log.read_text(errors="replace"), self.log.stat().st_mtime - self.started

    def _kill(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def close(self, passed: bool) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self._kill()
        self._stop()
        if passed:
            shutil.rmtree(self.base, ignore_errors=True)

    def _stop(self) -> None:
        """Whatever the run needed beside Snakemake is stopped here, before its folder goes."""


class BackgroundDefaultRun(BackgroundRun):
    """The default config's run (`make run`'s job) with ``--cores 2``."""

    def __init__(self):
        super().__init__("lingscope-default-")

    def start(self) -> None:
        self.workdir.mkdir()
        self.launch("--configfile", str(REPO / "config.yaml"), "--cores", "2")


class BackgroundSlurmRun(BackgroundRun):
    """The tiny workflow (:func:`slurm_config`) through workflow/profiles/slurm on a local single-node SLURM."""

    PROFILE = REPO / "workflow" / "profiles" / "slurm"
    # Poll SLURM every second instead of the profile's site-friendly pace: CI time is short.
    FAST_POLLING = ("--seconds-between-status-checks", "1", "--slurm-init-seconds-before-status-checks", "1")

    def __init__(self):
        from slurm_cluster import LocalSlurm

        super().__init__("lingscope-slurm-")
        self.cluster = LocalSlurm(self.base / "state")
        self.reason = self.cluster.unavailable()  # why this machine cannot run it, or None
        self.error = None

    def start(self) -> None:
        if self.reason:
            return
        t0 = time.monotonic()
        try:
            self.cluster.start()
        except Exception as err:  # reported by the SLURM tests, which fail on it
            self.error = f"the local SLURM cluster did not start: {err}"
            self.cluster.stop()
            return
        SUMMARY.append(f"local SLURM {self.cluster.version()} up in {time.monotonic() - t0:.1f} s (install included)")
        self.workdir.mkdir()
        config = write_config(self.workdir, slurm_config())
        self.launch("--configfile", str(config), "--workflow-profile", str(self.PROFILE), *self.FAST_POLLING,
                    *slurm_grouping(self.cluster.cpus, self.cluster.mem_mb))

    def _kill(self) -> None:
        super()._kill()
        subprocess.run(["scancel", "--user", str(os.geteuid())], capture_output=True)

    def _stop(self) -> None:
        if self.reason is None:
            stopped = self.cluster.stop()
            SUMMARY.append(f"local SLURM stopped by pid file: {', '.join(stopped) or 'nothing was running'}")


SLURM_RUN: BackgroundSlurmRun | None = None
DEFAULT_RUN: BackgroundDefaultRun | None = None


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
        SLURM_RUN = BackgroundSlurmRun()
        SLURM_RUN.start()
    if any(_needs_default(item) for item in session.items):
        DEFAULT_RUN = BackgroundDefaultRun()
        DEFAULT_RUN.start()


def pytest_sessionfinish(session, exitstatus):
    for run in (SLURM_RUN, DEFAULT_RUN):
        if run is not None:
            run.close(passed=exitstatus == 0)
