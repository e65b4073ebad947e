"""IMAGINET, SUM and LM (Kadar et al. 2017, sec. 3; docs/kadar2017.md#models) behind the model contract.

One class covers the three kinds, which differ only in their networks:

| kind         | ``textual`` network                    | ``visual`` network                                  |
|--------------|----------------------------------------|-----------------------------------------------------|
| ``imaginet`` | GRU; readout ``vocabulary`` (next word) | GRU; readout ``image`` (linear map of h_end)        |
| ``sum``      | as IMAGINET                            | running sum of word embeddings; readout ``image``   |
| ``lm``       | GRU language model                     | none                                                |

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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from lingscope.core.settings import TrainingSettings
from lingscope.encoding.ids import PAD_ID
from lingscope.models.base import NEXT_TOKEN, REGRESSION, Cell, Model, Objective, Readout, mask
from lingscope.models.cells import GRU_GATES, GRUCell, RunningSumCell, gru_gates, make_gru, previous

KINDS = ("imaginet", "sum", "lm")


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


class CaptionModel(Model):
    def __init__(self, arch: Architecture):
        if arch.kind not in KINDS:
            raise ValueError(f"unknown model kind {arch.kind!r}; expected one of {KINDS}")
        super().__init__(asdict(arch))
        self.arch = arch
        E, H = arch.embedding_dim, arch.hidden_dim
        # Built in this order so that one seed gives the same weights as ever.
        self.embedding = nn.Embedding(arch.vocab_size, E, padding_idx=PAD_ID)
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

    def state_dim(self, network: str) -> int:
        self.check_network(network)
        return self.arch.embedding_dim if self._is_sum(network) else self.arch.hidden_dim

    def states(self, network: str, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self._is_sum(network):
            # The running sum of the embeddings read so far; padding positions add nothing.
            return (emb * mask(lengths, emb.shape[1], emb.dtype).unsqueeze(-1)).cumsum(1)
        return self._gru(network)(emb)[0]

    def gate_dims(self, network: str) -> dict[str, int]:
        """The GRU's r, z and n; SUM's running sum has none."""
        self.check_network(network)
        return {} if self._is_sum(network) else dict.fromkeys(GRU_GATES, self.arch.hidden_dim)

    def gates(self, network: str, emb: torch.Tensor, lengths: torch.Tensor,
              states: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if not self.gate_dims(network):
            return {}
        if states is None:
            states = self.states(network, emb, lengths)
        return gru_gates(self._gru(network), emb, previous(states))

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
        return self.textual_out(h) if network == "textual" else self.visual_out(h)

    def cell(self, network: str) -> Cell | None:
        self.check_network(network)
        if self._is_sum(network):
            return RunningSumCell(self.arch.embedding_dim)
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
    size the data decide (``image``: the image-feature dimension)."""
    return CaptionModel(Architecture(settings.kind, vocab_size, readout_units.get("image", 0), settings.embedding_dim,
                                     settings.hidden_dim, settings.gru, settings.alpha, settings.task_sampling))
