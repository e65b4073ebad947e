"""Training cost at paper scale: one optimiser step of IMAGINET, SUM and LM with the paper's
1024-d embeddings and states, projected to an epoch of the 566,435 MSCOCO training captions;
and one SGD step of Li et al.'s autoencoder at Sutskever et al.'s sizes (4 layers of 1000 cells,
1000-d embeddings), projected to an epoch of 4M WMT sentences.

    python benchmarks/paper_step.py [--threads N] [--device auto|cpu|cuda] [--kinds imaginet sum lm autoencoder]

A step is forward, both losses, backward and Adam on a batch of 64 captions of 12 tokens
(11.3 words + <eos> on average in MSCOCO), a 10,000-word vocabulary (Karpathy's
preprocessing keeps words seen 5 times, about 10k) and 4096-d image targets. The baseline,
timed in the same run, is the same step at the default config's sizes (64-d embeddings,
128-d states), so the ratio says what the paper's sizes cost over the laptop run. The
autoencoder's step is SGD with the gradient norm clipped at 5 on a batch of 128 sentences of 23
tokens (22.5 words + <eos>), a 50,000-word vocabulary (config ``vocab.wmt.max_size``), against
the laptop model (64/128, one layer) on the same batch. Results
go to ``benchmarks/results/paper_step.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, figure, machine, table, write_results  # noqa: E402

from lingscope.encoding.ids import EOS_ID  # noqa: E402
from lingscope.models.autoencoder import Architecture as AutoencoderArchitecture  # noqa: E402
from lingscope.models.autoencoder import Autoencoder  # noqa: E402
from lingscope.models.checkpoint import pick_device
from lingscope.models.imaginet import Architecture, CaptionModel  # noqa: E402
from lingscope.training.objectives import Batch, loss  # noqa: E402

CAPTIONS = 566_435
BATCH, LENGTH, VOCAB, IMAGE_DIM = 64, 12, 10_000, 4096
WMT_SENTENCES, AE_BATCH, AE_LENGTH, AE_VOCAB = 4_000_000, 128, 23, 50_000


def autoencoder_step_seconds(dim_e: int, dim_h: int, layers: int, device: torch.device, repeats: int) -> float:
    torch.manual_seed(0)
    model = Autoencoder(AutoencoderArchitecture("autoencoder", AE_VOCAB, dim_e, dim_h, layers), 0.08).to(device).train()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.7)
    ids = torch.randint(3, AE_VOCAB, (AE_BATCH, AE_LENGTH), device=device)
    ids[:, -1] = EOS_ID
    lengths = torch.full((AE_BATCH,), AE_LENGTH, device=device)
    batch = Batch(ids, lengths, AE_BATCH * AE_LENGTH)

    def step():
        optimiser.zero_grad(set_to_none=True)
        model.combine({o.name: loss(model, o, batch) for o in model.objectives()}).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimiser.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    step()  # warm-up
    best, _ = best_of(step, repeats)
    return best


def step_seconds(kind: str, dim_e: int, dim_h: int, device: torch.device, repeats: int) -> float:
    torch.manual_seed(0)
    model = CaptionModel(Architecture(kind, VOCAB, IMAGE_DIM, dim_e, dim_h)).to(device).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    ids = torch.randint(3, VOCAB, (BATCH, LENGTH), device=device)
    ids[:, -1] = EOS_ID
    lengths = torch.full((BATCH,), LENGTH, device=device)
    batch = Batch(ids, lengths, BATCH * LENGTH, {"image": torch.randn(BATCH, IMAGE_DIM, device=device)})

    def step():
        optimiser.zero_grad(set_to_none=True)
        model.combine({o.name: loss(model, o, batch) for o in model.objectives()}).backward()
        optimiser.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(2):  # warm-up
        step()
    best, _ = best_of(step, repeats)
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--device", default="auto")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--kinds", nargs="+", default=["imaginet", "sum", "lm", "autoencoder"],
                   choices=["imaginet", "sum", "lm", "autoencoder"])
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    rows, results = [], []
    for kind in [k for k in args.kinds if k != "autoencoder"]:
        base = step_seconds(kind, 64, 128, device, args.repeats)
        paper = step_seconds(kind, 1024, 1024, device, args.repeats)
        epoch_h = paper * CAPTIONS / BATCH / 3600
        results.append({"kind": kind, "default_step_s": base, "paper_step_s": paper, "ratio": paper / base,
                        "paper_epoch_hours": epoch_h})
        rows.append([kind, f"{base * 1e3:.1f}", f"{paper * 1e3:.0f}", f"{paper / base:.0f}x", f"{epoch_h:.2f}"])
    print(f"device {device}, {args.threads} thread(s), batch {BATCH} x {LENGTH} tokens, vocabulary {VOCAB}")
    print(table(["model", "64/128 step (ms)", "1024/1024 step (ms)", "cost", "epoch of 566k captions (h)"], rows))
    if "autoencoder" in args.kinds:
        base = autoencoder_step_seconds(64, 128, 1, device, args.repeats)
        paper = autoencoder_step_seconds(1000, 1000, 4, device, max(1, args.repeats - 1))
        epoch_h = paper * WMT_SENTENCES / AE_BATCH / 3600
        results.append({"kind": "autoencoder", "default_step_s": base, "paper_step_s": paper, "ratio": paper / base,
                        "paper_epoch_hours": epoch_h})
        print(f"autoencoder: batch {AE_BATCH} x {AE_LENGTH} tokens, vocabulary {AE_VOCAB}, SGD, clip 5")
        print(table(["model", "64/128 x 1 step (ms)", "1000/1000 x 4 step (ms)", "cost", "epoch of 4M sentences (h)"],
                    [["autoencoder", f"{base * 1e3:.1f}", f"{paper * 1e3:.0f}", f"{paper / base:.0f}x",
                      f"{epoch_h:.1f}"]]))
    summary = []
    for r in results:
        unit = "4M sentences" if r["kind"] == "autoencoder" else "566k captions"
        summary += [figure(f"{r['kind']} paper-size / laptop-size step, {device}", round(r["ratio"], 1)),
                    figure(f"{r['kind']} paper-size step ms, {device}", round(r["paper_step_s"] * 1e3, 2)),
                    figure(f"{r['kind']} epoch of {unit} at paper size, hours, {device}",
                           round(r["paper_epoch_hours"], 3))]
    path = write_results("paper_step", {"device": str(device), "threads": args.threads, "machine": machine(),
                                        "results": results}, args.out,
                         title="Training cost at the papers' sizes: one optimiser step, projected to an epoch",
                         summary=summary)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
