"""The method x network matrix as it ran (docs/beyond.md#the-matrix; issue 15): which method filled
which network's cell, with links to the outputs, and why a blank cell is blank.

The workflow plans the cells (:meth:`lingscope.core.plan.Plan.matrix_cells`, from the catalog and
the config) and hands them over as a JSON file: per cell the method, the network, and either the files
that fill it or the reason it is blank. This module checks the run against that plan: every
listed file must exist, and the cell counts the network's own rows in it (a shared table, such as
the probe's Table 2, is filtered to the network by its ``model``/``pathway`` or ``network``
column; an activation store is counted as a Parquet dataset, the rows of one of its ``layer=K``
partitions, the top one, as every layer holds the same tokens). A planned cell whose files hold no
row of its network is marked ``empty``, not ``ran``: the page shows what the run holds, not what
was asked for.

Outputs: ``matrix.parquet`` and ``matrix.csv`` (MATRIX schema, one row per cell) and
``matrix.html``, a table of methods x networks whose cells link to their files (relative links,
so the page works where the results folder is opened).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import sys
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from lingscope.core.catalog import network_display
from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet, write_text
from lingscope.core.schemas import MATRIX

CELL_KEYS = ("method", "model", "pathway", "outputs", "shared", "reason")


def read_cells(text: str, where: str) -> list[dict]:
    """The planned cells: a JSON list of objects with :data:`CELL_KEYS`."""
    try:
        cells = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(where, None, f"not JSON ({err})") from None
    if not isinstance(cells, list) or not cells:
        raise InputError(where, None, "expected a non-empty JSON list of cells")
    for k, cell in enumerate(cells):
        missing = [key for key in CELL_KEYS if not isinstance(cell, dict) or key not in cell]
        if missing:
            raise InputError(where, f"cell {k}", f"missing {missing}; expected the keys {list(CELL_KEYS)}")
        if bool(cell["outputs"]) == bool(cell["reason"]):
            raise InputError(where, f"cell {k} ({cell['method']}, {cell['model']}/{cell['pathway']})",
                             "needs either outputs or a reason, not both or neither")
    return cells


def network_rows(path: Path, model: str, pathway: str, read: dict | None = None) -> int:
    """The rows of network ``model``/``pathway`` in ``path`` (a Parquet file or dataset folder).
    ``read`` keeps each file's counts, so a table shared by many cells is read once."""
    read = {} if read is None else read
    if path not in read:
        read[path] = row_counts(path)
    counts = read[path]
    if isinstance(counts, int):  # a file of one network
        return counts
    return counts.get((model, pathway), counts.get(network_display(model, pathway), 0))


def row_counts(path: Path) -> dict | int:
    """Rows per network in ``path``, keyed by ``(model, pathway)`` or by the ``network`` display
    name (rows of no network, such as a baseline's, under ``None``); the number of rows for a
    file of one network (an activation store, a per-network table)."""
    if not path.exists():
        raise InputError(path, None, "no such file: the run did not write a planned output")
    try:
        dataset = ds.dataset(path, format="parquet", partitioning="hive") if path.is_dir() else None
        names = dataset.schema.names if dataset is not None else pq.read_schema(path).names
    except (OSError, ValueError, pa.ArrowException) as err:  # what pyarrow raises for what is not Parquet
        raise InputError(path, None, f"not a readable Parquet file or dataset ({err})") from None
    if dataset is not None:
        # An activation store is one network's (model=M/pathway=P), its partition keys included; its
        # layer=K partitions hold the same tokens, so the top layer's rows are the network's rows.
        layers = {int(m.group(1)) for f in dataset.files if (m := re.search(r"(?:^|/)layer=(\d+)/", f))}
        if layers and "layer" in dataset.schema.names:
            return dataset.count_rows(filter=ds.field("layer") == max(layers))
        return dataset.count_rows()
    if "model" in names and "pathway" in names:
        counts = pl.read_parquet(path, columns=["model", "pathway"]).group_by("model", "pathway").len()
        return {(m, p): n for m, p, n in counts.iter_rows()}
    if "network" in names:
        return dict(pl.read_parquet(path, columns=["network"]).group_by("network").len().iter_rows())
    return pq.read_metadata(path).num_rows


def evaluate(cells: list[dict]) -> pl.DataFrame:
    """One MATRIX row per cell: ``ran`` (with its files and the network's rows), ``empty`` or ``blank``."""
    rows, read = [], {}
    for cell in cells:
        model, pathway = cell["model"], cell["pathway"]
        outputs = [str(p) for p in cell["outputs"]]
        counts = [network_rows(Path(p), model, pathway, read) for p in outputs]
        status = "blank" if not outputs else ("ran" if all(counts) else "empty")
        rows.append({"method": cell["method"], "network": network_display(model, pathway), "model": model,
                     "pathway": pathway, "status": status, "outputs": outputs, "rows": sum(counts) if outputs else None,
                     "shared": bool(cell["shared"]), "reason": cell["reason"]})
    return pl.DataFrame(rows, schema=pl.from_arrow(MATRIX.empty_table()).schema)


def page(table: pl.DataFrame, folder: Path) -> str:
    """The HTML table: a row per method, a column per network; links relative to ``folder``."""
    methods = table["method"].unique(maintain_order=True).to_list()
    networks = table["network"].unique(maintain_order=True).to_list()
    by_cell = {(r["method"], r["network"]): r for r in table.iter_rows(named=True)}
    counts = table.group_by("status").len()
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.iter_rows()))
    out = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'><title>lingscope: methods x networks</title>",
           ("<style>body{font-family:sans-serif;font-size:13px} table{border-collapse:collapse}"
            " td,th{border:1px solid #bbb;padding:4px 6px;vertical-align:top} th{background:#eee}"
            " td.ran{background:#e8f5e9} td.empty{background:#ffebee} td.blank{background:#f5f5f5;color:#777;"
            "font-size:11px;max-width:14em} a{display:block}</style></head><body>"),
           "<h2>Every method on every network, as this run made it</h2>",
           (f"<p>{len(table)} cells: {html.escape(summary)}. A filled cell links to its files (with the "
            "network's rows in them); a blank cell says why it is blank; an <em>empty</em> cell was planned "
            "but holds no row of its network.</p>"), "<table><tr><th>method</th>"]
    out += [f"<th>{html.escape(n)}</th>" for n in networks] + ["</tr>"]
    for method in methods:
        out.append(f"<tr><th style='text-align:left'>{html.escape(method)}</th>")
        for network in networks:
            cell = by_cell.get((method, network))
            if cell is None:
                out.append("<td class='blank'>-</td>")
                continue
            if cell["status"] == "blank":
                out.append(f"<td class='blank'>{html.escape(cell['reason'])}</td>")
                continue
            links = "".join(f"<a href='{html.escape(Path(os.path.relpath(p, folder)).as_posix())}'>"
                            f"{html.escape(Path(p).name)}</a>" for p in cell["outputs"])
            note = f"{cell['rows']:,} rows" + (" (shared table)" if cell["shared"] else "")
            out.append(f"<td class='{cell['status']}'>{links}<small>{note}</small></td>")
        out.append("</tr>")
    out += ["</table></body></html>", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", required=True, type=Path,
                   help="the planned cells, a JSON file (the workflow's matrix_plan: Plan.matrix_cells)")
    p.add_argument("--table", required=True, type=Path, help="matrix.csv")
    p.add_argument("--parquet", required=True, type=Path, help="matrix.parquet (MATRIX)")
    p.add_argument("--html", required=True, type=Path, help="matrix.html")
    args = p.parse_args(argv)
    try:
        text = args.cells.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(args.cells, None, f"cannot read the matrix plan ({err})") from None
    table = evaluate(read_cells(text, str(args.cells)))
    csv = table.with_columns(pl.col("outputs").list.join(" ")).write_csv()
    text = page(table, args.html.parent)  # everything is made before anything is written
    write_parquet(table.to_arrow(), args.parquet, MATRIX, "matrix")
    write_text(args.table, csv)
    write_text(args.html, text)
    for status in ("ran", "empty", "blank"):
        print(f"{status}: {table.filter(pl.col('status') == status).height} cells", file=sys.stderr)
    empty = table.filter(pl.col("status") == "empty")
    for row in empty.iter_rows(named=True):
        print(f"warning: {row['method']} on {row['network']}: its files hold no row of it", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
