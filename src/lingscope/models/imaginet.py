"""IMAGINET, SUM and LM (Kadar et al. 2017, sec. 3; METHODS.md sec. 1).

One class covers the three networks, which differ only in their pathways:

| kind       | TEXTUAL pathway                | VISUAL pathway                          |
|------------|--------------------------------|-----------------------------------------|
| ``imaginet`` | GRU -> softmax over the vocabulary | GRU -> linear map to the image vector |
| ``sum``      | as IMAGINET                    | sum of word embeddings -> linear map    |
| ``lm``       | GRU language model             | none                                    |

The word embedding is shared by the pathways. A sentence is read up to its end symbol
``<eos>``; the state there is ``h_end``. TEXTUAL predicts each token of ``w_1 .. w_n <eos>``
from the state before it (``w_1`` from the zero initial state), so its perplexity covers
every token of the sentence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lingscope.data.vocab import PAD_ID
from lingscope.models.gru import make_gru

KINDS = ("imaginet", "sum", "lm")


@dataclass(frozen=True)
class Architecture:
    kind: str
    vocab_size: int
    image_dim: int
    embedding_dim: int
    hidden_dim: int
    gru: str = "fused"

    def to_dict(self) -> dict:
        return asdict(self)


class CaptionModel(nn.Module):
    def __init__(self, arch: Architecture):
        super().__init__()
        if arch.kind not in KINDS:
            raise ValueError(f"unknown model kind {arch.kind!r}; expected one of {KINDS}")
        self.arch = arch
        E, H = arch.embedding_dim, arch.hidden_dim
        self.embedding = nn.Embedding(arch.vocab_size, E, padding_idx=PAD_ID)
        self.textual = make_gru(arch.gru, E, H)
        self.textual_out = nn.Linear(H, arch.vocab_size)
        self.visual = make_gru(arch.gru, E, H) if arch.kind == "imaginet" else None
        in_dim = H if arch.kind == "imaginet" else E
        self.visual_out = nn.Linear(in_dim, arch.image_dim) if arch.kind != "lm" else None

    @property
    def pathways(self) -> tuple[str, ...]:
        return ("textual",) if self.arch.kind == "lm" else ("textual", "visual")

    def state_dim(self, pathway: str) -> int:
        if pathway == "visual" and self.arch.kind == "sum":
            return self.arch.embedding_dim
        return self.arch.hidden_dim

    def states(self, pathway: str, ids: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden state after every token, ``(batch, time, dim)``; ``h0`` is ``(batch, dim)``.

        For SUM's visual pathway the "state" is the running sum of embeddings, so ``h0`` is
        the sum of the tokens before ``ids``.
        """
        emb = self.embedding(ids)
        if pathway == "textual":
            return self.textual(emb, None if h0 is None else h0.unsqueeze(0).contiguous())[0]
        if pathway != "visual" or self.arch.kind == "lm":
            raise ValueError(f"model {self.arch.kind!r} has no pathway {pathway!r}")
        if self.arch.kind == "sum":
            out = emb.cumsum(1)
            return out if h0 is None else out + h0.unsqueeze(1)
        return self.visual(emb, None if h0 is None else h0.unsqueeze(0).contiguous())[0]

    def recurrence(self, pathway: str) -> nn.Module | None:
        """The GRU of a pathway; None for SUM's visual pathway, which has no recurrence."""
        if pathway == "textual":
            return self.textual
        if pathway == "visual" and self.arch.kind != "lm":
            return self.visual
        raise ValueError(f"model {self.arch.kind!r} has no pathway {pathway!r}")

    @staticmethod
    def last(states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Each sequence's state at its own last token (``h_end`` when the last is <eos>)."""
        index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, states.shape[-1])
        return states.gather(1, index).squeeze(1)

    def h_end(self, pathway: str, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if pathway == "visual" and self.arch.kind == "sum":
            return self.embedding(ids).sum(1)  # padding embeds to zero
        return self.last(self.states(pathway, ids, None), lengths)

    def textual_logits(self, states: torch.Tensor) -> torch.Tensor:
        """Next-token logits: position t is predicted from the state after t-1 tokens."""
        shifted = torch.cat([states.new_zeros(states.shape[0], 1, states.shape[2]), states[:, :-1]], 1)
        return self.textual_out(shifted)

    def image_prediction(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.visual_out(self.h_end("visual", ids, lengths))

    def losses(
        self, ids: torch.Tensor, lengths: torch.Tensor, images: torch.Tensor | None, tasks=("textual", "visual")
    ) -> dict[str, torch.Tensor]:
        """Mean next-token cross-entropy (``textual``) and mean cosine distance (``visual``).

        ``ids`` is right-padded with ``<pad>`` (ignored by the cross-entropy); ``images``
        holds the z-scored target features of each caption's image.
        """
        out = {}
        if "textual" in tasks:
            logits = self.textual_logits(self.states("textual", ids))
            out["textual"] = F.cross_entropy(logits.flatten(0, 1), ids.flatten(), ignore_index=PAD_ID)
        if "visual" in tasks and self.visual_out is not None:
            pred = self.image_prediction(ids, lengths)
            out["visual"] = (1.0 - F.cosine_similarity(pred, images, dim=1)).mean()
        return out


def save_model(path, model: CaptionModel, extra: dict) -> None:
    """The trained weights plus everything needed to rebuild the model, written atomically.

    Serialised to memory first: torch names the archive's records after the file it writes,
    and the atomic temporary name is random, so saving to it directly would make two runs
    of the same config give different bytes."""
    import io

    from lingscope.io import atomic_path

    buffer = io.BytesIO()
    torch.save({"architecture": model.arch.to_dict(), "state_dict": model.state_dict(), **extra}, buffer)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buffer.getvalue())


def load_model(path, device: str | torch.device = "cpu") -> tuple[CaptionModel, dict]:
    """A model saved by :func:`save_model`, in eval mode, and the saved extras."""
    blob = torch.load(path, map_location=device, weights_only=False)
    model = CaptionModel(Architecture(**blob.pop("architecture")))
    model.load_state_dict(blob.pop("state_dict"))
    return model.to(device).eval(), blob


def load_pathway_model(path, pathway: str, device: str | torch.device = "cpu") -> tuple[CaptionModel, dict]:
    """:func:`load_model`, checking that the model has ``pathway`` (LM has no visual one)."""
    from lingscope.errors import InputError

    model, extra = load_model(path, device)
    if pathway not in model.pathways:
        raise InputError(path, f"model {extra.get('name')}", f"has no {pathway!r} pathway (it has {model.pathways})")
    return model, extra
