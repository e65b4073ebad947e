"""Networks by name, and reading their omission tables joined with the parse.

Kadar et al. (2017, sec. 5.3, Fig. 4) compare SUM, LM, TEXTUAL and VISUAL. Which (model,
pathway) each of them is, and how every other network is labelled, comes from the catalog
(:mod:`lingscope.core.catalog`); this module only applies it to the tables.

The omission tables are keyed by ``sentence_id, position, token`` and carry no parse labels;
:func:`read_omission` joins each token's ``xpos`` and ``deprel`` from the parse of the analysis
split, so the omission scores never depend on a parse setting.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from lingscope.core import catalog
from lingscope.core.errors import InputError
from lingscope.core.schemas import OMISSION, TOKENS

# The paper's four networks, in the order its Fig. 4 and R^2 table list them.
NETWORK_NAMES: tuple[str, ...] = catalog.KADAR_NETWORKS
LABELS = ("xpos", "deprel")


def network_name(model: str, pathway: str) -> str:
    """How figures and tables label a (model, pathway) (:func:`lingscope.core.catalog.network_display`)."""
    return catalog.network_display(model, pathway)


def network_column() -> pl.Expr:
    """The display name of each row's (model, pathway), as a ``network`` column."""
    return pl.struct("model", "pathway").map_elements(lambda r: network_name(r["model"], r["pathway"]),
                                                      return_dtype=pl.String).alias("network")


def paper_name(model: str, pathway: str) -> str | None:
    """The paper's name for a (model, pathway), or None if it is none of the four networks."""
    name = network_name(model, pathway)
    return name if name in NETWORK_NAMES else None


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


def read_omission(paths: list[str | Path], columns: list[str] | None = None, tokens: str | Path | None = None,
                  networks: tuple[str, ...] | None = None) -> dict[str, pl.DataFrame]:
    """Read omission tables (schema ``OMISSION``) into one frame per network, keyed by its name.

    Only the networks in ``networks`` (the paper's four by default) are kept; others are left
    out with a note on stderr. Each network must come from one file only, have one row per
    (sentence_id, position), and have a finite omission score in every row; the frames are
    sorted by sentence_id and position so that every analysis sees the same order. Where
    ``columns`` ask for ``xpos`` or ``deprel``, they are joined from the parse table ``tokens``.
    """
    networks = NETWORK_NAMES if networks is None else networks
    columns = list(columns or OMISSION.names)
    labels = [c for c in columns if c in LABELS]
    columns = [c for c in columns if c not in LABELS]
    for required in ("sentence_id", "position", "token", "model", "pathway", "omission"):
        if required not in columns:
            columns.append(required)
    parse = _read_labels(tokens, labels) if labels else None
    found: dict[str, tuple[Path, pl.DataFrame]] = {}
    for path in map(Path, paths):
        frame = read_table(path, OMISSION, columns)
        for (model, pathway), part in frame.group_by(["model", "pathway"], maintain_order=True):
            name = network_name(model, pathway)
            if name not in networks:
                print(f"lingscope: note: {path}: model {model!r} pathway {pathway!r} ({name}) is not one of the "
                      f"networks {list(networks)}; left out", file=sys.stderr)
                continue
            if name in found:
                raise InputError(path, f"model {model!r} pathway {pathway!r}",
                                 f"network {name} was already read from {found[name][0]}")
            _check_rows(path, part)
            if parse is not None:
                part = _join_labels(path, part, parse, tokens)
            found[name] = (path, part.sort(["sentence_id", "position"]))
    return {name: found[name][1] for name in networks if name in found}


def _read_labels(tokens: str | Path | None, labels: list[str]) -> pl.DataFrame:
    if tokens is None:
        raise InputError(None, "--tokens", f"the parse of the analysis split is needed for {labels}")
    return read_table(tokens, TOKENS, ["sentence_id", "position", "form", *labels])


def _join_labels(path: Path, frame: pl.DataFrame, parse: pl.DataFrame, tokens: str | Path) -> pl.DataFrame:
    """``frame`` with the parse's labels; every word must be in the parse, as the same form."""
    joined = frame.join(parse, on=["sentence_id", "position"], how="left")
    missing = joined.filter(pl.col("form").is_null())
    if not missing.is_empty():
        row = missing.row(0, named=True)
        raise InputError(path, f"sentence {row['sentence_id']} position {row['position']}",
                         f"has no token in the parse {tokens}; were both made from the same split?")
    mismatch = joined.filter(pl.col("form") != pl.col("token"))
    if not mismatch.is_empty():
        row = mismatch.row(0, named=True)
        raise InputError(path, f"sentence {row['sentence_id']} position {row['position']}",
                         f"scores the word {row['token']!r} but the parse {tokens} has {row['form']!r}")
    return joined.drop("form")


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
        wanted = ", ".join(f"{n} ({_where(n)})" for n in missing)
        given = " ".join(str(p) for p in paths)
        raise InputError(None, "--omission", f"no table for {wanted} among the files given: {given}")


def _where(display: str) -> str:
    for entry in catalog.KINDS.values():
        for network in entry.networks:
            if network.display == display:
                return f"model {entry.name!r}, pathway {network.name!r}"
    return "not in the catalog"
