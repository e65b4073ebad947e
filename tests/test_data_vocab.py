"""Vocabulary building (lingscope.data.vocab)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lingscope.data import vocab
from lingscope.encoding import ids
from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet
from lingscope.core.schemas import SENTENCES, VOCAB

ROWS = [
    ("train", ["The", "cat", "sat", "."]),
    ("train", ["the", "dog", "sat", "."]),
    ("train", ["A", "dog", "!", "The", "END"]),
    ("val", ["zebra", "zebra", "zebra", "the"]),
    ("test", ["yak", "yak", "yak", "yak"]),
]
# Lower-cased train counts: the 3, sat 2, . 2, dog 2, cat 1, a 1, ! 1, end 1.
EXPECTED = [
    ("<pad>", 0),
    ("<unk>", 0),
    ("<eos>", 0),
    ("the", 3),
    (".", 2),
    ("dog", 2),
    ("sat", 2),
    ("!", 1),
    ("a", 1),
    ("cat", 1),
    ("end", 1),
]


def _sentences(path, rows=ROWS):
    table = pa.table(
        {
            "corpus": ["wmt"] * len(rows),
            "split": [s for s, _ in rows],
            "sentence_id": list(range(len(rows))),
            "image_id": pa.nulls(len(rows), pa.int64()),
            "label": pa.nulls(len(rows), pa.int8()),
            "text": [" ".join(t) for _, t in rows],
            "tokens": [t for _, t in rows],
        }
    )
    write_parquet(table, path, SENTENCES, "sentences")
    return path


def _run(tmp_path, *extra, rows=ROWS):
    src = _sentences(tmp_path / "sentences.parquet", rows)
    out = tmp_path / "vocab.parquet"
    assert run_cli(vocab.main, ["--sentences", str(src), "--out", str(out), *extra]) == 0
    table = pq.read_table(out)
    assert table.schema.equals(VOCAB)
    assert table.column("token_id").to_pylist() == list(range(table.num_rows))
    return list(zip(table.column("token").to_pylist(), table.column("count").to_pylist()))


def test_counts_exact_train_only(tmp_path):
    assert _run(tmp_path, "--min-count", "1") == EXPECTED


def test_counts_merge_across_batches(tmp_path, monkeypatch):
    monkeypatch.setattr(vocab, "BATCH_ROWS", 1)
    assert _run(tmp_path, "--min-count", "1") == EXPECTED
    rows = [("train", ["the"])] * 5 + [("val", ["x"])] * 3 + [("train", ["The", "x"])]
    assert _run(tmp_path, "--min-count", "1", rows=rows) == [*EXPECTED[:3], ("the", 6), ("x", 1)]


def test_min_count(tmp_path):
    assert _run(tmp_path, "--min-count", "2") == EXPECTED[:7]
    assert _run(tmp_path, "--min-count", "4") == EXPECTED[:3]


def test_max_size_includes_specials(tmp_path):
    assert _run(tmp_path, "--min-count", "1", "--max-size", "5") == EXPECTED[:5]
    assert _run(tmp_path, "--min-count", "1", "--max-size", "3") == EXPECTED[:3]
    assert _run(tmp_path, "--min-count", "1", "--max-size", "100") == EXPECTED


def test_build_vocab_matches_cli(tmp_path):
    train = [t for s, t in ROWS if s == "train"]
    assert vocab.build_vocab(train, 1) == EXPECTED
    assert vocab.build_vocab(train, 2, max_size=5) == EXPECTED[:5]
    # Python's lower-casing is used on both paths, even where Arrow's would differ.
    rows = [("train", ["İstanbul", "istanbul", "ΟΔΟΣ", "οδος", "<UNK>", "Straße"])]
    assert _run(tmp_path, "--min-count", "1", rows=rows) == vocab.build_vocab([rows[0][1]], 1)


def test_specials_first_and_not_counted():
    got = vocab.build_vocab([["<unk>", "<eos>", "x", "<pad>"]], 1)
    assert got == [("<pad>", 0), ("<unk>", 0), ("<eos>", 0), ("x", 1)]
    assert [t for t, _ in got[:3]] == [ids.PAD, ids.UNK, ids.EOS]
    assert (ids.PAD_ID, ids.UNK_ID, ids.EOS_ID) == (0, 1, 2)


def test_bad_arguments():
    with pytest.raises(ValueError):
        vocab.build_vocab([], 0)
    with pytest.raises(ValueError):
        vocab.build_vocab([], 1, max_size=2)


def test_encode_and_load(tmp_path):
    _run(tmp_path, "--min-count", "1")
    token_to_id = ids.load_vocab_checked(tmp_path / "vocab.parquet")
    assert token_to_id["the"] == 3 and token_to_id["<unk>"] == 1
    assert ids.encode(["The", "DOG", "zebra", "yak", "."], token_to_id) == [3, 5, 1, 1, 4]
    assert ids.encode([], token_to_id) == []
    # The vectorised encoder agrees with the plain one, case folding included.
    forms = pa.array(["The", "DOG", "zebra", "yak", ".", "the"])
    assert ids.encode_forms(forms, token_to_id).tolist() == ids.encode(forms.to_pylist(), token_to_id)


@pytest.mark.parametrize(
    ("rows", "columns", "problem"),
    [
        ([("val", ["a"]), ("test", ["b"])], None, "no sentences in the train split"),
        ([("train", []), ("val", ["a"])], None, "no tokens in the train split"),
        (ROWS, ["corpus", "split", "text"], "missing column(s) tokens"),
    ],
)
def test_bad_input(tmp_path, capsys, rows, columns, problem):
    src = _sentences(tmp_path / "sentences.parquet", rows)
    if columns:
        pq.write_table(pq.read_table(src, columns=columns), src)
    out = tmp_path / "vocab.parquet"
    with pytest.raises(InputError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        vocab.count_train_tokens(src)
    assert run_cli(vocab.main, ["--sentences", str(src), "--out", str(out), "--min-count", "1"]) == 2
    assert f"{src}: {problem}" in capsys.readouterr().err
    assert not out.exists()


def test_bad_cli_values(tmp_path, capsys):
    src = _sentences(tmp_path / "sentences.parquet")
    for extra, flag in ((["--min-count", "0"], "--min-count"), (["--min-count", "1", "--max-size", "2"], "--max-size")):
        assert run_cli(vocab.main, ["--sentences", str(src), "--out", str(tmp_path / "v.parquet"), *extra]) == 2
        assert flag in capsys.readouterr().err
    assert not (tmp_path / "v.parquet").exists()
