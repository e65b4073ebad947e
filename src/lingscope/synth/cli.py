"""Arguments every synthetic-corpus generator shares: output folder, seed and split sizes."""

from __future__ import annotations

import argparse
from pathlib import Path

from lingscope.errors import InputError


def corpus_parser(description: str, out_help: str, sizes_help: str = "") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out-dir", required=True, type=Path, help=out_help)
    parser.add_argument("--seed", required=True, type=int)
    for split in ("train", "val", "test"):
        parser.add_argument(f"--n-{split}", required=True, type=int, help=f"{split} size {sizes_help}".strip())
    return parser


def check_sizes(args: argparse.Namespace) -> argparse.Namespace:
    """Reject sizes below 1 and negative seeds with a message naming the flag."""
    for flag in ("n_train", "n_val", "n_test"):
        if getattr(args, flag) < 1:
            raise InputError(None, "--" + flag.replace("_", "-"), f"must be at least 1, got {getattr(args, flag)}")
    if args.seed < 0:
        raise InputError(None, "--seed", f"must be non-negative, got {args.seed}")
    return args
