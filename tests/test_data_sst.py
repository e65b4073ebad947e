"""SST: the trainDevTestTrees_PTB reader (lingscope.data.sst)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lingscope.core.errors import InputError, run_cli
from lingscope.core.schemas import SENTENCES, SST_PHRASES
from lingscope.data import sst as data_sst

FIXTURES = Path(__file__).parent / "fixtures" / "sst"


def _ingest(trees_dir: Path, out: Path) -> tuple[dict, dict]:
    data_sst.ingest(trees_dir, out / "sentences.parquet", out / "phrases.parquet")
    return (pq.read_table(out / "sentences.parquet").to_pydict(), pq.read_table(out / "phrases.parquet").to_pydict())


# ---------------------------------------------------------------------------------- reader


def test_fixture_sentences(tmp_path):
    sentences, _ = _ingest(FIXTURES, tmp_path)
    assert sentences["corpus"] == ["sst"] * 7
    assert sentences["split"] == ["train"] * 3 + ["val"] * 2 + ["test"] * 2
    assert sentences["sentence_id"] == list(range(7))
    assert sentences["image_id"] == [None] * 7
    assert sentences["label"] == [3, 1, 2, 0, 3, 2, 4]
    assert sentences["text"][1] == "The ( Rock ) is n't good ."  # the treebank's escapes undone in the text
    assert sentences["tokens"][1] == ["The", "-LRB-", "Rock", "-RRB-", "is", "n't", "good", "."]
    assert sentences["tokens"][2] == ["Yes"]
    assert sentences["text"][4] == "Amélie 's charm ."


def test_fixture_phrases(tmp_path):
    _, phrases = _ingest(FIXTURES, tmp_path)
    assert len(phrases["phrase_id"]) == 9 + 15 + 1 + 9 + 7 + 5 + 5
    assert Counter(phrases["split"]) == {"train": 25, "val": 16, "test": 10}
    rows = [dict(zip(phrases, vals)) for vals in zip(*phrases.values())]
    first = [(r["phrase_id"], r["parent_id"], r["start"], r["end"], r["label"], r["text"]) for r in rows if r["sentence_id"] == 0]
    assert first == [
        (0, None, 0, 5, 3, "It 's a lovely film"),
        (1, 0, 0, 1, 2, "It"),
        (2, 0, 1, 5, 4, "'s a lovely film"),
        (3, 2, 1, 2, 2, "'s"),
        (4, 2, 2, 5, 4, "a lovely film"),
        (5, 4, 2, 3, 2, "a"),
        (6, 4, 3, 5, 4, "lovely film"),
        (7, 6, 3, 4, 3, "lovely"),
        (8, 6, 4, 5, 2, "film"),
    ]
    second = {r["phrase_id"]: r for r in rows if r["sentence_id"] == 1}
    assert (second[8]["start"], second[8]["end"], second[8]["parent_id"], second[8]["label"]) == (4, 8, 0, 1)
    assert (second[11]["text"], second[11]["parent_id"], second[11]["label"]) == ("n't good", 9, 1)
    assert (second[14]["text"], second[14]["start"], second[14]["parent_id"]) == (".", 7, 8)
    single = [r for r in rows if r["sentence_id"] == 2]
    assert [(r["phrase_id"], r["parent_id"], r["start"], r["end"], r["is_sentence"]) for r in single] == [(0, None, 0, 1, True)]
    # exactly the roots are sentence-level, and they carry the sentence label
    assert [(r["sentence_id"], r["label"]) for r in rows if r["is_sentence"]] == list(enumerate([3, 1, 2, 0, 3, 2, 4]))
    assert all((r["phrase_id"] == 0) == r["is_sentence"] and (r["parent_id"] is None) == r["is_sentence"] for r in rows)


def test_tables_match_schemas(tmp_path):
    _ingest(FIXTURES, tmp_path)
    assert pq.read_schema(tmp_path / "sentences.parquet").remove_metadata().equals(SENTENCES.remove_metadata())
    phrases_schema = pq.read_schema(tmp_path / "phrases.parquet")
    assert [(f.name, f.type, f.nullable) for f in phrases_schema] == [(f.name, f.type, f.nullable) for f in SST_PHRASES]


def test_parse_tree_whitespace_and_crlf():
    tree = data_sst.parse_tree("  ( 3 (2 a)\t( 4 good ) )\r")
    assert tree.tokens == ["a", "good"]
    assert (tree.parent, tree.start, tree.end, tree.label) == ([None, 0, 0], [0, 0, 1], [2, 1, 2], [3, 2, 4])


BAD_LINES = [
    pytest.param(b"(2 (2 a) (2 b))\n(2 caf\xe9)\n", "line 2, byte 7", "UTF-8", id="non-utf8"),
    pytest.param(b"(2 (2 a) (2 b)\n", "line 1", "unbalanced", id="unclosed"),
    pytest.param(b"(2 a)\n(2 (2 a) (2 b)))\n", "line 2, column 16", "unbalanced", id="extra-close"),
    pytest.param(b"((2 a) (2 b))\n", "line 1, column 2", "integer label", id="missing-label"),
    pytest.param(b"(2 (2 a) (pos b))\n", "line 1, column 11", "integer label", id="non-integer-label"),
    pytest.param(b"(2 (2 a) (\n", "line 1", "integer label", id="label-at-eol"),
    pytest.param(b"(2 a)\n(5 (2 a) (2 b))\n", "line 2, column 2", "outside 0-4", id="mislabelled-high"),
    pytest.param(b"(2 (-1 a) (2 b))\n", "line 1, column 5", "outside 0-4", id="mislabelled-negative"),
    pytest.param(b"(2 (2 a) (3))\n", "line 1, column 12", "empty node", id="no-children"),
    pytest.param(b"(2 (2 a) (2 ))\n", "line 1, column 13", "empty node", id="empty-leaf"),
    pytest.param(b"(2 a b)\n", "line 1, column 6", "second word", id="two-words"),
    pytest.param(b"(2 (2 a) b)\n", "line 1, column 10", "after a subtree", id="word-after-subtree"),
    pytest.param(b"(2 a) extra\n", "line 1, column 7", "end of the line", id="trailing-word"),
    pytest.param(b"(2 a)\n(2 a) (2 b)\n", "line 2, column 7", "end of the line", id="trailing-tree"),
    pytest.param(b"junk (2 a)\n", "line 1, column 1", "expected '('", id="text-before"),
    pytest.param(b"(2 a)\n\n(2 b)\n", "line 2", "empty line", id="empty-line"),
    pytest.param(b"(2 a)\n   \n", "line 2", "empty line", id="blank-last-line"),
    pytest.param(b"", None, "empty", id="empty-file"),
    pytest.param(b"\n", None, "empty", id="newline-only-file"),
]


def _split_dir(tmp_path: Path, name: str, content: bytes) -> Path:
    trees = tmp_path / "trees"
    shutil.copytree(FIXTURES, trees)
    (trees / name).write_bytes(content)
    return trees


@pytest.mark.parametrize("content,record,problem", BAD_LINES)
def test_bad_input_raises(tmp_path, content, record, problem):
    trees = _split_dir(tmp_path, "dev.txt", content)
    with pytest.raises(InputError) as info:
        data_sst.read_split_dir(trees)
    message = str(info.value)
    assert "dev.txt" in message
    assert problem in message
    if record is not None:
        assert info.value.record == record
        assert record in message


def test_missing_split_file(tmp_path):
    trees = tmp_path / "trees"
    shutil.copytree(FIXTURES, trees)
    (trees / "test.txt").unlink()
    with pytest.raises(InputError, match=r"test\.txt.*missing split file"):
        data_sst.read_split_dir(trees)


@pytest.mark.parametrize("content", [b"(2 (2 a) (7 b))\n", b"(2 a\n", b"\xff\n"])
def test_main_bad_file_exits_2_and_writes_nothing(tmp_path, capsys, content):
    trees = _split_dir(tmp_path, "test.txt", content)
    out = tmp_path / "out"
    argv = ["--trees-dir", str(trees), "--sentences", str(out / "s.parquet"), "--phrases", str(out / "p.parquet")]
    assert run_cli(data_sst.main, argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lingscope: error: ") and "test.txt: line 1" in err and "\n" not in err
    assert not out.exists() or not any(out.iterdir())


def test_module_cli_exit_codes(tmp_path):
    trees = _split_dir(tmp_path, "train.txt", b"(2 (2 a) (2 b))\n(2 (2 a) (2 b)\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lingscope.data.sst", "--trees-dir", str(trees),
           "--sentences", str(out / "s.parquet"), "--phrases", str(out / "p.parquet")]
    bad = subprocess.run(cmd, capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "train.txt: line 2" in bad.stderr
    assert not (out / "s.parquet").exists() and not (out / "p.parquet").exists()
    shutil.copy(FIXTURES / "train.txt", trees / "train.txt")
    good = subprocess.run(cmd, capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    assert pq.read_table(out / "s.parquet").num_rows == 7
