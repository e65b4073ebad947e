"""Run a pathway over many token segments of one flat sequence at once.

The activation dumps and the omission scores both read whole chunks of a corpus held as
one flat id array with offsets (CSR). Running the GRU step by step over segments sorted
longest first makes every step one dense GEMM over the runs still going, with no padding.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lingscope.models.gru import recurrent_step, step_inputs
from lingscope.models.imaginet import CaptionModel


def _steps_active(lengths_desc: np.ndarray) -> np.ndarray:
    """For runs sorted by length (longest first), how many are still running at each step."""
    return len(lengths_desc) - np.searchsorted(lengths_desc[::-1], np.arange(int(lengths_desc[0])), side="right")


def run_segments(
    layer: nn.Module, x_proj: torch.Tensor, first_row: np.ndarray, lengths: np.ndarray, h0, batch_rows: int,
    states_out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Run the GRU over many token segments of one flat sequence at once.

    Segment j reads the input projections ``x_proj[first_row[j] : first_row[j] + lengths[j]]``
    from the state ``h0(index)`` (a callable, so the start states are gathered per batch).
    Segments are sorted longest first and cut into batches of ``batch_rows``; at step t the
    runs still going are a prefix of the batch, so every step is one dense GEMM with no
    padding and no per-item Python work. Returns each segment's final state; with
    ``states_out`` the state after every token is also stored at that token's row.
    """
    device = x_proj.device
    order = np.argsort(-lengths, kind="stable")
    final = torch.empty(len(lengths), layer.hidden_size, device=device)
    for start in range(0, len(order), batch_rows):
        index = order[start : start + batch_rows]
        h = h0(index)
        rows = torch.from_numpy(first_row[index]).to(device)
        for t, g in enumerate(_steps_active(lengths[index])):
            recurrent_step(layer, x_proj.index_select(0, rows[:g] + t), h[:g], out=h[:g])
            if states_out is not None:
                states_out.index_copy_(0, rows[:g] + t, h[:g])
        final[torch.from_numpy(index).to(device)] = h
    return final


@torch.no_grad()
def all_states(model: CaptionModel, pathway: str, ids: torch.Tensor, offsets: np.ndarray, batch_rows: int = 1024) -> torch.Tensor:
    """The state after every token of every sentence, ``(len(ids), dim)`` in ``ids``' order.

    ``ids`` holds the sentences back to back (each ending in <eos>); ``offsets`` their
    starts. For SUM's visual pathway the state is the running sum of embeddings.
    """
    device = ids.device
    lengths = np.diff(offsets)
    layer = model.recurrence(pathway)
    if layer is None:
        # Sum within each sentence (a cumsum over the whole chunk would lose precision).
        cols = np.arange(int(lengths.max()))
        mask = cols[None, :] < lengths[:, None]
        rows = torch.from_numpy((offsets[:-1, None] + cols[None, :])[mask]).to(device)
        padded = ids.new_zeros(mask.shape)  # <pad> embeds to zero
        mask_t = torch.from_numpy(mask).to(device)
        padded[mask_t] = ids[rows]
        return model.embedding(padded).cumsum(1)[mask_t]
    x_in = step_inputs(layer, model.embedding(ids))
    states = torch.empty(len(ids), layer.hidden_size, device=device)
    run_segments(layer, x_in, offsets[:-1], lengths,
                 lambda index: torch.zeros(len(index), layer.hidden_size, device=device), batch_rows, states)
    return states
