"""Read and write CoNLL-U as TOKENS tables; ``# sent_id`` gives the sentence id."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from lingscope.core.errors import InputError
from lingscope.core.schemas import TOKENS

_COLUMNS = ("sentence_id", "position", "form", "lemma", "xpos", "upos", "deprel", "head")


def read_conllu(path: str | Path) -> pa.Table:
    """All sentences of a CoNLL-U file; multi-word token ranges and empty nodes are skipped."""
    path = Path(path)
    cols: dict[str, list] = {c: [] for c in _COLUMNS}
    sentence_id: int | None = None
    expected_position = 1
    try:
        fh = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, None, "file not found") from None
    with fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip("\n")
            if not line:
                sentence_id, expected_position = None, 1
                continue
            if line.startswith("#"):
                key, _, value = line[1:].partition("=")
                if key.strip() == "sent_id":
                    try:
                        sentence_id = int(value.strip())
                    except ValueError:
                        raise InputError(path, f"line {lineno}", f"sent_id {value.strip()!r} is not an integer") from None
                continue
            fields = line.split("\t")
            if len(fields) != 10:
                raise InputError(path, f"line {lineno}", f"expected 10 tab-separated fields, got {len(fields)}")
            if "-" in fields[0] or "." in fields[0]:
                continue
            if sentence_id is None:
                raise InputError(path, f"line {lineno}", "token line before a '# sent_id = N' comment")
            try:
                position, head = int(fields[0]), int(fields[6])
            except ValueError:
                raise InputError(path, f"line {lineno}", "ID and HEAD must be integers") from None
            if position != expected_position:
                raise InputError(path, f"line {lineno}", f"token ID {position}, expected {expected_position}")
            expected_position += 1
            lemma = None if fields[2] == "_" and fields[1] != "_" else fields[2]
            for key, value in zip(_COLUMNS, (sentence_id, position, fields[1], lemma, fields[4], fields[3], fields[7], head)):
                cols[key].append(value)
    return pa.table(cols, schema=TOKENS)


def to_conllu(tokens: pa.Table) -> str:
    """The inverse of :func:`read_conllu`, for tests and for tools that want CoNLL-U."""
    out, current = [], None
    for row in tokens.to_pylist():
        if row["sentence_id"] != current:
            if current is not None:
                out.append("")
            current = row["sentence_id"]
            out.append(f"# sent_id = {current}")
        out.append("\t".join(str(x) for x in (row["position"], row["form"], row["lemma"] or "_", row["upos"],
                                              row["xpos"], "_", row["head"], row["deprel"], "_", "_")))
    return "\n".join(out) + "\n\n"
