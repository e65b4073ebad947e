"""Parse one shard of one split of a corpus (issue 2, §5).

A corpus split is cut into ``--n-shards`` contiguous slices of its sentences; each slice
runs as its own job (so a cluster parses in parallel) and ``lingscope.parse.merge`` joins
them in order.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet
from lingscope.core.schemas import TOKENS
from lingscope.core.tagmap import unescape_ptb
from lingscope.parse.settings import SpacySettings, StanzaSettings
from lingscope.parse.backends import make_parser


def shard_bounds(n_rows: int, shard: int, n_shards: int) -> tuple[int, int]:
    """Contiguous, near-equal slice ``shard`` of ``n_shards`` over ``n_rows`` rows."""
    return n_rows * shard // n_shards, n_rows * (shard + 1) // n_shards


def read_split(path: Path, split: str) -> pa.Table:
    try:
        table = pq.read_table(path, columns=["corpus", "split", "sentence_id", "tokens"])
    except (FileNotFoundError, pa.ArrowInvalid) as err:
        raise InputError(path, None, f"cannot read the sentences table: {err}") from None
    table = table.filter(pc.equal(table["split"], split))
    if table.num_rows == 0:
        raise InputError(path, f"split {split!r}", "no sentences in this split")
    return table


def parse_table(sentences: pa.Table, parser, unescape: bool = False) -> pa.Table:
    """The TOKENS rows of ``sentences``. With ``unescape``, the parser reads the characters
    that Penn Treebank escapes stand for (``-LRB-`` as ``(``), and ``form`` keeps the
    sentence's own token, so the table joins the sentences and the activations 1:1.

    Each row is one sentence, so its parse must be one tree: a row whose parse has a token
    count other than the row's, or not exactly one root (``head == 0``), raises an error that
    names the corpus, split and sentence, and no table is returned."""
    n = sentences.num_rows
    names = sentences.column_names
    corpora = sentences["corpus"].to_pylist() if "corpus" in names else ["?"] * n
    splits = sentences["split"].to_pylist() if "split" in names else ["?"] * n
    ids = sentences["sentence_id"].to_pylist()
    token_lists = sentences["tokens"].to_pylist()
    parsed = [[unescape_ptb(t) for t in tokens] for tokens in token_lists] if unescape else token_lists
    cols: dict[str, list] = {name: [] for name in TOKENS.names}
    n_parsed = 0
    for corpus, split, sentence_id, tokens, rows in zip(corpora, splits, ids, token_lists, parser.parse(parsed)):
        n_parsed += 1
        where = f"{corpus}/{split} sentence_id {sentence_id}"
        if len(rows) != len(tokens):
            raise RuntimeError(f"{where}: the parser returned {len(rows)} tokens for {len(tokens)}")
        roots = [position for position, row in enumerate(rows, start=1) if row[5] == 0]
        if len(roots) != 1:
            raise RuntimeError(f"{where}: the parse has {len(roots)} roots (at token positions {roots}), "
                               f"expected exactly 1 for the sentence {' '.join(tokens)!r}")
        for position, (form, (_, lemma, xpos, upos, deprel, head)) in enumerate(zip(tokens, rows), start=1):
            for key, value in zip(TOKENS.names, (sentence_id, position, form, lemma, xpos, upos, deprel, head)):
                cols[key].append(value)
    if n_parsed != n:
        raise RuntimeError(f"the parser returned {n_parsed} sentences for {n}")
    return pa.table(cols, schema=TOKENS)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=Path, required=True, help="a SENTENCES table")
    ap.add_argument("--split", required=True)
    ap.add_argument("--shard", type=int, required=True, help="0-based shard number")
    ap.add_argument("--n-shards", type=int, required=True)
    ap.add_argument("--backend", choices=["spacy", "stanza"], default="spacy")
    ap.add_argument("--unescape-ptb", action="store_true",
                    help="the tokens carry Penn Treebank escapes (-LRB-, -RRB-, as the SST does): parse the characters")
    ap.add_argument("--out", type=Path, required=True)
    SpacySettings.add_arguments(ap, "spaCy backend (config: parse.spacy)")
    StanzaSettings.add_arguments(ap, "stanza backend (config: parse.stanza)")
    args = ap.parse_args(argv)
    spacy, stanza = SpacySettings.from_args(args), StanzaSettings.from_args(args)
    if not 0 <= args.shard < args.n_shards:
        raise InputError(None, f"--shard {args.shard}", f"expected 0 <= shard < n_shards ({args.n_shards})")
    table = read_split(args.sentences, args.split)
    start, stop = shard_bounds(table.num_rows, args.shard, args.n_shards)
    table = table.slice(start, stop - start)
    parser = make_parser(args.backend, model=spacy.model, batch_size=spacy.batch_size, lemmatize=spacy.lemmatize,
                         package=stanza.package, model_dir=stanza.model_dir or None)
    t0 = time.perf_counter()
    tokens = parse_table(table, parser, args.unescape_ptb)
    seconds = time.perf_counter() - t0
    write_parquet(tokens, args.out, TOKENS, "tokens")
    rate = table.num_rows / seconds if seconds > 0 else float("inf")
    print(f"parsed {table.num_rows} sentences ({tokens.num_rows} tokens) in {seconds:.2f} s: {rate:.0f} sentences/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
