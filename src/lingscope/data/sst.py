"""Ingest the Stanford Sentiment Treebank (trainDevTestTrees_PTB), real or synthetic.

Reads ``train.txt``, ``dev.txt`` (split ``val``) and ``test.txt`` from one folder: one
PTB-style tree per line, a sentiment label 0-4 on every node, e.g.
``(3 (2 It) (4 (2 's) (4 (2 a) (4 (3 lovely) (2 film)))))``. Writes the SENTENCES table
(one row per tree) and the SST_PHRASES table (one row per node), as used by Li et al. 2016
(Visualizing and Understanding Neural Models in NLP), who train on every labelled phrase.

The s-expression parser is hand-written: a regex tokenizer and one pass with a stack, which
reads the 215k phrases of the real SST in a few seconds and reports each malformed line with
its file, line and column.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet
from lingscope.core.schemas import SENTENCES, SST_LABELS, SST_PHRASES
from lingscope.core.tagmap import unescape_ptb

SPLIT_FILES = (("train", "train.txt"), ("val", "dev.txt"), ("test", "test.txt"))
N_LABELS = SST_LABELS
_TOKEN = re.compile(r"[()]|[^\s()]+")
_INTEGER = re.compile(r"[+-]?[0-9]+")  # not int()'s wider syntax: "٣" or "1_0" are no labels


@dataclass
class SSTTree:
    """One parsed tree; the node lists are parallel and in pre-order (index = phrase_id)."""

    tokens: list[str] = field(default_factory=list)
    parent: list[int | None] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)
    label: list[int] = field(default_factory=list)

    @property
    def root_label(self) -> int:
        return self.label[0]


def parse_tree(line: str, path: str | Path = "<string>", lineno: int = 1) -> SSTTree:
    """Parse one line holding one tree. Raises :class:`InputError` naming path, line and column.

    A node is ``(label word)`` (a leaf) or ``(label child child ...)``; labels are integers
    0-4. Whitespace between tokens is free; nothing may follow the tree.
    """
    tree = SSTTree()
    # stack entries: [phrase_id, kind, column of '('], kind 0 = no children yet, 1 = word, 2 = subtrees
    stack: list[list[int]] = []
    expect_label = done = False

    def fail(col: int | None, message: str) -> InputError:
        where = f"line {lineno}" + (f", column {col}" if col is not None else "")
        return InputError(path, where, message)

    for m in _TOKEN.finditer(line):
        tok, col = m.group(), m.start() + 1
        if done:
            if tok == ")":
                raise fail(col, "unbalanced parentheses: ')' closes nothing")
            raise fail(col, f"expected the end of the line after the tree, found {tok!r}")
        if expect_label:
            if not _INTEGER.fullmatch(tok):
                raise fail(col, f"expected an integer label after '(', found {tok!r}")
            label = int(tok)
            if not 0 <= label < N_LABELS:
                raise fail(col, f"label {label} is outside 0-{N_LABELS - 1}")
            tree.label.append(label)
            expect_label = False
        elif tok == "(":
            if stack:
                top = stack[-1]
                if top[1] == 1:
                    raise fail(col, "expected ')' after the leaf's word, found '('")
                top[1] = 2
            stack.append([len(tree.parent), 0, col])
            tree.parent.append(stack[-2][0] if len(stack) > 1 else None)
            tree.start.append(len(tree.tokens))
            tree.end.append(-1)
            expect_label = True
        elif tok == ")":
            if not stack:
                raise fail(col, "unbalanced parentheses: ')' closes nothing")
            phrase_id, kind, _ = stack.pop()
            if kind == 0:
                raise fail(col, "empty node: expected a word or subtrees after the label")
            tree.end[phrase_id] = len(tree.tokens)
            done = not stack
        else:
            if not stack:
                raise fail(col, f"expected '(' to open the tree, found {tok!r}")
            top = stack[-1]
            if top[1] == 1:
                raise fail(col, f"expected ')' after the leaf's word, found a second word {tok!r}")
            if top[1] == 2:
                raise fail(col, f"expected '(' or ')' after a subtree, found the word {tok!r}")
            top[1] = 1
            tree.tokens.append(tok)
    if expect_label:
        raise fail(None, "expected an integer label after '(', found the end of the line")
    if stack:
        raise fail(None, f"unbalanced parentheses: {len(stack)} '(' not closed (innermost opened at column {stack[-1][2]})")
    if not tree.parent:
        raise fail(None, "empty line, expected a tree")
    return tree


def read_trees(path: str | Path) -> list[SSTTree]:
    """Parse every line of one split file, read as bytes and decoded strictly as UTF-8."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, None, "missing split file, expected train.txt, dev.txt and test.txt") from None
    except OSError as err:
        raise InputError(path, None, f"cannot read the split file: {err.strerror}") from None
    if not data.strip():
        raise InputError(path, None, "file is empty, expected one tree per line")
    lines = data.split(b"\n")
    if lines[-1] == b"":  # the newline ending the last line
        lines.pop()
    trees = []
    for lineno, raw in enumerate(lines, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise InputError(path, f"line {lineno}, byte {err.start + 1}", "not valid UTF-8") from None
        if lineno == 1:
            line = line.removeprefix("\ufeff")
        trees.append(parse_tree(line, path, lineno))
    return trees


def read_split_dir(trees_dir: str | Path) -> dict[str, list[SSTTree]]:
    """The three splits of a trainDevTestTrees_PTB folder, keyed train, val, test."""
    trees_dir = Path(trees_dir)
    if not trees_dir.is_dir():
        raise InputError(trees_dir, None, "not a folder, expected one holding train.txt, dev.txt and test.txt")
    return {split: read_trees(trees_dir / name) for split, name in SPLIT_FILES}


def build_tables(splits: dict[str, list[SSTTree]]) -> tuple[pa.Table, pa.Table]:
    """SENTENCES and SST_PHRASES tables; sentence_id runs 0.. over train, val, test."""
    s_split, s_id, s_label, s_text, s_tokens = [], [], [], [], []
    p_split, p_sid, p_pid, p_parent, p_start, p_end, p_label, p_root, p_text = ([] for _ in range(9))
    sentence_id = 0
    for split in ("train", "val", "test"):
        for tree in splits.get(split, []):
            toks = tree.tokens
            # tokens keep the treebank's forms (-LRB-); the texts show the characters "(".
            chars = [unescape_ptb(t) for t in toks]
            s_split.append(split)
            s_id.append(sentence_id)
            s_label.append(tree.root_label)
            s_text.append(" ".join(chars))
            s_tokens.append(toks)
            n = len(tree.parent)
            p_split.extend([split] * n)
            p_sid.extend([sentence_id] * n)
            p_pid.extend(range(n))
            p_parent.extend(tree.parent)
            p_start.extend(tree.start)
            p_end.extend(tree.end)
            p_label.extend(tree.label)
            p_root.extend([True] + [False] * (n - 1))
            p_text.extend(" ".join(chars[a:b]) for a, b in zip(tree.start, tree.end))
            sentence_id += 1
    sentences = pa.table(
        {
            "corpus": pa.array(["sst"] * len(s_id), pa.string()),
            "split": pa.array(s_split, pa.string()),
            "sentence_id": pa.array(s_id, pa.int64()),
            "image_id": pa.nulls(len(s_id), pa.int64()),
            "label": pa.array(s_label, pa.int8()),
            "text": pa.array(s_text, pa.string()),
            "tokens": pa.array(s_tokens, pa.list_(pa.string())),
        }
    )
    phrases = pa.table(
        {
            "split": pa.array(p_split, pa.string()),
            "sentence_id": pa.array(p_sid, pa.int64()),
            "phrase_id": pa.array(p_pid, pa.int32()),
            "parent_id": pa.array(p_parent, pa.int32()),
            "start": pa.array(p_start, pa.int32()),
            "end": pa.array(p_end, pa.int32()),
            "label": pa.array(p_label, pa.int8()),
            "is_sentence": pa.array(p_root, pa.bool_()),
            "text": pa.array(p_text, pa.string()),
        }
    )
    return sentences, phrases


def ingest(trees_dir: str | Path, sentences_path: str | Path, phrases_path: str | Path) -> tuple[int, int]:
    """Read the three splits and write both tables; returns (sentences, phrases) written.

    Everything is parsed before anything is written, so bad input leaves no output.
    """
    sentences, phrases = build_tables(read_split_dir(trees_dir))
    write_parquet(sentences, sentences_path, SENTENCES, "sentences")
    write_parquet(phrases, phrases_path, SST_PHRASES, "sst_phrases")
    return sentences.num_rows, phrases.num_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Ingest SST trainDevTestTrees_PTB into sentences and phrases Parquet tables.")
    parser.add_argument("--trees-dir", required=True, type=Path, help="folder holding train.txt, dev.txt, test.txt")
    parser.add_argument("--sentences", required=True, type=Path, help="output Parquet (SENTENCES schema)")
    parser.add_argument("--phrases", required=True, type=Path, help="output Parquet (SST_PHRASES schema)")
    args = parser.parse_args(argv)
    ingest(args.trees_dir, args.sentences, args.phrases)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
