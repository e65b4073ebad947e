"""Tensor utilities the families and the methods share: reversing within lengths, the state at
each sentence's last token, the padding mask."""

from __future__ import annotations

import torch


def reverse_within(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each row's first ``length`` positions reversed, the padding left in place (an involution)."""
    steps = x.shape[1]
    t = torch.arange(steps, device=x.device)[None, :]
    index = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def last(states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each sequence's state at its own last token."""
    index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, states.shape[-1])
    return states.gather(1, index).squeeze(1)


def mask(lengths: torch.Tensor, width: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(batch, width)`` mask of ``dtype``: 1 where a position lies inside its sentence."""
    return (torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]).to(dtype)
