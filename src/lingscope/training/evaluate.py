"""Evaluate a trained model on a split, one set of metrics per readout of each network.

- ``regression`` readouts (``image``, Kadar et al. 2017, sec. 3): retrieval. Each sentence's
  prediction ranks the split's target vectors (the images, z-scored with the train statistics
  saved in the model) by cosine; recall@k is the share of sentences whose own target is among
  the top k. Chance recall@k is k / (number of targets).
- ``next_token`` readouts (``vocabulary``): per-token cross-entropy (nats) and perplexity over
  every token the model reads (``w_1 .. w_n <eos>``).
- ``classes`` readouts (``sentiment``, Li et al. 2016): sentence-level accuracy, fine-grained
  (the 5 labels) and coarse (negative 0-1 against positive 3-4, neutral sentences left out, the
  usual SST binary protocol). A 5-class model's coarse prediction is the side with the larger
  softmax mass, ``p(3) + p(4)`` against ``p(0) + p(1)``. The majority class of the train
  sentences gives the baselines ``majority_fine`` and ``majority_coarse``. Every sentence's
  prediction goes to ``--predictions`` (the accuracy table's confidence intervals and McNemar
  tests are computed from it).
- ``sequence`` readouts (``reconstruction``, Li et al. 2016's autoencoder): per-token
  cross-entropy and perplexity under teacher forcing, as for a language model; and, decoding
  greedily from each sentence's representation (the decoder reading its own outputs), the token
  accuracy (tokens reproduced at their own position, ``<eos>`` included) and the exact-match rate
  (sentences reproduced whole). Every sentence's reconstruction goes to ``--reconstructions``,
  from which the results by sentence length are drawn.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet
from lingscope.core.schemas import EVALUATION, PREDICTIONS, RECONSTRUCTIONS
from lingscope.core.settings import Runtime
from lingscope.encoding.captions import Sentences, length_batches, load_sentences
from lingscope.encoding.ids import EOS_ID, PAD_ID, load_vocab_checked
from lingscope.encoding.images import load_images, split_zscored
from lingscope.models.base import CLASSES, Model, NEXT_TOKEN, REGRESSION, Readout, SEQUENCE
from lingscope.models.checkpoint import load_model, use_runtime
from lingscope.models.readouts import greedy_decode, next_token_logits, reconstruction_logits, sentence_readout
from lingscope.training.objectives import TARGET_TABLES, add_table_arguments, load_labels, table_paths

RECALL_AT = (1, 5, 10)


@torch.no_grad()
def sentence_outputs(model: Model, network: str, readout: str, sentences: Sentences, device,
                     batch_size: int = 512) -> torch.Tensor:
    """A sentence-level readout (regression or classes) of every sentence, in sentence order."""
    out = torch.empty(len(sentences), model.readouts(network)[readout].units)
    for index in length_batches(sentences.lengths, batch_size, None):
        ids, lengths = sentences.padded(index)
        out[torch.from_numpy(index)] = sentence_readout(model, network, readout, torch.from_numpy(ids).to(device),
                                                        torch.from_numpy(lengths).to(device)).float().cpu()
    return out


def ranks_of_true_target(pred: torch.Tensor, targets: torch.Tensor, target_ids: np.ndarray,
                         true_ids: np.ndarray) -> np.ndarray:
    """1-based rank of each sentence's own target among ``target_ids`` by cosine (ties: pessimistic)."""
    column = {int(i): k for k, i in enumerate(target_ids)}
    missing = [int(i) for i in true_ids if int(i) not in column]
    if missing:
        raise InputError(None, f"image_id {missing[0]}", "a sentence's image is not among the split's images")
    truth = torch.tensor([column[int(i)] for i in true_ids])
    ranks = np.empty(len(pred), dtype=np.int64)
    for start in range(0, len(pred), 4096):
        scores = pred[start : start + 4096] @ targets.T
        own = scores.gather(1, truth[start : start + 4096, None])
        ranks[start : start + 4096] = (scores >= own).sum(1).numpy()
    return ranks


@torch.no_grad()
def cross_entropy(model: Model, network: str, readout: str, sentences: Sentences, device,
                  batch_size: int = 512) -> tuple[float, int]:
    total, n = 0.0, 0
    for index in length_batches(sentences.lengths, batch_size, None):
        ids, lengths = sentences.padded(index)
        ids_t = torch.from_numpy(ids).to(device)
        logits = next_token_logits(model, network, readout, ids_t, torch.from_numpy(lengths).to(device))
        total += F.cross_entropy(logits.flatten(0, 1), ids_t.flatten(), ignore_index=PAD_ID, reduction="sum").item()
        n += int(lengths.sum())
    return total / n, n


@torch.no_grad()
def reconstructions(model: Model, network: str, readout: str, sentences: Sentences, id_to_token: list[str],
                    device, batch_size: int = 256) -> dict[str, np.ndarray]:
    """Every sentence's teacher-forced log-likelihood and its greedy reconstruction, in sentence
    order: ``n_tokens``, ``log_likelihood``, ``correct``, ``exact`` and ``decoded`` (the greedy
    output's first ``n_tokens`` tokens up to its first ``<eos>``)."""
    n = len(sentences)
    out = {"n_tokens": sentences.lengths.astype(np.int32), "log_likelihood": np.empty(n),
           "correct": np.empty(n, np.int32), "exact": np.empty(n, bool), "decoded": np.empty(n, object)}
    for index in length_batches(sentences.lengths, batch_size, None):
        ids, lengths = sentences.padded(index)
        ids_t, lengths_t = torch.from_numpy(ids).to(device), torch.from_numpy(lengths).to(device)
        logits = reconstruction_logits(model, network, readout, ids_t, lengths_t)
        logp = torch.log_softmax(logits.double(), -1).gather(2, ids_t[..., None])[..., 0]
        inside = ids_t != PAD_ID
        out["log_likelihood"][index] = (logp * inside).sum(1).cpu().numpy()
        decoded = greedy_decode(model, network, readout, ids_t, lengths_t, ids.shape[1])
        hits = (decoded == ids_t) & inside
        out["correct"][index] = hits.sum(1).cpu().numpy()
        out["exact"][index] = (hits.sum(1) == lengths_t).cpu().numpy()
        for row, tokens in zip(index, decoded.cpu().numpy()):
            words = []
            for token in tokens[: sentences.lengths[row]]:
                if token == EOS_ID:
                    break
                words.append(id_to_token[token])
            out["decoded"][row] = " ".join(words)
    return out


def sequence_rows(base: dict, rec: dict[str, np.ndarray]) -> list[dict]:
    """Perplexity, cross-entropy, token accuracy and exact match of one readout on one split."""
    tokens = int(rec["n_tokens"].sum())
    ce = float(-rec["log_likelihood"].sum() / tokens)
    return [base | {"metric": "cross_entropy", "value": ce, "n": tokens},
            base | {"metric": "perplexity", "value": float(np.exp(ce)), "n": tokens},
            base | {"metric": "token_accuracy", "value": float(rec["correct"].sum() / tokens), "n": tokens},
            base | {"metric": "exact_match", "value": float(rec["exact"].mean()), "n": len(rec["exact"])}]


def coarse(labels: np.ndarray) -> np.ndarray:
    """Polarity of 5-way labels: 0 negative (0-1), 1 positive (3-4), -1 neutral (2)."""
    return np.where(labels <= 1, 0, np.where(labels >= 3, 1, -1))


def class_predictions(scores: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Fine predictions (argmax) and coarse ones (the side with the larger softmax mass)."""
    p = torch.softmax(scores.double(), 1)
    return scores.argmax(1).numpy(), (p[:, 3:].sum(1) > p[:, :2].sum(1)).numpy().astype(np.int64)


def class_rows(base: dict, labels: np.ndarray, fine: np.ndarray, polarity: np.ndarray | None,
               train_labels: np.ndarray) -> list[dict]:
    """Fine and coarse accuracy of one readout on one split, and the baselines that predict the
    train sentences' most frequent label (fine) and most frequent polarity (coarse). Without
    ``polarity`` (a corpus other than the SST) the accuracy over the corpus's own labels and its
    majority baseline (metrics ``accuracy`` and ``majority``)."""
    majority = int(np.bincount(train_labels).argmax())
    if polarity is None:
        return [base | {"metric": "accuracy", "value": float((fine == labels).mean()), "n": len(labels)},
                base | {"metric": "majority", "value": float((labels == majority).mean()), "n": len(labels)}]
    gold = coarse(labels)
    polar = gold >= 0
    train_polarity = coarse(train_labels)
    majority_polarity = int(np.bincount(train_polarity[train_polarity >= 0], minlength=2).argmax())
    return [base | {"metric": "accuracy_fine", "value": float((fine == labels).mean()), "n": len(labels)},
            base | {"metric": "accuracy_coarse", "value": float((polarity[polar] == gold[polar]).mean()),
                    "n": int(polar.sum())},
            base | {"metric": "majority_fine", "value": float((labels == majority).mean()), "n": len(labels)},
            base | {"metric": "majority_coarse", "value": float((gold[polar] == majority_polarity).mean()),
                    "n": int(polar.sum())}]



def _target_table(tables: dict, network: str, readout: str):
    """The table a readout is evaluated against, or None (with a note) when it was not given."""
    path = tables.get(TARGET_TABLES.get(readout, ""))
    if path is None:
        print(f"note: no --{TARGET_TABLES.get(readout, readout).replace('_', '-')}: "
              f"{network}'s {readout!r} readout is not evaluated", file=sys.stderr)
    return path

@dataclass
class Job:
    """One evaluation: a model on one split, and where the per-sentence tables go."""

    model: Model
    extra: dict
    sentences: Sentences
    tables: dict[str, Path | None]
    split: str
    device: torch.device
    collected: list | None = None
    id_to_token: list[str] | None = None
    reconstructed: list | None = None
    sst_polarity: bool = False


def evaluate(model: Model, extra: dict, sentences: Sentences, tables: dict[str, Path | None], split: str,
             device, collected: list | None = None, id_to_token: list[str] | None = None,
             reconstructed: list | None = None, sst_polarity: bool = False) -> list[dict]:
    """The metric rows of every readout of every network on one split (a class readout on the SST,
    ``sst_polarity``, gets the fine and coarse granularities); a class readout's
    per-sentence predictions (PREDICTIONS tables) are appended to ``collected``, a sequence
    readout's reconstructions (RECONSTRUCTIONS tables; the decoded words need ``id_to_token``)
    to ``reconstructed``. Each readout is evaluated as its kind says (:data:`EVALUATIONS`)."""
    job = Job(model, extra, sentences, tables, split, device, collected, id_to_token, reconstructed, sst_polarity)
    rows = []
    for network in model.networks:
        for readout in model.readouts(network).values():
            base = {"model": extra["name"], "pathway": network, "split": split}
            rows += EVALUATIONS[readout.kind](job, network, readout, base)
    return rows


def evaluate_regression(job: Job, network: str, readout: Readout, base: dict) -> list[dict]:
    """Retrieval: recall@k of each sentence's own target among the split's, by cosine."""
    path = _target_table(job.tables, network, readout.name)
    if path is None:
        return []
    target_ids, vectors = split_zscored(load_images(path), job.split, job.extra[f"{readout.name}_mean"].numpy(),
                                        job.extra[f"{readout.name}_std"].numpy())
    vectors = F.normalize(torch.from_numpy(vectors), dim=1)
    pred = F.normalize(sentence_outputs(job.model, network, readout.name, job.sentences, job.device), dim=1)
    ranks = ranks_of_true_target(pred, vectors, target_ids, job.sentences.image_ids)
    base = base | {"n": len(job.sentences)}
    rows = []
    for k in RECALL_AT:
        rows.append(base | {"metric": f"recall@{k}", "value": float((ranks <= k).mean())})
        rows.append(base | {"metric": f"chance_recall@{k}", "value": min(1.0, k / len(target_ids))})
    rows.append(base | {"metric": "median_rank", "value": float(np.median(ranks))})
    return rows


def evaluate_next_token(job: Job, network: str, readout: Readout, base: dict) -> list[dict]:
    """Cross-entropy and perplexity over every token read."""
    ce, n = cross_entropy(job.model, network, readout.name, job.sentences, job.device)
    return [base | {"metric": "cross_entropy", "value": ce, "n": n},
            base | {"metric": "perplexity", "value": float(np.exp(ce)), "n": n}]


def evaluate_sequence(job: Job, network: str, readout: Readout, base: dict) -> list[dict]:
    """Teacher-forced perplexity, and greedy reconstruction's token accuracy and exact matches."""
    words = job.id_to_token or [str(i) for i in range(readout.units)]
    rec = reconstructions(job.model, network, readout.name, job.sentences, words, job.device)
    if job.reconstructed is not None:
        n = len(job.sentences)
        job.reconstructed.append(pa.table({
            "model": [base["model"]] * n, "pathway": [network] * n, "readout": [readout.name] * n,
            "split": [job.split] * n, "sentence_id": job.sentences.sentence_ids,
            **{k: rec[k] for k in ("n_tokens", "log_likelihood", "correct", "exact")},
            "decoded": pa.array(rec["decoded"].tolist(), pa.string()),
        }, schema=RECONSTRUCTIONS))
    return sequence_rows(base, rec)


def evaluate_classes(job: Job, network: str, readout: Readout, base: dict) -> list[dict]:
    """Sentence accuracy against the majority class (and the SST's fine and coarse granularities)."""
    path = _target_table(job.tables, network, readout.name)
    if path is None:
        return []
    examples, labels = load_labels(path, job.split, job.sentences, phrases=False)
    scores = sentence_outputs(job.model, network, readout.name, examples, job.device)
    fine, polarity = class_predictions(scores)
    if not job.sst_polarity:
        polarity = None
    rows = class_rows(base, labels, fine, polarity, train_sentence_labels(path))
    if job.collected is not None:
        gold = coarse(labels) if job.sst_polarity else np.full(len(labels), -1)
        n = len(labels)
        job.collected.append(pa.table({
            "model": [base["model"]] * n, "pathway": [network] * n,
            "readout": [readout.name] * n, "split": [job.split] * n,
            "sentence_id": examples.sentence_ids, "label": labels.astype(np.int8),
            "predicted": fine.astype(np.int8),
            "coarse_label": pa.array(gold.astype(np.int8), mask=gold < 0),
            "coarse_predicted": (pa.array(polarity.astype(np.int8)) if job.sst_polarity
                                 else pa.nulls(n, pa.int8())),
            "scores": pa.array(list(scores.numpy()), pa.list_(pa.float32())),
        }, schema=PREDICTIONS))
    return rows


# How each readout kind (lingscope.models.readouts) is evaluated.
EVALUATIONS = {REGRESSION: evaluate_regression, NEXT_TOKEN: evaluate_next_token, SEQUENCE: evaluate_sequence,
               CLASSES: evaluate_classes}


def train_sentence_labels(path: Path) -> np.ndarray:
    """The train sentences' labels of a phrases table (the majority-class baselines' source)."""
    table = pq.read_table(path, columns=["label"], filters=[("split", "=", "train"), ("is_sentence", "=", True)])
    if table.num_rows == 0:
        raise InputError(path, "split 'train'", "no train sentences: the majority-class baseline needs them")
    return table.column("label").to_numpy().astype(np.int64)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model.pt written by lingscope.training.train")
    p.add_argument("--sentences", required=True)
    p.add_argument("--vocab", required=True)
    add_table_arguments(p)
    p.add_argument("--split", nargs="+", default=["val"], help="the splits to evaluate")
    p.add_argument("--out", required=True, help="EVALUATION Parquet table")
    p.add_argument("--predictions", type=Path, help="PREDICTIONS Parquet table: every sentence's prediction by each "
                                                    "class readout (no rows for a model without one)")
    p.add_argument("--reconstructions", type=Path, help="RECONSTRUCTIONS Parquet table: every sentence's "
                   "reconstruction by each sequence readout (no rows for a model without one)")
    p.add_argument("--sst-polarity", action="store_true", help="the SST's granularities: fine (5 labels) and coarse "
                   "(negative 0-1 against positive 3-4); without it, accuracy over the corpus's own labels")
    Runtime.add_arguments(p, "runtime (config: training)")
    args = p.parse_args(argv)
    device = use_runtime(Runtime.from_args(args))
    model, extra = load_model(args.model, device)
    vocab = load_vocab_checked(args.vocab)
    tables = table_paths(args)
    id_to_token = [None] * len(vocab)
    for token, i in vocab.items():
        id_to_token[i] = token
    rows, collected, reconstructed = [], [], []
    for split in args.split:
        sentences = load_sentences(args.sentences, vocab, split, eos=model.reads_eos)
        rows += evaluate(model, extra, sentences, tables, split, device, collected, id_to_token, reconstructed,
                         args.sst_polarity)
    for row in rows:
        print(f"{row['model']} {row['pathway']} {row['split']} {row['metric']}: {row['value']:.4f}")
    write_parquet(pa.Table.from_pylist(rows), Path(args.out), EVALUATION, "evaluation")
    if args.predictions:
        table = pa.concat_tables(collected) if collected else PREDICTIONS.empty_table()
        write_parquet(table, args.predictions, PREDICTIONS, "predictions")
    if args.reconstructions:
        table = pa.concat_tables(reconstructed) if reconstructed else RECONSTRUCTIONS.empty_table()
        write_parquet(table, args.reconstructions, RECONSTRUCTIONS, "reconstructions")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
