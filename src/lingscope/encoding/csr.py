"""The flat token layout (CSR) every model-side stage uses, and padding.

Sentences are held back to back in one int64 array of token ids (``flat``) with the start of
each sentence in ``offsets`` (``len(sentences) + 1`` entries). A model that reads an end symbol
gets ``<eos>`` after each sentence's words. Batches are cut from this layout by fancy indexing,
never by per-sentence Python loops.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from lingscope.encoding.ids import EOS_ID, PAD_ID, encode


def offsets_of(lengths: np.ndarray) -> np.ndarray:
    """The offsets (``len(lengths) + 1`` entries, from 0) of runs of ``lengths`` laid back to back."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def to_csr(word_ids: np.ndarray, n_words: np.ndarray, eos: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(flat, offsets)`` for sentences of ``n_words`` words each, given back to back in
    ``word_ids``; with ``eos`` each sentence is followed by ``<eos>``."""
    n_words = np.asarray(n_words, dtype=np.int64)
    offsets = offsets_of(n_words + 1 if eos else n_words)
    if not eos:
        return np.asarray(word_ids, dtype=np.int64).copy(), offsets
    flat = np.full(offsets[-1], EOS_ID, dtype=np.int64)
    # Word k of sentence s moves right by s (the <eos> symbols before it).
    sentence_of_word = np.repeat(np.arange(len(n_words)), n_words)
    flat[np.arange(len(word_ids)) + sentence_of_word] = word_ids
    return flat, offsets


def encode_sentences(token_lists: Sequence[Sequence[str]], vocab: Mapping[str, int],
                     eos: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """:func:`to_csr` of tokenised sentences."""
    n_words = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
    words = np.fromiter((i for tokens in token_lists for i in encode(tokens, vocab)), dtype=np.int64,
                        count=int(n_words.sum()))
    return to_csr(words, n_words, eos)


def pad(flat: np.ndarray, offsets: np.ndarray, index: np.ndarray | None = None,
        fill: int = PAD_ID) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, lengths)``: the sentences at ``index`` (all by default) as rows right-padded with
    ``<pad>``, which embeds to zero and is ignored by the losses."""
    starts = offsets[:-1] if index is None else offsets[:-1][index]
    lengths = (np.diff(offsets) if index is None else np.diff(offsets)[index]).astype(np.int64)
    width = int(lengths.max()) if len(lengths) else 0
    cols = np.arange(width)
    mask = cols[None, :] < lengths[:, None]
    ids = np.full((len(lengths), width), fill, dtype=np.int64)
    ids[mask] = flat[(starts[:, None] + cols[None, :])[mask]]
    return ids, lengths


def positions(offsets: np.ndarray) -> np.ndarray:
    """1-based position of every row of the flat layout within its sentence."""
    return np.arange(offsets[-1]) - np.repeat(offsets[:-1], np.diff(offsets)) + 1
