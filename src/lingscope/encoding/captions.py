"""A split of a SENTENCES table as the models read it, and length-bucketed batches.

The sentences are held in the flat layout of :mod:`lingscope.encoding.csr`, so batches are cut
by fancy indexing rather than per-item Python loops.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lingscope.core.errors import InputError
from lingscope.core.io import require_columns
from lingscope.encoding.csr import encode_sentences, offsets_of, pad


@dataclass
class Sentences:
    sentence_ids: np.ndarray  # (n,) int64
    image_ids: np.ndarray  # (n,) int64, -1 where the corpus has no images
    flat: np.ndarray  # (total,) int64 token ids in the CSR layout
    offsets: np.ndarray  # (n + 1,) int64
    tokens: list[list[str]]  # the tokens as read (original case)

    @property
    def lengths(self) -> np.ndarray:
        """Tokens per sentence as the model reads it (``<eos>`` included where it reads one)."""
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.sentence_ids)

    def padded(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, lengths)`` for the sentences at ``index``, right-padded with <pad>."""
        return pad(self.flat, self.offsets, index)

    def spans(self, rows: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> Sentences:
        """The token spans ``[start, end)`` of the sentences at ``rows``, each an example of its own
        (the phrases of a treebank), keeping their sentence's ids. For sentences read without an
        end symbol only (a span of one read with ``<eos>`` would lack it)."""
        rows, starts, ends = (np.asarray(a, dtype=np.int64) for a in (rows, starts, ends))
        lengths = ends - starts
        offsets = offsets_of(lengths)
        source = np.repeat(self.offsets[rows] + starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        tokens = [self.tokens[r][a:b] for r, a, b in zip(rows.tolist(), starts.tolist(), ends.tolist())]
        return Sentences(self.sentence_ids[rows], self.image_ids[rows], self.flat[source], offsets, tokens)


def load_sentences(path: str | Path, vocab: dict[str, int], split: str, limit: int | None = None,
                   eos: bool = True) -> Sentences:
    """One split of a SENTENCES table, encoded with ``vocab``, in file order."""
    path = Path(path)
    require_columns(path, ["split", "sentence_id", "image_id", "tokens"])
    table = pq.read_table(path, columns=["sentence_id", "image_id", "tokens"], filters=[("split", "=", split)])
    if limit:
        table = table.slice(0, limit)
    if table.num_rows == 0:
        raise InputError(path, f"split {split!r}", "no sentences in this split")
    empty = pc.equal(pc.list_value_length(table.column("tokens")), 0)
    if pc.any(empty).as_py():
        bad = table.column("sentence_id").filter(empty)[0].as_py()
        raise InputError(path, f"sentence_id {bad}", "sentence has no tokens")
    token_lists = table.column("tokens").to_pylist()
    flat, offsets = encode_sentences(token_lists, vocab, eos)
    image_ids = table.column("image_id").fill_null(-1).to_numpy().astype(np.int64)
    return Sentences(table.column("sentence_id").to_numpy().astype(np.int64), image_ids, flat, offsets, token_lists)


def length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Index batches of sentences of (nearly) equal length; shuffled when ``rng`` is given.

    Sorting by length with a random tie-break and shuffling the batch order keeps padding
    near zero while every epoch still sees a different order.
    """
    n = len(lengths)
    if rng is None:
        order = np.argsort(lengths, kind="stable")
    else:
        order = np.lexsort((rng.random(n), lengths))
    batches = [order[k : k + batch_size] for k in range(0, n, batch_size)]
    if rng is not None:
        batches = [batches[k] for k in rng.permutation(len(batches))]
    return batches
