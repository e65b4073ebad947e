"""Peak memory of the plain-text ingest of a user's corpus at 1x and 10x lines: it must stay flat.

A synthetic corpus of ``--lines`` sentences (1,000,000 by default) and one of ``--scale``
times as many (10x) are written once under ``benchmarks/out/data/``: words drawn from a
30,000-type vocabulary of pronounceable pseudo-words with Zipfian frequencies (so about 10k+
types occur, as in real text), 4-40 words per sentence, a final period, a blank line every
1,000 lines. Writing goes through Arrow (``binary_join`` of token lists, the string buffer
written as is), a few seconds per million lines.

``python -m lingscope.data.user --format text --tokenize whitespace`` then runs on each in a
fresh process, started by a fresh wrapper that reports ``getrusage(RUSAGE_CHILDREN).ru_maxrss``
after it exits, in two modes: splits drawn from one ``--path`` (two passes over the file) and
one file per split (the corpus as train, 10,000-line val and test files). The figure is peak
RSS at 10x over 1x (target <= 1.2: bounded memory), with both absolute peaks, the seconds and
lines per second; a run that only imports the module gives the floor.

    python benchmarks/ingest_memory.py [--lines 1000000] [--scale 10] [--repeats 1] [--modes drawn files]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from _common import DATA, OUT, figure, machine, table, write_results

WRAPPER = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
           "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True); "
           "sys.stderr.write(p.stderr); "
           "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t)")
N_TYPES = 30_000
CHUNK = 200_000
SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ou", "ei")]


def vocabulary(rng: np.random.Generator) -> pa.Array:
    """``N_TYPES`` distinct pseudo-words of 1-4 syllables, the most frequent the shortest."""
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < N_TYPES:
        n = 1 if len(words) < 100 else 2 if len(words) < 5000 else 3 + int(rng.integers(0, 2))
        word = "".join(SYLLABLES[i] for i in rng.integers(0, len(SYLLABLES), n))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return pa.array(words + ["."], pa.string())


def write_corpus(path: Path, lines: int, seed: int) -> float:
    """Write ``lines`` sentences (and a blank line every 1,000) to ``path`` once; returns the seconds."""
    if path.exists():
        return 0.0
    t = time.perf_counter()
    rng = np.random.default_rng(seed)
    vocab = vocabulary(np.random.default_rng(0))
    weights = 1.0 / (np.arange(N_TYPES) + 2.7) ** 1.1
    cdf = np.cumsum(weights / weights.sum())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        for start in range(0, lines, CHUNK):
            n = min(CHUNK, lines - start)
            lengths = rng.integers(4, 41, n) + 1  # + the period
            ids = np.searchsorted(cdf, rng.random(int(lengths.sum())))
            ends = np.cumsum(lengths)
            ids[ends - 1] = N_TYPES
            offsets = pa.array(np.concatenate([[0], ends]).astype(np.int32))
            sentences = pc.binary_join(pa.ListArray.from_arrays(offsets, vocab.take(pa.array(ids))), " ")
            blank = np.arange(start, start + n) % 1000 == 999
            sentences = pc.if_else(pa.array(blank), pa.scalar(""), sentences)
            joined = pc.binary_join_element_wise(sentences, pa.scalar(""), "\n")
            _, offs, data = joined.buffers()
            size = int(np.frombuffer(offs, np.int32, n + 1, joined.offset * 4)[-1])
            fh.write(memoryview(data)[:size])
    tmp.replace(path)
    return time.perf_counter() - t


def peak(command: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of ``command`` in a fresh process."""
    out = subprocess.run([sys.executable, "-c", WRAPPER, *command], capture_output=True, text=True, check=True)
    rc, kb, seconds = out.stdout.split()
    if rc != "0":
        raise SystemExit(f"{' '.join(command)} failed:\n{out.stderr}")
    return int(kb) / 1024, float(seconds)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=1_000_000, help="sentences at 1x")
    p.add_argument("--scale", type=int, default=10, help="the larger corpus is this many times 1x")
    p.add_argument("--modes", nargs="+", choices=("drawn", "files"), default=["drawn", "files"])
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    ingest = [sys.executable, "-m", "lingscope.data.user", "--corpus", "bench", "--format", "text",
              "--tokenize", "whitespace", "--sentences", str(OUT / "ingest_bench.parquet")]
    floor, _ = peak([sys.executable, "-c", "import lingscope.data.user"])
    held_out = {s: DATA / f"user-text-{s}-10000.txt" for s in ("val", "test")}
    for i, f in enumerate(held_out.values()):
        write_corpus(f, 10_000, 100 + i)
    scales = [1, args.scale]
    results: dict = {}
    rows = []
    for scale in scales:
        lines = args.lines * scale
        corpus = DATA / f"user-text-{lines}.txt"
        seconds = write_corpus(corpus, lines, seed=scale)
        size = corpus.stat().st_size
        print(f"[data] {corpus.name}: {size / 2**20:,.0f} MiB" + (f" written in {seconds:.0f} s" if seconds else ""),
              file=sys.stderr, flush=True)
        entry = {"lines": lines, "bytes": size}
        for mode in args.modes:
            where = (["--path", str(corpus)] if mode == "drawn" else
                     ["--train", str(corpus), "--val", str(held_out["val"]), "--test", str(held_out["test"])])
            runs = [peak([*ingest, *where]) for _ in range(args.repeats)]
            mb = statistics.median(r[0] for r in runs)
            secs = statistics.median(r[1] for r in runs)
            entry[mode] = {"peak_mb": mb, "seconds": secs, "lines_per_s": lines / secs,
                           "all_peak_mb": [r[0] for r in runs], "all_seconds": [r[1] for r in runs]}
            rows.append([f"{scale}x", mode, f"{lines:,}", f"{size / 2**20:,.0f}", f"{mb:,.0f}", f"{secs:.1f}",
                         f"{lines / secs:,.0f}"])
            print(rows[-1], file=sys.stderr, flush=True)
        results[f"{scale}x"] = entry
    print(table(["corpus", "splits", "lines", "file (MiB)", "peak RSS (MB)", "seconds", "lines/s"], rows))
    first, last = f"{scales[0]}x", f"{scales[-1]}x"
    ratios = {mode: results[last][mode]["peak_mb"] / results[first][mode]["peak_mb"] for mode in args.modes}
    print(f"\nimport floor {floor:,.0f} MB; " + "; ".join(f"{m}: peak at {last} / {first} = {r:.2f}"
                                                       for m, r in ratios.items()) + " (target <= 1.2)")
    summary = []
    for mode in args.modes:
        label = "splits drawn from one file" if mode == "drawn" else "one file per split"
        summary += [figure(f"peak RSS {last} / {first} lines, {label}", round(ratios[mode], 3), "<= 1.2 (bounded)"),
                    figure(f"peak RSS MB at {first} ({args.lines:,} lines), {label}",
                           round(results[first][mode]["peak_mb"])),
                    figure(f"peak RSS MB at {last} ({args.lines * args.scale:,} lines), {label}",
                           round(results[last][mode]["peak_mb"])),
                    figure(f"lines/s at {last}, {label}", round(results[last][mode]["lines_per_s"]))]
    summary.append(figure("peak RSS MB, import floor", round(floor)))
    notes = []
    if args.scale != 10 or args.lines != 1_000_000:
        notes.append(f"run at {args.lines:,} lines and {args.scale}x rather than the issue's 1,000,000 and 10x")
    path = write_results("ingest_memory", {"machine": machine(), "floor_mb": floor, "results": results,
                                           "ratios": ratios}, args.out,
                         title=f"Peak memory of the plain-text corpus ingest at {first} and {last} lines",
                         summary=summary, notes=notes)
    print(f"wrote {path}")
    print(json.dumps({"ratios": {m: round(r, 3) for m, r in ratios.items()}}))


if __name__ == "__main__":
    main()
