"""Parser accuracy against gold trees: UAS, LAS and tag accuracy, overall and per gold label.

Root labels compare case-insensitively (spaCy says ``ROOT``; CoNLL-U says ``root``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet
from lingscope.parse.conllu import read_conllu
from lingscope.core.schemas import PARSE_ACCURACY


def accuracy_table(gold: pl.DataFrame, parsed: pl.DataFrame, corpus: str, split: str, backend: str,
                   model: str) -> pl.DataFrame:
    """Score ``parsed`` against ``gold`` on the sentences both contain."""
    keys = ["sentence_id", "position"]
    joined = gold.select(keys + ["form", "xpos", "upos", "deprel", "head"]).join(
        parsed.select(keys + ["form", "xpos", "upos", "deprel", "head"]), on=keys, how="inner", suffix="_sys")
    if joined.is_empty():
        raise InputError(None, f"{corpus}/{split}", "no parsed token matches a gold token (do the sentence ids agree?)")
    bad = joined.filter(pl.col("form") != pl.col("form_sys"))
    if not bad.is_empty():
        row = bad.row(0, named=True)
        raise InputError(None, f"sentence {row['sentence_id']} position {row['position']}",
                         f"gold form {row['form']!r} differs from parsed form {row['form_sys']!r}")
    scored = joined.with_columns(
        head_ok=pl.col("head") == pl.col("head_sys"),
        label_ok=pl.col("deprel").str.to_lowercase() == pl.col("deprel_sys").str.to_lowercase(),
        xpos_ok=pl.col("xpos") == pl.col("xpos_sys"),
        upos_ok=pl.col("upos") == pl.col("upos_sys"),
    )
    metrics = [
        pl.len().cast(pl.Int64).alias("n_tokens"),
        pl.col("head_ok").mean().alias("uas"),
        (pl.col("head_ok") & pl.col("label_ok")).mean().alias("las"),
        pl.col("xpos_ok").mean().alias("xpos_accuracy"),
        pl.col("upos_ok").mean().alias("upos_accuracy"),
    ]
    overall = scored.select(metrics).with_columns(deprel=pl.lit("(all)"))
    per_label = scored.group_by("deprel").agg(metrics).sort("deprel")
    table = pl.concat([overall, per_label], how="diagonal")
    return table.with_columns(corpus=pl.lit(corpus), split=pl.lit(split), backend=pl.lit(backend),
                              model=pl.lit(model)).select(PARSE_ACCURACY.names)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gold", type=Path, required=True, help="gold CoNLL-U with '# sent_id = N'")
    ap.add_argument("--tokens", type=Path, nargs="+", required=True, help="parsed TOKENS tables, one per split")
    ap.add_argument("--splits", nargs="+", required=True, help="split name of each --tokens file")
    ap.add_argument("--corpus", default="coco")
    ap.add_argument("--backend", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--csv", type=Path, help="also write the table as CSV (for the report)")
    args = ap.parse_args(argv)
    if len(args.tokens) != len(args.splits):
        raise InputError(None, "--splits", f"expected one split name per --tokens file ({len(args.tokens)})")
    gold = pl.from_arrow(read_conllu(args.gold))
    parts = [accuracy_table(gold, pl.read_parquet(path), args.corpus, split, args.backend, args.model)
             for path, split in zip(args.tokens, args.splits)]
    table = pl.concat(parts)
    write_parquet(table.to_arrow(), args.out, PARSE_ACCURACY, "parse_accuracy")
    if args.csv:
        from lingscope.core.io import write_text

        write_text(args.csv, table.write_csv(float_precision=4))
    overall = table.filter(pl.col("deprel") == "(all)")
    for row in overall.iter_rows(named=True):
        print(f"{row['split']}: UAS {row['uas']:.4f} LAS {row['las']:.4f} xpos {row['xpos_accuracy']:.4f} "
              f"upos {row['upos_accuracy']:.4f} ({row['n_tokens']} tokens)")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
