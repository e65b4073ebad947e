"""Training (determinism, kill -9 resume, early stopping), evaluation, dumps and omission CLIs
on a small synthetic MSCOCO built with the real generator and ingest."""

from __future__ import annotations

import dataclasses
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

from killed_training import kill_after_first_checkpoint
from lingscope.core.catalog import CaptionModelSettings
from lingscope.core.errors import run_cli
from lingscope.data import coco as ingest_coco
from lingscope.data import vocab as build_vocab
from lingscope.encoding.csr import to_csr
from lingscope.methods import activations, omission
from lingscope.models.checkpoint import load_model
from lingscope.training import evaluate, train
from lingscope.parse import merge, shard
from lingscope.synth import coco as synth_coco

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("coco")
    raw = root / "raw"
    assert synth_coco.main(["--out-dir", str(raw), "--seed", "7", "--n-train", "160", "--n-val", "30", "--n-test", "10",
                            "--feature-dim", "16"]) == 0
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
    ckpt = tmp_path / "ckpt" / "last.pt"
    cmd, env = kill_after_first_checkpoint(_train_args(corpus, tmp_path), ckpt)
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
    # A checkpoint left by a run that was killed after its first epoch ...
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "lingscope.training.train", *_train_args(corpus, tmp_path, epochs=3)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "ckpt" / "last.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert ckpt.exists()
    # ... is not resumed by a run with another setting.
    args = _train_args(corpus, tmp_path, "--learning-rate", "0.01", epochs=1)
    proc = subprocess.run([sys.executable, "-m", "lingscope.training.train", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert proc.returncode == 0
    assert "made with other settings" in proc.stderr and "resumed" not in proc.stderr


def test_a_finished_run_leaves_no_checkpoint(trained):
    assert (trained / "model.pt").exists()
    assert not (trained / "ckpt").exists()


def test_fingerprint_covers_every_setting_and_the_content_of_every_input(corpus, tmp_path):
    """No hand list: changing any field of the model entry's settings, or one byte of any
    input file, changes the fingerprint a checkpoint must match."""
    settings = CaptionModelSettings()
    inputs = {name: corpus[name] for name in ("sentences", "vocab", "images")}
    base = train.fingerprint(settings, inputs)
    assert train.fingerprint(settings, inputs) == base
    changed = {"kind": "sum", "gru": "authors", "task_sampling": True, "learning_rate": 0.5, "alpha": 0.5,
               "optimizer": "adagrad", "stop_on": "accuracy", "examples": "phrases", "corpus": "mine"}
    for field in dataclasses.fields(settings):
        value = changed[field.name] if field.name in changed else getattr(settings, field.name) + 1
        assert train.fingerprint(dataclasses.replace(settings, **{field.name: value}), inputs) != base, field.name
    copy = tmp_path / "images.parquet"
    copy.write_bytes(corpus["images"].read_bytes())
    assert train.fingerprint(settings, inputs | {"images": copy}) == base  # content, not the path
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 1
    copy.write_bytes(bytes(data))
    assert train.fingerprint(settings, inputs | {"images": copy}) != base


def test_changed_image_features_retrain_instead_of_keeping_the_old_model(corpus, tmp_path):
    """The stale-model bug: new image features of the same size must give a new model. Before
    the fix, the checkpoint of the finished run (fingerprinted by settings and sizes only) was
    resumed after its last epoch: nothing was trained and the old weights were saved again."""
    first = tmp_path / "first"
    assert train.main(_train_args(corpus, first, epochs=2)) == 0
    # The same captions and image sizes, other image vectors (another noise level).
    raw = tmp_path / "raw"
    assert synth_coco.main(["--out-dir", str(raw), "--seed", "7", "--n-train", "160", "--n-val", "30", "--n-test", "10",
                            "--feature-dim", "16", "--noise", "0.9"]) == 0
    images = tmp_path / "image_features.parquet"
    assert ingest_coco.main(["--karpathy", str(raw / "dataset_coco.json"), "--features", str(raw / "features.npy"),
                             "--sentences", str(tmp_path / "sentences.parquet"), "--image-features", str(images)]) == 0
    assert pq.read_table(tmp_path / "sentences.parquet").equals(pq.read_table(corpus["sentences"]))
    assert pq.read_table(images).num_rows == pq.read_table(corpus["images"]).num_rows
    new = dict(corpus, images=images)
    # Rerun into the same folder, as Snakemake does when the features change.
    rerun = subprocess.run([sys.executable, "-m", "lingscope.training.train", *_train_args(new, first, epochs=2)],
                           env={**os.environ, "PYTHONPATH": str(REPO / "src")}, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "resumed" not in rerun.stderr and "epoch 1:" in rerun.stderr and "epoch 2:" in rerun.stderr
    fresh = tmp_path / "fresh"
    assert train.main(_train_args(new, fresh, epochs=2)) == 0
    assert _same_weights(first / "model.pt", fresh / "model.pt")  # the new features' model ...
    assert not _same_weights(first / "model.pt", trained_on(corpus, tmp_path / "old"))  # ... not the old one


def trained_on(corpus, out: Path) -> Path:
    assert train.main(_train_args(corpus, out, epochs=2)) == 0
    return out / "model.pt"


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
    assert "--image-features: the model's 'image' readout is trained on this table" in capsys.readouterr().err


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
    assert [p.name for p in tokens_dir.iterdir()] == ["layer=0"]  # one layer: its partition only
    files = sorted((tokens_dir / "layer=0").glob("part-*.parquet"))
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
    eos = con.sql(f"select sentence_id, activation from read_parquet('{root}/*/*/*/*.parquet', hive_partitioning=true) "
                  "where token = '<eos>' and model = 'imaginet' and layer = 0 order by sentence_id").fetchall()
    h_end = con.sql(f"select sentence_id, activation from read_parquet('{h_end_dir}/*.parquet') order by sentence_id").fetchall()
    assert [r[0] for r in eos] == [r[0] for r in h_end] == sorted(sentences.column("sentence_id").to_pylist())
    np.testing.assert_array_equal(np.array([r[1] for r in eos]), np.array([r[1] for r in h_end]))
    model, _ = load_model(trained / "model.pt")
    vocab = dict(zip(*[pq.read_table(corpus["vocab"]).column(c).to_pylist() for c in ("token", "token_id")]))
    first = sentences.slice(0, 1).to_pylist()[0]
    ids = torch.tensor([[vocab.get(t.lower(), 1) for t in first["tokens"]] + [2]])
    ref = model.states("visual", model.embed(ids), torch.tensor([ids.shape[1]]))[0].detach().numpy()
    rows = con.sql(f"select position, token, activation from read_parquet('{tokens_dir}/layer=0/*.parquet') "
                   f"where sentence_id = {first['sentence_id']} order by position").fetchall()
    assert [r[0] for r in rows] == list(range(1, len(first["tokens"]) + 2))
    assert [r[1] for r in rows[:-1]] == [t.lower() for t in first["tokens"]]
    np.testing.assert_allclose(np.array([r[2] for r in rows]), ref, atol=1e-5)
    # DuckDB indexes lists from 1.
    sixth = con.sql(f"select activation[6] from read_parquet('{tokens_dir}/layer=0/*.parquet') where sentence_id = {first['sentence_id']} and position = 1").fetchall()[0][0]
    assert sixth == pytest.approx(float(ref[0, 5]))


def test_dump_float16(corpus, trained, tmp_path):
    tokens_dir, _ = _dump(corpus, trained, tmp_path, "textual", "--dtype", "float16")
    table = pq.read_table(tokens_dir)
    field_type = table.schema.field("activation").type
    assert (field_type.value_type, field_type.list_size) == (pa.float16(), 24)
    meta = pq.ParquetFile(next(tokens_dir.glob("layer=0/*.parquet"))).metadata
    encodings = meta.row_group(0).column(3).encodings
    assert "PLAIN_DICTIONARY" not in encodings and "RLE_DICTIONARY" not in encodings


def test_dump_bad_pathway_leaves_nothing(corpus, tmp_path, capsys):
    out = tmp_path / "lm"
    assert train.main(_train_args(corpus, out, kind="lm", epochs=1)) == 0
    tokens_dir = tmp_path / "t"
    code = run_cli(activations.main, ["--model", str(out / "model.pt"), "--pathway", "visual", "--sentences", str(corpus["sentences"]),
                                      "--vocab", str(corpus["vocab"]), "--tokens-dir", str(tokens_dir), "--h-end-dir", str(tmp_path / "h")])
    assert code == 2
    assert "has no 'visual' network" in capsys.readouterr().err
    assert not tokens_dir.exists()


def test_omission_cli_scores_every_word_of_the_split_and_matches_naive(corpus, trained, tmp_path):
    """The table is keyed by the sentences table (no parse needed) and equals the authors'
    method of deleting each word and rerunning, to 1e-5."""
    out = tmp_path / "imaginet.visual.parquet"
    assert omission.main(["--model", str(trained / "model.pt"), "--pathway", "visual", "--sentences",
                          str(corpus["sentences"]), "--vocab", str(corpus["vocab"]), "--chunk-tokens", "37",
                          "--batch-rows", "8", "--device", "cpu", "--out", str(out)]) == 0
    scores = pq.read_table(out)
    assert scores.schema.names == ["sentence_id", "position", "token", "model", "pathway", "omission"]
    sentences = pq.read_table(corpus["sentences"], filters=[("split", "=", "val")])
    parse = pq.read_table(corpus["tokens"])  # the parse has one row per word, in the same order
    for col_s, col_p in (("sentence_id", "sentence_id"), ("position", "position"), ("token", "form")):
        assert scores.column(col_s).to_pylist() == parse.column(col_p).to_pylist()
    assert set(scores.column("model").to_pylist()) == {"imaginet"}
    model, _ = load_model(trained / "model.pt")
    vocab = dict(zip(*[pq.read_table(corpus["vocab"]).column(c).to_pylist() for c in ("token", "token_id")]))
    token_lists = sentences.column("tokens").to_pylist()
    n_words = np.array([len(t) for t in token_lists])
    words = np.array([vocab.get(t.lower(), 1) for tokens in token_lists for t in tokens])
    naive = np.concatenate(omission.naive_omission(model, "visual", *to_csr(words, n_words), n_words, "cpu"))
    np.testing.assert_allclose(scores.column("omission").to_numpy(), naive, atol=1e-5)


def test_omission_rejects_an_empty_sentence_and_leaves_nothing(corpus, trained, tmp_path, capsys):
    table = pq.read_table(corpus["sentences"])
    tokens = table.column("tokens").to_pylist()
    row = table.column("split").to_pylist().index("val") + 3
    tokens[row] = []
    bad = tmp_path / "bad.parquet"
    pq.write_table(table.set_column(table.schema.get_field_index("tokens"), "tokens", pa.array(tokens)), bad)
    out = tmp_path / "o.parquet"
    code = run_cli(omission.main, ["--model", str(trained / "model.pt"), "--pathway", "visual", "--sentences", str(bad),
                                   "--vocab", str(corpus["vocab"]), "--chunk-tokens", "20", "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    sentence_id = table.column("sentence_id")[row].as_py()
    assert str(bad) in err and f"sentence_id {sentence_id}: sentence has no tokens" in err
    assert not out.exists() and not list(tmp_path.glob(".o.parquet*"))
