"""Build the model vocabulary (VOCAB table) from the train split of a SENTENCES table.

Tokens are lower-cased; types seen at least ``min_count`` times are kept, ordered by count
descending then token ascending (code-point order), after the specials of
:mod:`lingscope.encoding.ids` (``<pad>``=0, ``<unk>``=1, ``<eos>``=2), which get count 0.
``max_size`` caps the total, specials included.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet
from lingscope.core.schemas import VOCAB
from lingscope.data.settings import VocabSettings
from lingscope.encoding.ids import SPECIALS

# Rows counted per Arrow batch; module-level so tests can shrink it to force several batches.
BATCH_ROWS = 65_536


def _check(min_count: int, max_size: int | None) -> None:
    if min_count < 1:
        raise ValueError(f"min_count must be at least 1, got {min_count}")
    if max_size is not None and max_size < len(SPECIALS):
        raise ValueError(f"max_size must be at least {len(SPECIALS)} (the specials), got {max_size}")


def _select(counts: Iterable[tuple[str, int]], min_count: int, max_size: int | None) -> list[tuple[str, int]]:
    """Specials, then the kept types in the canonical order, cut to ``max_size``."""
    kept = sorted(((t, c) for t, c in counts if c >= min_count and t not in SPECIALS), key=lambda tc: (-tc[1], tc[0]))
    vocab = [(s, 0) for s in SPECIALS] + kept
    return vocab if max_size is None else vocab[:max_size]


def build_vocab(
    token_lists: Iterable[Sequence[str]], min_count: int, max_size: int | None = None
) -> list[tuple[str, int]]:
    """Vocabulary of lower-cased tokens as ``[(token, count), ...]``; the index is the token id."""
    _check(min_count, max_size)
    counts = Counter(tok.lower() for tokens in token_lists for tok in tokens)
    return _select(counts.items(), min_count, max_size)


def _sum_counts(tables: list[pa.Table]) -> pa.Table:
    return pa.concat_tables(tables).group_by("token").aggregate([("count", "sum")]).rename_columns(["token", "count"])


def count_train_tokens(path: str | Path) -> list[tuple[str, int]]:
    """Lower-cased token counts over the train split of a SENTENCES Parquet file.

    Counting runs in Arrow one row group at a time, so memory follows the number of types,
    not of tokens. Only the distinct types pass through Python, where ``str.lower`` is applied
    so the result matches :func:`lingscope.encoding.ids.encode` exactly (Arrow lower-cases a few characters differently).
    """
    path = Path(path)
    try:
        parquet = pq.ParquetFile(path)
    except FileNotFoundError:
        raise InputError(path, None, "file not found") from None
    except (OSError, pa.ArrowException) as err:
        raise InputError(path, None, f"not a readable Parquet file: {err}") from None
    missing = [c for c in ("split", "tokens") if c not in parquet.schema_arrow.names]
    if missing:
        raise InputError(path, None, f"missing column(s) {', '.join(missing)}")
    partial: list[pa.Table] = []
    n_train = 0
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=["split", "tokens"]):
        tokens = batch.column("tokens").filter(pc.equal(batch.column("split"), "train"))
        n_train += len(tokens)
        flat = pc.list_flatten(tokens)
        if flat.null_count:
            raise InputError(path, "column tokens", "null token in the train split")
        counts = pc.value_counts(flat)
        partial.append(pa.table({"token": counts.field("values"), "count": counts.field("counts")}))
    if n_train == 0:
        raise InputError(path, None, "no sentences in the train split")
    cased = _sum_counts(partial)
    if cased.num_rows == 0:
        raise InputError(path, None, "no tokens in the train split")
    lowered = pa.array([t.lower() for t in cased.column("token").to_pylist()], pa.string())
    summed = _sum_counts([cased.set_column(0, "token", lowered)])
    return list(zip(summed.column("token").to_pylist(), summed.column("count").to_pylist()))


def vocab_table(vocab: list[tuple[str, int]]) -> pa.Table:
    return pa.table(
        {
            "token_id": pa.array(range(len(vocab)), pa.int32()),
            "token": pa.array([t for t, _ in vocab], pa.string()),
            "count": pa.array([c for _, c in vocab], pa.int64()),
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build the vocabulary table from the train split of a sentences table."
    )
    parser.add_argument("--sentences", required=True, type=Path, help="input Parquet (SENTENCES schema)")
    parser.add_argument("--out", required=True, type=Path, help="output Parquet (VOCAB schema)")
    VocabSettings.add_arguments(parser, "vocabulary (config: vocab.<corpus>)")
    args = parser.parse_args(argv)
    settings = VocabSettings.from_args(args)
    vocab = _select(count_train_tokens(args.sentences), settings.min_count, settings.max_size or None)
    write_parquet(vocab_table(vocab), args.out, VOCAB, "vocab")
    print(f"{args.out}: {len(vocab)} types (min count {settings.min_count})")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
