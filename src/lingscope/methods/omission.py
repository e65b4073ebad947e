"""Omission scores (Kadar et al. 2017, sec. 4.1; docs/kadar2017.md#omission-scores), for any network of the contract.

``omission(i, S) = 1 - cos(r(S), r(S \\ i))``, with ``r`` the network's sentence representation
(``h_end`` for the caption models of the paper): word i is deleted (not replaced), and any end symbol the
model reads is kept. Three exact paths (:func:`omission_path` says which a network takes):

- **Prefix reuse, for a network with a left-to-right cell.** The cell state after
  ``S_1 .. S_{i-1}`` is the same in ``S`` and in ``S \\ i``, so it is taken from the full run, and
  only the suffix is recomputed from it. The full run also gives ``r(S)``, which is never
  recomputed. Every suffix of a chunk runs together, longest first, so each step is one dense
  GEMM over the runs still going; each token's input projection is computed once and shared by
  every run that reads it.
- **Two-sided reuse, for a network read in both directions** (one that offers a
  :class:`lingscope.models.base.Bidirectional` pair): the forward cell resumes from the prefix
  state (after ``S_1 .. S_{i-1}``) and reads ``S_{i+1} ..``; the backward cell, which reads right to
  left, resumes from the suffix state (after reading the sentence's end back to ``S_{i+1}``) and
  reads ``S_{i-1} .. S_1``; both states come from the full runs, both directions run as the prefix
  path does, and the pair assembles ``r(S \\ i)`` from the two final states as the model does. On
  one CPU thread, measured against the generic path in one process: 1.86x at hidden 60, 1.56x
  at 256, equal to 1e-5 (docs/beyond.md#omission-on-every-network;
  ``benchmarks/omission_speed.py``).
- **Generic, for any network**: every deletion variant of every sentence of a chunk is built by
  index arithmetic and run through :meth:`lingscope.models.base.Model.representation` in padded
  batches of similar length.

The fast paths run only where the model offers a cell or a pair, which the job first checks
against the model's own methods (:func:`lingscope.models.runs.verify_cell`), so they can never be
applied where they would be wrong. The authors' code instead ran, per sentence, one batch of its
n + 1 variants; :func:`naive_omission` does that through the contract and serves as the reference in tests
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
from lingscope.encoding.csr import offsets_of, pad, positions
from lingscope.encoding.ids import load_vocab_checked
from lingscope.encoding.stream import encode_chunk, iter_sentence_chunks
from lingscope.methods.settings import OmissionSettings
from lingscope.models.base import Bidirectional, Cell, Model
from lingscope.models.checkpoint import open_network
from lingscope.models.runs import (
    cell_states,
    padded_run,
    reversed_rows,
    run_segments,
    verify_cell,
)

PREFIX, TWO_SIDED, GENERIC = "prefix reuse", "two-sided reuse", "generic"


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


def _deletion_runs(cell: Cell, x_proj: torch.Tensor, offsets: np.ndarray, sentence: np.ndarray,
                   deleted: np.ndarray, batch_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(full, variant)`` final cell states of one reading direction: each sentence's full run,
    and for each variant v the run of sentence ``sentence[v]`` without its token ``deleted[v]``
    (1-based, counted in the order the cell reads ``x_proj``). A variant resumes from the full
    run's state before the deleted token and reads only the tokens after it."""
    device = x_proj.device
    lengths = np.diff(offsets)
    # The full run: every state is kept (the resume points), and its last state gives r(S).
    states, final = cell_states(cell, x_proj, offsets, batch_rows)

    def resume_state(index: np.ndarray) -> torch.Tensor:
        # The state after the tokens before the deleted one (the zero start state when it is the first).
        k = deleted[index]
        h = states.index_select(0, torch.from_numpy(np.maximum(offsets[sentence[index]] + k - 2, 0)).to(device))
        h[torch.from_numpy(k == 1).to(device)] = 0.0
        return h

    variant = run_segments(cell, x_proj, offsets[sentence] + deleted, lengths[sentence] - deleted, resume_state,
                           batch_rows)
    return final, variant


@torch.no_grad()
def fast_omission(model: Model, network: str, cell: Cell, ids: torch.Tensor, offsets: np.ndarray,
                  n_words: np.ndarray, batch_rows: int = 1024) -> np.ndarray:
    """The prefix-reuse path; exact for a strictly left-to-right network (see the module docstring)."""
    sentence, i = _variants(n_words)
    # Every run over a token shares its input projection: compute it once per token.
    full, variant = _deletion_runs(cell, cell.project(model.embed(ids)), offsets, sentence, i, batch_rows)
    return _cosine_distance(cell.output(full)[torch.from_numpy(sentence).to(ids.device)], cell.output(variant))


@torch.no_grad()
def two_sided_omission(model: Model, network: str, pair: Bidirectional, ids: torch.Tensor, offsets: np.ndarray,
                       n_words: np.ndarray, batch_rows: int = 1024) -> np.ndarray:
    """The two-sided reuse path; exact for a network that is its pair's two runs (see the module
    docstring). One direction at a time, so only one full run's states are held at once."""
    sentence, i = _variants(n_words)
    emb = model.embed(ids)
    forward = _deletion_runs(pair.forward, pair.forward.project(emb), offsets, sentence, i, batch_rows)
    # Read right to left (each sentence reversed within its span), word i is token L + 1 - i; any
    # end symbol after the words is read first and stays.
    backward_emb = emb.index_select(0, torch.from_numpy(reversed_rows(offsets)).to(ids.device))
    deleted = np.diff(offsets)[sentence] + 1 - i
    backward = _deletion_runs(pair.backward, pair.backward.project(backward_emb), offsets, sentence, deleted,
                              batch_rows)
    full = pair.representation(forward[0], backward[0])[torch.from_numpy(sentence).to(ids.device)]
    return _cosine_distance(full, pair.representation(forward[1], backward[1]))


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
    the words of sentence s are its first ``n_words[s]`` tokens. The path is
    :func:`omission_path`'s.
    """
    ids = torch.from_numpy(flat).to(device)
    path = omission_path(model, network)
    if path == PREFIX:
        return fast_omission(model, network, model.cell(network), ids, offsets, n_words, batch_rows)
    if path == TWO_SIDED:
        return two_sided_omission(model, network, model.bidirectional(network), ids, offsets, n_words, batch_rows)
    return generic_omission(model, network, ids, offsets, n_words, batch_rows)


def omission_path(model: Model, network: str) -> str:
    """Which exact path :func:`omission_scores` takes on ``network``: ``PREFIX`` where the model
    offers a left-to-right cell, ``TWO_SIDED`` where it offers a bidirectional pair, else ``GENERIC``."""
    if model.cell(network) is not None:
        return PREFIX
    if model.bidirectional(network) is not None:
        return TWO_SIDED
    return GENERIC


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
          f"{omission_path(model, network)} path)", file=sys.stderr)


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
