"""Ingest WMT'14 English monolingual text (one sentence per line) into the SENTENCES table.

Each input is plain text or gzip (told apart by the magic bytes, not the suffix), read as
bytes and decoded strictly as UTF-8 line by line, so a bad byte is reported with its file
and 1-based line number. Lines are tokenised by :func:`tokenize` and written in record
batches, so memory stays bounded however many millions of lines the file holds.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import GZIP_MAGIC, atomic_path, conform, open_binary  # noqa: F401 (GZIP_MAGIC: kept as wmt.GZIP_MAGIC)
from lingscope.core.schemas import SENTENCES

CORPUS = "wmt"
SPLITS = ("train", "val", "test")
# Rows per Parquet row group; module-level so tests can shrink it to force several batches.
BATCH_ROWS = 65_536

# Case-insensitive only where it matters ("ISN'T", "IT'S"): a global IGNORECASE is slower.
_CLITIC = r"(?i:s|re|ve|ll|m|d)\b"
_TOKEN_RE = re.compile(
    rf"""
      [^\W\d_]+(?=(?i:n['’]t)\b)           # "is" of "isn't", "ca" of "can't" (PTB split)
    | (?i:n['’]t)\b                        # the "n't" itself
    | (?<=[^\W_])['’]{_CLITIC}             # clitics 's 're 've 'll 'm 'd after a word
    | (?:[^\W\d_]\.){{2,}}                   # letter-dot abbreviations: U.S., e.g.
    | (?:Mrs|Mr|Ms|Dr|Prof|St|Jr|Sr)\.(?!\w)  # common titles keep their period
    | \d+(?:[.,]\d+)+(?:-[^\W_]+)*         # numbers with internal . or , : 3.5, 1,200,000
    | [^\W_]+(?:-[^\W_]+|['’](?!{_CLITIC})[^\W_]+)*  # words, incl. well-known, O'Neill, 1990s
    | \.\.\.|--                            # multi-character punctuation
    | \S                                   # any other character is a token of its own
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[str]:
    """Split a sentence into PTB-like tokens, keeping case and the characters as written.

    Rules, in order of precedence at each position:
    - ``n't`` is split off the word before it (``isn't`` -> ``is n't``, ``can't`` -> ``ca n't``);
    - clitics ``'s 're 've 'll 'm 'd`` (straight or curly apostrophe) after a word are split off;
    - letter-dot abbreviations (``U.S.``) and the titles Mr. Mrs. Ms. Dr. Prof. St. Jr. Sr.
      keep their periods (a sentence-final ``U.S.`` does not get an extra ``.`` as in PTB);
    - numbers with internal ``.`` or ``,`` stay whole (``3.5``, ``1,200,000``);
    - words are runs of letters/digits joined by internal hyphens or apostrophes;
    - ``...`` and ``--`` are one token; every other non-space character is its own token.
    Quotes are kept as written: no PTB conversion of ``"`` into opening and closing quotes.
    """
    return _TOKEN_RE.findall(text)


def read_lines(path: str | Path, max_lines: int | None = None) -> Iterator[str]:
    """Yield the sentences of ``path`` without their line endings, checking each one.

    Raises :class:`InputError` for a missing file, a line that is not UTF-8, an empty or
    whitespace-only line, a corrupt gzip stream, or a file with no lines at all.
    """
    path = Path(path)
    n = 0
    with open_binary(path) as fh:
        try:
            for n, raw in enumerate(itertools.islice(fh, max_lines), start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    bad = raw[err.start : err.start + 1].hex()
                    raise InputError(
                        path, f"line {n}", f"not valid UTF-8 (byte 0x{bad} at column {err.start + 1})"
                    ) from None
                line = line.rstrip("\n").removesuffix("\r")
                if n == 1:
                    line = line.removeprefix("\ufeff")  # a BOM marks the encoding, it is not text
                if not line.strip():
                    raise InputError(path, f"line {n}", "empty sentence")
                yield line
        except (EOFError, zlib.error, gzip.BadGzipFile) as err:
            raise InputError(path, f"line {n + 1}", f"corrupt gzip stream: {err}") from None
    if n == 0:
        raise InputError(path, None, "no sentences")


def _batch(split: str, first_id: int, lines: list[str]) -> pa.Table:
    """One SENTENCES batch; tokens are built as one flat array plus offsets, which is fast."""
    n = len(lines)
    offsets = [0]
    flat: list[str] = []
    for line in lines:
        flat.extend(tokenize(line))
        offsets.append(len(flat))
    tokens = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(flat, pa.string()))
    table = pa.table(
        {
            "corpus": pa.array([CORPUS] * n, pa.string()),
            "split": pa.array([split] * n, pa.string()),
            "sentence_id": pa.array(np.arange(first_id, first_id + n, dtype=np.int64)),
            "image_id": pa.nulls(n, pa.int64()),
            "label": pa.nulls(n, pa.int8()),
            "text": pa.array(lines, pa.string()),
            "tokens": tokens,
        }
    )
    return conform(table, SENTENCES, "sentences")


def ingest(paths: dict[str, str | Path], out: str | Path, max_lines: int | None = None) -> dict[str, int]:
    """Write the SENTENCES table for the ``train``/``val``/``test`` files in ``paths`` to ``out``.

    ``sentence_id`` runs from 0 over train, then val, then test. ``max_lines`` caps the train
    lines read. The output appears only when every file was read cleanly. Returns rows per split.
    """
    counts: dict[str, int] = {}
    next_id = 0
    with atomic_path(out) as tmp, pq.ParquetWriter(tmp, SENTENCES, compression="zstd") as writer:
        for split in SPLITS:
            cap = max_lines if split == "train" else None
            start = next_id
            lines: list[str] = []
            for line in read_lines(paths[split], cap):
                lines.append(line)
                if len(lines) >= BATCH_ROWS:
                    writer.write_table(_batch(split, next_id, lines))
                    next_id += len(lines)
                    lines = []
            if lines:
                writer.write_table(_batch(split, next_id, lines))
                next_id += len(lines)
            counts[split] = next_id - start
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Ingest WMT'14 English text files into a sentences Parquet table.")
    parser.add_argument(
        "--train", required=True, type=Path, help="train sentences, plain or gzip (news.2014.en.shuffled)"
    )
    parser.add_argument("--val", required=True, type=Path, help="validation sentences, plain or gzip")
    parser.add_argument("--test", required=True, type=Path, help="test sentences, plain or gzip")
    parser.add_argument("--sentences", required=True, type=Path, help="output Parquet (SENTENCES schema)")
    parser.add_argument("--max-lines", type=int, default=None,
                        help="read at most this many train lines; 0 reads all (as in config.yaml)")
    args = parser.parse_args(argv)
    if args.max_lines is not None and args.max_lines < 0:
        raise InputError(None, "--max-lines", f"must be 0 (all) or more, got {args.max_lines}")
    if args.max_lines == 0:
        args.max_lines = None
    counts = ingest({"train": args.train, "val": args.val, "test": args.test}, args.sentences, args.max_lines)
    print(f"{args.sentences}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
