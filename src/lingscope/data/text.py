"""Ingest a corpus of the user's own in the ``text`` format (``corpora.<name>`` with
``format: text``; docs/data.md#your-own-corpus): running text, one sentence per line (plain or gzipped), streamed: the sentences table.

The command of the workflow's ``data_text`` rule. Both formats share their reading, checks and
writing in :mod:`lingscope.data.user`; this module fixes the format.
"""

from __future__ import annotations

import sys

from lingscope.core.errors import run_cli
from lingscope.data import user

FORMAT = "text"


def main(argv: list[str] | None = None) -> int:
    return user.main(["--format", FORMAT, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
