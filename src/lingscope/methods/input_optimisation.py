"""Input optimisation of readout units and hidden units (Poerner, Roth & Schuetze 2018;
docs/poerner2018.md#input-optimisation, docs/beyond.md#input-optimisation-on-every-network).

For a target unit f (a unit of one of a network's readouts: a dimension of an image-feature
prediction, a vocabulary logit of a language model, a class score; or a unit of the network's
sentence representation, its hidden units, under the target name ``representation``), find the n-gram (n = 5, no start
symbol; f read after the whole input) that maximises it. The network reads the n-gram as it reads a
sentence of those n words: with no end symbol (Poerner et al.'s input), except where the model says the network
reads a word sequence as a sentence only with ``<eos>`` after it (:meth:`Model.needs_end`: a network that
reads the words reversed and then ``<eos>``). There the fixed ``<eos>`` follows the n optimised
positions in every method (it is not optimised, and the reported n-gram is the n words), so the network reads
``w1 .. wn <eos>``, the reading of :meth:`Model.representation` and the readouts for the sentence ``w1 .. wn``.
Five methods:

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
together or ``[a]`` and ``[b]`` apart gives the same n-grams (``tests/test_methods_input_optimisation.py``).

The optimised vocabulary leaves out the specials ``<pad>``, ``<unk>`` and ``<eos>``: an
optimum is made of real words. ``crp`` scores the corpus's n-grams as the model reads them
(``<unk>`` included).

**Targets of a network.** Every readout that reads one vector per input (REGRESSION, CLASSES:
read off the representation; NEXT_TOKEN: off the state after the last token) gives its drawn
units (a readout with fewer units than a draw gives all of them in every draw). A SEQUENCE
readout decodes a whole sentence, so it has no unit to read after the n-th token and gives none.
The representation gives ``hidden_per_draw`` drawn units per draw (0: none), so every network,
whatever its readouts, has targets.

Methods reach the model only through the contract: ``embedding_matrix``, ``embed``, ``needs_end``,
``representation`` (for a REGRESSION or CLASSES readout and the hidden units), ``states`` (the
state after the last token, for a NEXT_TOKEN readout) and ``readout``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

from lingscope.core.catalog import HIDDEN_TARGET
from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet
from lingscope.core.schemas import INPUT_OPTIMISATION
from lingscope.core.settings import Runtime
from lingscope.encoding.ids import EOS_ID, SPECIALS, id_to_token, key, load_vocab_checked
from lingscope.encoding.stream import encode_chunk, iter_sentence_chunks
from lingscope.methods.settings import (CorpusSearchSettings, GradientSettings, GumbelSettings,
                                        InputOptimisationSettings)
from lingscope.models.base import CLASSES, Model, NEXT_TOKEN, REGRESSION
from lingscope.models.checkpoint import open_network
from lingscope.models.readouts import readout_kind
from lingscope.models.tensors import last

METHODS = ("crp", "emb", "logit", "smx", "gbl")
GRADIENT_METHODS = ("emb", "logit", "smx", "gbl")
REPRESENTATION = HIDDEN_TARGET  # the target name of the hidden units (the sentence representation's)
ONE_VECTOR = (CLASSES, REGRESSION, NEXT_TOKEN)  # readout kinds with one vector per input: their units are targets


def draw_units(n_units: int, draws: int = 2, per_draw: int = 80, seed: int = 123, limit: int = 1024) -> np.ndarray:
    """The target units of a readout: ``draws`` seeded draws of ``per_draw`` distinct indices from
    ``0 .. min(limit, n_units) - 1`` (the authors: two draws of 80 from 0-1023, RandomState(123)),
    concatenated; fewer per draw when the readout has fewer units."""
    pool = min(limit, n_units)
    rng = np.random.RandomState(seed)
    return np.concatenate([rng.choice(pool, min(per_draw, pool), replace=False) for _ in range(draws)]).astype(np.int64)


def needs_end(model: Model, network: str) -> bool:
    """Whether the network reads a word sequence as a sentence only with ``<eos>`` after it (the
    model's :meth:`Model.needs_end`)."""
    return bool(model.needs_end(network))


def network_input(model: Model, network: str, emb: torch.Tensor) -> torch.Tensor:
    """What the network reads for the n-grams ``emb`` ``(batch, n, dim)``: the words as they
    are, or, where it :func:`needs_end`, the words and then the fixed ``<eos>`` embedding
    ``(batch, n + 1, dim)``, as it reads the sentence of those words."""
    if not needs_end(model, network):
        return emb
    end = model.embed(torch.full((emb.shape[0], 1), EOS_ID, dtype=torch.long, device=emb.device))
    return torch.cat([emb, end.to(emb.dtype)], 1)


def unit_activations(model: Model, network: str, readout: str, emb: torch.Tensor) -> torch.Tensor:
    """``(batch, readout units)``: the readout after the whole of each (unpadded) n-gram ``emb``
    ``(batch, n, dim)``, read as the sentence of its words (:func:`network_input`: ``<eos>``
    follows it where the network needs the end symbol): of the representation, or for a
    NEXT_TOKEN readout of the state after the last token read (its prediction of the next word).
    ``readout`` :data:`REPRESENTATION`: the representation's own units."""
    emb = network_input(model, network, emb)
    lengths = torch.full((emb.shape[0],), emb.shape[1], dtype=torch.long, device=emb.device)
    if readout == REPRESENTATION:
        return model.representation(network, emb, lengths)
    h = readout_kind(model, network, readout).unit_state(model, network, emb, lengths)
    return model.readout(network, readout, h)


class LayerHidden:
    """The network with its hidden units (target :data:`REPRESENTATION`) read from one layer's
    state after the last word read (``input_optimisation.layer``) instead of its representation;
    everything else is the model's. Used for that target only, so the readouts are untouched."""

    def __init__(self, model: Model, network: str, layer: int):
        layers = model.layers(network)
        if not -layers <= layer < layers:
            raise InputError(None, "input_optimisation.layer", f"is {layer}, but network {network!r} has {layers} "
                                                               f"layer(s) (0 .. {layers - 1}, or -1 .. -{layers})")
        self._model, self._layer = model, layer

    def __getattr__(self, name):
        return getattr(self._model, name)

    def representation(self, network: str, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return last(self._model.layer_states(network, emb, lengths)[self._layer], lengths)

    def representation_dim(self, network: str) -> int:
        return self._model.state_dim(network)


def hidden_target_model(model: Model, network: str, layer: int):
    """What the hidden units are read from: the representation (``layer`` -1, the default, or
    any name of a one-layer network's only layer), or :class:`LayerHidden` of layer ``layer``."""
    if layer == -1:
        return model
    hidden = LayerHidden(model, network, layer)  # checks the layer exists
    return model if model.layers(network) == 1 else hidden


def check_units(model: Model, network: str, readout: str, units: np.ndarray) -> None:
    """Every unit must be one of the readout's (a clear error, not an index error later)."""
    size = target_units(model, network, readout)
    bad = [int(u) for u in np.asarray(units) if not 0 <= int(u) < size]
    if bad:
        raise ValueError(f"units {bad[:5]} are not units of readout {readout!r} of network {network!r}, "
                         f"which has {size} (0 .. {size - 1})")


def target_units(model: Model, network: str, readout: str) -> int:
    """How many units target ``readout`` (or :data:`REPRESENTATION`) of the network has."""
    if readout == REPRESENTATION:
        return model.representation_dim(network)
    return model.readouts(network)[readout].units


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


def windows(flat: np.ndarray, offsets: np.ndarray, n: int = 5) -> np.ndarray:
    """``(k, n)``: every n-gram (window within a sentence) of sentences in the flat layout."""
    counts = np.maximum(np.diff(offsets) - n + 1, 0)
    total = int(counts.sum())
    if total == 0:
        return np.zeros((0, n), dtype=flat.dtype)
    first = np.cumsum(counts) - counts  # each sentence's first window among all windows
    starts = np.repeat(offsets[:-1], counts) + np.arange(total) - np.repeat(first, counts)
    return flat[starts[:, None] + np.arange(n)[None, :]]


def distinct_ngrams(flat: np.ndarray, offsets: np.ndarray, n: int = 5) -> np.ndarray:
    """``(k, n)`` int64: the distinct n-grams of sentences in the flat layout, in lexicographic
    order (in memory: the reference for :class:`CorpusNgrams`)."""
    return np.unique(windows(flat, offsets, n).astype(np.int64), axis=0)


class CorpusNgrams:
    """The distinct n-grams of a corpus's splits, with memory bounded as the corpus grows.

    Sentences stream in chunks; each chunk's windows (deduplicated within the chunk) are
    appended to a Parquet file on disk, and DuckDB's DISTINCT and ORDER BY, which spill to disk
    beyond ``memory_mb``, give the distinct n-grams in lexicographic order, fetched in batches.
    Words are read as the model reads them (a word outside the vocabulary is ``<unk>``), without
    ``<eos>``: an n-gram is n words (where the network needs the end symbol, scoring appends it:
    :func:`unit_activations`)."""

    def __init__(self, sentences: Path, splits: tuple[str, ...], vocab: dict[str, int], n: int,
                 chunk_sentences: int, folder: Path, memory_mb: int = 1024):
        self.n, self.folder, self.memory_mb = n, Path(folder), memory_mb
        self.path = self.folder / "windows.parquet"
        self.windows = 0
        schema = pa.schema([(f"t{i}", pa.int32()) for i in range(n)])
        with pq.ParquetWriter(self.path, schema) as writer:
            for split in splits:
                for chunk in iter_sentence_chunks(sentences, split, chunk_sentences=chunk_sentences):
                    _, _, flat, offsets = encode_chunk(chunk, vocab, eos=False)
                    w = windows(flat, offsets, n)
                    self.windows += len(w)
                    if len(w):
                        w = np.unique(w.astype(np.int32), axis=0)
                        writer.write_table(pa.table({f"t{i}": w[:, i] for i in range(n)}, schema=schema))

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """``(batch, n)`` int64 arrays of the distinct n-grams, in lexicographic order."""
        import duckdb  # noqa: PLC0415 (only crp needs it)

        columns = ", ".join(f"t{i}" for i in range(self.n))
        with duckdb.connect() as con:
            con.execute(f"SET memory_limit = '{self.memory_mb}MB'")
            con.execute(f"SET temp_directory = '{self.folder / 'spill'}'")
            con.execute("SET threads = 1")
            source = str(self.path).replace("'", "''")
            relation = con.sql(f"SELECT DISTINCT {columns} FROM read_parquet('{source}') ORDER BY {columns}")
            # DuckDB 2 renamed fetch_arrow_reader to to_arrow_reader (the old name warns).
            reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader
            reader = reader(batch_size)
            pending: list[np.ndarray] = []
            size = 0
            for batch in reader:
                block = np.stack([batch.column(i).to_numpy() for i in range(self.n)], axis=1).astype(np.int64)
                pending.append(block)
                size += len(block)
                while size >= batch_size:  # DuckDB's batches may be shorter than asked
                    joined = np.concatenate(pending)
                    yield joined[:batch_size]
                    pending, size = [joined[batch_size:]], size - batch_size
            if size:
                yield np.concatenate(pending)


@torch.no_grad()
def corpus_search(model: Model, network: str, readout: str, units: np.ndarray, ngrams,
                  batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray, int]:
    """``crp``: every n-gram scored for every unit at once, in batches; per unit the best n-gram
    ``(units, n)``, its activation, and the n-grams scored. ``ngrams`` is a ``(k, n)`` array or
    an iterable of such batches (:meth:`CorpusNgrams.batches`). Memory: one batch's activations
    ``(batch, readout units)`` and the running best per unit; ties go to the first n-gram."""
    check_units(model, network, readout, units)
    model.eval()
    device = model.embedding_matrix.device
    if isinstance(ngrams, np.ndarray):
        array = ngrams
        ngrams = (array[start:start + batch_size] for start in range(0, len(array), batch_size))
    units_t = torch.as_tensor(units, dtype=torch.long, device=device)
    best = torch.full((len(units),), -float("inf"), device=device)
    best_ids: torch.Tensor | None = None
    seen = 0
    for block in ngrams:
        ids = torch.as_tensor(block, device=device)
        if best_ids is None:
            best_ids = torch.zeros(len(units), ids.shape[1], dtype=torch.long, device=device)
        act = unit_activations(model, network, readout, model.embed(ids))[:, units_t]  # (batch, units)
        value, row = act.max(0)
        better = value > best
        best = torch.where(better, value, best)
        best_ids = torch.where(better[:, None], ids[row], best_ids)
        seen += len(block)
    if best_ids is None:
        raise ValueError("no n-grams to search: every sentence is shorter than the input length")
    return best_ids.cpu().numpy(), best.cpu().numpy(), seen


# --- the job: one network, one method, every readout ------------------------------------------------

def targets(model: Model, network: str, vocab: dict[str, int], settings: InputOptimisationSettings,
            vocab_path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per target of the network (each readout with one vector per input, then
    :data:`REPRESENTATION`), ``(units, draw)``: the drawn units with their draw's number (the draws
    are independent, so a unit may be in both), then for a NEXT_TOKEN readout the named targets'
    word ids with draw -1 (an unknown word is an error naming it)."""
    out = {}
    readouts = model.readouts(network)
    if REPRESENTATION in readouts:
        raise ValueError(f"network {network!r} has a readout named {REPRESENTATION!r}, the name of its hidden units")
    for name, readout in readouts.items():
        if readout.kind not in ONE_VECTOR:
            continue
        units = draw_units(readout.units, settings.draws, settings.per_draw, settings.unit_seed, settings.unit_limit)
        draw = np.repeat(np.arange(settings.draws), len(units) // settings.draws)
        if readout.kind == NEXT_TOKEN and settings.targets:
            # Named targets are words of one corpus (the paper's "umbrella" is a caption word): a
            # network on another corpus optimises those its vocabulary has, and says which it skips.
            missing = [w for w in settings.targets if key(vocab, w) not in vocab]
            if missing:
                print(f"note: {vocab_path}: input_optimisation.targets {missing} are not in the vocabulary the "
                      f"{name!r} readout predicts; left out for this network", file=sys.stderr)
            ids = np.array([vocab[key(vocab, w)] for w in settings.targets if key(vocab, w) in vocab], dtype=np.int64)
            units = np.concatenate([units, ids])
            draw = np.concatenate([draw, np.full(len(ids), -1)])
        out[name] = (units, draw)
    if settings.hidden_per_draw:
        hidden = hidden_target_model(model, network, settings.layer)
        units = draw_units(hidden.representation_dim(network), settings.draws, settings.hidden_per_draw,
                           settings.unit_seed, settings.unit_limit)
        out[REPRESENTATION] = (units, np.repeat(np.arange(settings.draws), len(units) // settings.draws))
    if not out:
        raise ValueError(f"network {network!r} has no target: no readout with one vector per input, and "
                         "input_optimisation.hidden_per_draw is 0")
    return out


def result_table(model_name: str, network: str, readout_name: str, kind: str | None, method: str, units: np.ndarray,
                 draw: np.ndarray, ids: np.ndarray, activation: np.ndarray, words: pa.Array,
                 steps: np.ndarray | None = None, stopped: np.ndarray | None = None,
                 best_epoch: np.ndarray | None = None, cosine: np.ndarray | None = None) -> pa.Table:
    rows = len(units)
    zeros = np.zeros(rows, dtype=np.int64)
    tokens = words.take(pa.array(ids.ravel()))
    token_lists = pa.ListArray.from_arrays(pa.array(np.arange(0, ids.size + 1, ids.shape[1], dtype=np.int32)), tokens)
    return pa.table({
        "model": pa.repeat(pa.scalar(model_name), rows),
        "pathway": pa.repeat(pa.scalar(network), rows),
        "readout": pa.repeat(pa.scalar(readout_name), rows),
        "method": pa.repeat(pa.scalar(method), rows),
        "unit": pa.array(units.astype(np.int32)),
        "target_word": words.take(pa.array(units)) if kind == NEXT_TOKEN else pa.nulls(rows, pa.string()),
        "draw": pa.array(draw.astype(np.int16), mask=draw < 0),
        "named": pa.array(draw < 0),
        "ngram": pc.binary_join(token_lists, " "),
        "tokens": token_lists,
        "activation": pa.array(activation.astype(np.float64)),
        "steps": pa.array(zeros if steps is None else steps.astype(np.int64)),
        "stopped_epoch": pa.array((zeros if stopped is None else stopped).astype(np.int32)),
        "best_epoch": pa.array((zeros if best_epoch is None else best_epoch).astype(np.int32)),
        "cosine": pa.array(cosine.astype(np.float64)) if cosine is not None else pa.nulls(rows, pa.float64()),
    })


def run(model_path: Path, network: str, sentences: Path, vocab_path: Path, method: str, out: Path,
        settings: InputOptimisationSettings, method_settings, runtime: Runtime) -> pa.Table:
    model, extra, device = open_network(model_path, network, runtime)
    vocab = load_vocab_checked(vocab_path)
    if len(vocab) != model.embedding_matrix.shape[0]:
        raise InputError(vocab_path, None, f"has {len(vocab)} entries but the model {model_path} embeds "
                                           f"{model.embedding_matrix.shape[0]}; give the vocabulary it was trained on")
    words = id_to_token(vocab)
    name = extra["name"]
    tables = []
    start = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as folder:
        corpus = None
        if method == "crp":
            corpus = CorpusNgrams(sentences, method_settings.splits, vocab, settings.n,
                                  method_settings.chunk_sentences, Path(folder))
        for readout_name, (units, draw) in targets(model, network, vocab, settings, vocab_path).items():
            kind = None if readout_name == REPRESENTATION else model.readouts(network)[readout_name].kind
            target = hidden_target_model(model, network, settings.layer) if readout_name == REPRESENTATION else model
            if method == "crp":
                ids, act, seen = corpus_search(target, network, readout_name, units,
                                               corpus.batches(method_settings.batch_size), method_settings.batch_size)
                print(f"{name}/{network}/{readout_name}: crp scored {seen:,} distinct {settings.n}-grams "
                      f"({corpus.windows:,} windows) for {len(units)} units", file=sys.stderr)
                tables.append(result_table(name, network, readout_name, kind, method, units, draw, ids, act, words))
                continue
            schedule = Schedule(method_settings.steps, method_settings.patience, method_settings.max_epochs)
            gumbel = {}
            if isinstance(method_settings, GumbelSettings):
                gumbel = dict(samples=method_settings.samples, tau_start=method_settings.tau_start,
                              tau_decay=method_settings.tau_decay, tau_min=method_settings.tau_min)
            result = optimise(target, network, readout_name, units, method, schedule, n=settings.n,
                              learning_rate=method_settings.learning_rate, init=settings.init, seed=settings.seed,
                              max_elements=settings.max_elements, **gumbel)
            tables.append(result_table(name, network, readout_name, kind, method, units, draw, result.ids,
                                       result.activation, words, result.steps, result.stopped_epoch,
                                       result.best_epoch, result.cosine))
    table = pa.concat_tables(tables)
    write_parquet(table, out, INPUT_OPTIMISATION, "input_optimisation")
    seconds = time.perf_counter() - start
    print(f"{name}/{network}: {method} on {table.num_rows} units in {seconds:.1f} s on {device}; "
          f"median activation {np.median(table.column('activation').to_numpy()):.3f}", file=sys.stderr)
    return table


SECTION_SETTINGS = {"crp": CorpusSearchSettings, "emb": GradientSettings, "logit": GradientSettings,
                    "smx": GradientSettings, "gbl": GumbelSettings}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--model", required=True, type=Path, help="model.pt written by lingscope.training.train")
    p.add_argument("--pathway", required=True, help="the network of the model (lingscope.core.catalog)")
    p.add_argument("--sentences", required=True, type=Path, help="SENTENCES table (crp searches its n-grams)")
    p.add_argument("--vocab", required=True, type=Path)
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument("--out", required=True, type=Path, help="INPUT_OPTIMISATION Parquet table")
    InputOptimisationSettings.add_arguments(p, "targets and shared settings (config: input_optimisation)")
    Runtime.add_arguments(p, "runtime (config: training)")
    known, rest = p.parse_known_args(argv)
    # The method's own settings (config: input_optimisation.<method>) are parsed once the method is known.
    q = argparse.ArgumentParser(prog=f"{p.prog} --method {known.method}", allow_abbrev=False)
    SECTION_SETTINGS[known.method].add_arguments(q, f"{known.method} settings (config: input_optimisation."
                                                    f"{known.method})")
    method_args = q.parse_args(rest)
    run(known.model, known.pathway, known.sentences, known.vocab, known.method, known.out,
        InputOptimisationSettings.from_args(known), SECTION_SETTINGS[known.method].from_args(method_args),
        Runtime.from_args(known))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
