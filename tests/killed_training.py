"""A training run killed with SIGKILL right after its first checkpoint, for the resume tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def kill_after_first_checkpoint(train_args: list[str], ckpt: Path) -> tuple[list[str], dict[str, str]]:
    """Start ``python -m lingscope.training.train`` with ``train_args`` and kill -9 it as soon as
    its checkpoint ``ckpt`` appears; returns the command and env to rerun it with."""
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
