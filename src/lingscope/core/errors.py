"""User-facing errors: every message names the file, the record and what was expected."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path


class InputError(Exception):
    """Bad user input: a malformed file, a missing field, a wrong dimension, a bad config.

    ``str(err)`` reads ``<file>: <record>: <problem>``, so the CLI can print it as is.
    """

    def __init__(self, path: str | Path | None, record: str | None, message: str):
        self.path = str(path) if path is not None else None
        self.record = record
        self.message = message
        parts = [p for p in (self.path, record, message) if p]
        super().__init__(": ".join(parts))


def batch_job_line() -> str | None:
    """Where this process runs, when it is a SLURM job step: the first line of a rule's log,
    so a log read later says which cluster job produced the output."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return None
    step = os.environ.get("SLURM_STEP_ID", "batch")
    return f"lingscope: SLURM job {job} (step {step}) on {os.uname().nodename}"


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run an entry point, turning :class:`InputError` into one clear line on stderr and exit 2."""
    where = batch_job_line()
    if where:
        print(where, file=sys.stderr, flush=True)
    try:
        return main(argv) or 0
    except InputError as err:
        print(f"lingscope: error: {err}", file=sys.stderr)
        return 2
