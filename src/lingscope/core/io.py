"""Atomic, schema-checked output.

Every stage writes to a temporary name in the target's folder and renames it into place
only when the write completed, so an interrupted job never leaves a file that looks done.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lingscope.core.errors import InputError


ROW_GROUP_ROWS = 65_536


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success, delete it on error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600; give the result the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=1, sort_keys=False) + "\n")


def conform(table: pa.Table, schema: pa.Schema, name: str) -> pa.Table:
    """Check that ``table`` has exactly the columns of ``schema`` and cast it to those types.

    A missing or extra column is a programming error in lingscope, not user input, so it
    raises ``ValueError`` naming the table and the columns.
    """
    have, want = table.column_names, schema.names
    if set(have) != set(want):
        missing = [c for c in want if c not in have]
        extra = [c for c in have if c not in want]
        raise ValueError(f"table {name!r} does not match its schema: missing {missing}, unexpected {extra}")
    table = table.select(want)
    for field in schema:
        if not field.nullable and table.column(field.name).null_count:
            raise ValueError(f"table {name!r}: column {field.name!r} has nulls but the schema forbids them")
    return table.cast(schema)


def write_parquet(table: pa.Table, path: str | Path, schema: pa.Schema, name: str, **kwargs) -> None:
    """Check ``table`` against ``schema`` and write it atomically as zstd-compressed Parquet."""
    table = conform(table, schema, name)
    kwargs.setdefault("compression", "zstd")
    # Bounded row groups let the streaming stages (dumps, omission) read any corpus in
    # bounded memory, and let readers skip row groups by their statistics.
    kwargs.setdefault("row_group_size", ROW_GROUP_ROWS)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **kwargs)


def require_columns(path: str | Path, needed: list[str]) -> None:
    """Fail with a clear message unless ``path`` is a Parquet file with the ``needed`` columns."""
    try:
        names = pq.read_schema(path).names
    except (OSError, pa.ArrowException) as err:
        raise InputError(path, None, f"cannot read Parquet: {err}") from None
    missing = [c for c in needed if c not in names]
    if missing:
        raise InputError(path, None, f"missing column(s) {missing}; expected at least {needed}")


GZIP_MAGIC = b"\x1f\x8b"


def open_binary(path: str | Path):
    """``path`` open for binary reading, through gzip when it starts with the gzip magic (told by
    the bytes, not the suffix); a missing file, a folder or an unreadable file is an
    :class:`InputError` naming it."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(2)
        return gzip.open(path, "rb") if magic == GZIP_MAGIC else open(path, "rb")
    except FileNotFoundError:
        raise InputError(path, None, "file not found") from None
    except IsADirectoryError:
        raise InputError(path, None, "is a folder, expected a file") from None
    except OSError as err:
        raise InputError(path, None, f"cannot read: {err.strerror or err}") from None
