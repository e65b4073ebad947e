"""IMAGINET, SUM and LM (Kadar et al. 2017, sec. 3; docs/kadar2017.md#models) behind the model contract.

One class covers the three kinds, which differ only in their networks:

| kind         | ``textual`` network                    | ``visual`` network                                  |
|--------------|----------------------------------------|-----------------------------------------------------|
| ``imaginet`` | GRU; readout ``vocabulary`` (next word) | GRU; readout ``image`` (linear map of h_end)        |
| ``sum``      | as IMAGINET                            | running sum of word embeddings; readout ``image``   |
| ``lm``       | GRU language model, or a stack of GRU  | none                                                |
|              | or LSTM layers (``cell``, ``layers``)   |                                                     |

The word embedding is shared by the networks. A sentence is read up to its end symbol
``<eos>``; the state there is ``h_end``, the networks' representation. The ``vocabulary``
readout predicts each token of ``w_1 .. w_n <eos>`` from the state before it (``w_1`` from the
zero initial state), so perplexity covers every token of the sentence.

Objectives: next-word cross-entropy on ``textual`` (weight alpha) and the cosine distance of
the ``image`` readout to the z-scored image vector on ``visual`` (weight 1 - alpha); with
``task_sampling`` each batch trains one of them, ``textual`` with probability alpha (the
authors' code).

Gates (:meth:`CaptionModel.gates`, for the activation store): the GRU's ``r``, ``z`` and the
candidate ``n`` after every token; SUM's running sum has none.

The language model (``lm``) alone may go beyond the paper's one GRU layer: ``cell: lstm`` and/or
``layers: L`` make its textual network a ``torch.nn.LSTM`` or ``torch.nn.GRU`` of ``L`` stacked
layers (``dropout`` between them in training), and ``dropout`` also drops units of the top
states before the vocabulary readout (training only). Its states are the top layer's; every
layer's are :meth:`CaptionModel.layer_states`; its cell (:class:`lingscope.models.cells.StackedCell`)
steps all the layers, so the fast exact paths still apply; its gates are the top layer's (an
LSTM's ``i, f, g, o`` and cell state ``c``). With the defaults (``gru``, 1 layer, no dropout) the
model is built exactly as the paper's, so old checkpoints load and one seed gives the same weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lingscope.core.settings import TrainingSettings
from lingscope.encoding.ids import PAD_ID
from lingscope.models.base import Cell, Model, NEXT_TOKEN, Objective, REGRESSION, Readout
from lingscope.models.tensors import mask
from lingscope.models.cells import (
    GRU_GATES,
    LSTM_GATES,
    GRUCell,
    RunningSumCell,
    StackedCell,
    gru_gates,
    gru_layer_states,
    lstm_gates,
    lstm_layer_states,
    make_gru,
    previous,
)

KINDS = ("imaginet", "sum", "lm")
CELLS = ("gru", "lstm")


@dataclass(frozen=True)
class Architecture:
    kind: str
    vocab_size: int
    image_dim: int
    embedding_dim: int
    hidden_dim: int
    gru: str = "fused"
    alpha: float = 0.1
    task_sampling: bool = False
    # The language model's textual network (kind lm only; the defaults are the paper's one GRU).
    cell: str = "gru"
    layers: int = 1
    dropout: float = 0.0


def check_architecture(arch: Architecture) -> None:
    """Refuse what the family cannot build, naming the setting to change."""
    if arch.kind not in KINDS:
        raise ValueError(f"unknown model kind {arch.kind!r}; expected one of {KINDS}")
    if arch.cell not in CELLS:
        raise ValueError(f"unknown cell {arch.cell!r}; expected one of {CELLS}")
    if arch.layers < 1:
        raise ValueError(f"layers must be at least 1, not {arch.layers}")
    if not 0.0 <= arch.dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), not {arch.dropout}")
    if arch.kind != "lm" and (arch.cell != "gru" or arch.layers != 1 or arch.dropout != 0.0):
        raise ValueError(f"model kind {arch.kind!r} has one GRU layer per network: cell, layers and dropout are "
                         f"for kind lm only (got cell: {arch.cell}, layers: {arch.layers}, dropout: {arch.dropout})")
    if arch.gru == "authors" and (arch.cell != "gru" or arch.layers != 1):
        raise ValueError(f"models.<name>.gru: authors needs cell: gru and layers: 1 (got cell: {arch.cell}, "
                         f"layers: {arch.layers}); the authors' GRU is one GRU layer: set gru: fused for an LSTM "
                         "or a stack of layers")


class CaptionModel(Model):
    def __init__(self, arch: Architecture):
        check_architecture(arch)
        super().__init__(asdict(arch))
        self.arch = arch
        E, H, L = arch.embedding_dim, arch.hidden_dim, arch.layers
        # A torch.nn.LSTM or a stacked torch.nn.GRU: the language model beyond the paper's one GRU.
        self._stacked = arch.kind == "lm" and (arch.cell == "lstm" or L > 1)
        # Built in this order so that one seed gives the same weights as ever.
        self.embedding = nn.Embedding(arch.vocab_size, E, padding_idx=PAD_ID)
        if self._stacked:
            rnn = nn.LSTM if arch.cell == "lstm" else nn.GRU
            self.textual = rnn(E, H, L, batch_first=True, dropout=arch.dropout if L > 1 else 0.0)
        else:
            self.textual = make_gru(arch.gru, E, H)
        self.textual_out = nn.Linear(H, arch.vocab_size)
        self.visual = make_gru(arch.gru, E, H) if arch.kind == "imaginet" else None
        in_dim = H if arch.kind == "imaginet" else E
        self.visual_out = nn.Linear(in_dim, arch.image_dim) if arch.kind != "lm" else None
        self.sample_objectives = arch.task_sampling

    def _is_sum(self, network: str) -> bool:
        return network == "visual" and self.arch.kind == "sum"

    def _gru(self, network: str) -> nn.Module:
        self.check_network(network)
        return self.textual if network == "textual" else self.visual

    def _is_stacked(self, network: str) -> bool:
        return network == "textual" and self._stacked

    def layers(self, network: str) -> int:
        self.check_network(network)
        return self.arch.layers if self._is_stacked(network) else 1

    def _layer_states(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """Layer ``k`` of the stacked textual network over its input ``x``, stepped."""
        step = lstm_layer_states if self.arch.cell == "lstm" else gru_layer_states
        return step(self.textual, x, k)

    def layer_states(self, network: str, emb: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """The layers below the top stepped one by one with the stacked module's own weights (no
        dropout between them), then the module's own output, the top layer's (:meth:`states`)."""
        if not self._is_stacked(network):
            return [self.states(network, emb, lengths)]
        out, x = [], emb
        for k in range(self.arch.layers - 1):
            x = self._layer_states(x, k)
            out.append(x)
        out.append(self.states(network, emb, lengths))
        return out

    def state_dim(self, network: str) -> int:
        self.check_network(network)
        return self.arch.embedding_dim if self._is_sum(network) else self.arch.hidden_dim

    def states(self, network: str, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self._is_sum(network):
            # The running sum of the embeddings read so far; padding positions add nothing.
            return (emb * mask(lengths, emb.shape[1], emb.dtype).unsqueeze(-1)).cumsum(1)
        return self._gru(network)(emb)[0]

    def gate_dims(self, network: str) -> dict[str, int]:
        """The GRU's r, z and n (an LSTM's i, f, g, o and c), of the top layer of a stack; SUM's
        running sum has none."""
        self.check_network(network)
        if self._is_sum(network):
            return {}
        names = LSTM_GATES if self._is_stacked(network) and self.arch.cell == "lstm" else GRU_GATES
        return dict.fromkeys(names, self.arch.hidden_dim)

    def gates(self, network: str, emb: torch.Tensor, lengths: torch.Tensor,
              states: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if not self.gate_dims(network):
            return {}
        if states is None:
            states = self.states(network, emb, lengths)
        if not self._is_stacked(network):
            return gru_gates(self._gru(network), emb, previous(states))
        # The top layer's: its input is the layers below, stepped; its states before every step
        # are the network's own.
        top, x = self.arch.layers - 1, emb
        for k in range(top):
            x = self._layer_states(x, k)
        gates = lstm_gates if self.arch.cell == "lstm" else gru_gates
        return gates(self.textual, x, previous(states), k=top)

    def representation(self, network: str, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self._is_sum(network):
            return (emb * mask(lengths, emb.shape[1], emb.dtype).unsqueeze(-1)).sum(1)
        return super().representation(network, emb, lengths)

    def readouts(self, network: str) -> dict[str, Readout]:
        self.check_network(network)
        if network == "textual":
            return {"vocabulary": Readout("vocabulary", NEXT_TOKEN, self.arch.vocab_size)}
        return {"image": Readout("image", REGRESSION, self.arch.image_dim)}

    def readout(self, network: str, name: str, h: torch.Tensor) -> torch.Tensor:
        if name not in self.readouts(network):
            raise ValueError(f"network {network!r} has no readout {name!r}")
        if network != "textual":
            return self.visual_out(h)
        if self.training and self.arch.dropout > 0:
            h = F.dropout(h, self.arch.dropout, training=True)
        return self.textual_out(h)

    def cell(self, network: str) -> Cell | None:
        self.check_network(network)
        if self._is_sum(network):
            return RunningSumCell(self.arch.embedding_dim)
        if self._is_stacked(network):
            return StackedCell(self.textual)
        return GRUCell(self._gru(network))

    def objectives(self) -> tuple[Objective, ...]:
        alpha = self.arch.alpha
        textual = Objective("textual", "textual", "vocabulary", alpha)
        if self.arch.kind == "lm":
            return (textual,)
        return textual, Objective("visual", "visual", "image", 1 - alpha)


def build(architecture: dict) -> CaptionModel:
    """The model described by a saved architecture (the contract's loader calls this)."""
    return CaptionModel(Architecture(**architecture))


def create(settings: TrainingSettings, vocab_size: int, readout_units: dict[str, int]) -> CaptionModel:
    """A fresh model for a ``models.<name>`` entry; ``readout_units`` sizes the readouts whose
    size the data decide (``image``: the image-feature dimension). Only the language model's
    settings have ``cell``, ``layers`` and ``dropout``; the others get the paper's one GRU."""
    return CaptionModel(Architecture(settings.kind, vocab_size, readout_units.get("image", 0), settings.embedding_dim,
                                     settings.hidden_dim, settings.gru, settings.alpha, settings.task_sampling,
                                     cell=getattr(settings, "cell", "gru"), layers=getattr(settings, "layers", 1),
                                     dropout=getattr(settings, "dropout", 0.0)))
