"""The sentiment classifiers of Li et al. (2016, sec. 3; docs/li2016.md#sentiment-models) behind the model contract.

One class covers the three kinds, each with one network, ``sentiment``:

| kind     | per-token state                          | representation (what the classifier reads)        |
|----------|------------------------------------------|---------------------------------------------------|
| ``rnn``    | ``h_t = tanh(W x_t + U h_{t-1} + b)``      | the last state                                    |
| ``lstm``   | the LSTM's ``h_t``                         | the last state                                    |
| ``bilstm`` | ``[h_t fwd ; h_t bwd]`` (2 x hidden)       | the forward final state and the backward run's   |
|          |                                          | final state (after reading right to left)        |

The readout ``sentiment`` is a linear map of the representation to the unnormalised scores of
the 5 labels (softmax cross-entropy in training; saliency differentiates a score). Sentences are
read without an end symbol, as the authors' code read them.

Dropout follows the authors' code: in training, rate ``dropout`` on the input and on the
recurrent input ``h_{t-1}`` of every step, a fresh mask per step. torch's fused RNN layers cannot
drop the recurrent input, so training with dropout steps the same weights in Python (the input
projections of all steps in one GEMM); evaluation, with dropout off, runs the fused layer. Both
paths compute the same function (``tests/test_models_sentiment.py`` checks it).

The backward direction of the BiLSTM reads each sentence reversed within its own length, so
right padding never enters it. The RNN and the LSTM are strictly left to right and offer their
cell (the LSTM's cell state is ``[h ; c]``, its output ``h``). The BiLSTM has none; it offers its
two directions as a :class:`lingscope.models.base.Bidirectional` pair (forward and backward LSTM
cells, the representation their outputs concatenated), which omission's two-sided fast path
uses; the other methods take their generic exact paths on it.

Gates (:meth:`SentimentModel.gates`, for the activation store): the LSTM's ``i, f, g, o`` and its
cell state ``c`` after every token, both directions' for the BiLSTM (forward then backward, as
the states); the tanh RNN has no gates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lingscope.core.settings import TrainingSettings
from lingscope.encoding.ids import PAD_ID
from lingscope.models.base import Bidirectional, CLASSES, Cell, Model, Objective, Readout
from lingscope.models.tensors import reverse_within
from lingscope.models.cells import LSTM_GATES, lstm_gates, lstm_update, previous

KINDS = ("rnn", "lstm", "bilstm")
N_LABELS = 5  # SST's labels 0-4


@dataclass(frozen=True)
class Architecture:
    kind: str
    vocab_size: int
    embedding_dim: int
    hidden_dim: int
    n_classes: int = N_LABELS
    dropout: float = 0.2


def _project(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``x W_ih + b_ih + b_hh``: every part of a step that does not depend on the state."""
    return F.linear(x, layer.weight_ih_l0, layer.bias_ih_l0 + layer.bias_hh_l0)


class RecurrentCell(Cell):
    """The cell of a one-layer ``nn.RNN`` (tanh) or ``nn.LSTM``; the same arithmetic as the layer.

    The LSTM's state is ``[h ; c]`` (2 x hidden); :meth:`output` gives ``h``."""

    def __init__(self, layer: nn.Module):
        self.layer = layer
        self.lstm = isinstance(layer, nn.LSTM)
        self.hidden = layer.hidden_size
        self.state_size = 2 * self.hidden if self.lstm else self.hidden

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return _project(self.layer, x)

    def step(self, x_in: torch.Tensor, state: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        H = self.hidden
        h = state[:, :H]
        gates = x_in.addmm_(h, self.layer.weight_hh_l0.t())
        if self.lstm:
            h_new, c_new = lstm_update(gates, state[:, H:])
            new = torch.cat([h_new, c_new], 1)
        else:
            new = torch.tanh(gates)
        if out is None:
            return new
        return out.copy_(new)

    def output(self, state: torch.Tensor) -> torch.Tensor:
        return state[..., : self.hidden]


def stepped(layer: nn.Module, emb: torch.Tensor, p: float) -> torch.Tensor:
    """The states of a one-layer ``nn.RNN`` (tanh) or ``nn.LSTM`` over ``emb``, stepped in Python
    with dropout ``p`` on the input and on the recurrent input of every step (a fresh mask per
    step; the authors' code). The input projections of all steps are one GEMM; with ``p = 0``
    this is the fused layer's function."""
    x_proj = _project(layer, F.dropout(emb, p, True))
    batch, H = emb.shape[0], layer.hidden_size
    h = emb.new_zeros(batch, H)
    c = emb.new_zeros(batch, H)
    lstm = isinstance(layer, nn.LSTM)
    out = []
    # unbind, not x_proj[:, t]: the backward of a slice writes into a zero tensor of the whole
    # input at every step; unbind's stacks the steps' gradients once (the same values).
    for x_t in x_proj.unbind(1):
        gates = x_t + F.dropout(h, p, True) @ layer.weight_hh_l0.t()
        if lstm:
            h, c = lstm_update(gates, c)
        else:
            h = torch.tanh(gates)
        out.append(h)
    return torch.stack(out, 1) if out else emb.new_zeros(batch, 0, H)


class SentimentModel(Model):
    def __init__(self, arch: Architecture):
        if arch.kind not in KINDS:
            raise ValueError(f"unknown sentiment model kind {arch.kind!r}; expected one of {KINDS}")
        super().__init__(asdict(arch))
        self.arch = arch
        E, H = arch.embedding_dim, arch.hidden_dim
        self.embedding = nn.Embedding(arch.vocab_size, E, padding_idx=PAD_ID)
        if arch.kind == "rnn":
            self.forward_layer = nn.RNN(E, H, nonlinearity="tanh", batch_first=True)
        else:
            self.forward_layer = nn.LSTM(E, H, batch_first=True)
        self.backward_layer = nn.LSTM(E, H, batch_first=True) if arch.kind == "bilstm" else None
        self.classifier = nn.Linear(self.representation_dim("sentiment"), arch.n_classes)

    @property
    def _directions(self) -> int:
        return 2 if self.backward_layer is not None else 1

    def state_dim(self, network: str) -> int:
        self.check_network(network)
        return self._directions * self.arch.hidden_dim

    def _run(self, layer: nn.Module, emb: torch.Tensor) -> torch.Tensor:
        """The layer's states over right-padded ``emb``: fused, or stepped with the authors'
        dropout on the input and the recurrent input while training."""
        if self.training and self.arch.dropout > 0:
            return stepped(layer, emb, self.arch.dropout)
        return layer(emb)[0]

    def _backward_states(self, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The backward run's state at every position (it has read the sentence from its end to there)."""
        return reverse_within(self._run(self.backward_layer, reverse_within(emb, lengths)), lengths)

    def states(self, network: str, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        self.check_network(network)
        forward = self._run(self.forward_layer, emb)
        if self.backward_layer is None:
            return forward
        return torch.cat([forward, self._backward_states(emb, lengths)], -1)

    def gate_dims(self, network: str) -> dict[str, int]:
        """The LSTM's (both directions' for the BiLSTM, as the states); the tanh RNN has none."""
        self.check_network(network)
        return {} if self.arch.kind == "rnn" else dict.fromkeys(LSTM_GATES, self.state_dim(network))

    def gates(self, network: str, emb: torch.Tensor, lengths: torch.Tensor,
              states: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Each direction's gates from its states before every step: the forward run's left to
        right, the backward run's in its own order (the sentence reversed within its length),
        mapped back to the token positions; concatenated forward then backward, as the states."""
        if not self.gate_dims(network):
            return {}
        if states is None:
            states = self.states(network, emb, lengths)
        H = self.arch.hidden_dim
        forward = lstm_gates(self.forward_layer, emb, previous(states[..., :H]))
        if self.backward_layer is None:
            return forward
        backward = lstm_gates(self.backward_layer, reverse_within(emb, lengths),
                              previous(reverse_within(states[..., H:], lengths)))
        return {name: torch.cat([forward[name], reverse_within(backward[name], lengths)], -1) for name in forward}

    def representation(self, network: str, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The final state(s); an empty sentence (a one-word sentence with its word omitted) has
        the zero start state."""
        self.check_network(network)
        if emb.shape[1] == 0:  # only empty sentences: torch's layers refuse a zero-length run
            return emb.new_zeros(emb.shape[0], self.representation_dim(network))
        read = (lengths > 0).unsqueeze(1)
        index = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, self.arch.hidden_dim)
        forward = self._run(self.forward_layer, emb).gather(1, index).squeeze(1)
        if self.backward_layer is None:
            return forward * read
        # The backward run's final state: after its last step, the sentence's first word.
        backward = self._run(self.backward_layer, reverse_within(emb, lengths)).gather(1, index).squeeze(1)
        return torch.cat([forward, backward], -1) * read

    def readouts(self, network: str) -> dict[str, Readout]:
        self.check_network(network)
        return {"sentiment": Readout("sentiment", CLASSES, self.arch.n_classes)}

    def readout(self, network: str, name: str, h: torch.Tensor) -> torch.Tensor:
        if name not in self.readouts(network):
            raise ValueError(f"network {network!r} has no readout {name!r}")
        return self.classifier(h)

    def cell(self, network: str) -> Cell | None:
        self.check_network(network)
        if self.backward_layer is not None:
            return None  # bidirectional: no strictly left-to-right step gives its states
        return RecurrentCell(self.forward_layer)

    def bidirectional(self, network: str) -> Bidirectional | None:
        self.check_network(network)
        if self.backward_layer is None:
            return None  # strictly left to right: its cell serves
        # The default assembly, [h_fwd ; h_bwd], is representation(): the final states' outputs.
        return Bidirectional(RecurrentCell(self.forward_layer), RecurrentCell(self.backward_layer))

    def objectives(self) -> tuple[Objective, ...]:
        return (Objective("sentiment", "sentiment", "sentiment", 1.0),)


def build(architecture: dict) -> SentimentModel:
    """The model described by a saved architecture (the contract's loader calls this)."""
    return SentimentModel(Architecture(**architecture))


def create(settings: TrainingSettings, vocab_size: int, readout_units: dict[str, int]) -> SentimentModel:
    """A fresh model for a ``models.<name>`` entry; ``readout_units["sentiment"]`` is the number
    of labels the data have (SST's 5 when not given)."""
    return SentimentModel(Architecture(settings.kind, vocab_size, settings.embedding_dim, settings.hidden_dim,
                                       readout_units.get("sentiment", N_LABELS), settings.dropout))
