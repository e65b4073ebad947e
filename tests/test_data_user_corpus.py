"""A user's own corpus (lingscope.data.user): labelled csv/tsv/parquet/jsonl and plain text,
through the real CLI on real files, read back from Parquet."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lingscope.core.errors import InputError, run_cli
from lingscope.core.schemas import LABELS, SENTENCES, SST_PHRASES
from lingscope.data import user

ROWS = [  # (text, label, split): real-text quirks in every field
    ('He said "it\'s fine" (really) [sic]', "pos", "train"),
    ("Café déjà vu, naïve résumé", "neg", "train"),
    ("日本語の文 and 中文 mixed", "pos", "train"),
    ("emoji 😀👍🏽 at the end 🎬", "neu", "train"),
    ("commas, and; semicolons: {braces} <angle>", "neg", "train"),
    ("  leading and trailing spaces  ", "pos", "val"),
    ("5' 10\" tall, 'single' quotes", "neg", "val"),
    ("plain test sentence", "neu", "test"),
    ("another one here", "pos", "test"),
]


def _outs(tmp: Path) -> dict[str, Path]:
    return {k: tmp / f"out_{k}.{'json' if k == 'report' else 'parquet'}"
            for k in ("sentences", "phrases", "labels", "report")}


def labelled(tmp: Path, *where, extra=(), outs=None) -> dict[str, Path]:
    outs = outs or _outs(tmp)
    user.main([str(a) for a in ("--corpus", "mine", "--format", "labelled", *where, "--sentences",
                                outs["sentences"], "--phrases", outs["phrases"], "--labels", outs["labels"],
                                "--report", outs["report"], *extra)])
    return outs


def text(tmp: Path, *where, extra=()) -> dict[str, Path]:
    outs = _outs(tmp)
    user.main([str(a) for a in ("--corpus", "lines", "--format", "text", *where, "--sentences", outs["sentences"],
                                "--report", outs["report"], *extra)])
    return outs


def read(outs: dict[str, Path]) -> dict:
    tables = {k: pq.read_table(p) for k, p in outs.items() if k != "report" and p.exists()}
    return {**tables, "report": json.loads(outs["report"].read_text())}


def fails(tmp: Path, argv: list, *needles: str) -> str:
    """Run the CLI expecting an InputError whose message holds every needle; no output remains."""
    argv = [str(a) for a in argv]
    with pytest.raises(InputError) as err:
        user.main(argv)
    message = str(err.value)
    for needle in needles:
        assert needle in message, (needle, message)
    assert run_cli(user.main, argv) == 2
    left = [p.name for p in tmp.iterdir() if p.name.startswith(("out_", ".out_"))]
    assert not left, f"output left after an error: {left}"
    return message


def write_csv(path: Path, header, rows, **kw) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, **kw)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def labelled_args(tmp: Path, rows=ROWS) -> list:
    src = write_csv(tmp / "in.csv", ["text", "label", "split"], rows)
    out = _outs(tmp)
    return ["--corpus", "mine", "--format", "labelled", "--path", src, "--sentences", out["sentences"],
            "--phrases", out["phrases"], "--labels", out["labels"], "--report", out["report"]]


# --- labelled ------------------------------------------------------------------------------


def test_labelled_csv_keeps_real_text_and_writes_three_tables(tmp_path):
    header = "\ufefftext,label,split\r\n"
    body = "".join(
        '"' + t.replace('"', '""') + f'",{lab},{"dev" if s == "val" else s}\r\n' + ("\r\n   \r\n" if i == 2 else "")
        for i, (t, lab, s) in enumerate(ROWS))
    src = tmp_path / "in.csv"
    src.write_bytes((header + body).encode("utf-8"))
    tables = read(labelled(tmp_path, "--path", src))
    s, p, lab, rep = tables["sentences"], tables["phrases"], tables["labels"], tables["report"]
    assert s.schema.equals(SENTENCES) and p.schema.equals(SST_PHRASES) and lab.schema.equals(LABELS)
    assert s.column("text").to_pylist() == [t for t, _, _ in ROWS]  # as written, BOM and CRLF gone
    assert s.column("tokens").to_pylist() == [t.split() for t, _, _ in ROWS]
    assert s.column("split").to_pylist() == [sp for _, _, sp in ROWS]
    assert s.column("sentence_id").to_pylist() == list(range(len(ROWS)))
    assert set(s.column("corpus").to_pylist()) == {"mine"} and s.column("image_id").null_count == len(ROWS)
    ids = {"neg": 0, "neu": 1, "pos": 2}  # string labels numbered in sorted order
    assert s.column("label").to_pylist() == [ids[lb] for _, lb, _ in ROWS]
    assert p.column("phrase_id").to_pylist() == [0] * len(ROWS)
    assert p.column("parent_id").null_count == len(ROWS) and all(p.column("is_sentence").to_pylist())
    assert p.column("end").to_pylist() == [len(t.split()) for t, _, _ in ROWS]
    assert p.column("text").to_pylist() == [" ".join(t.split()) for t, _, _ in ROWS]
    assert p.column("label").to_pylist() == s.column("label").to_pylist()
    assert lab.to_pylist() == [{"label_id": 0, "label": "neg", "train": 2, "val": 1, "test": 0},
                               {"label_id": 1, "label": "neu", "train": 1, "val": 0, "test": 1},
                               {"label_id": 2, "label": "pos", "train": 2, "val": 1, "test": 1}]
    assert rep["rows"] == {"train": 5, "val": 2, "test": 2} and rep["splits"] == "column"
    assert rep["blank_lines"] == {str(src): 2}
    assert rep["tokens"]["train"] == sum(len(t.split()) for t, _, sp in ROWS if sp == "train")
    assert rep["train_word_types"] == len({w.lower() for t, _, sp in ROWS if sp == "train" for w in t.split()})


def test_all_four_file_types_give_identical_tables(tmp_path):
    rows = [(t, lab) for t, lab, _ in ROWS] + [("tab-free \"quoted\" line", "neu"), ("x y z", "pos")] * 10
    files = {
        "csv": write_csv(tmp_path / "c.csv", ["label", "text"], [(lab, t) for t, lab in rows]),
        "tsv": write_csv(tmp_path / "t.tsv", ["label", "text"], [(lab, t) for t, lab in rows], delimiter="\t"),
        "jsonl": write_jsonl(tmp_path / "j.jsonl", [{"text": t, "label": lab, "other": 1} for t, lab in rows]),
        "parquet": tmp_path / "p.parquet",
    }
    pq.write_table(pa.table({"text": [t for t, _ in rows], "label": [lab for _, lab in rows]}), files["parquet"])
    assert '"tab-free ""quoted"" line"' in files["tsv"].read_text()  # csv.writer's quoting, undone by the TSV reader
    results = {}
    for kind, f in files.items():
        (tmp_path / kind).mkdir()
        results[kind] = read(labelled(tmp_path / kind, "--path", f, extra=["--split-seed", "7"]))
    first = results["csv"]
    assert first["sentences"].column("text").to_pylist() != [t for t, _ in rows]  # the draw reorders
    assert sorted(first["sentences"].column("text").to_pylist()) == sorted(t for t, _ in rows)
    for kind, got in results.items():
        for name in ("sentences", "phrases", "labels"):
            assert got[name].equals(first[name]), (kind, name)
        assert got["report"]["rows"] == first["report"]["rows"] == {"train": 23, "val": 3, "test": 3}


def test_gzip_labelled_files_by_magic_bytes(tmp_path):
    plain = write_csv(tmp_path / "a.csv", ["text", "label"], [(t, lab) for t, lab, _ in ROWS])
    (tmp_path / "plain").mkdir()
    (tmp_path / "gz").mkdir()
    zipped = tmp_path / "b.csv.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    a = read(labelled(tmp_path / "plain", "--path", plain, extra=["--split-val", "0.2", "--split-test", "0.2"]))
    b = read(labelled(tmp_path / "gz", "--path", zipped, extra=["--split-val", "0.2", "--split-test", "0.2"]))
    assert a["sentences"].equals(b["sentences"])


def test_tsv_stray_quotes_are_literal_text(tmp_path):
    lines = ['text\tlabel', '"quote opens but never closes\t1', 'she said "no" loudly\t0',
             '"a ""doubled"" quote"\t1', '"inner " stray" kept\t0', '""\t1', 'x"\t0']
    src = tmp_path / "in.tsv"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    files = {"--train": src, "--val": src, "--test": src}
    where = [a for kv in files.items() for a in kv]
    with pytest.raises(InputError, match=r"data row 5 \(line 6\).*'text'.*empty"):  # "" is an empty field
        labelled(tmp_path, *where)
    src.write_text("\n".join(lines[:5] + lines[6:]) + "\n", encoding="utf-8")
    s = read(labelled(tmp_path, *where))["sentences"]
    assert s.column("text").to_pylist()[:5] == ['"quote opens but never closes', 'she said "no" loudly',
                                                'a "doubled" quote', '"inner " stray" kept', 'x"']


def test_label_mapping_integers_keep_their_value(tmp_path):
    rows = [("a b", 3, "train"), ("c", 0, "train"), ("d", 7, "train"), ("e", "3", "val"), ("f", "07", "test")]
    outs = labelled(tmp_path, "--path", write_jsonl(tmp_path / "in.jsonl",
                                                     [{"text": t, "label": lab, "split": s} for t, lab, s in rows]))
    tables = read(outs)
    assert tables["sentences"].column("label").to_pylist() == [3, 0, 7, 3, 7]
    assert tables["labels"].to_pylist() == [{"label_id": 0, "label": "0", "train": 1, "val": 0, "test": 0},
                                            {"label_id": 3, "label": "3", "train": 1, "val": 1, "test": 0},
                                            {"label_id": 7, "label": "7", "train": 1, "val": 0, "test": 1}]
    # negative integers: numbered in sorted numeric order; text "1" is the integer 1
    (tmp_path / "neg").mkdir()
    rows = [("a", "-1", "train"), ("b", "1", "train"), ("c", "-10", "train"), ("d", "1", "val"), ("e", "-1", "test")]
    neg = write_csv(tmp_path / "neg.csv", ["text", "label", "split"], rows)
    tables = read(labelled(tmp_path / "neg", "--path", neg))
    assert tables["labels"].column("label").to_pylist() == ["-10", "-1", "1"]
    assert tables["sentences"].column("label").to_pylist() == [1, 2, 0, 2, 1]


def test_custom_columns_and_the_missing_column_error(tmp_path):
    src = write_csv(tmp_path / "mine.csv", ["sentence", "polarity", "split"], [(t, lab, s) for t, lab, s in ROWS])
    args = labelled_args(tmp_path)
    args[args.index("--path") + 1] = src
    msg = fails(tmp_path, args, str(src), "header", "missing column 'text'", "columns found", "'polarity'")
    assert "'sentence'" in msg
    labelled(tmp_path, "--path", src, extra=["--text-column", "sentence", "--label-column", "polarity"])
    assert read(_outs(tmp_path))["sentences"].num_rows == len(ROWS)


def test_missing_column_in_jsonl_and_parquet(tmp_path):
    j = write_jsonl(tmp_path / "in.jsonl", [{"text": "a", "label": 1}, {"txt": "b", "label": 0}])
    args = labelled_args(tmp_path)
    args[args.index("--path") + 1] = j
    fails(tmp_path, args, str(j), "data row 2 (line 2)", "missing column 'text'", "['txt', 'label']")
    p = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": ["a"], "lab": [1]}), p)
    args[args.index("--path") + 1] = p
    fails(tmp_path, args, str(p), "missing column 'label'", "['text', 'lab']")


def test_empty_text_and_missing_label_name_row_and_column(tmp_path):
    rows = list(ROWS)
    rows[3] = ("   ", "pos", "train")
    fails(tmp_path, labelled_args(tmp_path, rows), "in.csv", "data row 4 (line 5)", "column 'text'", "empty")
    rows = list(ROWS)
    rows[6] = ("fine text", "", "val")
    fails(tmp_path, labelled_args(tmp_path, rows), "in.csv", "data row 7 (line 8)", "column 'label'", "missing")


def test_label_unseen_in_train_names_file_row_and_column(tmp_path):
    train = write_csv(tmp_path / "train.csv", ["text", "label"], [("a", "pos"), ("b", "neg")])
    val = write_csv(tmp_path / "val.csv", ["text", "label"], [("c", "pos"), ("d", "meh")])
    test = write_csv(tmp_path / "test.csv", ["text", "label"], [("e", "neg")])
    args = labelled_args(tmp_path)
    i = args.index("--path")
    args[i:i + 2] = ["--train", train, "--val", val, "--test", test]
    fails(tmp_path, args, str(val), "data row 2 (line 3)", "column 'label'", "'meh'", "never appears in train")


def test_split_with_no_sentences(tmp_path):
    rows = [r for r in ROWS if r[2] != "test"]
    fails(tmp_path, labelled_args(tmp_path, rows), "in.csv", "split 'test' has no sentences")
    rows = [(t, lab, "") for t, lab, _ in ROWS]
    fails(tmp_path, labelled_args(tmp_path, rows), "in.csv", "data row 1 (line 2)", "column 'split'")
    # a draw too small for a val sentence: round(0.1 * 3) = 0
    small = write_csv(tmp_path / "small.csv", ["text", "label"], [("a", 1), ("b", 1), ("c", 1)])
    args = labelled_args(tmp_path)
    args[args.index("--path") + 1] = small
    fails(tmp_path, args, str(small), "split 'val' has no sentences")


def test_non_utf8_byte_in_labelled_file(tmp_path):
    src = tmp_path / "bad.csv"
    src.write_bytes(b"text,label\nfine,1\nbad \xff byte,0\n")
    args = labelled_args(tmp_path)
    args[args.index("--path") + 1] = src
    fails(tmp_path, args, str(src), "line 3", "0xff", "column 5")


def test_too_many_classes_for_int8(tmp_path):
    rows = [(f"w{i}", f"class{i:03d}", s) for i in range(200) for s in ("train", "val", "test")]
    fails(tmp_path, labelled_args(tmp_path, rows), "in.csv", "'label'", "int8")


def test_drawn_split_is_deterministic_for_a_seed(tmp_path):
    rows = [(f"sentence number {i}", i % 3) for i in range(200)]
    src = write_csv(tmp_path / "in.csv", ["text", "label"], rows)
    splits = []
    for k, seed in enumerate((1, 1, 2)):
        (tmp_path / str(k)).mkdir()
        s = read(labelled(tmp_path / str(k), "--path", src, extra=["--split-seed", seed]))["sentences"]
        splits.append(dict(zip(s.column("text").to_pylist(), s.column("split").to_pylist())))
    assert splits[0] == splits[1] and splits[0] != splits[2]
    assert [list(d.values()).count(x) for d in splits[:1] for x in ("train", "val", "test")] == [160, 20, 20]


def test_spacy_tokenizer_drops_whitespace_tokens_and_keeps_case(tmp_path):
    rows = [("Hello,  World!  (It's)  fine.", "a", "train"), ("Don't   stop", "b", "train"),
            ("x", "a", "val"), ("y", "b", "test")]
    s = read(labelled(tmp_path, "--path", write_csv(tmp_path / "in.csv", ["text", "label", "split"], rows),
                      extra=["--tokenize", "spacy"]))["sentences"]
    assert s.column("tokens").to_pylist()[:2] == [["Hello", ",", "World", "!", "(", "It", "'s", ")", "fine", "."],
                                                  ["Do", "n't", "stop"]]
    assert s.column("text").to_pylist()[0] == rows[0][0]


def test_whitespace_tokens_are_str_split():
    texts = ["  a  b\tc ", "x\x1cy", "ideographic\u3000space", "nbsp\xa0here", "nel\x85next", "zero\u200bwidth",
             "tab\t\tand\x0bvt\x0cff", "a"]
    assert user.tokenizer("whitespace")(texts).to_pylist() == [t.split() for t in texts]


# --- text --------------------------------------------------------------------------------


def test_text_real_quirks_blank_lines_long_line_and_many_types(tmp_path, monkeypatch):
    monkeypatch.setattr(user, "BLOCK_BYTES", 4096)  # several blocks, and a line longer than one
    monkeypatch.setattr(user, "BATCH_ROWS", 1000)
    rng = np.random.default_rng(0)
    words = [f"w{i}ord" for i in range(12_000)]
    long = " ".join(words[i % 500] for i in range(2000))
    lines = ["Café (déjà) \"vu\" — 日本語 😀", "  spaced   out  ", long]
    lines += [" ".join(words[j] for j in rng.integers(0, len(words), 8)) for _ in range(3000)]
    lines += [" ".join(words[i:i + 10]) for i in range(0, len(words), 10)]  # every type at least once
    raw = "\ufeff" + "\r\n".join(lines[:5]) + "\r\n\r\n \t \n" + "\n".join(lines[5:]) + "\n\n"
    src = tmp_path / "in.txt"
    src.write_bytes(raw.encode("utf-8"))
    files = {s: src for s in ("--train", "--val", "--test")}
    tables = read(text(tmp_path, *[a for kv in files.items() for a in kv]))
    s, rep = tables["sentences"], tables["report"]
    n = len(lines)
    assert s.schema.equals(SENTENCES)
    assert s.column("text").to_pylist() == lines * 3
    assert s.column("tokens").to_pylist()[:n] == [line.split() for line in lines]
    assert len(s.column("tokens")[2].as_py()) == 2000
    assert s.column("split").to_pylist() == ["train"] * n + ["val"] * n + ["test"] * n
    assert s.column("sentence_id").to_pylist() == list(range(3 * n))
    assert s.column("label").null_count == 3 * n and set(s.column("corpus").to_pylist()) == {"lines"}
    assert rep["blank_lines"] == {str(src): 3} and rep["rows"] == {"train": n, "val": n, "test": n}
    assert rep["train_word_types"] == len({w.lower() for line in lines for w in line.split()}) >= 10_000
    assert rep["tokens"]["train"] == sum(len(line.split()) for line in lines)


def test_text_gzip_by_magic_bytes_and_drawn_split(tmp_path, monkeypatch):
    monkeypatch.setattr(user, "BATCH_ROWS", 64)
    lines = [f"sentence {i} of the corpus" for i in range(500)]
    plain = tmp_path / "plain.txt"
    plain.write_text("\n".join(lines[:250]) + "\n\n" + "\n".join(lines[250:]) + "\n", encoding="utf-8")
    zipped = tmp_path / "zipped.txt"  # gzip without a .gz suffix
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    got = []
    for k, (src, seed) in enumerate(((plain, 1), (zipped, 1), (plain, 2))):
        (tmp_path / str(k)).mkdir()
        got.append(read(text(tmp_path / str(k), "--path", src, extra=["--split-seed", seed])))
    a, b, c = (g["sentences"] for g in got)
    assert a.equals(b)
    assert a.column("text").to_pylist() == lines  # file order, splits drawn
    assert a.column("split").to_pylist() != c.column("split").to_pylist()
    codes = user.draw_splits(500, 0.1, 0.1, 1)
    assert a.column("split").to_pylist() == [("train", "val", "test")[k] for k in codes]
    assert got[0]["report"]["rows"] == {"train": 400, "val": 50, "test": 50}
    assert got[1]["report"]["blank_lines"] == {str(zipped): 1}


def test_text_non_utf8_byte_plain_and_gzip(tmp_path):
    data = "one\ntwo\nthree é\n".encode() + b"bad \xc3\x28 here\n"
    for name, payload in (("bad.txt", data), ("bad.gz", gzip.compress(data))):
        src = tmp_path / name
        src.write_bytes(payload)
        argv = ["--corpus", "c", "--format", "text", "--path", src, "--sentences", tmp_path / "out_s.parquet",
                "--report", tmp_path / "out_r.json"]
        fails(tmp_path, argv, str(src), "line 4", "0xc3", "column 5")
        src.unlink()


def test_text_split_with_no_sentences(tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("a b\nc d\n")
    val = tmp_path / "val.txt"
    val.write_text("\n  \n\n")
    common = ["--corpus", "c", "--format", "text", "--sentences", tmp_path / "out_s.parquet"]
    fails(tmp_path, [*common, "--train", train, "--val", val, "--test", train], str(val),
          "split 'val' has no sentences")
    fails(tmp_path, [*common, "--path", train], str(train), "split 'val' has no sentences")
    fails(tmp_path, [*common, "--path", val], str(val), "no sentences")


def test_cli_flags_checked(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text("a\n")
    common = ["--corpus", "c", "--sentences", tmp_path / "out_s.parquet"]
    fails(tmp_path, [*common, "--format", "text", "--path", src, "--phrases", tmp_path / "out_p.parquet"],
          "--phrases", "labelled")
    fails(tmp_path, [*common, "--format", "labelled", "--path", src], "--phrases", "required")
    fails(tmp_path, [*common, "--format", "text", "--train", src], "--val")
    fails(tmp_path, [*common, "--format", "text", "--path", src, "--split-val", "0.6", "--split-test", "0.5"],
          "--split")


def test_an_unclosed_csv_quote_is_named_where_its_record_starts(tmp_path):
    path = tmp_path / "quotes.csv"
    path.write_text('text,label\nfine,pos\n"never closed,neg\nthird,pos\nfourth,neg\n', encoding="utf-8")
    out = _outs(tmp_path)
    fails(tmp_path, ["--corpus", "mine", "--format", "labelled", "--path", path, "--sentences", out["sentences"],
                     "--phrases", out["phrases"], "--labels", out["labels"]],
          str(path), "data row 2 (line 3)", "unclosed quote")


def test_a_split_column_may_say_validation(tmp_path):
    path = tmp_path / "hf.csv"
    rows = [f"sentence {i},{'pos' if i % 2 else 'neg'},{['train', 'validation', 'test'][i % 3]}" for i in range(12)]
    path.write_text("text,label,split\n" + "\n".join(rows) + "\n", encoding="utf-8")
    tables = read(labelled(tmp_path, "--path", path))
    assert tables["report"]["rows"] == {"train": 4, "val": 4, "test": 4}
