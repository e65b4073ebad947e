"""A user's own corpora: ``corpora.<name>`` entries with a ``format`` (docs/data.md#your-own-corpus).

Beside the three corpora in their published formats (``coco``, ``sst``, ``wmt``, each with its
``source``), a config may declare any number of corpora under names the user picks, in two
plain formats:

- ``labelled``: sentences with a class label, in one table (``path``: .csv, .tsv, .parquet or
  .jsonl, with a header row) or one per split (``files: {train, val, test}``); ``text`` and
  ``label`` name the columns; the splits are drawn (``split: {val, test, seed}``) when the data
  give none;
- ``text``: running text, one sentence per line (plain or gzipped), in ``files`` per split or one
  ``path`` whose lines are split by the draw.

``tokenize`` is ``spacy`` (spaCy's English tokenizer rules) or ``whitespace`` (pre-tokenised
text). Torch-free: the plan reads the entries when Snakemake builds the DAG; the ingest is
:mod:`lingscope.data.user`.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from lingscope.core.errors import InputError

BUILTIN = ("coco", "sst", "wmt")  # the corpora in their published formats, each with a ``source``
FORMATS = ("labelled", "text")
SPLITS = ("train", "val", "test")
TOKENIZERS = ("spacy", "whitespace")
LABELLED_SUFFIXES = (".csv", ".tsv", ".parquet", ".jsonl")
NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_]*"
KEYS = {
    "format": "labelled (sentences with a class label) or text (running text, one sentence per line)",
    "path": "one file holding every split (labelled: .csv, .tsv, .parquet or .jsonl with a header row; text: one "
            "sentence per line, plain or gzipped); its splits are drawn (split) unless a labelled file has a "
            "split column",
    "files": "one file per split instead of path: {train: ..., val: ..., test: ...}",
    "text": "labelled: the column of the sentence (default: text)",
    "label": "labelled: the column of the label, strings or integers (default: label)",
    "split": "the shares of val and test drawn, and the draw's seed, when the data give no splits "
             "(default: {val: 0.1, test: 0.1, seed: 1})",
    "tokenize": "spacy (spaCy's English tokenizer, default) or whitespace (pre-tokenised text)",
}


@dataclass(frozen=True)
class UserCorpus:
    """One ``corpora.<name>`` entry with a ``format``."""

    name: str
    format: str
    path: str | None
    files: tuple[tuple[str, str], ...]  # (split, path) for train, val, test; empty with path
    text: str = "text"
    label: str = "label"
    val: float = 0.1
    test: float = 0.1
    seed: int = 1
    tokenize: str = "spacy"

    @classmethod
    def from_config(cls, name: str, entry: Mapping) -> UserCorpus:
        where = f"corpora.{name}"
        if not isinstance(entry, Mapping):
            raise InputError(None, where, f"expected a mapping with a format ({' or '.join(FORMATS)}), got {entry!r}")
        unknown = sorted(set(entry) - set(KEYS))
        if unknown:
            raise InputError(None, f"{where}.{unknown[0]}", f"unknown key; expected some of {sorted(KEYS)}")
        fmt = entry.get("format")
        if fmt not in FORMATS:
            raise InputError(None, f"{where}.format", f"must be one of {list(FORMATS)} for a corpus of your own "
                                                      f"(coco, sst and wmt take a source instead), got {fmt!r}")
        path, files = entry.get("path"), entry.get("files")
        if (path is None) == (files is None):
            raise InputError(None, where, "give either path (one file; the splits are drawn) or files "
                                          "({train: ..., val: ..., test: ...}), not both or neither")
        if path is not None and not (isinstance(path, str) and path.strip()):
            raise InputError(None, f"{where}.path", f"must be a file name, got {path!r}")
        pairs: tuple[tuple[str, str], ...] = ()
        if files is not None:
            if not isinstance(files, Mapping) or set(files) != set(SPLITS):
                got = sorted(files) if isinstance(files, Mapping) else files
                raise InputError(None, f"{where}.files", f"must map exactly train, val and test to files, got {got!r}")
            for split in SPLITS:
                if not (isinstance(files[split], str) and files[split].strip()):
                    raise InputError(None, f"{where}.files.{split}", f"must be a file name, got {files[split]!r}")
            pairs = tuple((split, files[split]) for split in SPLITS)
        if fmt == "labelled":
            for file in ([path] if path else [f for _, f in pairs]):
                if not file.lower().removesuffix(".gz").endswith(LABELLED_SUFFIXES):
                    raise InputError(None, where, f"{file!r}: a labelled corpus is read from "
                                                  f"{', '.join(LABELLED_SUFFIXES)} files (the suffix says which)")
        else:
            for key in ("text", "label"):
                if key in entry:
                    raise InputError(None, f"{where}.{key}", "only a labelled corpus has columns; a text corpus "
                                                             "is one sentence per line")
        columns = {}
        for key in ("text", "label"):
            value = entry.get(key, key)
            if not (isinstance(value, str) and value):
                raise InputError(None, f"{where}.{key}", f"must be a column name, got {value!r}")
            columns[key] = value
        split = entry.get("split", {}) or {}
        if not isinstance(split, Mapping) or set(split) - {"val", "test", "seed"}:
            raise InputError(None, f"{where}.split", f"must be a mapping of val, test and seed, got {split!r}")
        val, test, seed = split.get("val", 0.1), split.get("test", 0.1), split.get("seed", 1)
        for key, share in (("val", val), ("test", test)):
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
                raise InputError(None, f"{where}.split.{key}", f"must be a share between 0 and 1, got {share!r}")
        if val + test >= 1:
            raise InputError(None, f"{where}.split", f"val + test must leave some train sentences, got {val} + {test}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InputError(None, f"{where}.split.seed", f"must be an integer, 0 or more, got {seed!r}")
        tokenize = entry.get("tokenize", "spacy")
        if tokenize not in TOKENIZERS:
            raise InputError(None, f"{where}.tokenize", f"must be one of {list(TOKENIZERS)}, got {tokenize!r}")
        return cls(name, fmt, path, pairs, columns["text"], columns["label"], float(val), float(test), seed, tokenize)

    def inputs(self) -> dict[str, str]:
        """The files the ingest reads, by role (``path``, or ``train``/``val``/``test``)."""
        return {"path": self.path} if self.path else dict(self.files)

    def ingest_args(self) -> str:
        """The flags of the ingest of its format (:mod:`lingscope.data.labelled`, ``.text``) that
        describe this corpus (not its outputs)."""
        q = shlex.quote
        args = [f"--corpus {self.name}", f"--tokenize {self.tokenize}"]
        args += [f"--path {q(self.path)}"] if self.path else [f"--{s} {q(f)}" for s, f in self.files]
        if self.format == "labelled":
            args += [f"--text-column {q(self.text)}", f"--label-column {q(self.label)}"]
        args += [f"--split-val {self.val:g}", f"--split-test {self.test:g}", f"--split-seed {self.seed}"]
        return " ".join(args)

    def tables(self) -> tuple[str, ...]:
        """The data tables its ingest writes besides the vocabulary."""
        return ("sentences", "phrases", "labels") if self.format == "labelled" else ("sentences",)

    def describe(self) -> str:
        """How tables and figures name the data: the corpus's name, format and file."""
        where = self.path or ", ".join(f for _, f in self.files)
        return f"{self.name} ({self.format}: {where})"
