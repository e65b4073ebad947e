"""Recurrent layers and their cells: the strictly left-to-right steps of :class:`lingscope.models.base.Cell`.

GRU layers: torch's fused GRU (the default) and the variant of the authors' released code.

Kadar et al.'s code (METHODS.md sec. 1) differs from the paper's GRU in two ways that this
module offers as ``gru: authors``:
- the candidate activation is a ReLU clipped at 5 instead of tanh;
- the gates use a "steeper" sigmoid ``1 / (1 + exp(-3.75 x))``;
and its weights are initialised orthogonally.

Both layers share one interface: ``layer(x, h0) -> (states, h_last)`` with ``x`` of shape
``(batch, time, input)``, ``h0`` of shape ``(1, batch, hidden)`` or None, ``states`` of shape
``(batch, time, hidden)``. Right padding is harmless: the state at position t depends only
on inputs up to t, so callers read each sequence's state at its own last position.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lingscope.models.base import Cell

STEEP = 3.75
CLIP = 5.0


class AuthorsGRU(nn.Module):
    """One-layer GRU with clipped-ReLU candidate and steep sigmoid gates (authors' code)."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        # Gate order r, z, n as in torch.nn.GRU, so the two layers have the same parameters.
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.zeros(3 * hidden_size))
        self.bias_hh = nn.Parameter(torch.zeros(3 * hidden_size))
        for w in (self.weight_ih, self.weight_hh):
            for block in w.data.chunk(3, 0):
                nn.init.orthogonal_(block)

    def step(self, x_proj: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One time step from the input projection ``x W_ih + b_ih`` and the previous state."""
        h_proj = torch.addmm(self.bias_hh, h, self.weight_hh.t())
        xr, xz, xn = x_proj.chunk(3, -1)
        hr, hz, hn = h_proj.chunk(3, -1)
        r = torch.sigmoid(STEEP * (xr + hr))
        z = torch.sigmoid(STEEP * (xz + hz))
        n = torch.clamp(xn + r * hn, 0.0, CLIP)
        return n + z * (h - n)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        batch, steps, _ = x.shape
        h = x.new_zeros(batch, self.hidden_size) if h0 is None else h0[0]
        # One large GEMM for all input projections; only the recurrence is sequential.
        x_proj = torch.nn.functional.linear(x, self.weight_ih, self.bias_ih)
        states = []
        for t in range(steps):
            h = self.step(x_proj[:, t], h)
            states.append(h)
        out = torch.stack(states, 1) if states else x.new_zeros(batch, 0, self.hidden_size)
        return out, h.unsqueeze(0)


def make_gru(kind: str, input_size: int, hidden_size: int) -> nn.Module:
    """``fused`` (torch.nn.GRU, the default) or ``authors`` (:class:`AuthorsGRU`)."""
    if kind == "fused":
        return nn.GRU(input_size, hidden_size, batch_first=True)
    if kind == "authors":
        return AuthorsGRU(input_size, hidden_size)
    raise ValueError(f"unknown GRU kind {kind!r}; expected 'fused' or 'authors'")


def _weights(layer: nn.Module):
    if isinstance(layer, AuthorsGRU):
        return layer.weight_ih, layer.bias_ih, layer.weight_hh, layer.bias_hh, STEEP
    return layer.weight_ih_l0, layer.bias_ih_l0, layer.weight_hh_l0, layer.bias_hh_l0, None


def step_inputs(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``x W_ih + b_ih`` plus the recurrent biases of the r and z gates, for every input.

    This is the part of a GRU step that does not depend on the state, so it is computed
    once per token and shared by every run that reads that token (see
    :func:`recurrent_step`). The candidate's recurrent bias stays apart: it is gated by r.
    """
    w_ih, b_ih, _, b_hh, _ = _weights(layer)
    size = layer.hidden_size
    bias = torch.cat([b_ih[: 2 * size] + b_hh[: 2 * size], b_ih[2 * size :]])
    return F.linear(x, w_ih, bias)


def recurrent_step(layer: nn.Module, x_in: torch.Tensor, h: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """One GRU step from :func:`step_inputs`; the same arithmetic as ``layer`` itself.

    ``x_in`` is overwritten (callers pass a fresh gather) and the new state may be written
    over ``h`` (``out=h``): working in place keeps a step to one GEMM plus a few passes over
    memory, which matters when the omission scores run it millions of times.
    """
    _, _, w_hh, b_hh, steep = _weights(layer)
    size = h.shape[1]
    h_proj = torch.mm(h, w_hh.t())
    gates = x_in[:, : 2 * size].add_(h_proj[:, : 2 * size])
    if steep is not None:
        gates.mul_(steep)
    gates.sigmoid_()
    r, z = gates[:, :size], gates[:, size:]
    n = x_in[:, 2 * size :].addcmul_(r, h_proj[:, 2 * size :].add_(b_hh[2 * size :]))
    if steep is not None:
        n = n.clamp_(0.0, CLIP)
    else:
        # tanh(x) = 2 sigmoid(2x) - 1: torch's CPU tanh is about 5x slower than its sigmoid
        # (measured here); the identity differs from tanh by < 2e-7.
        n = n.mul_(2.0).sigmoid_().mul_(2.0).sub_(1.0)
    return torch.lerp(n, h, z, out=out)  # (1 - z) * n + z * h


class GRUCell(Cell):
    """The cell of a one-layer GRU (fused or the authors'): the same arithmetic as the layer."""

    def __init__(self, layer: nn.Module):
        self.layer = layer
        self.state_size = layer.hidden_size

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return step_inputs(self.layer, x)

    def step(self, x_in: torch.Tensor, state: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        return recurrent_step(self.layer, x_in, state, out)


class RunningSumCell(Cell):
    """A sum of the inputs read so far (SUM's "visual" network: a bag of word embeddings)."""

    def __init__(self, size: int):
        self.state_size = size

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def step(self, x_in: torch.Tensor, state: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        return torch.add(state, x_in, out=out)
