"""Train IMAGINET, SUM or LM on captions and image features (Kadar et al. 2017, sec. 3).

- Loss ``alpha * L_T + (1 - alpha) * L_V`` (alpha = 0.1 in the paper), or, with
  ``--task-sampling``, the authors' code's scheme: each batch trains one task, TEXTUAL with
  probability alpha and VISUAL otherwise.
- Adam; batches of captions of equal length; early stopping on the validation loss.
- A checkpoint after every epoch (``<checkpoint-dir>/last.pt``, written atomically). A rerun
  with the same settings resumes after the last finished epoch, with the optimiser state and
  the data order intact, so an interrupted run ends with the same weights as an
  uninterrupted one (on the same machine and thread count).
- Writes the weights of the best epoch (``--out-model``) and one metrics row per epoch
  (``--out-metrics``, TRAINING_METRICS).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from tqdm import tqdm

from lingscope.errors import InputError, run_cli
from lingscope.io import atomic_path, write_parquet
from lingscope.models.data import Captions, load_captions, load_images, load_vocab_checked, length_batches, zscore_stats
from lingscope.models.imaginet import KINDS, Architecture, CaptionModel, save_model
from lingscope.schemas import TRAINING_METRICS


def pick_device(name: str) -> torch.device:
    """``auto`` takes CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    # Data order and task draws depend only on (seed, epoch), so a resumed run repeats them.
    return np.random.default_rng([seed, epoch])


class Trainer:
    def __init__(self, args: argparse.Namespace, train: Captions, val: Captions, images, device: torch.device):
        self.args, self.train, self.val, self.device = args, train, val, device
        self.tasks = ("textual",) if args.kind == "lm" else ("textual", "visual")
        self.image_targets = {}
        if images is not None:
            self.mean, self.std = images[1], images[2]
            feats = (images[0].features - self.mean) / self.std
            for name, caps in (("train", train), ("val", val)):
                rows = images[0].rows(caps.image_ids, Path(args.image_features))
                self.image_targets[name] = torch.from_numpy(feats[rows]).to(device)

    def batch(self, caps: Captions, split: str, index: np.ndarray):
        ids, lengths = caps.padded(index)
        ids_t = torch.from_numpy(ids).to(self.device, non_blocking=True)
        len_t = torch.from_numpy(lengths).to(self.device)
        images = self.image_targets[split][torch.from_numpy(index).to(self.device)] if self.image_targets else None
        return ids_t, len_t, images, int(lengths.sum())

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        if len(losses) == 1:
            return next(iter(losses.values()))
        alpha = self.args.alpha
        return alpha * losses["textual"] + (1 - alpha) * losses["visual"]

    def run_epoch(self, model: CaptionModel, optimizer, epoch: int) -> dict:
        args, rng = self.args, _epoch_rng(self.args.seed, epoch)
        batches = length_batches(self.train.lengths, args.batch_size, rng)
        draws = rng.random(len(batches))
        model.train()
        sums = {"loss": 0.0, "textual": 0.0, "visual": 0.0}
        counts = {"loss": 0, "textual": 0, "visual": 0}
        tokens, start = 0, time.perf_counter()
        bar = tqdm(total=len(batches), desc=f"{args.name} epoch {epoch}", file=sys.stderr, mininterval=10, unit="batch")
        for k, index in enumerate(batches):
            ids, lengths, images, n_tokens = self.batch(self.train, "train", index)
            tasks = self.tasks
            if args.task_sampling and len(tasks) == 2:
                tasks = ("textual",) if draws[k] < args.alpha else ("visual",)
            losses = model.losses(ids, lengths, images, tasks)
            loss = self.combine(losses)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if args.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
            optimizer.step()
            tokens += n_tokens
            if k % 20 == 0 or k == len(batches) - 1:
                # .item() syncs the device; doing it every batch would cost GPU throughput.
                for name, value in losses.items():
                    sums[name] += value.item() * len(index)
                    counts[name] += len(index)
                sums["loss"] += loss.item() * len(index)
                counts["loss"] += len(index)
                bar.set_postfix(loss=f"{loss.item():.4f}", tok_s=f"{tokens / (time.perf_counter() - start):,.0f}", refresh=False)
            bar.update(1)
        bar.close()
        seconds = time.perf_counter() - start
        mean = {k: (sums[k] / counts[k] if counts[k] else None) for k in sums}
        return {"train_loss": mean["loss"], "train_loss_textual": mean["textual"], "train_loss_visual": mean["visual"],
                "tokens_per_second": tokens / seconds, "seconds": seconds}

    @torch.no_grad()
    def validate(self, model: CaptionModel) -> dict:
        model.eval()
        totals = {name: 0.0 for name in self.tasks}
        weights = {name: 0 for name in self.tasks}
        for index in length_batches(self.val.lengths, self.args.batch_size * 4, None):
            ids, lengths, images, n_tokens = self.batch(self.val, "val", index)
            for name, value in model.losses(ids, lengths, images, self.tasks).items():
                # Cross-entropy averages over tokens, cosine distance over captions.
                w = n_tokens if name == "textual" else len(index)
                totals[name] += value.item() * w
                weights[name] += w
        mean = {name: totals[name] / weights[name] for name in self.tasks}
        loss = mean["textual"] if len(mean) == 1 else self.args.alpha * mean["textual"] + (1 - self.args.alpha) * mean["visual"]
        return {"val_loss": loss, "val_loss_textual": mean.get("textual"), "val_loss_visual": mean.get("visual")}


def fingerprint(args: argparse.Namespace, vocab_size: int, n_train: int) -> str:
    """What a checkpoint must match to be resumed: every setting that changes the result."""
    keys = ("kind", "embedding_dim", "hidden_dim", "gru", "alpha", "task_sampling", "batch_size",
            "learning_rate", "grad_clip", "seed", "max_epochs", "patience")
    blob = {k: getattr(args, k) for k in keys} | {"vocab_size": vocab_size, "n_train": n_train}
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def _save_checkpoint(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def train(args: argparse.Namespace) -> None:
    device = pick_device(args.device)
    torch.set_num_threads(args.threads)
    vocab = load_vocab_checked(args.vocab)
    train_caps = load_captions(args.sentences, vocab, "train", args.max_train_sentences or None)
    val_caps = load_captions(args.sentences, vocab, "val")
    images = None
    if args.kind != "lm":
        if not args.image_features:
            raise InputError(None, f"model {args.name}", f"kind {args.kind!r} needs --image-features")
        imgs = load_images(args.image_features)
        mean, std = zscore_stats(imgs.features[imgs.splits == "train"])
        images = (imgs, mean, std)
    image_dim = images[0].features.shape[1] if images else 0
    arch = Architecture(args.kind, len(vocab), image_dim, args.embedding_dim, args.hidden_dim, args.gru)
    torch.manual_seed(args.seed)
    model = CaptionModel(arch).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    trainer = Trainer(args, train_caps, val_caps, images, device)
    print(f"{args.name}: {arch}, {sum(p.numel() for p in model.parameters()):,} parameters on {device}; "
          f"{len(train_caps):,} train / {len(val_caps):,} val captions", file=sys.stderr)

    ckpt_path = Path(args.checkpoint_dir) / "last.pt"
    fp = fingerprint(args, len(vocab), len(train_caps))
    state = {"epoch": 0, "history": [], "best_loss": float("inf"), "best_epoch": 0, "best_state": None, "bad_epochs": 0}
    if ckpt_path.exists():
        saved = torch.load(ckpt_path, map_location=device, weights_only=False)
        if saved.get("fingerprint") == fp:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            torch.set_rng_state(saved["torch_rng"])
            state = saved["state"]
            print(f"{args.name}: resumed from {ckpt_path} after epoch {state['epoch']}", file=sys.stderr)
        else:
            print(f"{args.name}: ignoring {ckpt_path}: it was made with other settings", file=sys.stderr)

    while state["epoch"] < args.max_epochs and state["bad_epochs"] < args.patience:
        epoch = state["epoch"] + 1
        row = {"model": args.name, "epoch": epoch, **trainer.run_epoch(model, optimizer, epoch), **trainer.validate(model)}
        if row["val_loss"] < state["best_loss"]:
            state.update(best_loss=row["val_loss"], best_epoch=epoch, bad_epochs=0)
            state["best_state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            state["bad_epochs"] += 1
        state["history"].append(row)
        state["epoch"] = epoch
        print(f"{args.name} epoch {epoch}: train {row['train_loss']:.4f} val {row['val_loss']:.4f} "
              f"({row['tokens_per_second']:,.0f} tokens/s)", file=sys.stderr, flush=True)
        _save_checkpoint(ckpt_path, {"fingerprint": fp, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                     "torch_rng": torch.get_rng_state(), "state": state})

    model.load_state_dict(state["best_state"])
    extra = {"name": args.name, "best_epoch": state["best_epoch"], "vocab_size": len(vocab)}
    if images is not None:
        extra |= {"image_mean": torch.from_numpy(images[1]), "image_std": torch.from_numpy(images[2])}
    save_model(args.out_model, model.cpu(), extra)
    rows = [r | {"is_best": r["epoch"] == state["best_epoch"]} for r in state["history"]]
    write_parquet(pa.Table.from_pylist(rows), args.out_metrics, TRAINING_METRICS, "training_metrics")
    print(f"{args.name}: best epoch {state['best_epoch']} (val loss {state['best_loss']:.4f})", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True, help="model name used in outputs")
    p.add_argument("--kind", required=True, choices=KINDS)
    p.add_argument("--sentences", required=True, help="coco SENTENCES table")
    p.add_argument("--vocab", required=True, help="coco VOCAB table")
    p.add_argument("--image-features", help="IMAGE_FEATURES table (imaginet and sum)")
    p.add_argument("--embedding-dim", type=int, required=True)
    p.add_argument("--hidden-dim", type=int, required=True)
    p.add_argument("--gru", choices=("fused", "authors"), default="fused")
    p.add_argument("--alpha", type=float, default=0.1, help="weight of the textual loss (or its sampling probability)")
    p.add_argument("--task-sampling", action="store_true", help="authors' code: one task per batch")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--grad-clip", type=float, default=0.0, help="max gradient norm; 0 disables")
    p.add_argument("--max-epochs", type=int, default=10)
    p.add_argument("--patience", type=int, default=2, help="epochs without val improvement before stopping")
    p.add_argument("--max-train-sentences", type=int, default=0, help="use only the first N train captions (0: all)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--checkpoint-dir", required=True)
    p.add_argument("--out-model", required=True)
    p.add_argument("--out-metrics", required=True)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("embedding_dim", "hidden_dim", "batch_size", "max_epochs", "patience", "threads"):
        if getattr(args, name) < 1:
            raise InputError(None, f"--{name.replace('_', '-')}", f"must be at least 1, got {getattr(args, name)}")
    if not 0.0 <= args.alpha <= 1.0:
        raise InputError(None, "--alpha", f"must lie in [0, 1], got {args.alpha}")
    train(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
