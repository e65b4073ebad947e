"""Stream token tables in chunks of whole sentences, with bounded memory.

The dump and omission stages read corpora of any size one chunk at a time; a chunk never
splits a sentence, so each can be processed on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from lingscope.data.vocab import EOS_ID, UNK_ID
from lingscope.errors import InputError
from lingscope.models.data import require_columns


def encode_forms(forms: pa.Array, vocab: dict[str, int]) -> np.ndarray:
    """Token ids of ``forms``; each distinct form is lower-cased once in Python, as
    :func:`lingscope.data.vocab.encode` does, and the ids are spread back in Arrow."""
    forms = forms.combine_chunks() if isinstance(forms, pa.ChunkedArray) else forms
    unique = pc.unique(forms)
    ids = np.fromiter((vocab.get(t.lower(), UNK_ID) for t in unique.to_pylist()), dtype=np.int64, count=len(unique))
    return ids[pc.index_in(forms, value_set=unique).to_numpy()]


def csr_with_eos(word_ids: np.ndarray, n_words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat ids with <eos> after each sentence, and the offsets of the sentences in it."""
    lengths = n_words + 1
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.full(offsets[-1], EOS_ID, dtype=np.int64)
    # Word k of sentence s moves right by s (the <eos> symbols before it).
    sentence_of_word = np.repeat(np.arange(len(n_words)), n_words)
    flat[np.arange(len(word_ids)) + sentence_of_word] = word_ids
    return flat, offsets


def iter_sentence_chunks(path: str | Path, columns: list[str], chunk_tokens: int, split: str | None = None) -> Iterator[pa.Table]:
    """Whole sentences of a one-row-per-token table (``sentence_id``, ``position``, ...), in
    file order, about ``chunk_tokens`` rows at a time.

    Rows of a sentence must be contiguous with positions 1..n, as the parse stage writes them.
    """
    path = Path(path)
    require_columns(path, ["sentence_id", "position", *columns])
    cols = ["sentence_id", "position", *[c for c in columns if c not in ("sentence_id", "position")]]
    scanner = ds.dataset(path, format="parquet").scanner(
        columns=cols, filter=None if split is None else pc.field("split") == split, batch_size=chunk_tokens
    )
    carry: pa.Table | None = None
    for batch in scanner.to_batches():
        if batch.num_rows == 0:
            continue
        table = pa.Table.from_batches([batch])
        if carry is not None:
            table = pa.concat_tables([carry, table])
        sid = table.column("sentence_id").to_numpy()
        # Keep the last sentence for the next chunk: it may continue in the next batch.
        cut = _last_run_start(sid)
        carry = table.slice(cut)
        if cut:
            yield _checked(table.slice(0, cut), path)
    if carry is not None and carry.num_rows:
        yield _checked(carry, path)


def _last_run_start(sid: np.ndarray) -> int:
    change = np.flatnonzero(sid[1:] != sid[:-1])
    return int(change[-1] + 1) if len(change) else 0


def _checked(table: pa.Table, path: Path) -> pa.Table:
    """Positions must run 1..n within each contiguous sentence."""
    sid = table.column("sentence_id").to_numpy()
    pos = table.column("position").to_numpy()
    starts = np.concatenate([[True], sid[1:] != sid[:-1]])
    expected = np.arange(len(sid)) - np.maximum.accumulate(np.where(starts, np.arange(len(sid)), 0)) + 1
    bad = np.flatnonzero(pos != expected)
    if len(bad):
        k = bad[0]
        raise InputError(path, f"sentence_id {int(sid[k])} row position {int(pos[k])}",
                         f"expected position {int(expected[k])}: a sentence's tokens must be contiguous and numbered 1..n")
    return table


def sentence_runs(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Sentence ids and word counts of a chunk from :func:`iter_sentence_chunks`."""
    sid = table.column("sentence_id").to_numpy()
    starts = np.flatnonzero(np.concatenate([[True], sid[1:] != sid[:-1]]))
    n_words = np.diff(np.append(starts, len(sid)))
    return sid[starts], n_words
