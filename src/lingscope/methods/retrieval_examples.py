"""Retrieval with and without the most important word (Kadar et al. 2017, Fig. 1).

For a seeded sample of analysis sentences, a network with an ``image`` readout retrieves the
top image for the full sentence and for the sentence without its highest-omission word (from
the network's omission table), showing how one omitted word changes what the model "sees".
The per-word bars of the figure come from the omission tables; this table holds the
retrieval side. Applies to every network that offers the ``image`` readout (the catalog).
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

from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import require_columns, write_parquet
from lingscope.core.schemas import RETRIEVAL_EXAMPLES
from lingscope.core.settings import Runtime
from lingscope.methods.settings import ExampleSettings
from lingscope.encoding.csr import encode_sentences, pad
from lingscope.encoding.ids import load_vocab_checked
from lingscope.encoding.images import load_images, split_zscored
from lingscope.models.checkpoint import open_network
from lingscope.models.readouts import sentence_readout

READOUT = "image"


def pick_examples(sentence_ids: np.ndarray, lengths: np.ndarray, n: int, seed: int, min_len: int = 5, max_len: int = 12) -> np.ndarray:
    """A seeded sample of ``n`` captions of readable length (all lengths if too few qualify)."""
    pool = np.flatnonzero((lengths >= min_len) & (lengths <= max_len))
    if len(pool) < n:
        pool = np.arange(len(sentence_ids))
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool, size=min(n, len(pool)), replace=False))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model.pt of a model with an image readout")
    p.add_argument("--pathway", required=True, help="the network whose image readout retrieves")
    p.add_argument("--omission", required=True, help="that network's OMISSION table")
    p.add_argument("--sentences", required=True)
    p.add_argument("--vocab", required=True)
    p.add_argument("--image-features", required=True)
    p.add_argument("--split", default="val")
    p.add_argument("--out", required=True, help="RETRIEVAL_EXAMPLES Parquet table")
    ExampleSettings.add_arguments(p, "examples (config: analysis.examples)")
    Runtime.add_arguments(p, "runtime (config: training)")
    args = p.parse_args(argv)
    settings = ExampleSettings.from_args(args)
    model, extra, device = open_network(args.model, args.pathway, Runtime.from_args(args))
    if READOUT not in model.readouts(args.pathway):
        raise InputError(args.model, f"model {extra.get('name')} network {args.pathway!r}",
                         f"has no {READOUT!r} readout to retrieve images with")
    require_columns(args.sentences, ["split", "sentence_id", "image_id", "tokens"])
    require_columns(args.omission, ["sentence_id", "position", "omission"])
    sentences = pq.read_table(args.sentences, columns=["sentence_id", "image_id", "tokens"], filters=[("split", "=", args.split)])
    if sentences.num_rows == 0:
        raise InputError(args.sentences, f"split {args.split!r}", "no sentences in this split")
    omission = pq.read_table(args.omission, columns=["sentence_id", "position", "omission"])
    sid = sentences.column("sentence_id").to_numpy()
    tokens = sentences.column("tokens").to_pylist()
    lengths = np.array([len(t) for t in tokens])
    chosen = pick_examples(sid, lengths, settings.n, settings.seed)

    variants, meta = [], []
    for k in chosen:
        scores = omission.filter(pc.equal(omission.column("sentence_id"), int(sid[k])))
        if scores.num_rows != lengths[k]:
            raise InputError(args.omission, f"sentence_id {int(sid[k])}",
                             f"has {scores.num_rows} omission rows, expected one per word ({lengths[k]})")
        top = int(scores.column("position").to_numpy()[int(np.argmax(scores.column("omission").to_numpy()))])
        variants += [tokens[k], tokens[k][: top - 1] + tokens[k][top:]]
        meta += [(k, "full", None, None), (k, "without", top, tokens[k][top - 1])]

    ids, lengths_v = pad(*encode_sentences(variants, load_vocab_checked(args.vocab), eos=model.reads_eos))
    with torch.no_grad():
        pred = sentence_readout(model, args.pathway, READOUT, torch.from_numpy(ids).to(device),
                                     torch.from_numpy(lengths_v).to(device))
        pred = F.normalize(pred, dim=1).cpu()
    images = load_images(args.image_features)
    image_ids, feats = split_zscored(images, args.split, extra[f"{READOUT}_mean"].numpy(),
                                     extra[f"{READOUT}_std"].numpy())
    feats = F.normalize(torch.from_numpy(feats), dim=1)
    scores = pred @ feats.T
    image_ids_of_caption = sentences.column("image_id").to_numpy()
    first_caption = {}
    for k in range(len(sid)):
        first_caption.setdefault(int(image_ids_of_caption[k]), " ".join(tokens[k]))
    column = {int(i): c for c, i in enumerate(image_ids)}
    rows = []
    for v, (k, variant, pos, removed) in enumerate(meta):
        best = int(scores[v].argmax())
        if int(image_ids_of_caption[k]) not in column:
            raise InputError(args.image_features, f"image_id {int(image_ids_of_caption[k])}",
                             f"the image of sentence_id {int(sid[k])} has no {args.split!r} feature vector")
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
