"""The four networks the paper compares, and reading their omission tables.

Kadar et al. (2017, sec. 5.3, Fig. 4) compare SUM, LM, TEXTUAL and VISUAL. Three models
produce them: IMAGINET gives TEXTUAL and VISUAL (its two pathways), the stand-alone language
model gives LM, and IMAGINET with a sum of word embeddings in place of the visual GRU gives
SUM. This module is the one place that knows which (model, pathway) is which network.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from lingscope.errors import InputError
from lingscope.schemas import OMISSION


@dataclass(frozen=True)
class Network:
    name: str  # as the paper's figures and tables label it
    model: str  # model name in the config and in the omission table
    pathway: str  # textual or visual


# In the order the paper's Fig. 4 and its R^2 table list them.
NETWORKS: tuple[Network, ...] = (
    Network("Sum", "sum", "visual"),
    Network("LM", "lm", "textual"),
    Network("Textual", "imaginet", "textual"),
    Network("Visual", "imaginet", "visual"),
)
NETWORK_NAMES: tuple[str, ...] = tuple(n.name for n in NETWORKS)
_BY_KEY = {(n.model, n.pathway): n for n in NETWORKS}
_BY_NAME = {n.name: n for n in NETWORKS}


def network_name(model: str, pathway: str) -> str | None:
    """The paper's name for a (model, pathway), or None if it is not one of the four networks."""
    network = _BY_KEY.get((model, pathway))
    return network.name if network else None


def network(name: str) -> Network:
    return _BY_NAME[name]


def read_table(path: str | Path, schema, columns: list[str]) -> pl.DataFrame:
    """Read ``columns`` of a Parquet file, cast to ``schema``'s types.

    A missing file, a file that is not Parquet, a missing column or a column that cannot
    be cast is an :class:`InputError` naming the file (and the column).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, "no such file")
    try:
        have = pq.read_schema(path).names
    except Exception as err:  # pyarrow raises several types for a file that is not Parquet
        raise InputError(path, None, f"not a readable Parquet file ({err})") from None
    for column in columns:
        if column not in have:
            raise InputError(path, f"column {column!r}", f"missing; expected the columns {columns}")
    frame = pl.read_parquet(path, columns=columns)
    target = pl.from_arrow(schema.empty_table()).schema
    for column in columns:
        try:
            frame = frame.with_columns(pl.col(column).cast(target[column], strict=True))
        except pl.exceptions.PolarsError:
            raise InputError(path, f"column {column!r}", f"cannot be read as {schema.field(column).type}") from None
    return frame


OMISSION_COLUMNS = OMISSION.names


def read_omission(paths: list[str | Path], columns: list[str] | None = None) -> dict[str, pl.DataFrame]:
    """Read omission tables (schema ``OMISSION``) into one frame per network, keyed by name.

    Rows whose (model, pathway) is none of the four networks are left out with a note on
    stderr. Each network must come from one file only, have one row per
    (sentence_id, position), and have a finite omission score in every row; the frames are
    sorted by sentence_id and position so that every analysis sees the same order.
    """
    columns = list(columns or OMISSION_COLUMNS)
    for required in ("sentence_id", "position", "model", "pathway", "omission"):
        if required not in columns:
            columns.append(required)
    found: dict[str, tuple[Path, pl.DataFrame]] = {}
    for path in map(Path, paths):
        frame = read_table(path, OMISSION, columns)
        for (model, pathway), part in frame.group_by(["model", "pathway"], maintain_order=True):
            name = network_name(model, pathway)
            if name is None:
                print(f"lingscope: note: {path}: model {model!r} pathway {pathway!r} is not one of the "
                      f"networks {list(NETWORK_NAMES)}; left out", file=sys.stderr)
                continue
            if name in found:
                raise InputError(path, f"model {model!r} pathway {pathway!r}",
                                 f"network {name} was already read from {found[name][0]}")
            _check_rows(path, part)
            found[name] = (path, part.sort(["sentence_id", "position"]))
    return {name: found[name][1] for name in NETWORK_NAMES if name in found}


def _check_rows(path: Path, frame: pl.DataFrame) -> None:
    scores = frame["omission"].to_numpy()
    bad = np.flatnonzero(~np.isfinite(scores.astype(float)))
    if len(bad):
        row = frame.row(int(bad[0]), named=True)
        raise InputError(path, f"sentence {row['sentence_id']} position {row['position']}",
                         f"omission is {row['omission']}; expected a finite number")
    duplicated = frame.select("sentence_id", "position").is_duplicated()
    if duplicated.any():
        row = frame.filter(duplicated).row(0, named=True)
        raise InputError(path, f"sentence {row['sentence_id']} position {row['position']}",
                         "appears more than once for the same model and pathway")


def require(frames: dict[str, pl.DataFrame], names: list[str], paths: list[str | Path]) -> None:
    """Raise an :class:`InputError` unless every network in ``names`` was read."""
    missing = [n for n in names if n not in frames]
    if missing:
        wanted = ", ".join(f"{n} (model {network(n).model!r}, pathway {network(n).pathway!r})" for n in missing)
        given = " ".join(str(p) for p in paths)
        raise InputError(None, "--omission", f"no table for {wanted} among the files given: {given}")
