"""Retrieval with and without the most important word (Kadar et al. 2017, Fig. 1).

For a seeded sample of analysis captions, VISUAL retrieves the top image for the full
caption and for the caption without its highest-omission word (from the omission table),
showing how one omitted word changes what the model "sees". The per-word bars of the
figure come from the omission tables; this table holds the retrieval side.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

from lingscope.errors import InputError, run_cli
from lingscope.evaluate import split_images
from lingscope.io import write_parquet
from lingscope.models.data import encode_captions, load_images, load_vocab_checked
from lingscope.models.imaginet import load_model
from lingscope.schemas import RETRIEVAL_EXAMPLES
from lingscope.train import pick_device


def pick_examples(sentence_ids: np.ndarray, lengths: np.ndarray, n: int, seed: int, min_len: int = 5, max_len: int = 12) -> np.ndarray:
    """A seeded sample of ``n`` captions of readable length (all lengths if too few qualify)."""
    pool = np.flatnonzero((lengths >= min_len) & (lengths <= max_len))
    if len(pool) < n:
        pool = np.arange(len(sentence_ids))
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool, size=min(n, len(pool)), replace=False))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="IMAGINET or SUM model.pt (needs a visual pathway)")
    p.add_argument("--omission", required=True, help="the model's visual OMISSION table")
    p.add_argument("--sentences", required=True)
    p.add_argument("--vocab", required=True)
    p.add_argument("--image-features", required=True)
    p.add_argument("--split", default="val")
    p.add_argument("--n-examples", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", required=True, help="RETRIEVAL_EXAMPLES Parquet table")
    args = p.parse_args(argv)
    device = pick_device(args.device)
    model, extra = load_model(args.model, device)
    if "visual" not in model.pathways:
        raise InputError(args.model, f"model {extra.get('name')}", "has no visual pathway to retrieve images with")
    sentences = pq.read_table(args.sentences, columns=["sentence_id", "image_id", "tokens"], filters=[("split", "=", args.split)])
    omission = pq.read_table(args.omission, columns=["sentence_id", "position", "omission"])
    sid = sentences.column("sentence_id").to_numpy()
    tokens = sentences.column("tokens").to_pylist()
    lengths = np.array([len(t) for t in tokens])
    chosen = pick_examples(sid, lengths, args.n_examples, args.seed)

    variants, meta = [], []
    for k in chosen:
        scores = omission.filter(pc.equal(omission.column("sentence_id"), int(sid[k])))
        if scores.num_rows != lengths[k]:
            raise InputError(args.omission, f"sentence_id {int(sid[k])}",
                             f"has {scores.num_rows} omission rows, expected one per word ({lengths[k]})")
        top = int(scores.column("position").to_numpy()[int(np.argmax(scores.column("omission").to_numpy()))])
        variants += [tokens[k], tokens[k][: top - 1] + tokens[k][top:]]
        meta += [(k, "full", None, None), (k, "without", top, tokens[k][top - 1])]

    flat, offsets = encode_captions(variants, load_vocab_checked(args.vocab))
    lengths_v = np.diff(offsets)
    ids = np.zeros((len(variants), lengths_v.max()), dtype=np.int64)
    for v in range(len(variants)):
        ids[v, : lengths_v[v]] = flat[offsets[v] : offsets[v + 1]]
    with torch.no_grad():
        pred = F.normalize(model.image_prediction(torch.from_numpy(ids).to(device), torch.from_numpy(lengths_v).to(device)), dim=1).cpu()
    images = load_images(args.image_features)
    image_ids, feats = split_images(images, args.split, extra["image_mean"].numpy(), extra["image_std"].numpy())
    scores = pred @ feats.T
    image_ids_of_caption = sentences.column("image_id").to_numpy()
    first_caption = {}
    for k in range(len(sid)):
        first_caption.setdefault(int(image_ids_of_caption[k]), " ".join(tokens[k]))
    column = {int(i): c for c, i in enumerate(image_ids)}
    rows = []
    for v, (k, variant, pos, removed) in enumerate(meta):
        best = int(scores[v].argmax())
        own = scores[v, column[int(image_ids_of_caption[k])]]
        rows.append({
            "sentence_id": int(sid[k]), "variant": variant, "removed_position": pos, "removed_token": removed,
            "caption": " ".join(variants[v]), "image_id": int(image_ids_of_caption[k]),
            "retrieved_image_id": int(image_ids[best]), "retrieved_caption": first_caption[int(image_ids[best])],
            "rank_of_true_image": int((scores[v] >= own).sum()), "cosine": float(scores[v, best]),
        })
    for row in rows:
        print(f"{row['sentence_id']} {row['variant']:8s} rank {row['rank_of_true_image']:4d}  {row['caption']}")
    write_parquet(pa.Table.from_pylist(rows), Path(args.out), RETRIEVAL_EXAMPLES, "retrieval_examples")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
