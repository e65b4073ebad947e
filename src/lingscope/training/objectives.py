"""Training objectives, by the kind of readout they train (never by model family).

- ``next_token`` readouts (``vocabulary``): the state after t tokens predicts token t+1 and the
  first token is predicted from the zero state, the start state of every recurrent network
  here; mean cross-entropy over the real tokens (``<pad>`` ignored). Validation averages it over
  tokens.
- ``regression`` readouts (``image``): the readout of the sentence representation against the
  target vector of the same name; mean cosine distance ``1 - cos`` (Kadar et al. 2017, sec. 3).
  Validation averages it over sentences. The targets are z-scored with the train split's
  statistics, which are saved with the model so evaluations score the same way.

The data tables a regression target comes from are named in :data:`TARGET_TABLES`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lingscope.core.errors import InputError
from lingscope.encoding.captions import Sentences
from lingscope.encoding.ids import PAD_ID
from lingscope.encoding.images import Images, load_images, zscore_stats
from lingscope.models.base import NEXT_TOKEN, REGRESSION, Model, Objective, next_token_logits, sentence_readout

# regression target -> the data table (and train CLI flag) it is read from
TARGET_TABLES = {"image": "image_features"}


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
    kind = model.readouts(objective.network)[objective.readout].kind
    if kind == NEXT_TOKEN:
        logits = next_token_logits(model, objective.network, objective.readout, batch.ids, batch.lengths)
        return F.cross_entropy(logits.flatten(0, 1), batch.ids.flatten(), ignore_index=PAD_ID)
    if kind == REGRESSION:
        pred = sentence_readout(model, objective.network, objective.readout, batch.ids, batch.lengths)
        return (1.0 - F.cosine_similarity(pred, batch.targets[objective.readout], dim=1)).mean()
    raise ValueError(f"no objective for readouts of kind {kind!r}")


def validation_weight(model: Model, objective: Objective, batch: Batch) -> int:
    """What a batch's mean loss is weighted by when validation losses are averaged."""
    kind = model.readouts(objective.network)[objective.readout].kind
    return batch.n_tokens if kind == NEXT_TOKEN else len(batch.lengths)


@dataclass
class Targets:
    """Regression targets per sentence of the train and validation splits, z-scored on train."""

    per_split: dict[str, dict[str, torch.Tensor]]  # split -> target name -> (sentences, dim)
    units: dict[str, int]  # target name -> dim
    stats: dict[str, tuple[np.ndarray, np.ndarray]]  # target name -> (mean, std)

    def extras(self) -> dict:
        """What the model file keeps of them (``<target>_mean``, ``<target>_std``)."""
        out = {}
        for name, (mean, std) in self.stats.items():
            out |= {f"{name}_mean": torch.from_numpy(mean), f"{name}_std": torch.from_numpy(std)}
        return out


def load_targets(names: list[str], tables: dict[str, Path | None], splits: dict[str, Sentences],
                 device: torch.device) -> Targets:
    """The targets ``names`` from their tables (``tables[TARGET_TABLES[name]]``) for each split."""
    per_split: dict[str, dict[str, torch.Tensor]] = {split: {} for split in splits}
    units, stats = {}, {}
    for name in names:
        path = tables.get(TARGET_TABLES[name])
        if path is None:
            flag = "--" + TARGET_TABLES[name].replace("_", "-")
            raise InputError(None, flag, f"the model's {name!r} readout is trained on this table; give it")
        images: Images = load_images(path)
        mean, std = zscore_stats(images.features[images.splits == "train"])
        feats = (images.features - mean) / std
        for split, sentences in splits.items():
            rows = images.rows(sentences.image_ids, path)
            per_split[split][name] = torch.from_numpy(feats[rows]).to(device)
        units[name] = images.features.shape[1]
        stats[name] = (mean, std)
    return Targets(per_split, units, stats)
