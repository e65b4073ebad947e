"""Autoencoder training throughput, tokens/s of one epoch on one core.

lingscope: ``lingscope.training.train.Trainer.run_epoch`` on the catalog's autoencoder kind
(created through its family at the laptop sizes, 64-d embeddings and 128-d states, 1 layer,
uniform +-0.08 init; the model contract's objective, the cross-entropy of the sentence decoded
from its own representation with teacher forcing, through ``objectives.loss``; Adam, the
gradient norm clipped at 5; length-bucketed batches of 64, padded per batch; tqdm and running
metrics).
Baseline, measured in the same run: a bare torch loop doing the same work on a second model of
the same family, seeded alike: ``lingscope.models.base.reconstruction_logits``, cross-entropy
over the real tokens (``<pad>`` ignored), ``zero_grad``, backward, ``clip_grad_norm_``, Adam;
over pre-built padded tensors of exactly the same batches (this epoch's order): no bucketing,
no Batch, no objective dispatch, no progress bar, no metrics. So the ratio is the cost of the
training loop itself, not of the model. Both count the same tokens (every word plus its <eos>).

The sentences are random: 8-37 words each (WMT'14's mean is 22.5 tokens), drawn uniformly from
a seeded numpy generator over a vocabulary of 800, plus ``<eos>``.
Target: lingscope >= 80% of the bare loop.

    python benchmarks/autoencoder_training_throughput.py [--n-train 4000] [--batch-size 64] [--repeats 3]
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

from _common import SEED, epoch_race, figure, machine, table, write_results  # noqa: E402
from lingscope.core import catalog  # noqa: E402
from lingscope.encoding.captions import Sentences, length_batches  # noqa: E402
from lingscope.encoding.csr import to_csr  # noqa: E402
from lingscope.encoding.ids import PAD_ID, SPECIALS  # noqa: E402
from lingscope.models.autoencoder import NETWORK, READOUT  # noqa: E402
from lingscope.models.checkpoint import family
from lingscope.models.readouts import reconstruction_logits
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


def bare_epoch(model, opt, batches, clip: float) -> None:
    model.train()
    params = list(model.parameters())
    for ids, lengths in batches:
        logits = reconstruction_logits(model, NETWORK, READOUT, ids, lengths)
        loss = F.cross_entropy(logits.flatten(0, 1), ids.flatten(), ignore_index=PAD_ID)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=4000, help="random train sentences")
    ap.add_argument("--min-words", type=int, default=8)
    ap.add_argument("--max-words", type=int, default=37)
    ap.add_argument("--vocab", type=int, default=800, help="vocabulary size, special symbols included")
    ap.add_argument("--embedding", type=int, default=64, help="embedding size (the laptop default: 64)")
    ap.add_argument("--hidden", type=int, default=128, help="LSTM state size (the laptop default: 128)")
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64, help="sentences per batch (the laptop default)")
    ap.add_argument("--repeats", type=int, default=3, help="timed epochs per loop (best counts)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--show-progress", action="store_true", help="let lingscope's tqdm bar print (hidden by default)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    device = torch.device("cpu")
    words = (args.vocab, args.min_words, args.max_words)
    splits = {"train": random_sentences(args.n_train, *words, SEED), "val": random_sentences(200, *words, SEED + 1)}
    data, targets = load_targets([], {}, splits, device)  # no target table: the sentences are their own targets
    warm_splits = {"train": random_sentences(640, *words, SEED + 2), "val": splits["val"]}
    warm_data, warm_targets = load_targets([], {}, warm_splits, device)
    train = data["train"]
    n_tokens = int(train.lengths.sum())
    quiet = contextlib.nullcontext if args.show_progress else lambda: contextlib.redirect_stderr(open(os.devnull, "w"))

    kind = catalog.kind("autoencoder")
    settings = kind.settings(kind="autoencoder", embedding_dim=args.embedding, hidden_dim=args.hidden,
                             layers=args.layers, batch_size=args.batch_size)
    torch.manual_seed(settings.seed)
    model = family("autoencoder").create(settings, args.vocab, targets.units)
    opt = OPTIMIZERS[settings.optimizer](model.parameters(), lr=settings.learning_rate, weight_decay=settings.l2)
    trainer = Trainer(model, settings, "autoencoder", data, targets, device)
    warm_trainer = Trainer(model, settings, "autoencoder", warm_data, warm_targets, device)

    # The bare loop: the same batches (this epoch's order), padded once, outside the timing.
    batches = []
    for index in length_batches(train.lengths, settings.batch_size, _epoch_rng(settings.seed, EPOCH)):
        ids, lengths = train.padded(index)
        batches.append((torch.from_numpy(ids), torch.from_numpy(lengths)))
    torch.manual_seed(settings.seed)
    bare = family("autoencoder").create(settings, args.vocab, targets.units)
    bare_opt = OPTIMIZERS[settings.optimizer](bare.parameters(), lr=settings.learning_rate, weight_decay=settings.l2)
    assert settings.lr_decay_start == 0, "the bare loop keeps the learning rate constant"

    with quiet():
        warm_trainer.run_epoch(opt, 0)  # warm-up: allocator, MKL, Adam state
        bare_epoch(bare, bare_opt, batches[:10], settings.grad_clip)
        race = epoch_race(lambda: trainer.run_epoch(opt, EPOCH),
                          lambda: bare_epoch(bare, bare_opt, batches, settings.grad_clip), args.repeats, n_tokens)
    row = {"kind": "autoencoder", "embedding_dim": settings.embedding_dim, "hidden_dim": settings.hidden_dim,
           "layers": settings.layers, "vocab": args.vocab, "batch_size": settings.batch_size, "sentences": len(train),
           "batches": len(batches), **race}
    print(f"[autoencoder] lingscope {row['lingscope_tokens_per_s']:,.0f} tok/s, bare {row['bare_tokens_per_s']:,.0f} "
          f"tok/s", file=sys.stderr, flush=True)

    print(f"\nAutoencoder training throughput: {len(train):,} random sentences ({n_tokens:,} tokens incl. <eos>) "
          f"per epoch, vocabulary {args.vocab}, batch {settings.batch_size}, {settings.optimizer}, clip "
          f"{settings.grad_clip:g}, {args.threads} thread(s), best of {args.repeats} epochs\n")
    print(table(
        ["model", "lingscope Trainer.run_epoch (tokens/s)", "bare torch loop (tokens/s)", "lingscope / bare",
         "target >= 0.80"],
        [[f"autoencoder {row['embedding_dim']}x{row['hidden_dim']}x{row['layers']}",
          f"{row['lingscope_tokens_per_s']:,.0f}", f"{row['bare_tokens_per_s']:,.0f}", f"{row['ratio']:.2f}",
          "met" if row["ratio"] >= 0.8 else "NOT MET"]]))
    size = f"autoencoder {row['embedding_dim']}x{row['hidden_dim']}x{row['layers']}"
    summary = [figure(f"lingscope / bare torch loop, tokens per second, {size}", round(row["ratio"], 3), ">= 0.8"),
               figure(f"lingscope training tokens per second, {size}", round(row["lingscope_tokens_per_s"]))]
    path = write_results("autoencoder_training_throughput", {"machine": machine(), "repeats": args.repeats,
                                                              "results": [row]}, args.out,
                         title="Autoencoder training throughput: Trainer.run_epoch against a bare torch loop",
                         summary=summary)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
