"""Token ids: the special symbols, the vocabulary table, and words to ids.

The one place that fixes the special ids: ``<pad>`` = 0 (embeds to zero, ignored by the losses),
``<unk>`` = 1 (every word outside the vocabulary), ``<eos>`` = 2 (read after a sentence's last
word by the models that read an end symbol). Words are lower-cased before lookup.
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


def encode(tokens: Sequence[str], token_to_id: Mapping[str, int]) -> list[int]:
    """Token ids for ``tokens`` (lower-cased first); unknown tokens map to ``<unk>``."""
    return [token_to_id.get(tok.lower(), UNK_ID) for tok in tokens]


def encode_forms(forms: pa.Array | pa.ChunkedArray, vocab: Mapping[str, int]) -> np.ndarray:
    """Token ids of ``forms`` as :func:`encode` gives them, fast: each distinct form is
    lower-cased once in Python and the ids are spread back in Arrow."""
    forms = forms.combine_chunks() if isinstance(forms, pa.ChunkedArray) else forms
    unique = pc.unique(forms)
    ids = np.fromiter((vocab.get(t.lower(), UNK_ID) for t in unique.to_pylist()), dtype=np.int64, count=len(unique))
    return ids[pc.index_in(forms, value_set=unique).to_numpy()]


def load_vocab(path: str | Path) -> dict[str, int]:
    """``token -> token_id`` from a VOCAB Parquet table."""
    table = pq.read_table(path, columns=["token", "token_id"])
    return dict(zip(table.column("token").to_pylist(), table.column("token_id").to_pylist()))


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
