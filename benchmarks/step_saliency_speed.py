"""Step saliency speed on one core: lingscope's batched pass against the per-sentence reference.

Measured in the same run, on the same model (the catalog's autoencoder kind, created through its
family at the laptop sizes, 64-d embeddings and 128-d states, 1 layer, seeded, its uniform
+-0.08 initialisation, eval mode) and the same random sentences (``--sentences``, default 64,
8-37 words each, drawn uniformly from a seeded numpy generator over a vocabulary of 800, plus
``<eos>``; WMT'14's mean is 22.5 tokens):

(a) ``lingscope.methods.step_saliency.step_saliency_batch``: ``mean_j |d log p(y_t) / d e_j|``
    of every source and decoded token for every decoding step t, over length-sorted batches of
    ``--batch-sentences`` (default 64): one forward pass per batch and one backward pass per
    step, over the whole batch;
(b) ``lingscope.methods.step_saliency.step_saliency_loop``: the reference, one sentence alone
    and unpadded, one forward pass and one backward pass per step.

Every sentence's (steps x steps) source and decoded matrices must agree to 1e-6 (the batched
ones compared on their first n x n block); the script exits non-zero where they do not, and
otherwise only reports. Rates are decoding steps per second (one per token, ``<eos>`` included).
Target: batched / loop >= 10x.

    python benchmarks/step_saliency_speed.py [--sentences 64] [--batch-sentences 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _common import SEED, best_of, figure, machine, table, write_results  # noqa: E402
from lingscope.core import catalog  # noqa: E402
from lingscope.encoding.captions import length_batches  # noqa: E402
from lingscope.encoding.csr import pad, to_csr  # noqa: E402
from lingscope.encoding.ids import SPECIALS  # noqa: E402
from lingscope.methods.step_saliency import step_saliency_batch, step_saliency_loop  # noqa: E402
from lingscope.models.autoencoder import NETWORK, READOUT  # noqa: E402
from lingscope.models.checkpoint import family, pick_device

TOLERANCE = 1e-6
TARGET = 10.0


def random_sentences(n: int, vocab_size: int, min_words: int, max_words: int, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``(flat, offsets)`` of ``n`` random sentences of ``min_words``-``max_words`` words (ids
    drawn uniformly past the special symbols), each followed by ``<eos>``."""
    rng = np.random.default_rng(seed)
    n_words = rng.integers(min_words, max_words + 1, n)
    words = rng.integers(len(SPECIALS), vocab_size, int(n_words.sum()))
    return to_csr(words, n_words, eos=True)


def batched(model, flat: np.ndarray, offsets: np.ndarray, batch_sentences: int,
            device: torch.device) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every sentence's (source, decoded), in sentence order, from length-sorted batches."""
    out: list = [None] * (len(offsets) - 1)
    for index in length_batches(np.diff(offsets), batch_sentences, None):
        ids, lengths = pad(flat, offsets, index)
        src, dec = step_saliency_batch(model, NETWORK, READOUT, torch.from_numpy(ids).to(device),
                                       torch.from_numpy(lengths).to(device))
        src, dec = src.cpu().numpy(), dec.cpu().numpy()
        for r, k in enumerate(index):
            n = int(lengths[r])
            out[k] = (src[r, :n, :n], dec[r, :n, :n])
    return out


def looped(model, flat: np.ndarray, offsets: np.ndarray, device: torch.device) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every sentence's (source, decoded) from the reference, one sentence at a time."""
    return [step_saliency_loop(model, NETWORK, READOUT, flat[offsets[s]:offsets[s + 1]], device)
            for s in range(len(offsets) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=64, help="random sentences scored")
    ap.add_argument("--min-words", type=int, default=8)
    ap.add_argument("--max-words", type=int, default=37)
    ap.add_argument("--vocab", type=int, default=800, help="vocabulary size, special symbols included")
    ap.add_argument("--embedding", type=int, default=64, help="embedding size (the laptop default: 64)")
    ap.add_argument("--hidden", type=int, default=128, help="LSTM state size (the laptop default: 128)")
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--batch-sentences", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each (best counts)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto (the model in eval mode; cuDNN off for the "
                    "gradients, as the method runs)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    flat, offsets = random_sentences(args.sentences, args.vocab, args.min_words, args.max_words, SEED)
    steps = int(offsets[-1])
    settings = catalog.kind("autoencoder").settings(kind="autoencoder", embedding_dim=args.embedding,
                                                    hidden_dim=args.hidden, layers=args.layers)
    torch.manual_seed(settings.seed)
    device = pick_device(args.device)
    model = family("autoencoder").create(settings, args.vocab, {}).to(device).eval()

    batched(model, flat, offsets[:9], args.batch_sentences, device)  # warm-up: allocator, MKL
    looped(model, flat, offsets[:5], device)
    holder = {}
    t_batch, batch_all = best_of(lambda: holder.update(batch=batched(model, flat, offsets, args.batch_sentences,
                                                                     device)), args.repeats)
    t_loop, loop_all = best_of(lambda: holder.update(loop=looped(model, flat, offsets, device)), args.repeats)

    diff = scale = 0.0
    for (b_src, b_dec), (l_src, l_dec) in zip(holder["batch"], holder["loop"]):
        diff = max(diff, float(np.abs(b_src - l_src).max()), float(np.abs(b_dec - l_dec).max()))
        scale = max(scale, float(np.abs(l_src).max()), float(np.abs(l_dec).max()))
    row = {"device": str(device), "sentences": args.sentences, "steps": steps, "vocab": args.vocab, "embedding_dim": args.embedding,
           "hidden_dim": args.hidden, "layers": args.layers, "batch_sentences": args.batch_sentences,
           "batched_seconds": batch_all, "loop_seconds": loop_all, "batched_steps_per_s": steps / t_batch,
           "loop_steps_per_s": steps / t_loop, "speedup": t_loop / t_batch, "max_abs_diff": diff,
           "max_abs_saliency": scale}
    print(f"[autoencoder {args.embedding}x{args.hidden}x{args.layers}] batched {t_batch:.3f} s, loop {t_loop:.3f} s, "
          f"max |diff| {diff:.1e} (largest saliency {scale:.1e})", file=sys.stderr, flush=True)

    print(f"\nStep saliency: {args.sentences:,} random sentences ({steps:,} decoding steps, <eos> included), "
          f"autoencoder {args.embedding}x{args.hidden}, {args.layers} layer(s), vocabulary {args.vocab}, "
          f"{args.threads} thread(s), best of {args.repeats}\n")
    print(table(
        ["model", "batched step_saliency_batch (steps/s)", "step_saliency_loop per sentence (steps/s)",
         "batched (s)", "loop (s)", "loop / batched", "max abs diff", f"target >= {TARGET:.0f}x, <= 1e-6"],
        [[f"autoencoder {args.embedding}x{args.hidden}", f"{row['batched_steps_per_s']:,.0f}",
          f"{row['loop_steps_per_s']:,.0f}", f"{t_batch:.3f}", f"{t_loop:.3f}", f"{row['speedup']:.1f}x",
          f"{diff:.1e}", "met" if row["speedup"] >= TARGET and diff <= TOLERANCE else "NOT MET"]]))
    label = f"autoencoder {args.embedding}x{args.hidden}x{args.layers}, {device}"
    summary = [figure(f"batched / per-sentence loop, {label}", round(row["speedup"], 2), f">= {TARGET:.0f}x"),
               figure(f"batched decoding steps per second, {label}", round(row["batched_steps_per_s"])),
               figure(f"max abs diff from the loop, {label}", diff, f"<= {TOLERANCE:g}")]
    path = write_results("step_saliency_speed", {"machine": machine(), "repeats": args.repeats, "results": [row]},
                         args.out, title="Step saliency: the batched pass against the per-sentence reference",
                         summary=summary)
    print(f"\nwrote {path}")
    if diff > TOLERANCE:
        print(f"step saliency: batched and loop differ by {diff:.2e} > {TOLERANCE}", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
