"""Dump per-token hidden states and sentence representations to Parquet (Kadar et al. 2017, sec. 4).

For one network (a model and its pathway), every sentence of the analysis split is run and two
datasets are written, hive-partitioned so DuckDB, polars, pandas and arrow read them directly:

- ``<tokens-dir>/part-k.parquet``: ``sentence_id, position, token, activation`` with one row
  per token the model reads (``<eos>`` included as the last position where it reads one);
  with ``gates`` (off by default), one more column per gate activation the network's model
  names (:meth:`lingscope.models.base.Model.gate_dims`: ``gate_r, gate_z, gate_n`` or
  ``gate_i, gate_f, gate_g, gate_o, cell_c``; docs/beyond.md#gate-activations), each the value at
  the step that read the token, aligned with ``activation``; a network without gates gets no
  such column (absent, not null; ``GATE_COLUMNS`` in :mod:`lingscope.core.schemas`);
- ``<h-end-dir>/part-0.parquet``: ``sentence_id, n_tokens, activation``, the network's sentence
  representation (for a network read up to ``<eos>``, the state there: h_end).

Works on any network through the model contract: a network with a left-to-right cell runs as
segment runs (one dense GEMM per step), any other through padded batches. The gates come from
:meth:`lingscope.models.base.Model.gates` on batches of sentences of one length, given the states
already computed.

Memory stays bounded: sentences stream in chunks, and a writer thread compresses and writes
one chunk while the model computes the next (pyarrow and torch both release the GIL).
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
from lingscope.encoding.csr import positions
from lingscope.encoding.ids import id_to_token, load_vocab_checked
from lingscope.encoding.stream import encode_chunk, iter_sentence_chunks
from lingscope.models.base import Model, open_network
from lingscope.models.runs import run_gates, run_network, verify_cell


class ChunkComputer:
    """Token ids, states and representations of one chunk of sentences."""

    def __init__(self, model: Model, network: str, vocab: dict[str, int], device, batch_rows: int,
                 gates: bool = False):
        self.model, self.network, self.device, self.batch_rows = model, network, device, batch_rows
        self.gates = gates
        self.vocab = vocab
        self.itos = id_to_token(vocab)
        self.verified = False

    def __call__(self, chunk: pa.Table):
        _, n_words, flat, offsets = encode_chunk(chunk, self.vocab, self.model.reads_eos)
        ids = torch.from_numpy(flat).to(self.device)
        if not self.verified:  # once per job: the cell path is only taken where it is exact
            verify_cell(self.model, self.network, ids, offsets)
            self.verified = True
        states, representations = run_network(self.model, self.network, ids, offsets, self.batch_rows)
        gates = run_gates(self.model, self.network, ids, offsets, states, self.batch_rows) if self.gates else {}
        return chunk.column("sentence_id").to_numpy(), n_words, flat, offsets, states, representations, gates


def _lists(values: np.ndarray) -> pa.FixedSizeListArray:
    """``(rows, dim)`` values as fixed-size lists, float32 or float16, zero-copy from numpy."""
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


def to_tables(sentence_ids, n_words, flat, offsets, states: np.ndarray, representations: np.ndarray,
              gates: dict[str, np.ndarray], itos: pa.Array, dtype: str) -> tuple[pa.Table, pa.Table]:
    """Arrow tables for one chunk; the activation and gate columns wrap the arrays without a copy."""
    dim = states.shape[1]
    tokens = pa.table({
        "sentence_id": pa.array(np.repeat(sentence_ids, np.diff(offsets))),
        "position": pa.array(positions(offsets).astype(np.int32)),
        "token": itos.take(pa.array(flat)),
        "activation": _lists(states),
        **{name: _lists(values) for name, values in gates.items()},
    }, schema=activations_schema(dim, dtype, {name: values.shape[1] for name, values in gates.items()}))
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
    dim, rep_dim = model.state_dim(network), model.representation_dim(network)
    gate_dims = model.gate_dims(network) if settings.gates else {}
    tokens_tmp, h_end_tmp = _staging(tokens_dir), _staging(h_end_dir)
    token_parts = PartWriter(tokens_tmp, activations_schema(dim, settings.dtype, gate_dims), settings.rows_per_file,
                             settings.row_group_rows)
    h_end_parts = PartWriter(h_end_tmp, h_end_schema(rep_dim, settings.dtype), 1 << 62, settings.row_group_rows)
    value_type = torch.float16 if settings.dtype == "float16" else torch.float32
    # Two chunks in flight at most: memory stays bounded while the writer overlaps compute.
    pending: queue.Queue = queue.Queue(maxsize=2)
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            while (item := pending.get()) is not None:
                token_table, h_end_table = to_tables(*item, itos=compute.itos, dtype=settings.dtype)
                token_parts.write(token_table)
                h_end_parts.write(h_end_table)
            token_parts.close()
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
                sid, n_words, flat, offsets, states, representations, gates = compute(chunk)
                states = states.to(value_type).cpu().numpy()
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
          f"({n_tokens / max(seconds, 1e-9):,.0f} tokens/s), {token_parts.part} part file(s)"
          + (f", gate columns {list(gate_dims)}" if settings.gates else ""), file=sys.stderr)
    return {"tokens": n_tokens, "sentences": n_sentences, "seconds": seconds}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, type=Path, help="model.pt written by lingscope.training.train")
    p.add_argument("--pathway", required=True, help="the network of the model (lingscope.core.catalog)")
    p.add_argument("--sentences", required=True, type=Path, help="SENTENCES table")
    p.add_argument("--vocab", required=True, type=Path)
    p.add_argument("--tokens-dir", required=True, type=Path, help="folder for the per-token part files")
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
