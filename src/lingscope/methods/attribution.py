"""Gradient attribution of every network's score to its input tokens: first-derivative saliency,
gradient x input and integrated gradients (docs/beyond.md#attribution; Li et al. 2016, sec. 5; Sundararajan
et al. 2017), with Captum's definitions.

**The score** a network's tokens are attributed to is a scalar per sentence, fixed by the kind of
the network's readout (its first one), never by the model:

- ``classes``: the unnormalised score S_c of the class c the network predicts for the sentence
  (as :mod:`lingscope.methods.saliency`);
- ``regression``: the predicted vector's length along its own direction at the real input,
  ``<v(e), v(x)/|v(x)|>``: the vector analogue of "the predicted class's score" (the direction
  is fixed, as Captum's ``target`` is, so an interpolated input is scored along the same axis);
- ``next_token``: the sentence's log-likelihood, ``sum_t log p(w_t | w_<t)`` over its tokens;
- ``sequence``: the log-likelihood of the sentence decoded from its representation with teacher
  forcing, ``sum_t log p(y_t | y_<t, r)``; the decoder's inputs stay the real tokens', and only
  the tokens the network reads are attributed.

**The attributions** of the embedding vector e_t of every position t (a word read twice has two
rows), for each embedding dimension j, with ``g = dS/de`` at the real input:

- saliency ``|g_tj|`` (Captum ``Saliency``, ``abs=True``); its L2 norm over j is ``saliency_norm``;
- gradient x input ``e_tj g_tj`` (Captum ``InputXGradient``); ``gxi_norm``, and ``gxi_total``,
  the signed total over j;
- integrated gradients ``(e_tj - b_tj) * int_0^1 dS(b + a (e - b))/de_tj da`` (Captum
  ``IntegratedGradients``), the integral by Captum's rule (``ig_method``: Gauss-Legendre by
  default, or a Riemann rule) over ``ig_steps`` points; the baseline b is the zero embedding.
  ``ig_norm`` and ``ig_total`` as above;
- variance salience ``(e_tj - mean_t' e_t'j)^2`` (Li et al. 2016, sec. 6; the mean over the
  sentence's words, as :mod:`lingscope.methods.saliency`): ``variance_norm``. It needs no score,
  only the network's embeddings, so it runs on every network the score does.

Integrated gradients is complete: over every position of a sentence (``<eos>`` too where the
network reads one), the attributions add up to ``S(e) - S(b)``. ``completeness_gap`` is what the
quadrature leaves of that identity: ``sum_tj IG_tj - (S(e) - S(b))``; more steps shrink it.

**Batched.** Sentences are independent (eval mode), so the gradient of the total score of a batch
holds every sentence's own gradient: one backward pass gives the saliency of a whole batch, and
a few more the integrated gradients at all ``ig_steps`` points, the points laid along the batch
dimension, at most ``batch_rows`` rows per pass (it bounds memory). A pass holds all the points
of at most ``batch_rows // ig_steps`` sentences of one length, rather than a few points of the
whole batch padded to its longest: no recurrent step runs on padding, and a packed LSTM (the
autoencoder's encoder) keeps its fused kernel, which it leaves for a slower one on unequal
lengths. On the random sentences of 5-25 words of ``benchmarks/attribution_speed.py`` that took
the LSTM classifier's integrated gradients from 0.49 s to 0.35 s (128 sentences), the
autoencoder's from 1.43 s to 1.11 s (32), and left the language model's as it was. On a
vocabulary readout (next-token, sequence) the log-probabilities and their gradient go through
:func:`token_log_probs`, written by hand (its doc says why). Captum calls the model once per
sentence; ``benchmarks/attribution_speed.py`` measures the difference, and
``tests/test_contract.py`` checks the values against Captum's to 1e-5. On CUDA the passes run
with cuDNN off, as every gradient method here.

Only words are written (the omission table's tokens, so the two join on sentence_id and
position); a seeded sample of ``attribution.sample`` sentences of the split (0: all).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet
from lingscope.core.schemas import ATTRIBUTION
from lingscope.core.settings import Runtime
from lingscope.encoding.captions import Sentences, length_batches, load_sentences
from lingscope.encoding.csr import offsets_of, positions
from lingscope.encoding.ids import load_vocab_checked
from lingscope.methods.saliency import gradient_context, variance_salience
from lingscope.methods.settings import AttributionSettings
from lingscope.models.base import CLASSES, Model, NEXT_TOKEN, REGRESSION, SEQUENCE
from lingscope.models.checkpoint import open_network
from lingscope.models.readouts import decoder_inputs, decoder_states, next_token_states
from lingscope.models.tensors import mask

SCORES = {
    CLASSES: "the predicted class's unnormalised score",
    REGRESSION: "the predicted vector's length along its own direction",
    NEXT_TOKEN: "the sentence's log-likelihood under next-token prediction",
    SEQUENCE: "the log-likelihood of the sentence decoded from its representation (teacher forcing)",
}


def score_readout(model: Model, network: str) -> tuple[str, str]:
    """``(readout, kind)``: the readout whose score is attributed (the network's first)."""
    readouts = list(model.readouts(network).values())
    if not readouts:
        raise ValueError(f"network {network!r} has no readout to attribute")
    return readouts[0].name, readouts[0].kind


class Score:
    """The scalar score S(e) per sentence of a batch of embeddings ``e`` (see the module doc).

    Built once from the real input (``ids``, ``lengths``), which fixes what an interpolated input
    is scored against: the predicted class, the predicted direction, the tokens to predict.
    Called on ``repeat`` stacked copies of the batch (the points of an integral), it scores each;
    :meth:`subset` scores some of the batch's sentences alone.
    """

    def __init__(self, model: Model, network: str, ids: torch.Tensor, lengths: torch.Tensor):
        self.model, self.network, self.ids, self.lengths = model, network, ids, lengths
        self.readout, self.kind = score_readout(model, network)
        self.units = model.readouts(network)[self.readout].units
        if self.kind not in SCORES:
            raise ValueError(f"network {network!r}: no attribution score for a {self.kind!r} readout")
        self.reference = None
        if self.kind in (CLASSES, REGRESSION):
            with torch.no_grad():
                out = model.readout(network, self.readout, model.representation(network, model.embed(ids), lengths))
            if self.kind == CLASSES:
                self.reference = out.argmax(1)
            else:
                self.reference = out / out.norm(dim=1, keepdim=True).clamp(min=1e-12)
        if self.kind == SEQUENCE:
            self.emb_in = model.embed(decoder_inputs(ids)).detach()

    def subset(self, rows: torch.Tensor, width: int) -> Score:
        """The score of sentences ``rows`` of the batch alone, padded to ``width`` positions (at
        least their longest), against the same reference."""
        part = copy.copy(self)
        part.ids, part.lengths = self.ids[rows, :width], self.lengths[rows]
        if self.reference is not None:
            part.reference = self.reference[rows]
        if self.kind == SEQUENCE:
            part.emb_in = self.emb_in[rows, :width]
        return part

    def __call__(self, emb: torch.Tensor) -> torch.Tensor:
        repeat = emb.shape[0] // self.ids.shape[0]
        lengths = self.lengths.repeat(repeat)
        m, network, readout = self.model, self.network, self.readout
        if self.kind in (CLASSES, REGRESSION):
            out = m.readout(network, readout, m.representation(network, emb, lengths))
            if self.kind == CLASSES:
                return out.gather(1, self.reference.repeat(repeat)[:, None]).squeeze(1)
            return (out * self.reference.repeat(repeat, 1)).sum(1)
        if self.kind == NEXT_TOKEN:
            states = next_token_states(m, network, emb, lengths)
        else:
            states = decoder_states(m, network, readout, emb, lengths, self.emb_in.repeat(repeat, 1, 1))
        # The vocabulary logits of the sentences' own positions only: padding would cost as much
        # as a word, and the logits are most of the work.
        inside = mask(lengths, states.shape[1]).bool()
        log_p = token_log_probs(partial(m.readout, network, readout), states[inside],
                                self.ids.repeat(repeat, 1)[inside], self.units)
        row = torch.arange(states.shape[0], device=states.device)[:, None].expand_as(inside)[inside]
        return log_p.new_zeros(states.shape[0]).index_add(0, row, log_p)


# Logits per chunk of token_log_probs: 2^20 (4 MiB of float32, 349 rows of a 3,000-word
# vocabulary) keeps a chunk's logits and probabilities in cache; 128 to 512 rows measured alike.
CHUNK_LOGITS = 1 << 20


def token_log_probs(readout, states: torch.Tensor, targets: torch.Tensor, units: int) -> torch.Tensor:
    """``log p(targets[i] | states[i])`` under a vocabulary readout ``readout`` (states (rows, dim)
    to logits (rows, ``units``)), differentiable to ``states`` only.

    The values of ``log_softmax(readout(states)).gather(1, targets)``, written by hand because
    that expression was most of integrated gradients' time on a next-token readout (0.65x
    Captum's per-sentence calls in ``benchmarks/attribution_speed.py``): autograd keeps the
    logits and the log-softmax of every row of a pass (100 MB each at 512 rows x 16 positions x
    3,000 words), and the backward writes two more such tensors (the gather's scattered zeros,
    log_softmax's gradient), all out of cache. ``gather - logsumexp``, the log-softmax left out,
    was slower still: logsumexp's backward makes three full passes of its own.

    Here the rows go in chunks of ``CHUNK_LOGITS`` logits, and each chunk's gradient to its
    states, ``(onehot(target) - softmax) @ dlogits/dstates``, is taken right after its logits,
    while they are in cache; only that (rows, dim) gradient is kept for the backward pass. One
    softmax kernel serves both the value and the gradient: log p is ``logit[target] - max +
    log(max softmax)`` (the largest probability is ``1 / sum exp(logit - max)``, at least
    1 / ``units``: it never underflows, as a target's own may). The vocabulary part took half
    the time (20,000 rows: 0.87 s, now 0.42 s), the next-token integrated gradients of 128
    sentences 5.2 s, now 3.0 s (1.2x Captum's calls, which score through this function too).
    Without a gradient to take (no_grad, or states that need none) the chunks are only scored."""
    if torch.is_grad_enabled() and states.requires_grad:
        return _TokenLogProbs.apply(states, targets, readout, max(1, CHUNK_LOGITS // units))
    with torch.no_grad():
        return _token_log_probs(readout, states, targets, max(1, CHUNK_LOGITS // units))[0]


def _token_log_probs(readout, states: torch.Tensor, targets: torch.Tensor, chunk: int, grad: bool = False
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(log_p, dlog_p/dstates or None)`` of :func:`token_log_probs`, ``chunk`` rows at a time."""
    log_p = states.new_empty(states.shape[0])
    d_states = torch.empty_like(states) if grad else None
    for start in range(0, states.shape[0], chunk):
        part = slice(start, start + chunk)
        h, t = states[part].detach().requires_grad_(grad), targets[part]
        rows = torch.arange(t.shape[0], device=t.device)
        with torch.set_grad_enabled(grad):
            logits = readout(h)
        x = logits.detach()
        p = torch.softmax(x, 1)
        log_p[part] = x[rows, t] - x.amax(1) + p.amax(1).log()
        if grad:
            p.neg_()
            p[rows, t] += 1  # d log p(t) / d logits = onehot(t) - softmax
            (d_states[part],) = torch.autograd.grad(logits, h, p)
    return log_p, d_states


class _TokenLogProbs(torch.autograd.Function):
    """:func:`token_log_probs` with the gradient to the states taken in the forward pass, chunk
    by chunk; the backward pass only scales it. No gradient reaches the readout's weights."""

    @staticmethod
    def forward(ctx, states, targets, readout, chunk):
        log_p, d_states = _token_log_probs(readout, states, targets, chunk, grad=True)
        ctx.save_for_backward(d_states)
        return log_p

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_log_p):
        (d_states,) = ctx.saved_tensors
        return grad_log_p[:, None] * d_states, None, None, None


def integration_points(method: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``(alphas, weights)`` of Captum's integral rules (``captum.attr._utils.approximation_methods``):
    Gauss-Legendre on [0, 1], or the left/right/middle/trapezoid Riemann sums."""
    if method == "gausslegendre":
        x, w = np.polynomial.legendre.leggauss(steps)
        return 0.5 * (1 + x), 0.5 * w
    if steps < 2:
        raise ValueError("a Riemann rule needs at least 2 steps")
    weights = np.full(steps, 1 / steps)
    rule = method.removeprefix("riemann_")
    if rule == "trapezoid":
        weights[[0, -1]] /= 2
        return np.linspace(0, 1, steps), weights
    start, stop = {"left": (0, 1 - 1 / steps), "right": (1 / steps, 1),
                   "middle": (1 / (2 * steps), 1 - 1 / (2 * steps))}[rule]
    return np.linspace(start, stop, steps), weights


def attribute_batch(model: Model, network: str, ids: torch.Tensor, lengths: torch.Tensor, steps: int,
                    method: str = "gausslegendre", batch_rows: int = 4096) -> dict[str, torch.Tensor]:
    """Attributions of a right-padded batch, each (batch, time, dim): ``gradient`` (dS/de at the
    input), ``embedding``, ``ig``; and per sentence ``score`` S(e) and ``baseline_score`` S(0)."""
    alphas, weights = integration_points(method, steps)
    with gradient_context(ids.device):
        score = Score(model, network, ids, lengths)
        emb = model.embed(ids).detach()
        leaf = emb.clone().requires_grad_(True)
        s = score(leaf)
        (gradient,) = torch.autograd.grad(s.sum(), leaf)
        with torch.no_grad():
            baseline_score = score(torch.zeros_like(emb))
        total = torch.zeros_like(emb)
        # A pass holds all the points of a few sentences of one length, unpadded, rather than a
        # few points of the whole batch padded to its longest (see the module doc).
        group = max(1, batch_rows // steps)  # sentences per pass
        per_pass = max(1, batch_rows // group)  # integration points per pass
        order = torch.argsort(lengths.cpu(), stable=True)
        widths, counts = torch.unique_consecutive(lengths.cpu()[order], return_counts=True)
        for width, end, count in zip(widths.tolist(), counts.cumsum(0).tolist(), counts.tolist()):
            if width == 0:
                continue  # no position to attribute
            for first in range(end - count, end, group):
                rows = order[first:min(first + group, end)].to(ids.device)
                part, e = score.subset(rows, width), emb[rows, :width]
                for k in range(0, steps, per_pass):
                    a = torch.tensor(alphas[k:k + per_pass], dtype=emb.dtype, device=emb.device)
                    w = torch.tensor(weights[k:k + per_pass], dtype=emb.dtype, device=emb.device)
                    points = (a.view(-1, 1, 1, 1) * e).reshape(-1, *e.shape[1:]).requires_grad_(True)
                    s_points = part(points).view(len(a), len(rows))
                    (g,) = torch.autograd.grad((s_points * w[:, None]).sum(), points)
                    total[rows, :width] += g.view(len(a), *e.shape).sum(0)
    return {"gradient": gradient, "embedding": emb, "ig": emb * total, "score": s.detach(),
            "baseline_score": baseline_score}


WORD_COLUMNS = ("saliency_norm", "gxi_norm", "gxi_total", "ig_norm", "ig_total", "variance_norm")


def pick_rows(sentences: Sentences, sample: int, seed: int) -> np.ndarray:
    """The rows scored: all, or a seeded sample of ``sample`` sentences, in file order."""
    n = len(sentences)
    if sample == 0 or sample >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, sample, replace=False))


def sentence_attributions(model: Model, network: str, sentences: Sentences, rows: np.ndarray, n_words: np.ndarray,
                          settings: AttributionSettings, device) -> dict[str, np.ndarray]:
    """Per word of the sentences at ``rows`` (in row and position order): the three norms and the
    two signed totals; per sentence: the score, the baseline's and the completeness gap."""
    word_offsets = offsets_of(n_words)
    words = int(word_offsets[-1])
    out = {k: np.empty(words) for k in WORD_COLUMNS}
    out |= {k: np.empty(len(rows)) for k in ("score", "baseline_score", "completeness_gap")}
    lengths = sentences.lengths[rows]
    for batch in length_batches(lengths, settings.batch_sentences, None):
        ids, lens = sentences.padded(rows[batch])
        ids_t, lens_t = torch.from_numpy(ids).to(device), torch.from_numpy(lens).to(device)
        r = attribute_batch(model, network, ids_t, lens_t, settings.ig_steps, settings.ig_method,
                            settings.batch_rows)
        gxi = r["embedding"] * r["gradient"]
        inside = mask(lens_t, ids.shape[1], gxi.dtype).unsqueeze(-1)
        ig_all = (r["ig"] * inside).sum((1, 2))
        counts = n_words[batch]
        is_word = mask(torch.from_numpy(counts).to(device), ids.shape[1]).bool()
        where = np.repeat(word_offsets[batch] - offsets_of(counts)[:-1], counts) + np.arange(int(counts.sum()))
        variance = variance_salience(r["embedding"], torch.from_numpy(counts).to(device))
        for name, value in (("saliency_norm", r["gradient"].norm(dim=-1)), ("gxi_norm", gxi.norm(dim=-1)),
                            ("gxi_total", gxi.sum(-1)), ("ig_norm", r["ig"].norm(dim=-1)),
                            ("ig_total", r["ig"].sum(-1)), ("variance_norm", variance.norm(dim=-1))):
            out[name][where] = value[is_word].double().cpu().numpy()
        out["score"][batch] = r["score"].double().cpu().numpy()
        out["baseline_score"][batch] = r["baseline_score"].double().cpu().numpy()
        out["completeness_gap"][batch] = (ig_all - (r["score"] - r["baseline_score"])).double().cpu().numpy()
    return out


def to_table(model_name: str, network: str, readout: str, split: str, sentences: Sentences, rows: np.ndarray,
             n_words: np.ndarray, values: dict[str, np.ndarray]) -> pa.Table:
    n = int(n_words.sum())
    tokens = [t for r in rows for t in sentences.tokens[r]]
    per_sentence = {k: np.repeat(values[k], n_words) for k in ("score", "baseline_score", "completeness_gap")}
    return pa.table({
        "sentence_id": pa.array(np.repeat(sentences.sentence_ids[rows], n_words)),
        "position": pa.array(positions(offsets_of(n_words)).astype(np.int32)),
        "token": pa.array(tokens, pa.string()),
        "model": pa.repeat(pa.scalar(model_name), n),
        "pathway": pa.repeat(pa.scalar(network), n),
        "readout": pa.repeat(pa.scalar(readout), n),
        "split": pa.repeat(pa.scalar(split), n),
        **{k: pa.array(values[k]) for k in WORD_COLUMNS},
        **{k: pa.array(v) for k, v in per_sentence.items()},
    }).cast(ATTRIBUTION)


def run(model_path: Path, network: str, sentences_path: Path, vocab_path: Path, out: Path,
        settings: AttributionSettings, runtime: Runtime) -> None:
    model, extra, device = open_network(model_path, network, runtime)
    vocab = load_vocab_checked(vocab_path)
    sentences = load_sentences(sentences_path, vocab, settings.split, eos=model.reads_eos)
    if len(sentences) == 0:
        raise InputError(sentences_path, f"split {settings.split!r}", "no sentences to score")
    rows = pick_rows(sentences, settings.sample, settings.seed)
    n_words = np.array([len(sentences.tokens[r]) for r in rows], dtype=np.int64)
    readout, kind = score_readout(model, network)
    words = int(n_words.sum())
    start = time.perf_counter()
    values = sentence_attributions(model, network, sentences, rows, n_words, settings, device)
    seconds = time.perf_counter() - start
    gap = np.abs(values["completeness_gap"])
    print(f"{extra['name']}/{network}: attributions of {words:,} words of {len(rows):,} sentences "
          f"({SCORES[kind]}) in {seconds:.1f} s on {device}; integrated gradients' completeness gap: median "
          f"{np.median(gap):.2e}, max {gap.max():.2e} ({settings.ig_steps} {settings.ig_method} points)",
          file=sys.stderr)
    table = to_table(extra["name"], network, readout, settings.split, sentences, rows, n_words, values)
    write_parquet(table, out, ATTRIBUTION, "attribution")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, type=Path, help="model.pt written by lingscope.training.train")
    p.add_argument("--pathway", required=True, help="the network of the model (lingscope.core.catalog)")
    p.add_argument("--sentences", required=True, type=Path, help="SENTENCES table")
    p.add_argument("--vocab", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path, help="ATTRIBUTION Parquet table")
    AttributionSettings.add_arguments(p, "attribution settings (config: attribution)")
    Runtime.add_arguments(p, "runtime (config: training)")
    args = p.parse_args(argv)
    run(args.model, args.pathway, args.sentences, args.vocab, args.out, AttributionSettings.from_args(args),
        Runtime.from_args(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
