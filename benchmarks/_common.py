"""Shared pieces of the model benchmarks: synthetic data built once with lingscope's own
CLIs (under ``benchmarks/out/data/``, reused when present), best-of-N timing, Markdown tables
and JSON results.

Every benchmark writes one JSON file, ``benchmarks/results/<name>.json`` (committed; the docs
site renders it), through :func:`write_results`. The contract of that file:

- ``benchmark``: the script's stem; ``title``: one line; ``command``: the exact command that
  reproduces it (``python benchmarks/<name>.py`` and the arguments it was given);
- ``date``: ISO 8601, UTC; ``machine``: :func:`machine` (with the load average when the
  script started);
- ``summary``: the headline figures, a list of ``{"figure": str, "value": str | number,
  "target": str | None}`` (ratios against the baseline run in the same process,
  throughputs, peak memory; ``target`` where an issue set one);
- ``notes``: a list of strings (a shared machine is noted there), then the detailed numbers
  under keys of the script's choosing.

Scratch data stays under ``benchmarks/out/`` (gitignored).

Not a benchmark itself; the scripts beside it import it (``python benchmarks/<name>.py``
puts this folder on ``sys.path``).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
RESULTS = HERE / "results"
DATA = OUT / "data"
SEED = 2017
# The load average when the benchmark started (this module is imported first thing); above
# SHARED the machine was busy with other jobs, which the results' notes say.
LOAD_AT_START = os.getloadavg()
SHARED = 1.5


def _run(*args: str) -> None:
    subprocess.run([sys.executable, "-m", *args], check=True, stdout=subprocess.DEVNULL)


def corpus(n_train: int, n_val: int, n_test: int = 10, parse: bool = False, dim: int = 128) -> dict[str, Path]:
    """A synthetic MSCOCO corpus (generator + ingest + vocabulary, and the parsed val split
    when ``parse``), built once per size under ``benchmarks/out/data/`` and reused."""
    folder = DATA / f"coco-s{SEED}-t{n_train}-v{n_val}-x{n_test}-d{dim}"
    paths = {
        "dir": folder, "sentences": folder / "sentences.parquet", "images": folder / "image_features.parquet",
        "vocab": folder / "vocab.parquet", "tokens": folder / "tokens_val.parquet",
    }
    syn = folder / "synth"
    if not (syn / "dataset_coco.json").exists() or not (syn / "features.npy").exists():
        print(f"[data] generating {folder.name} ...", file=sys.stderr, flush=True)
        _run("lingscope.synth.coco", "--out-dir", str(syn), "--seed", str(SEED), "--n-train", str(n_train),
             "--n-val", str(n_val), "--n-test", str(n_test), "--feature-dim", str(dim))
    if not paths["sentences"].exists() or not paths["images"].exists():
        _run("lingscope.data.coco", "--karpathy", str(syn / "dataset_coco.json"), "--features", str(syn / "features.npy"),
             "--sentences", str(paths["sentences"]), "--image-features", str(paths["images"]))
    if not paths["vocab"].exists():
        _run("lingscope.data.vocab", "--sentences", str(paths["sentences"]), "--out", str(paths["vocab"]), "--min-count", "5")
    if parse and not paths["tokens"].exists():
        print(f"[data] parsing the val split of {folder.name} ...", file=sys.stderr, flush=True)
        part = folder / "tokens_val.part-0.parquet"
        _run("lingscope.parse.shard", "--sentences", str(paths["sentences"]), "--split", "val", "--shard", "0",
             "--n-shards", "1", "--out", str(part))
        _run("lingscope.parse.merge", str(part), "--out", str(paths["tokens"]))
        part.unlink()
    return paths


def treebank(n_train: int, n_val: int, n_test: int) -> dict[str, Path]:
    """A synthetic Sentiment Treebank (generator + ingest + vocabulary, min count 1 as the
    default config), built once per size under ``benchmarks/out/data/`` and reused."""
    folder = DATA / f"sst-s{SEED}-t{n_train}-v{n_val}-x{n_test}"
    paths = {"dir": folder, "sentences": folder / "sentences.parquet", "phrases": folder / "phrases.parquet",
             "vocab": folder / "vocab.parquet"}
    trees = folder / "trees"
    if not (trees / "test.txt").exists():
        print(f"[data] generating {folder.name} ...", file=sys.stderr, flush=True)
        _run("lingscope.synth.sst", "--out-dir", str(trees), "--seed", str(SEED), "--n-train", str(n_train),
             "--n-val", str(n_val), "--n-test", str(n_test))
    if not paths["sentences"].exists() or not paths["phrases"].exists():
        _run("lingscope.data.sst", "--trees-dir", str(trees), "--sentences", str(paths["sentences"]),
             "--phrases", str(paths["phrases"]))
    if not paths["vocab"].exists():
        _run("lingscope.data.vocab", "--sentences", str(paths["sentences"]), "--out", str(paths["vocab"]), "--min-count", "1")
    return paths


def val_subset(paths: dict[str, Path], n_sentences: int) -> Path:
    """A SENTENCES table holding only the first ``n_sentences`` val captions (for a CLI or
    function that reads a whole split)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out = paths["dir"] / f"sentences_val{n_sentences}.parquet"
    if not out.exists():
        table = pq.read_table(paths["sentences"])
        table = table.filter(pc.equal(table["split"], "val")).slice(0, n_sentences)
        tmp = out.with_suffix(".tmp")
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(out)
    return out


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def best_of(fn, repeats: int) -> tuple[float, list[float]]:
    """Fastest of ``repeats`` calls, in seconds, and all the times."""
    times = [timed(fn) for _ in range(repeats)]
    return min(times), times


def epoch_race(lingscope_epoch, bare_epoch, repeats: int, n_tokens: int) -> dict:
    """Time ``lingscope_epoch()`` (a ``Trainer.run_epoch`` call, returning its metrics) and
    ``bare_epoch()`` ``repeats`` times each, interleaved so that a slow spell hits both; the
    times, the best rates of ``n_tokens`` tokens, their ratio and the rate the trainer reported."""
    lings, bares, inner = [], [], []
    for _ in range(repeats):
        holder = {}
        lings.append(timed(lambda: holder.update(lingscope_epoch())))
        inner.append(holder["tokens_per_second"])
        bares.append(timed(bare_epoch))
    row = {"tokens": n_tokens, "lingscope_seconds": lings, "bare_seconds": bares,
           "lingscope_tokens_per_s": n_tokens / min(lings), "bare_tokens_per_s": n_tokens / min(bares),
           "lingscope_reported_tokens_per_s": max(inner)}
    row["ratio"] = row["lingscope_tokens_per_s"] / row["bare_tokens_per_s"]
    return row


def table(headers: list[str], rows: list[list]) -> str:
    """A Markdown table; numbers formatted by the caller."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if k else "---" for k in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict:
    import torch

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "loadavg_at_start": [round(x, 2) for x in LOAD_AT_START]}


def command(argv: list[str] | None = None) -> str:
    """The command that reproduces this run, from the repository root:
    ``python benchmarks/<script>.py`` and the arguments the script was given."""
    argv = sys.argv if argv is None else argv
    return shlex.join(["python", f"benchmarks/{Path(argv[0]).name}", *argv[1:]])


def figure(name: str, value, target: str | None = None) -> dict:
    """One headline figure of a results file's ``summary``."""
    if not isinstance(value, (str, int)):
        value = float(value)
    return {"figure": name, "value": value, "target": target}


def shared_note() -> list[str]:
    """A note when the machine was busy at the start (load average above ``SHARED``)."""
    one = LOAD_AT_START[0]
    if one <= SHARED:
        return []
    return [f"shared machine: load average {one:.2f} at start ({os.cpu_count()} cores, other jobs running); "
            "the ratios compare runs in the same process and hold better than the absolute times and rates"]


def write_results(name: str, obj: dict, out: Path | None = None, *, title: str, summary: list[dict],
                  notes: list[str] = ()) -> Path:
    """Write ``benchmarks/results/<name>.json`` (or ``out``) in the contract above: the
    header keys, then ``obj`` (the detailed numbers)."""
    record = {"benchmark": name, "title": title, "command": command(),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": obj.pop("machine", None) or machine(), "summary": summary,
              "notes": [*notes, *shared_note()], **obj}
    path = out or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, default=float) + "\n")
    return path
