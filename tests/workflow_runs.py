"""Running the real Snakemake workflow from the tests: the commands, the YAML configs of
tests/configs/ and their variants, dry-run plans, and runs started in the background."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "tests" / "configs"
# The tiny run: only its changes to config.yaml, passed with --configfile as a user would.
TINY = CONFIGS / "tiny.yaml"
# Lines a test wants in the CI log whatever the capture mode: conftest prints them after the run.
SUMMARY: list[str] = []


def merged(base: dict, changes: dict) -> dict:
    """``changes`` merged over a copy of ``base`` as Snakemake merges a --configfile over the
    Snakefile's configfile: mappings key by key, every other value (lists and nulls included)
    replaced."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def changes(base: dict, config: dict, where: str = "") -> dict:
    """What :func:`merged` needs over ``base`` to give ``config``: the inverse of :func:`merged`.
    A key that ``config`` lacks cannot be written as a change, so it is refused."""
    if missing := set(base) - set(config):
        raise ValueError(f"a --configfile cannot remove keys: {where}{sorted(missing)}")
    out = {}
    for key, value in config.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            if inner := changes(base[key], value, f"{where}{key}."):
                out[key] = inner
        elif key not in base or base[key] != value:
            out[key] = value
    return out


def read_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def tiny_config() -> dict:
    """The tiny run's whole config: tests/configs/tiny.yaml merged over config.yaml. A test that
    needs a variant edits this and writes it with :func:`tiny_variant`."""
    return merged(read_yaml(REPO / "config.yaml"), read_yaml(TINY))


def write_config(folder: Path, config: dict, name: str) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def tiny_variant(folder: Path, config: dict, name: str = "variant.yaml") -> list[str]:
    """The --configfile arguments for ``config``, an edited :func:`tiny_config`: tiny.yaml, then
    a file in ``folder`` with only the edits, as a user writes a change over a config."""
    path = write_config(folder, changes(tiny_config(), config), name)
    return [str(TINY), str(path)]


def snakemake_command(workdir: Path, *args: str, python_path: str | None = None) -> tuple[list[str], dict[str, str]]:
    """snakemake from this venv on the repository's Snakefile, in ``workdir``, and its env
    (``python_path`` put on ``PYTHONPATH``: a user's modules)."""
    env = dict(os.environ)
    if python_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [python_path, env.get("PYTHONPATH")]))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    return cmd, env


def snakemake(workdir: Path, *args: str, check: bool = True, python_path: str | None = None
              ) -> subprocess.CompletedProcess:
    """Run snakemake from this venv on the repository's Snakefile, in ``workdir``."""
    cmd, env = snakemake_command(workdir, *args, python_path=python_path)
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


def rule_blocks() -> dict[str, str]:
    """Each rule's text in workflow/rules/: a ``rule X:`` block, or a ``use rule T as X with:``
    block, whose own lines come before rule T's (what the template gives it)."""
    blocks = {}
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"(?m)^(?=rule |use rule )", path.read_text())[1:]:
            used = re.match(r"use rule (\w+) as (\w+) with:", block)
            if used:
                blocks[used.group(2)] = block + blocks[used.group(1)]
            else:
                blocks[re.match(r"rule (\w+):", block).group(1)] = block
    return blocks


def worked_example() -> str:
    """The family module of docs/extending.md#a-family-of-your-own, as the page shows it."""
    page = (REPO / "docs/extending.md").read_text()
    section = page[page.index("## A family of your own"):]
    code = section[section.index("```python\n") + len("```python\n"):]
    return code[:code.index("```")]


def synth(corpus: str, out_dir: Path, config: dict) -> None:
    """The synthetic corpus ``corpus`` written to ``out_dir`` with ``config``'s generator settings, as
    the default run generates it."""
    from lingscope.core import config_schema
    from lingscope.core.plan import Plan

    args = config_schema.settings(f"corpora.{corpus}.synthetic", Plan(config).synthetic(corpus)).argv()
    subprocess.run([sys.executable, "-m", f"lingscope.synth.{corpus}", "--out-dir", str(out_dir), *args], check=True,
                   capture_output=True)
