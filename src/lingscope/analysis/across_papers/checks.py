"""Checks of a finished run: results that exist but will be weak.

A corpus too small or mismatched for the analyses runs to the end; these checks say where
its results cannot be trusted, with the number measured and the setting (or data) to change:

- ``unk_rate``: the share of a val or test split's word tokens outside the vocabulary (the
  vocabulary is built on train, keeping words seen ``vocab.<corpus>.min_count`` times);
- ``labels``: how many parse labels of the analysis split reach ``analysis.min_count``
  tokens, the labels Figs. 2 and 3 show (none: the figures are empty axes);
- ``retrieval``: whether recall@k of each network with an image readout is above chance, by
  a one-sided binomial test of the captions retrieved against ``k / images``. The captions of
  one image are counted as independent trials, so the p-value is optimistic: a warning means
  the split cannot show retrieval above chance even so.

Every check is a row of the CHECKS table (``ok`` or ``warning``); the workflow prints the
warnings at the end of the run and the report shows the table.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import polars as pl
import pyarrow as pa
from scipy.stats import binomtest

from lingscope.analysis.networks import network_name, read_table
from lingscope.analysis.settings import CheckSettings, DistributionSettings
from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import require_columns, write_parquet, write_text
from lingscope.core.schemas import CHECKS, EVALUATION, TOKENS, VOCAB

UNK_SPLITS = ("val", "test")
_RECALL = re.compile(r"recall@(\d+)")


def _row(check, subject, value, threshold, setting, warn, message) -> dict:
    return {"check": check, "subject": subject, "value": float(value), "threshold": float(threshold),
            "setting": setting, "status": "warning" if warn else "ok", "message": message}


def unk_rates(corpus: str, sentences: Path, vocab: Path, min_count: int, bound: float) -> list[dict]:
    """One row per val/test split of ``corpus``: the share of its tokens that are ``<unk>``."""
    # Only the val and test rows are read: a corpus's train split can hold millions of lines.
    require_columns(sentences, ["split", "tokens"])
    vocabulary = read_table(vocab, VOCAB, ["token", "count"])
    # The words the models know; the specials (count 0) are none, so a literal "<unk>" counts as unknown.
    words = set(vocabulary.filter(pl.col("count") > 0)["token"].to_list())
    n_words = len(words)
    counts = (pl.scan_parquet(sentences).filter(pl.col("split").is_in(UNK_SPLITS))
              .select("split", pl.col("tokens").alias("token")).explode("token")
              .group_by("split", "token").len().collect())
    n_train = pl.scan_parquet(sentences).filter(pl.col("split") == "train").select(pl.len()).collect().item()
    rows = []
    for split in UNK_SPLITS:
        part = counts.filter(pl.col("split") == split)
        if part.height == 0:
            rows.append(_row("unk_rate", f"{corpus}/{split}", float("nan"), bound, "analysis.checks.max_unk_rate",
                             True, f"{corpus} {split}: the split has no sentences, so nothing is evaluated on it"))
            continue
        # str.lower in Python, as lingscope.encoding.ids.encode looks words up.
        known = [t.lower() in words for t in part["token"].to_list()]
        total = int(part["len"].sum())
        unk = int(part.filter(pl.Series(known).not_())["len"].sum())
        rate = unk / total
        warn = rate > bound
        message = f"{corpus} {split}: {rate:.1%} of {total:,} word tokens are <unk>"
        if warn:
            message += (f", more than analysis.checks.max_unk_rate = {bound:.0%}; the vocabulary keeps {n_words:,} "
                        f"types, those seen at least vocab.{corpus}.min_count = {min_count} times in {n_train:,} train "
                        f"sentences: lower vocab.{corpus}.min_count (or raise vocab.{corpus}.max_size where it caps the "
                        f"vocabulary) or bring a larger train split")
        rows.append(_row("unk_rate", f"{corpus}/{split}", rate, bound, "analysis.checks.max_unk_rate", warn, message))
    return rows


def label_counts(tokens: Path, corpus_split: str, min_count: int, min_labels: int) -> list[dict]:
    """One row per label kind (xpos, deprel): how many labels Figs. 2-3 keep."""
    frame = read_table(tokens, TOKENS, ["xpos", "deprel"])
    rows = []
    for kind in ("xpos", "deprel"):
        counts = frame.group_by(kind).len().sort(["len", kind], descending=[True, False])
        kept = counts.filter(pl.col("len") >= min_count).height
        top, top_n = (counts[kind][0], int(counts["len"][0])) if counts.height else ("none", 0)
        warn = kept < min_labels
        message = (f"Figs. 2-3 ({kind}): {kept} of {counts.height} labels have at least analysis.min_count = "
                   f"{min_count} tokens in {corpus_split} (the most frequent, {top}, has {top_n:,} of {frame.height:,})")
        if warn:
            message += (f", fewer than analysis.checks.min_labels = {min_labels}: the figures show "
                        f"{'no label' if kept == 0 else 'almost nothing'}; lower analysis.min_count or analyse a "
                        f"larger split")
        rows.append(_row("labels", kind, kept, min_labels, "analysis.checks.min_labels", warn, message))
    return rows


def retrieval_vs_chance(evaluation: list[Path], alpha: float) -> list[dict]:
    """One row per network with an image readout (rows ``recall@k`` and ``chance_recall@k``):
    the smallest one-sided binomial p-value of its recall@k against chance over the k."""
    rows = []
    for path in evaluation:
        table = read_table(path, EVALUATION, EVALUATION.names)
        for (model, pathway, split), part in table.group_by(["model", "pathway", "split"], maintain_order=True):
            values = dict(zip(part["metric"], zip(part["value"], part["n"])))
            tests = []  # (k, recall, chance, p)
            for metric, (recall, n) in values.items():
                k = _RECALL.fullmatch(metric)
                if k and f"chance_{metric}" in values:
                    chance = values[f"chance_{metric}"][0]
                    if not n or not 0 < chance or recall != recall:  # nothing evaluated (n = 0, NaN recall)
                        continue
                    p = binomtest(round(recall * n), n, chance, alternative="greater").pvalue if chance < 1 else 1.0
                    tests.append((int(k.group(1)), recall, chance, p))
            if not tests:
                if any(_RECALL.fullmatch(m) for m in values):
                    rows.append(_row("retrieval", f"{model}/{pathway}/{split}", float("nan"), alpha,
                                     "analysis.checks.alpha", True,
                                     f"{network_name(model, pathway)} on {split}: no caption was evaluated"))
                continue
            n = part["n"][0]
            k1, _, c1, _ = min(tests)  # chance = min(1, k / images): exact for the smallest k (1)
            images = round(k1 / c1)
            p = min(t[3] for t in tests)
            warn = p > alpha
            recalls = ", ".join(f"recall@{k} {r:.3f} (chance {c:.3f})" for k, r, c, _ in sorted(tests))
            message = (f"{network_name(model, pathway)} on {split}: {recalls}; {n:,} captions of {images:,} images; "
                       f"one-sided binomial p = {p:.2g}")
            if warn:
                largest = max(k for k, *_ in tests)
                trivial = f" (with {images} images recall@{largest} is 1 whatever the model)" if images <= largest else ""
                message += (f", above analysis.checks.alpha = {alpha:g}: retrieval is no better than chance{trivial}; "
                            f"the split is too small to tell, or the model learnt little (more images in the split, "
                            f"more train captions, or a higher models.{model}.max_epochs)")
            rows.append(_row("retrieval", f"{model}/{pathway}/{split}", p, alpha, "analysis.checks.alpha", warn, message))
    return rows


def run_checks(corpora: dict[str, tuple[Path, Path, int]], tokens: Path | None, corpus_split: str,
               evaluation: list[Path], distribution: DistributionSettings, settings: CheckSettings) -> pa.Table:
    rows = []
    for corpus, (sentences, vocab, min_count) in corpora.items():
        rows += unk_rates(corpus, sentences, vocab, min_count, settings.max_unk_rate)
    if tokens is not None:
        rows += label_counts(tokens, corpus_split, distribution.min_count, settings.min_labels)
    rows += retrieval_vs_chance(evaluation, settings.alpha)
    return pa.Table.from_pylist(rows, schema=CHECKS)


def _corpus_arg(text: str) -> tuple[str, tuple[Path, Path, int]]:
    name, _, rest = text.partition("=")
    parts = rest.split(",")
    if not name or len(parts) != 3 or not parts[2].isdigit():
        raise InputError(None, f"--corpus {text}", "expected NAME=SENTENCES,VOCAB,MIN_COUNT")
    return name, (Path(parts[0]), Path(parts[1]), int(parts[2]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", action="append", default=[], metavar="NAME=SENTENCES,VOCAB,MIN_COUNT",
                    help="a corpus's sentences and vocabulary tables and its vocab min_count (repeatable)")
    ap.add_argument("--tokens", type=Path, help="the parse of the analysis split (TOKENS)")
    ap.add_argument("--analysis-split", default="coco val", help="how messages name the split --tokens parses")
    ap.add_argument("--evaluation", type=Path, nargs="*", default=[], help="EVALUATION tables of the models")
    ap.add_argument("--table", type=Path, required=True, help="output: the CHECKS table (Parquet)")
    ap.add_argument("--csv", type=Path, required=True, help="output: the same as CSV, for the report")
    DistributionSettings.add_arguments(ap, "Figs. 2-3 (config: analysis)")
    CheckSettings.add_arguments(ap, "checks (config: analysis.checks)")
    args = ap.parse_args(argv)
    corpora = dict(_corpus_arg(c) for c in args.corpus)
    table = run_checks(corpora, args.tokens, args.analysis_split, args.evaluation,
                       DistributionSettings.from_args(args), CheckSettings.from_args(args))
    frame = pl.from_arrow(table)
    write_parquet(table, args.table, CHECKS, "checks")
    write_text(args.csv, frame.write_csv())
    for row in frame.iter_rows(named=True):
        print(f"{row['status']:>7}  {row['message']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
