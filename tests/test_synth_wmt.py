"""The synthetic news corpus (lingscope.synth.wmt), read back by the WMT ingest."""

from __future__ import annotations

import gzip
import re

import pyarrow.parquet as pq

from lingscope.core.errors import run_cli
from lingscope.data import wmt
from lingscope.synth import wmt as synth


def _ingest(tmp_path, train, val, test, **kw):
    out = tmp_path / "sentences.parquet"
    wmt.ingest({"train": train, "val": val, "test": test}, out, **kw)
    return pq.read_table(out)


def _generate(out_dir, seed, n_train=300, n_val=20, n_test=30):
    argv = [
        "--out-dir",
        str(out_dir),
        "--seed",
        str(seed),
        "--n-train",
        str(n_train),
        "--n-val",
        str(n_val),
        "--n-test",
        str(n_test),
    ]
    assert run_cli(synth.main, argv) == 0
    return {name: (out_dir / name).read_bytes() for name in ("train.txt.gz", "val.txt", "test.txt")}


def test_generator_is_deterministic(tmp_path):
    a, b, c = _generate(tmp_path / "a", 7), _generate(tmp_path / "b", 7), _generate(tmp_path / "c", 8)
    assert a == b
    # No file name and mtime 0 in the gzip header (flags byte, then 4 mtime bytes).
    assert a["train.txt.gz"][3:8] == bytes(5)
    assert all(a[name] != c[name] for name in a)
    # Each split has its own stream: resizing train leaves val and test as they were.
    d = _generate(tmp_path / "d", 7, n_train=50)
    assert d["val.txt"] == a["val.txt"] and d["test.txt"] == a["test.txt"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["test.txt", "train.txt.gz", "val.txt"]


def test_generated_text_is_news_like_and_ingests(tmp_path):
    files = _generate(tmp_path, 3, n_train=2000)
    assert files["train.txt.gz"][:2] == wmt.GZIP_MAGIC and files["val.txt"][:2] != wmt.GZIP_MAGIC
    lines = gzip.decompress(files["train.txt.gz"]).decode("utf-8").splitlines()
    assert len(lines) == 2000 and len(files["val.txt"].decode().splitlines()) == 20
    assert all(line[0].isupper() or line[0] in '"$£€' or line[0].isdigit() for line in lines)
    assert all(line.endswith((".", '."', '?"')) for line in lines)
    assert not [line for line in lines if re.search(r"  | [,.%]|,[,.?:]|_", line)]
    lengths = [len(wmt.tokenize(line)) for line in lines]
    assert 17 <= sum(lengths) / len(lengths) <= 24 and min(lengths) < 10 and max(lengths) > 40
    text = "\n".join(lines)
    for feature in (" said", ', "', "n't ", "'s ", " which ", "%", " million", ","):
        assert feature in text, feature
    table = _ingest(tmp_path, train=tmp_path / "train.txt.gz", val=tmp_path / "val.txt", test=tmp_path / "test.txt")
    assert table.num_rows == 2050 and table.column("text").to_pylist()[:2000] == lines


def test_generator_rejects_bad_counts(tmp_path, capsys):
    argv = ["--out-dir", str(tmp_path), "--seed", "1", "--n-train", "0", "--n-val", "1", "--n-test", "1"]
    assert run_cli(synth.main, argv) == 2
    assert "--n-train" in capsys.readouterr().err and not any(tmp_path.iterdir())
