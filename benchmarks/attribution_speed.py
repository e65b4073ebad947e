"""Integrated gradients speed: lingscope's batched pass against Captum's ``IntegratedGradients`` per sentence.

Measured in the same run, on the same models and the same random sentences (``--sentences``,
default 256, 5-25 words each, drawn uniformly from a seeded numpy generator over a vocabulary of
3,000, plus ``<eos>`` where the kind reads one). The networks (``--networks``, ``KIND/NETWORK``)
are created through their catalog family at the catalog's default sizes (or ``--embedding`` /
``--hidden``), seeded, in eval mode: by default a class readout, the LSTM sentiment classifier of
Li et al. (2016) at the paper's 60-d embeddings and states, and a next-token readout, the
stand-alone GRU language model's TEXTUAL network at the laptop sizes (64-d embeddings, 128-d
states):

(a) ``lingscope.methods.attribution.attribute_batch``: the integrated gradients of every
    position of every sentence, over right-padded length-sorted batches of
    ``--batch-sentences`` (default 64), the ``--steps`` integration points (default 50,
    Gauss-Legendre) laid along the batch dimension, at most ``--batch-rows`` rows per backward
    pass (default 512, as ``attribution.batch_rows``: all the points of 10 sentences); the
    saliency at the input and the scores of the input and of the baseline come with it, as the
    method computes them;
(b) Captum's ``IntegratedGradients(score).attribute(emb, baselines=0, n_steps=steps,
    method="gausslegendre")``, one call per sentence alone and unpadded (a batch of one; Captum
    stacks the integration points along the batch dimension in one pass), ``score`` being
    ``lingscope.methods.attribution.Score`` built on that sentence: the same scalar the batched
    path attributes (the predicted class's score; the sentence's log-likelihood).

The attributions compared are IG per position and embedding dimension over every position the
network reads (the words, and ``<eos>`` where the kind reads one; padding excluded); they must
agree to 1e-5. The script exits non-zero where they do not, and otherwise only reports. Both
runs are repeated ``--repeats`` times, interleaved so that a slow spell of a shared machine hits
both; the best of each counts. Target: Captum / batched >= 5x in wall time.

    python benchmarks/attribution_speed.py [--sentences 256] [--steps 50] [--networks lstm/sentiment lm/textual]
        [--batch-sentences 64] [--batch-rows 512] [--repeats 3] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from functools import partial
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
from _common import SEED, figure, machine, table, timed, write_results

from lingscope.core import catalog
from lingscope.encoding.captions import length_batches
from lingscope.encoding.csr import pad, to_csr
from lingscope.encoding.ids import SPECIALS
from lingscope.methods import attribution
from lingscope.methods.saliency import gradient_context
from lingscope.models.checkpoint import family, pick_device

TOLERANCE = 1e-5
TARGET = 5.0
METHOD = "gausslegendre"
NETWORKS = ("lstm/sentiment", "lm/textual")


def random_sentences(n: int, vocab_size: int, min_words: int, max_words: int, eos: bool, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``(flat, offsets)`` of ``n`` random sentences of ``min_words``-``max_words`` words (ids
    drawn uniformly past the special symbols), each followed by ``<eos>`` when ``eos``."""
    rng = np.random.default_rng(seed)
    n_words = rng.integers(min_words, max_words + 1, n)
    words = rng.integers(len(SPECIALS), vocab_size, int(n_words.sum()))
    return to_csr(words, n_words, eos=eos)


def batched(model, network: str, flat: np.ndarray, offsets: np.ndarray, steps: int, batch_sentences: int,
            batch_rows: int, device: torch.device) -> list[np.ndarray]:
    """Every sentence's IG (length, dim), in sentence order, from length-sorted padded batches."""
    out: list = [None] * (len(offsets) - 1)
    for index in length_batches(np.diff(offsets), batch_sentences, None):
        ids, lengths = pad(flat, offsets, index)
        r = attribution.attribute_batch(model, network, torch.from_numpy(ids).to(device),
                                        torch.from_numpy(lengths).to(device), steps, METHOD, batch_rows)
        ig = r["ig"].cpu().numpy()
        for row, k in enumerate(index):
            out[k] = ig[row, :int(lengths[row])]
    return out


def captum_loop(model, network: str, flat: np.ndarray, offsets: np.ndarray, steps: int,
                device: torch.device) -> list[np.ndarray]:
    """Every sentence's IG (length, dim) through Captum, one ``attribute`` call per sentence alone."""
    from captum.attr import IntegratedGradients

    out = []
    with gradient_context(device):
        for s in range(len(offsets) - 1):
            ids = torch.from_numpy(flat[offsets[s]:offsets[s + 1]]).unsqueeze(0).to(device)
            lengths = torch.tensor([ids.shape[1]], device=device)
            score = attribution.Score(model, network, ids, lengths)
            emb = model.embed(ids).detach()
            ig = IntegratedGradients(score).attribute(emb, baselines=torch.zeros_like(emb), n_steps=steps,
                                                      method=METHOD)
            out.append(ig[0].detach().cpu().numpy())
    return out


def keep(holder: dict, name: str, fn) -> None:
    """``holder[name] = fn()`` (what a timed run computed, kept for the comparison)."""
    holder[name] = fn()


def make_model(spec: str, vocab: int, embedding: int | None, hidden: int | None, device: torch.device):
    """``(kind, network, model, settings)`` of a ``KIND/NETWORK`` spec, seeded, in eval mode."""
    kind_name, _, network = spec.partition("/")
    kind = catalog.kind(kind_name)
    network = network or kind.networks[0].name
    kind.network(network)  # a KeyError naming the kind's networks if it has no such one
    sizes = {k: v for k, v in (("embedding_dim", embedding), ("hidden_dim", hidden)) if v is not None}
    settings = kind.settings(kind=kind_name, **sizes)
    torch.manual_seed(settings.seed)
    model = family(kind_name).create(settings, vocab, {}).to(device).eval()
    return kind, network, model, settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", nargs="+", default=list(NETWORKS),
                    help="KIND/NETWORK of the catalog (default: a class readout and a next-token readout)")
    ap.add_argument("--sentences", type=int, default=256, help="random sentences attributed")
    ap.add_argument("--min-words", type=int, default=5)
    ap.add_argument("--max-words", type=int, default=25)
    ap.add_argument("--vocab", type=int, default=3000, help="vocabulary size, special symbols included")
    ap.add_argument("--embedding", type=int, default=None, help="embedding size (default: the kind's, 60 lstm, 64 lm)")
    ap.add_argument("--hidden", type=int, default=None, help="state size (default: the kind's, 60 lstm, 128 lm)")
    ap.add_argument("--steps", type=int, default=50, help="integration points (Gauss-Legendre)")
    ap.add_argument("--batch-sentences", type=int, default=64)
    ap.add_argument("--batch-rows", type=int, default=512, help="rows per backward pass of the batched path")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each, interleaved (best counts)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto (the model in eval mode; cuDNN off for the "
                    "gradients, as the method runs)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", module="captum")
    device = pick_device(args.device)

    results, failed = [], []
    for spec in args.networks:
        kind, network, model, settings = make_model(spec, args.vocab, args.embedding, args.hidden, device)
        flat, offsets = random_sentences(args.sentences, args.vocab, args.min_words, args.max_words,
                                         kind.reads_eos, SEED)
        n_words, n_positions = int(offsets[-1]) - (args.sentences if kind.reads_eos else 0), int(offsets[-1])
        _, score_kind = attribution.score_readout(model, network)
        label = f"{kind.name}/{network} {settings.embedding_dim}x{settings.hidden_dim}"

        ours = partial(batched, model, network, flat, offsets, args.steps, args.batch_sentences, args.batch_rows,
                       device)
        theirs = partial(captum_loop, model, network, flat, offsets, args.steps, device)
        # warm-up: allocator, MKL, Captum's imports
        batched(model, network, flat, offsets[:9], args.steps, args.batch_sentences, args.batch_rows, device)
        captum_loop(model, network, flat, offsets[:5], args.steps, device)
        holder, t_ours, t_captum = {}, [], []
        for _ in range(args.repeats):
            t_ours.append(timed(partial(keep, holder, "ours", ours)))
            t_captum.append(timed(partial(keep, holder, "captum", theirs)))

        diff = scale = diff_words = 0.0
        for k, (a, b) in enumerate(zip(holder["ours"], holder["captum"])):
            assert a.shape == b.shape, f"{label}: sentence {k}: shapes {a.shape} and {b.shape}"
            d = np.abs(a - b)
            diff, scale = max(diff, float(d.max())), max(scale, float(np.abs(b).max()))
            diff_words = max(diff_words, float(d[:a.shape[0] - (1 if kind.reads_eos else 0)].max()))
        best_ours, best_captum = min(t_ours), min(t_captum)
        row = {"kind": kind.name, "network": network, "score": attribution.SCORES[score_kind],
               "device": str(device), "sentences": args.sentences, "words": n_words, "positions": n_positions,
               "reads_eos": kind.reads_eos, "vocab": args.vocab, "embedding_dim": settings.embedding_dim,
               "hidden_dim": settings.hidden_dim, "steps": args.steps, "method": METHOD,
               "batch_sentences": args.batch_sentences, "batch_rows": args.batch_rows,
               "batched_seconds": t_ours, "captum_seconds": t_captum,
               "batched_ms_per_sentence": 1e3 * best_ours / args.sentences,
               "captum_ms_per_sentence": 1e3 * best_captum / args.sentences,
               "speedup": best_captum / best_ours, "max_abs_diff": diff, "max_abs_diff_words": diff_words,
               "max_abs_ig": scale}
        row["met"] = row["speedup"] >= TARGET and diff <= TOLERANCE
        results.append(row)
        if diff > TOLERANCE:
            failed.append(f"{label}: batched and Captum IG differ by {diff:.2e} > {TOLERANCE}")
        print(f"[{label}] batched {best_ours:.3f} s, Captum per sentence {best_captum:.3f} s, "
              f"Captum / batched {row['speedup']:.1f}x, max |diff| {diff:.1e} over all positions "
              f"({diff_words:.1e} over words; largest |IG| {scale:.1e})", file=sys.stderr, flush=True)

    print(f"\nIntegrated gradients: {args.sentences:,} random sentences of {args.min_words}-{args.max_words} words, "
          f"vocabulary {args.vocab}, {args.steps} {METHOD} points, batches of {args.batch_sentences} sentences "
          f"and <= {args.batch_rows} rows per pass, {args.threads} thread(s), {device}, best of {args.repeats}; "
          f"max abs diff of IG per position and dimension over every position read (<eos> too where read)\n")
    print(table(
        ["network", "score", "batched attribute_batch (s)", "Captum IG per sentence (s)", "Captum / batched",
         "ms per sentence (batched / Captum)", "max abs diff", f"target >= {TARGET:.0f}x, <= 1e-5"],
        [[f"{r['kind']}/{r['network']} {r['embedding_dim']}x{r['hidden_dim']}", r["score"],
          f"{min(r['batched_seconds']):.3f}", f"{min(r['captum_seconds']):.3f}", f"{r['speedup']:.1f}x",
          f"{r['batched_ms_per_sentence']:.2f} / {r['captum_ms_per_sentence']:.2f}", f"{r['max_abs_diff']:.1e}",
          "met" if r["met"] else "NOT MET"] for r in results]))
    summary = []
    for r in results:
        label = f"{r['kind']}/{r['network']} {r['embedding_dim']}x{r['hidden_dim']}, {r['device']}"
        summary += [figure(f"Captum / batched integrated gradients, {label}", round(r["speedup"], 2),
                           f">= {TARGET:.0f}x"),
                    figure(f"batched ms per sentence, {label}", round(r["batched_ms_per_sentence"], 3)),
                    figure(f"max abs diff from Captum, {label}", r["max_abs_diff"], f"<= {TOLERANCE:g}")]
    path = write_results("attribution_speed", {"machine": machine(), "repeats": args.repeats, "results": results},
                         args.out, title="Integrated gradients: lingscope's batched pass against Captum per sentence",
                         summary=summary)
    print(f"\nwrote {path}")
    if failed:
        print("\n".join(failed), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
