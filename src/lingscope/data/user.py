"""Ingest a user's own corpus: labelled sentences (csv, tsv, parquet, jsonl) or plain text.

Two formats, one command (``python -m lingscope.data.user``):

- **labelled**: one sentence and its class per record, in ``.csv`` (RFC 4180 quoting, header
  row), ``.tsv`` (header row, one record per line, tab-separated), ``.parquet`` or ``.jsonl``
  (one JSON object per line); csv, tsv and jsonl may be gzip-compressed (told apart by the
  magic bytes). Writes the SENTENCES table (``label`` = class id), the SST_PHRASES table with
  one whole-sentence phrase per sentence (so the sentiment models train on it as on SST's
  roots) and the LABELS table (class ids, names and counts per split).
- **text**: one sentence per line, plain or gzip, no labels. Streamed in record batches, so
  memory stays bounded however many lines the file holds (benchmarks/ingest_memory.py).

Splits come from one file per split (``--train --val --test``), from a ``split`` column of
a single labelled file (train, val or test; dev, valid and validation mean val), or from a seeded draw over a
single file: an ``int8`` array holding ``round(val * n)`` val codes, ``round(test * n)`` test
codes and train codes for the rest, shuffled by ``numpy.random.default_rng(seed)``; row ``k``
(the k-th non-blank record) takes code ``k``. The draw is a function of ``n`` and the seed only
and costs one byte per sentence, the only part of the text ingest that grows with the file.
``sentence_id`` runs 0.. over train, then val, then test (file order within a split), except
for drawn text splits, which are written in one streaming pass in file order.

Every input is read as bytes and decoded strictly as UTF-8; a byte order mark at the start is
dropped and CRLF line endings are accepted. Blank (whitespace-only) lines are skipped and
counted (the report and a line on stderr say how many per file). Bad input raises
:class:`InputError` naming the file, the line or data row (1-based, counted after the header
and without blank lines) and the column; the outputs appear only when everything was read.

Libraries and why: Parquet through pyarrow; CSV through the standard library's C ``csv``
reader, because pyarrow.csv and polars report neither the line of a bad UTF-8 byte or of a bad
record nor the blank lines they skip. TSV is split by hand (``str.split("\\t")`` per line):
real sentence TSVs carry stray quotes that a CSV dialect would swallow, so a field is unquoted
only when it is exactly what ``csv.writer`` writes for a field needing quotes (``"..."`` with
only doubled ``""`` inside). The text ingest decodes blocks of a few MiB at once (as fast as
line by line, and the lines come as one list for Arrow) and finds the line of a bad byte from
its offset. Tokenisation is ``str.split()``, computed by Arrow's ``utf8_trim_whitespace`` and
``utf8_split_whitespace`` (the same tokens on every code point; 2.4x faster than ``str.split``
and no Python object per token: it halved the text ingest's time and cut its peak RSS by a quarter), or
the tokenizer of ``spacy.blank("en")`` (no model needed), batched through ``tokenizer.pipe``,
with spaCy's whitespace tokens dropped; both keep case.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import io
import json
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import atomic_path, conform, open_binary
from lingscope.core.schemas import LABELS, SENTENCES, SST_PHRASES

SPLITS = ("train", "val", "test")
SPLIT_NAMES = {"train": "train", "val": "val", "dev": "val", "valid": "val", "validation": "val", "test": "test"}
LABELLED_TYPES = (".csv", ".tsv", ".parquet", ".jsonl")
TOKENIZERS = ("whitespace", "spacy")
MAX_LABEL_ID = 127  # sentences.label is int8
# Rows per Parquet row group and bytes per read block of the text ingest; module-level so
# tests can shrink them to force several batches and blocks.
BATCH_ROWS = 65_536
BLOCK_BYTES = 1 << 22
_INTEGER = re.compile(r"[+-]?[0-9]+")  # not int()'s wider syntax: "٣" or "1_0" are no integers


# --- reading bytes -----------------------------------------------------------------------


def _decode(path: Path, data: bytes, first_line: int = 1) -> str:
    """``data`` decoded strictly as UTF-8; a bad byte raises naming its line and column."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = first_line + data.count(b"\n", 0, err.start)
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise InputError(path, f"line {line}",
                         f"not valid UTF-8 (byte 0x{data[err.start]:02x} at column {column})") from None


def _read_text(path: Path) -> str:
    """The whole file (gunzipped when gzip) decoded as UTF-8, without a leading BOM."""
    with open_binary(path) as fh:
        try:
            data = fh.read()
        except (EOFError, zlib.error, gzip.BadGzipFile) as err:
            raise InputError(path, None, f"corrupt gzip stream: {err}") from None
    return _decode(path, data).removeprefix("\ufeff")


def text_blocks(path: str | Path) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(number of the first line, lines)`` for blocks of ``path``, in bounded memory.

    Lines come without their ending (``\\n`` or ``\\r\\n``), blank ones included (the caller
    counts them); the BOM of the first line is dropped. A block ends at a line end, so it holds
    whole lines however long they are.
    """
    path = Path(path)
    lineno, first, pending = 1, True, []
    with open_binary(path) as fh:
        try:
            while True:
                block = fh.read(BLOCK_BYTES)
                if block:
                    cut = block.rfind(b"\n")
                    if cut < 0:  # a line longer than a block: keep reading
                        pending.append(block)
                        continue
                    data = b"".join([*pending, block[:cut]])
                    pending = [block[cut + 1:]]
                else:
                    data = b"".join(pending)
                    pending = []
                    if not data:
                        break
                text = _decode(path, data, lineno)
                if first:
                    text, first = text.removeprefix("\ufeff"), False
                lines = text.split("\n")
                if "\r" in text:
                    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
                yield lineno, lines
                lineno += len(lines)
                if not block:
                    break
        except (EOFError, zlib.error, gzip.BadGzipFile) as err:
            raise InputError(path, f"line {lineno}", f"corrupt gzip stream: {err}") from None


# --- tokenisation ------------------------------------------------------------------------


_NO_TOKENS = pa.scalar([], pa.list_(pa.string()))


def _whitespace(texts: list[str]) -> pa.ListArray:
    # Arrow's trim + split on Unicode whitespace give str.split() exactly: checked on every
    # code point, inside a word and at both ends (tests/test_data_user_corpus.py checks a few);
    # 2.4x faster than str.split() and no Python string per token.
    trimmed = pc.utf8_trim_whitespace(pa.array(texts, pa.string()))
    tokens = pc.utf8_split_whitespace(trimmed)
    if pc.any(pc.equal(trimmed, "")).as_py():  # "" splits into [""], str.split() into []
        tokens = pc.if_else(pc.equal(trimmed, ""), _NO_TOKENS, tokens)
    return tokens


_SPACY = None


def _spacy(texts: list[str]) -> pa.ListArray:
    global _SPACY
    if _SPACY is None:
        import spacy  # imported only when asked for: it costs a second and 100 MB

        _SPACY = spacy.blank("en").tokenizer
    flat: list[str] = []
    offsets = [0]
    for doc in _SPACY.pipe(texts, batch_size=1000):
        flat.extend(t.text for t in doc if not t.is_space)
        offsets.append(len(flat))
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(flat, pa.string()))


def tokenizer(name: str) -> Callable[[list[str]], pa.ListArray]:
    """The tokenizer ``name`` (whitespace or spacy): texts -> their tokens (list<string>)."""
    if name == "whitespace":
        return _whitespace
    if name == "spacy":
        return _spacy
    raise InputError(None, "--tokenize", f"unknown tokenizer {name!r}, expected one of {list(TOKENIZERS)}")


# --- splits ------------------------------------------------------------------------------


def draw_splits(n: int, val: float, test: float, seed: int) -> np.ndarray:
    """Split codes (0 train, 1 val, 2 test) for ``n`` sentences: ``round(val * n)`` val and
    ``round(test * n)`` test codes, shuffled by ``numpy.random.default_rng(seed)``."""
    n_val, n_test = round(val * n), round(test * n)
    codes = np.repeat(np.array([0, 1, 2], np.int8), [max(n - n_val - n_test, 0), n_val, n_test])
    np.random.default_rng(seed).shuffle(codes)
    return codes


def _check_fractions(val: float, test: float) -> None:
    for flag, value in (("--split-val", val), ("--split-test", test)):
        if not 0 < value < 1:
            raise InputError(None, flag, f"must be a fraction between 0 and 1 (exclusive), got {value}")
    if val + test >= 1:
        raise InputError(None, "--split-val/--split-test", f"together {val + test:g} leave no train sentences")


def _sources(path, files) -> dict[str, Path]:
    if (path is None) == (files is None):
        raise InputError(None, "--path/--train",
                         "give either one file (--path) or one per split (--train --val --test)")
    if files is None:
        return {"": Path(path)}
    missing = [s for s in SPLITS if not files.get(s)]
    if missing:
        raise InputError(None, f"--{missing[0]}", "one file per split needs all three of --train --val --test")
    return {s: Path(files[s]) for s in SPLITS}


def _empty_split(path: Path | str, split: str, how: str) -> InputError:
    return InputError(path, None, f"split {split!r} has no sentences ({how})")


# --- writing -----------------------------------------------------------------------------


def _sentences_batch(corpus: str, split: pa.Array, first_id: int, texts: list[str], tokens: pa.ListArray,
                     labels: list[int] | None = None) -> pa.Table:
    n = len(texts)
    table = pa.table({
        "corpus": pa.array([corpus] * n, pa.string()),
        "split": split,
        "sentence_id": pa.array(np.arange(first_id, first_id + n, dtype=np.int64)),
        "image_id": pa.nulls(n, pa.int64()),
        "label": pa.nulls(n, pa.int8()) if labels is None else pa.array(labels, pa.int8()),
        "text": pa.array(texts, pa.string()),
        "tokens": tokens,
    })
    return conform(table, SENTENCES, "sentences")


_SPLIT_DICT = pa.array(SPLITS, pa.string())


def _split_array(codes: np.ndarray) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int8()), _SPLIT_DICT).cast(pa.string())


@dataclass
class _Counts:
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    blank_lines: dict[str, int] = field(default_factory=dict)
    types: set[str] = field(default_factory=set)

    def add_train_types(self, tokens: pa.ListArray) -> None:
        # Distinct cased types through Arrow, then str.lower in Python, as lingscope.data.vocab does.
        if len(tokens):
            self.types.update(t.lower() for t in pc.unique(pc.list_flatten(tokens)).to_pylist())

    def result(self, **extra) -> dict:
        return {**extra, "rows": self.rows, "tokens": self.tokens, "blank_lines": self.blank_lines,
                "train_word_types": len(self.types)}


def _finish(counts: dict, report: Path | None, report_tmp: Path | None) -> None:
    if report_tmp is not None:
        report_tmp.write_text(json.dumps(counts, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for name, n in counts["blank_lines"].items():
        if n:
            print(f"{name}: {n:,} blank line(s) skipped", file=sys.stderr)


# --- text format -------------------------------------------------------------------------


def _nth_sentence_line(path: Path, k: int) -> int:
    """Line number of the ``k``-th (0-based) non-blank line of ``path`` (for error messages)."""
    for first, lines in text_blocks(path):
        for i, line in enumerate(lines):
            if line and not line.isspace():
                if k == 0:
                    return first + i
                k -= 1
    return -1


def _nonblank(lines: list[str]) -> tuple[list[str], int]:
    blanks = lines.count("") + sum(map(str.isspace, lines))
    return ([line for line in lines if line and not line.isspace()] if blanks else lines), blanks


def ingest_text(sentences: str | Path, *, corpus: str, path: str | Path | None = None,
                files: dict[str, str | Path] | None = None, split_val: float = 0.1, split_test: float = 0.1,
                split_seed: int = 1, tokenize: str = "whitespace", report: str | Path | None = None) -> dict:
    """Stream one-sentence-per-line text into the SENTENCES table at ``sentences``.

    ``path`` (one file, splits drawn: two passes, one to count the sentences, one to write
    them in file order) or ``files`` (``train``/``val``/``test`` -> file, in that order).
    Returns (and writes to ``report`` as JSON) rows and tokens per split, blank lines skipped
    per file and the number of lower-cased train word types.
    """
    sources = _sources(path, files)
    tok = tokenizer(tokenize)
    counts = _Counts()
    codes = None
    if path is not None:
        _check_fractions(split_val, split_test)
        src = sources[""]
        n = 0
        for _, lines in text_blocks(src):
            kept, blanks = _nonblank(lines)
            n += len(kept)
        if n == 0:
            raise InputError(src, None, "no sentences (every line is blank)")
        codes = draw_splits(n, split_val, split_test, split_seed)
        for code, split in enumerate(SPLITS):
            if not (codes == code).any():
                raise _empty_split(src, split, f"{n} sentence(s) drawn with --split-val {split_val} "
                                               f"--split-test {split_test}")
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_path(sentences))
        report_tmp = stack.enter_context(atomic_path(report)) if report is not None else None
        writer = stack.enter_context(pq.ParquetWriter(tmp, SENTENCES, compression="zstd"))
        next_id = 0

        def flush(src: Path, split: str | None, batch: list[str], first_k: int) -> None:
            nonlocal next_id
            tokens = tok(batch)
            lengths = pc.list_value_length(tokens).to_numpy(zero_copy_only=False)
            if not lengths.all():
                k = first_k + int(np.argmin(lengths != 0))
                raise InputError(src, f"line {_nth_sentence_line(src, k)}", "the sentence tokenises to nothing")
            if split is None:
                part = codes[first_k:first_k + len(batch)]
                split_arr = _split_array(part)
                for code, name in enumerate(SPLITS):
                    mask = part == code
                    counts.rows[name] += int(mask.sum())
                    counts.tokens[name] += int(lengths[mask].sum())
                counts.add_train_types(tokens.filter(pa.array(part == 0)))
            else:
                split_arr = pa.array([split] * len(batch), pa.string())
                counts.rows[split] += len(batch)
                counts.tokens[split] += int(lengths.sum())
                if split == "train":
                    counts.add_train_types(tokens)
            writer.write_table(_sentences_batch(corpus, split_arr, next_id, batch, tokens))
            next_id += len(batch)

        for split, src in sources.items():
            split = split or None
            k = 0  # non-blank lines of this file so far
            pending: list[str] = []
            blank_total = 0
            for _, lines in text_blocks(src):
                kept, blanks = _nonblank(lines)
                blank_total += blanks
                pending.extend(kept)
                while len(pending) >= BATCH_ROWS:
                    flush(src, split, pending[:BATCH_ROWS], k)
                    k += BATCH_ROWS
                    del pending[:BATCH_ROWS]
            if pending:
                flush(src, split, pending, k)
                k += len(pending)
            counts.blank_lines[str(src)] = blank_total
            if split is not None and k == 0:
                raise _empty_split(src, split, "every line is blank" if blank_total else "the file is empty")
        result = counts.result(corpus=corpus, format="text", tokenize=tokenize,
                               splits="drawn" if path is not None else "files")
        _finish(result, report, report_tmp)
    return result


# --- labelled format ---------------------------------------------------------------------


@dataclass
class _Records:
    """The columns a labelled file gave, with where each record came from."""

    path: Path
    columns: list[str]
    values: dict[str, list]
    lines: list[int] | None  # first physical line of each record (None for Parquet)
    blank: int = 0

    def where(self, i: int) -> str:
        return f"data row {i + 1}" + (f" (line {self.lines[i]})" if self.lines is not None else "")

    def __len__(self) -> int:
        return len(next(iter(self.values.values())))


def _missing(path: Path, record: str | None, column: str, found: list[str]) -> InputError:
    return InputError(path, record, f"missing column {column!r}; columns found: {found}")


def _take_columns(path: Path, header: list[str], needed: list[str], optional: list[str],
                  record: str = "header") -> dict[str, int]:
    index: dict[str, int] = {}
    for name in needed + optional:
        hits = [i for i, h in enumerate(header) if h == name]
        if len(hits) > 1:
            raise InputError(path, record, f"column {name!r} appears {len(hits)} times; columns found: {header}")
        if hits:
            index[name] = hits[0]
        elif name in needed:
            raise _missing(path, record, name, header)
    return index


def _from_rows(path: Path, header: list[str], rows: Iterator[tuple[int, list[str]]], needed: list[str],
               optional: list[str], blank: int) -> _Records:
    index = _take_columns(path, header, needed, optional)
    values: dict[str, list] = {name: [] for name in index}
    lines: list[int] = []
    for lineno, fields in rows:
        if len(fields) != len(header):
            raise InputError(path, f"data row {len(lines) + 1} (line {lineno})",
                             f"{len(fields)} field(s), the header has {len(header)}: {header}")
        for name, i in index.items():
            values[name].append(fields[i])
        lines.append(lineno)
    return _Records(path, header, values, lines, blank)


def _read_csv(path: Path, needed: list[str], optional: list[str]) -> _Records:
    text = _read_text(path)
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))  # long sentences are fine
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    blank = 0
    records: list[tuple[int, list[str]]] = []
    end = 0
    try:
        for row in reader:
            start, end = end + 1, reader.line_num
            if not row or (len(row) == 1 and (header is None or len(header) > 1) and not row[0].strip()):
                blank += 1
            elif header is None:
                header = [h.strip() for h in row]
            else:
                records.append((start, row))
    except csv.Error as err:
        # The failing record starts on the line after the last one read whole (an unclosed quote
        # runs to the end of the file, where the reader notices it).
        raise InputError(path, f"data row {len(records) + 1} (line {end + 1})",
                         f"malformed CSV record starting here: {err} (an unclosed quote?)") from None
    if header is None:
        raise InputError(path, None, "empty file, expected a header row")
    return _from_rows(path, header, iter(records), needed, optional, blank)


def _unquote_tsv(value: str) -> str:
    """Undo the quoting csv.writer (or pandas) applies to a field; anything else is literal."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        inner = value[1:-1]
        if '"' not in inner.replace('""', ""):
            return inner.replace('""', '"')
    return value


def _read_tsv(path: Path, needed: list[str], optional: list[str]) -> _Records:
    lines = _read_text(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline ending the last line
    header: list[str] | None = None
    blank = 0
    records: list[tuple[int, list[str]]] = []
    for lineno, line in enumerate(lines, 1):
        line = line.removesuffix("\r")
        if not line.strip():
            blank += 1
            continue
        fields = [_unquote_tsv(f) for f in line.split("\t")]
        if header is None:
            header = [h.strip() for h in fields]
        else:
            records.append((lineno, fields))
    if header is None:
        raise InputError(path, None, "empty file, expected a header row")
    return _from_rows(path, header, iter(records), needed, optional, blank)


def _read_jsonl(path: Path, needed: list[str], optional: list[str]) -> _Records:
    values: dict[str, list] = {name: [] for name in needed + optional}
    lines: list[int] = []
    found: list[str] = []
    blank = 0
    text_lines = _read_text(path).split("\n")
    if text_lines[-1] == "":
        text_lines.pop()  # the newline ending the last line
    for lineno, line in enumerate(text_lines, 1):
        if not line.strip():
            blank += 1
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(path, f"line {lineno}, column {err.colno}", f"not valid JSON: {err.msg}") from None
        if not isinstance(obj, dict):
            raise InputError(path, f"line {lineno}", f"expected a JSON object, found {type(obj).__name__}")
        where = f"data row {len(lines) + 1} (line {lineno})"
        if not lines:
            found = list(obj)
        for name in needed:
            if name not in obj:
                raise _missing(path, where, name, list(obj))
            values[name].append(obj[name])
        for name in optional:
            values[name].append(obj.get(name))
        lines.append(lineno)
    if not lines:
        raise InputError(path, None, "no records (every line is blank)" if blank else "empty file")
    if not any(v is not None for name in optional for v in values[name]):
        for name in optional:
            del values[name]
    return _Records(path, found, values, lines, blank)


def _read_parquet(path: Path, needed: list[str], optional: list[str]) -> _Records:
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise InputError(path, None, "file not found") from None
    except (OSError, pa.ArrowException) as err:
        raise InputError(path, None, f"cannot read Parquet: {err}") from None
    index = _take_columns(path, table.column_names, needed, optional, record=None)
    values = {}
    for name in index:
        column = table.column(name)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
                or pa.types.is_integer(column.type) or pa.types.is_dictionary(column.type)):
            raise InputError(path, None, f"column {name!r} is {column.type}, expected strings or integers")
        values[name] = column.to_pylist()
    return _Records(path, table.column_names, values, None)


READERS = {".csv": _read_csv, ".tsv": _read_tsv, ".jsonl": _read_jsonl, ".parquet": _read_parquet}


def read_labelled(path: str | Path, needed: list[str], optional: list[str] = ()) -> _Records:
    """The ``needed`` (and, when present, ``optional``) columns of a labelled file."""
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    kind = suffixes[-1] if suffixes else ""
    if kind not in READERS:
        raise InputError(path, None, f"unknown file type {kind or '(no suffix)'!r}, expected one of "
                                     f"{list(LABELLED_TYPES)} (optionally .gz for csv, tsv and jsonl)")
    return READERS[kind](path, list(needed), list(optional))


def _text_value(recs: _Records, i: int, column: str) -> str:
    value = recs.values[column][i]
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(recs.path, recs.where(i), f"column {column!r}: the text is empty")
    if not isinstance(value, str):
        raise InputError(recs.path, recs.where(i), f"column {column!r}: expected a string, found {value!r}")
    return value


def _label_value(recs: _Records, i: int, column: str) -> str:
    value = recs.values[column][i]
    if isinstance(value, bool) or not isinstance(value, (str, int, type(None))):
        raise InputError(recs.path, recs.where(i), f"column {column!r}: expected a string or an integer label, "
                                                   f"found {value!r}")
    value = "" if value is None else str(value).strip()
    if not value:
        raise InputError(recs.path, recs.where(i), f"column {column!r}: the label is missing")
    return value


def _label_ids(names: set[str]) -> dict[str, tuple[int, str]]:
    """Label as found -> (class id, label as the LABELS table shows it)."""
    if all(_INTEGER.fullmatch(n) for n in names):
        ints = {n: int(n) for n in names}
        if min(ints.values()) >= 0:
            return {n: (v, str(v)) for n, v in ints.items()}
        order = {v: k for k, v in enumerate(sorted(set(ints.values())))}
        return {n: (order[v], str(v)) for n, v in ints.items()}
    order = {n: k for k, n in enumerate(sorted(names))}
    return {n: (k, n) for n, k in order.items()}


def ingest_labelled(sentences: str | Path, phrases: str | Path, labels: str | Path, *, corpus: str,
                    path: str | Path | None = None, files: dict[str, str | Path] | None = None,
                    text_column: str = "text", label_column: str = "label", split_val: float = 0.1,
                    split_test: float = 0.1, split_seed: int = 1, tokenize: str = "whitespace",
                    report: str | Path | None = None) -> dict:
    """Read labelled sentences and write the SENTENCES, SST_PHRASES and LABELS tables.

    ``path`` (one file: splits from its ``split`` column, else drawn) or ``files``
    (``train``/``val``/``test`` -> file). Everything is read and checked before anything is
    written. Returns (and writes to ``report`` as JSON) rows and tokens per split, blank lines
    skipped per file, the number of lower-cased train word types and the classes.
    """
    sources = _sources(path, files)
    tok = tokenizer(tokenize)
    counts = _Counts()
    # (split, records, record index) of every sentence; records are read whole (labelled
    # corpora are small next to text ones: SST's 12k sentences, IMDB's 50k documents).
    members: list[tuple[str, _Records, int]] = []
    read = []
    for split, src in sources.items():
        optional = ["split"] if not split else []
        recs = read_labelled(src, [text_column, label_column], optional)
        counts.blank_lines[str(src)] = recs.blank
        read.append((split, recs))
    how = "files"
    for split, recs in read:
        n = len(recs) if recs.values else 0
        if split:
            if n == 0:
                raise _empty_split(recs.path, split, "the file has no records")
            members += [(split, recs, i) for i in range(n)]
        elif "split" in recs.values:
            how = "column"
            for i, value in enumerate(recs.values["split"]):
                name = SPLIT_NAMES.get(str(value).strip().lower()) if value is not None else None
                if name is None:
                    raise InputError(recs.path, recs.where(i), f"column 'split': {value!r} is not one of "
                                                               "train, val (dev, valid, validation) or test")
                members.append((name, recs, i))
            for name in SPLITS:
                if not any(m[0] == name for m in members):
                    raise _empty_split(recs.path, name, "no row of the 'split' column names it")
        else:
            how = "drawn"
            _check_fractions(split_val, split_test)
            if n == 0:
                raise InputError(recs.path, None, "no records")
            codes = draw_splits(n, split_val, split_test, split_seed)
            for code, name in enumerate(SPLITS):
                if not (codes == code).any():
                    raise _empty_split(recs.path, name, f"{n} sentence(s) drawn with --split-val {split_val} "
                                                        f"--split-test {split_test}")
            members += [(SPLITS[c], recs, i) for i, c in enumerate(codes.tolist())]
    # train, then val, then test; file order within a split (sorted is stable)
    members.sort(key=lambda m: SPLITS.index(m[0]))
    texts = [_text_value(recs, i, text_column) for _, recs, i in members]
    names = [_label_value(recs, i, label_column) for _, recs, i in members]
    tokens = tok(texts)
    lengths = pc.list_value_length(tokens).to_numpy(zero_copy_only=False)
    for j in np.flatnonzero(lengths == 0)[:1]:
        _, recs, i = members[j]
        raise InputError(recs.path, recs.where(i), f"column {text_column!r}: the text tokenises to nothing")
    ids = _label_ids(set(names))
    norm = [ids[n][1] for n in names]  # "01" and "1" are one integer label
    train_labels = {lab for (split, _, _), lab in zip(members, norm) if split == "train"}
    if not train_labels:
        raise _empty_split(next(iter(sources.values())), "train", how)
    for (split, recs, i), lab in zip(members, norm):
        if lab not in train_labels:
            raise InputError(recs.path, recs.where(i), f"column {label_column!r}: label {lab!r} of split {split} "
                                                       f"never appears in train (train labels: {sorted(train_labels)})")
    by_label = {shown: k for k, shown in ids.values()}
    too_big = [k for k in by_label.values() if k > MAX_LABEL_ID]
    if too_big:
        raise InputError(members[0][1].path, f"column {label_column!r}",
                         f"{len(by_label)} classes with ids up to {max(too_big)}: sentences.label is int8, so class "
                         f"ids must lie in 0-{MAX_LABEL_ID}")
    label_ids = [by_label[lab] for lab in norm]
    split_names = [m[0] for m in members]
    n = len(members)
    for j, split in enumerate(split_names):
        counts.rows[split] += 1
        counts.tokens[split] += int(lengths[j])
    n_train = counts.rows["train"]
    counts.add_train_types(tokens.slice(0, n_train))

    sentences_table = _sentences_batch(corpus, pa.array(split_names, pa.string()), 0, texts, tokens, label_ids)
    phrases_table = conform(pa.table({
        "split": pa.array(split_names, pa.string()),
        "sentence_id": pa.array(np.arange(n, dtype=np.int64)),
        "phrase_id": pa.array(np.zeros(n, np.int32)),
        "parent_id": pa.nulls(n, pa.int32()),
        "start": pa.array(np.zeros(n, np.int32)),
        "end": pa.array(lengths.astype(np.int32)),
        "label": pa.array(label_ids, pa.int8()),
        "is_sentence": pa.array(np.ones(n, bool)),
        "text": pc.binary_join(tokens, " "),
    }), SST_PHRASES, "sst_phrases")
    per_split = {s: {k: 0 for k in by_label.values()} for s in SPLITS}
    for split, k in zip(split_names, label_ids):
        per_split[split][k] += 1
    order = sorted(by_label.items(), key=lambda item: item[1])
    labels_table = conform(pa.table({
        "label_id": pa.array([k for _, k in order], pa.int32()),
        "label": pa.array([shown for shown, _ in order], pa.string()),
        **{s: pa.array([per_split[s][k] for _, k in order], pa.int64()) for s in SPLITS},
    }), LABELS, "labels")
    result = counts.result(corpus=corpus, format="labelled", tokenize=tokenize, splits=how,
                           classes={shown: k for shown, k in order})
    with contextlib.ExitStack() as stack:
        targets = [(sentences, sentences_table), (phrases, phrases_table), (labels, labels_table)]
        tmps = [(stack.enter_context(atomic_path(p)), t) for p, t in targets]
        report_tmp = stack.enter_context(atomic_path(report)) if report is not None else None
        for tmp, table in tmps:
            pq.write_table(table, tmp, compression="zstd", row_group_size=BATCH_ROWS)
        _finish(result, report, report_tmp)
    return result


# --- command line ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Ingest your own corpus (labelled csv/tsv/parquet/jsonl, or plain text) into lingscope's tables.")
    parser.add_argument("--corpus", required=True, help="corpus name, written into sentences.corpus")
    parser.add_argument("--format", required=True, choices=("labelled", "text"))
    parser.add_argument("--path", type=Path, help="one file; splits from its 'split' column (labelled) or drawn")
    parser.add_argument("--train", type=Path, help="train file (with --val and --test instead of --path)")
    parser.add_argument("--val", type=Path, help="validation file")
    parser.add_argument("--test", type=Path, help="test file")
    parser.add_argument("--text-column", default=None, help="labelled only: the sentence column (default text)")
    parser.add_argument("--label-column", default=None, help="labelled only: the class column (default label)")
    parser.add_argument("--split-val", type=float, default=0.1, help="share drawn for val (default 0.1)")
    parser.add_argument("--split-test", type=float, default=0.1, help="share drawn for test (default 0.1)")
    parser.add_argument("--split-seed", type=int, default=1, help="seed of the draw (default 1)")
    parser.add_argument("--tokenize", choices=TOKENIZERS, default="whitespace",
                        help="str.split() or spaCy's English tokenizer (default whitespace)")
    parser.add_argument("--sentences", required=True, type=Path, help="output Parquet (SENTENCES schema)")
    parser.add_argument("--phrases", type=Path, help="labelled only, required: output Parquet (SST_PHRASES schema)")
    parser.add_argument("--labels", type=Path, help="labelled only, required: output Parquet (LABELS schema)")
    parser.add_argument("--report", type=Path, help="optional output JSON: rows, tokens, blank lines, word types")
    args = parser.parse_args(argv)
    files = None
    given = [s for s in SPLITS if getattr(args, s) is not None]
    if given:
        if args.path is not None:
            raise InputError(None, "--path", f"give either --path or --train --val --test, not both (--{given[0]})")
        files = {s: getattr(args, s) for s in SPLITS}
        if len(given) < 3:
            missing = next(s for s in SPLITS if s not in given)
            raise InputError(None, f"--{missing}", "one file per split needs all three of --train --val --test")
    elif args.path is None:
        raise InputError(None, "--path", "give one file (--path) or one per split (--train --val --test)")
    common = dict(corpus=args.corpus, path=args.path, files=files, split_val=args.split_val,
                  split_test=args.split_test, split_seed=args.split_seed, tokenize=args.tokenize, report=args.report)
    if args.format == "labelled":
        for flag in ("phrases", "labels"):
            if getattr(args, flag) is None:
                raise InputError(None, f"--{flag}", "required with --format labelled")
        counts = ingest_labelled(args.sentences, args.phrases, args.labels, text_column=args.text_column or "text",
                                 label_column=args.label_column or "label", **common)
    else:
        for flag in ("phrases", "labels", "text_column", "label_column"):
            if getattr(args, flag) is not None:
                raise InputError(None, "--" + flag.replace("_", "-"), "only for --format labelled")
        counts = ingest_text(args.sentences, **common)
    print(f"{args.sentences}: " + ", ".join(f"{k} {v:,}" for k, v in counts["rows"].items())
          + f"; {counts['train_word_types']:,} train word types")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
