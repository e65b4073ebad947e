"""The matrix page's module (lingscope.analysis.across_papers.matrix) on small files it can check by hand."""

from __future__ import annotations

import json

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lingscope.analysis.across_papers import matrix
from lingscope.core.errors import run_cli


def _plan(tmp_path, cells, name="plan.json") -> str:
    """A plan file as the workflow's matrix_plan writes it (text for a malformed one)."""
    path = tmp_path / name
    path.write_text(cells if isinstance(cells, str) else json.dumps(cells))
    return str(path)


def _cell(method, model, pathway, outputs=(), reason=None, shared=False):
    return {"method": method, "model": model, "pathway": pathway, "outputs": [str(p) for p in outputs],
            "shared": shared, "reason": reason}


@pytest.fixture
def files(tmp_path):
    shared = tmp_path / "shared.parquet"
    pq.write_table(pa.table({"model": ["lstm", "lstm", "rnn", None], "pathway": ["sentiment"] * 3 + [None],
                             "x": [1, 2, 3, 4]}), shared)
    by_name = tmp_path / "by_name.parquet"
    # rows of no network (a baseline's, as in the probe's Table 2) count for none of the cells
    pq.write_table(pa.table({"network": ["LSTM", "Visual", "Visual", None, None], "x": [1, 2, 3, 4, 5]}), by_name)
    store = tmp_path / "store" / "model=lstm" / "pathway=sentiment"
    for layer in (0, 1):  # every layer holds the network's 5 tokens: they count once
        (store / f"layer={layer}").mkdir(parents=True)
        pq.write_table(pa.table({"x": list(range(3))}), store / f"layer={layer}" / "part-0.parquet")
        pq.write_table(pa.table({"x": list(range(2))}), store / f"layer={layer}" / "part-1.parquet")
    return {"shared": shared, "by_name": by_name, "store": store, "root": tmp_path}


def test_cells_count_their_networks_rows_and_an_unfilled_plan_is_empty(files, tmp_path):
    cells = [_cell("omission", "lstm", "sentiment", [files["shared"]], shared=True),
             _cell("omission", "rnn", "sentiment", [files["shared"]], shared=True),
             _cell("probe", "lstm", "sentiment", [files["by_name"]], shared=True),
             _cell("probe", "bilstm", "sentiment", [files["by_name"]], shared=True),  # planned, no row of it
             _cell("dumps", "lstm", "sentiment", [files["store"]]),
             _cell("dumps", "rnn", "sentiment", reason="not offered")]
    table = matrix.evaluate(cells)
    assert table["status"].to_list() == ["ran", "ran", "ran", "empty", "ran", "blank"]
    assert table["rows"].to_list() == [2, 1, 1, 0, 5, None]
    assert table["network"].to_list() == ["LSTM", "RNN", "LSTM", "BiLSTM", "LSTM", "RNN"]
    out = tmp_path / "out"
    assert matrix.main(["--cells", _plan(tmp_path, cells), "--table", str(out / "matrix.csv"),
                        "--parquet", str(out / "matrix.parquet"), "--html", str(out / "matrix.html")]) == 0
    page = (out / "matrix.html").read_text()
    assert "href='../shared.parquet'" in page and "not offered" in page and "class='empty'" in page
    assert pl.read_parquet(out / "matrix.parquet").equals(table)


def test_bad_plans_and_missing_outputs_exit_with_a_clear_error(files, tmp_path, capsys):
    out = ["--table", str(tmp_path / "m.csv"), "--parquet", str(tmp_path / "m.parquet"),
           "--html", str(tmp_path / "m.html")]
    assert run_cli(matrix.main, ["--cells", _plan(tmp_path, "[not json"), *out]) == 2
    assert "not JSON" in capsys.readouterr().err
    both = [_cell("omission", "lstm", "sentiment", [files["shared"]], reason="why")]
    assert run_cli(matrix.main, ["--cells", _plan(tmp_path, both), *out]) == 2
    assert "either outputs or a reason" in capsys.readouterr().err
    assert run_cli(matrix.main, ["--cells", _plan(tmp_path, [{"method": "x"}]), *out]) == 2
    assert "missing ['model', 'pathway', 'outputs', 'shared', 'reason']" in capsys.readouterr().err
    gone = [_cell("omission", "lstm", "sentiment", [tmp_path / "gone.parquet"])]
    assert run_cli(matrix.main, ["--cells", _plan(tmp_path, gone), *out]) == 2
    assert "gone.parquet: no such file" in capsys.readouterr().err
    assert run_cli(matrix.main, ["--cells", str(tmp_path / "no_plan.json"), *out]) == 2
    assert "no_plan.json: cannot read the matrix plan" in capsys.readouterr().err
    assert not any((tmp_path / f"m.{e}").exists() for e in ("csv", "parquet", "html"))
