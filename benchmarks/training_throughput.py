"""Training throughput, tokens/s of one epoch on one core.

lingscope: ``lingscope.training.train.Trainer.run_epoch`` on an IMAGINET model (both
networks through the model contract, loss ``alpha * L_T + (1 - alpha) * L_V`` from the model's
objectives, Adam, length-bucketed batches, tqdm, running metrics).
Baseline, measured in the same run: a bare torch loop of the same size (``nn.Embedding`` +
two ``nn.GRU(batch_first=True)`` + the two linear heads, the same losses and Adam) over
pre-built padded tensors of exactly the same batches: no bucketing, no progress bar, no
metrics. Both count the same tokens (every caption token plus its <eos>).
Target: lingscope >= 80% of the bare loop.

    python benchmarks/training_throughput.py [--n-train 2000] [--sizes 128x256 64x128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from _common import corpus, epoch_race, figure, machine, table, write_results  # noqa: E402
from lingscope.core.catalog import CaptionModelSettings  # noqa: E402
from lingscope.encoding.captions import length_batches, load_sentences  # noqa: E402
from lingscope.encoding.ids import PAD_ID, load_vocab_checked  # noqa: E402
from lingscope.models.imaginet import create  # noqa: E402
from lingscope.training.objectives import load_targets  # noqa: E402
from lingscope.training.train import Trainer, _epoch_rng  # noqa: E402

EPOCH = 1  # every timed epoch (both loops) uses the batches of this epoch


class Bare(nn.Module):
    def __init__(self, vocab_size: int, image_dim: int, E: int, H: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, E, padding_idx=PAD_ID)
        self.gru_t = nn.GRU(E, H, batch_first=True)
        self.out_t = nn.Linear(H, vocab_size)
        self.gru_v = nn.GRU(E, H, batch_first=True)
        self.out_v = nn.Linear(H, image_dim)


def bare_epoch(model: Bare, opt, batches, alpha: float) -> None:
    model.train()
    for ids, last, images in batches:
        emb = model.embedding(ids)
        states = model.gru_t(emb)[0]
        shifted = torch.cat([states.new_zeros(states.shape[0], 1, states.shape[2]), states[:, :-1]], 1)
        l_t = F.cross_entropy(model.out_t(shifted).flatten(0, 1), ids.flatten(), ignore_index=PAD_ID)
        h_end = model.gru_v(emb)[0].gather(1, last).squeeze(1)
        l_v = (1.0 - F.cosine_similarity(model.out_v(h_end), images, dim=1)).mean()
        loss = alpha * l_t + (1 - alpha) * l_v
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def parse_size(text: str) -> tuple[int, int]:
    e, _, h = text.partition("x")
    return int(e), int(h)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=2000, help="train images (x5 captions)")
    ap.add_argument("--n-val", type=int, default=5000, help="val images of the corpus (shared with the other benchmarks)")
    ap.add_argument("--sizes", nargs="+", type=parse_size, default=[(128, 256), (64, 128)],
                    metavar="ExH", help="embedding x hidden sizes")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3, help="timed epochs per loop (best counts)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--show-progress", action="store_true", help="let lingscope's tqdm bar print (hidden by default)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    paths = corpus(args.n_train, args.n_val)
    vocab = load_vocab_checked(paths["vocab"])
    train = load_sentences(paths["sentences"], vocab, "train")
    val = load_sentences(paths["sentences"], vocab, "val")
    warm = load_sentences(paths["sentences"], vocab, "train", limit=640)
    device = torch.device("cpu")
    _, targets = load_targets(["image"], {"image_features": paths["images"]}, {"train": train, "val": val}, device)
    _, warm_targets = load_targets(["image"], {"image_features": paths["images"]}, {"train": warm, "val": val}, device)
    image_dim = targets.units["image"]
    n_tokens = int(train.lengths.sum())
    quiet = contextlib.nullcontext if args.show_progress else lambda: contextlib.redirect_stderr(open(os.devnull, "w"))

    results = []
    for E, H in args.sizes:
        targs = CaptionModelSettings(kind="imaginet", embedding_dim=E, hidden_dim=H, batch_size=args.batch_size)
        torch.manual_seed(targs.seed)
        model = create(targs, len(vocab), targets.units)
        opt = torch.optim.Adam(model.parameters(), lr=targs.learning_rate)
        trainer = Trainer(model, targs, "imaginet", {"train": train, "val": val}, targets, device)
        warm_trainer = Trainer(model, targs, "imaginet", {"train": warm, "val": val}, warm_targets, device)

        # The bare loop: the same batches (this epoch's order), padded once, outside the timing.
        index_batches = length_batches(train.lengths, args.batch_size, _epoch_rng(targs.seed, EPOCH))
        images = targets.per_split["train"]["image"]
        batches = []
        for index in index_batches:
            ids, lengths = train.padded(index)
            last = torch.from_numpy(lengths - 1).view(-1, 1, 1).expand(-1, 1, H).contiguous()
            batches.append((torch.from_numpy(ids), last, images[torch.from_numpy(index)]))
        torch.manual_seed(targs.seed)
        bare = Bare(len(vocab), image_dim, E, H)
        bare_opt = torch.optim.Adam(bare.parameters(), lr=targs.learning_rate)
        assert sum(p.numel() for p in bare.parameters()) == sum(p.numel() for p in model.parameters())

        with quiet():
            warm_trainer.run_epoch(opt, 0)  # warm-up: allocator, MKL, Adam state
            bare_epoch(bare, bare_opt, batches[:10], targs.alpha)
            race = epoch_race(lambda: trainer.run_epoch(opt, EPOCH),
                              lambda: bare_epoch(bare, bare_opt, batches, targs.alpha), args.repeats, n_tokens)
        row = {"embedding_dim": E, "hidden_dim": H, "batch_size": args.batch_size, "captions": len(train),
               "batches": len(batches), **race}
        results.append(row)
        print(f"[{E}x{H}] lingscope {row['lingscope_tokens_per_s']:,.0f} tok/s, bare {row['bare_tokens_per_s']:,.0f} tok/s",
              file=sys.stderr, flush=True)

    print(f"\nTraining throughput: {len(train):,} captions ({n_tokens:,} tokens incl. <eos>) per epoch, "
          f"batch {args.batch_size}, {args.threads} thread(s), best of {args.repeats} epochs\n")
    print(table(
        ["embedding x hidden", "lingscope Trainer.run_epoch (tokens/s)", "bare torch loop (tokens/s)", "lingscope / bare", "target >= 0.80"],
        [[f"{r['embedding_dim']}x{r['hidden_dim']}", f"{r['lingscope_tokens_per_s']:,.0f}", f"{r['bare_tokens_per_s']:,.0f}",
          f"{r['ratio']:.2f}", "met" if r["ratio"] >= 0.8 else "NOT MET"] for r in results]))
    summary = []
    for r in results:
        size = f"IMAGINET {r['embedding_dim']}x{r['hidden_dim']}"
        summary += [figure(f"lingscope / bare torch loop, tokens per second, {size}", round(r["ratio"], 3), ">= 0.8"),
                    figure(f"lingscope training tokens per second, {size}", round(r["lingscope_tokens_per_s"]))]
    path = write_results("training_throughput", {"machine": machine(), "repeats": args.repeats, "results": results},
                         args.out, title="IMAGINET training throughput: Trainer.run_epoch against a bare torch loop",
                         summary=summary)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
