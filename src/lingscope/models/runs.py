"""Run a network over many sentences of one flat (CSR) sequence at once, through the contract.

The activation dumps and the omission scores both read whole chunks of a corpus in the flat
layout of :mod:`lingscope.encoding.csr`. Two exact ways to get every token's state:

- **with a cell** (a strictly left-to-right network): run the cell step by step over segments
  sorted longest first, so every step is one dense GEMM over the runs still going, with no
  padding and no per-sentence Python work (:func:`run_segments`);
- **without one**: padded batches of sentences of similar length through
  :meth:`lingscope.models.base.Model.states` and ``representation`` (:func:`padded_run`).

:func:`run_network` picks the cell path only where the model offers a cell. A network read in
both directions may offer its two cells instead (:class:`lingscope.models.base.Bidirectional`):
the backward cell runs over the layout with every sentence reversed within its own span
(:func:`reversed_rows`), and :func:`bidirectional_finals` gives both runs' final states.
:func:`run_gates` adds the gate activations of a network that has them, from the states already computed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from lingscope.encoding.csr import pad
from lingscope.models.base import Bidirectional, Cell, Model


def _steps_active(lengths_desc: np.ndarray) -> np.ndarray:
    """For runs sorted by length (longest first), how many are still running at each step."""
    return len(lengths_desc) - np.searchsorted(lengths_desc[::-1], np.arange(int(lengths_desc[0])), side="right")


def run_segments(
    cell: Cell, x_proj: torch.Tensor, first_row: np.ndarray, lengths: np.ndarray,
    h0: Callable[[np.ndarray], torch.Tensor], batch_rows: int, states_out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Run ``cell`` over many token segments of one flat sequence at once.

    Segment j reads the input projections ``x_proj[first_row[j] : first_row[j] + lengths[j]]``
    (``cell.project`` of each token) from the state ``h0(index)`` (a callable, so the start
    states are gathered per batch). Segments are sorted longest first and cut into batches of
    ``batch_rows``; at step t the runs still going are a prefix of the batch, so every step is one
    dense GEMM with no padding. Returns each segment's final cell state; with ``states_out`` the
    cell state after every token is also stored at that token's row.
    """
    device = x_proj.device
    order = np.argsort(-lengths, kind="stable")
    final = torch.empty(len(lengths), cell.state_size, device=device, dtype=x_proj.dtype)
    for start in range(0, len(order), batch_rows):
        index = order[start : start + batch_rows]
        h = h0(index)
        rows = torch.from_numpy(first_row[index]).to(device)
        for t, g in enumerate(_steps_active(lengths[index])):
            cell.step(x_proj.index_select(0, rows[:g] + t), h[:g], out=h[:g])
            if states_out is not None:
                states_out.index_copy_(0, rows[:g] + t, h[:g])
        final[torch.from_numpy(index).to(device)] = h
    return final


def zero_start(cell: Cell, device) -> Callable[[np.ndarray], torch.Tensor]:
    return lambda index: torch.zeros(len(index), cell.state_size, device=device)


def cell_states(cell: Cell, x_proj: torch.Tensor, offsets: np.ndarray,
                batch_rows: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """``(states, final)`` of the full run of ``cell`` over every sentence, from the zero state:
    the cell state after every token, ``(len(x_proj), state_size)`` in the flat layout's order,
    and each sentence's final cell state. ``x_proj`` is ``cell.project`` of every token."""
    states = x_proj.new_empty(len(x_proj), cell.state_size)
    final = run_segments(cell, x_proj, offsets[:-1], np.diff(offsets), zero_start(cell, x_proj.device), batch_rows,
                         states)
    return states, final


def reversed_rows(offsets: np.ndarray) -> np.ndarray:
    """For every row of the flat layout, the row it takes when each sentence is reversed within
    its own span: ``flat[reversed_rows(offsets)]`` is every sentence read right to left, with the
    same offsets. An involution (applying it twice restores the order)."""
    return np.repeat(offsets[:-1] + offsets[1:] - 1, np.diff(offsets)) - np.arange(offsets[-1])


def bidirectional_finals(pair: Bidirectional, emb: torch.Tensor, offsets: np.ndarray,
                         batch_rows: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """``(forward, backward)``: each sentence's final cell state of the pair's two full runs over
    the embeddings ``emb`` of the flat layout (``pair.representation`` of them is the sentence
    representation)."""
    rows = torch.from_numpy(reversed_rows(offsets)).to(emb.device)
    forward = cell_states(pair.forward, pair.forward.project(emb), offsets, batch_rows)[1]
    backward = cell_states(pair.backward, pair.backward.project(emb.index_select(0, rows)), offsets, batch_rows)[1]
    return forward, backward


@torch.no_grad()
def padded_run(model: Model, network: str, ids: torch.Tensor, offsets: np.ndarray, batch_rows: int = 1024,
               with_states: bool = True) -> tuple[torch.Tensor | None, torch.Tensor]:
    """``(states, representations)`` through :meth:`Model.states` and :meth:`Model.representation`
    on padded batches of sentences of similar length: exact for any network. Without
    ``with_states`` only the representations are computed (states is None)."""
    flat = ids.cpu().numpy()
    states_out = reps_out = None
    order = np.argsort(np.diff(offsets), kind="stable")
    for start in range(0, len(order), batch_rows):
        index = order[start : start + batch_rows]
        padded, lens = pad(flat, offsets, index)
        emb = model.embed(torch.from_numpy(padded).to(ids.device))
        lens_t = torch.from_numpy(lens).to(ids.device)
        rep = model.representation(network, emb, lens_t)
        if reps_out is None:
            reps_out = rep.new_empty(len(offsets) - 1, rep.shape[-1])
        reps_out[torch.from_numpy(index).to(ids.device)] = rep
        if with_states:
            states = model.states(network, emb, lens_t)
            inside = np.arange(padded.shape[1])[None, :] < lens[:, None]
            rows = (offsets[:-1][index][:, None] + np.arange(padded.shape[1])[None, :])[inside]
            if states_out is None:
                states_out = states.new_empty(len(ids), states.shape[-1])
            states_out[torch.from_numpy(rows).to(ids.device)] = states[torch.from_numpy(inside).to(ids.device)]
    return states_out, reps_out


@torch.no_grad()
def run_network(model: Model, network: str, ids: torch.Tensor, offsets: np.ndarray,
                batch_rows: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """``(states, representations)``: the state after every token of every sentence
    (``(len(ids), state_dim)`` in ``ids``' order) and each sentence's representation.

    Through the network's cell where it has one (the representation is then the output of the
    final cell state, which :func:`verify_cell` and the contract test check against
    :meth:`Model.representation`), else through padded batches of the generic contract methods.
    """
    cell = model.cell(network)
    if cell is None:
        return padded_run(model, network, ids, offsets, batch_rows)
    states, final = cell_states(cell, cell.project(model.embed(ids)), offsets, batch_rows)
    return cell.output(states), cell.output(final)


@torch.no_grad()
def run_gates(model: Model, network: str, ids: torch.Tensor, offsets: np.ndarray, states: torch.Tensor,
              batch_rows: int = 1024) -> dict[str, torch.Tensor]:
    """``{name: (len(ids), size)}``: :meth:`Model.gates` of every token in ``ids``' order (empty
    for a network without gates), given the ``states`` :func:`run_network` returned, so the
    network's states are not computed again. Batches hold sentences of one length (at most
    ``batch_rows``), so no padding enters the gates' GEMMs: with batches of similar lengths, as
    :func:`padded_run`'s, padding made 42% more rows on the synthetic captions.

    What the model returns must be what its :meth:`Model.gate_dims` promises: names, order and
    sizes; a family that breaks the promise is stopped before a table is written."""
    dims = model.gate_dims(network)
    if not dims:
        return {}
    flat = ids.cpu().numpy()
    out = {name: states.new_empty(len(ids), size) for name, size in dims.items()}
    lengths = np.diff(offsets)
    order = np.argsort(lengths, kind="stable")
    cuts = np.flatnonzero(np.diff(lengths[order])) + 1
    batches = [run[start : start + batch_rows] for run in np.split(order, cuts)
               for start in range(0, len(run), batch_rows)]
    for index in batches:
        padded, lens = pad(flat, offsets, index)
        inside = np.arange(padded.shape[1])[None, :] < lens[:, None]
        rows = torch.from_numpy((offsets[:-1][index][:, None] + np.arange(padded.shape[1])[None, :])[inside])
        rows, inside_t = rows.to(ids.device), torch.from_numpy(inside).to(ids.device)
        padded_states = states.new_zeros(len(index), padded.shape[1], states.shape[-1])
        padded_states[inside_t] = states[rows]
        gates = model.gates(network, model.embed(torch.from_numpy(padded).to(ids.device)),
                            torch.from_numpy(lens).to(ids.device), padded_states)
        shapes = {name: int(value.shape[-1]) for name, value in gates.items()}
        if list(shapes.items()) != list(dims.items()):
            raise ValueError(f"model {model.kind!r} network {network!r}: its gates are {shapes}, its gate_dims "
                             f"promise {dims}")
        for name, value in gates.items():
            out[name][rows] = value[inside_t]
    return out


@torch.no_grad()
def verify_cell(model: Model, network: str, ids: torch.Tensor, offsets: np.ndarray, sample: int = 16,
                tolerance: float = 1e-4) -> None:
    """Check a network's cell against the contract's generic methods on the first ``sample``
    sentences: the fast paths trust that stepping the cell gives :meth:`Model.states` and that
    its final state gives :meth:`Model.representation`. A family whose cell breaks that promise
    is stopped here, before it writes a wrong table. A network without a cell that offers a
    :class:`Bidirectional` pair has its assembled representation checked the same way, and that of
    an empty sentence (the zero states). Nothing to check without either."""
    cell = model.cell(network)
    pair = model.bidirectional(network) if cell is None else None
    if cell is None and pair is None:
        return
    n = min(sample, len(offsets) - 1)
    head = ids[: int(offsets[n])]
    generic_states, generic_reps = padded_run(model, network, head, offsets[: n + 1], sample,
                                              with_states=cell is not None)
    if cell is not None:
        fast_states, fast_reps = run_network(model, network, head, offsets[: n + 1], sample)
        pairs = (("states", fast_states, generic_states), ("representation", fast_reps, generic_reps))
    else:
        fast_reps = pair.representation(*bidirectional_finals(pair, model.embed(head), offsets[: n + 1], sample))
        zero = head.new_zeros(1, pair.forward.state_size, dtype=fast_reps.dtype), \
            head.new_zeros(1, pair.backward.state_size, dtype=fast_reps.dtype)
        empty = model.embed(head[:0])[None]  # one sentence of no tokens
        pairs = (("representation", fast_reps, generic_reps),
                 ("empty representation", pair.representation(*zero),
                  model.representation(network, empty, head.new_zeros(1))))
    for what, fast, generic in pairs:
        if fast.shape != generic.shape:
            raise ValueError(f"model {model.kind!r} network {network!r}: its cell(s) give {what} of shape "
                             f"{tuple(fast.shape)}, the model {tuple(generic.shape)}; the fast paths cannot be used")
        gap = float((fast - generic).abs().max())
        if gap > tolerance * (1.0 + float(generic.abs().max())):
            raise ValueError(f"model {model.kind!r} network {network!r}: its cell's {what} differ from the model's "
                             f"by {gap:.2g}; the fast paths would be wrong (the family's cell must step exactly "
                             "as its states(), and its final state(s) must give its representation)")
