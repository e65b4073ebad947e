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
whole batch padded to its longest: no recurrent step runs on padding, and a network that packs
its sentences keeps torch's fused kernel, which it leaves for a slower one on unequal lengths.
On the random sentences of 5-25 words of ``benchmarks/attribution_speed.py`` that took a class
readout's integrated gradients from 0.49 s to 0.35 s (128 sentences), a sequence readout's from
1.43 s to 1.11 s (32), and left a next-token readout's as it was. On a vocabulary readout
(next-token, sequence) the log-probabilities and their gradient go through
:func:`lingscope.models.readouts.token_log_probs`, written by hand (its doc says why). Captum
calls the model once per sentence; ``benchmarks/attribution_speed.py`` measures the difference, and
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
from lingscope.models.base import Model
from lingscope.models.checkpoint import open_network
from lingscope.models.readouts import READOUT_KINDS, readout_kind
from lingscope.models.tensors import mask

# What each readout kind's attributed score is (lingscope.models.readouts).
SCORES = {name: kind.score_doc for name, kind in READOUT_KINDS.items()}


def score_readout(model: Model, network: str) -> tuple[str, str]:
    """``(readout, kind)``: the readout whose score is attributed (the network's first)."""
    readouts = list(model.readouts(network).values())
    if not readouts:
        raise ValueError(f"network {network!r} has no readout to attribute")
    return readouts[0].name, readouts[0].kind


class Score:
    """The scalar score S(e) per sentence of a batch of embeddings ``e`` (see the module doc), as
    the kind of the network's readout defines it (:class:`lingscope.models.readouts.ReadoutKind`).

    Built once from the real input (``ids``, ``lengths``), which fixes what an interpolated input
    is scored against: the predicted class, the predicted direction, the tokens to predict.
    Called on ``repeat`` stacked copies of the batch (the points of an integral), it scores each;
    :meth:`subset` scores some of the batch's sentences alone.
    """

    def __init__(self, model: Model, network: str, ids: torch.Tensor, lengths: torch.Tensor):
        self.model, self.network, self.ids, self.lengths = model, network, ids, lengths
        self.readout, _ = score_readout(model, network)
        self.kind = readout_kind(model, network, self.readout)
        self.reference = self.kind.reference(model, network, self.readout, ids, lengths)

    def subset(self, rows: torch.Tensor, width: int) -> Score:
        """The score of sentences ``rows`` of the batch alone, padded to ``width`` positions (at
        least their longest), against the same reference."""
        part = copy.copy(self)
        part.ids, part.lengths = self.ids[rows, :width], self.lengths[rows]
        part.reference = self.kind.take(self.reference, rows, width)
        return part

    def __call__(self, emb: torch.Tensor) -> torch.Tensor:
        repeat = emb.shape[0] // self.ids.shape[0]
        return self.kind.score(self.model, self.network, self.readout, emb, self.lengths.repeat(repeat), self.ids,
                               self.reference)


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
