"""Stacked LSTM language model training speed, tokens/s of one epoch on one core.

lingscope: ``lingscope.training.train.Trainer.run_epoch`` (the loop the training CLI runs; per
batch ``Trainer.batch`` and ``objectives.loss``, the next-token cross-entropy of
``lingscope.models.readouts.next_token_logits``) on the catalog's ``lm`` kind created through its
family with ``cell: lstm``, ``layers: 2`` (200-d embeddings, 200-d states by default): Adam, the
gradient norm clipped at 5; length-bucketed batches of 64, padded per batch; tqdm and running
metrics.
Baseline, measured in the same process: a bare torch loop of the same layers written out by
hand, ``nn.Embedding`` + ``nn.LSTM(200, 200, 2, batch_first=True)`` + ``nn.Linear(200, V)``,
starting from the same weights: the state before each token (zero for the first) scores it,
cross-entropy over the real tokens (``<pad>`` ignored), ``zero_grad``, backward,
``clip_grad_norm_``, Adam; over pre-built padded tensors of exactly the same batches (this
epoch's order) and the same padding: no bucketing, no Batch, no contract, no objective
dispatch, no progress bar, no metrics. The two are timed alternately, ``--repeats`` times each,
best of each counts. Both count the same tokens (every word plus its <eos>).

The sentences are random: 5-25 words each, drawn uniformly from a seeded numpy generator over
a vocabulary of 10,000 words (plus the special symbols), plus ``<eos>``.
Target: lingscope >= 80% of the bare loop.

    python benchmarks/lm_training_speed.py [--n-train 1200] [--batch-size 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from _common import SEED, epoch_race, figure, machine, table, write_results  # noqa: E402
from lingscope.core import catalog  # noqa: E402
from lingscope.encoding.captions import Sentences, length_batches  # noqa: E402
from lingscope.encoding.csr import to_csr  # noqa: E402
from lingscope.encoding.ids import PAD_ID, SPECIALS  # noqa: E402
from lingscope.models.checkpoint import family
from lingscope.training.objectives import load_targets  # noqa: E402
from lingscope.training.train import OPTIMIZERS, Trainer, _epoch_rng  # noqa: E402

EPOCH = 1  # every timed epoch (both loops) uses the batches of this epoch


def random_sentences(n: int, vocab_size: int, min_words: int, max_words: int, seed: int) -> Sentences:
    """``n`` random sentences of ``min_words``-``max_words`` words (ids drawn uniformly past the
    special symbols), each followed by ``<eos>``, as a split the trainer reads."""
    rng = np.random.default_rng(seed)
    n_words = rng.integers(min_words, max_words + 1, n)
    words = rng.integers(len(SPECIALS), vocab_size, int(n_words.sum()))
    flat, offsets = to_csr(words, n_words, eos=True)
    tokens = [[f"w{i}" for i in words[a:b]] for a, b in zip(np.r_[0, np.cumsum(n_words)[:-1]], np.cumsum(n_words))]
    return Sentences(np.arange(n, dtype=np.int64), np.full(n, -1, dtype=np.int64), flat, offsets, tokens)


class BareLM(nn.Module):
    """The same layers, written out by hand: embedding, stacked LSTM, linear readout."""

    def __init__(self, vocab: int, embedding: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embedding, padding_idx=PAD_ID)
        self.lstm = nn.LSTM(embedding, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.out = nn.Linear(hidden, vocab)
        self.dropout = dropout

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.lstm(self.embedding(ids))[0]
        h = torch.cat([h.new_zeros(h.shape[0], 1, h.shape[2]), h[:, :-1]], 1)  # the state before each token
        if self.training and self.dropout > 0:
            h = F.dropout(h, self.dropout, True)
        return self.out(h)


def bare_epoch(model, opt, batches, clip: float) -> None:
    model.train()
    params = list(model.parameters())
    for ids in batches:
        logits = model(ids)
        loss = F.cross_entropy(logits.flatten(0, 1), ids.flatten(), ignore_index=PAD_ID)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=1200, help="random train sentences")
    ap.add_argument("--min-words", type=int, default=5)
    ap.add_argument("--max-words", type=int, default=25)
    ap.add_argument("--words", type=int, default=10000, help="vocabulary size in words (the special symbols added)")
    ap.add_argument("--embedding", type=int, default=200)
    ap.add_argument("--hidden", type=int, default=200)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3, help="timed epochs per loop (best counts)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--show-progress", action="store_true", help="let lingscope's tqdm bar print (hidden by default)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    device = torch.device("cpu")
    vocab = args.words + len(SPECIALS)
    words = (vocab, args.min_words, args.max_words)
    splits = {"train": random_sentences(args.n_train, *words, SEED), "val": random_sentences(200, *words, SEED + 1)}
    data, targets = load_targets([], {}, splits, device)
    warm_splits = {"train": random_sentences(320, *words, SEED + 2), "val": splits["val"]}
    warm_data, warm_targets = load_targets([], {}, warm_splits, device)
    train = data["train"]
    n_tokens = int(train.lengths.sum())
    quiet = contextlib.nullcontext if args.show_progress else lambda: contextlib.redirect_stderr(open(os.devnull, "w"))

    kind = catalog.kind("lm")
    settings = kind.settings(kind="lm", embedding_dim=args.embedding, hidden_dim=args.hidden, cell="lstm",
                             layers=args.layers, dropout=args.dropout, batch_size=args.batch_size)
    torch.manual_seed(settings.seed)
    model = family("lm").create(settings, vocab, targets.units)
    opt = OPTIMIZERS[settings.optimizer](model.parameters(), lr=settings.learning_rate, weight_decay=settings.l2)
    trainer = Trainer(model, settings, "lm", data, targets, device)
    warm_trainer = Trainer(model, settings, "lm", warm_data, warm_targets, device)
    assert settings.lr_decay_start == 0, "the bare loop keeps the learning rate constant"

    # The bare loop: the same batches (this epoch's order), padded once, outside the timing,
    # from the same initial weights.
    batches = [torch.from_numpy(train.padded(index)[0])
               for index in length_batches(train.lengths, settings.batch_size, _epoch_rng(settings.seed, EPOCH))]
    bare = BareLM(vocab, args.embedding, args.hidden, args.layers, args.dropout)
    with torch.no_grad():
        bare.embedding.weight.copy_(model.embedding.weight)
        bare.lstm.load_state_dict(model.textual.state_dict())
        bare.out.load_state_dict(model.textual_out.state_dict())
    bare_opt = torch.optim.Adam(bare.parameters(), lr=settings.learning_rate, weight_decay=settings.l2)
    assert settings.optimizer == "adam"

    with quiet():
        warm_trainer.run_epoch(opt, 0)  # warm-up: allocator, MKL, Adam state
        bare_epoch(bare, bare_opt, batches[:5], settings.grad_clip)
        race = epoch_race(lambda: trainer.run_epoch(opt, EPOCH),
                          lambda: bare_epoch(bare, bare_opt, batches, settings.grad_clip), args.repeats, n_tokens)
    size = f"lm lstm {args.embedding}x{args.hidden}x{args.layers}, vocabulary {vocab:,}"
    row = {"kind": "lm", "cell": "lstm", "embedding_dim": args.embedding, "hidden_dim": args.hidden,
           "layers": args.layers, "dropout": args.dropout, "vocab": vocab, "batch_size": settings.batch_size,
           "sentences": len(train), "batches": len(batches), "threads": args.threads, **race}
    print(f"[lm] lingscope {row['lingscope_tokens_per_s']:,.0f} tok/s, bare {row['bare_tokens_per_s']:,.0f} tok/s",
          file=sys.stderr, flush=True)

    print(f"\nLM training speed: {len(train):,} random sentences ({n_tokens:,} tokens incl. <eos>) per epoch, "
          f"vocabulary {vocab:,}, batch {settings.batch_size}, {settings.optimizer}, clip {settings.grad_clip:g}, "
          f"{args.threads} thread(s), best of {args.repeats} epochs\n")
    print(table(
        ["model", "lingscope Trainer.run_epoch (tokens/s)", "bare torch loop (tokens/s)", "lingscope / bare",
         "target >= 0.80"],
        [[size, f"{row['lingscope_tokens_per_s']:,.0f}", f"{row['bare_tokens_per_s']:,.0f}", f"{row['ratio']:.2f}",
          "met" if row["ratio"] >= 0.8 else "NOT MET"]]))
    summary = [figure(f"lingscope / bare torch loop, tokens per second, {size}", round(row["ratio"], 3), ">= 0.8"),
               figure(f"lingscope training tokens per second, {size}", round(row["lingscope_tokens_per_s"])),
               figure(f"bare torch loop tokens per second, {size}", round(row["bare_tokens_per_s"]))]
    path = write_results("lm_training_speed", {"machine": machine(), "repeats": args.repeats, "results": [row]},
                         args.out, title="Stacked LSTM language model training: Trainer.run_epoch against a bare "
                                         "torch loop of the same layers", summary=summary)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
