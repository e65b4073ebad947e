"""Saliency per decoding step of a sequence readout (Li et al. 2016, sec. 3.2 and Fig. 9; docs/li2016.md#step-saliency).

For a sentence ``y_1 .. y_n <eos>`` decoded from its own representation (teacher forcing: step t
reads ``START_ID, y_1 .. y_{t-1}``), and each decoding step t, the saliency of every token that
precedes the step's output is

    ``mean_j |d log p(y_t) / d e_j|``

over the embedding dimensions j of that token's embedding vector, for

- every **source** token: each token the network read (the words and ``<eos>``), and
- every **decoded** token: the decoder's input at steps 1 .. t (the start symbol, then
  ``y_1 .. y_{t-1}``). A later input cannot reach step t, so its gradient is exactly zero and no
  row is written for it.

The gradient is per position, of the embedding vectors fed to the network (a word that occurs
twice has two rows), as in :mod:`lingscope.methods.saliency`.

**Batched.** Sentences are independent (eval mode: dropout off, no batch statistics), so the
gradient of ``sum_b log p(y_t^b)`` holds every sentence's own gradient for step t: one forward pass
per batch and one backward pass per decoding step, over the whole batch (``retain_graph``), with
no loop over sentences. Steps past a sentence's end are masked out of the total, so they add
nothing. :func:`step_saliency_loop` is the reference it is tested against (one sentence alone,
one backward per step), and what ``benchmarks/step_saliency_speed.py`` times it against. On
CUDA the passes run with cuDNN off: cuDNN's recurrent backward refuses eval mode.

Which sentences: a seeded sample of ``step_saliency.sample`` sentences of the split, plus the
figure's (``chosen``): ``figure_ids``, or ``figure`` sentences drawn among those of the split's
median length. All go to one Parquet table (STEP_SALIENCY), one row per (sentence, step, token).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet
from lingscope.core.schemas import STEP_SALIENCY
from lingscope.core.settings import Runtime
from lingscope.encoding.captions import Sentences, length_batches, load_sentences
from lingscope.encoding.ids import EOS, load_vocab_checked
from lingscope.methods.saliency import gradient_context
from lingscope.methods.settings import StepSaliencySettings
from lingscope.models.base import Model, SEQUENCE
from lingscope.models.checkpoint import open_network
from lingscope.models.readouts import decoder_inputs, sequence_logits
from lingscope.models.tensors import mask


def sequence_readout(model: Model, network: str) -> str:
    """The network's sequence readout (what the decoding steps score)."""
    names = [r.name for r in model.readouts(network).values() if r.kind == SEQUENCE]
    if not names:
        raise ValueError(f"network {network!r} has no sequence readout; step saliency needs one")
    return names[0]


def _log_probs(model: Model, network: str, readout: str, ids: torch.Tensor, lengths: torch.Tensor):
    """``(log_p, emb_src, emb_in)``: log p(y_t) of every step (batch, time), zero past each
    sentence's end, and the two embedding tensors it was computed from (leaves with a gradient)."""
    emb_src = model.embed(ids).detach().requires_grad_(True)
    emb_in = model.embed(decoder_inputs(ids)).detach().requires_grad_(True)
    logits = sequence_logits(model, network, readout, emb_src, lengths, emb_in)
    log_p = torch.log_softmax(logits, -1).gather(2, ids.unsqueeze(-1)).squeeze(-1)
    return log_p * mask(lengths, ids.shape[1], log_p.dtype), emb_src, emb_in


def step_saliency_batch(model: Model, network: str, readout: str, ids: torch.Tensor, lengths: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(source, decoded)``, each (batch, steps, positions): the mean over embedding dimensions
    of ``|d log p(y_t) / d e|`` for every source token and every decoder input of a right-padded
    batch; one forward pass and one backward pass per step."""
    with gradient_context(ids.device):
        log_p, emb_src, emb_in = _log_probs(model, network, readout, ids, lengths)
        steps = ids.shape[1]
        source = ids.new_zeros(ids.shape[0], steps, steps, dtype=emb_src.dtype)
        decoded = torch.zeros_like(source)
        for t in range(steps):
            g_src, g_in = torch.autograd.grad(log_p[:, t].sum(), (emb_src, emb_in), retain_graph=t < steps - 1)
            source[:, t] = g_src.abs().mean(-1)
            decoded[:, t] = g_in.abs().mean(-1)
    return source.detach(), decoded.detach()


def step_saliency_loop(model: Model, network: str, readout: str, ids: np.ndarray, device
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The reference: one sentence ``ids`` (its tokens, ``<eos>`` last) alone and unpadded, one
    backward pass per step; ``(source, decoded)`` of shape (steps, steps)."""
    ids_t = torch.as_tensor(ids, device=device)[None]
    lengths = torch.tensor([len(ids)], device=device)
    with gradient_context(ids_t.device):
        log_p, emb_src, emb_in = _log_probs(model, network, readout, ids_t, lengths)
        rows = [torch.autograd.grad(log_p[0, t], (emb_src, emb_in), retain_graph=True) for t in range(len(ids))]
    source = torch.stack([g[0][0].abs().mean(-1) for g in rows]).cpu().numpy()
    decoded = torch.stack([g[1][0].abs().mean(-1) for g in rows]).cpu().numpy()
    return source, decoded


def pick_sentences(sentences: Sentences, settings: StepSaliencySettings, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, chosen)``: the rows of ``sentences`` to score, in order, and which are the figure's."""
    n = len(sentences)
    rng = np.random.default_rng(settings.seed)
    sample = np.arange(n) if settings.sample == 0 or settings.sample >= n else \
        np.sort(rng.choice(n, settings.sample, replace=False))
    if settings.figure_ids:
        row_of = {int(s): k for k, s in enumerate(sentences.sentence_ids)}
        missing = [s for s in settings.figure_ids if s not in row_of]
        if missing:
            raise InputError(where, f"sentence_id {missing[0]}", "step_saliency.figure_ids names a sentence that is "
                             f"not in split {settings.split!r}")
        figure = np.array([row_of[s] for s in settings.figure_ids], dtype=np.int64)
    else:
        words = sentences.lengths - 1
        median = int(np.median(words))
        # the sentences nearest the median length, drawn at random among equals
        order = np.lexsort((rng.random(n), np.abs(words - median)))
        figure = np.sort(order[: settings.figure])
    rows = np.union1d(sample, figure)
    return rows, np.isin(rows, figure)


def to_table(model_name: str, network: str, split: str, sentences: Sentences, rows: np.ndarray, chosen: np.ndarray,
             source: list[np.ndarray], decoded: list[np.ndarray]) -> pa.Table:
    """STEP_SALIENCY rows of the scored sentences (``source[k]``, ``decoded[k]``: (steps, steps))."""
    columns = {k: [] for k in ("sentence_id", "chosen", "step", "target", "side", "position", "token", "saliency")}
    for k, row in enumerate(rows):
        tokens = [*sentences.tokens[row], EOS]
        n = len(tokens)
        step = np.arange(1, n + 1)
        # source: every step x every position 1..n
        s_step, s_pos = np.repeat(step, n), np.tile(np.arange(1, n + 1), n)
        # decoded: step t x inputs 0..t-1 (input 0 is the start symbol, input p the p-th token)
        d_step = np.repeat(step, step)
        d_pos = np.concatenate([np.arange(t) for t in step])
        names = np.array(tokens, dtype=object)
        inputs = np.array([EOS, *tokens[:-1]], dtype=object)
        columns["sentence_id"].append(np.full(len(s_step) + len(d_step), sentences.sentence_ids[row]))
        columns["chosen"].append(np.full(len(s_step) + len(d_step), bool(chosen[k])))
        columns["step"].append(np.concatenate([s_step, d_step]))
        columns["target"].append(names[np.concatenate([s_step, d_step]) - 1])
        columns["side"].append(np.array(["source"] * len(s_step) + ["decoded"] * len(d_step), dtype=object))
        columns["position"].append(np.concatenate([s_pos, d_pos]))
        columns["token"].append(np.concatenate([names[s_pos - 1], inputs[d_pos]]))
        columns["saliency"].append(np.concatenate([source[k][:n, :n].ravel(), decoded[k][d_step - 1, d_pos]]))
    data = {k: np.concatenate(v) for k, v in columns.items()}
    size = len(data["step"])
    return pa.table({
        "model": pa.repeat(pa.scalar(model_name), size), "pathway": pa.repeat(pa.scalar(network), size),
        "split": pa.repeat(pa.scalar(split), size),
        "sentence_id": pa.array(data["sentence_id"].astype(np.int64)), "chosen": pa.array(data["chosen"]),
        "step": pa.array(data["step"].astype(np.int32)), "target": pa.array(data["target"].tolist(), pa.string()),
        "side": pa.array(data["side"].tolist(), pa.string()), "position": pa.array(data["position"].astype(np.int32)),
        "token": pa.array(data["token"].tolist(), pa.string()),
        "saliency": pa.array(data["saliency"].astype(np.float32)),
    }, schema=STEP_SALIENCY)


def sentence_step_saliency(model: Model, network: str, sentences: Sentences, rows: np.ndarray, device,
                           batch_sentences: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every step's saliency of the sentences at ``rows`` (per sentence: source and decoded, (steps, steps))."""
    readout = sequence_readout(model, network)
    source: list[np.ndarray | None] = [None] * len(rows)
    decoded: list[np.ndarray | None] = [None] * len(rows)
    lengths = sentences.lengths[rows]
    for batch in length_batches(lengths, batch_sentences, None):
        ids, lens = sentences.padded(rows[batch])
        src, dec = step_saliency_batch(model, network, readout, torch.from_numpy(ids).to(device),
                                       torch.from_numpy(lens).to(device))
        src, dec = src.float().cpu().numpy(), dec.float().cpu().numpy()
        for r, k in enumerate(batch):
            n = int(lens[r])
            source[k], decoded[k] = src[r, :n, :n], dec[r, :n, :n]
    return source, decoded


def run(model_path: Path, network: str, sentences_path: Path, vocab_path: Path, out: Path,
        settings: StepSaliencySettings, runtime: Runtime) -> None:
    model, extra, device = open_network(model_path, network, runtime)
    vocab = load_vocab_checked(vocab_path)
    where = f"{sentences_path} (split {settings.split!r})"
    sentences = load_sentences(sentences_path, vocab, settings.split, eos=model.reads_eos)
    if len(sentences) == 0:
        raise InputError(sentences_path, f"split {settings.split!r}", "no sentences to score")
    if not model.reads_eos:
        raise InputError(model_path, None, "step saliency decodes sentences that end in <eos>; this model reads none")
    rows, chosen = pick_sentences(sentences, settings, where)
    start = time.perf_counter()
    source, decoded = sentence_step_saliency(model, network, sentences, rows, device, settings.batch_sentences)
    seconds = time.perf_counter() - start
    steps = int(sentences.lengths[rows].sum())
    print(f"{extra['name']}/{network}: saliency of {steps:,} decoding steps of {len(rows):,} sentences in "
          f"{seconds:.1f} s ({steps / max(seconds, 1e-9):,.0f} steps/s on {device})", file=sys.stderr)
    table = to_table(extra["name"], network, settings.split, sentences, rows, chosen, source, decoded)
    write_parquet(table, out, STEP_SALIENCY, "step_saliency")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, type=Path, help="model.pt written by lingscope.training.train")
    p.add_argument("--pathway", required=True, help="the network of the model (lingscope.core.catalog)")
    p.add_argument("--sentences", required=True, type=Path, help="SENTENCES table")
    p.add_argument("--vocab", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path, help="STEP_SALIENCY Parquet table")
    StepSaliencySettings.add_arguments(p, "step saliency settings (config: step_saliency)")
    Runtime.add_arguments(p, "runtime (config: training)")
    args = p.parse_args(argv)
    run(args.model, args.pathway, args.sentences, args.vocab, args.out, StepSaliencySettings.from_args(args),
        Runtime.from_args(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
