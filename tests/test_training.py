"""Training (determinism, kill -9 resume, early stopping), evaluation, dumps and omission CLIs
on a small synthetic MSCOCO built with the real generator and ingest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from lingscope import activations, evaluate, omission, train
from lingscope.data import coco as ingest_coco
from lingscope.data import vocab as build_vocab
from lingscope.errors import run_cli
from lingscope.models.imaginet import load_model
from lingscope.parse import merge, shard
from lingscope.synth import coco as synth_coco

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("coco")
    raw = root / "raw"
    assert synth_coco.main(["--out-dir", str(raw), "--seed", "7", "--n-train", "160", "--n-val", "30", "--n-test", "10",
                            "--dim", "16"]) == 0
    paths = {"sentences": root / "sentences.parquet", "images": root / "image_features.parquet",
             "vocab": root / "vocab.parquet", "tokens": root / "tokens.parquet"}
    assert ingest_coco.main(["--karpathy", str(raw / "dataset_coco.json"), "--features", str(raw / "features.npy"),
                             "--sentences", str(paths["sentences"]), "--image-features", str(paths["images"])]) == 0
    assert build_vocab.main(["--sentences", str(paths["sentences"]), "--out", str(paths["vocab"]), "--min-count", "1"]) == 0
    part = root / "part.parquet"
    assert shard.main(["--sentences", str(paths["sentences"]), "--split", "val", "--shard", "0", "--n-shards", "1",
                       "--out", str(part)]) == 0
    assert merge.main([str(part), "--out", str(paths["tokens"])]) == 0
    return paths


def _train_args(corpus, out: Path, *extra: str, kind: str = "imaginet", epochs: int = 3) -> list[str]:
    args = ["--name", kind, "--kind", kind, "--sentences", str(corpus["sentences"]), "--vocab", str(corpus["vocab"]),
            "--embedding-dim", "16", "--hidden-dim", "24", "--max-epochs", str(epochs), "--patience", "5",
            "--batch-size", "16", "--seed", "3", "--device", "cpu",
            "--checkpoint-dir", str(out / "ckpt"), "--out-model", str(out / "model.pt"), "--out-metrics", str(out / "metrics.parquet")]
    if kind != "lm":
        args += ["--image-features", str(corpus["images"])]
    return args + list(extra)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_model(path)[0].state_dict()


def _same_weights(a: Path, b: Path) -> bool:
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def _losses(path: Path) -> list:
    return pq.read_table(path, columns=["epoch", "train_loss", "val_loss", "is_best"]).to_pylist()


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("imaginet")
    assert train.main(_train_args(corpus, out)) == 0
    return out


def test_training_learns_and_writes_metrics(trained):
    rows = pq.read_table(trained / "metrics.parquet").to_pylist()
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[-1]["val_loss"] < rows[0]["val_loss"]
    assert sum(r["is_best"] for r in rows) == 1
    best = min(rows, key=lambda r: r["val_loss"])
    assert best["is_best"]
    assert all(r["tokens_per_second"] > 0 and r["train_loss_visual"] is not None for r in rows)


def test_training_is_deterministic_for_a_seed(corpus, trained, tmp_path):
    assert train.main(_train_args(corpus, tmp_path)) == 0
    assert _losses(tmp_path / "metrics.parquet") == _losses(trained / "metrics.parquet")
    assert _same_weights(tmp_path / "model.pt", trained / "model.pt")


def test_another_seed_gives_other_weights(corpus, trained, tmp_path):
    args = _train_args(corpus, tmp_path)
    args[args.index("--seed") + 1] = "4"
    assert train.main(args) == 0
    assert not _same_weights(tmp_path / "model.pt", trained / "model.pt")


def test_kill_9_mid_epoch_resumes_from_last_checkpoint(corpus, trained, tmp_path):
    """Kill the training process after its first checkpoint, rerun: it resumes after epoch 1
    and ends with exactly the weights and metrics of the uninterrupted run."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "lingscope.train", *_train_args(corpus, tmp_path)]
    ckpt = tmp_path / "ckpt" / "last.pt"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.005)
    assert ckpt.exists(), "no checkpoint appeared"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "model.pt").exists()  # nothing that looks finished
    saved = torch.load(ckpt, weights_only=False)["state"]["epoch"]
    assert saved < 3
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"resumed from {ckpt} after epoch {saved}" in rerun.stderr
    assert f"epoch {saved}:" not in rerun.stderr.replace(f"after epoch {saved}", "")  # not retrained
    assert _losses(tmp_path / "metrics.parquet") == _losses(trained / "metrics.parquet")
    assert _same_weights(tmp_path / "model.pt", trained / "model.pt")


def test_changed_settings_do_not_resume_a_foreign_checkpoint(corpus, trained, tmp_path):
    assert train.main(_train_args(corpus, tmp_path, epochs=1)) == 0
    args = _train_args(corpus, tmp_path, "--learning-rate", "0.01", epochs=1)
    proc = subprocess.run([sys.executable, "-m", "lingscope.train", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert proc.returncode == 0
    assert "made with other settings" in proc.stderr


def test_early_stopping_stops_after_patience(corpus, tmp_path):
    # A huge learning rate makes validation worse at once; patience 1 stops at epoch 2.
    args = _train_args(corpus, tmp_path, "--learning-rate", "5.0", epochs=6)
    args[args.index("--patience") + 1] = "1"
    assert train.main(args) == 0
    rows = _losses(tmp_path / "metrics.parquet")
    assert len(rows) < 6
    assert rows[-1]["val_loss"] >= min(r["val_loss"] for r in rows)


@pytest.mark.parametrize("kind", ["sum", "lm"])
def test_other_kinds_train(corpus, tmp_path, kind):
    assert train.main(_train_args(corpus, tmp_path, kind=kind, epochs=1)) == 0
    model, extra = load_model(tmp_path / "model.pt")
    assert model.arch.kind == kind
    assert ("image_mean" in extra) == (kind == "sum")


def test_task_sampling_and_authors_gru_train(corpus, tmp_path):
    assert train.main(_train_args(corpus, tmp_path, "--task-sampling", "--gru", "authors", epochs=1)) == 0
    rows = pq.read_table(tmp_path / "metrics.parquet").to_pylist()
    assert rows[0]["val_loss_textual"] is not None and rows[0]["val_loss_visual"] is not None


def test_bad_settings_exit_2_with_a_message(corpus, tmp_path, capsys):
    assert run_cli(train.main, _train_args(corpus, tmp_path, "--alpha", "1.5")) == 2
    assert "--alpha: must lie in [0, 1], got 1.5" in capsys.readouterr().err
    args = _train_args(corpus, tmp_path)
    del args[args.index("--image-features") : args.index("--image-features") + 2]
    assert run_cli(train.main, args) == 2
    assert "needs --image-features" in capsys.readouterr().err


def test_evaluation_retrieves_above_chance(corpus, trained, tmp_path):
    out = tmp_path / "eval.parquet"
    assert evaluate.main(["--model", str(trained / "model.pt"), "--sentences", str(corpus["sentences"]),
                          "--vocab", str(corpus["vocab"]), "--image-features", str(corpus["images"]), "--out", str(out)]) == 0
    rows = {(r["pathway"], r["metric"]): r for r in pq.read_table(out).to_pylist()}
    assert rows["visual", "chance_recall@1"]["value"] == pytest.approx(1 / 30)
    assert rows["visual", "recall@1"]["value"] > 2 * rows["visual", "chance_recall@1"]["value"]
    assert rows["visual", "recall@1"]["value"] <= rows["visual", "recall@5"]["value"] <= rows["visual", "recall@10"]["value"]
    ppl = rows["textual", "perplexity"]
    assert ppl["value"] == pytest.approx(np.exp(rows["textual", "cross_entropy"]["value"]))
    assert 1 < ppl["value"] < pq.read_table(corpus["vocab"]).num_rows  # better than uniform


def _dump(corpus, trained, tmp_path, pathway="visual", *extra):
    tokens_dir = tmp_path / "tokens" / "model=imaginet" / f"pathway={pathway}"
    h_end_dir = tmp_path / "h_end" / "model=imaginet" / f"pathway={pathway}"
    args = ["--model", str(trained / "model.pt"), "--pathway", pathway, "--sentences", str(corpus["sentences"]),
            "--vocab", str(corpus["vocab"]), "--device", "cpu", "--tokens-dir", str(tokens_dir), "--h-end-dir", str(h_end_dir), *extra]
    assert activations.main(args) == 0
    return tokens_dir, h_end_dir


def test_dump_rows_schema_and_h_end(corpus, trained, tmp_path):
    tokens_dir, h_end_dir = _dump(corpus, trained, tmp_path, "visual", "--chunk-sentences", "7",
                                  "--row-group-rows", "50", "--rows-per-file", "400")
    sentences = pq.read_table(corpus["sentences"], filters=[("split", "=", "val")])
    n_tokens = sum(len(t) + 1 for t in sentences.column("tokens").to_pylist())
    files = sorted(tokens_dir.glob("part-*.parquet"))
    assert len(files) == -(-n_tokens // 400)  # parts cut at rows_per_file
    table = pq.read_table(tokens_dir)
    assert table.num_rows == n_tokens
    field_type = table.schema.field("activation").type
    assert (field_type.value_type, field_type.list_size) == (pa.float32(), 24)
    # Row groups hold increasing, disjoint sentence ranges: a sentence filter can skip them.
    meta = pq.ParquetFile(files[0]).metadata
    assert meta.num_row_groups == 8
    ranges = [(meta.row_group(g).column(0).statistics.min, meta.row_group(g).column(0).statistics.max) for g in range(meta.num_row_groups)]
    assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:]))
    # h_end is the state at <eos> and equals a fresh forward run.
    con = duckdb.connect()
    root = tokens_dir.parent.parent
    eos = con.sql(f"select sentence_id, activation from read_parquet('{root}/*/*/*.parquet', hive_partitioning=true) "
                  "where token = '<eos>' and model = 'imaginet' order by sentence_id").fetchall()
    h_end = con.sql(f"select sentence_id, activation from read_parquet('{h_end_dir}/*.parquet') order by sentence_id").fetchall()
    assert [r[0] for r in eos] == [r[0] for r in h_end] == sorted(sentences.column("sentence_id").to_pylist())
    np.testing.assert_array_equal(np.array([r[1] for r in eos]), np.array([r[1] for r in h_end]))
    model, _ = load_model(trained / "model.pt")
    vocab = dict(zip(*[pq.read_table(corpus["vocab"]).column(c).to_pylist() for c in ("token", "token_id")]))
    first = sentences.slice(0, 1).to_pylist()[0]
    ids = torch.tensor([[vocab.get(t.lower(), 1) for t in first["tokens"]] + [2]])
    ref = model.states("visual", ids)[0].detach().numpy()
    rows = con.sql(f"select position, token, activation from read_parquet('{tokens_dir}/*.parquet') "
                   f"where sentence_id = {first['sentence_id']} order by position").fetchall()
    assert [r[0] for r in rows] == list(range(1, len(first["tokens"]) + 2))
    assert [r[1] for r in rows[:-1]] == [t.lower() for t in first["tokens"]]
    np.testing.assert_allclose(np.array([r[2] for r in rows]), ref, atol=1e-5)
    # DuckDB indexes lists from 1.
    sixth = con.sql(f"select activation[6] from read_parquet('{tokens_dir}/*.parquet') where sentence_id = {first['sentence_id']} and position = 1").fetchall()[0][0]
    assert sixth == pytest.approx(float(ref[0, 5]))


def test_dump_float16(corpus, trained, tmp_path):
    tokens_dir, _ = _dump(corpus, trained, tmp_path, "textual", "--dtype", "float16")
    table = pq.read_table(tokens_dir)
    field_type = table.schema.field("activation").type
    assert (field_type.value_type, field_type.list_size) == (pa.float16(), 24)
    meta = pq.ParquetFile(next(tokens_dir.glob("*.parquet"))).metadata
    encodings = meta.row_group(0).column(3).encodings
    assert "PLAIN_DICTIONARY" not in encodings and "RLE_DICTIONARY" not in encodings


def test_dump_bad_pathway_leaves_nothing(corpus, tmp_path, capsys):
    out = tmp_path / "lm"
    assert train.main(_train_args(corpus, out, kind="lm", epochs=1)) == 0
    tokens_dir = tmp_path / "t"
    code = run_cli(activations.main, ["--model", str(out / "model.pt"), "--pathway", "visual", "--sentences", str(corpus["sentences"]),
                                      "--vocab", str(corpus["vocab"]), "--tokens-dir", str(tokens_dir), "--h-end-dir", str(tmp_path / "h")])
    assert code == 2
    assert "has no 'visual' pathway" in capsys.readouterr().err
    assert not tokens_dir.exists()


def test_omission_cli_joins_the_parse_and_matches_naive(corpus, trained, tmp_path):
    out = tmp_path / "imaginet.visual.parquet"
    assert omission.main(["--model", str(trained / "model.pt"), "--pathway", "visual", "--tokens", str(corpus["tokens"]),
                          "--vocab", str(corpus["vocab"]), "--chunk-tokens", "37", "--batch-rows", "8", "--device", "cpu",
                          "--out", str(out)]) == 0
    scores = pq.read_table(out)
    parse = pq.read_table(corpus["tokens"])
    assert scores.num_rows == parse.num_rows
    for col_s, col_p in (("sentence_id", "sentence_id"), ("position", "position"), ("token", "form"), ("xpos", "xpos"), ("deprel", "deprel")):
        assert scores.column(col_s).to_pylist() == parse.column(col_p).to_pylist()
    assert set(scores.column("model").to_pylist()) == {"imaginet"}
    model, _ = load_model(trained / "model.pt")
    vocab = dict(zip(*[pq.read_table(corpus["vocab"]).column(c).to_pylist() for c in ("token", "token_id")]))
    sid = np.array(scores.column("sentence_id").to_pylist())
    forms = parse.column("form").to_pylist()
    starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
    bounds = list(zip(starts, np.r_[starts[1:], len(sid)]))
    sents = [np.array([vocab.get(forms[k].lower(), 1) for k in range(a, b)]) for a, b in bounds]
    naive = np.concatenate(omission.naive_omission(model, "visual", sents, "cpu"))
    np.testing.assert_allclose(scores.column("omission").to_numpy(), naive, atol=1e-5)


def test_omission_rejects_broken_token_order(corpus, trained, tmp_path, capsys):
    table = pq.read_table(corpus["tokens"])
    bad = tmp_path / "bad.parquet"
    order = list(range(table.num_rows))
    order[1], order[2] = order[2], order[1]
    pq.write_table(table.take(order), bad)
    code = run_cli(omission.main, ["--model", str(trained / "model.pt"), "--pathway", "visual", "--tokens", str(bad),
                                   "--vocab", str(corpus["vocab"]), "--out", str(tmp_path / "o.parquet")])
    assert code == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "must be contiguous and numbered 1..n" in err
    assert not (tmp_path / "o.parquet").exists()
