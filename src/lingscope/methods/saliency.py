"""First-derivative saliency and variance salience (Li et al. 2016, sec. 5; docs/li2016.md#saliency).

For each token t of a sentence and each embedding dimension j:

- **saliency** ``|dS_c / de_tj|``, S_c the unnormalised score (the readout's output before any
  softmax) of the class the network predicts for the sentence;
- **variance salience** ``(e_tj - mean_t' e_t'j)^2``, the mean taken over the sentence's words.

``saliency_norm`` and ``variance_norm`` are the L2 norms of the two vectors over dimensions.

The gradient is taken per position, of the embedding *vectors* fed to the network: a word that
occurs twice gets two rows, each with its own gradient. The authors' code differentiated the
embedding *table*, so a repeated word type got its positions' gradients added up in both rows;
per position is the cleaner quantity (docs/li2016.md#saliency) and is what is written here.

Sentences are independent (no batch statistics; the model is in eval mode, dropout off), so the
gradient of the total of a batch's scores with respect to its embeddings holds every sentence's
own gradient: one backward pass per batch, no per-sentence loop. On CUDA the pass runs with
cuDNN off, because cuDNN's recurrent backward refuses to run in eval mode (the known problem of
Captum users); torch's native recurrent kernels differentiate the same function.

Whole splits are streamed in chunks of sentences to one Parquet file (SALIENCY schema), so memory
stays bounded; the example sentences of Figs. 5-8 go through the same code to a second table.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from lingscope.core.errors import InputError, run_cli
from lingscope.core.schemas import SALIENCY
from lingscope.core.settings import Runtime
from lingscope.encoding.captions import length_batches
from lingscope.encoding.csr import offsets_of, pad, positions
from lingscope.encoding.ids import key, load_vocab_checked
from lingscope.encoding.stream import encode_chunk, iter_sentence_chunks
from lingscope.methods.settings import SaliencySettings, SentimentExamples
from lingscope.models.base import CLASSES, Model
from lingscope.models.checkpoint import open_network
from lingscope.models.tensors import mask


def class_readout(model: Model, network: str) -> str:
    """The network's class readout (the scores saliency differentiates)."""
    names = [r.name for r in model.readouts(network).values() if r.kind == CLASSES]
    if not names:
        raise ValueError(f"network {network!r} has no class readout; saliency needs one")
    return names[0]


def gradient_context(device: torch.device):
    """cuDNN off on CUDA (its recurrent backward refuses eval mode); nothing to change elsewhere."""
    if torch.device(device).type == "cuda":
        return torch.backends.cudnn.flags(enabled=False)
    return contextlib.nullcontext()


def saliency_batch(model: Model, network: str, readout: str, ids: torch.Tensor, lengths: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(gradient, embeddings, predicted)`` of a right-padded batch: ``dS_c/de`` (batch, time,
    dim) with S_c the score of each sentence's predicted class, in one backward pass."""
    with gradient_context(ids.device):
        emb = model.embed(ids).detach().requires_grad_(True)
        scores = model.readout(network, readout, model.representation(network, emb, lengths))
        predicted = scores.argmax(1)
        chosen = scores.gather(1, predicted[:, None]).sum()
        (gradient,) = torch.autograd.grad(chosen, emb)
    return gradient, emb.detach(), predicted


def variance_salience(emb: torch.Tensor, n_words: torch.Tensor) -> torch.Tensor:
    """``(e_tj - mean_t' e_t'j)^2`` over each sentence's first ``n_words`` positions (zero elsewhere)."""
    m = mask(n_words, emb.shape[1], emb.dtype).unsqueeze(-1)
    mean = (emb * m).sum(1, keepdim=True) / n_words.clamp(min=1).view(-1, 1, 1).to(emb.dtype)
    return (emb - mean).pow(2) * m


def sentence_saliency(model: Model, network: str, flat: np.ndarray, offsets: np.ndarray, n_words: np.ndarray,
                      device, batch_sentences: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Saliency and variance salience of every word (``(words, dim)`` each, in sentence and
    position order) and each sentence's predicted class, for sentences in the flat layout (the
    words of sentence s are its first ``n_words[s]`` tokens)."""
    readout = class_readout(model, network)
    word_offsets = offsets_of(n_words)
    dim = model.embedding_matrix.shape[1]
    sal = np.empty((int(word_offsets[-1]), dim), dtype=np.float32)
    var = np.empty_like(sal)
    predicted = np.empty(len(n_words), dtype=np.int64)
    for index in length_batches(np.diff(offsets), batch_sentences, None):
        ids, lengths = pad(flat, offsets, index)
        ids_t, lengths_t = torch.from_numpy(ids).to(device), torch.from_numpy(lengths).to(device)
        words_t = torch.from_numpy(n_words[index]).to(device)
        gradient, emb, pred = saliency_batch(model, network, readout, ids_t, lengths_t)
        words = mask(words_t, ids.shape[1]).bool()
        # Row r of the batch holds sentence index[r]; its words go to its rows of the flat output.
        counts = n_words[index]
        rows = np.repeat(word_offsets[index] - offsets_of(counts)[:-1], counts) + np.arange(int(counts.sum()))
        sal[rows] = gradient.abs()[words].float().cpu().numpy()
        var[rows] = variance_salience(emb, words_t)[words].float().cpu().numpy()
        predicted[index] = pred.cpu().numpy()
    return sal, var, predicted


def to_table(sentence_ids: np.ndarray, tokens: pa.Array, n_words: np.ndarray, sal: np.ndarray, var: np.ndarray,
             predicted: np.ndarray, model: str, network: str) -> pa.Table:
    n, dim = sal.shape
    return pa.table({
        "sentence_id": pa.array(np.repeat(sentence_ids, n_words)),
        "position": pa.array(positions(offsets_of(n_words)).astype(np.int32)),
        "token": tokens,
        "model": pa.repeat(pa.scalar(model), n),
        "pathway": pa.repeat(pa.scalar(network), n),
        "predicted": pa.array(np.repeat(predicted, n_words).astype(np.int8)),
        "saliency_norm": pa.array(np.linalg.norm(sal, axis=1).astype(np.float64)),
        "variance_norm": pa.array(np.linalg.norm(var, axis=1).astype(np.float64)),
        "saliency": pa.FixedSizeListArray.from_arrays(pa.array(sal.ravel()), dim).cast(pa.list_(pa.float32())),
        "variance": pa.FixedSizeListArray.from_arrays(pa.array(var.ravel()), dim).cast(pa.list_(pa.float32())),
    }).cast(SALIENCY)


def _write(out: Path, chunks, model: Model, network: str, name: str, vocab: dict, device, batch_sentences: int,
           where: str) -> int:
    """Stream every chunk's saliency to ``out`` (written atomically); returns the words scored."""
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    total = 0
    try:
        with pq.ParquetWriter(tmp, SALIENCY, compression="zstd") as writer:
            for chunk in chunks:
                tokens, n_words, flat, offsets = encode_chunk(chunk, vocab, model.reads_eos)
                sal, var, pred = sentence_saliency(model, network, flat, offsets, n_words, device, batch_sentences)
                writer.write_table(to_table(chunk.column("sentence_id").to_numpy(), tokens, n_words, sal, var, pred,
                                            name, network))
                total += len(tokens)
        if total == 0:
            raise InputError(where, None, "no sentences to score")
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return total


def example_chunk(texts: tuple[str, ...]) -> pa.Table:
    """Example sentences as a chunk of the SENTENCES layout: sentence_id is the example's number."""
    return pa.table({"sentence_id": pa.array(range(len(texts)), pa.int64()),
                     "tokens": pa.array([t.split() for t in texts], pa.list_(pa.string()))})


def run(model_path: Path, network: str, sentences: Path, vocab_path: Path, out: Path, examples_out: Path,
        settings: SaliencySettings, examples: SentimentExamples, runtime: Runtime) -> None:
    model, extra, device = open_network(model_path, network, runtime)
    vocab = load_vocab_checked(vocab_path)
    name = extra["name"]
    start = time.perf_counter()
    chunks = iter_sentence_chunks(sentences, settings.split, chunk_sentences=settings.chunk_sentences)
    n = _write(out, chunks, model, network, name, vocab, device, settings.batch_sentences,
               f"{sentences} (split {settings.split!r})")
    seconds = time.perf_counter() - start
    print(f"{name}/{network}: saliency of {n:,} words of {settings.split} in {seconds:.1f} s "
          f"({n / max(seconds, 1e-9):,.0f} words/s on {device})", file=sys.stderr)
    _write(examples_out, [example_chunk(examples.saliency)], model, network, name, vocab, device,
           settings.batch_sentences, "li_figures.examples.saliency")
    unknown = sorted({w for text in examples.saliency for w in text.split() if key(vocab, w) not in vocab})
    if unknown:
        print(f"note: example words outside the vocabulary, read as <unk>: {unknown}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, type=Path, help="model.pt written by lingscope.training.train")
    p.add_argument("--pathway", required=True, help="the network of the model (lingscope.core.catalog)")
    p.add_argument("--sentences", required=True, type=Path, help="SENTENCES table")
    p.add_argument("--vocab", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path, help="SALIENCY Parquet table of the split")
    p.add_argument("--examples-out", required=True, type=Path, help="SALIENCY Parquet table of the example "
                   "sentences (sentence_id: the example's number)")
    SaliencySettings.add_arguments(p, "saliency settings (config: saliency)")
    SentimentExamples.add_arguments(p, "example phrases (config: li_figures.examples)")
    Runtime.add_arguments(p, "runtime (config: training)")
    args = p.parse_args(argv)
    run(args.model, args.pathway, args.sentences, args.vocab, args.out, args.examples_out,
        SaliencySettings.from_args(args), SentimentExamples.from_args(args), Runtime.from_args(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
