"""Recurrent layers and their cells: the strictly left-to-right steps of :class:`lingscope.models.base.Cell`,
and the gate activations of GRU and LSTM layers (:meth:`lingscope.models.base.Model.gates`).

GRU layers: torch's fused GRU (the default) and the variant of the authors' released code.

Kadar et al.'s code (docs/kadar2017.md#models) differs from the paper's GRU in two ways that this
module offers as ``gru: authors``:
- the candidate activation is a ReLU clipped at 5 instead of tanh;
- the gates use a "steeper" sigmoid ``1 / (1 + exp(-3.75 x))``;
and its weights are initialised orthogonally.

Both layers share one interface: ``layer(x, h0) -> (states, h_last)`` with ``x`` of shape
``(batch, time, input)``, ``h0`` of shape ``(1, batch, hidden)`` or None, ``states`` of shape
``(batch, time, hidden)``. Right padding is harmless: the state at position t depends only
on inputs up to t, so callers read each sequence's state at its own last position.

Gates (:func:`gru_gates`, :func:`lstm_gates`) are recomputed from a layer's weights, its inputs
and its states before every step, with the equations of torch's documentation of
``torch.nn.GRU`` and ``torch.nn.LSTM``; given the states, every step's gates are one GEMM per
side for all steps at once, only the LSTM's cell state is a scan over time (elementwise).
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


def _weights(layer: nn.Module, k: int = 0):
    """``(w_ih, b_ih, w_hh, b_hh, steep)`` of layer ``k`` of a GRU (the authors' has one layer)."""
    if isinstance(layer, AuthorsGRU):
        if k != 0:
            raise ValueError("the authors' GRU has one layer")
        return layer.weight_ih, layer.bias_ih, layer.weight_hh, layer.bias_hh, STEEP
    return (*(getattr(layer, f"{name}_l{k}") for name in ("weight_ih", "bias_ih", "weight_hh", "bias_hh")), None)


def step_inputs(layer: nn.Module, x: torch.Tensor, k: int = 0) -> torch.Tensor:
    """``x W_ih + b_ih`` plus the recurrent biases of the r and z gates, for every input.

    This is the part of a GRU step that does not depend on the state, so it is computed
    once per token and shared by every run that reads that token (see
    :func:`recurrent_step`). The candidate's recurrent bias stays apart: it is gated by r.
    ``k``: the layer of a stacked GRU.
    """
    w_ih, b_ih, _, b_hh, _ = _weights(layer, k)
    size = layer.hidden_size
    bias = torch.cat([b_ih[: 2 * size] + b_hh[: 2 * size], b_ih[2 * size :]])
    return F.linear(x, w_ih, bias)


def recurrent_step(layer: nn.Module, x_in: torch.Tensor, h: torch.Tensor, out: torch.Tensor | None = None,
                   k: int = 0) -> torch.Tensor:
    """One GRU step from :func:`step_inputs`; the same arithmetic as ``layer`` itself.

    ``x_in`` is overwritten (callers pass a fresh gather) and the new state may be written
    over ``h`` (``out=h``): working in place keeps a step to one GEMM plus a few passes over
    memory, which matters when the omission scores run it millions of times. ``k``: the layer
    of a stacked GRU.
    """
    _, _, w_hh, b_hh, steep = _weights(layer, k)
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


# The gate columns of the activation store (lingscope.core.schemas.GATE_COLUMNS), in dump order.
GRU_GATES = ("gate_r", "gate_z", "gate_n")
LSTM_GATES = ("gate_i", "gate_f", "gate_g", "gate_o", "cell_c")


def previous(states: torch.Tensor) -> torch.Tensor:
    """``(batch, time, dim)``: the state before every step of a left-to-right run (zero before the first)."""
    return torch.cat([states.new_zeros(states.shape[0], 1, states.shape[2]), states[:, :-1]], 1)


def gru_gates(layer: nn.Module, x: torch.Tensor, h_prev: torch.Tensor, k: int = 0) -> dict[str, torch.Tensor]:
    """``gate_r, gate_z, gate_n`` of every step of layer ``k`` of a GRU from its inputs ``x`` (batch, time,
    input) and the state before each step ``h_prev`` (batch, time, hidden). torch.nn.GRU's equations:

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr),  z = sigmoid(W_iz x + b_iz + W_hz h + b_hz),
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = (1 - z) * n + z * h;

    the authors' variant (:class:`AuthorsGRU`) takes sigmoid(3.75 .) and clips n as ReLU at 5."""
    w_ih, b_ih, w_hh, b_hh, steep = _weights(layer, k)
    xr, xz, xn = F.linear(x, w_ih, b_ih).chunk(3, -1)
    hr, hz, hn = F.linear(h_prev, w_hh, b_hh).chunk(3, -1)
    scale = 1.0 if steep is None else steep
    r = torch.sigmoid(scale * (xr + hr))
    z = torch.sigmoid(scale * (xz + hz))
    candidate = xn + r * hn
    n = torch.tanh(candidate) if steep is None else candidate.clamp(0.0, CLIP)
    return dict(zip(GRU_GATES, (r, z, n)))


def _lstm_weights(layer: nn.LSTM, k: int):
    return tuple(getattr(layer, f"{name}_l{k}") for name in ("weight_ih", "bias_ih", "weight_hh", "bias_hh"))


def lstm_update(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM update ``(h, c)`` from the summed gate pre-activations (torch's order i, f, g, o)."""
    i, f, g, o = gates.chunk(4, -1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def lstm_gates(layer: nn.LSTM, x: torch.Tensor, h_prev: torch.Tensor, k: int = 0) -> dict[str, torch.Tensor]:
    """``gate_i, gate_f, gate_g, gate_o, cell_c`` of every step of layer ``k`` of ``layer`` from its
    inputs ``x`` (batch, time, input) and the state before each step ``h_prev`` (batch, time, hidden),
    from the zero cell state. torch.nn.LSTM's equations:

        i = sigmoid(W_ii x + b_ii + W_hi h + b_hi),  f = sigmoid(W_if x + b_if + W_hf h + b_hf),
        g = tanh(W_ig x + b_ig + W_hg h + b_hg),      o = sigmoid(W_io x + b_io + W_ho h + b_ho),
        c' = f * c + i * g,  h' = o * tanh(c').

    ``g`` is the candidate (GRU's n); ``c`` the cell state after each step."""
    w_ih, b_ih, w_hh, b_hh = _lstm_weights(layer, k)
    i, f, g, o = (F.linear(x, w_ih, b_ih) + F.linear(h_prev, w_hh, b_hh)).chunk(4, -1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    update = i * g
    cell = torch.empty_like(update)
    c = update.new_zeros(update.shape[0], update.shape[2])
    for t in range(update.shape[1]):  # elementwise: the GEMMs above cover every step
        c = torch.addcmul(update[:, t], f[:, t], c)
        cell[:, t] = c
    return dict(zip(LSTM_GATES, (i, f, g, o, cell)))


def lstm_layer_states(layer: nn.LSTM, x: torch.Tensor, k: int) -> torch.Tensor:
    """``(batch, time, hidden)``: ``h`` after every step of layer ``k`` of a stacked ``layer`` over
    ``x`` from the zero state, stepped (the evaluation function: no dropout between layers)."""
    w_ih, b_ih, w_hh, b_hh = _lstm_weights(layer, k)
    x_proj = F.linear(x, w_ih, b_ih + b_hh)
    h = x.new_zeros(x.shape[0], layer.hidden_size)
    c = torch.zeros_like(h)
    out = []
    for x_t in x_proj.unbind(1):
        h, c = lstm_update(torch.addmm(x_t, h, w_hh.t()), c)
        out.append(h)
    return torch.stack(out, 1) if out else x.new_zeros(x.shape[0], 0, layer.hidden_size)


def gru_layer_states(layer: nn.Module, x: torch.Tensor, k: int) -> torch.Tensor:
    """``(batch, time, hidden)``: ``h`` after every step of layer ``k`` of a (stacked) GRU ``layer``
    over ``x`` from the zero state, stepped with torch.nn.GRU's equations (:func:`gru_gates`; the
    evaluation function: no dropout between layers)."""
    w_ih, b_ih, w_hh, b_hh, steep = _weights(layer, k)
    scale = 1.0 if steep is None else steep
    x_proj = F.linear(x, w_ih, b_ih)
    h = x.new_zeros(x.shape[0], layer.hidden_size)
    out = []
    for x_t in x_proj.unbind(1):
        xr, xz, xn = x_t.chunk(3, -1)
        hr, hz, hn = F.linear(h, w_hh, b_hh).chunk(3, -1)
        r = torch.sigmoid(scale * (xr + hr))
        z = torch.sigmoid(scale * (xz + hz))
        candidate = xn + r * hn
        n = torch.tanh(candidate) if steep is None else candidate.clamp(0.0, CLIP)
        h = n + z * (h - n)
        out.append(h)
    return torch.stack(out, 1) if out else x.new_zeros(x.shape[0], 0, layer.hidden_size)


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


class StackedCell(Cell):
    """The cell of a stacked ``torch.nn.LSTM``, ``torch.nn.GRU`` or ``torch.nn.RNN`` (one layer or more; the
    evaluation function, no dropout between layers): :meth:`project` is layer 0's input
    projection, :meth:`step` layer 0's recurrent step and then every layer above it, each reading
    the new ``h`` of the layer below. The state is every layer's state concatenated, bottom first:
    ``[h_0 ; c_0 ; h_1 ; c_1 ; ...]`` for an LSTM, ``[h_0 ; h_1 ; ...]`` for a GRU or an RNN;
    :meth:`output` is the top layer's ``h``, what the network's states are."""

    def __init__(self, layer: nn.Module):
        if not isinstance(layer, (nn.LSTM, nn.GRU, nn.RNN)) or layer.bidirectional or not layer.batch_first \
                or getattr(layer, "proj_size", 0):
            raise ValueError("a StackedCell needs a one-directional batch-first torch.nn.LSTM, torch.nn.GRU or "
                             "torch.nn.RNN")
        self.layer = layer
        self.lstm = isinstance(layer, nn.LSTM)
        self.tanh_rnn = isinstance(layer, nn.RNN)  # tanh or ReLU: torch.nn.RNN's nonlinearity
        self.activation = torch.relu if getattr(layer, "nonlinearity", "tanh") == "relu" else torch.tanh
        self.layers, self.hidden = layer.num_layers, layer.hidden_size
        self.width = (2 if self.lstm else 1) * self.hidden  # one layer's share of the state
        self.state_size = self.layers * self.width

    def _project(self, x: torch.Tensor, k: int) -> torch.Tensor:
        if not (self.lstm or self.tanh_rnn):
            return step_inputs(self.layer, x, k)
        w_ih, b_ih, _, b_hh = _lstm_weights(self.layer, k)
        return F.linear(x, w_ih, b_ih + b_hh)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return self._project(x, 0)

    def step(self, x_in: torch.Tensor, state: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        parts = []
        for k in range(self.layers):
            if k:
                x_in = self._project(parts[-1][:, : self.hidden], k)
            old = state[:, k * self.width : (k + 1) * self.width]
            if self.lstm:
                w_hh = _lstm_weights(self.layer, k)[2]
                h, c = lstm_update(torch.addmm(x_in, old[:, : self.hidden], w_hh.t()), old[:, self.hidden :])
                parts.append(torch.cat([h, c], 1))
            elif self.tanh_rnn:  # torch.nn.RNN: h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or ReLU)
                parts.append(self.activation(torch.addmm(x_in, old, _lstm_weights(self.layer, k)[2].t())))
            else:
                parts.append(recurrent_step(self.layer, x_in, old, k=k))
        # Every layer's new state is computed before ``out`` (which may be ``state``) is written.
        if out is None:
            return torch.cat(parts, 1)
        return torch.cat(parts, 1, out=out)

    def output(self, state: torch.Tensor) -> torch.Tensor:
        top = (self.layers - 1) * self.width
        return state[..., top : top + self.hidden].contiguous()
