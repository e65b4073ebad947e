"""Training objectives, by the kind of readout they train (never by model family).

- ``next_token`` readouts (``vocabulary``): the state after t tokens predicts token t+1 and the
  first token is predicted from the zero state, the start state of every recurrent network
  here; mean cross-entropy over the real tokens (``<pad>`` ignored). Validation averages it over
  tokens.
- ``regression`` readouts (``image``): the readout of the sentence representation against the
  target vector of the same name; mean cosine distance ``1 - cos`` (Kadar et al. 2017, sec. 3).
  Validation averages it over sentences. The targets are z-scored with the train split's
  statistics, which are saved with the model so evaluations score the same way.
- ``classes`` readouts (``sentiment``): softmax cross-entropy of the readout of the
  representation against each example's label; validation also counts the correct argmax
  predictions (accuracy). The labels come from a treebank's phrases table: the validation
  examples are whole sentences (the root nodes); the train examples are either the sentences
  too or, with ``examples: phrases``, every labelled phrase of the train trees as an example of
  its own (Li et al. 2016).
- ``sequence`` readouts (``reconstruction``): the sentence decoded from its own representation
  with teacher forcing (:func:`lingscope.models.base.reconstruction_logits`); mean cross-entropy
  over its tokens, ``<eos>`` included. Validation averages it over tokens.

The data tables a regression or class target comes from are named in :data:`TARGET_TABLES`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from lingscope.core.errors import InputError
from lingscope.core.io import require_columns
from lingscope.core.schemas import SST_LABELS
from lingscope.encoding.captions import Sentences
from lingscope.encoding.images import Images, load_images, zscore_stats
from lingscope.models.base import Model, Objective
from lingscope.models.readouts import readout_kind

# regression or class target -> the data table (and train CLI flag) it is read from
TARGET_TABLES = {"image": "image_features", "sentiment": "phrases", "classes": "phrases"}


def add_table_arguments(parser) -> None:
    """A ``--<table>`` flag for each data table a regression target is read from."""
    for table in sorted(set(TARGET_TABLES.values())):
        parser.add_argument("--" + table.replace("_", "-"), dest=table, type=Path,
                            help=f"{table.upper()} table, for models with a readout trained on it")


def table_paths(args) -> dict[str, Path | None]:
    """The tables given by :func:`add_table_arguments`' flags (None where not given)."""
    return {table: getattr(args, table) for table in set(TARGET_TABLES.values())}


@dataclass
class Batch:
    ids: torch.Tensor  # (batch, time), right-padded with <pad>
    lengths: torch.Tensor  # (batch,)
    n_tokens: int
    targets: dict[str, torch.Tensor] = field(default_factory=dict)  # regression targets per sentence


def loss(model: Model, objective: Objective, batch: Batch) -> torch.Tensor:
    """The objective's mean loss on a batch, as its readout's kind defines it (lingscope.models.readouts)."""
    kind = readout_kind(model, objective.network, objective.readout)
    outputs = kind.outputs(model, objective.network, objective.readout, batch.ids, batch.lengths)
    return kind.loss(outputs, batch.ids, batch.targets.get(objective.readout))


def is_classes(model: Model, objective: Objective) -> bool:
    """Whether the objective's readout has an accuracy (a class per example)."""
    return readout_kind(model, objective.network, objective.readout).accuracy


def loss_and_correct(model: Model, objective: Objective, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """A class objective's mean loss on a batch and its number of correct argmax predictions."""
    kind = readout_kind(model, objective.network, objective.readout)
    scores = kind.outputs(model, objective.network, objective.readout, batch.ids, batch.lengths)
    target = batch.targets[objective.readout]
    return kind.loss(scores, batch.ids, target), (scores.argmax(1) == target).sum()


def validation_weight(model: Model, objective: Objective, batch: Batch) -> int:
    """What a batch's mean loss is weighted by when validation losses are averaged."""
    per_token = readout_kind(model, objective.network, objective.readout).per_token
    return batch.n_tokens if per_token else len(batch.lengths)


@dataclass
class Targets:
    """Targets per example of the train and validation splits: regression vectors z-scored on
    train, or class labels (their stats empty)."""

    per_split: dict[str, dict[str, torch.Tensor]]  # split -> target name -> (sentences, dim)
    units: dict[str, int]  # target name -> dim
    stats: dict[str, tuple[np.ndarray, np.ndarray]]  # target name -> (mean, std)

    def extras(self) -> dict:
        """What the model file keeps of them (``<target>_mean``, ``<target>_std``)."""
        out = {}
        for name, (mean, std) in self.stats.items():
            out |= {f"{name}_mean": torch.from_numpy(mean), f"{name}_std": torch.from_numpy(std)}
        return out


def load_labels(path: Path, split: str, sentences: Sentences, phrases: bool,
                partial: bool = False) -> tuple[Sentences, np.ndarray]:
    """The examples of one split with their labels, from a treebank's phrases table (SST_PHRASES):
    the whole sentences (the root nodes), or with ``phrases`` every labelled node's span.

    A phrase whose sentence is not in ``sentences`` is an error, unless ``partial``: the split
    was cut short on purpose (``max_train_sentences``) and its other sentences' phrases are left out."""
    require_columns(path, ["split", "sentence_id", "start", "end", "label", "is_sentence"])
    filters = [("split", "=", split)] + ([] if phrases else [("is_sentence", "=", True)])
    table = pq.read_table(path, columns=["sentence_id", "start", "end", "label"], filters=filters)
    if table.num_rows == 0:
        raise InputError(path, f"split {split!r}", "no labelled phrases in this split")
    if table.column("label").null_count:
        raise InputError(path, f"split {split!r}", "a phrase has no label")
    row_of = {int(s): k for k, s in enumerate(sentences.sentence_ids)}
    if partial:
        table = table.filter(pc.is_in(table.column("sentence_id"), pa.array(sentences.sentence_ids)))
    ids = table.column("sentence_id").to_numpy()
    missing = [int(s) for s in ids if int(s) not in row_of]
    if missing:
        raise InputError(path, f"sentence_id {missing[0]}", f"a phrase of split {split!r} has no sentence in the "
                         "sentences table")
    rows = np.fromiter((row_of[int(s)] for s in ids), dtype=np.int64, count=len(ids))
    starts, ends = table.column("start").to_numpy(), table.column("end").to_numpy()
    n_words = np.diff(sentences.offsets)[rows]
    bad = np.flatnonzero((starts < 0) | (ends <= starts) | (ends > n_words))
    if len(bad):
        k = int(bad[0])
        raise InputError(path, f"sentence_id {int(ids[k])}", f"phrase span [{starts[k]}, {ends[k]}) does not lie "
                         f"within its sentence of {int(n_words[k])} tokens")
    labels = np.array(pc.cast(table.column("label"), "int64").to_numpy())  # writable, for torch
    return sentences.spans(rows, starts, ends), labels


def _is_user_labels(path: Path) -> bool:
    """Whether a phrases table is a labelled corpus's (one phrase per sentence, from
    lingscope.data.user), whose labels table decides the classes, rather than the SST's."""
    labels = Path(path).with_name("labels.parquet")
    return labels.exists()


def load_targets(names: list[str], tables: dict[str, Path | None], splits: dict[str, Sentences],
                 device: torch.device, phrases: bool = False, partial: tuple[str, ...] = ()
                 ) -> tuple[dict[str, Sentences], Targets]:
    """The targets ``names`` from their tables (``tables[TARGET_TABLES[name]]``) for each split,
    and the examples they are targets of: ``splits`` itself, or, for a class target, the
    sentences of each split (the train split's phrases with ``phrases``). The splits named in
    ``partial`` hold only some of their sentences, on purpose."""
    per_split: dict[str, dict[str, torch.Tensor]] = {split: {} for split in splits}
    units, stats = {}, {}
    examples = dict(splits)
    for name in names:
        path = tables.get(TARGET_TABLES[name])
        if path is None:
            flag = "--" + TARGET_TABLES[name].replace("_", "-")
            raise InputError(None, flag, f"the model's {name!r} readout is trained on this table; give it")
        if TARGET_TABLES[name] == "phrases":
            n_labels = 0
            for split, sentences in splits.items():
                examples[split], labels = load_labels(path, split, sentences, phrases and split == "train",
                                                        split in partial)
                per_split[split][name] = torch.from_numpy(labels).to(device)
                n_labels = max(n_labels, int(labels.max()) + 1)
            # The data decide the classes; a treebank's labels table holds all five of the SST's.
            units[name] = n_labels if _is_user_labels(path) else max(n_labels, SST_LABELS)
            continue
        images: Images = load_images(path)
        mean, std = zscore_stats(images.features[images.splits == "train"])
        feats = (images.features - mean) / std
        for split, sentences in splits.items():
            rows = images.rows(sentences.image_ids, path)
            per_split[split][name] = torch.from_numpy(feats[rows]).to(device)
        units[name] = images.features.shape[1]
        stats[name] = (mean, std)
    if phrases and not any(TARGET_TABLES[n] == "phrases" for n in names):
        raise InputError(None, "examples", "phrases: training on phrases needs a class readout with a phrases table")
    return examples, Targets(per_split, units, stats)
