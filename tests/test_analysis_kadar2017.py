"""Kadar et al.'s omission analyses on small constructed inputs: distributions (Figs. 2-3) and examples (Fig. 1)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from lingscope.analysis.kadar2017 import distributions, examples
from lingscope.core.schemas import (
    OMISSION_BY_LABEL,
    OMISSION_EXAMPLES,
    OMISSION,
    OMISSION_LOG_RATIO,
    RETRIEVAL_EXAMPLES,
    TABLES,
    TOKENS,
)
from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet

# (token, xpos, deprel, VISUAL's score, TEXTUAL's score): nouns matter to VISUAL, determiners to TEXTUAL
WORDS = {
    "dog": ("NN", "nsubj", 0.5, 0.1),
    "the": ("DT", "det", 0.01, 0.2),
    "black": ("JJ", "amod", 0.3, 0.1),
}


def tokens_frame(n_nouns: int = 10, n_dets: int = 10, n_adjs: int = 4) -> pl.DataFrame:
    """One sentence per noun, reading 'the [black] dog'; the adjective in the first n_adjs only."""
    rows = []
    for s in range(max(n_nouns, n_dets)):
        words = (["the"] if s < n_dets else []) + (["black"] if s < n_adjs else []) + (["Dog"] if s < n_nouns else [])
        for position, token in enumerate(words, start=1):
            rows.append({"sentence_id": 1000 + s, "position": position, "token": token})
    return pl.DataFrame(rows)


def labelled(frame: pl.DataFrame) -> pl.DataFrame:
    lower = frame["token"].str.to_lowercase()
    return frame.with_columns(xpos=lower.replace_strict({w: v[0] for w, v in WORDS.items()}),
                              deprel=lower.replace_strict({w: v[1] for w, v in WORDS.items()}))


def omission_table(frame: pl.DataFrame, model: str, pathway: str):
    """An OMISSION table (no parse labels: the analyses join them from the parse)."""
    column = 2 if pathway == "visual" else 3
    lower = frame["token"].str.to_lowercase()
    return frame.with_columns(
        model=pl.lit(model), pathway=pl.lit(pathway),
        omission=lower.replace_strict({w: v[column] for w, v in WORDS.items()}, return_dtype=pl.Float64),
    ).to_arrow()


def scored(frame: pl.DataFrame, model: str, pathway: str) -> pl.DataFrame:
    """An omission table joined with its labels, as the analyses see it."""
    return labelled(pl.from_arrow(omission_table(frame, model, pathway)))


def write_parse(path, frame: pl.DataFrame) -> str:
    """The TOKENS table of the sentences in ``frame``, with the words' tags and labels."""
    parse = labelled(frame).select("sentence_id", "position", pl.col("token").alias("form"), "xpos", "deprel",
                                   lemma=pl.lit(None, pl.String), upos=pl.lit("X"), head=pl.lit(0, pl.Int32))
    write_parquet(parse.to_arrow(), path, TOKENS, "tokens")
    return str(path)


def write_omission(folder, frame=None) -> list[str]:
    frame = tokens_frame() if frame is None else frame
    paths = []
    for pathway in ("visual", "textual"):
        path = folder / f"imaginet.{pathway}.parquet"
        write_parquet(omission_table(frame, "imaginet", pathway), path, OMISSION, "omission")
        paths.append(str(path))
    write_parse(folder / "tokens.parquet", frame)
    return paths


def test_every_analysis_column_is_documented():
    for schema in TABLES.values():
        for field in schema:
            assert field.metadata and field.metadata[b"doc"], field.name


# --- distributions (Figs. 2 and 3) --------------------------------------------------------

def test_label_summary_keeps_only_labels_with_min_count():
    frame = scored(tokens_frame(10, 8, 4), "imaginet", "visual")
    kept = distributions.label_summary(frame, "omission", "xpos", 5)
    assert kept["label"].to_list() == ["DT", "NN"] and kept["n"].to_list() == [8, 10]
    assert kept["label"].to_list() == sorted(kept["label"])
    assert distributions.label_summary(frame, "omission", "xpos", 4)["label"].to_list() == ["DT", "JJ", "NN"]
    assert distributions.label_summary(frame, "omission", "deprel", 9)["label"].to_list() == ["nsubj"]
    values = np.array([0.0, 1.0, 2.0, 10.0])
    quartiles = distributions.label_summary(pl.DataFrame({"xpos": ["X"] * 4, "v": values}), "v", "xpos", 1)
    assert quartiles.row(0, named=True) == pytest.approx(
        {"label_kind": "xpos", "label": "X", "n": 4, "mean": 3.25, "median": 1.5,
         "q25": np.quantile(values, 0.25), "q75": np.quantile(values, 0.75)})


def test_log_ratio_is_positive_where_visual_is_more_sensitive():
    frame = tokens_frame()
    visual, textual = scored(frame, "imaginet", "visual"), scored(frame, "imaginet", "textual")
    tokens = distributions.log_ratio_tokens(visual, textual)
    by_label = distributions.log_ratio_by_label(tokens, min_count=1)
    median = dict(zip(by_label.filter(pl.col("label_kind") == "xpos")["label"],
                      by_label.filter(pl.col("label_kind") == "xpos")["median"]))
    assert median["NN"] == pytest.approx(math.log(0.5 / 0.1)) and median["NN"] > 0
    assert median["DT"] == pytest.approx(math.log(0.01 / 0.2)) and median["DT"] < 0
    # a zero score is floored at epsilon instead of giving an infinite ratio
    zeroed = visual.with_columns(omission=pl.when(pl.col("xpos") == "DT").then(0.0).otherwise(pl.col("omission")))
    ratios = distributions.log_ratio_tokens(zeroed, textual, epsilon=1e-6).filter(pl.col("xpos") == "DT")["log_ratio"]
    assert ratios.to_list() == pytest.approx([math.log(1e-6 / 0.2)] * len(ratios))
    # the two tables must describe the same words
    with pytest.raises(InputError, match="sentence 1000 position 1"):
        distributions.log_ratio_tokens(visual, textual.with_columns(token=pl.lit("cat")))


def distribution_argv(paths: list[str], out, min_count: int = 5, tokens=None) -> list[str]:
    tokens = tokens or str(Path(paths[0]).parent / "tokens.parquet")
    return ["--omission", *paths, "--tokens", tokens, "--min-count", str(min_count),
            "--by-label", str(out / "by_label.parquet"), "--log-ratio", str(out / "log_ratio.parquet"),
            "--fig2-xpos", str(out / "fig2_xpos.png"), "--fig2-deprel", str(out / "fig2_deprel.png"),
            "--fig3-xpos", str(out / "fig3_xpos.png"), "--fig3-deprel", str(out / "fig3_deprel.png")]


def test_distributions_cli_writes_schema_tables_and_png_svg_pairs(tmp_path):
    paths = write_omission(tmp_path)
    assert run_cli(distributions.main, distribution_argv(paths, tmp_path / "a")) == 0
    out = tmp_path / "a"
    assert pq.read_schema(out / "by_label.parquet").remove_metadata().equals(OMISSION_BY_LABEL.remove_metadata())
    assert pq.read_schema(out / "log_ratio.parquet").remove_metadata().equals(OMISSION_LOG_RATIO.remove_metadata())
    by_label = pl.read_parquet(out / "by_label.parquet")
    assert set(by_label["network"]) == {"Visual", "Textual"}
    assert set(by_label.filter(pl.col("label_kind") == "xpos")["label"]) == {"NN", "DT"}  # JJ: 4 < 5 tokens
    assert set(by_label.filter(pl.col("label_kind") == "deprel")["label"]) == {"nsubj", "det"}
    visual_nn = by_label.filter((pl.col("network") == "Visual") & (pl.col("label") == "NN")).row(0, named=True)
    assert visual_nn["n"] == 10 and visual_nn["median"] == pytest.approx(0.5)
    log_ratio = pl.read_parquet(out / "log_ratio.parquet").filter(pl.col("label_kind") == "deprel").sort("label")
    assert log_ratio["label"].to_list() == ["det", "nsubj"]
    assert log_ratio["median"][0] < 0 < log_ratio["median"][1]
    for stem in ("fig2_xpos", "fig2_deprel", "fig3_xpos", "fig3_deprel"):
        assert (out / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
        assert b"<svg" in (out / f"{stem}.svg").read_bytes()[:500]
    # same inputs, same bytes: figures and tables are reproducible
    assert run_cli(distributions.main, distribution_argv(paths, tmp_path / "b")) == 0
    for name in ("by_label.parquet", "log_ratio.parquet", "fig3_xpos.png", "fig3_xpos.svg", "fig2_deprel.svg"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_distributions_cli_names_file_and_missing_column(tmp_path, capsys):
    paths = write_omission(tmp_path)
    broken = tmp_path / "broken.parquet"
    pq.write_table(pq.read_table(tmp_path / "tokens.parquet").drop_columns(["deprel"]), broken)
    assert run_cli(distributions.main, distribution_argv(paths, tmp_path / "out", tokens=str(broken))) == 2
    err = capsys.readouterr().err
    assert str(broken) in err and "'deprel'" in err and "missing" in err
    assert not (tmp_path / "out").exists()
    broken = tmp_path / "omission.parquet"
    pq.write_table(pq.read_table(paths[1]).drop_columns(["token"]), broken)
    assert run_cli(distributions.main, distribution_argv([paths[0], str(broken)], tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert str(broken) in err and "'token'" in err and "missing" in err


def test_labels_come_from_the_parse_and_must_match_its_words(tmp_path, capsys):
    """The omission tables carry no labels: a word's xpos and deprel are the parse's, and a
    parse of other sentences (or other words) is refused, naming the sentence and position."""
    paths = write_omission(tmp_path)
    frames = distributions.read_omission(paths, ["sentence_id", "position", "token", "xpos", "deprel", "model",
                                                 "pathway", "omission"], tmp_path / "tokens.parquet")
    visual = frames["Visual"]
    assert visual.filter(pl.col("token") == "Dog")["xpos"].unique().to_list() == ["NN"]
    assert visual.filter(pl.col("token") == "the")["deprel"].unique().to_list() == ["det"]
    parse = pl.read_parquet(tmp_path / "tokens.parquet")
    other = parse.with_columns(form=pl.when(pl.col("position") == 2).then(pl.lit("cat")).otherwise(pl.col("form")))
    lost = parse.filter(pl.col("sentence_id") != 1003)
    for name, frame, expected in (("other", other, "has 'cat'"), ("lost", lost, "has no token in the parse")):
        path = tmp_path / f"{name}.parquet"
        write_parquet(frame.to_arrow(), path, TOKENS, "tokens")
        assert run_cli(distributions.main, distribution_argv(paths, tmp_path / "out", tokens=str(path))) == 2
        err = capsys.readouterr().err
        assert expected in err and "sentence 100" in err, err


def test_distributions_cli_requires_both_imaginet_pathways(tmp_path, capsys):
    paths = write_omission(tmp_path)
    assert run_cli(distributions.main, distribution_argv(paths[:1], tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert "Textual (model 'imaginet', pathway 'textual')" in err
    assert run_cli(distributions.main, distribution_argv([paths[0], str(tmp_path / "nope.parquet")], tmp_path)) == 2
    assert "nope.parquet: no such file" in capsys.readouterr().err


# --- examples (Fig. 1) ------------------------------------------------------------------

def retrieval_rows(sentence_ids: list[int], with_without: bool = True) -> list[dict]:
    rows = []
    for s in sentence_ids:
        rows.append({"sentence_id": s, "variant": "full", "removed_position": None, "removed_token": None,
                     "caption": "the black dog", "image_id": 7, "retrieved_image_id": 70 + s % 10,
                     "retrieved_caption": "a black dog on a sofa", "rank_of_true_image": 3, "cosine": 0.8})
        if with_without:
            rows.append({"sentence_id": s, "variant": "without", "removed_position": 3, "removed_token": "dog",
                         "caption": "the black", "image_id": 7, "retrieved_image_id": 90 + s % 10,
                         "retrieved_caption": "a black cat", "rank_of_true_image": 40, "cosine": 0.5})
    return rows


def write_retrieval(path, rows):
    write_parquet(pl.DataFrame(rows, schema=pl.from_arrow(RETRIEVAL_EXAMPLES.empty_table()).schema).to_arrow(),
                  path, RETRIEVAL_EXAMPLES, "retrieval_examples")


def test_examples_cli_tables_both_pathways_per_word(tmp_path):
    paths = write_omission(tmp_path)
    write_retrieval(tmp_path / "retrieval.parquet", retrieval_rows([1002, 1000]))
    argv = ["--omission", *paths, "--retrieval", str(tmp_path / "retrieval.parquet"),
            "--table", str(tmp_path / "out" / "examples.parquet"), "--figure", str(tmp_path / "out" / "fig1.png")]
    assert run_cli(examples.main, argv) == 0
    table = pl.read_parquet(tmp_path / "out" / "examples.parquet")
    assert pq.read_schema(tmp_path / "out" / "examples.parquet").names == OMISSION_EXAMPLES.names
    # examples in the retrieval file's order, words in sentence order
    assert table.select("sentence_id", "position", "token").rows() == [
        (1002, 1, "the"), (1002, 2, "black"), (1002, 3, "Dog"), (1000, 1, "the"), (1000, 2, "black"), (1000, 3, "Dog")]
    assert table["omission_visual"].to_list() == [0.01, 0.3, 0.5] * 2
    assert table["omission_textual"].to_list() == [0.2, 0.1, 0.1] * 2
    assert (tmp_path / "out" / "fig1.png").read_bytes()[:4] == b"\x89PNG"
    svg = (tmp_path / "out" / "fig1.svg").read_text()
    assert "<svg" in svg


def test_examples_cli_needs_a_without_row_and_scored_sentences(tmp_path, capsys):
    paths = write_omission(tmp_path)
    argv = ["--omission", *paths, "--retrieval", str(tmp_path / "r.parquet"),
            "--table", str(tmp_path / "t.parquet"), "--figure", str(tmp_path / "f.png")]
    write_retrieval(tmp_path / "r.parquet", retrieval_rows([1001], with_without=False))
    assert run_cli(examples.main, argv) == 2
    assert "sentence 1001" in capsys.readouterr().err
    write_retrieval(tmp_path / "r.parquet", retrieval_rows([5]))
    assert run_cli(examples.main, argv) == 2
    assert "sentence 5: example caption has no omission scores" in capsys.readouterr().err


# --- training curves and results ---------------------------------------------------------
