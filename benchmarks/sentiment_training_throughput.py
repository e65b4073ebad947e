"""Sentiment training throughput, tokens/s of one epoch on one core.

lingscope: ``lingscope.training.train.Trainer.run_epoch`` on the catalog's rnn, lstm and bilstm
kinds (created through their family; the model contract's objective, softmax cross-entropy on
the class scores; AdaGrad with the L2 penalty; length-bucketed batches of the train trees'
phrases; dropout 0.2 on the input and the recurrent input of every step, which the family
steps in Python; tqdm and running metrics).
Baseline, measured in the same run: a bare torch loop of the same size, written the way the
authors' kind of per-step dropout is usually written in torch: ``nn.Embedding``, an
``nn.RNNCell`` / ``nn.LSTMCell`` (two for the BiLSTM, the backward one over each phrase
reversed within its length) stepped in a Python loop with a fresh dropout mask on the input and
on ``h_{t-1}`` at every step, the last state gathered, ``nn.Linear``, cross-entropy, AdaGrad
with the same weight decay; over pre-built padded tensors of exactly the same batches (this
epoch's order): no bucketing, no progress bar, no metrics. Both count the same tokens.
Target: lingscope >= 80% of the bare loop.

    python benchmarks/sentiment_training_throughput.py [--n-train 2000] [--kinds rnn lstm bilstm] [--repeats 3]
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

from _common import epoch_race, figure, machine, table, treebank, write_results  # noqa: E402
from lingscope.core import catalog  # noqa: E402
from lingscope.encoding.captions import length_batches, load_sentences  # noqa: E402
from lingscope.encoding.ids import PAD_ID, load_vocab_checked  # noqa: E402
from lingscope.models.checkpoint import family
from lingscope.training.objectives import load_targets  # noqa: E402
from lingscope.training.train import OPTIMIZERS, Trainer, _epoch_rng  # noqa: E402

EPOCH = 1  # every timed epoch (both loops) uses the batches of this epoch


class Bare(nn.Module):
    def __init__(self, kind: str, vocab_size: int, E: int, H: int, n_classes: int, p: float):
        super().__init__()
        self.p, self.H = p, H
        self.embedding = nn.Embedding(vocab_size, E, padding_idx=PAD_ID)
        self.forward_cell = nn.RNNCell(E, H) if kind == "rnn" else nn.LSTMCell(E, H)
        self.backward_cell = nn.LSTMCell(E, H) if kind == "bilstm" else None
        self.classifier = nn.Linear(H * (2 if self.backward_cell is not None else 1), n_classes)

    def last_state(self, cell: nn.Module, x: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        h = x.new_zeros(x.shape[0], self.H)
        c = x.new_zeros(x.shape[0], self.H)
        states = []
        for t in range(x.shape[1]):
            x_t = F.dropout(x[:, t], self.p, self.training)
            h_in = F.dropout(h, self.p, self.training)
            if isinstance(cell, nn.LSTMCell):
                h, c = cell(x_t, (h_in, c))
            else:
                h = cell(x_t, h_in)
            states.append(h)
        return torch.stack(states, 1).gather(1, last).squeeze(1)

    def forward(self, ids: torch.Tensor, last: torch.Tensor, reverse: torch.Tensor) -> torch.Tensor:
        emb = self.embedding(ids)
        h = self.last_state(self.forward_cell, emb, last)
        if self.backward_cell is not None:
            h = torch.cat([h, self.last_state(self.backward_cell, emb.gather(1, reverse), last)], 1)
        return self.classifier(h)


def bare_epoch(model: Bare, opt, batches) -> None:
    model.train()
    for ids, last, reverse, labels in batches:
        loss = F.cross_entropy(model(ids, last, reverse), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=2000, help="train sentences of the synthetic treebank "
                    "(the default config's size)")
    ap.add_argument("--kinds", nargs="+", default=["rnn", "lstm", "bilstm"])
    ap.add_argument("--batch-size", type=int, default=100, help="phrases per batch (the default config's)")
    ap.add_argument("--repeats", type=int, default=3, help="timed epochs per loop (best counts)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--show-progress", action="store_true", help="let lingscope's tqdm bar print (hidden by default)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    paths = treebank(args.n_train, 250, 500)
    vocab = load_vocab_checked(paths["vocab"])
    device = torch.device("cpu")
    splits = {split: load_sentences(paths["sentences"], vocab, split, eos=False) for split in ("train", "val")}
    data, targets = load_targets(["sentiment"], {"phrases": paths["phrases"]}, splits, device, phrases=True)
    warm_splits = {"train": load_sentences(paths["sentences"], vocab, "train", limit=100, eos=False), "val": splits["val"]}
    warm_data, warm_targets = load_targets(["sentiment"], {"phrases": paths["phrases"]}, warm_splits, device,
                                            phrases=True, partial=("train",))
    train = data["train"]
    labels = targets.per_split["train"]["sentiment"]
    n_tokens = int(train.lengths.sum())
    quiet = contextlib.nullcontext if args.show_progress else lambda: contextlib.redirect_stderr(open(os.devnull, "w"))

    results = []
    for kind_name in args.kinds:
        kind = catalog.kind(kind_name)
        settings = kind.settings(kind=kind_name, batch_size=args.batch_size, optimizer="adagrad", learning_rate=0.1)
        torch.manual_seed(settings.seed)
        model = family(kind_name).create(settings, len(vocab), targets.units)
        opt = OPTIMIZERS[settings.optimizer](model.parameters(), lr=settings.learning_rate, weight_decay=settings.l2)
        trainer = Trainer(model, settings, kind_name, data, targets, device)
        warm_trainer = Trainer(model, settings, kind_name, warm_data, warm_targets, device)

        # The bare loop: the same batches (this epoch's order), padded once, outside the timing.
        H = settings.hidden_dim
        batches = []
        for index in length_batches(train.lengths, settings.batch_size, _epoch_rng(settings.seed, EPOCH)):
            ids, lengths = train.padded(index)
            ids_t, lengths_t = torch.from_numpy(ids), torch.from_numpy(lengths)
            last = (lengths_t - 1).view(-1, 1, 1).expand(-1, 1, H).contiguous()
            t = torch.arange(ids_t.shape[1])[None, :]
            reverse = torch.where(t < lengths_t[:, None], lengths_t[:, None] - 1 - t, t)
            reverse = reverse.unsqueeze(-1).expand(-1, -1, settings.embedding_dim).contiguous()
            batches.append((ids_t, last, reverse, labels[torch.from_numpy(index)]))
        torch.manual_seed(settings.seed)
        bare = Bare(kind_name, len(vocab), settings.embedding_dim, H, targets.units["sentiment"], settings.dropout)
        bare_opt = torch.optim.Adagrad(bare.parameters(), lr=settings.learning_rate, weight_decay=settings.l2)
        assert sum(p.numel() for p in bare.parameters()) == sum(p.numel() for p in model.parameters())

        with quiet():
            warm_trainer.run_epoch(opt, 0)  # warm-up: allocator, MKL, AdaGrad state
            bare_epoch(bare, bare_opt, batches[:10])
            race = epoch_race(lambda: trainer.run_epoch(opt, EPOCH), lambda: bare_epoch(bare, bare_opt, batches),
                              args.repeats, n_tokens)
        row = {"kind": kind_name, "embedding_dim": settings.embedding_dim, "hidden_dim": H,
               "batch_size": settings.batch_size, "phrases": len(train), "batches": len(batches), **race}
        results.append(row)
        print(f"[{kind_name}] lingscope {row['lingscope_tokens_per_s']:,.0f} tok/s, bare {row['bare_tokens_per_s']:,.0f} tok/s",
              file=sys.stderr, flush=True)

    print(f"\nSentiment training throughput: {len(train):,} train phrases ({n_tokens:,} tokens) per epoch, "
          f"batch {args.batch_size}, dropout on, {args.threads} thread(s), best of {args.repeats} epochs\n")
    print(table(
        ["model", "lingscope Trainer.run_epoch (tokens/s)", "bare torch cell loop (tokens/s)", "lingscope / bare",
         "target >= 0.80"],
        [[r["kind"], f"{r['lingscope_tokens_per_s']:,.0f}", f"{r['bare_tokens_per_s']:,.0f}", f"{r['ratio']:.2f}",
          "met" if r["ratio"] >= 0.8 else "NOT MET"] for r in results]))
    summary = []
    for r in results:
        size = f"{r['kind']} {r['embedding_dim']}x{r['hidden_dim']}"
        summary += [figure(f"lingscope / bare torch cell loop, tokens per second, {size}", round(r["ratio"], 3),
                           ">= 0.8"),
                    figure(f"lingscope training tokens per second, {size}", round(r["lingscope_tokens_per_s"]))]
    path = write_results("sentiment_training_throughput", {"machine": machine(), "repeats": args.repeats,
                                                           "results": results}, args.out,
                         title="Sentiment training throughput: Trainer.run_epoch against a bare torch cell loop",
                         summary=summary)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
