"""Peak memory of the streaming stages at 1x and 10x corpus size (should stay flat).

Each CLI runs in a fresh process, started by a fresh wrapper process that reports
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` after it exits (a wrapper per run,
because that figure is a maximum over all the children a process has waited for):

- ``python -m lingscope.methods.activations`` (per-token and h_end dump of the val split);
- ``python -m lingscope.methods.omission`` (omission scores of the val split).

Corpora: synthetic MSCOCO with 1,000 and 10,000 val images (x5 captions) by default (the
omission scores read the sentences table, not the parse). One random-init IMAGINET model (saved with
``save_model``) and one vocabulary serve both sizes. Each figure is the median of
``--repeats`` fresh runs. Also measured: the import floor
(``python -c "import lingscope.methods.activations, lingscope.methods.omission"``), and, for the large
corpus, the largest RSS sampled (``/proc``, every 50 ms) in the first and the second half
of the run: a second half no higher than the first means memory stopped growing.
Target: peak RSS at 10x within 1.2x of 1x (flat).

    python benchmarks/memory_flat.py [--val-images 1000 10000] [--hidden 256]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pyarrow.parquet as pq  # noqa: E402
import torch  # noqa: E402

from _common import OUT, corpus, figure, machine, table, write_results  # noqa: E402
from lingscope.encoding.ids import load_vocab_checked  # noqa: E402
from lingscope.models.checkpoint import save_model
from lingscope.models.imaginet import Architecture, CaptionModel  # noqa: E402

WRAPPER = r"""
import json, resource, subprocess, sys, tempfile, time
log = tempfile.TemporaryFile("w+")  # a file, not a pipe: a chatty child cannot block on it
t0 = time.perf_counter()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=log, text=True)
samples = []  # (seconds, VmRSS kB) every 50 ms, to see whether memory still grows late in the run
status = f"/proc/{p.pid}/status"
while p.poll() is None:
    try:
        with open(status) as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    samples.append((time.perf_counter() - t0, int(line.split()[1])))
    except (OSError, ValueError):
        pass
    time.sleep(0.05)
log.seek(0)
err = log.read()
print(json.dumps({"rc": p.returncode, "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "seconds": time.perf_counter() - t0, "samples": samples, "stderr": err.strip().splitlines()[-1:]}))
"""


def peak_rss(cmd: list[str]) -> dict:
    """Peak RSS (MB, from ru_maxrss) and wall time of ``cmd`` run in a fresh process, plus
    the largest sampled RSS in the first and in the second half of the run."""
    out = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], check=True, capture_output=True, text=True).stdout
    res = json.loads(out.strip().splitlines()[-1])
    if res["rc"] != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {res['stderr']}")
    half = res["seconds"] / 2
    first = [kb for t, kb in res["samples"] if t < half]
    second = [kb for t, kb in res["samples"] if t >= half]
    return {"peak_rss_mb": res["maxrss_kb"] / 1024, "seconds": res["seconds"], "log": " ".join(res["stderr"]),
            "first_half_peak_mb": max(first, default=0) / 1024, "second_half_peak_mb": max(second, default=0) / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--val-images", nargs=2, type=int, default=[1000, 10000], metavar=("BASE", "LARGE"),
                    help="val images (x5 captions) of the 1x and the large corpus")
    ap.add_argument("--n-train", type=int, default=200, help="train images of those corpora (unused by the stages)")
    ap.add_argument("--vocab-corpus", nargs=2, type=int, default=[2000, 5000], metavar=("N_TRAIN", "N_VAL"),
                    help="the corpus whose vocabulary the model uses (shared with the other benchmarks)")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--embedding-dim", type=int, default=128)
    ap.add_argument("--pathway", choices=("textual", "visual"), default="visual")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3,
                    help="fresh runs per measurement; the median peak is reported (a run's peak varies by ~10%%)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    vocab_path = corpus(*args.vocab_corpus)["vocab"]
    vocab = load_vocab_checked(vocab_path)
    sizes = {f"{n:,} val images": corpus(args.n_train, n) for n in args.val_images}
    work = OUT / "work" / "memory_flat"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    torch.manual_seed(0)
    model = CaptionModel(Architecture("imaginet", len(vocab), 128, args.embedding_dim, args.hidden)).eval()
    model_path = work / "imaginet.pt"
    save_model(model_path, model, {"name": "imaginet", "vocab_size": len(vocab),
                                   "image_mean": torch.zeros(128), "image_std": torch.ones(128)})
    common = ["--model", str(model_path), "--pathway", args.pathway, "--vocab", str(vocab_path),
              "--device", "cpu", "--threads", str(args.threads)]
    py = [sys.executable, "-m"]

    def measure(cmd: list[str]) -> dict:
        runs = sorted((peak_rss(cmd) for _ in range(args.repeats)), key=lambda r: r["peak_rss_mb"])
        return runs[(len(runs) - 1) // 2] | {"all_peak_rss_mb": [r["peak_rss_mb"] for r in runs]}

    floor = measure([sys.executable, "-c", "import lingscope.methods.activations, lingscope.methods.omission"])
    results = {}
    for label, paths in sizes.items():
        val = pq.read_table(paths["sentences"], columns=["tokens"], filters=[("split", "=", "val")])
        sentences = val.num_rows
        tokens = sum(len(t) for t in val.column("tokens").to_pylist())
        dump = measure(py + ["lingscope.methods.activations", *common, "--sentences", str(paths["sentences"]),
                             "--split", "val", "--tokens-dir", str(work / "tokens"), "--h-end-dir", str(work / "h_end")])
        omission = measure(py + ["lingscope.methods.omission", *common, "--sentences", str(paths["sentences"]),
                                 "--split", "val", "--out", str(work / "omission.parquet")])
        results[label] = {"val_sentences": sentences, "val_words": tokens, "activations": dump, "omission": omission}
        print(f"[{label}] activations {dump['peak_rss_mb']:.0f} MB ({dump['seconds']:.1f} s), "
              f"omission {omission['peak_rss_mb']:.0f} MB ({omission['seconds']:.1f} s)", file=sys.stderr, flush=True)
    shutil.rmtree(work, ignore_errors=True)

    base, large = list(results)
    ratios = {stage: results[large][stage]["peak_rss_mb"] / results[base][stage]["peak_rss_mb"]
              for stage in ("activations", "omission")}
    print(f"\nPeak RSS (ru_maxrss of a fresh process, median of {args.repeats}): random-init IMAGINET hidden {args.hidden}, "
          f"{args.pathway} pathway, {args.threads} thread(s); import floor {floor['peak_rss_mb']:.0f} MB\n")
    rows = []
    for stage, cli in (("activations", "python -m lingscope.methods.activations"),
                       ("omission", "python -m lingscope.methods.omission")):
        b, g = results[base], results[large]
        rows.append([cli, f"{b[stage]['peak_rss_mb']:.0f} ({b['val_sentences']:,} sent., {b[stage]['seconds']:.0f} s)",
                     f"{g[stage]['peak_rss_mb']:.0f} ({g['val_sentences']:,} sent., {g[stage]['seconds']:.0f} s)",
                     f"{ratios[stage]:.2f}", "met" if ratios[stage] <= 1.2 else "NOT MET",
                     f"{g[stage]['first_half_peak_mb']:.0f} / {g[stage]['second_half_peak_mb']:.0f}"])
    print(table(["stage", f"peak RSS MB, {base}", f"peak RSS MB, {large}", "large / base", "target <= 1.2 (flat)",
                 f"{large}: sampled peak MB, 1st / 2nd half of run"], rows))
    summary = []
    for stage in ("activations", "omission"):
        summary += [figure(f"peak RSS {large} / {base}, {stage}", round(ratios[stage], 3), "<= 1.2 (flat)"),
                    figure(f"peak RSS MB, {stage}, {large}", round(results[large][stage]["peak_rss_mb"]))]
    summary.append(figure("peak RSS MB, import floor", round(floor["peak_rss_mb"])))
    path = write_results("memory_flat", {"machine": machine(), "hidden_dim": args.hidden, "import_floor": floor,
                                         "results": results, "ratios": ratios}, args.out,
                         title="Peak memory of the activation dump and omission at 1x and 10x corpus size",
                         summary=summary)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
