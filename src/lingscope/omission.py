"""Omission scores (Kadar et al. 2017, sec. 4.1; METHODS.md sec. 1).

``omission(i, S) = 1 - cos(h_end(S), h_end(S \\ i))``: word i is deleted (not replaced) and
the end symbol kept. Exact, and fast for two reasons:

- **Prefix reuse.** A left-to-right network's state after ``S_1 .. S_{i-1}`` is the same in
  ``S`` and in ``S \\ i``, so it is taken from the full run, and only the suffix
  ``S_{i+1} .. S_n <eos>`` is recomputed from it. The full run also gives ``h_end(S)``,
  which is never recomputed.
- **Batching by suffix length.** Every (sentence, i) variant of a chunk of sentences with the
  same suffix length runs in one batch: no padding, large GEMMs, and the only Python loop
  is over the distinct lengths.

The authors' code instead ran, per sentence, one batch of its n + 1 variants from scratch;
:func:`naive_omission` does that and serves as the reference in tests and benchmarks.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

from lingscope.errors import run_cli
from lingscope.models.data import load_vocab_checked
from lingscope.models.gru import step_inputs
from lingscope.models.imaginet import CaptionModel, load_pathway_model
from lingscope.models.runs import run_segments
from lingscope.models.stream import csr_with_eos, encode_forms, iter_sentence_chunks, sentence_runs
from lingscope.schemas import OMISSION
from lingscope.train import pick_device


@torch.no_grad()
def omission_scores(
    model: CaptionModel, pathway: str, flat: np.ndarray, offsets: np.ndarray, device, batch_rows: int = 1024
) -> np.ndarray:
    """Omission of every word of every sentence, in (sentence, position) order.

    ``flat``/``offsets`` hold the sentences with their <eos> (see ``csr_with_eos``).
    """
    n_words = np.diff(offsets) - 1
    # Variant v deletes word i (1-based) of sentence s.
    sentence = np.repeat(np.arange(len(n_words)), n_words)
    i = np.arange(len(sentence)) - np.repeat(np.cumsum(n_words) - n_words, n_words) + 1
    ids = torch.from_numpy(flat).to(device)
    layer = model.recurrence(pathway)
    if layer is None:
        # SUM: h_end(S \\ i) = h_end(S) - e_i; nothing to rerun.
        emb = model.embedding(ids)
        h_end = torch.zeros(len(n_words), emb.shape[1], device=device).index_add_(
            0, torch.from_numpy(np.repeat(np.arange(len(n_words)), n_words + 1)).to(device), emb)
        full = h_end[torch.from_numpy(sentence).to(device)]
        variant = full - emb[torch.from_numpy(offsets[sentence] + i - 1).to(device)]
        return (1.0 - F.cosine_similarity(full, variant, dim=1)).cpu().numpy().astype(np.float64)
    # Every run over a token shares its input projection: compute it once per token.
    x_proj = step_inputs(layer, model.embedding(ids))
    size = layer.hidden_size
    # The full run: every prefix state is kept, and its last state is h_end(S).
    states = torch.empty(len(flat), size, device=device)
    h_end = run_segments(layer, x_proj, offsets[:-1], n_words + 1,
                         lambda index: torch.zeros(len(index), size, device=device), batch_rows, states)

    def prefix_state(index: np.ndarray) -> torch.Tensor:
        # The state after words 1..i-1 of the full run (zero when i = 1).
        k = i[index]
        h = states.index_select(0, torch.from_numpy(np.maximum(offsets[sentence[index]] + k - 2, 0)).to(device))
        h[torch.from_numpy(k == 1).to(device)] = 0.0
        return h

    # Deleting word i: resume from the prefix state, read words i+1..n and <eos>.
    h_variant = run_segments(layer, x_proj, offsets[sentence] + i, n_words[sentence] - i + 1, prefix_state, batch_rows)
    full = h_end[torch.from_numpy(sentence).to(device)]
    return (1.0 - F.cosine_similarity(full, h_variant, dim=1)).cpu().numpy().astype(np.float64)


@torch.no_grad()
def naive_omission(model: CaptionModel, pathway: str, sentences: list[np.ndarray], device) -> list[np.ndarray]:
    """The authors' method: per sentence, one batch of the full sentence and its n deletions,
    each run from scratch. ``sentences`` hold word ids without <eos>."""
    eos = 2
    out = []
    for words in sentences:
        n = len(words)
        variants = [np.append(words, eos)] + [np.append(np.delete(words, i), eos) for i in range(n)]
        lengths = torch.tensor([len(v) for v in variants], device=device)
        ids = torch.zeros(n + 1, n + 1, dtype=torch.long, device=device)
        for k, v in enumerate(variants):
            ids[k, : len(v)] = torch.from_numpy(v)
        h = model.h_end(pathway, ids, lengths)
        out.append((1.0 - F.cosine_similarity(h[:1], h[1:], dim=1)).cpu().numpy().astype(np.float64))
    return out


def run(args: argparse.Namespace) -> None:
    device = pick_device(args.device)
    torch.set_num_threads(args.threads)
    model, extra = load_pathway_model(args.model, args.pathway, device)
    vocab = load_vocab_checked(args.vocab)
    tmp = Path(args.out).with_name(f".{Path(args.out).name}.tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    n_words_total, start = 0, time.perf_counter()
    try:
        with pq.ParquetWriter(tmp, OMISSION, compression="zstd") as writer:
            for chunk in iter_sentence_chunks(args.tokens, ["form", "xpos", "deprel"], args.chunk_tokens):
                _, n_words = sentence_runs(chunk)
                flat, offsets = csr_with_eos(encode_forms(chunk.column("form"), vocab), n_words)
                scores = omission_scores(model, args.pathway, flat, offsets, device, args.batch_rows)
                n = chunk.num_rows
                table = pa.table({
                    "sentence_id": chunk.column("sentence_id"), "position": chunk.column("position"),
                    "token": chunk.column("form"), "xpos": chunk.column("xpos"), "deprel": chunk.column("deprel"),
                    "model": pa.repeat(pa.scalar(extra["name"]), n),
                    "pathway": pa.repeat(pa.scalar(args.pathway), n), "omission": pa.array(scores),
                })
                writer.write_table(table.cast(OMISSION))
                n_words_total += n
        tmp.replace(args.out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    seconds = time.perf_counter() - start
    print(f"{extra['name']}/{args.pathway}: {n_words_total:,} omission scores in {seconds:.1f} s "
          f"({n_words_total / max(seconds, 1e-9):,.0f} words/s)", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model.pt written by lingscope.train")
    p.add_argument("--pathway", required=True, choices=("textual", "visual"))
    p.add_argument("--tokens", required=True, help="parsed analysis split (TOKENS table)")
    p.add_argument("--vocab", required=True)
    p.add_argument("--chunk-tokens", type=int, default=16384, help="words read per chunk (bounds memory)")
    p.add_argument("--batch-rows", type=int, default=1024, help="runs per GRU step batch (1024 keeps a step's tensors in cache)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True, help="OMISSION Parquet table")
    args = p.parse_args(argv)
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
