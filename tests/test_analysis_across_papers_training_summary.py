"""The training summary (learning curves and every model's results) on small constructed inputs."""

from __future__ import annotations

import polars as pl
import pyarrow.parquet as pq

from lingscope.analysis.across_papers import training_summary as training
from lingscope.core.errors import run_cli
from lingscope.core.io import write_parquet
from lingscope.core.schemas import EVALUATION, EVALUATION_RESULTS, TRAINING_CURVES, TRAINING_METRICS


def metrics_rows(model: str, val_losses: list[float], best: int, visual: bool = True) -> list[dict]:
    return [{"model": model, "epoch": e, "train_loss": 2.0 / e, "train_loss_textual": 3.0 / e,
             "train_loss_visual": 0.5 / e if visual else None, "val_loss": v, "val_loss_textual": v + 1,
             "val_loss_visual": v / 2 if visual else None, "tokens_per_second": 1e4, "seconds": 3.0,
             "is_best": e == best} for e, v in enumerate(val_losses, start=1)]


def write_rows(path, rows, schema, name):
    write_parquet(pl.DataFrame(rows, schema=pl.from_arrow(schema.empty_table()).schema).to_arrow(), path, schema, name)


EVALUATION_ROWS = [
    ("imaginet", "visual", "recall@1", 0.2, 2500), ("imaginet", "visual", "median_rank", 9.0, 2500),
    ("imaginet", "textual", "perplexity", 31.5, 30000), ("lm", "textual", "perplexity", 29.0, 30000),
]


def training_argv(tmp_path) -> list[str]:
    return ["--metrics", str(tmp_path / "m1.parquet"), str(tmp_path / "m2.parquet"),
            "--evaluation", str(tmp_path / "e1.parquet"), str(tmp_path / "e2.parquet"),
            "--curves-table", str(tmp_path / "out" / "curves.parquet"), "--curves", str(tmp_path / "out" / "curves.png"),
            "--results", str(tmp_path / "out" / "results.csv")]


def write_training_inputs(tmp_path, imaginet_best: int = 2):
    write_rows(tmp_path / "m1.parquet", metrics_rows("imaginet", [1.5, 1.2, 1.3], imaginet_best),
               TRAINING_METRICS, "training_metrics")
    write_rows(tmp_path / "m2.parquet", metrics_rows("lm", [2.5, 2.4], 2, visual=False),
               TRAINING_METRICS, "training_metrics")
    for name, rows in (("e1", EVALUATION_ROWS[:3]), ("e2", EVALUATION_ROWS[3:])):
        write_rows(tmp_path / f"{name}.parquet",
                   [dict(zip(["model", "pathway", "metric", "value", "n"], r), split="val") for r in rows],
                   EVALUATION, "evaluation")


def test_training_cli_curves_and_results(tmp_path):
    write_training_inputs(tmp_path)
    assert run_cli(training.main, training_argv(tmp_path)) == 0
    curves = pl.read_parquet(tmp_path / "out" / "curves.parquet")
    assert pq.read_schema(tmp_path / "out" / "curves.parquet").names == TRAINING_CURVES.names
    assert len(curves) == (3 + 2) * 2
    val = curves.filter((pl.col("model") == "imaginet") & (pl.col("split") == "val")).sort("epoch")
    assert val["loss"].to_list() == [1.5, 1.2, 1.3] and val["loss_visual"].to_list() == [0.75, 0.6, 0.65]
    assert curves.filter(pl.col("is_best")).select("model", "epoch").unique().sort("model").rows() == [
        ("imaginet", 2), ("lm", 2)]
    train = curves.filter((pl.col("model") == "lm") & (pl.col("split") == "train")).sort("epoch")
    assert train["loss"].to_list() == [2.0, 1.0] and train["loss_visual"].null_count() == 2
    assert (tmp_path / "out" / "curves.png").exists() and (tmp_path / "out" / "curves.svg").exists()

    results = pl.read_csv(tmp_path / "out" / "results.csv")
    assert results.columns == EVALUATION_RESULTS.names
    assert results.select("model", "pathway", "metric").rows() == [
        ("imaginet", "textual", "perplexity"), ("imaginet", "visual", "recall@1"),
        ("imaginet", "visual", "median_rank"), ("lm", "textual", "perplexity")]
    assert results["network"].to_list() == ["Textual", "Visual", "Visual", "LM"]
    assert results["value"].to_list() == [31.5, 0.2, 9.0, 29.0]
    assert results["best_epoch"].to_list() == [2, 2, 2, 2]


def test_training_cli_rejects_ambiguous_best_epoch_and_duplicates(tmp_path, capsys):
    write_training_inputs(tmp_path, imaginet_best=0)  # no epoch flagged
    assert run_cli(training.main, training_argv(tmp_path)) == 2
    assert "model 'imaginet': 0 epochs are flagged is_best" in capsys.readouterr().err
    write_training_inputs(tmp_path)
    argv = training_argv(tmp_path)
    argv[argv.index(str(tmp_path / "e2.parquet"))] = str(tmp_path / "e1.parquet")
    assert run_cli(training.main, argv) == 2
    assert "appears more than once" in capsys.readouterr().err


def test_analysis_layer_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys\nimport lingscope.analysis.kadar2017.distributions, lingscope.analysis.kadar2017.ridge, "
            "lingscope.analysis.kadar2017.examples, lingscope.analysis.across_papers.training_summary\nprint('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
