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


def target_log_probs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``log p(target)`` per row of ``logits`` (rows, units): ``logit[target] - logsumexp(logits)``,
    the same values as ``log_softmax(logits).gather(targets)`` without the full log-softmax."""
    return logits.gather(1, targets[:, None]).squeeze(1) - torch.logsumexp(logits, 1)


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

    def unit_state(self, model: Model, network: str, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The state the readout's units are read from after the whole of each input: the representation."""
        return model.representation(network, emb, lengths)


class NextToken(ReadoutKind):
    name, per_token = NEXT_TOKEN, True
    score_doc = "the sentence's log-likelihood under next-token prediction"

    def outputs(self, model, network, readout, ids, lengths):
        return next_token_logits(model, network, readout, ids, lengths)

    def loss(self, outputs, ids, target):
        return F.cross_entropy(outputs.flatten(0, 1), ids.flatten(), ignore_index=PAD_ID)

    def reference(self, model, network, readout, ids, lengths):
        return ids

    def score(self, model, network, readout, emb, lengths, ids, reference):
        return _log_likelihood(model, network, readout, next_token_states(model, network, emb, lengths), lengths,
                               reference)

    def unit_state(self, model, network, emb, lengths):
        """The state after the last token read: its prediction of the next word."""
        return model.states(network, emb, lengths)[:, -1]


class Sequence(ReadoutKind):
    name, per_token = SEQUENCE, True
    score_doc = "the log-likelihood of the sentence decoded from its representation (teacher forcing)"

    def outputs(self, model, network, readout, ids, lengths):
        return reconstruction_logits(model, network, readout, ids, lengths)

    def loss(self, outputs, ids, target):
        return F.cross_entropy(outputs.flatten(0, 1), ids.flatten(), ignore_index=PAD_ID)

    def reference(self, model, network, readout, ids, lengths):
        return ids, model.embed(decoder_inputs(ids)).detach()

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
    log_p = target_log_probs(model.readout(network, readout, states[inside]), targets.repeat(repeat, 1)[inside])
    row = torch.arange(states.shape[0], device=states.device)[:, None].expand_as(inside)[inside]
    return log_p.new_zeros(states.shape[0]).index_add(0, row, log_p)
