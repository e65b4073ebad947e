"""Ingest a corpus of the user's own in the ``labelled`` format (``corpora.<name>`` with
``format: labelled``; docs/data.md#your-own-corpus): labelled sentences (.csv, .tsv, .parquet or .jsonl): the sentences, one phrase per sentence and the labels table.

The command of the workflow's ``data_labelled`` rule. Both formats share their reading, checks and
writing in :mod:`lingscope.data.user`; this module fixes the format.
"""

from __future__ import annotations

import sys

from lingscope.core.errors import run_cli
from lingscope.data import user

FORMAT = "labelled"


def main(argv: list[str] | None = None) -> int:
    return user.main(["--format", FORMAT, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
