"""Omission scores (Kadar et al. 2017, sec. 4.1; METHODS.md sec. 1), for any network of the contract.

``omission(i, S) = 1 - cos(r(S), r(S \\ i))``, with ``r`` the network's sentence representation
(``h_end`` for the caption models of the paper): word i is deleted (not replaced), and any end symbol the
model reads is kept. Two exact paths:

- **Fast, for a network with a left-to-right cell.** The cell state after ``S_1 .. S_{i-1}`` is
  the same in ``S`` and in ``S \\ i``, so it is taken from the full run, and only the suffix is
  recomputed from it. The full run also gives ``r(S)``, which is never recomputed. Every suffix
  of a chunk runs together, longest first, so each step is one dense GEMM over the runs still
  going; each token's input projection is computed once and shared by every run that reads it.
- **Generic, for any network** (a bidirectional one, say): every deletion variant of every
  sentence of a chunk is built by index arithmetic and run through
  :meth:`lingscope.models.base.Model.representation` in padded batches of similar length.

The fast path runs only where the model offers a cell, so it can never be applied where it
would be wrong. The authors' code instead ran, per sentence, one batch of its n + 1 variants;
:func:`naive_omission` does that through the contract and serves as the reference in tests
and benchmarks.

The table is keyed by ``sentence_id, position, token`` and does not depend on the parse: the
analyses join the parse's labels, so a parse setting never reruns this (GPU-hours at paper scale).
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

from lingscope.core.errors import InputError, run_cli
from lingscope.core.schemas import OMISSION
from lingscope.core.settings import Runtime
from lingscope.methods.settings import OmissionSettings
from lingscope.encoding.csr import offsets_of, pad, positions
from lingscope.encoding.ids import load_vocab_checked
from lingscope.encoding.stream import encode_chunk, iter_sentence_chunks
from lingscope.models.base import Cell, Model, open_network
from lingscope.models.runs import cell_states, padded_run, run_segments, verify_cell


def _variants(n_words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Variant v deletes word ``i[v]`` (1-based) of sentence ``sentence[v]``; in (sentence, i) order."""
    return np.repeat(np.arange(len(n_words)), n_words), positions(offsets_of(n_words))


def deletion_variants(flat: np.ndarray, offsets: np.ndarray, n_words: np.ndarray):
    """``(flat, offsets)`` of every sentence with one of its words deleted, in (sentence, word)
    order; the tokens after a sentence's words (its end symbol) are kept."""
    sentence, i = _variants(n_words)
    lengths = np.diff(offsets)[sentence] - 1
    v_offsets = offsets_of(lengths)
    within = positions(v_offsets) - 1
    skip = within >= np.repeat(i - 1, lengths)  # tokens at or after the deleted word shift by one
    return flat[np.repeat(offsets[:-1][sentence], lengths) + within + skip], v_offsets


def _cosine_distance(full: torch.Tensor, variant: torch.Tensor) -> np.ndarray:
    return (1.0 - F.cosine_similarity(full, variant, dim=1)).cpu().numpy().astype(np.float64)


@torch.no_grad()
def fast_omission(model: Model, network: str, cell: Cell, ids: torch.Tensor, offsets: np.ndarray,
                  n_words: np.ndarray, batch_rows: int = 1024) -> np.ndarray:
    """The prefix-reuse path; exact for a strictly left-to-right network (see the module docstring)."""
    device = ids.device
    sentence, i = _variants(n_words)
    lengths = np.diff(offsets)
    # Every run over a token shares its input projection: compute it once per token.
    x_proj = cell.project(model.embed(ids))
    # The full run: every prefix state is kept, and its last state gives r(S).
    states, final = cell_states(cell, x_proj, offsets, batch_rows)

    def prefix_state(index: np.ndarray) -> torch.Tensor:
        # The state after words 1..i-1 of the full run (the zero start state when i = 1).
        k = i[index]
        h = states.index_select(0, torch.from_numpy(np.maximum(offsets[sentence[index]] + k - 2, 0)).to(device))
        h[torch.from_numpy(k == 1).to(device)] = 0.0
        return h

    # Deleting word i: resume from the prefix state, read the tokens after it.
    variant = run_segments(cell, x_proj, offsets[sentence] + i, lengths[sentence] - i, prefix_state, batch_rows)
    full = cell.output(final)[torch.from_numpy(sentence).to(device)]
    return _cosine_distance(full, cell.output(variant))


@torch.no_grad()
def generic_omission(model: Model, network: str, ids: torch.Tensor, offsets: np.ndarray, n_words: np.ndarray,
                     batch_rows: int = 1024) -> np.ndarray:
    """Every deletion variant through :meth:`Model.representation`: exact for any network."""
    flat = ids.cpu().numpy()
    sentence, _ = _variants(n_words)
    v_flat, v_offsets = deletion_variants(flat, offsets, n_words)
    full = padded_run(model, network, ids, offsets, batch_rows, with_states=False)[1]
    variant = padded_run(model, network, torch.from_numpy(v_flat).to(ids.device), v_offsets, batch_rows,
                         with_states=False)[1]
    return _cosine_distance(full[torch.from_numpy(sentence).to(ids.device)], variant)


def omission_scores(model: Model, network: str, flat: np.ndarray, offsets: np.ndarray, n_words: np.ndarray,
                    device, batch_rows: int = 1024) -> np.ndarray:
    """Omission of every word of every sentence, in (sentence, position) order.

    ``flat``/``offsets`` hold the sentences as the model reads them (:mod:`lingscope.encoding.csr`);
    the words of sentence s are its first ``n_words[s]`` tokens. The fast path runs where the
    network has a cell, the generic one elsewhere.
    """
    ids = torch.from_numpy(flat).to(device)
    cell = model.cell(network)
    if cell is None:
        return generic_omission(model, network, ids, offsets, n_words, batch_rows)
    return fast_omission(model, network, cell, ids, offsets, n_words, batch_rows)


@torch.no_grad()
def naive_omission(model: Model, network: str, flat: np.ndarray, offsets: np.ndarray, n_words: np.ndarray,
                   device) -> list[np.ndarray]:
    """The authors' method: per sentence, one padded batch of the full sentence and its n
    deletions, each run from scratch through :meth:`Model.representation`."""
    out = []
    v_flat, v_offsets = deletion_variants(flat, offsets, n_words)
    first = offsets_of(n_words)
    for s in range(len(n_words)):
        rows = [flat[offsets[s] : offsets[s + 1]]]
        rows += [v_flat[v_offsets[v] : v_offsets[v + 1]] for v in range(first[s], first[s + 1])]
        ids, lengths = pad(np.concatenate(rows), offsets_of([len(r) for r in rows]))
        emb = model.embed(torch.from_numpy(ids).to(device))
        r = model.representation(network, emb, torch.from_numpy(lengths).to(device))
        out.append(_cosine_distance(r[:1].expand_as(r[1:]), r[1:]))
    return out


def run(model_path: Path, network: str, sentences: Path, vocab_path: Path, split: str, out: Path,
        settings: OmissionSettings, runtime: Runtime) -> None:
    model, extra, device = open_network(model_path, network, runtime)
    vocab = load_vocab_checked(vocab_path)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    n_words_total, start = 0, time.perf_counter()
    try:
        with pq.ParquetWriter(tmp, OMISSION, compression="zstd") as writer:
            for chunk in iter_sentence_chunks(sentences, split, chunk_tokens=settings.chunk_tokens):
                tokens, n_words, flat, offsets = encode_chunk(chunk, vocab, model.reads_eos)
                if n_words_total == 0:  # once per job: the fast path is only taken where it is exact
                    verify_cell(model, network, torch.from_numpy(flat).to(device), offsets)
                scores = omission_scores(model, network, flat, offsets, n_words, device, settings.batch_rows)
                n = len(tokens)
                table = pa.table({
                    "sentence_id": pa.array(np.repeat(chunk.column("sentence_id").to_numpy(), n_words)),
                    "position": pa.array(positions(offsets_of(n_words)).astype(np.int32)),
                    "token": tokens,
                    "model": pa.repeat(pa.scalar(extra["name"]), n),
                    "pathway": pa.repeat(pa.scalar(network), n), "omission": pa.array(scores),
                })
                writer.write_table(table.cast(OMISSION))
                n_words_total += n
        if n_words_total == 0:
            raise InputError(sentences, f"split {split!r}", "no sentences in this split")
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    seconds = time.perf_counter() - start
    print(f"{extra['name']}/{network}: {n_words_total:,} omission scores in {seconds:.1f} s "
          f"({n_words_total / max(seconds, 1e-9):,.0f} words/s, "
          f"{'fast cell path' if model.cell(network) else 'generic path'})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, type=Path, help="model.pt written by lingscope.training.train")
    p.add_argument("--pathway", required=True, help="the network of the model (lingscope.core.catalog)")
    p.add_argument("--sentences", required=True, type=Path, help="SENTENCES table")
    p.add_argument("--vocab", required=True, type=Path)
    p.add_argument("--split", default="val", help="the analysis split")
    p.add_argument("--out", required=True, type=Path, help="OMISSION Parquet table")
    OmissionSettings.add_arguments(p, "omission settings (config: omission)")
    Runtime.add_arguments(p, "runtime (config: training)")
    args = p.parse_args(argv)
    run(args.model, args.pathway, args.sentences, args.vocab, args.split, args.out,
        OmissionSettings.from_args(args), Runtime.from_args(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
