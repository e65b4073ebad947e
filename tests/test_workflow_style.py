"""The workflow's own hygiene: snakemake --lint and snakefmt."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The one lint we keep, justified in workflow/rules/common.smk: extending PYTHONPATH is not
# an environment variable the user must set, which is what `envvars:` asserts.
ACCEPTED_LINTS = {"Environment variable PYTHONPATH used but not asserted with envvars directive"}


def test_snakemake_lint_is_clean_but_for_justified_lints():
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True)
    lints = [line.strip()[2:] for line in (proc.stdout + proc.stderr).splitlines() if line.strip().startswith("* ")]
    unexpected = [lint for lint in lints if not any(lint.startswith(a) for a in ACCEPTED_LINTS)]
    assert unexpected == [], proc.stdout + proc.stderr
    assert len(lints) == 1


def test_snakefmt_check_passes():
    snakefmt = shutil.which("snakefmt", path=str(Path(sys.executable).parent)) or "snakefmt"
    proc = subprocess.run([snakefmt, "--check", "Snakefile", "workflow/"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
