"""Token ids: the special symbols, the vocabulary table, and words to ids.

The one place that fixes the special ids: ``<pad>`` = 0 (embeds to zero, ignored by the losses),
``<unk>`` = 1 (every word outside the vocabulary), ``<eos>`` = 2 (read after a sentence's last
word by the models that read an end symbol). Words are lower-cased before lookup, except in a cased vocabulary (a network trained elsewhere
keeps its own: :class:`Vocabulary`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lingscope.core.errors import InputError

PAD, UNK, EOS = "<pad>", "<unk>", "<eos>"
SPECIALS = (PAD, UNK, EOS)
PAD_ID, UNK_ID, EOS_ID = 0, 1, 2


# The vocabulary table's Parquet metadata key that marks a cased vocabulary (a pretrained
# network's own, looked up as written); lingscope's vocabularies are lower-cased.
CASED_KEY = b"lingscope.cased"


class Vocabulary(dict):
    """``token -> token_id``; ``cased`` says whether words are looked up as written (a network
    trained elsewhere, whose vocabulary is its own) or lower-cased first (lingscope's)."""

    def __init__(self, items=(), cased: bool = False):
        super().__init__(items)
        self.cased = cased

    def key(self, word: str) -> str:
        """The form of ``word`` this vocabulary is looked up by."""
        return word if self.cased else word.lower()

    def id_of(self, word: str) -> int:
        return self.get(self.key(word), UNK_ID)


def key(vocab: Mapping[str, int], word: str) -> str:
    """The form of ``word`` ``vocab`` is looked up by (lower-cased unless it is a cased :class:`Vocabulary`)."""
    return word if getattr(vocab, "cased", False) else word.lower()


def encode(tokens: Sequence[str], token_to_id: Mapping[str, int]) -> list[int]:
    """Token ids for ``tokens`` (lower-cased first, unless the vocabulary is cased); unknown tokens
    map to ``<unk>``."""
    return [token_to_id.get(key(token_to_id, tok), UNK_ID) for tok in tokens]


def encode_forms(forms: pa.Array | pa.ChunkedArray, vocab: Mapping[str, int]) -> np.ndarray:
    """Token ids of ``forms`` as :func:`encode` gives them, fast: each distinct form is
    lower-cased once in Python and the ids are spread back in Arrow."""
    forms = forms.combine_chunks() if isinstance(forms, pa.ChunkedArray) else forms
    unique = pc.unique(forms)
    ids = np.fromiter((vocab.get(key(vocab, t), UNK_ID) for t in unique.to_pylist()), dtype=np.int64,
                      count=len(unique))
    return ids[pc.index_in(forms, value_set=unique).to_numpy()]


def load_vocab(path: str | Path) -> dict[str, int]:
    """``token -> token_id`` from a VOCAB Parquet table, a :class:`Vocabulary` (cased when the
    table's metadata says so)."""
    table = pq.read_table(path, columns=["token", "token_id"])
    cased = (table.schema.metadata or {}).get(CASED_KEY) == b"true"
    return Vocabulary(zip(table.column("token").to_pylist(), table.column("token_id").to_pylist()), cased=cased)


def load_vocab_checked(path: str | Path) -> dict[str, int]:
    """:func:`load_vocab`, failing clearly on a file that is not a lingscope vocabulary."""
    path = Path(path)
    try:
        vocab = load_vocab(path)
    except (OSError, pa.ArrowException, KeyError) as err:
        raise InputError(path, None, f"cannot read a vocabulary table: {err}") from None
    if any(vocab.get(token) != token_id for token, token_id in zip(SPECIALS, (PAD_ID, UNK_ID, EOS_ID))):
        raise InputError(path, None, f"vocabulary must start with {PAD}={PAD_ID}, {UNK}={UNK_ID}, {EOS}={EOS_ID} "
                                     "(build it with lingscope.data.vocab)")
    return vocab


def id_to_token(vocab: Mapping[str, int]) -> pa.Array:
    """The tokens in id order, as an Arrow array (``take`` turns ids back into tokens)."""
    return pa.array(sorted(vocab, key=vocab.get))
