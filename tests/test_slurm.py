"""The SLURM profile against a real SLURM: the tiny workflow through sbatch equals a local run.

A single-node cluster (slurmctld, slurmd, munge from Debian) is started on this machine by
tests/slurm_cluster.py, and stopped again by pid file. Where that cannot be done (no root,
no apt-get, a SLURM setup of the machine's own) the test is skipped with the reason; with
LINGSCOPE_REQUIRE_SLURM=1 (CI sets it) the same reason fails the test instead.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pyarrow.parquet as pq

from slurm_workflow import SLURM_DROPPED, SLURM_GROUPED, SLURM_OPTIMISED, slurm_group
from workflow_runs import SUMMARY

R = "results"
# Wall-clock columns of the training metrics: the only values that differ between two runs.
TIMING_COLUMNS = {"seconds", "tokens_per_second"}
SUBMITTED = re.compile(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.")


def _scontrol(job_id: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, check=True).stdout
    return dict(field.split("=", 1) for field in out.split() if "=" in field)


def _remote_jobs(log: str) -> list[tuple[str, str, Path]]:
    return [(m.group(1), m.group(2), Path(m.group(3))) for m in SUBMITTED.finditer(log)]


def test_jobs_ran_under_sbatch(slurm_run):
    """Every non-local rule ran under SLURM: each job of an ungrouped rule as its own sbatch
    job, the jobs of each rule of SLURM_GROUPED together as one group job. Each sbatch job was
    logged under its id and COMPLETED according to slurmctld, and each of its commands ran in a
    step of that job."""
    workdir, log, seconds = slurm_run
    jobs = _remote_jobs(log)
    local_rules = set(re.findall(r"^localrule (\w+):", log, flags=re.M))
    # a group job lists its jobs indented under "Group job g_<rule>"
    remote = re.findall(r"^\s*rule (\w+):", log, flags=re.M)
    remote_rules = set(remote)
    assert remote_rules >= {"synth_coco", "data_coco", "parse_shard", "train", "activations", "omission",
                            "ridge", "input_optimisation", "top_contexts", "probe", "mutual_information"}
    assert remote_rules >= set(SLURM_GROUPED)
    assert local_rules == {"synth_sst", "data_sst", "parse_merge", "parse_accuracy", "training_summary",
                           "distributions", "examples", "checks", "sentiment_accuracy", "sentiment_figures",
                           "poerner_figures", "omission_words", "unit_figures", "autoencoder_figures", "agreement",
                           "matrix_plan", "matrix", "all"}
    ran, logs, grouped, slurm_ids = [], [], {}, []
    for _, job_id, slurm_log in jobs:
        slurm_ids.append(int(job_id))
        assert slurm_log.name == f"{job_id}.log" and slurm_log.is_file(), slurm_log
        text = slurm_log.read_text()
        info = _scontrol(job_id)
        assert info["JobState"] == "COMPLETED", (job_id, info["JobState"])
        assert info["WorkDir"] == str(workdir) and info["Partition"] == "debug"
        # The job's snakemake finished all its jobs, each in a step of this SLURM job (lingscope's
        # CLIs open their log with it; a group job runs one step per job).
        members = list(dict.fromkeys(re.findall(r"^\s+log: (\S+)", text, flags=re.M)))
        (rule,) = set(re.findall(r"^Finished jobid: \d+ \(Rule: (\w+)\)", text, flags=re.M))
        assert f"\n{len(members)} of {len(members)} steps (100%) done" in text, slurm_log
        steps = set()
        for rule_log in members:
            step = re.search(rf"lingscope: SLURM job {job_id} \(step (\d+)\) on ", (workdir / rule_log).read_text())
            assert step, rule_log
            steps.add(step.group(1))
        assert len(steps) == len(members) >= 1, slurm_log
        if rule in SLURM_GROUPED:
            group_dir = f"group_{slurm_group(rule)}"
            assert rule not in grouped and slurm_log.parent.name.startswith(group_dir), slurm_log
            grouped[rule] = len(members)
        else:
            assert len(members) == 1 and f"rule_{rule}" in slurm_log.parts, slurm_log
        ran += [rule] * len(members)
        logs += members
    # every remote job ran, in exactly one sbatch job: one per ungrouped job, one per grouped rule
    assert sorted(ran) == sorted(remote) and len(remote) >= 25 and len(set(logs)) == len(logs)
    assert set(grouped) == set(SLURM_GROUPED) and sum(grouped.values()) > len(grouped)
    assert len(jobs) == len(remote) - sum(grouped.values()) + len(grouped)
    assert len(set(slurm_ids)) == len(slurm_ids)
    SUMMARY.append(f"SLURM: {len(remote)} jobs of {len(remote_rules)} rules ran under sbatch in {len(jobs)} SLURM "
                   f"jobs ({len(grouped)} of them group jobs; job ids {min(slurm_ids)}-{max(slurm_ids)}, all "
                   f"COMPLETED), {len(local_rules)} local rules; tiny workflow in {seconds:.0f} s, beside the "
                   "other tests")


def _files(root: Path) -> dict[str, Path]:
    """Every output under results/, except logs, benchmarks and the resume checkpoints."""
    skip = ("logs/", "benchmarks/")
    return {
        str(p.relative_to(root)): p
        for p in root.rglob("*")
        if p.is_file() and not str(p.relative_to(root)).startswith(skip) and "/checkpoints/" not in str(p)
    }


def test_outputs_equal_a_local_run(slurm_run, tiny_run):
    """Same config less two networks and some input optimisation (tests/configs/slurm.yaml), same
    files: every table, figure and model file outside results/analysis/ (data, parses, models,
    dumps, per-network method tables) byte for byte, except the wall-clock columns of the
    training metrics. The analyses under results/analysis/ gather every network of a run, so
    the SLURM run's cover fewer networks: each of them is there (the rules that make them ran
    under sbatch: test_jobs_ran_under_sbatch)."""
    workdir, _, _ = slurm_run
    local, remote = _files(tiny_run / R), _files(workdir / R)

    def left_out(name: str) -> bool:
        path = Path(name)
        if any(m in path.parts or f"model={m}" in name or path.name.startswith(f"{m}.") for m in SLURM_DROPPED):
            return True
        return path.parts[0] == "input_optimisation" and not path.name.startswith(SLURM_OPTIMISED)

    dropped = [name for name in local if left_out(name)]
    assert set(remote) == set(local) - set(dropped)
    assert len(remote) > 60 and dropped
    per_network = [name for name in remote if not name.startswith("analysis/")]
    differ = [name for name in per_network if local[name].read_bytes() != remote[name].read_bytes()]
    kept = sorted({Path(name).parts[1] for name in local if name.startswith("models/")} - set(SLURM_DROPPED))
    metrics = [f"models/{m}/metrics.parquet" for m in kept]
    assert set(differ) <= set(metrics), differ
    for name in metrics:
        a, b = pq.read_table(local[name]), pq.read_table(remote[name])
        keep = [c for c in a.column_names if c not in TIMING_COLUMNS]
        assert a.num_rows == b.num_rows > 0 and a.select(keep).equals(b.select(keep)), name
    SUMMARY.append(f"SLURM outputs equal the local run: {len(per_network)} files outside results/analysis/, "
                   f"{len(per_network) - len(differ)} byte-identical, {len(differ)} equal but for wall-clock "
                   f"columns; {len(remote) - len(per_network)} analysis files over {len(kept)} of the local run's "
                   f"{len(kept) + len(SLURM_DROPPED)} models")


def test_cli_logs_name_their_slurm_job(monkeypatch):
    from lingscope.core.errors import batch_job_line

    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert batch_job_line() is None
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    assert batch_job_line().startswith("lingscope: SLURM job 4242 (step 0) on ")


def test_cluster_refuses_without_root_or_over_a_real_setup(tmp_path, monkeypatch):
    import slurm_cluster

    cluster = slurm_cluster.LocalSlurm(tmp_path / "state")
    monkeypatch.setattr(slurm_cluster.os, "geteuid", lambda: 1000)
    assert "needs root" in cluster.unavailable()
    monkeypatch.setattr(slurm_cluster.os, "geteuid", lambda: 0)
    foreign = tmp_path / "slurm.conf"
    foreign.write_text("ClusterName=site\n")
    monkeypatch.setattr(slurm_cluster, "SLURM_CONF", foreign)
    monkeypatch.setattr(slurm_cluster, "_which", lambda name: f"/usr/bin/{name}")
    assert "not written by this test" in cluster.unavailable()
    foreign.write_text(slurm_cluster.MARKER + "\n")
    monkeypatch.setattr(slurm_cluster, "_running", lambda name: [])
    assert cluster.unavailable() is None
