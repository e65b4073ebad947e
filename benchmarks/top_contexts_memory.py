"""Peak memory of the top-K contexts (Table 1) at 1x and 10x the default corpus: it must stay flat.

An activation store in the dump's layout (``part-k.parquet`` files of at most 1,000,000 rows
in row groups of 8,192, float32 states, an ``<eos>`` row per caption) is written for the
default config's val split (2,500 captions, about 23,000 words) and for ten times as many
captions, at the paper's width (1,024 units) by default. The states are random normal, with
the words drawn from a 2,000-word vocabulary in captions of 6-14 words.

``python -m lingscope.analysis.kadar2017.top_contexts`` then runs on each in a fresh process, started by
a fresh wrapper that reports ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` after it exits; the
figure is the median of ``--repeats`` runs. The ratio against a run that only imports the
module (the floor) is printed too. Target: peak RSS at 10x within 1.2x of 1x.

    python benchmarks/top_contexts_memory.py [--captions 2500] [--dim 1024] [--repeats 3]
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
import pyarrow.parquet as pq
from _common import OUT, figure, machine, table, write_results

from lingscope.core.schemas import activations_schema

WRAPPER = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
           "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
           "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t)")


def write_store(folder: Path, captions: int, dim: int, seed: int = 0) -> int:
    """A synthetic store of ``captions`` captions; returns its word tokens."""
    if (folder / "done").exists():
        return int((folder / "done").read_text())
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    vocab = pa.array([f"w{i}" for i in range(2000)] + ["<eos>"])
    schema = activations_schema(dim)
    writer, part, rows_in_part, words = None, 0, 0, 0
    for start in range(0, captions, 5000):
        n = min(5000, captions - start)
        lengths = rng.integers(6, 15, n) + 1  # + <eos>
        total = int(lengths.sum())
        sentence = np.repeat(np.arange(start, start + n), lengths)
        position = (np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths) + 1).astype(np.int32)
        token = rng.integers(0, 2000, total)
        token[np.cumsum(lengths) - 1] = 2000
        states = rng.standard_normal((total, dim), dtype=np.float32)
        batch = pa.table({"sentence_id": sentence, "position": position, "token": vocab.take(pa.array(token)),
                          "activation": pa.FixedSizeListArray.from_arrays(pa.array(states.reshape(-1)), dim)},
                         schema=schema)
        if writer is None or rows_in_part >= 1_000_000:
            if writer is not None:
                writer.close()
            writer = pq.ParquetWriter(folder / f"part-{part}.parquet", schema, compression="zstd",
                                      use_dictionary=["token"])
            part, rows_in_part = part + 1, 0
        writer.write_table(batch, row_group_size=8192)
        rows_in_part += total
        words += total - n
    writer.close()
    (folder / "done").write_text(str(words))
    return words


def peak(command: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of ``command`` in a fresh process."""
    out = subprocess.run([sys.executable, "-c", WRAPPER, *command], capture_output=True, text=True, check=True)
    rc, kb, seconds = out.stdout.split()
    if rc != "0":
        raise SystemExit(f"{' '.join(command)} failed")
    return int(kb) / 1024, float(seconds)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--captions", type=int, default=2500, help="captions at 1x (the default config's val split)")
    p.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    p.add_argument("--dim", type=int, default=1024, help="units per state (the paper: 1024)")
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    floor, _ = peak([sys.executable, "-c", "import lingscope.analysis.kadar2017.top_contexts"])
    rows, results = [], {}
    for scale in args.scales:
        store = OUT / "data" / f"store-c{args.captions * scale}-d{args.dim}" / "model=m" / "pathway=p"
        t = time.perf_counter()
        words = write_store(store, args.captions * scale, args.dim)
        print(f"[data] {store.parent.parent.name}: {words:,} words ({time.perf_counter() - t:.0f} s)", file=sys.stderr)
        runs = [peak([sys.executable, "-m", "lingscope.analysis.kadar2017.top_contexts", "--activations", str(store),
                      "--k", str(args.k), "--out", str(OUT / "top_contexts_bench.parquet")])
                for _ in range(args.repeats)]
        mb = statistics.median(r[0] for r in runs)
        seconds = statistics.median(r[1] for r in runs)
        results[scale] = {"words": words, "peak_mb": mb, "seconds": seconds}
        rows.append([f"{scale}x", f"{words:,}", f"{words * args.dim * 4 / 2**20:,.0f}", f"{mb:,.0f}", f"{seconds:.1f}"])
    ratio = results[args.scales[-1]]["peak_mb"] / results[args.scales[0]]["peak_mb"]
    print(table(["corpus", "word tokens", "states (MB, float32)", "peak RSS (MB)", "seconds"], rows))
    print(f"\nimport floor {floor:,.0f} MB; peak at {args.scales[-1]}x / {args.scales[0]}x = {ratio:.2f} "
          f"(target <= 1.2)")
    first, last = args.scales[0], args.scales[-1]
    summary = [figure(f"peak RSS {last}x / {first}x", round(ratio, 3), "<= 1.2 (flat)"),
               figure(f"peak RSS MB at {last}x", round(results[last]["peak_mb"])),
               figure("peak RSS MB, import floor", round(floor))]
    path = write_results("top_contexts_memory", {"machine": machine(), "dim": args.dim, "k": args.k, "floor_mb": floor,
                                                 "results": results, "ratio": ratio}, args.out,
                         title=f"Peak memory of the top-K contexts (Table 1) at {first}x and {last}x the default "
                         "corpus", summary=summary)
    print(f"wrote {path}")
    print(json.dumps({"ratio": round(ratio, 3)}))


if __name__ == "__main__":
    main()
