"""Atomic writes and the schema-checked Parquet writer (lingscope.core.io)."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lingscope.core import schemas
from lingscope.core.io import atomic_path, conform, write_parquet


def test_atomic_path_leaves_nothing_when_the_write_fails(tmp_path):
    target = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half a file")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_renames_on_success_with_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("done")
        assert not target.exists()  # nothing at the final name until the write completed
    assert target.read_text() == "done" and oct(target.stat().st_mode & 0o077) != "0o0"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_conform_rejects_missing_extra_and_null_columns():
    good = {"token_id": [0], "token": ["<pad>"], "count": [0]}
    assert conform(pa.table(good), schemas.VOCAB, "vocab").schema.equals(schemas.VOCAB)
    with pytest.raises(ValueError, match=r"missing \['count'\], unexpected \['extra'\]"):
        conform(pa.table({"token_id": [0], "token": ["a"], "extra": [1]}), schemas.VOCAB, "vocab")
    with pytest.raises(ValueError, match="column 'token' has nulls"):
        conform(pa.table({**good, "token": pa.array([None], pa.string())}), schemas.VOCAB, "vocab")


def test_write_parquet_casts_and_compresses(tmp_path):
    path = tmp_path / "v.parquet"
    write_parquet(pa.table({"count": [3], "token": ["a"], "token_id": [7]}), path, schemas.VOCAB, "vocab")
    assert pq.read_schema(path).names == ["token_id", "token", "count"]
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"
