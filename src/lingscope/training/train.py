"""Train one ``models.<name>`` entry: one loop for every family, driven by the model's objectives.

- The loss is the weighted sum of the model's objectives (IMAGINET: ``alpha * L_T + (1 - alpha) *
  L_V``, Kadar et al. 2017, sec. 3), or, where the model samples them (``task_sampling``, the
  authors' code), one objective per batch drawn by weight.
- Adam, AdaGrad or SGD (``optimizer``), with an optional L2 penalty (``l2``, the optimiser's
  weight decay) and an optional schedule that halves the learning rate at fixed points of
  training (``lr_decay_start``, ``lr_decay_every``: Sutskever et al. 2014); batches of examples of equal length; early stopping on the validation loss, or on
  the validation accuracy of the class readouts (``stop_on``). The examples are the corpus's
  sentences, or every labelled phrase of a treebank's train trees (``examples: phrases``, Li et
  al. 2016).
- A checkpoint after every epoch (``<checkpoint-dir>/last.pt``, written atomically). A rerun
  resumes after the last finished epoch, with the optimiser state and the data order intact, so
  an interrupted run ends with the same weights as an uninterrupted one (on the same machine
  and thread count). A checkpoint is resumed only when its fingerprint matches: a hash of every
  setting and of the content of every input file, so changed data can never be mistaken for
  the same run. A finished run deletes its checkpoint.
- Writes the weights of the best epoch (``--out-model``) and one metrics row per epoch
  (``--out-metrics``, TRAINING_METRICS with a loss column per objective of the model).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from tqdm import tqdm

from lingscope.core import catalog, code
from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import atomic_path, write_parquet
from lingscope.core.schemas import training_metrics_schema
from lingscope.core.settings import Runtime, TrainingSettings
from lingscope.encoding.captions import Sentences, length_batches, load_sentences
from lingscope.encoding.ids import load_vocab_checked
from lingscope.models.base import Model
from lingscope.models.checkpoint import check_contract, family, save_model, use_runtime
from lingscope.training.objectives import (
    TARGET_TABLES,
    Batch,
    Targets,
    add_table_arguments,
    is_classes,
    load_targets,
    loss,
    loss_and_correct,
    table_paths,
    validation_weight,
)

# Bump when the checkpoint's content changes meaning: older checkpoints are then ignored.
CHECKPOINT_FORMAT = 3

OPTIMIZERS = {"adam": torch.optim.Adam, "adagrad": torch.optim.Adagrad, "sgd": torch.optim.SGD}


def learning_rate(settings: TrainingSettings, progress: float) -> float:
    """The learning rate after ``progress`` epochs of training: constant, or halved every
    ``lr_decay_every`` epochs once ``lr_decay_start`` epochs are done (Sutskever et al. 2014:
    lr 0.7 halved every half epoch after epoch 5). A function of the batch's place only, so a
    resumed run follows the same schedule."""
    start = settings.lr_decay_start
    if start <= 0 or progress < start:
        return settings.learning_rate
    return settings.learning_rate * 0.5 ** (int((progress - start) / settings.lr_decay_every + 1e-9) + 1)


def _epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    # Data order and objective draws depend only on (seed, epoch), so a resumed run repeats them.
    return np.random.default_rng([seed, epoch])


class Trainer:
    def __init__(self, model: Model, settings: TrainingSettings, name: str, data: dict[str, Sentences],
                 targets: Targets, device: torch.device):
        self.model, self.settings, self.name, self.data, self.targets = model, settings, name, data, targets
        self.device = device
        self.objectives = model.objectives()

    def batch(self, split: str, index: np.ndarray) -> Batch:
        ids, lengths = self.data[split].padded(index)
        index_t = torch.from_numpy(index).to(self.device)
        targets = {name: values[index_t] for name, values in self.targets.per_split[split].items()}
        return Batch(torch.from_numpy(ids).to(self.device, non_blocking=True), torch.from_numpy(lengths).to(self.device),
                     int(lengths.sum()), targets)

    def _drawn(self, draw: float):
        """The objectives a training batch trains: all of them, or one drawn by weight."""
        if not self.model.sample_objectives or len(self.objectives) < 2:
            return self.objectives
        bound = 0.0
        for objective in self.objectives[:-1]:
            bound += objective.weight
            if draw < bound:
                return (objective,)
        return (self.objectives[-1],)

    def run_epoch(self, optimizer, epoch: int) -> dict:
        model, settings, rng = self.model, self.settings, _epoch_rng(self.settings.seed, epoch)
        batches = length_batches(self.data["train"].lengths, settings.batch_size, rng)
        draws = rng.random(len(batches))
        model.train()
        names = [o.name for o in self.objectives]
        sums = dict.fromkeys(["loss", *names], 0.0)
        counts = dict.fromkeys(["loss", *names], 0)
        tokens, start = 0, time.perf_counter()
        bar = tqdm(total=len(batches), desc=f"{self.name} epoch {epoch}", file=sys.stderr, mininterval=10, unit="batch")
        for k, index in enumerate(batches):
            if settings.lr_decay_start > 0:
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(settings, epoch - 1 + k / len(batches))
            batch = self.batch("train", index)
            losses = {o.name: loss(model, o, batch) for o in self._drawn(draws[k])}
            total = model.combine(losses)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            if settings.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()
            tokens += batch.n_tokens
            if k % 20 == 0 or k == len(batches) - 1:
                # .item() syncs the device; doing it every batch would cost GPU throughput.
                for name, value in losses.items():
                    sums[name] += value.item() * len(index)
                    counts[name] += len(index)
                sums["loss"] += total.item() * len(index)
                counts["loss"] += len(index)
                bar.set_postfix(loss=f"{total.item():.4f}", tok_s=f"{tokens / (time.perf_counter() - start):,.0f}",
                                refresh=False)
            bar.update(1)
        bar.close()
        seconds = time.perf_counter() - start
        mean = {k: (sums[k] / counts[k] if counts[k] else None) for k in sums}
        return {"train_loss": mean["loss"], **{f"train_loss_{n}": mean[n] for n in names},
                "tokens_per_second": tokens / seconds, "seconds": seconds}

    @torch.no_grad()
    def validate(self) -> dict:
        model = self.model
        model.eval()
        totals = {o.name: 0.0 for o in self.objectives}
        weights = {o.name: 0 for o in self.objectives}
        correct = {o.name: 0 for o in self.objectives if is_classes(model, o)}
        for index in length_batches(self.data["val"].lengths, self.settings.batch_size * 4, None):
            batch = self.batch("val", index)
            for objective in self.objectives:
                w = validation_weight(model, objective, batch)
                if objective.name in correct:
                    value, right = loss_and_correct(model, objective, batch)
                    correct[objective.name] += int(right)
                else:
                    value = loss(model, objective, batch)
                totals[objective.name] += value.item() * w
                weights[objective.name] += w
        mean = {name: totals[name] / weights[name] for name in totals}
        accuracy = float(np.mean([correct[n] / weights[n] for n in correct])) if correct else None
        return {"val_loss": model.combine(mean), **{f"val_loss_{n}": mean[n] for n in mean}, "val_accuracy": accuracy}

    def score(self, row: dict) -> float:
        """What early stopping minimises: the validation loss, or minus the accuracy."""
        if self.settings.stop_on == "accuracy":
            return -row["val_accuracy"]
        return row["val_loss"]


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's content, read in 1 MiB blocks (about 1 s per GB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(settings: TrainingSettings, inputs: dict[str, str | Path], code: str = "") -> str:
    """What a checkpoint must match to be resumed: every setting of the model entry, the content
    of every input file and the code that trains (``runtime`` settings, the device and thread
    count, are not part of it: a run may resume elsewhere)."""
    blob = {"format": CHECKPOINT_FORMAT, "settings": settings.as_dict(), "code": code,
            "inputs": {name: file_digest(path) for name, path in sorted(inputs.items())}}
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def _resume(path: Path, fp: str, model: Model, optimizer, name: str) -> dict | None:
    """The training state of the checkpoint at ``path``, loaded into ``model`` and ``optimizer``,
    if it was made by this very run (same fingerprint); None otherwise, with a note why."""
    try:
        # On the CPU: the RNG state must stay there; weights and optimiser state follow the model.
        saved = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # a truncated or foreign file is no checkpoint of ours
        print(f"{name}: ignoring {path}: not a readable checkpoint ({err})", file=sys.stderr)
        return None
    if not isinstance(saved, dict) or saved.get("fingerprint") != fp:
        print(f"{name}: ignoring {path}: it was made with other settings, input data or code", file=sys.stderr)
        return None
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["torch_rng"])
    print(f"{name}: resumed from {path} after epoch {saved['state']['epoch']}", file=sys.stderr)
    return saved["state"]


def _save_checkpoint(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


@dataclass
class Paths:
    sentences: Path
    vocab: Path
    tables: dict[str, Path | None]  # extra data tables by name (image_features)
    checkpoint_dir: Path
    out_model: Path
    out_metrics: Path


def make(entry: catalog.Kind, settings: TrainingSettings, vocab_size: int, units: dict[str, int]) -> Model:
    """A fresh model of ``entry``'s family; a family of the user's own records its module in the
    saved architecture (the loader imports it from there) and is checked against the contract."""
    where = f"module {entry.module!r}"
    try:
        model = family(settings.kind, entry.module).create(settings, vocab_size, units)
    except TypeError as err:
        if "abstract" not in str(err):
            raise
        raise InputError(None, where, f"does not implement the contract: {err}") from None
    if entry.module_name:
        check_contract(model, where)
        declared = {n.name: set(n.readouts) for n in entry.networks}
        offered = {n: set(model.readouts(n)) for n in model.networks}
        if offered != declared:
            raise InputError(None, where, f"NETWORKS declares {declared}, but the model offers {offered}")
        model.architecture.update(kind=entry.name, module=entry.module)
    return model


def train(name: str, settings: TrainingSettings, runtime: Runtime, paths: Paths) -> None:
    device = use_runtime(runtime)
    entry = catalog.kind(settings.kind).of(settings)
    vocab = load_vocab_checked(paths.vocab)
    sentences = {"train": load_sentences(paths.sentences, vocab, "train", settings.max_train_sentences or None,
                                         eos=entry.reads_eos),
                 "val": load_sentences(paths.sentences, vocab, "val", eos=entry.reads_eos)}
    needed = [r for network in entry.networks for r in network.readouts if r in TARGET_TABLES]
    data, targets = load_targets(needed, paths.tables, sentences, device, phrases=settings.examples == "phrases",
                                 partial=("train",) if settings.max_train_sentences else ())
    torch.manual_seed(settings.seed)
    model = make(entry, settings, len(vocab), targets.units).to(device)
    if settings.stop_on == "accuracy" and not any(is_classes(model, o) for o in model.objectives()):
        raise InputError(None, "stop_on", "accuracy: the model has no class readout to measure it on")
    optimizer = OPTIMIZERS[settings.optimizer](model.parameters(), lr=settings.learning_rate, weight_decay=settings.l2)
    trainer = Trainer(model, settings, name, data, targets, device)
    print(f"{name}: {model.architecture}, {sum(p.numel() for p in model.parameters()):,} parameters on {device}; "
          f"{len(data['train']):,} train {settings.examples} / {len(data['val']):,} val sentences", file=sys.stderr)

    ckpt_path = paths.checkpoint_dir / "last.pt"
    inputs = {"sentences": paths.sentences, "vocab": paths.vocab}
    inputs |= {TARGET_TABLES[r]: paths.tables[TARGET_TABLES[r]] for r in needed}
    # The code that trains: this loop's import closure and the family's module.
    fp = fingerprint(settings, inputs, code.digest("lingscope.training.train", entry.module))
    state = {"epoch": 0, "history": [], "best_score": float("inf"), "best_epoch": 0, "best_state": None, "bad_epochs": 0}
    if ckpt_path.exists():
        state = _resume(ckpt_path, fp, model, optimizer, name) or state

    while state["epoch"] < settings.max_epochs and state["bad_epochs"] < settings.patience:
        epoch = state["epoch"] + 1
        row = {"model": name, "epoch": epoch, **trainer.run_epoch(optimizer, epoch), **trainer.validate()}
        if trainer.score(row) < state["best_score"]:
            state.update(best_score=trainer.score(row), best_epoch=epoch, bad_epochs=0)
            state["best_state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            state["bad_epochs"] += 1
        state["history"].append(row)
        state["epoch"] = epoch
        accuracy = "" if row["val_accuracy"] is None else f" accuracy {row['val_accuracy']:.4f}"
        print(f"{name} epoch {epoch}: train {row['train_loss']:.4f} val {row['val_loss']:.4f}{accuracy} "
              f"({row['tokens_per_second']:,.0f} tokens/s)", file=sys.stderr, flush=True)
        _save_checkpoint(ckpt_path, {"fingerprint": fp, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                     "torch_rng": torch.get_rng_state(), "state": state})

    model.load_state_dict(state["best_state"])
    extra = {"name": name, "best_epoch": state["best_epoch"], "vocab_size": len(vocab), **targets.extras()}
    save_model(paths.out_model, model.cpu(), extra)
    rows = [r | {"is_best": r["epoch"] == state["best_epoch"]} for r in state["history"]]
    schema = training_metrics_schema([o.name for o in model.objectives()])
    write_parquet(pa.Table.from_pylist(rows, schema=schema), paths.out_metrics, schema, "training_metrics")
    # The run is complete: its checkpoint must not be taken for a later run's own.
    ckpt_path.unlink(missing_ok=True)
    try:
        paths.checkpoint_dir.rmdir()
    except OSError:
        pass  # not empty (a user's file) or already gone
    print(f"{name}: best epoch {state['best_epoch']} ({settings.stop_on} "
          f"{abs(state['best_score']):.4f})", file=sys.stderr)


def build_parser(settings: type[TrainingSettings]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True, help="model name (the config's models.<name>) used in outputs")
    p.add_argument("--sentences", required=True, type=Path, help="SENTENCES table of the kind's corpus")
    p.add_argument("--vocab", required=True, type=Path, help="VOCAB table of the corpus")
    add_table_arguments(p)
    p.add_argument("--checkpoint-dir", required=True, type=Path)
    p.add_argument("--out-model", required=True, type=Path)
    p.add_argument("--out-metrics", required=True, type=Path)
    settings.add_arguments(p, "model settings (config: models.<name>)")
    Runtime.add_arguments(p, "runtime (config: training)")
    return p


def main(argv: list[str] | None = None) -> int:
    kinds = argparse.ArgumentParser(add_help=False)
    kinds.add_argument("--kind", choices=sorted(catalog.KINDS))
    known, _ = kinds.parse_known_args(argv)
    settings_class = catalog.settings_of(known.kind) if known.kind else TrainingSettings
    parser = build_parser(settings_class)
    args = parser.parse_args(argv)
    if known.kind is None:
        parser.error(f"--kind is required (one of {sorted(catalog.KINDS)})")
    settings = settings_class.from_args(args)
    paths = Paths(args.sentences, args.vocab, table_paths(args), args.checkpoint_dir, args.out_model, args.out_metrics)
    train(args.name, settings, Runtime.from_args(args), paths)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
