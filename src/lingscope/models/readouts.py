"""Readout kinds as objects, and the computations every readout of a kind shares.

A readout's kind (:class:`lingscope.models.base.Readout`'s ``kind``) says what its units are;
:data:`READOUT_KINDS` maps it to the object that carries what follows from that, for every
network of every family:

- :meth:`ReadoutKind.outputs`: a batch's outputs (next-token logits at every position, the
  decoded sentence's logits, or one vector per sentence);
- :meth:`ReadoutKind.loss`: the training loss of those outputs, and whether a batch weighs by
  its tokens or its sentences (:attr:`ReadoutKind.per_token`);
- :meth:`ReadoutKind.reference` and :meth:`ReadoutKind.score`: the scalar per sentence that
  attribution differentiates (fixed at the real input: the predicted class, the predicted
  direction, the tokens to predict);
- :meth:`ReadoutKind.unit_state`: where input optimisation reads the units after an n-gram.

The training objectives (:mod:`lingscope.training.objectives`), the evaluation
(:mod:`lingscope.training.evaluate`), attribution and input optimisation ask the object; none
of them tests a readout's kind.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F

from lingscope.encoding.ids import EOS_ID, PAD_ID
from lingscope.models.base import CLASSES, NEXT_TOKEN, REGRESSION, SEQUENCE, Model
from lingscope.models.tensors import mask

# The decoder's input at its first step (the token "before" the sentence's first): <eos>, the
# symbol every sentence ends with, as in Sutskever et al. (2014), where the encoder's <EOS> step
# starts the decoding.
START_ID = EOS_ID


def next_token_logits(model: Model, network: str, readout: str, ids: torch.Tensor,
                      lengths: torch.Tensor) -> torch.Tensor:
    """``(batch, time, units)`` of a NEXT_TOKEN readout: position t predicted from the state after
    t - 1 tokens, the first token from the zero start state of the recurrent networks.

    Only a strictly left-to-right network (one with a cell) may predict the next token: the
    state of a bidirectional one has already read it."""
    return next_token_logits_of(model, network, readout, model.embed(ids), lengths)


def next_token_logits_of(model: Model, network: str, readout: str, emb: torch.Tensor,
                         lengths: torch.Tensor) -> torch.Tensor:
    """:func:`next_token_logits` of embeddings ``emb`` (free or interpolated ones, for gradients)."""
    return model.readout(network, readout, next_token_states(model, network, emb, lengths))


def next_token_states(model: Model, network: str, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``(batch, time, dim)``: the state each position's next-token prediction reads (the state
    after t - 1 tokens; zero for the first), for a strictly left-to-right network only."""
    if model.cell(network) is None:
        raise ValueError(f"network {network!r} has no left-to-right cell: a next-token readout would read its target")
    states = model.states(network, emb, lengths)
    return torch.cat([states.new_zeros(states.shape[0], 1, states.shape[2]), states[:, :-1]], 1)


def sentence_readout(model: Model, network: str, readout: str, ids: torch.Tensor,
                     lengths: torch.Tensor) -> torch.Tensor:
    """``(batch, units)`` of a REGRESSION or CLASSES readout: the readout of each sentence's representation."""
    return model.readout(network, readout, model.representation(network, model.embed(ids), lengths))


def decoder_inputs(ids: torch.Tensor) -> torch.Tensor:
    """The teacher-forced decoder input of sentences ``ids`` (batch, time): ``START_ID`` then
    each sentence's tokens but its last, so step t reads token t - 1 and predicts token t."""
    return torch.cat([ids.new_full((ids.shape[0], 1), START_ID), ids[:, :-1]], 1)


def sequence_logits(model: Model, network: str, readout: str, emb: torch.Tensor, lengths: torch.Tensor,
                    emb_in: torch.Tensor) -> torch.Tensor:
    """``(batch, time, units)`` of a SEQUENCE readout with teacher forcing: the sentences ``emb``
    encoded to their representation, decoded over the input embeddings ``emb_in`` (those of
    :func:`decoder_inputs`; separate tensors so a gradient can reach either)."""
    return model.readout(network, readout, decoder_states(model, network, readout, emb, lengths, emb_in))


def decoder_states(model: Model, network: str, readout: str, emb: torch.Tensor, lengths: torch.Tensor,
                   emb_in: torch.Tensor) -> torch.Tensor:
    """``(batch, time, dim)``: the decoder states behind :func:`sequence_logits`."""
    carry = model.decode_start(network, readout, model.representation(network, emb, lengths))
    return model.decode(network, readout, carry, emb_in)[0]


def reconstruction_logits(model: Model, network: str, readout: str, ids: torch.Tensor,
                          lengths: torch.Tensor) -> torch.Tensor:
    """:func:`sequence_logits` of sentences given as ids; position t scores token t."""
    return sequence_logits(model, network, readout, model.embed(ids), lengths, model.embed(decoder_inputs(ids)))


def greedy_decode(model: Model, network: str, readout: str, ids: torch.Tensor, lengths: torch.Tensor,
                  steps: int) -> torch.Tensor:
    """``(batch, steps)`` token ids decoded greedily from each sentence's representation: step t
    reads the model's own output of step t - 1 (``START_ID`` first)."""
    carry = model.decode_start(network, readout, model.representation(network, model.embed(ids), lengths))
    token = ids.new_full((ids.shape[0], 1), START_ID)
    out = ids.new_empty(ids.shape[0], steps)
    for t in range(steps):
        states, carry = model.decode(network, readout, carry, model.embed(token))
        token = model.readout(network, readout, states).argmax(-1)
        out[:, t] = token[:, 0]
    return out


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


class ReadoutKind:
    """What one kind of readout computes; see the module docstring."""

    name: str
    per_token: bool  # outputs at every position (a batch weighs by its tokens), or one per sentence
    accuracy: bool = False  # a class per example: accuracy measures it (early stopping on it)
    score_doc: str  # what attribution's score is

    def outputs(self, model: Model, network: str, readout: str, ids: torch.Tensor,
                lengths: torch.Tensor) -> torch.Tensor:
        """Sentence-level readouts: the readout of each sentence's representation."""
        return sentence_readout(model, network, readout, ids, lengths)

    def loss(self, outputs: torch.Tensor, ids: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def reference(self, model: Model, network: str, readout: str, ids: torch.Tensor, lengths: torch.Tensor):
        """What the score of an interpolated input is measured against (None: nothing)."""
        return None

    def score(self, model: Model, network: str, readout: str, emb: torch.Tensor, lengths: torch.Tensor,
              ids: torch.Tensor, reference) -> torch.Tensor:
        """``(rows,)``: the score of embeddings ``emb``, ``repeat`` stacked copies of the batch of
        ``ids`` (the points of an integral); ``lengths`` already repeated."""
        raise NotImplementedError

    def take(self, reference, rows: torch.Tensor, width: int):
        """The reference of sentences ``rows`` alone, padded to ``width`` positions."""
        return None if reference is None else reference[rows]

    def unit_state(self, model: Model, network: str, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The state the readout's units are read from after the whole of each input: the representation."""
        return model.representation(network, emb, lengths)


class _TokenLogits(ReadoutKind):
    """A readout of logits over the vocabulary at every position, scored against the tokens themselves."""

    per_token = True

    def loss(self, outputs, ids, target):
        return F.cross_entropy(outputs.flatten(0, 1), ids.flatten(), ignore_index=PAD_ID)


class NextToken(_TokenLogits):
    name = NEXT_TOKEN
    score_doc = "the sentence's log-likelihood under next-token prediction"

    def outputs(self, model, network, readout, ids, lengths):
        return next_token_logits(model, network, readout, ids, lengths)

    def reference(self, model, network, readout, ids, lengths):
        return ids

    def take(self, reference, rows, width):
        return reference[rows, :width]

    def score(self, model, network, readout, emb, lengths, ids, reference):
        return _log_likelihood(model, network, readout, next_token_states(model, network, emb, lengths), lengths,
                               reference)

    def unit_state(self, model, network, emb, lengths):
        """The state after the last token read: its prediction of the next word."""
        return model.states(network, emb, lengths)[:, -1]


class Sequence(_TokenLogits):
    name = SEQUENCE
    score_doc = "the log-likelihood of the sentence decoded from its representation (teacher forcing)"

    def outputs(self, model, network, readout, ids, lengths):
        return reconstruction_logits(model, network, readout, ids, lengths)

    def reference(self, model, network, readout, ids, lengths):
        return ids, model.embed(decoder_inputs(ids)).detach()

    def take(self, reference, rows, width):
        targets, emb_in = reference
        return targets[rows, :width], emb_in[rows, :width]

    def score(self, model, network, readout, emb, lengths, ids, reference):
        targets, emb_in = reference
        repeat = emb.shape[0] // emb_in.shape[0]
        states = decoder_states(model, network, readout, emb, lengths, emb_in.repeat(repeat, 1, 1))
        return _log_likelihood(model, network, readout, states, lengths, targets)

    def unit_state(self, model, network, emb, lengths):
        raise ValueError(f"network {network!r}: a sequence readout has no units to read after an input")


class Regression(ReadoutKind):
    name, per_token = REGRESSION, False
    score_doc = "the predicted vector's length along its own direction"

    def loss(self, outputs, ids, target):
        return (1.0 - F.cosine_similarity(outputs, target, dim=1)).mean()

    def reference(self, model, network, readout, ids, lengths):
        with torch.no_grad():
            out = self.outputs(model, network, readout, ids, lengths)
        return out / out.norm(dim=1, keepdim=True).clamp(min=1e-12)

    def score(self, model, network, readout, emb, lengths, ids, reference):
        out = model.readout(network, readout, model.representation(network, emb, lengths))
        return (out * reference.repeat(out.shape[0] // reference.shape[0], 1)).sum(1)


class Classes(ReadoutKind):
    name, per_token, accuracy = CLASSES, False, True
    score_doc = "the predicted class's unnormalised score"

    def loss(self, outputs, ids, target):
        return F.cross_entropy(outputs, target)

    def reference(self, model, network, readout, ids, lengths):
        with torch.no_grad():
            return self.outputs(model, network, readout, ids, lengths).argmax(1)

    def score(self, model, network, readout, emb, lengths, ids, reference):
        out = model.readout(network, readout, model.representation(network, emb, lengths))
        return out.gather(1, reference.repeat(out.shape[0] // reference.shape[0])[:, None]).squeeze(1)


READOUT_KINDS: dict[str, ReadoutKind] = {k.name: k for k in (NextToken(), Sequence(), Regression(), Classes())}


def readout_kind(model: Model, network: str, readout: str) -> ReadoutKind:
    """The kind object of readout ``readout`` of ``network``."""
    kind = model.readouts(network)[readout].kind
    try:
        return READOUT_KINDS[kind]
    except KeyError:
        raise ValueError(f"network {network!r}: readout {readout!r} is of an unknown kind {kind!r}; the kinds are "
                         f"{sorted(READOUT_KINDS)}") from None


def _log_likelihood(model: Model, network: str, readout: str, states: torch.Tensor, lengths: torch.Tensor,
                    targets: torch.Tensor) -> torch.Tensor:
    """``(rows,)``: each sentence's ``sum_t log p(target_t | state_t)`` over its own positions; the
    logits of the padding are never computed (they would cost as much as a word's)."""
    repeat = states.shape[0] // targets.shape[0]
    inside = mask(lengths, states.shape[1]).bool()
    log_p = token_log_probs(partial(model.readout, network, readout), states[inside],
                            targets.repeat(repeat, 1)[inside], model.readouts(network)[readout].units)
    row = torch.arange(states.shape[0], device=states.device)[:, None].expand_as(inside)[inside]
    return log_p.new_zeros(states.shape[0]).index_add(0, row, log_p)
