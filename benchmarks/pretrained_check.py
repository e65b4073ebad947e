"""Loading and checking a checkpoint of 100M parameters takes seconds and stays within twice its size in memory.

A plain-PyTorch network in the layout of PyTorch's word-language-model example (``encoder`` an
``nn.Embedding``, ``rnn`` an ``nn.LSTM``, ``decoder`` an ``nn.Linear``; by default a vocabulary of
42,000, 1,000-d embeddings and states, 2 layers: 100,058,000 float32 parameters, 400 MB) is written
with ``torch.save(model.state_dict(), PATH)``, with its vocabulary (one token per line, ``<unk>``
and ``<eos>`` among the words, not first), to a temporary folder (``--tmp-dir``; removed
afterwards). Then the check job runs on it as a pipeline runs it, a subprocess::

    python -m lingscope.models.pretrained --name big --checkpoint CKPT --vocabulary VOCAB --corpus ptb
        --cell lstm --layers 2 --out-model MODEL --out-vocab VOCAB.parquet --out-report REPORT

``--repeats`` times (the best wall time counts; the peak is the largest of the runs). Measured per
run: the wall time of the process (Python and torch's imports included) and the job's own
``check_seconds`` (read and check) and ``seconds`` (read, check and write) from its report; the
peak resident set size from the kernel (``ru_maxrss``, through ``/usr/bin/time``: a process this
one forked would start from this one's RSS as its high-water mark), and, by polling
``/proc/PID/status`` every few milliseconds, ``VmHWM`` (the same peak, as a check) and the peaks of
its two parts: anonymous memory (``RssAnon``: the copies a process makes) and file-backed pages
(``RssFile``: a memory-mapped checkpoint's pages once read, which the kernel can drop at any time;
the shared libraries'). The baseline is a bare
``python -c "import torch, lingscope.models.pretrained"``, measured the same way.

Figures: the job's wall time and its own seconds; the peak RSS, the checkpoint's size, and the
ratio ``(peak RSS - baseline peak RSS) / checkpoint size`` (target <= 2), also without
subtracting the baseline, and the same ratio for anonymous memory alone. MB are 10^6 bytes.

    python benchmarks/pretrained_check.py [--vocab 42000] [--embedding 1000] [--hidden 1000] [--layers 2]
        [--repeats 3] [--tmp-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
from torch import nn

from _common import SEED, figure, machine, table, write_results

TARGET = 2.0
MB = 1e6
IMPORTS = "import torch, lingscope.models.pretrained"


class WordLanguageModel(nn.Module):
    """PyTorch's word-language-model example's ``RNNModel`` (LSTM or GRU, untied): the network
    a user trained outside lingscope."""

    def __init__(self, ntoken: int, ninp: int, nhid: int, nlayers: int, cell: str):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](ninp, nhid, nlayers)
        self.decoder = nn.Linear(nhid, ntoken)


def write_user_files(folder: Path, vocab: int, embedding: int, hidden: int, layers: int, cell: str
                     ) -> tuple[Path, Path, int]:
    """The user's ``state_dict`` and vocabulary; ``(checkpoint, vocabulary, parameters)``."""
    torch.manual_seed(SEED)
    with torch.no_grad():
        model = WordLanguageModel(vocab, embedding, hidden, layers, cell)
    n = sum(p.numel() for p in model.parameters())
    checkpoint, vocabulary = folder / "model.pt", folder / "vocab.txt"
    torch.save(model.state_dict(), checkpoint)
    del model
    tokens = [f"w{k:06d}" for k in range(vocab - 2)]
    tokens[len(tokens) // 3:len(tokens) // 3] = ["<unk>"]  # the specials among the words, not first
    tokens[2 * len(tokens) // 3:2 * len(tokens) // 3] = ["<eos>"]
    vocabulary.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return checkpoint, vocabulary, n


def status_kb(pid: int) -> dict[str, int]:
    """``VmRSS``, ``RssAnon``, ``RssFile`` and ``VmHWM`` of a running process, in kB."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                    out[key] = int(value.split()[0])
    except (OSError, ValueError):
        pass
    return out


TIME = Path("/usr/bin/time")


def child_of(pid: int) -> int | None:
    """The (first) child of ``pid``: the command ``/usr/bin/time`` runs."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def measured(argv: list[str], interval: float = 0.002) -> dict:
    """Run ``argv``; its wall time and peak RSS, in bytes: the kernel's ``ru_maxrss`` as
    ``/usr/bin/time`` reports it (a process forked from this one and then exec'd would inherit
    this process's RSS as its high-water mark: ``time`` is small), and polled from
    ``/proc/PID/status``: ``VmHWM`` (the exec'd process's own high-water mark) and the peaks of
    its anonymous and file-backed resident memory."""
    with tempfile.TemporaryDirectory() as scratch:
        timer = Path(scratch) / "maxrss"
        wrapped = [str(TIME), "-f", "%M", "-o", str(timer), *argv] if TIME.exists() else argv
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        peaks = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0, "VmHWM": 0}
        done = threading.Event()

        def poll() -> None:
            pid = None if TIME.exists() else proc.pid
            while not done.is_set():
                pid = pid or child_of(proc.pid)
                if pid is not None:
                    for key, value in status_kb(pid).items():
                        if key in peaks:
                            peaks[key] = max(peaks[key], value)
                time.sleep(interval)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        stderr = proc.stderr.read().decode(errors="replace")
        proc.wait()
        seconds = time.perf_counter() - start
        done.set()
        poller.join()
        proc.stderr.close()
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{stderr}")
        maxrss = int(timer.read_text().split()[-1]) * 1024 if TIME.exists() else peaks["VmHWM"] * 1024
    return {"seconds": seconds, "peak_rss": maxrss, "polled_peak_rss": peaks["VmHWM"] * 1024,
            "peak_anon": peaks["RssAnon"] * 1024, "peak_file": peaks["RssFile"] * 1024, "stderr": stderr.strip()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocab", type=int, default=42000, help="the user's vocabulary (embedding and decoder rows)")
    ap.add_argument("--embedding", type=int, default=1000)
    ap.add_argument("--hidden", type=int, default=1000)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    ap.add_argument("--repeats", type=int, default=3, help="runs of the check job (best time, largest peak)")
    ap.add_argument("--tmp-dir", type=Path, default=None, help="where the files go (default: the system's temp dir)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="lingscope-pretrained-check-", dir=args.tmp_dir))
    try:
        t0 = time.perf_counter()
        checkpoint, vocabulary, n_params = write_user_files(folder, args.vocab, args.embedding, args.hidden,
                                                            args.layers, args.cell)
        size = checkpoint.stat().st_size
        print(f"[files] {n_params:,} parameters, checkpoint {size / MB:,.0f} MB, written in "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        job = [sys.executable, "-m", "lingscope.models.pretrained", "--name", "big", "--checkpoint", str(checkpoint),
               "--vocabulary", str(vocabulary), "--corpus", "ptb", "--cell", args.cell, "--layers", str(args.layers),
               "--out-model", str(folder / "big.pt"), "--out-vocab", str(folder / "big_vocab.parquet"),
               "--out-report", str(folder / "report.json")]
        baseline = [sys.executable, "-c", IMPORTS]
        measured(baseline)  # warm the page cache for the imports
        runs, bases = [], []
        for r in range(args.repeats):  # alternating, so a slow spell hits both
            bases.append(measured(baseline))
            run = measured(job)
            report = json.loads((folder / "report.json").read_text())
            assert report["parameters"] == n_params, report["parameters"]
            run |= {"check_seconds": report["check_seconds"], "job_seconds": report["seconds"],
                    "model_file_bytes": (folder / "big.pt").stat().st_size}
            runs.append(run)
            print(f"[run {r + 1}/{args.repeats}] {run['seconds']:.2f} s wall ({run['job_seconds']:.2f} s in the job, "
                  f"{run['check_seconds']:.2f} s read and checked), peak RSS {run['peak_rss'] / MB:,.0f} MB "
                  f"(anonymous {run['peak_anon'] / MB:,.0f}, file-backed {run['peak_file'] / MB:,.0f}); bare "
                  f"imports {bases[-1]['peak_rss'] / MB:,.0f} MB", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    peak = max(r["peak_rss"] for r in runs)
    peak_anon = max(r["peak_anon"] for r in runs)
    base = min(b["peak_rss"] for b in bases)
    base_anon = min(b["peak_anon"] for b in bases)
    wall = min(r["seconds"] for r in runs)
    ratio = (peak - base) / size
    ratio_raw = peak / size
    ratio_anon = (peak_anon - base_anon) / size
    for r in runs:
        r.pop("stderr")
    row = {"parameters": n_params, "vocab": args.vocab, "embedding_dim": args.embedding, "hidden_dim": args.hidden,
           "layers": args.layers, "cell": args.cell, "checkpoint_bytes": size, "runs": runs,
           "baseline_runs": [{k: v for k, v in b.items() if k != "stderr"} for b in bases],
           "wall_seconds_best": wall, "check_seconds_best": min(r["check_seconds"] for r in runs),
           "job_seconds_best": min(r["job_seconds"] for r in runs),
           "peak_rss_bytes": peak, "baseline_peak_rss_bytes": base, "peak_anon_bytes": peak_anon,
           "baseline_peak_anon_bytes": base_anon, "peak_file_bytes": max(r["peak_file"] for r in runs),
           "ratio_over_baseline": ratio, "ratio_raw": ratio_raw, "ratio_anon_over_baseline": ratio_anon}
    row["met"] = ratio <= TARGET

    print(f"\nThe check job (python -m lingscope.models.pretrained) on a {n_params / 1e6:,.1f}M-parameter "
          f"{args.cell.upper()} word-language-model state_dict ({args.vocab:,} x {args.embedding} embedding, "
          f"{args.layers} x {args.hidden} states), best of {args.repeats} / largest peak\n")
    print(table(["checkpoint (MB)", "wall (s)", "job: read + check / + write (s)", "peak RSS (MB)",
                 "bare imports (MB)", "(peak - imports) / checkpoint", "peak / checkpoint",
                 "anonymous: (peak - imports) / checkpoint", f"target <= {TARGET:g}"],
                [[f"{size / MB:,.0f}", f"{wall:.2f}", f"{row['check_seconds_best']:.2f} / {row['job_seconds_best']:.2f}",
                  f"{peak / MB:,.0f}", f"{base / MB:,.0f}", f"{ratio:.2f}", f"{ratio_raw:.2f}", f"{ratio_anon:.2f}",
                  "met" if row["met"] else "NOT MET"]]))
    label = f"{n_params / 1e6:,.0f}M parameters"
    summary = [figure(f"check job wall seconds, {label} (process, imports included)", round(wall, 2), "seconds"),
               figure(f"check job's own seconds (read, check, write), {label}", round(row["job_seconds_best"], 2)),
               figure(f"peak RSS MB, {label}", round(peak / MB, 1)),
               figure("checkpoint MB", round(size / MB, 1)),
               figure("bare import peak RSS MB (python -c 'import torch, lingscope.models.pretrained')",
                      round(base / MB, 1)),
               figure("(peak RSS - bare imports) / checkpoint size", round(ratio, 3), f"<= {TARGET:g}"),
               figure("peak RSS / checkpoint size (imports included)", round(ratio_raw, 3)),
               figure("(peak anonymous RSS - bare imports') / checkpoint size", round(ratio_anon, 3))]
    notes = ["peak RSS is the kernel's ru_maxrss of the process, reported by /usr/bin/time; the anonymous and "
             "file-backed peaks are polled from /proc/PID/status (a short spike between two polls can be missed)",
             "file-backed pages are the memory-mapped checkpoint's, read once: they count in RSS but the kernel "
             "can drop them under pressure"]
    path = write_results("pretrained_check", {"machine": machine(), "repeats": args.repeats, "results": [row]},
                         args.out, title="Checking a 100M-parameter pretrained checkpoint: time and peak memory",
                         summary=summary, notes=notes)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
