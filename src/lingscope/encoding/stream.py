"""Stream one split of a SENTENCES table in chunks of whole sentences, with bounded memory.

The dump and omission stages read corpora of any size one chunk at a time; a chunk never
splits a sentence, so each can be processed on its own. Chunks keep the file order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from lingscope.core.errors import InputError
from lingscope.core.io import require_columns
from lingscope.encoding.csr import to_csr
from lingscope.encoding.ids import encode_forms

COLUMNS = ["sentence_id", "tokens"]


def _checked(table: pa.Table, path: Path) -> pa.Table:
    n_words = pc.list_value_length(table.column("tokens"))
    empty = pc.fill_null(pc.equal(n_words, 0), True)
    if pc.any(empty).as_py():
        bad = table.column("sentence_id").filter(empty)[0].as_py()
        raise InputError(path, f"sentence_id {bad}", "sentence has no tokens")
    return table


def iter_sentence_chunks(path: str | Path, split: str, chunk_sentences: int | None = None,
                         chunk_tokens: int | None = None) -> Iterator[pa.Table]:
    """``sentence_id, tokens`` of one split, in file order, in chunks of whole sentences.

    With ``chunk_sentences``, that many sentences at a time. With ``chunk_tokens``, the words
    are cut on a fixed grid of ``chunk_tokens`` words: a chunk ends before the sentence that
    holds the last word below each grid line, so a chunk holds at most ``chunk_tokens`` words
    plus one sentence, and the cuts do not depend on how the file is read. A sentence without
    tokens is an :class:`InputError` naming it.
    """
    path = Path(path)
    require_columns(path, ["split", *COLUMNS])
    scanner = ds.dataset(path, format="parquet").scanner(
        columns=COLUMNS, filter=pc.field("split") == split, batch_size=chunk_sentences or 4096)
    if chunk_tokens is None:
        for batch in scanner.to_batches():
            if batch.num_rows:
                yield _checked(pa.Table.from_batches([batch]), path)
        return
    pending: pa.Table | None = None
    first_word = 0  # global index of the first word of ``pending``
    grid = chunk_tokens  # the next grid line
    for batch in scanner.to_batches():
        if batch.num_rows == 0:
            continue
        table = _checked(pa.Table.from_batches([batch]), path)
        pending = table if pending is None else pa.concat_tables([pending, table])
        ends = first_word + np.cumsum(pc.list_value_length(pending.column("tokens")).to_numpy(zero_copy_only=False))
        while ends[-1] >= grid:
            # The sentence holding word grid - 1 starts the next chunk.
            cut = int(np.searchsorted(ends, grid - 1, side="right"))
            if cut:
                yield pending.slice(0, cut)
                first_word = int(ends[cut - 1])
                pending, ends = pending.slice(cut), ends[cut:]
            grid += chunk_tokens
    if pending is not None and pending.num_rows:
        yield pending


def n_words_of(chunk: pa.Table) -> np.ndarray:
    """Words per sentence of a chunk."""
    return pc.list_value_length(chunk.column("tokens")).to_numpy(zero_copy_only=False).astype(np.int64)


def encode_chunk(chunk: pa.Table, vocab: dict[str, int], eos: bool) -> tuple[pa.Array, np.ndarray, np.ndarray, np.ndarray]:
    """``(tokens, n_words, flat, offsets)`` of a chunk: its words as read (one Arrow array), the
    words per sentence, and the sentences in the flat layout a model reads (``eos``: with
    ``<eos>`` after each)."""
    n_words = n_words_of(chunk)
    tokens = chunk.column("tokens").combine_chunks().flatten()
    flat, offsets = to_csr(encode_forms(tokens, vocab), n_words, eos)
    return tokens, n_words, flat, offsets
