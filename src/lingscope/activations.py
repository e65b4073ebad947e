"""Dump per-token hidden states and sentence vectors to Parquet (Kadar et al. 2017, sec. 4).

For one model and pathway, every caption of the analysis split is run and two datasets are
written, hive-partitioned so DuckDB, polars, pandas and arrow read them directly:

- ``<tokens-dir>/part-k.parquet``: ``sentence_id, position, token, activation`` with one row
  per token, ``<eos>`` included as the last position of each sentence;
- ``<h-end-dir>/part-0.parquet``: ``sentence_id, n_tokens, activation``, the state at
  ``<eos>`` (h_end).

Memory stays bounded: captions stream in chunks, and a writer thread compresses and writes
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
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import torch

from lingscope.errors import InputError, run_cli
from lingscope.models.data import load_vocab_checked, require_columns
from lingscope.models.imaginet import CaptionModel, load_pathway_model
from lingscope.models.runs import all_states
from lingscope.models.stream import csr_with_eos, encode_forms
from lingscope.schemas import activations_schema, h_end_schema
from lingscope.train import pick_device


def iter_caption_chunks(path: str | Path, split: str, chunk_sentences: int) -> Iterator[pa.Table]:
    """``sentence_id, tokens`` of one split of a SENTENCES table, streamed in file order."""
    path = Path(path)
    require_columns(path, ["split", "sentence_id", "tokens"])
    scanner = ds.dataset(path, format="parquet").scanner(
        columns=["sentence_id", "tokens"], filter=pc.field("split") == split, batch_size=chunk_sentences
    )
    for batch in scanner.to_batches():
        if batch.num_rows:
            yield pa.Table.from_batches([batch])


class ChunkComputer:
    """Token ids and hidden states of one chunk of captions."""

    def __init__(self, model: CaptionModel, pathway: str, vocab: dict[str, int], device, batch_rows: int, source: str | Path):
        self.model, self.pathway, self.device, self.batch_rows = model, pathway, device, batch_rows
        self.source = source
        self.vocab = vocab
        self.itos = pa.array(sorted(vocab, key=vocab.get))

    def __call__(self, chunk: pa.Table):
        tokens = chunk.column("tokens").combine_chunks()
        n_words = pc.list_value_length(tokens).to_numpy(zero_copy_only=False).astype(np.int64)
        if (n_words == 0).any():
            bad = chunk.column("sentence_id")[int(np.flatnonzero(n_words == 0)[0])].as_py()
            raise InputError(self.source, f"sentence_id {bad}", "caption has no tokens")
        flat, offsets = csr_with_eos(encode_forms(tokens.flatten(), self.vocab), n_words)
        ids = torch.from_numpy(flat).to(self.device)
        states = all_states(self.model, self.pathway, ids, offsets, self.batch_rows)
        return chunk.column("sentence_id").to_numpy(), n_words, flat, offsets, states


def to_tables(sentence_ids, n_words, flat, offsets, states: np.ndarray, itos: pa.Array, dtype: str) -> tuple[pa.Table, pa.Table]:
    """Arrow tables for one chunk; the activation column wraps ``states`` without a copy."""
    lengths = n_words + 1
    dim = states.shape[1]
    values = pa.array(states.reshape(-1))  # float32 or float16, zero-copy from numpy
    positions = np.arange(len(flat)) - np.repeat(offsets[:-1], lengths) + 1
    tokens = pa.table({
        "sentence_id": pa.array(np.repeat(sentence_ids, lengths)),
        "position": pa.array(positions.astype(np.int32)),
        "token": itos.take(pa.array(flat)),
        "activation": pa.FixedSizeListArray.from_arrays(values, dim),
    }, schema=activations_schema(dim, dtype))
    h_end = states[offsets[1:] - 1]
    sentences = pa.table({
        "sentence_id": pa.array(sentence_ids),
        "n_tokens": pa.array(n_words.astype(np.int32)),
        "activation": pa.FixedSizeListArray.from_arrays(pa.array(h_end.reshape(-1)), dim),
    }, schema=h_end_schema(dim, dtype))
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


def dump(args: argparse.Namespace) -> dict:
    device = pick_device(args.device)
    torch.set_num_threads(args.threads)
    model, extra = load_pathway_model(args.model, args.pathway, device)
    vocab = load_vocab_checked(args.vocab)
    compute = ChunkComputer(model, args.pathway, vocab, device, args.batch_rows, args.sentences)
    dim = model.state_dim(args.pathway)
    tokens_dir, h_end_dir = Path(args.tokens_dir), Path(args.h_end_dir)
    tokens_tmp, h_end_tmp = _staging(tokens_dir), _staging(h_end_dir)
    token_parts = PartWriter(tokens_tmp, activations_schema(dim, args.dtype), args.rows_per_file, args.row_group_rows)
    h_end_parts = PartWriter(h_end_tmp, h_end_schema(dim, args.dtype), 1 << 62, args.row_group_rows)
    # Two chunks in flight at most: memory stays bounded while the writer overlaps compute.
    pending: queue.Queue = queue.Queue(maxsize=2)
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            while (item := pending.get()) is not None:
                token_table, h_end_table = to_tables(*item, itos=compute.itos, dtype=args.dtype)
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
        for chunk in iter_caption_chunks(args.sentences, args.split, args.chunk_sentences):
            sid, n_words, flat, offsets, states = compute(chunk)
            states = states.to(torch.float16 if args.dtype == "float16" else torch.float32).cpu().numpy()
            pending.put((sid, n_words, flat, offsets, states))
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
        raise InputError(args.sentences, f"split {args.split!r}", "no sentences in this split")
    _publish(tokens_tmp, tokens_dir)
    _publish(h_end_tmp, h_end_dir)
    seconds = time.perf_counter() - start
    print(f"{extra['name']}/{args.pathway}: {n_sentences:,} sentences, {n_tokens:,} tokens in {seconds:.1f} s "
          f"({n_tokens / max(seconds, 1e-9):,.0f} tokens/s), {token_parts.part} part file(s)", file=sys.stderr)
    return {"tokens": n_tokens, "sentences": n_sentences, "seconds": seconds}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model.pt written by lingscope.train")
    p.add_argument("--pathway", required=True, choices=("textual", "visual"))
    p.add_argument("--sentences", required=True, help="SENTENCES table")
    p.add_argument("--vocab", required=True)
    p.add_argument("--split", default="val", help="the analysis split")
    p.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    p.add_argument("--chunk-sentences", type=int, default=2048, help="captions computed per chunk")
    p.add_argument("--rows-per-file", type=int, default=1_000_000, help="token rows per part file")
    p.add_argument("--row-group-rows", type=int, default=8192, help="rows per Parquet row group")
    p.add_argument("--batch-rows", type=int, default=1024)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tokens-dir", required=True, help="folder for the per-token part files")
    p.add_argument("--h-end-dir", required=True, help="folder for the h_end part file")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("chunk_sentences", "rows_per_file", "row_group_rows", "batch_rows"):
        if getattr(args, name) < 1:
            raise InputError(None, f"--{name.replace('_', '-')}", "must be at least 1")
    dump(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
