"""The SLURM test's run: the tiny workflow with tests/configs/slurm.yaml merged over it, through
workflow/profiles/slurm on the local single-node cluster of :mod:`slurm_cluster`, its rules'
jobs grouped as a site groups many short jobs."""

from __future__ import annotations

import os
import subprocess
import time

from workflow_runs import CONFIGS, REPO, SUMMARY, TINY, BackgroundRun, read_yaml

SLURM = CONFIGS / "slurm.yaml"
# What the SLURM run leaves out of the tiny run (slurm.yaml says why): the models it drops ...
SLURM_DROPPED = tuple(model for model, entry in read_yaml(SLURM)["models"].items() if entry is None)
# ... and the only networks it optimises inputs of (slurm.yaml's Visual and LM), as their files start.
SLURM_OPTIMISED = ("imaginet.visual", "lm.textual")

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


class BackgroundSlurmRun(BackgroundRun):
    """The tiny workflow with slurm.yaml through workflow/profiles/slurm on a local single-node SLURM."""

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
        self.launch("--configfile", str(TINY), str(SLURM), "--workflow-profile", str(self.PROFILE),
                    *self.FAST_POLLING, *slurm_grouping(self.cluster.cpus, self.cluster.mem_mb))

    def _kill(self) -> None:
        super()._kill()
        subprocess.run(["scancel", "--user", str(os.geteuid())], capture_output=True)

    def _stop(self) -> None:
        if self.reason is None:
            stopped = self.cluster.stop()
            SUMMARY.append(f"local SLURM stopped by pid file: {', '.join(stopped) or 'nothing was running'}")
