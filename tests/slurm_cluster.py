"""A real single-node SLURM cluster on this machine, for the SLURM profile's test.

    python tests/slurm_cluster.py start STATE_DIR   # install if needed, start, wait for the node
    python tests/slurm_cluster.py stop STATE_DIR    # stop exactly the daemons `start` started

It installs Debian's slurmctld, slurmd, slurm-client and munge when they are missing (root
and apt-get are needed), writes /etc/slurm/slurm.conf (the only path that works inside
Snakemake's jobs: its jobstep plugin strips SLURM_* variables, SLURM_CONF included, before
its inner srun), starts munged, slurmctld and slurmd by hand (the packages do not start
them without systemd), and records what it started in STATE_DIR/started.json. `stop` reads
that record and the daemons' pid files and signals those pids only.

It refuses (LocalSlurm.unavailable() says why) rather than touch a machine that has its
own SLURM: a slurm.conf it did not write, or a slurmctld it did not start.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SLURM_CONF = Path("/etc/slurm/slurm.conf")
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_RUN = Path("/run/munge")
MARKER = "# written by lingscope tests/slurm_cluster.py"
PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
BINARIES = ["slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol", "munged"]
PARTITION = "debug"


def _which(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _running(name: str) -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _comm(int(p.name)) == name]


class LocalSlurm:
    """One node (this host, 127.0.0.1), one partition, no accounting database."""

    def __init__(self, state_dir: Path):
        self.state = Path(state_dir).resolve()
        self.host = socket.gethostname().split(".")[0]
        self.record = self.state / "started.json"
        # The node's size as slurm.conf declares it: all CPUs, 85% of the memory (at most 20 GB).
        self.cpus = os.cpu_count() or 1
        total_mb = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20)
        self.mem_mb = min(20000, int(total_mb * 0.85))  # slurmd drains a node that reports less

    # --- can we? -------------------------------------------------------------------------
    def unavailable(self) -> str | None:
        """Why this machine cannot host the test cluster, or None when it can."""
        if sys.platform != "linux":
            return f"a local SLURM cluster needs Linux (this is {sys.platform})"
        if os.geteuid() != 0:
            return "starting slurmctld/slurmd and writing /etc/slurm/slurm.conf needs root"
        missing = [b for b in BINARIES if _which(b) is None]
        if missing and _which("apt-get") is None:
            return f"SLURM is not installed ({', '.join(missing)} missing) and apt-get is not available"
        if SLURM_CONF.exists() and MARKER not in SLURM_CONF.read_text(errors="replace"):
            return f"{SLURM_CONF} exists and was not written by this test; not replacing a real SLURM setup"
        if _running("slurmctld") and not self.record.exists():
            return "a slurmctld this test did not start is running"
        return None

    def install(self) -> None:
        """apt-get install the four packages if any binary is missing (about 15 s)."""
        if all(_which(b) for b in BINARIES):
            return
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
        proc = _run(cmd, env=env)
        if proc.returncode != 0:  # a fresh machine may have no package lists yet
            _run(["apt-get", "update", "-q"], env=env)
            proc = _run(cmd, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")

    # --- start / stop ----------------------------------------------------------------------
    def slurm_conf(self) -> str:
        s = self.state
        return "\n".join([
            MARKER,
            "ClusterName=lingscope",
            f"SlurmctldHost={self.host}(127.0.0.1)",
            "SlurmUser=root",
            "AuthType=auth/munge",
            f"StateSaveLocation={s}/ctld",
            f"SlurmdSpoolDir={s}/slurmd",
            f"SlurmctldPidFile={s}/slurmctld.pid",
            f"SlurmdPidFile={s}/slurmd.pid",
            f"SlurmctldLogFile={s}/slurmctld.log",
            f"SlurmdLogFile={s}/slurmd.log",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none",
            # Finished jobs stay visible to squeue (the profile's status command) and to
            # scontrol for an hour: the test checks them at the end of the test session.
            "MinJobAge=3600",
            "ReturnToService=2",
            "SchedulerType=sched/backfill",
            f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.mem_mb} State=UNKNOWN",
            f"PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
            "",
        ])

    def _started(self) -> dict:
        return json.loads(self.record.read_text()) if self.record.exists() else {}

    def _remember(self, name: str, pid_file: Path) -> None:
        started = self._started()
        started[name] = str(pid_file)
        self.record.write_text(json.dumps(started, indent=1))

    def _wait_pid_file(self, pid_file: Path, name: str, log: Path | None, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pid_file.exists() and pid_file.read_text().strip().isdigit():
                pid = int(pid_file.read_text().strip())
                if _pid_alive(pid):
                    return pid
            time.sleep(0.1)
        tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
        raise RuntimeError(f"{name} did not start (no live pid in {pid_file}):\n{tail}")

    def _munge_works(self) -> bool:
        if _which("munge") is None or _which("unmunge") is None:
            return False
        cred = _run(["munge", "-n"])
        return cred.returncode == 0 and _run(["unmunge"], input=cred.stdout).returncode == 0

    def start(self) -> None:
        reason = self.unavailable()
        if reason:
            raise RuntimeError(reason)
        if self.record.exists():  # an earlier run of ours died before stop(): clean up first
            self.stop()
        self.install()
        for sub in ("ctld", "slurmd"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        if not MUNGE_KEY.exists():
            _run(["mungekey", "--create"], check=True)
            shutil.chown(MUNGE_KEY, "munge", "munge")
        if not self._munge_works():
            MUNGE_RUN.mkdir(parents=True, exist_ok=True)
            shutil.chown(MUNGE_RUN, "munge", "munge")
            pid_file = MUNGE_RUN / "munged.pid"
            _run(["runuser", "-u", "munge", "--", _which("munged"), f"--pid-file={pid_file}"], check=True)
            self._wait_pid_file(pid_file, "munged", Path("/var/log/munge/munged.log"))
            self._remember("munged", pid_file)
        SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        SLURM_CONF.write_text(self.slurm_conf())
        self._remember("slurm.conf", SLURM_CONF)
        for daemon in ("slurmctld", "slurmd"):
            pid_file = self.state / f"{daemon}.pid"
            proc = _run([_which(daemon)])
            if proc.returncode != 0:
                raise RuntimeError(f"{daemon} failed to start ({proc.returncode}): {proc.stderr[-2000:]}")
            self._wait_pid_file(pid_file, daemon, self.state / f"{daemon}.log")
            self._remember(daemon, pid_file)
        self.wait_idle()

    def wait_idle(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            proc = _run(["sinfo", "-h", "-N", "-o", "%T"])
            state = proc.stdout.strip()
            if proc.returncode == 0 and state == "idle":
                return
            time.sleep(0.5)
        log = (self.state / "slurmctld.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"node {self.host} did not become idle (sinfo: {state!r}):\n{log}")

    def version(self) -> str:
        return _run(["sinfo", "--version"]).stdout.strip()

    def stop(self) -> list[str]:
        """Signal exactly the daemons recorded by start(), by pid file; remove our slurm.conf."""
        stopped = []
        started = self._started()
        for name in ("slurmd", "slurmctld", "munged"):
            if name not in started:
                continue
            pid_file = Path(started[name])
            text = pid_file.read_text().strip() if pid_file.exists() else ""
            if text.isdigit() and _comm(int(text)) == name:
                pid = int(text)
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 15
                while _pid_alive(pid) and _comm(pid) == name and time.monotonic() < deadline:
                    time.sleep(0.1)
                if _pid_alive(pid) and _comm(pid) == name:
                    os.kill(pid, signal.SIGKILL)
                stopped.append(f"{name} (pid {pid})")
        if "slurm.conf" in started and SLURM_CONF.exists() and MARKER in SLURM_CONF.read_text():
            SLURM_CONF.unlink()
        self.record.unlink(missing_ok=True)
        return stopped


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("state_dir", type=Path)
    args = parser.parse_args(argv)
    cluster = LocalSlurm(args.state_dir)
    if args.action == "start":
        reason = cluster.unavailable()
        if reason:
            print(f"cannot start a local SLURM: {reason}", file=sys.stderr)
            return 1
        cluster.start()
        print(f"SLURM up: node {cluster.host}, partition {PARTITION}; state in {cluster.state}")
    else:
        print("stopped: " + (", ".join(cluster.stop()) or "nothing (none recorded)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
