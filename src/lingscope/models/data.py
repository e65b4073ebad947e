"""Captions and image features as the models read them (pyarrow and numpy only).

A split's captions are held as one flat array of token ids plus offsets (CSR), each caption
ending in ``<eos>``, so batches are cut by fancy indexing rather than per-item Python loops.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lingscope.data.vocab import EOS_ID, PAD_ID, encode, load_vocab
from lingscope.errors import InputError


@dataclass
class Captions:
    sentence_ids: np.ndarray  # (n,) int64
    image_ids: np.ndarray  # (n,) int64, -1 where the corpus has no images
    flat: np.ndarray  # (total,) int64 token ids, each caption followed by <eos>
    offsets: np.ndarray  # (n + 1,) int64
    tokens: list[list[str]]  # the tokens as read (original case), without <eos>

    @property
    def lengths(self) -> np.ndarray:
        """Tokens per caption including <eos>."""
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.sentence_ids)

    def padded(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, lengths)`` for the captions at ``index``, right-padded with <pad>."""
        lengths = self.lengths[index]
        width = int(lengths.max()) if len(index) else 0
        cols = np.arange(width)
        mask = cols[None, :] < lengths[:, None]
        ids = np.full((len(index), width), PAD_ID, dtype=np.int64)
        ids[mask] = self.flat[(self.offsets[index][:, None] + cols[None, :])[mask]]
        return ids, lengths


def require_columns(path: str | Path, needed: list[str]) -> None:
    """Fail with a clear message unless ``path`` is a Parquet file with the ``needed`` columns."""
    try:
        names = pq.read_schema(path).names
    except (OSError, pa.ArrowException) as err:
        raise InputError(path, None, f"cannot read Parquet: {err}") from None
    missing = [c for c in needed if c not in names]
    if missing:
        raise InputError(path, None, f"missing column(s) {missing}; expected at least {needed}")


def encode_captions(token_lists: list[list[str]], vocab: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter((len(t) + 1 for t in token_lists), dtype=np.int64, count=len(token_lists))
    offsets = np.zeros(len(token_lists) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.empty(offsets[-1], dtype=np.int64)
    for k, tokens in enumerate(token_lists):
        flat[offsets[k] : offsets[k + 1] - 1] = encode(tokens, vocab)
    flat[offsets[1:] - 1] = EOS_ID
    return flat, offsets


def load_captions(sentences: str | Path, vocab: dict[str, int], split: str, limit: int | None = None) -> Captions:
    """One split of a SENTENCES table, encoded with ``vocab``, in file order."""
    path = Path(sentences)
    require_columns(path, ["split", "sentence_id", "image_id", "tokens"])
    table = pq.read_table(path, columns=["sentence_id", "image_id", "tokens"], filters=[("split", "=", split)])
    if limit:
        table = table.slice(0, limit)
    if table.num_rows == 0:
        raise InputError(path, f"split {split!r}", "no sentences in this split")
    empty = pc.equal(pc.list_value_length(table.column("tokens")), 0)
    if pc.any(empty).as_py():
        bad = table.column("sentence_id").filter(empty)[0].as_py()
        raise InputError(path, f"sentence_id {bad}", "caption has no tokens")
    token_lists = table.column("tokens").to_pylist()
    flat, offsets = encode_captions(token_lists, vocab)
    image_ids = table.column("image_id").fill_null(-1).to_numpy().astype(np.int64)
    return Captions(table.column("sentence_id").to_numpy().astype(np.int64), image_ids, flat, offsets, token_lists)


@dataclass
class Images:
    image_ids: np.ndarray  # (m,) int64
    splits: np.ndarray  # (m,) str
    features: np.ndarray  # (m, d) float32

    def rows(self, image_ids: np.ndarray, path: Path) -> np.ndarray:
        """Row of each image id; an id without features is an input error."""
        order = np.argsort(self.image_ids)
        pos = np.searchsorted(self.image_ids, image_ids, sorter=order)
        pos = np.minimum(pos, len(order) - 1)
        rows = order[pos]
        bad = self.image_ids[rows] != image_ids
        if bad.any():
            raise InputError(path, f"image_id {int(image_ids[bad][0])}", "a caption's image has no feature vector")
        return rows


def load_images(path: str | Path) -> Images:
    path = Path(path)
    require_columns(path, ["image_id", "split", "features"])
    table = pq.read_table(path, columns=["image_id", "split", "features"])
    column = table.column("features").combine_chunks()
    dim = column.type.list_size if pa.types.is_fixed_size_list(column.type) else None
    if dim is None:
        raise InputError(path, None, f"column 'features' must be a fixed-size list of float32, found {column.type}")
    features = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, dim)
    return Images(table.column("image_id").to_numpy(), np.asarray(table.column("split").to_pylist()), features)


def zscore_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and standard deviation (train split), the paper's normalisation."""
    mean = features.mean(0, dtype=np.float64)
    std = features.std(0, dtype=np.float64)
    std[std < 1e-8] = 1.0  # a constant dimension carries no signal; leave it at zero
    return mean.astype(np.float32), std.astype(np.float32)


def length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Index batches of captions of (nearly) equal length; shuffled when ``rng`` is given.

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


def load_vocab_checked(path: str | Path) -> dict[str, int]:
    path = Path(path)
    try:
        vocab = load_vocab(path)
    except (OSError, pa.ArrowException, KeyError) as err:
        raise InputError(path, None, f"cannot read a vocabulary table: {err}") from None
    if vocab.get("<pad>") != PAD_ID or vocab.get("<eos>") != EOS_ID:
        raise InputError(path, None, "vocabulary must have <pad>=0 and <eos>=2 (build it with lingscope.data.vocab)")
    return vocab
