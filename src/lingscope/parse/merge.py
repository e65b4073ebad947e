"""Join parse shards, in order, into one TOKENS table per corpus and split."""

from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow.parquet as pq

from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import atomic_path, conform
from lingscope.core.schemas import TOKENS


def merge(shards: list[Path], out: Path) -> int:
    """Stream each shard into one file; memory holds one shard at a time."""
    rows = 0
    with atomic_path(out) as tmp, pq.ParquetWriter(tmp, TOKENS, compression="zstd") as writer:
        for shard in shards:
            try:
                table = pq.read_table(shard)
            except FileNotFoundError:
                raise InputError(shard, None, "parse shard not found") from None
            writer.write_table(conform(table, TOKENS, f"tokens shard {shard}"), row_group_size=65536)
            rows += table.num_rows
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shards", nargs="+", type=Path, help="shard files, in shard order")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    rows = merge(args.shards, args.out)
    print(f"merged {len(args.shards)} shards, {rows} tokens")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
