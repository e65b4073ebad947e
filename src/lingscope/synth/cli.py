"""Arguments every synthetic-corpus generator shares: output folder, seed and split sizes."""

from __future__ import annotations

import argparse
from pathlib import Path

from lingscope.synth.settings import SyntheticSizes


def corpus_parser(description: str, out_help: str, sizes_help: str = "",
                  settings: type[SyntheticSizes] = SyntheticSizes) -> argparse.ArgumentParser:
    """A parser with ``--out-dir`` and the flags of ``settings`` (seed and sizes, and more for a
    generator with more settings); read them back with ``settings.from_args``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out-dir", required=True, type=Path, help=out_help)
    settings.add_arguments(parser, f"corpus settings {sizes_help}".strip())
    return parser
