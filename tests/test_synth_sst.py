"""The synthetic sentiment treebank (lingscope.synth.sst): the grammar, and the generator's
trees read back by the SST reader."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lingscope.core.errors import run_cli
from lingscope.data import sst as data_sst
from lingscope.synth import sst as synth_sst


def _ingest(trees_dir: Path, out: Path) -> tuple[dict, dict]:
    data_sst.ingest(trees_dir, out / "sentences.parquet", out / "phrases.parquet")
    return (pq.read_table(out / "sentences.parquet").to_pydict(), pq.read_table(out / "phrases.parquet").to_pydict())


# ---------------------------------------------------------------------------------- grammar


def test_cut_points():
    assert [synth_sst.label_of(v) for v in (-1, -0.6, -0.59, -0.2, -0.19, 0, 0.19, 0.2, 0.59, 0.6, 1)] == [
        0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4]


def test_negation_asymmetry():
    not_bad, not_good = synth_sst.compose("not bad"), synth_sst.compose("not good")
    assert synth_sst.compose("bad").label == 1 and synth_sst.compose("good").label == 3
    assert not_bad.label in (2, 3) and abs(not_bad.value) < 0.2
    assert not_good.label <= 1
    # the asymmetry: negation moves a negative much less than a positive
    assert abs(not_bad.value) < abs(not_good.value)
    assert synth_sst.compose("not awful").label <= 3 and synth_sst.compose("not great").label <= 1


def test_intensifiers_scale():
    good, very_good = synth_sst.compose("good"), synth_sst.compose("very good")
    assert very_good.value > good.value and very_good.label > good.label
    assert synth_sst.compose("incredibly dull").value < synth_sst.compose("dull").value
    assert 0 < synth_sst.compose("somewhat good").value < good.value


def test_concessives_dominant_clause_wins():
    hate = synth_sst.compose("i hate the movie though the plot is interesting .")
    assert hate.label <= 1
    love = synth_sst.compose("the plot is dull but i love the acting .")
    assert love.label >= 3
    fronted = synth_sst.compose("although the plot is interesting , i hate the movie .")
    assert fronted.label <= 1
    assert synth_sst.compose("it 's not a bad film , though the plot is thin .").label == 2


def test_compose_bracketing_and_format():
    tree = synth_sst.compose("an incredibly dull script")
    assert synth_sst.format_tree(tree) == "(0 (2 an) (0 (0 (2 incredibly) (1 dull)) (2 script)))"
    sentence = synth_sst.compose("the movie is very good .")
    assert synth_sst.format_tree(sentence) == "(4 (4 (2 (2 the) (2 movie)) (4 (2 is) (4 (2 very) (3 good)))) (2 .))"
    assert sentence.leaves() == "the movie is very good .".split()
    with pytest.raises(ValueError):
        synth_sst.compose("good the movie")
    with pytest.raises(ValueError):
        synth_sst.compose("the zorblax is good")


# ---------------------------------------------------------------------------------- generator


def _generate(out: Path, seed: int, sizes=(120, 30, 40)) -> dict[str, bytes]:
    synth_sst.generate(out, seed, *sizes)
    return {name: (out / name).read_bytes() for name in ("train.txt", "dev.txt", "test.txt")}


def test_generator_is_deterministic(tmp_path):
    a, b = _generate(tmp_path / "a", 7), _generate(tmp_path / "b", 7)
    assert a == b
    assert _generate(tmp_path / "c", 8) != a
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["dev.txt", "test.txt", "train.txt"]


def test_generated_trees_reparse_binary(tmp_path):
    trees = tmp_path / "trees"
    _generate(trees, 3)
    sentences, phrases = _ingest(trees, tmp_path)
    assert Counter(sentences["split"]) == {"train": 120, "val": 30, "test": 40}
    assert len(set(sentences["text"])) == 190  # unique across splits
    children = Counter((s, p) for s, p in zip(phrases["sentence_id"], phrases["parent_id"]) if p is not None)
    for sid, pid, start, end in zip(phrases["sentence_id"], phrases["phrase_id"], phrases["start"], phrases["end"]):
        n = children.get((sid, pid), 0)
        assert n == 2 or (n == 0 and end - start == 1), (sid, pid, n)
    assert set(phrases["label"]) == {0, 1, 2, 3, 4}
    assert set(sentences["label"]) == {0, 1, 2, 3, 4}
    # each written line is exactly what compose gives for its words
    for text, label in zip(sentences["text"][:50], sentences["label"][:50]):
        assert synth_sst.compose(text).label == label


def test_generator_cli_rejects_bad_sizes(tmp_path, capsys):
    argv = ["--out-dir", str(tmp_path), "--seed", "1", "--n-train", "0", "--n-val", "1", "--n-test", "1"]
    assert run_cli(synth_sst.main, argv) == 2
    assert "--n-train" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
