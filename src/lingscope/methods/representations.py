"""Representations of chosen phrases and states over time of chosen sentences (Li et al. 2016, sec. 4).

Two tables for the figures of Li et al.'s figures:

- REPRESENTATIONS: the sentence representation of every phrase of the ``li_figures.examples``
  groups (Fig. 1's heatmaps, the t-SNE maps of Figs. 2 and 4), plus ``random_words`` words
  drawn (seeded) from the vocabulary for reference (Fig. 2), with the class the network's class
  readout predicts;
- STATES: the per-token states of the two concessive sentences (Fig. 3).

Any network of the contract has both; the phrases are read as the model reads sentences, and a
word outside the vocabulary is read as ``<unk>`` (counted in ``n_unknown`` and reported).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from lingscope.core.errors import run_cli
from lingscope.core.io import write_parquet
from lingscope.core.schemas import REPRESENTATIONS, STATES
from lingscope.core.settings import Runtime
from lingscope.encoding.csr import encode_sentences, pad
from lingscope.encoding.ids import SPECIALS, key, load_vocab_checked
from lingscope.methods.settings import SentimentExamples
from lingscope.models.base import CLASSES, Model
from lingscope.models.checkpoint import open_network
from lingscope.models.tensors import mask

GROUPS = ("intensification", "negation", "clause_positive", "clause_negative", "concessive")


def random_words(vocab: dict[str, int], exclude: set[str], n: int, seed: int) -> list[str]:
    """``n`` vocabulary words drawn without replacement (specials, punctuation and ``exclude`` left out)."""
    pool = sorted(w for w in vocab if w not in SPECIALS and w not in exclude and any(c.isalpha() for c in w))
    rng = np.random.default_rng(seed)
    return [pool[i] for i in sorted(rng.choice(len(pool), size=min(n, len(pool)), replace=False))]


@torch.no_grad()
def encode_run(model: Model, network: str, texts: list[str], vocab: dict[str, int], device):
    """``(states, representations, lengths, scores)`` of whitespace-tokenised ``texts``: states
    ``(n, time, dim)``, and the scores of the network's class readout (None without one)."""
    flat, offsets = encode_sentences([t.split() for t in texts], vocab, model.reads_eos)
    ids, lengths = pad(flat, offsets)
    ids_t, lengths_t = torch.from_numpy(ids).to(device), torch.from_numpy(lengths).to(device)
    emb = model.embed(ids_t)
    states = model.states(network, emb, lengths_t) * mask(lengths_t, ids.shape[1]).unsqueeze(-1)
    reps = model.representation(network, emb, lengths_t)
    classes = [r.name for r in model.readouts(network).values() if r.kind == CLASSES]
    scores = model.readout(network, classes[0], reps).cpu() if classes else None
    return states.cpu().numpy(), reps.cpu().numpy(), lengths, scores


def run(model_path: Path, network: str, vocab_path: Path, out_representations: Path, out_states: Path,
        examples: SentimentExamples, runtime: Runtime) -> None:
    model, extra, device = open_network(model_path, network, runtime)
    vocab = load_vocab_checked(vocab_path)
    rows: list[tuple[str, str]] = [(g, text) for g in GROUPS for text in getattr(examples, g)]
    phrase_words = {w for _, text in rows for w in text.lower().split()}
    rows += [("random", w) for w in random_words(vocab, phrase_words, examples.random_words, examples.seed)]
    texts = [text for _, text in rows]
    _, reps, _, scores = encode_run(model, network, texts, vocab, device)
    unknown = [len([w for w in text.split() if key(vocab, w) not in vocab]) for text in texts]
    predicted = scores.argmax(1).numpy().astype(np.int8) if scores is not None else None
    n = len(rows)
    table = pa.table({
        "model": [extra["name"]] * n, "pathway": [network] * n, "group": [g for g, _ in rows], "text": texts,
        "n_unknown": pa.array(unknown, pa.int32()),
        "predicted": pa.array(predicted, pa.int8()) if predicted is not None else pa.nulls(n, pa.int8()),
        "representation": pa.array(list(reps.astype(np.float32)), pa.list_(pa.float32())),
    })
    write_parquet(table, out_representations, REPRESENTATIONS, "representations")

    states, _, lengths, _ = encode_run(model, network, list(examples.concessive), vocab, device)
    parts = []
    for k, text in enumerate(examples.concessive):
        tokens = text.split() + (["<eos>"] if model.reads_eos else [])
        L = int(lengths[k])
        parts.append(pa.table({
            "model": [extra["name"]] * L, "pathway": [network] * L, "example": pa.array([k] * L, pa.int32()),
            "text": [text] * L, "position": pa.array(range(1, L + 1), pa.int32()), "token": tokens[:L],
            "state": pa.array(list(states[k, :L].astype(np.float32)), pa.list_(pa.float32())),
        }))
    write_parquet(pa.concat_tables(parts), out_states, STATES, "states")
    missing = sorted({w for t in texts + list(examples.concessive) for w in t.split() if key(vocab, w) not in vocab})
    if missing:
        print(f"note: example words outside the vocabulary, read as <unk>: {missing}", file=sys.stderr)
    print(f"{extra['name']}/{network}: {n} phrase representations, states of {len(examples.concessive)} sentences",
          file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, type=Path, help="model.pt written by lingscope.training.train")
    p.add_argument("--pathway", required=True, help="the network of the model (lingscope.core.catalog)")
    p.add_argument("--vocab", required=True, type=Path)
    p.add_argument("--out-representations", required=True, type=Path, help="REPRESENTATIONS Parquet table")
    p.add_argument("--out-states", required=True, type=Path, help="STATES Parquet table")
    SentimentExamples.add_arguments(p, "example phrases (config: li_figures.examples)")
    Runtime.add_arguments(p, "runtime (config: training)")
    args = p.parse_args(argv)
    run(args.model, args.pathway, args.vocab, args.out_representations, args.out_states,
        SentimentExamples.from_args(args), Runtime.from_args(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
