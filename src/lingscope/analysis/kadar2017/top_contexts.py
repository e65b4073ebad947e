"""Top-K contexts of every hidden unit (Kadar et al. 2017, sec. 5.4, Table 1).

For every unit (dimension of a network's per-token state) the K tokens of the analysis split
with the largest **absolute** activation are kept (the authors' clarification), duplicates
included, each with its trigram and 5-gram context **ending at** the token, left-padded with
``<s>``. The ``<eos>`` step is not a token here (docs/kadar2017.md#top-k-contexts).

Memory stays flat whatever the corpus size: the activation store is streamed in batches of
``batch_rows`` tokens, and only the running top K of every unit is kept between batches. The
ranking key is exact: ``|activation|`` as its float32 bit pattern (monotone for non-negative
floats) in the high 32 bits and the complement of the token's place in the store in the low
32, so one ``argpartition`` per batch keeps precisely the K largest by (|activation|
descending, store order ascending): ties go to the earlier token, whatever the batch size.
A second streaming pass reads only the ``token`` column of the sentences that hold a kept
token and builds their contexts.

The store's ``layer`` setting picks the layer read (-1, the top, by default); the table's
``layer`` column says which (0 the bottom).

    python -m lingscope.analysis.kadar2017.top_contexts --activations DIR --out TABLE.parquet [--k 20] [--layer -1]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from lingscope.analysis.settings import TopContextSettings
from lingscope.analysis.kadar2017.units import (
    EOS,
    PAD,
    activation_files,
    iter_states,
    network_of,
    open_parquet,
    resolve_layer,
    state_dim,
)
from lingscope.core.catalog import network_display
from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet
from lingscope.core.schemas import TOP_CONTEXTS

_LOW = np.int64(0xFFFFFFFF)


def _keys(states: np.ndarray, first_row: int) -> np.ndarray:
    """int64 keys ordering (|a| descending, row ascending) for a batch starting at ``first_row``."""
    bits = np.abs(states).view(np.uint32).astype(np.int64)
    rows = np.arange(first_row, first_row + len(states), dtype=np.int64)
    return (bits << 32) | (_LOW - rows)[:, None]


class TopK:
    """The running top K of every unit: keys, signed activations and (sentence_id, position)."""

    def __init__(self, k: int, dim: int):
        self.k, self.dim = k, dim
        self.key = np.full((0, dim), -1, dtype=np.int64)
        self.value = np.zeros((0, dim), dtype=np.float32)
        self.sentence = np.zeros((0, dim), dtype=np.int64)
        self.position = np.zeros((0, dim), dtype=np.int32)
        self.rows = 0

    def add(self, meta: pa.Table, states: np.ndarray, where: str) -> None:
        if self.rows + len(states) > int(_LOW):
            raise InputError(where, None, "more than 2^32 tokens: the ranking key has 32 bits for the token's place")
        sentence = meta.column("sentence_id").to_numpy()
        position = meta.column("position").to_numpy()
        old = len(self.key)
        key = np.concatenate([self.key, _keys(states, self.rows)])
        self.rows += len(states)
        if len(key) <= self.k:
            keep = np.broadcast_to(np.arange(len(key))[:, None], key.shape)
        else:  # the k largest keys, without a negated copy
            keep = np.argpartition(key, len(key) - self.k, axis=0)[len(key) - self.k:]
        # kept entries come from the old top K (index < old) or from this batch's rows: only
        # (k, dim) arrays are gathered, never a (batch, dim) broadcast of the metadata
        from_old = keep < old
        at_old = np.minimum(keep, max(old - 1, 0))
        at_new = np.maximum(keep - old, 0)
        cols = np.arange(self.dim)[None, :]
        pick = (lambda kept, fresh: np.where(from_old, np.take_along_axis(kept, at_old, 0), fresh)) if old else \
            (lambda kept, fresh: fresh)
        self.value = pick(self.value, states[at_new, cols])
        self.sentence = pick(self.sentence, sentence[at_new])
        self.position = pick(self.position, position[at_new])
        self.key = np.take_along_axis(key, keep, 0)

    def ranked(self) -> pl.DataFrame:
        """unit, rank, activation, sentence_id, position: rank 1 the largest |activation|."""
        order = np.argsort(-self.key, axis=0, kind="stable")
        k = len(order)
        def take(a):  # unit-major
            return np.take_along_axis(a, order, 0).T.reshape(-1)
        return pl.DataFrame({
            "unit": np.repeat(np.arange(self.dim, dtype=np.int32), k),
            "rank": np.tile(np.arange(1, k + 1, dtype=np.int16), self.dim),
            "activation": take(self.value).astype(np.float64),
            "sentence_id": take(self.sentence),
            "position": take(self.position).astype(np.int32),
        })


def top_k(folder: str | Path, k: int, batch_rows: int = 4096, layer: int = -1) -> pl.DataFrame:
    """The ranked top-K tokens of every unit of ``layer`` (-1 the top) of the network stored in ``folder``."""
    best = TopK(k, state_dim(folder, layer))
    for meta, states in iter_states(folder, batch_rows, layer=layer):
        best.add(meta, states, str(folder))
    if best.rows == 0:
        raise InputError(folder, None, "holds no word tokens")
    return best.ranked()


def sentence_tokens(folder: str | Path, sentences: np.ndarray, batch_rows: int, layer: int = -1) -> pl.DataFrame:
    """``sentence_id, position, token`` of the given sentences only (a streamed, filtered read of
    ``layer``'s files: every layer holds the same tokens)."""
    wanted = pa.array(np.unique(sentences))
    parts = []
    for path in activation_files(folder, layer):
        for batch in open_parquet(path).iter_batches(batch_size=batch_rows,
                                                     columns=["sentence_id", "position", "token"]):
            keep = pc.and_(pc.is_in(batch.column("sentence_id"), value_set=wanted),
                           pc.not_equal(batch.column("token"), EOS))
            parts.append(pl.from_arrow(pa.Table.from_batches([batch.filter(keep)])))
    return pl.concat(parts)


def with_contexts(ranked: pl.DataFrame, tokens: pl.DataFrame, sizes=(3, 5)) -> pl.DataFrame:
    """``ranked`` with the token and the n-grams ending at it, left-padded with ``<s>``."""
    longest = max(sizes)
    frame = ranked
    for offset in range(longest):
        shifted = tokens.select("sentence_id", (pl.col("position") + offset).alias("position"),
                                pl.col("token").alias(f"w{offset}"))
        frame = frame.join(shifted, on=["sentence_id", "position"], how="left", maintain_order="left")
    missing = frame.filter(pl.col("w0").is_null())
    if not missing.is_empty():
        row = missing.row(0, named=True)
        raise InputError(None, f"sentence {row['sentence_id']} position {row['position']}", "has no token")
    # a gap before position p - offset >= 1 would be a store with missing positions
    gaps = frame.filter(pl.any_horizontal(
        [pl.col(f"w{o}").is_null() & (pl.col("position") - o >= 1) for o in range(1, longest)]))
    if not gaps.is_empty():
        row = gaps.row(0, named=True)
        raise InputError(None, f"sentence {row['sentence_id']} near position {row['position']}",
                         "positions are not contiguous in the activation store")
    padded = [pl.col(f"w{o}").fill_null(PAD) for o in range(longest)]
    out = frame.with_columns(token=pl.col("w0"))
    for size, name in zip(sizes, ("trigram", "fivegram")):
        out = out.with_columns(pl.concat_str(list(reversed(padded[:size])), separator=" ").alias(name))
    return out.drop([f"w{o}" for o in range(longest)])


def run(folder: Path, out: Path, settings: TopContextSettings) -> pl.DataFrame:
    model, pathway = network_of(folder)
    layer = resolve_layer(folder, settings.layer)
    ranked = top_k(folder, settings.k, settings.batch_rows, layer)
    tokens = sentence_tokens(folder, ranked["sentence_id"].to_numpy(), settings.batch_rows, layer)
    table = with_contexts(ranked, tokens).sort(["unit", "rank"]).select(
        pl.lit(network_display(model, pathway)).alias("network"), pl.lit(model).alias("model"),
        pl.lit(pathway).alias("pathway"), pl.lit(layer, dtype=pl.Int16).alias("layer"),
        *[c for c in TOP_CONTEXTS.names if c not in ("network", "model", "pathway", "layer")])
    write_parquet(table.to_arrow(), out, TOP_CONTEXTS, "top_contexts")
    return table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--activations", type=Path, required=True,
                    help="one network's per-token states: activations/tokens/model=M/pathway=P")
    ap.add_argument("--out", type=Path, required=True, help="TOP_CONTEXTS table (Parquet)")
    TopContextSettings.add_arguments(ap, "settings (config: units.top_contexts)")
    args = ap.parse_args(argv)
    settings = TopContextSettings.from_args(args)
    table = run(args.activations, args.out, settings)
    units = table["unit"].n_unique()
    first = table.filter(pl.col("unit") == 0).head(3)
    print(f"{table['network'][0]} layer {table['layer'][0]}: top {settings.k} of {units} units; unit 0: "
          + "; ".join(f"{a:+.3f} '{t}'" for a, t in zip(first["activation"], first["trigram"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
