"""WMT ingest (lingscope.data.wmt): the tokenizer, the reader and its errors."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lingscope.data import wmt
from lingscope.core.errors import InputError, run_cli
from lingscope.core.schemas import SENTENCES

FIX = Path(__file__).parent / "fixtures" / "wmt"
TRAIN, TRAIN_GZ, VAL, TEST = FIX / "train.txt", FIX / "train.txt.gz", FIX / "val.txt", FIX / "test.txt"


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        (
            "He said \"it's 3.5 million, isn't it?\"",
            ["He", "said", '"', "it", "'s", "3.5", "million", ",", "is", "n't", "it", "?", '"'],
        ),
        (
            "The U.S. economy grew 2.1% in 2013, Mr. Smith's report said.",
            [
                "The",
                "U.S.",
                "economy",
                "grew",
                "2.1",
                "%",
                "in",
                "2013",
                ",",
                "Mr.",
                "Smith",
                "'s",
                "report",
                "said",
                ".",
            ],
        ),
        (
            "They can't pay $1,200,000 -- we're told...",
            ["They", "ca", "n't", "pay", "$", "1,200,000", "--", "we", "'re", "told", "..."],
        ),
        (
            "A well-known 20-year-old (O'Neill) won.",
            ["A", "well-known", "20-year-old", "(", "O'Neill", ")", "won", "."],
        ),
        ("It’s Bob’s; I'd've WON'T", ["It", "’s", "Bob", "’s", ";", "I", "'d", "'ve", "WO", "N'T"]),
        (
            "In the 1990s, e.g. 'Stop' said 1,000.",
            ["In", "the", "1990s", ",", "e.g.", "'", "Stop", "'", "said", "1,000", "."],
        ),
        ("snake_case café  end", ["snake", "_", "case", "café", "end"]),
    ],
)
def test_tokenize_exact(text, tokens):
    assert wmt.tokenize(text) == tokens


def test_tokenize_loses_only_whitespace():
    text = "Mr. O'Neill's 3,5 \"odd\"–case… $4.2bn, don't!"
    assert "".join(wmt.tokenize(text)) == text.replace(" ", "")


def _ingest(tmp_path, train=TRAIN, val=VAL, test=TEST, **kw):
    out = tmp_path / "sentences.parquet"
    wmt.ingest({"train": train, "val": val, "test": test}, out, **kw)
    return pq.read_table(out)


def test_ingest_table(tmp_path):
    table = _ingest(tmp_path)
    assert table.schema.equals(SENTENCES)
    rows = table.to_pylist()
    lines = (
        TRAIN.read_text("utf-8").splitlines()
        + VAL.read_text("utf-8").splitlines()
        + TEST.read_text("utf-8").splitlines()
    )
    assert [r["text"] for r in rows] == lines
    assert [r["split"] for r in rows] == ["train"] * 6 + ["val"] * 2 + ["test"]
    assert [r["sentence_id"] for r in rows] == list(range(9))
    assert {r["corpus"] for r in rows} == {"wmt"}
    assert all(r["image_id"] is None and r["label"] is None for r in rows)
    assert rows[0]["tokens"] == ["He", "said", '"', "it", "'s", "3.5", "million", ",", "is", "n't", "it", "?", '"']
    assert rows[7]["tokens"] == ["Officials", "did", "n't", "comment", "."]


def test_gzip_and_plain_read_the_same(tmp_path):
    assert gzip.decompress(TRAIN_GZ.read_bytes()) == TRAIN.read_bytes()
    # Detection is by magic bytes: a gzip file without the .gz suffix still reads.
    disguised = tmp_path / "train_gz.txt"
    shutil.copy(TRAIN_GZ, disguised)
    plain = _ingest(tmp_path / "a")
    for i, path in enumerate((TRAIN_GZ, disguised)):
        assert _ingest(tmp_path / f"gz{i}", train=path).equals(plain)


def test_several_batches_keep_ids_running(tmp_path, monkeypatch):
    monkeypatch.setattr(wmt, "BATCH_ROWS", 2)
    table = _ingest(tmp_path)
    assert pq.ParquetFile(tmp_path / "sentences.parquet").metadata.num_row_groups > 3
    assert table.column("sentence_id").to_pylist() == list(range(9))
    assert table.column("text").to_pylist()[:6] == TRAIN.read_text("utf-8").splitlines()


def test_max_lines_caps_train_only(tmp_path):
    table = _ingest(tmp_path, max_lines=4)
    assert table.column("split").to_pylist() == ["train"] * 4 + ["val"] * 2 + ["test"]
    assert table.column("sentence_id").to_pylist() == list(range(7))


def test_line_endings_and_bom(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"\xef\xbb\xbfFirst line.\r\nSecond line\r\nno final newline")
    assert list(wmt.read_lines(path)) == ["First line.", "Second line", "no final newline"]


@pytest.mark.parametrize(
    ("name", "content", "record", "problem"),
    [
        ("latin1.txt", None, "line 2", "not valid UTF-8"),
        ("empty_line.txt", None, "line 3", "empty sentence"),
        ("blank.txt", b"One.\nTwo.\n \t \nFour.\n", "line 3", "empty sentence"),
        ("nothing.txt", b"", None, "no sentences"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, name, content, record, problem):
    path = FIX / name if content is None else tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as err:
        list(wmt.read_lines(path))
    assert err.value.path == str(path) and err.value.record == record
    assert problem in str(err.value) and str(path) in str(err.value)


def test_bad_line_in_gzip(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(b"Fine.\nAlso fine.\nStill fine.\ncaf\xe9\n"))
    with pytest.raises(InputError, match=r"bad\.gz: line 4: not valid UTF-8"):
        list(wmt.read_lines(path))


def test_truncated_gzip(tmp_path):
    path = tmp_path / "cut.txt.gz"
    path.write_bytes(gzip.compress(TRAIN.read_bytes() * 50)[:-40])
    with pytest.raises(InputError, match="corrupt gzip"):
        list(wmt.read_lines(path))


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        _ingest(tmp_path, val=tmp_path / "nope.txt")


@pytest.mark.parametrize("bad", ["latin1.txt", "empty_line.txt"])
def test_main_bad_test_file_returns_2_and_writes_nothing(tmp_path, monkeypatch, capsys, bad):
    # Small batches make sure train rows were already written when the bad file is met.
    monkeypatch.setattr(wmt, "BATCH_ROWS", 2)
    out = tmp_path / "out" / "sentences.parquet"
    argv = ["--train", str(TRAIN), "--val", str(VAL), "--test", str(FIX / bad), "--sentences", str(out)]
    assert run_cli(wmt.main, argv) == 2
    assert list(out.parent.iterdir()) == []
    assert f"{FIX / bad}: line" in capsys.readouterr().err


def test_main_writes_table(tmp_path):
    out = tmp_path / "sentences.parquet"
    argv = [
        "--train",
        str(TRAIN_GZ),
        "--val",
        str(VAL),
        "--test",
        str(TEST),
        "--sentences",
        str(out),
        "--max-lines",
        "2",
    ]
    assert run_cli(wmt.main, argv) == 0
    assert pq.read_table(out).num_rows == 5
