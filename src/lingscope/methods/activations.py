"""Dump per-token hidden states and sentence representations to Parquet (Kadar et al. 2017, sec. 4).

For one network (a model and its pathway), every sentence of the analysis split is run and two
datasets are written, hive-partitioned so DuckDB, polars, pandas and arrow read them directly:

- ``<tokens-dir>/layer=K/part-j.parquet``, one ``layer=K`` partition per stacked layer of the
  network (:meth:`lingscope.models.base.Model.layers`; K = 0 the bottom .. layers - 1 the top; a
  one-layer network has ``layer=0`` only): ``sentence_id, position, token, activation`` with one
  row per token the model reads (``<eos>`` included as the last position where it reads one),
  ``activation`` that layer's state after the token; every layer holds the same rows in the same
  order. ``layer`` is the partition key, not a column of the files: read the folder
  hive-partitioned (``pl.scan_parquet(f"{tokens_dir}/**/*.parquet", hive_partitioning=True)``) to
  get it, or one ``layer=K`` folder for one layer. With ``gates`` (off by default), the **top
  layer's partition only** gets one more column per gate activation the network's model names
  (:meth:`lingscope.models.base.Model.gate_dims`: ``gate_r, gate_z, gate_n`` or ``gate_i, gate_f,
  gate_g, gate_o, cell_c``; docs/beyond.md#gate-activations), each the value at the step that read
  the token, aligned with ``activation``; a network without gates, and every layer below the top,
  gets no such column (absent, not null; ``GATE_COLUMNS`` in :mod:`lingscope.core.schemas`). A
  read of the whole pathway folder that takes its schema from the first file (polars, arrow) then
  needs telling to drop the extra columns (polars: ``extra_columns="ignore"``; DuckDB:
  ``union_by_name``); read ``layer=K`` (the top) for the gates;
- ``<h-end-dir>/part-0.parquet``: ``sentence_id, n_tokens, activation``, the network's sentence
  representation (for a network read up to ``<eos>``, the state there: h_end).

Works on any network through the model contract: a network with a left-to-right cell runs as
segment runs (one dense GEMM per step), any other through padded batches; that gives the top
layer's states and the representations. The layers below the top of a multi-layer network come
from :meth:`lingscope.models.base.Model.layer_states` on padded batches of sentences of similar
length (:func:`lower_layer_states`), checked once per job against the top layer's states. The
gates come from :meth:`lingscope.models.base.Model.gates` on batches of sentences of one length,
given the states already computed.

Memory stays bounded: sentences stream in chunks (every layer's states of a chunk are held at
once), and a writer thread compresses and writes one chunk while the model computes the next
(pyarrow and torch both release the GIL). Everything is written into hidden staging folders and
published only when the whole dump succeeded: nothing partial stays behind.
Rows keep the file order of the sentences table, so row-group statistics on
``sentence_id`` let readers skip row groups when filtering by sentence.
"""

from __future__ import annotations

import argparse
import queue
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from lingscope.core.errors import InputError, run_cli
from lingscope.core.schemas import activations_schema, h_end_schema
from lingscope.core.settings import Runtime
from lingscope.methods.settings import ActivationSettings
from lingscope.encoding.csr import pad, positions
from lingscope.encoding.ids import id_to_token, load_vocab_checked
from lingscope.encoding.stream import encode_chunk, iter_sentence_chunks
from lingscope.models.base import Model
from lingscope.models.checkpoint import open_network
from lingscope.models.runs import run_gates, run_network, verify_cell


@torch.no_grad()
def lower_layer_states(model: Model, network: str, ids: torch.Tensor, offsets: np.ndarray, layers: int,
                       batch_rows: int = 1024) -> list[torch.Tensor]:
    """Every layer's states, bottom first, each ``(len(ids), dim_k)`` in ``ids``' order, through
    :meth:`Model.layer_states` on padded batches of sentences of similar length (at most
    ``batch_rows``; as :func:`lingscope.models.runs.padded_run`). The model must give ``layers``
    of them. Batches of empty sentences only are skipped (they have no row)."""
    flat = ids.cpu().numpy()
    out: list[torch.Tensor] | None = None
    order = np.argsort(np.diff(offsets), kind="stable")
    for start in range(0, len(order), batch_rows):
        index = order[start : start + batch_rows]
        padded, lens = pad(flat, offsets, index)
        if padded.shape[1] == 0:
            continue
        emb = model.embed(torch.from_numpy(padded).to(ids.device))
        states = model.layer_states(network, emb, torch.from_numpy(lens).to(ids.device))
        if len(states) != layers:
            raise ValueError(f"model {model.kind!r} network {network!r}: its layer_states gives {len(states)} "
                             f"layer(s), its layers() promises {layers}")
        inside = np.arange(padded.shape[1])[None, :] < lens[:, None]
        rows = torch.from_numpy((offsets[:-1][index][:, None] + np.arange(padded.shape[1])[None, :])[inside])
        rows, inside_t = rows.to(ids.device), torch.from_numpy(inside).to(ids.device)
        if out is None:
            out = [value.new_zeros(len(ids), value.shape[-1]) for value in states]
        for target, value in zip(out, states):
            target[rows] = value[inside_t]
    if out is None:  # no token at all: every layer empty, of the top layer's size
        out = [torch.zeros(0, model.state_dim(network), device=ids.device) for _ in range(layers)]
    return out


def check_top_layer(model: Model, network: str, top: torch.Tensor, states: torch.Tensor,
                    tolerance: float = 1e-4) -> None:
    """The last of :meth:`Model.layer_states` must be the states the dump writes as the top layer
    (:meth:`Model.states`, or its cell): a family whose layers break that promise is stopped
    before a table is written (as :func:`lingscope.models.runs.verify_cell` does for cells)."""
    if top.shape != states.shape:
        raise ValueError(f"model {model.kind!r} network {network!r}: its top layer_states have shape "
                         f"{tuple(top.shape)}, its states {tuple(states.shape)}")
    if len(states) and float((top - states).abs().max()) > tolerance * (1.0 + float(states.abs().max())):
        raise ValueError(f"model {model.kind!r} network {network!r}: the last of its layer_states differs from its "
                         f"states by {float((top - states).abs().max()):.2g}; the top layer must be the states")


class ChunkComputer:
    """Token ids, every layer's states (bottom first) and the representations of one chunk of sentences."""

    def __init__(self, model: Model, network: str, vocab: dict[str, int], device, batch_rows: int,
                 gates: bool = False):
        self.model, self.network, self.device, self.batch_rows = model, network, device, batch_rows
        self.gates = gates
        self.vocab = vocab
        self.itos = id_to_token(vocab)
        self.layers = model.layers(network)
        self.verified = False

    def __call__(self, chunk: pa.Table):
        _, n_words, flat, offsets = encode_chunk(chunk, self.vocab, self.model.reads_eos)
        ids = torch.from_numpy(flat).to(self.device)
        if not self.verified:  # once per job: the cell path is only taken where it is exact
            verify_cell(self.model, self.network, ids, offsets)
        states, representations = run_network(self.model, self.network, ids, offsets, self.batch_rows)
        layer_states = [states]
        if self.layers > 1:  # the top layer from the fast path above, the ones below from layer_states
            every = lower_layer_states(self.model, self.network, ids, offsets, self.layers, self.batch_rows)
            if not self.verified:
                check_top_layer(self.model, self.network, every[-1], states)
            layer_states = [*every[:-1], states]
            del every
        self.verified = True
        gates = run_gates(self.model, self.network, ids, offsets, states, self.batch_rows) if self.gates else {}
        return chunk.column("sentence_id").to_numpy(), n_words, flat, offsets, layer_states, representations, gates


def _lists(values: np.ndarray) -> pa.FixedSizeListArray:
    """``(rows, dim)`` values as fixed-size lists, float32 or float16, zero-copy from numpy."""
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


def to_tables(sentence_ids, n_words, flat, offsets, layer_states: list[np.ndarray], representations: np.ndarray,
              gates: dict[str, np.ndarray], itos: pa.Array, dtype: str) -> tuple[list[pa.Table], pa.Table]:
    """Arrow tables for one chunk: one tokens table per layer (bottom first; the gate columns on
    the top layer's only, the token columns shared) and the sentences'; the activation and gate
    columns wrap the arrays without a copy."""
    meta = {
        "sentence_id": pa.array(np.repeat(sentence_ids, np.diff(offsets))),
        "position": pa.array(positions(offsets).astype(np.int32)),
        "token": itos.take(pa.array(flat)),
    }
    top = len(layer_states) - 1
    tokens = []
    for k, states in enumerate(layer_states):
        columns = gates if k == top else {}
        tokens.append(pa.table({
            **meta,
            "activation": _lists(states),
            **{name: _lists(values) for name, values in columns.items()},
        }, schema=activations_schema(states.shape[1], dtype,
                                     {name: values.shape[1] for name, values in columns.items()})))
    rep_dim = representations.shape[1]
    sentences = pa.table({
        "sentence_id": pa.array(sentence_ids),
        "n_tokens": pa.array(n_words.astype(np.int32)),
        "activation": pa.FixedSizeListArray.from_arrays(pa.array(representations.reshape(-1)), rep_dim),
    }, schema=h_end_schema(rep_dim, dtype))
    return tokens, sentences


class PartWriter:
    """Writes ``part-k.parquet`` files of at most ``rows_per_file`` rows into ``folder``, in
    row groups of exactly ``row_group_rows`` rows (the last of a file may be shorter), however
    the incoming chunks are cut."""

    def __init__(self, folder: Path, schema: pa.Schema, rows_per_file: int, row_group_rows: int):
        self.folder, self.schema = folder, schema
        self.rows_per_file, self.row_group_rows = rows_per_file, row_group_rows
        self.writer, self.part, self.rows = None, 0, 0
        self.pending: list[pa.Table] = []
        self.pending_rows = 0

    def write(self, table: pa.Table) -> None:
        self.pending.append(table)
        self.pending_rows += table.num_rows
        while self.pending_rows >= self._next_group():
            self._flush(self._next_group())

    def _next_group(self) -> int:
        return min(self.row_group_rows, self.rows_per_file - self.rows)

    def _flush(self, n: int) -> None:
        buffered = pa.concat_tables(self.pending)
        if self.writer is None:
            # float16 lists with dictionary encoding write at ~23 MB/s; only the tokens get one.
            self.writer = pq.ParquetWriter(self.folder / f"part-{self.part}.parquet", self.schema,
                                           compression="zstd", use_dictionary=["token"])
        self.writer.write_table(buffered.slice(0, n), row_group_size=n)
        self.rows += n
        rest = buffered.slice(n)
        self.pending, self.pending_rows = ([rest] if rest.num_rows else []), rest.num_rows
        if self.rows >= self.rows_per_file:
            self._close_file()

    def _close_file(self) -> None:
        self.writer.close()
        self.writer, self.part, self.rows = None, self.part + 1, 0

    def close(self) -> None:
        while self.pending_rows:
            self._flush(min(self.pending_rows, self._next_group()))
        if self.writer is not None:
            self._close_file()


def _staging(folder: Path) -> Path:
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def _publish(tmp: Path, folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def dump(model_path: Path, network: str, sentences: Path, vocab_path: Path, tokens_dir: Path, h_end_dir: Path,
         settings: ActivationSettings, runtime: Runtime) -> dict:
    model, extra, device = open_network(model_path, network, runtime)
    vocab = load_vocab_checked(vocab_path)
    compute = ChunkComputer(model, network, vocab, device, settings.batch_rows, settings.gates)
    rep_dim = model.representation_dim(network)
    gate_dims = model.gate_dims(network) if settings.gates else {}
    tokens_tmp, h_end_tmp = _staging(tokens_dir), _staging(h_end_dir)
    # one writer per layer (layer=K), made at the first chunk: a layer's width is its tables'
    token_parts: list[PartWriter] = []
    h_end_parts = PartWriter(h_end_tmp, h_end_schema(rep_dim, settings.dtype), 1 << 62, settings.row_group_rows)
    value_type = torch.float16 if settings.dtype == "float16" else torch.float32
    # Two chunks in flight at most: memory stays bounded while the writer overlaps compute.
    pending: queue.Queue = queue.Queue(maxsize=2)
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            while (item := pending.get()) is not None:
                token_tables, h_end_table = to_tables(*item, itos=compute.itos, dtype=settings.dtype)
                if not token_parts:
                    for k, table in enumerate(token_tables):
                        (tokens_tmp / f"layer={k}").mkdir()
                        token_parts.append(PartWriter(tokens_tmp / f"layer={k}", table.schema,
                                                      settings.rows_per_file, settings.row_group_rows))
                for parts, table in zip(token_parts, token_tables, strict=True):
                    parts.write(table)
                h_end_parts.write(h_end_table)
            for parts in token_parts:
                parts.close()
            h_end_parts.close()
        except BaseException as err:  # surfaced in the main thread
            failure.append(err)
            while pending.get() is not None:
                pass

    thread = threading.Thread(target=writer, name="parquet-writer")
    thread.start()
    n_tokens = n_sentences = 0
    start = time.perf_counter()
    try:
        try:
            for chunk in iter_sentence_chunks(sentences, settings.split, chunk_sentences=settings.chunk_sentences):
                sid, n_words, flat, offsets, layer_states, representations, gates = compute(chunk)
                states = [values.to(value_type).cpu().numpy() for values in layer_states]
                del layer_states
                representations = representations.to(value_type).cpu().numpy()
                gates = {name: values.to(value_type).cpu().numpy() for name, values in gates.items()}
                pending.put((sid, n_words, flat, offsets, states, representations, gates))
                n_tokens += len(flat)
                n_sentences += len(sid)
                if failure:
                    break
        finally:
            pending.put(None)
            thread.join()
        if failure:
            raise failure[0]
        if n_sentences == 0:
            raise InputError(sentences, f"split {settings.split!r}", "no sentences in this split")
    except BaseException:
        # Nothing partial stays behind, not even the hidden staging folders.
        shutil.rmtree(tokens_tmp, ignore_errors=True)
        shutil.rmtree(h_end_tmp, ignore_errors=True)
        raise
    _publish(tokens_tmp, tokens_dir)
    _publish(h_end_tmp, h_end_dir)
    seconds = time.perf_counter() - start
    print(f"{extra['name']}/{network}: {n_sentences:,} sentences, {n_tokens:,} tokens in {seconds:.1f} s "
          f"({n_tokens / max(seconds, 1e-9):,.0f} tokens/s), {len(token_parts)} layer(s) of "
          f"{token_parts[0].part} part file(s)"
          + (f", gate columns {list(gate_dims)} (top layer)" if settings.gates else ""), file=sys.stderr)
    return {"tokens": n_tokens, "sentences": n_sentences, "seconds": seconds, "layers": len(token_parts)}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, type=Path, help="model.pt written by lingscope.training.train")
    p.add_argument("--pathway", required=True, help="the network of the model (lingscope.core.catalog)")
    p.add_argument("--sentences", required=True, type=Path, help="SENTENCES table")
    p.add_argument("--vocab", required=True, type=Path)
    p.add_argument("--tokens-dir", required=True, type=Path,
                   help="folder for the per-token part files, one layer=K subfolder per layer (0 the bottom)")
    p.add_argument("--h-end-dir", required=True, type=Path, help="folder for the representation part file")
    ActivationSettings.add_arguments(p, "dump settings (config: activations)")
    Runtime.add_arguments(p, "runtime (config: training)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    dump(args.model, args.pathway, args.sentences, args.vocab, args.tokens_dir, args.h_end_dir,
         ActivationSettings.from_args(args), Runtime.from_args(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
