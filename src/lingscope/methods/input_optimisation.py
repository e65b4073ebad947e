"""Input optimisation of readout units (Poerner, Roth & Schuetze 2018; METHODS.md sec. 2).

For a target unit f (a unit of one of a network's readouts: a dimension of an image-feature
prediction, a vocabulary logit of a language model), find the n-gram (n = 5, no start or end
symbol; f read from the state after its last token) that maximises it. Five methods:

| method  | free variables (init uniform +-init) | what the network reads          | read-off                 |
|---------|--------------------------------------|---------------------------------|--------------------------|
| ``crp``   | none: every distinct n-gram of a corpus | the n-grams                  | the best n-gram          |
| ``emb``   | n embedding vectors                  | the vectors                     | nearest word by cosine   |
| ``logit`` | n x V logits X                       | ``X M`` (M the embedding matrix)  | argmax per position      |
| ``smx``   | n x V logits X                       | ``softmax(X) M``                  | argmax per position      |
| ``gbl``   | n x V logits X                       | ``softmax((log softmax(X) + g) / tau) M``, mean over ``samples`` Gumbel draws g | argmax per position |

Adam maximises f. Every ``steps`` steps (an epoch) the current read-off n-gram is run through
the unmodified model; its activation decides early stopping (``patience`` epochs without a
new best) and the kept n-gram, whose activation is the reported score.

**Batched over units.** The authors optimised one unit at a time. Here each row of a batch
holds one unit's own free variables and reads its own unit, the loss is the total over rows,
and Adam is elementwise, so rows do not interact: a row's trajectory is the one it would have
alone. Rows that stop leave the batch (their Adam state is sliced away with them). The random
numbers are drawn so that this holds exactly: a row's initial values come from a generator
seeded by ``(seed, unit)``, and the Gumbel noise of step s is drawn once per step from a
generator seeded by ``seed`` and shared by every row of the batch (each unit still sees
fresh noise at every step, as the authors' single unit did). Optimising units ``[a, b]``
together or ``[a]`` and ``[b]`` apart gives the same n-grams (``tests/test_input_optimisation.py``).

The optimised vocabulary leaves out the specials ``<pad>``, ``<unk>`` and ``<eos>``: an
optimum is made of real words. ``crp`` scores the corpus's n-grams as the model reads them
(``<unk>`` included).

Methods reach the model only through the contract: ``embedding_matrix``, ``representation``
(for a REGRESSION or CLASSES readout), ``states`` (the state after the last token, for a
NEXT_TOKEN readout) and ``readout``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lingscope.encoding.ids import SPECIALS
from lingscope.models.base import NEXT_TOKEN, Model

METHODS = ("crp", "emb", "logit", "smx", "gbl")
GRADIENT_METHODS = ("emb", "logit", "smx", "gbl")


def draw_units(n_units: int, draws: int = 2, per_draw: int = 80, seed: int = 123, limit: int = 1024) -> np.ndarray:
    """The target units of a readout: ``draws`` seeded draws of ``per_draw`` distinct indices from
    ``0 .. min(limit, n_units) - 1`` (the authors: two draws of 80 from 0-1023, RandomState(123)),
    concatenated; fewer per draw when the readout has fewer units."""
    pool = min(limit, n_units)
    rng = np.random.RandomState(seed)
    return np.concatenate([rng.choice(pool, min(per_draw, pool), replace=False) for _ in range(draws)]).astype(np.int64)


def unit_activations(model: Model, network: str, readout: str, emb: torch.Tensor) -> torch.Tensor:
    """``(batch, readout units)``: the readout after the whole of each (unpadded) input ``emb``
    ``(batch, n, dim)``: of the representation, or for a NEXT_TOKEN readout of the state after
    the last token (its prediction of the next word)."""
    lengths = torch.full((emb.shape[0],), emb.shape[1], dtype=torch.long, device=emb.device)
    if model.readouts(network)[readout].kind == NEXT_TOKEN:
        h = model.states(network, emb, lengths)[:, -1]
    else:
        h = model.representation(network, emb, lengths)
    return model.readout(network, readout, h)


def check_units(model: Model, network: str, readout: str, units: np.ndarray) -> None:
    """Every unit must be one of the readout's (a clear error, not an index error later)."""
    size = model.readouts(network)[readout].units
    bad = [int(u) for u in np.asarray(units) if not 0 <= int(u) < size]
    if bad:
        raise ValueError(f"units {bad[:5]} are not units of readout {readout!r} of network {network!r}, "
                         f"which has {size} (0 .. {size - 1})")


def _row_generator(seed: int, unit: int, device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(int(np.random.SeedSequence([seed, unit]).generate_state(1, dtype=np.uint64)[0] >> 1))
    return g


@dataclass
class Schedule:
    """One gradient method's schedule."""

    steps: int  # optimisation steps per epoch
    patience: int  # epochs without a better discretised activation before a row stops
    max_epochs: int


@dataclass
class Optimised:
    """Per row: the kept n-gram (word ids), its activation through the unmodified model, the
    steps taken, the epoch the row stopped at and, for ``emb``, the mean cosine between the
    optimised vectors and their nearest words at the kept epoch."""

    units: np.ndarray
    ids: np.ndarray  # (rows, n)
    activation: np.ndarray
    steps: np.ndarray
    stopped_epoch: np.ndarray
    best_epoch: np.ndarray
    cosine: np.ndarray | None = None


class _Rows:
    """The free variables of the rows still optimising, with their Adam state."""

    def __init__(self, values: torch.Tensor, lr: float):
        self.param = torch.nn.Parameter(values)
        self.lr = lr
        self.opt = torch.optim.Adam([self.param], lr=lr)

    def keep(self, index: torch.Tensor) -> None:
        """Only rows ``index`` go on; Adam's per-element state is sliced with them."""
        state = self.opt.state.get(self.param, {})
        param = torch.nn.Parameter(self.param.detach()[index].clone())
        opt = torch.optim.Adam([param], lr=self.lr)
        if state:
            opt.state[param] = {k: (v[index].clone() if k in ("exp_avg", "exp_avg_sq") else v.clone())
                                for k, v in state.items()}
        self.param, self.opt = param, opt


def optimise(model: Model, network: str, readout: str, units: np.ndarray, method: str, schedule: Schedule, *,
             n: int = 5, learning_rate: float = 1e-3, init: float = 0.05, samples: int = 64, tau_start: float = 2.0,
             tau_decay: float = 0.99995, tau_min: float = 0.1, seed: int = 1, max_elements: int = 1 << 24
             ) -> Optimised:
    """Optimise every unit of ``units`` (indices into ``readout``) with gradient ``method``,
    all in one batch (see the module docstring); the model stays unchanged (eval mode).

    ``max_elements`` bounds the soft-input tensor of one forward chunk (rows x samples x n x V):
    rows are processed in chunks whose gradients add up before each step, so memory stays
    bounded whatever the vocabulary and the number of units."""
    if method not in GRADIENT_METHODS:
        raise ValueError(f"unknown gradient method {method!r}; expected one of {GRADIENT_METHODS}")
    check_units(model, network, readout, units)
    model.eval()
    trainable = [p for p in model.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)  # only the free variables take gradients
    try:
        return _optimise(model, network, readout, units, method, schedule, n, learning_rate, init, samples,
                         tau_start, tau_decay, tau_min, seed, max_elements)
    finally:
        for p in trainable:
            p.requires_grad_(True)


def _optimise(model, network, readout, units, method, schedule, n, learning_rate, init, samples, tau_start,
              tau_decay, tau_min, seed, max_elements) -> Optimised:
    matrix = model.embedding_matrix.detach()
    device = matrix.device
    words = torch.tensor([i for i in range(matrix.shape[0]) if i >= len(SPECIALS)], device=device)
    M = matrix[words]  # (V, dim): the optimised vocabulary
    V, dim = M.shape
    units_t = torch.as_tensor(units, dtype=torch.long, device=device)
    rows = len(units)
    width = dim if method == "emb" else V
    init_values = torch.empty(rows, n, width, device=device)
    for r, unit in enumerate(units):
        init_values[r].uniform_(-init, init, generator=_row_generator(seed, int(unit), device))
    state = _Rows(init_values, learning_rate)
    active = torch.arange(rows, device=device)
    noise_gen = torch.Generator(device=device)
    noise_gen.manual_seed(seed)
    M_norm = F.normalize(M, dim=1)

    best = torch.full((rows,), -float("inf"), device=device)
    best_ids = torch.zeros(rows, n, dtype=torch.long, device=device)
    best_epoch = torch.zeros(rows, dtype=torch.long)
    best_cos = torch.full((rows,), float("nan"), device=device)
    stopped = torch.full((rows,), schedule.max_epochs, dtype=torch.long)
    bad = torch.zeros(rows, dtype=torch.long)
    per_sample = (samples if method == "gbl" else 1) * n * V
    chunk = max(1, max_elements // per_sample)
    step = 0

    def soft_inputs(x: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if method == "emb":
            return x
        # Every product with M as one 2-D GEMM: a broadcast 4-D matmul runs as bmm and copies M
        # per batch (measured: most of a gbl step).
        if method == "logit":
            return (x.reshape(-1, V) @ M).view(x.shape[0], n, -1)
        if method == "smx":
            return (torch.softmax(x, -1).reshape(-1, V) @ M).view(x.shape[0], n, -1)
        tau = max(tau_min, tau_start * tau_decay ** (step - 1))
        y = torch.softmax((torch.log_softmax(x, -1).unsqueeze(1) + noise) / tau, -1)  # (rows, samples, n, V)
        return (y.reshape(-1, V) @ M).view(-1, n, M.shape[1])

    def read_off(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if method == "emb":
            cos = F.normalize(x, dim=-1) @ M_norm.t()  # (rows, n, V)
            best_cos_word, index = cos.max(-1)
            return words[index], best_cos_word.mean(1)
        return words[x.argmax(-1)], None

    for epoch in range(1, schedule.max_epochs + 1):
        for _ in range(schedule.steps):
            step += 1
            noise = None
            if method == "gbl":
                # Gumbel(0, 1) = -log E, E ~ Exponential(1)
                noise = -torch.empty(samples, n, V, device=device).exponential_(generator=noise_gen).log()
            state.opt.zero_grad(set_to_none=True)
            param = state.param
            for start in range(0, param.shape[0], chunk):
                x = param[start:start + chunk]
                emb = soft_inputs(x, noise)
                f = unit_activations(model, network, readout, emb)
                target = units_t[active[start:start + chunk]]
                if method == "gbl":
                    f = f.view(x.shape[0], samples, -1).gather(2, target.view(-1, 1, 1).expand(-1, samples, 1)).mean(1)
                else:
                    f = f.gather(1, target.view(-1, 1))
                (-f.sum()).backward()
            state.opt.step()
        with torch.no_grad():
            ids, cos = read_off(state.param)
            act = unit_activations(model, network, readout, model.embed(ids)).gather(1, units_t[active].view(-1, 1))[:, 0]
            # Only a different n-gram can be better: the same one, evaluated in another batch
            # composition, may differ in the last bits, which must not reset a row's patience.
            better = (act > best[active]) & (ids != best_ids[active]).any(1)
            idx = active[better]
            best[idx] = act[better]
            best_ids[idx] = ids[better]
            if cos is not None:
                best_cos[idx] = cos[better]
            cpu_idx, cpu_active = idx.cpu(), active.cpu()
            best_epoch[cpu_idx] = epoch
            bad[cpu_active] += 1
            bad[cpu_idx] = 0
            done = bad[cpu_active] >= schedule.patience
            if done.any():
                stopped[cpu_active[done]] = epoch
                keep = torch.nonzero(~done.to(device)).flatten()
                active = active[keep]
                if len(active) == 0:
                    break
                state.keep(keep)
    return Optimised(np.asarray(units), best_ids.cpu().numpy(), best.cpu().numpy(),
                     (stopped * schedule.steps).numpy(), stopped.numpy(), best_epoch.numpy(),
                     best_cos.cpu().numpy() if method == "emb" else None)


def distinct_ngrams(flat: np.ndarray, offsets: np.ndarray, n: int = 5) -> np.ndarray:
    """``(k, n)`` int64: the distinct n-grams (windows within a sentence) of sentences in the
    flat layout, in lexicographic order."""
    counts = np.maximum(np.diff(offsets) - n + 1, 0)
    total = int(counts.sum())
    if total == 0:
        return np.zeros((0, n), dtype=np.int64)
    first = np.cumsum(counts) - counts  # each sentence's first window among all windows
    starts = np.repeat(offsets[:-1], counts) + np.arange(total) - np.repeat(first, counts)
    return np.unique(flat[starts[:, None] + np.arange(n)[None, :]], axis=0)


@torch.no_grad()
def corpus_search(model: Model, network: str, readout: str, units: np.ndarray, ngrams: np.ndarray,
                  batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """``crp``: every n-gram of ``ngrams`` ``(k, n)`` scored for every unit at once, in batches;
    per unit the best n-gram ``(units, n)`` and its activation. Memory: one batch's activations
    ``(batch, readout units)`` and the running best per unit."""
    check_units(model, network, readout, units)
    model.eval()
    device = model.embedding_matrix.device
    units_t = torch.as_tensor(units, dtype=torch.long, device=device)
    best = torch.full((len(units),), -float("inf"), device=device)
    best_row = torch.zeros(len(units), dtype=torch.long, device=device)
    for start in range(0, len(ngrams), batch_size):
        ids = torch.as_tensor(ngrams[start:start + batch_size], device=device)
        act = unit_activations(model, network, readout, model.embed(ids))[:, units_t]  # (batch, units)
        value, row = act.max(0)
        better = value > best
        best = torch.where(better, value, best)
        best_row = torch.where(better, row + start, best_row)
    return ngrams[best_row.cpu().numpy()], best.cpu().numpy()
