"""CUDA checks and paper-scale GPU timings (run on a machine with a GPU; nothing depends on it).

1. **The CLIs on CUDA**, on a synthetic MSCOCO built by lingscope's own CLIs: IMAGINET trained
   with ``--device cuda``, killed (SIGKILL) after its first checkpoint and resumed; evaluation,
   the activation dump and omission scores on CUDA, compared with the same model on the CPU.
2. **A training step at the paper's sizes** (``paper_step.py``'s step: batch 64 x 12 tokens,
   vocabulary 10k, 4096-d images) at 1024/1024 against 64/128, projected to an epoch of the
   566,435 MSCOCO training captions.
3. **Omission at hidden 1024** on CUDA: the fast path (prefix reuse, suffix batches) against the
   authors' method (one batch of the n + 1 variants per sentence), both through the contract.

    python benchmarks/gpu_check.py [--out DIR]

Writes ``gpu_check.json`` to ``--out`` (default benchmarks/out) and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, best_of, corpus, table, write_results  # noqa: E402
from paper_step import step_seconds  # noqa: E402

from lingscope.encoding.captions import load_sentences  # noqa: E402
from lingscope.encoding.ids import load_vocab_checked  # noqa: E402
from lingscope.methods.omission import naive_omission, omission_scores  # noqa: E402
from lingscope.models.base import load_model  # noqa: E402
from lingscope.models.imaginet import Architecture, CaptionModel  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CAPTIONS = 566_435


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{proc.stderr[-3000:]}")
    return proc


def weights_gap(a: Path, b: Path) -> float:
    wa, wb = load_model(a)[0].state_dict(), load_model(b)[0].state_dict()
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa)


def clis_on_cuda(paths: dict, work: Path, gpu: str = "cuda", epochs: int = 4) -> dict:
    train = ["lingscope.training.train", "--name", "imaginet", "--kind", "imaginet", "--sentences", str(paths["sentences"]),
             "--vocab", str(paths["vocab"]), "--image-features", str(paths["images"]), "--embedding-dim", "128",
             "--hidden-dim", "256", "--max-epochs", str(epochs), "--patience", "4", "--device", gpu]
    out = {}
    t0 = time.perf_counter()
    cli(*train, "--checkpoint-dir", str(work / "a/ckpt"), "--out-model", str(work / "a/model.pt"),
        "--out-metrics", str(work / "a/metrics.parquet"))
    out[f"train_seconds_{epochs}_epochs"] = time.perf_counter() - t0
    # Killed after its first checkpoint, then resumed on the GPU.
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    args = [*train, "--checkpoint-dir", str(work / "b/ckpt"), "--out-model", str(work / "b/model.pt"),
            "--out-metrics", str(work / "b/metrics.parquet")]
    proc = subprocess.Popen([sys.executable, "-m", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = work / "b/ckpt/last.pt"
    while not ckpt.exists() and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    resumed = cli(*args)
    out["resumed"] = [line for line in resumed.stderr.splitlines() if "resumed" in line]
    out["resumed_vs_uninterrupted_max_weight_gap"] = weights_gap(work / "a/model.pt", work / "b/model.pt")
    same_seed = work / "c"
    cli(*train, "--checkpoint-dir", str(same_seed / "ckpt"), "--out-model", str(same_seed / "model.pt"),
        "--out-metrics", str(same_seed / "metrics.parquet"))
    out["same_seed_rerun_max_weight_gap"] = weights_gap(work / "a/model.pt", same_seed / "model.pt")
    # Evaluation, dump and omission: CUDA against the CPU, the same model file.
    for device in (gpu, "cpu"):
        cli("lingscope.training.evaluate", "--model", str(work / "a/model.pt"), "--sentences", str(paths["sentences"]),
            "--vocab", str(paths["vocab"]), "--image-features", str(paths["images"]), "--device", device,
            "--out", str(work / f"eval-{device}.parquet"))
        for network in ("visual", "textual"):
            cli("lingscope.methods.activations", "--model", str(work / "a/model.pt"), "--pathway", network,
                "--sentences", str(paths["sentences"]), "--vocab", str(paths["vocab"]), "--device", device,
                "--tokens-dir", str(work / f"tokens-{device}-{network}"), "--h-end-dir", str(work / f"h_end-{device}-{network}"))
            cli("lingscope.methods.omission", "--model", str(work / "a/model.pt"), "--pathway", network,
                "--sentences", str(paths["sentences"]), "--vocab", str(paths["vocab"]), "--device", device,
                "--out", str(work / f"omission-{device}-{network}.parquet"))
    on_gpu, on_cpu = (pq.read_table(work / f"eval-{d}.parquet").to_pylist() for d in (gpu, "cpu"))
    out["evaluation_cuda_vs_cpu"] = {f"{r['pathway']} {r['metric']}": (r["value"], c["value"])
                                     for r, c in zip(on_gpu, on_cpu)}
    for network in ("visual", "textual"):
        a = np.stack(pq.read_table(work / f"tokens-{gpu}-{network}").column("activation").to_numpy(zero_copy_only=False))
        b = np.stack(pq.read_table(work / f"tokens-cpu-{network}").column("activation").to_numpy(zero_copy_only=False))
        out[f"dump_{network}_max_gap"] = float(np.abs(a - b).max())
        a = pq.read_table(work / f"omission-{gpu}-{network}.parquet").column("omission").to_numpy()
        b = pq.read_table(work / f"omission-cpu-{network}.parquet").column("omission").to_numpy()
        out[f"omission_{network}_max_gap"] = float(np.abs(a - b).max())
    return out


def omission_speed(paths: dict, n: int, repeats: int, gpu: str = "cuda") -> list[dict]:
    vocab = load_vocab_checked(paths["vocab"])
    caps = load_sentences(paths["sentences"], vocab, "val", limit=n)
    flat, offsets, n_words = caps.flat, caps.offsets, caps.lengths - 1
    rows = []
    for device in (gpu, "cpu"):
        torch.manual_seed(0)
        model = CaptionModel(Architecture("imaginet", len(vocab), 128, 1024, 1024)).eval().to(device)
        # On the CPU (a reference, with all of its cores) a sample: 1,000 sentences, 200 for the naive method.
        m = n if device == "cuda" else min(n, 1000)
        for network in ("textual", "visual"):
            def fast():
                omission_scores(model, network, flat[: offsets[m]], offsets[: m + 1], n_words[:m], device)
                if device == "cuda":
                    torch.cuda.synchronize()
            k = n if device == "cuda" else min(n, 200)
            def naive():
                naive_omission(model, network, flat[: offsets[k]], offsets[: k + 1], n_words[:k], device)
                if device == "cuda":
                    torch.cuda.synchronize()
            fast()
            naive_omission(model, network, flat[: offsets[20]], offsets[:21], n_words[:20], device)
            t_fast, _ = best_of(fast, repeats if device == "cuda" else 1)
            t_naive, _ = best_of(naive, 1 if device == "cpu" else repeats)
            scores_fast = omission_scores(model, network, flat[: offsets[k]], offsets[: k + 1], n_words[:k], device)
            scores_naive = np.concatenate(naive_omission(model, network, flat[: offsets[k]], offsets[: k + 1],
                                                         n_words[:k], device))
            rows.append({"device": device, "network": network, "sentences": m, "fast_sent_per_s": m / t_fast,
                         "naive_sentences": k, "naive_sent_per_s": k / t_naive,
                         "max_gap": float(np.abs(scores_fast - scores_naive).max())})
            print(rows[-1], file=sys.stderr, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--omission-sentences", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="a quick run of the same steps on the CPU (no GPU figures)")
    args = ap.parse_args()
    gpu = "cpu" if args.smoke else "cuda"
    assert args.smoke or torch.cuda.is_available(), "no GPU here"
    results = {"gpu": torch.cuda.get_device_name() if gpu == "cuda" else "none (smoke run)", "torch": torch.__version__}
    paths = corpus(2000, 5000)
    work = args.out / "work_gpu"
    work.mkdir(parents=True, exist_ok=True)

    results["clis"] = clis_on_cuda(paths, work, gpu, 2 if args.smoke else 4)
    print(results["clis"], file=sys.stderr, flush=True)

    steps = []
    for kind in ("imaginet", "sum", "lm"):
        base = step_seconds(kind, 64, 128, torch.device(gpu), 1 if args.smoke else 10)
        paper = step_seconds(kind, 256 if args.smoke else 1024, 256 if args.smoke else 1024, torch.device(gpu),
                             1 if args.smoke else 10)
        steps.append({"kind": kind, "default_ms": base * 1e3, "paper_ms": paper * 1e3,
                      "paper_epoch_minutes": paper * CAPTIONS / 64 / 60})
    results["paper_step"] = steps
    results["omission"] = omission_speed(paths, 100 if args.smoke else args.omission_sentences,
                                         1 if args.smoke else args.repeats, gpu)

    print(f"\nGPU: {results['gpu']}, torch {results['torch']}\n")
    print(table(["model", "64/128 step (ms)", "1024/1024 step (ms)", "epoch of 566k captions (min)"],
                [[s["kind"], f"{s['default_ms']:.2f}", f"{s['paper_ms']:.2f}", f"{s['paper_epoch_minutes']:.1f}"]
                 for s in steps]))
    print()
    print(table(["device", "network", "fast (sent/s)", "naive (sent/s)", "fast / naive", "max |fast - naive|"],
                [[r["device"], r["network"], f"{r['fast_sent_per_s']:,.0f}", f"{r['naive_sent_per_s']:,.0f}",
                  f"{r['fast_sent_per_s'] / r['naive_sent_per_s']:.1f}x", f"{r['max_gap']:.1e}"]
                 for r in results["omission"]]))
    path = write_results("gpu_check", results, args.out / "gpu_check.json")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
