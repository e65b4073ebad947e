"""Every CUDA check and GPU benchmark in one command (``make gpu-check``), under 8 minutes on one H100.

Each step runs in its own process with a time budget (seconds, below); a step that fails or
runs past its budget is recorded as such and the next one runs. The steps:

1. ``clis``: the CLIs on CUDA, on a synthetic MSCOCO built by lingscope's own CLIs: IMAGINET
   trained with ``--device cuda``, killed (SIGKILL) after its first checkpoint and resumed;
   evaluation, the activation dump and omission scores on CUDA, against the same model on the CPU.
2. ``saliency``: sentence saliency (rnn, lstm, bilstm at 60-d) and integrated gradients (the
   LSTM classifier, the LM's TEXTUAL network) of models in eval mode on CUDA with cuDNN on (the
   methods turn it off for their gradients), against the CPU.
3. ``paper_step``: ``paper_step.py --device cuda``, a training step at the papers' sizes.
4. ``omission``: omission at hidden 1024 on CUDA: the fast path (prefix reuse, suffix batches)
   against the authors' method (one batch of the n + 1 variants per sentence through cuDNN's
   forward), both through the contract; a CPU sample beside it.
5. ``input_optimisation``: ``input_optimisation_speed.py --device cuda --methods gbl --no-crp``,
   the batched ``gbl`` against the one-unit loop.
6. ``attribution``: ``attribution_speed.py --device cuda``, integrated gradients against Captum.
7. ``step_saliency``: ``step_saliency_speed.py --device cuda``, batched against the loop.

    python benchmarks/gpu_check.py              # needs CUDA; writes benchmarks/results/gpu_check.json
    python benchmarks/gpu_check.py --dry-run    # the plan: each step's command and budget
    python benchmarks/gpu_check.py --verify-cpu # every step on the CPU at tiny sizes (checks the
                                                # arguments and code paths; writes only under benchmarks/out)

Without a CUDA device it exits at once, non-zero, and writes nothing. The sub-steps' own files
go to ``benchmarks/out/gpu_check/``; the one results file gathers their summaries and numbers.
Exits non-zero when a step failed or ran past its budget (the results file is written anyway).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import OUT, RESULTS, best_of, corpus, figure, machine, write_results  # noqa: E402

REPO = HERE.parent
# CUDA against the CPU: the CLIs' tables (floats of order 1; a wrong result is off by far more),
# and the gradients relative to their largest magnitude.
CLI_GAP, GRADIENT_GAP = 1e-2, 1e-4
NO_CUDA = "no CUDA device: make gpu-check needs a GPU"
TOTAL_BUDGET = 480  # seconds: the 8 minutes
CORPUS = (1000, 1000)  # train and val images of the synthetic MSCOCO the steps share (x5 captions)
VERIFY_SLACK = 5  # --verify-cpu: budgets times this


@dataclass
class Step:
    name: str
    title: str
    argv: list[str]  # after ``python``, run in the repository root
    tiny: list[str]  # extra arguments of ``--verify-cpu`` (later ones win in argparse)
    budget: int  # seconds


def plan(device: str, work: Path) -> list[Step]:
    """The steps, each a command writing its JSON under ``work``."""
    me = "benchmarks/gpu_check.py"

    def internal(name: str) -> list[str]:
        return [me, "--step", name, "--device", device, "--out", str(work / f"{name}.json")]

    def script(name: str, *args: str) -> list[str]:
        return [f"benchmarks/{name}.py", "--device", device, *args, "--out", str(work / f"{name}.json")]

    return [
        Step("clis", "The CLIs on CUDA against the CPU: train (killed and resumed), evaluate, dump, omission",
             internal("clis"), ["--epochs", "1"], 130),
        Step("saliency", "Saliency and integrated gradients in eval mode with cuDNN on, CUDA against the CPU",
             internal("saliency"), ["--sentences", "16"], 45),
        Step("paper_step", "A training step at the papers' sizes (paper_step.py)",
             script("paper_step", "--repeats", "3"), ["--repeats", "1", "--kinds", "lm"], 50),
        Step("omission", "Omission at hidden 1024: the fast path against the authors' method through cuDNN's forward",
             [*internal("omission"), "--omission-sentences", "2000", "--repeats", "2"],
             ["--omission-sentences", "20", "--repeats", "1"], 75),
        Step("input_optimisation", "Input optimisation: batched gbl against the one-unit loop "
             "(input_optimisation_speed.py)",
             script("input_optimisation_speed", "--methods", "gbl", "--no-crp", "--steps", "5", "--repeats", "2",
                    "--corpus", str(CORPUS[0]), str(CORPUS[1]), "10"),
             ["--steps", "1", "--repeats", "1", "--samples", "2", "--units", "4"], 60),
        Step("attribution", "Integrated gradients against Captum (attribution_speed.py)",
             script("attribution_speed", "--sentences", "128", "--repeats", "2"),
             ["--sentences", "8", "--repeats", "1", "--steps", "8"], 50),
        Step("step_saliency", "Step saliency: batched against the per-sentence loop (step_saliency_speed.py)",
             script("step_saliency_speed", "--repeats", "2"), ["--sentences", "8", "--repeats", "1"], 30),
    ]


# --- the internal steps (run as ``gpu_check.py --step NAME``) -----------------------------------

def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{proc.stderr[-3000:]}")
    return proc


def weights_gap(a: Path, b: Path) -> float:
    from lingscope.models.checkpoint import load_model

    wa, wb = load_model(a)[0].state_dict(), load_model(b)[0].state_dict()
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa)


def step_clis(args, work: Path) -> dict:
    """Train on the device (killed and resumed), then evaluation, dump and omission on the
    device and on the CPU from the same model file."""
    import pyarrow.parquet as pq

    gpu, epochs = args.device, args.epochs
    paths = corpus(*CORPUS)
    train = ["lingscope.training.train", "--name", "imaginet", "--kind", "imaginet", "--sentences", str(paths["sentences"]),
             "--vocab", str(paths["vocab"]), "--image-features", str(paths["images"]), "--embedding-dim", "128",
             "--hidden-dim", "256", "--max-epochs", str(epochs), "--patience", "4", "--device", gpu]
    out = {}
    t0 = time.perf_counter()
    cli(*train, "--checkpoint-dir", str(work / "a/ckpt"), "--out-model", str(work / "a/model.pt"),
        "--out-metrics", str(work / "a/metrics.parquet"))
    out[f"train_seconds_{epochs}_epochs"] = time.perf_counter() - t0
    # Killed after its first checkpoint, then resumed on the device.
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    resumable = [*train, "--checkpoint-dir", str(work / "b/ckpt"), "--out-model", str(work / "b/model.pt"),
                 "--out-metrics", str(work / "b/metrics.parquet")]
    proc = subprocess.Popen([sys.executable, "-m", *resumable], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    ckpt = work / "b/ckpt/last.pt"
    while not ckpt.exists() and proc.poll() is None:
        time.sleep(0.01)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    resumed = cli(*resumable)
    out["resumed"] = [line for line in resumed.stderr.splitlines() if "resumed" in line]
    out["resumed_vs_uninterrupted_max_weight_gap"] = weights_gap(work / "a/model.pt", work / "b/model.pt")
    again = work / "c"
    cli(*train, "--checkpoint-dir", str(again / "ckpt"), "--out-model", str(again / "model.pt"),
        "--out-metrics", str(again / "metrics.parquet"))
    out["same_seed_rerun_max_weight_gap"] = weights_gap(work / "a/model.pt", again / "model.pt")
    # Evaluation, dump and omission: the device against the CPU, the same model file.
    devices = (gpu, "cpu") if gpu != "cpu" else ("cpu", "cpu-again")
    for device in devices:
        run_on = device.split("-")[0]
        cli("lingscope.training.evaluate", "--model", str(work / "a/model.pt"), "--sentences", str(paths["sentences"]),
            "--vocab", str(paths["vocab"]), "--image-features", str(paths["images"]), "--device", run_on,
            "--out", str(work / f"eval-{device}.parquet"))
        for network in ("visual", "textual"):
            cli("lingscope.methods.activations", "--model", str(work / "a/model.pt"), "--pathway", network,
                "--sentences", str(paths["sentences"]), "--vocab", str(paths["vocab"]), "--device", run_on,
                "--tokens-dir", str(work / f"tokens-{device}-{network}"),
                "--h-end-dir", str(work / f"h_end-{device}-{network}"))
            cli("lingscope.methods.omission", "--model", str(work / "a/model.pt"), "--pathway", network,
                "--sentences", str(paths["sentences"]), "--vocab", str(paths["vocab"]), "--device", run_on,
                "--out", str(work / f"omission-{device}-{network}.parquet"))
    first, second = devices
    on_gpu, on_cpu = (pq.read_table(work / f"eval-{d}.parquet").to_pylist() for d in devices)
    out["evaluation_device_vs_cpu"] = {f"{r['pathway']} {r['metric']}": (r["value"], c["value"])
                                       for r, c in zip(on_gpu, on_cpu)}
    eval_gap = max(abs(a - b) for a, b in out["evaluation_device_vs_cpu"].values())
    summary = [figure(f"resumed after SIGKILL vs uninterrupted, max weight gap, {gpu}",
                      out["resumed_vs_uninterrupted_max_weight_gap"]),
               figure(f"same-seed rerun, max weight gap, {gpu}", out["same_seed_rerun_max_weight_gap"]),
               figure(f"evaluation, max gap {gpu} vs cpu", eval_gap, f"<= {CLI_GAP:g}")]
    failures = [] if eval_gap <= CLI_GAP else [f"evaluation differs by {eval_gap:.1e}"]
    for network in ("visual", "textual"):
        a, b = (np.stack(pq.read_table(work / f"tokens-{d}-{network}").column("activation")
                         .to_numpy(zero_copy_only=False)) for d in devices)
        out[f"dump_{network}_max_gap"] = float(np.abs(a - b).max())
        a, b = (pq.read_table(work / f"omission-{d}-{network}.parquet").column("omission").to_numpy() for d in devices)
        out[f"omission_{network}_max_gap"] = float(np.abs(a - b).max())
        for what in ("dump", "omission"):
            gap = out[f"{what}_{network}_max_gap"]
            summary.append(figure(f"{what} {network}, max gap {gpu} vs cpu", gap, f"<= {CLI_GAP:g}"))
            if gap > CLI_GAP:
                failures.append(f"{what} {network} differs by {gap:.1e}")
    return {"summary": summary, "results": out, "failures": failures}


def step_saliency(args, work: Path) -> dict:
    """Sentence saliency and integrated gradients on the device (model in eval mode, cuDNN on
    globally) against the CPU, on the same seeded models and random sentences."""
    from attribution_speed import batched, make_model, random_sentences

    from lingscope.methods.saliency import sentence_saliency

    assert args.device == "cpu" or torch.backends.cudnn.enabled, "cuDNN is off; the check needs it on"
    device = torch.device(args.device)
    rows, summary, failures = [], [], []
    for kind_name in ("rnn", "lstm", "bilstm"):
        outs = {}
        for where in (device, torch.device("cpu")):
            kind, network, model, _ = make_model(kind_name, 3000, 60, 60, where)
            assert not model.training
            flat, offsets = random_sentences(args.sentences, 3000, 5, 25, False, 7)
            t0 = time.perf_counter()
            sal, _, predicted = sentence_saliency(model, network, flat, offsets, np.diff(offsets), where, 256)
            outs[where.type] = (sal, predicted, time.perf_counter() - t0)
        scale = float(np.abs(outs["cpu"][0]).max())
        gap = float(np.abs(outs[device.type][0] - outs["cpu"][0]).max()) / max(scale, 1e-12)
        same = bool((outs[device.type][1] == outs["cpu"][1]).all())
        rows.append({"method": "saliency", "kind": kind_name, "max_relative_diff_vs_cpu": gap, "max_abs_cpu": scale,
                     "same_predictions": same, "seconds": {k: v[2] for k, v in outs.items()}})
        summary.append(figure(f"saliency {kind_name} 60x60 eval mode, max gap {device.type} vs cpu / max |saliency|",
                              gap, f"<= {GRADIENT_GAP:g}"))
        if gap > GRADIENT_GAP or not same:
            failures.append(f"saliency {kind_name}: gap {gap:.1e}, same predictions {same}")
    for spec in ("lstm/sentiment", "lm/textual"):
        outs = {}
        for where in (device, torch.device("cpu")):
            kind, network, model, _ = make_model(spec, 3000, None, None, where)
            flat, offsets = random_sentences(args.sentences, 3000, 5, 25, kind.reads_eos, 7)
            t0 = time.perf_counter()
            outs[where.type] = (batched(model, network, flat, offsets, 50, 64, 4096, where), time.perf_counter() - t0)
        scale = max(float(np.abs(b).max()) for b in outs["cpu"][0])
        gap = max(float(np.abs(a - b).max()) for a, b in zip(outs[device.type][0], outs["cpu"][0])) / max(scale, 1e-12)
        rows.append({"method": "integrated gradients", "network": spec, "max_relative_diff_vs_cpu": gap,
                     "max_abs_cpu": scale, "seconds": {k: v[1] for k, v in outs.items()}})
        summary.append(figure(f"integrated gradients {spec} eval mode, max gap {device.type} vs cpu / max |IG|", gap,
                              f"<= {GRADIENT_GAP:g}"))
        if gap > GRADIENT_GAP:
            failures.append(f"integrated gradients {spec}: gap {gap:.1e}")
    return {"summary": summary, "results": {"cudnn_enabled": torch.backends.cudnn.enabled, "rows": rows},
            "failures": failures}


def step_omission(args, work: Path) -> dict:
    """The fast path against the naive one at hidden 1024, on the device (all sentences) and on
    the CPU (a sample), through the contract; scores equal to 1e-4."""
    from lingscope.encoding.captions import load_sentences
    from lingscope.encoding.ids import load_vocab_checked
    from lingscope.methods.omission import naive_omission, omission_scores
    from lingscope.models.imaginet import Architecture, CaptionModel

    paths = corpus(*CORPUS)
    vocab = load_vocab_checked(paths["vocab"])
    n, gpu = args.omission_sentences, args.device
    caps = load_sentences(paths["sentences"], vocab, "val", limit=n)
    flat, offsets, n_words = caps.flat, caps.offsets, caps.lengths - 1
    rows, summary, failures = [], [], []
    for device in dict.fromkeys((gpu, "cpu")):
        torch.manual_seed(0)
        model = CaptionModel(Architecture("imaginet", len(vocab), 128, 1024, 1024)).eval().to(device)
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        # On the CPU (a reference) a sample: 500 sentences, 100 for the naive method.
        m = n if device != "cpu" else min(n, 500)
        k = n if device != "cpu" else min(n, 100)
        for network in ("textual", "visual"):
            def fast():
                omission_scores(model, network, flat[: offsets[m]], offsets[: m + 1], n_words[:m], device)
                sync()

            def naive():
                naive_omission(model, network, flat[: offsets[k]], offsets[: k + 1], n_words[:k], device)
                sync()

            w = min(20, k)
            omission_scores(model, network, flat[: offsets[w]], offsets[: w + 1], n_words[:w], device)
            naive_omission(model, network, flat[: offsets[w]], offsets[: w + 1], n_words[:w], device)
            repeats = args.repeats if device != "cpu" else 1
            t_fast, _ = best_of(fast, repeats)
            t_naive, _ = best_of(naive, repeats)
            fast_scores = omission_scores(model, network, flat[: offsets[k]], offsets[: k + 1], n_words[:k], device)
            naive_scores = np.concatenate(naive_omission(model, network, flat[: offsets[k]], offsets[: k + 1],
                                                         n_words[:k], device))
            gap = float(np.abs(fast_scores - naive_scores).max())
            row = {"device": device, "network": network, "hidden_dim": 1024, "sentences": m,
                   "fast_sent_per_s": m / t_fast, "naive_sentences": k, "naive_sent_per_s": k / t_naive,
                   "fast_over_naive": (m / t_fast) / (k / t_naive), "max_gap": gap}
            rows.append(row)
            naive_path = "naive through cuDNN's forward" if device == "cuda" else "naive"
            summary += [figure(f"omission h1024 {network} fast / {naive_path}, {device}",
                               round(row["fast_over_naive"], 2), ">= 5x"),
                        figure(f"omission h1024 {network} fast sentences per second, {device}",
                               round(row["fast_sent_per_s"], 1))]
            if gap > 1e-4:
                failures.append(f"omission {network} on {device}: fast and naive differ by {gap:.1e}")
            print(row, file=sys.stderr, flush=True)
    return {"summary": summary, "results": rows, "failures": failures}


INTERNAL = {"clis": step_clis, "saliency": step_saliency, "omission": step_omission}


def run_internal(args) -> int:
    """``--step NAME``: one internal step, its JSON to ``--out``."""
    work = args.out.parent / f"work-{args.step}"
    work.mkdir(parents=True, exist_ok=True)
    result = INTERNAL[args.step](args, work)
    args.out.write_text(json.dumps(result, indent=1, default=float) + "\n")
    return 1 if result["failures"] else 0


# --- the orchestration ------------------------------------------------------------------------

def run_step(step: Step, env: dict) -> dict:
    """Run one step within its budget; its status, seconds and what it wrote."""
    out = REPO / step.argv[step.argv.index("--out") + 1]
    out.unlink(missing_ok=True)
    print(f"[gpu-check] {step.name} (budget {step.budget} s): python {shlex.join(step.argv)}", file=sys.stderr,
          flush=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *step.argv], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=step.budget)
        status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        log, _ = proc.communicate()
        status = "over budget"
    seconds = time.perf_counter() - t0
    print(log, file=sys.stderr, flush=True)
    data = json.loads(out.read_text()) if out.exists() else {}
    for key in ("benchmark", "command", "date", "machine"):
        data.pop(key, None)
    return {"name": step.name, "title": step.title, "command": shlex.join(["python", *step.argv]),
            "budget_s": step.budget, "seconds": round(seconds, 1), "status": status,
            "log_tail": log.strip().splitlines()[-15:] if status != "ok" else [], "output": data}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="print the plan (commands and budgets) and exit")
    ap.add_argument("--verify-cpu", action="store_true",
                    help="for checking this script without a GPU: every step on the CPU at tiny sizes, "
                         "results under benchmarks/out/gpu_check_verify/ only")
    ap.add_argument("--out", type=Path, default=None,
                    help="the results file (default benchmarks/results/gpu_check.json)")
    internal = ap.add_argument_group("one internal step (run by the plan)")
    internal.add_argument("--step", choices=sorted(INTERNAL))
    internal.add_argument("--device", default="cuda")
    internal.add_argument("--epochs", type=int, default=4, help="clis: training epochs")
    internal.add_argument("--sentences", type=int, default=256, help="saliency: random sentences")
    internal.add_argument("--omission-sentences", type=int, default=5000, help="omission: val captions on CUDA")
    internal.add_argument("--repeats", type=int, default=3, help="omission: timed runs (best counts)")
    args = ap.parse_args(argv)
    if args.step:
        if args.device == "cuda" and not torch.cuda.is_available():
            print(NO_CUDA, file=sys.stderr)
            return 2
        return run_internal(args)

    verify = args.verify_cpu
    device = "cpu" if verify else "cuda"
    work = (OUT / ("gpu_check_verify" if verify else "gpu_check")).relative_to(REPO)  # the steps run in REPO
    steps = plan(device, work)
    if verify:  # tiny sizes, but a CPU shared with other work: budgets x VERIFY_SLACK
        for step in steps:
            step.argv, step.budget = [*step.argv, *step.tiny], step.budget * VERIFY_SLACK
    if args.dry_run:
        print(f"make gpu-check: {len(steps)} steps on {device}, {sum(s.budget for s in steps)} s of budgets "
              f"(the whole run: <= {TOTAL_BUDGET} s)")
        for step in steps:
            print(f"- {step.name} ({step.budget} s): {step.title}\n    python {shlex.join(step.argv)}")
        return 0
    if not verify and not torch.cuda.is_available():
        print(NO_CUDA, file=sys.stderr)
        return 2

    (REPO / work).mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    t0 = time.perf_counter()
    done = [run_step(step, env) for step in steps]
    total = time.perf_counter() - t0

    gpu = torch.cuda.get_device_name() if not verify else "none (--verify-cpu)"
    summary = [figure("whole gpu-check, seconds", round(total, 1), f"<= {TOTAL_BUDGET}")]
    for d in done:
        summary.append(figure(f"step {d['name']}: {d['status']}, seconds", d["seconds"], f"<= {d['budget_s']}"))
    for d in done:
        summary += [{**f, "figure": f"{d['name']}: {f['figure']}"} for f in d["output"].get("summary", [])]
    notes = [f"GPU: {gpu}"]
    failed = [d for d in done if d["status"] != "ok" or d["output"].get("failures")]
    notes += [f"{d['name']}: {d['status']}; " + "; ".join(d["output"].get("failures", [])) for d in failed]
    info = machine()
    info["gpu"] = gpu
    if not verify:
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    out = args.out or (REPO / work / "gpu_check.json" if verify else RESULTS / "gpu_check.json")
    path = write_results("gpu_check", {"machine": info, "total_seconds": total, "steps": done}, out,
                         title="Every CUDA check and GPU benchmark (make gpu-check)", summary=summary, notes=notes)
    print(f"\n{len(done) - len(failed)} of {len(done)} steps ok in {total:.0f} s (budget {TOTAL_BUDGET} s); "
          f"wrote {path}")
    return 1 if failed or total > TOTAL_BUDGET else 0


if __name__ == "__main__":
    sys.exit(main())
