"""Evaluate a trained model on the validation captions (Kadar et al. 2017, sec. 3).

- VISUAL: image retrieval. Each caption's predicted image vector ranks the split's images
  by cosine with their z-scored features; recall@k is the share of captions whose own
  image is among the top k. Chance recall@k is k / (number of images).
- TEXTUAL: per-token cross-entropy (nats) and perplexity over ``w_1 .. w_n <eos>``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
import torch.nn.functional as F

from lingscope.errors import run_cli
from lingscope.io import write_parquet
from lingscope.models.data import Images, length_batches, load_captions, load_images, load_vocab_checked
from lingscope.models.imaginet import CaptionModel, load_model
from lingscope.schemas import EVALUATION
from lingscope.train import pick_device

RECALL_AT = (1, 5, 10)


def split_images(images: Images, split: str, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, torch.Tensor]:
    """Ids and unit-normalised z-scored features of one split's images."""
    keep = images.splits == split
    feats = torch.from_numpy((images.features[keep] - mean) / std)
    return images.image_ids[keep], F.normalize(feats, dim=1)


@torch.no_grad()
def predict_images(model: CaptionModel, caps, device, batch_size: int = 512) -> torch.Tensor:
    """VISUAL's predicted image vector for every caption, unit-normalised, in caption order."""
    out = torch.empty(len(caps), model.arch.image_dim)
    for index in length_batches(caps.lengths, batch_size, None):
        ids, lengths = caps.padded(index)
        pred = model.image_prediction(torch.from_numpy(ids).to(device), torch.from_numpy(lengths).to(device))
        out[torch.from_numpy(index)] = F.normalize(pred, dim=1).cpu()
    return out


def ranks_of_true_image(pred: torch.Tensor, image_feats: torch.Tensor, image_ids: np.ndarray, true_ids: np.ndarray) -> np.ndarray:
    """1-based rank of each caption's own image among ``image_ids`` by cosine (ties: pessimistic)."""
    column = {int(i): k for k, i in enumerate(image_ids)}
    truth = torch.tensor([column[int(i)] for i in true_ids])
    ranks = np.empty(len(pred), dtype=np.int64)
    for start in range(0, len(pred), 4096):
        scores = pred[start : start + 4096] @ image_feats.T
        own = scores.gather(1, truth[start : start + 4096, None])
        ranks[start : start + 4096] = (scores >= own).sum(1).numpy()
    return ranks


@torch.no_grad()
def cross_entropy(model: CaptionModel, caps, device, batch_size: int = 512) -> tuple[float, int]:
    total, n = 0.0, 0
    for index in length_batches(caps.lengths, batch_size, None):
        ids, lengths = caps.padded(index)
        ids_t = torch.from_numpy(ids).to(device)
        logits = model.textual_logits(model.states("textual", ids_t))
        total += F.cross_entropy(logits.flatten(0, 1), ids_t.flatten(), ignore_index=0, reduction="sum").item()
        n += int(lengths.sum())
    return total / n, n


def evaluate(model: CaptionModel, extra: dict, caps, images: Images | None, split: str, device) -> list[dict]:
    name = extra["name"]
    rows = []
    if "visual" in model.pathways and images is not None:
        image_ids, feats = split_images(images, split, extra["image_mean"].numpy(), extra["image_std"].numpy())
        ranks = ranks_of_true_image(predict_images(model, caps, device), feats, image_ids, caps.image_ids)
        base = {"model": name, "pathway": "visual", "split": split, "n": len(caps)}
        for k in RECALL_AT:
            rows.append(base | {"metric": f"recall@{k}", "value": float((ranks <= k).mean())})
            rows.append(base | {"metric": f"chance_recall@{k}", "value": min(1.0, k / len(image_ids))})
        rows.append(base | {"metric": "median_rank", "value": float(np.median(ranks))})
    ce, n = cross_entropy(model, caps, device)
    base = {"model": name, "pathway": "textual", "split": split, "n": n}
    rows += [base | {"metric": "cross_entropy", "value": ce}, base | {"metric": "perplexity", "value": float(np.exp(ce))}]
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model.pt written by lingscope.train")
    p.add_argument("--sentences", required=True)
    p.add_argument("--vocab", required=True)
    p.add_argument("--image-features", help="needed for models with a visual pathway")
    p.add_argument("--split", default="val")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True, help="EVALUATION Parquet table")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    model, extra = load_model(args.model, device)
    caps = load_captions(args.sentences, load_vocab_checked(args.vocab), args.split)
    images = load_images(args.image_features) if args.image_features else None
    rows = evaluate(model, extra, caps, images, args.split, device)
    for row in rows:
        print(f"{row['model']} {row['pathway']} {row['metric']}: {row['value']:.4f}")
    write_parquet(pa.Table.from_pylist(rows), Path(args.out), EVALUATION, "evaluation")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
