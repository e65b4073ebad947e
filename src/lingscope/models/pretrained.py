"""A network trained outside lingscope (``kind: pretrained``; docs/extending.md#a-model-you-trained) behind the
model contract, and the check job that reads it.

The user's files are a torch ``state_dict`` and a vocabulary, laid out as PyTorch's
word-language-model example lays them out: an embedding matrix (``encoder.weight``), a
``torch.nn.LSTM``, ``GRU`` or ``RNN`` (tanh) whose parameters keep torch's names under a prefix
(``rnn.weight_ih_l0``, ``rnn.weight_hh_l0_reverse``, ...) and a linear head (``decoder.weight``,
``decoder.bias``). The key names are settings (``keys:``); every size is read from the tensors.

**Ids.** The vocabulary file gives the user's ids (line i is id i, in whatever order, no
padding id). lingscope's methods read every corpus through its fixed ids (``<pad>`` 0, ``<unk>``
1, ``<eos>`` 2; :mod:`lingscope.encoding.ids`), so the check job renumbers once: ids 0-2 are
the specials and the user's other tokens follow in the user's order. The embedding's rows and,
for a next-token head, the head's rows are permuted to match. ``<pad>`` embeds to zero (a
``<pad>`` token of the user's keeps its logit); a special the user has none of (``<pad>``, and
``<eos>`` where the network reads none) embeds to zero and its logit carries a bias of
:data:`ABSENT_LOGIT`, whose ``exp`` is exactly 0 in float32 and float64, so every softmax,
log-likelihood and perplexity is the user's own. The renumbered vocabulary is *cased*: a word is looked up as written, as the
user's code would look it up. A classes head's rows follow the corpus's label ids (by the names
of the ``labels:`` file where it is given). Nothing else is changed: the states, the
representation and the readouts are the user's network's own, to float rounding.

**The network.** One network: ``textual`` with the readout ``vocabulary`` (a next-token head,
one-directional) or ``classifier`` with the readout ``classes`` (a class head on the top layer's
final state; both directions' final states for a bidirectional network, forward then backward:
``torch.cat([h_n[-2], h_n[-1]])``). Every layer's states go to the activation store; the gates
are the top layer's, for a one-directional LSTM or GRU. A one-directional network offers
its stacked cell (:class:`lingscope.models.cells.StackedCell`; an RNN too), so the methods'
fast exact paths run on it exactly as on lingscope's own ``lm``; a bidirectional network takes
the generic exact paths.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lingscope.core import catalog
from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import atomic_path, write_parquet
from lingscope.core.schemas import VOCAB
from lingscope.encoding.ids import CASED_KEY, EOS, PAD, PAD_ID, UNK
from lingscope.models.base import CLASSES, Cell, Model, NEXT_TOKEN, Objective, Readout
from lingscope.models.checkpoint import save_model
from lingscope.models.tensors import last
from lingscope.models.cells import GRU_GATES, LSTM_GATES, StackedCell, gru_gates, lstm_gates, previous

KIND = "pretrained"
LAYERS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN, "rnn_relu": partial(nn.RNN, nonlinearity="relu")}
GATE_ROWS = {"lstm": 4, "gru": 3, "rnn": 1, "rnn_relu": 1}  # blocks of hidden_size rows in weight_ih / weight_hh
# The bias of a logit no user token has (<pad>; <eos> where the network reads none): exp() of it
# minus any real logit is exactly 0, so softmax and log-likelihoods are the user's.
ABSENT_LOGIT = -1e4


@dataclass(frozen=True)
class Architecture:
    cell: str
    layers: int
    bidirectional: bool
    head: str  # next_token or classes
    vocab_size: int  # lingscope's ids: the user's tokens plus the specials it lacks
    embedding_dim: int
    hidden_dim: int
    units: int  # the head's outputs (vocab_size for a next-token head)
    reads_eos: bool
    labels: tuple[str, ...] = ()  # a classes head's label names, by class id
    kind: str = KIND


class PretrainedModel(Model):
    """The user's embedding, recurrent layer and head, on lingscope's ids."""

    def __init__(self, arch: Architecture):
        if arch.cell not in LAYERS or arch.head not in catalog.PRETRAINED_NETWORKS:
            raise ValueError(f"unknown cell {arch.cell!r} or head {arch.head!r}")
        super().__init__(asdict(arch))
        self.arch = arch
        E, H, L = arch.embedding_dim, arch.hidden_dim, arch.layers
        self.embedding = nn.Embedding(arch.vocab_size, E, padding_idx=PAD_ID)
        self.rnn = LAYERS[arch.cell](E, H, L, batch_first=True, bidirectional=arch.bidirectional)
        self.head = nn.Linear(self._directions * H, arch.units)
        self.pathway, (self.readout_name,) = catalog.PRETRAINED_NETWORKS[arch.head]

    @property
    def networks(self) -> tuple[str, ...]:
        return (self.pathway,)

    @property
    def reads_eos(self) -> bool:
        return self.arch.reads_eos

    @property
    def _directions(self) -> int:
        return 2 if self.arch.bidirectional else 1

    def state_dim(self, network: str) -> int:
        self.check_network(network)
        return self._directions * self.arch.hidden_dim

    def layers(self, network: str) -> int:
        self.check_network(network)
        return self.arch.layers

    # --- running the layers -------------------------------------------------------------------
    def _layer(self, k: int) -> nn.Module:
        """Layer ``k`` alone: a one-layer torch module sharing the network's own parameters (built
        once; torch's fused kernel, as the whole stack runs)."""
        views = self.__dict__.setdefault("_views", {})
        first = self.rnn.weight_hh_l0
        if k not in views or views[k][0] is not first or views[k][1].weight_hh_l0.device != first.device:
            in_dim = self.arch.embedding_dim if k == 0 else self.state_dim(self.pathway)
            with torch.device("meta"):
                view = LAYERS[self.arch.cell](in_dim, self.arch.hidden_dim, 1, batch_first=True,
                                              bidirectional=self.arch.bidirectional)
            for name in view._flat_weights_names:
                setattr(view, name, getattr(self.rnn, name.replace("_l0", f"_l{k}")))
            views[k] = (first, view)
        return views[k][1]

    def _run(self, module: nn.Module, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``module`` over right-padded ``x``: as is when one-directional (a state depends only on
        what it has read), packed when bidirectional (the backward run starts at each sentence's
        own end). An empty sentence's states are zero."""
        if not self.arch.bidirectional:
            return module(x)[0]
        packed = pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        out = pad_packed_sequence(module(packed)[0], batch_first=True, total_length=x.shape[1])[0]
        return out * (lengths > 0).to(out.dtype).view(-1, 1, 1)

    def states(self, network: str, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        self.check_network(network)
        if emb.shape[1] == 0:  # torch's layers refuse a zero-length run
            return emb.new_zeros(emb.shape[0], 0, self.state_dim(network))
        return self._run(self.rnn, emb, lengths)

    def layer_states(self, network: str, emb: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """Each layer run alone on the one below (the evaluation function: no dropout)."""
        self.check_network(network)
        if emb.shape[1] == 0 or self.arch.layers == 1:
            return [self.states(network, emb, lengths)]
        out, x = [], emb
        for k in range(self.arch.layers):
            x = self._run(self._layer(k), x, lengths)
            out.append(x)
        return out

    def representation(self, network: str, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The top layer's final state: after the last token read; a bidirectional network's
        forward final state, then its backward run's (at the first token). Zero for an empty sentence."""
        states = self.states(network, emb, lengths)
        if states.shape[1] == 0:
            return states.new_zeros(states.shape[0], self.state_dim(network))
        H = self.arch.hidden_dim
        final = last(states, lengths.clamp(min=1)) * (lengths > 0).to(states.dtype).unsqueeze(1)
        if not self.arch.bidirectional:
            return final
        return torch.cat([final[:, :H], states[:, 0, H:]], 1)

    def gate_dims(self, network: str) -> dict[str, int]:
        """The top layer's gates, for a one-directional LSTM or GRU."""
        self.check_network(network)
        if self.arch.bidirectional or self.arch.cell in ("rnn", "rnn_relu"):
            return {}
        return dict.fromkeys(LSTM_GATES if self.arch.cell == "lstm" else GRU_GATES, self.arch.hidden_dim)

    def gates(self, network: str, emb: torch.Tensor, lengths: torch.Tensor,
              states: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if not self.gate_dims(network):
            return {}
        below = self.layer_states(network, emb, lengths)
        top = self.arch.layers - 1
        x = below[-2] if top else emb
        states = below[-1] if states is None else states
        gates = lstm_gates if self.arch.cell == "lstm" else gru_gates
        return gates(self.rnn, x, previous(states), k=top)

    def readouts(self, network: str) -> dict[str, Readout]:
        self.check_network(network)
        kind = NEXT_TOKEN if self.arch.head == "next_token" else CLASSES
        return {self.readout_name: Readout(self.readout_name, kind, self.arch.units)}

    def readout(self, network: str, name: str, h: torch.Tensor) -> torch.Tensor:
        if name not in self.readouts(network):
            raise ValueError(f"network {network!r} has no readout {name!r}")
        return self.head(h)

    def cell(self, network: str) -> Cell | None:
        self.check_network(network)
        return None if self.arch.bidirectional else StackedCell(self.rnn)

    def objectives(self) -> tuple[Objective, ...]:
        return (Objective(self.pathway, self.pathway, self.readout_name, 1.0),)


def build(architecture: dict) -> PretrainedModel:
    """The model described by a saved architecture (the contract's loader calls this)."""
    arch = dict(architecture)
    arch["labels"] = tuple(arch.get("labels", ()))
    return PretrainedModel(Architecture(**arch))


def create(settings, vocab_size: int, readout_units: dict[str, int]):
    raise InputError(None, f"models (kind {KIND})", "a pretrained network is checked, not trained: its check job "
                                                     "(python -m lingscope.models.pretrained) reads it")


# --- reading the user's files ----------------------------------------------------------------


def read_lines(path: Path, what: str) -> list[str]:
    """The lines of a UTF-8 file (a BOM dropped, CRLF accepted); a blank line, a repeated entry or a
    byte that is not UTF-8 is an :class:`InputError` naming the line."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(path, None, f"cannot read the {what} file: {err.strerror or err}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise InputError(path, f"line {line}", f"not UTF-8 (byte {data[err.start]:#04x}); save the {what} as "
                                               "UTF-8") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    seen: dict[str, int] = {}
    for i, line in enumerate(lines):
        if not line.strip():
            raise InputError(path, f"line {i + 1}", f"an empty entry; line i of the {what} names entry i - 1")
        if line in seen:
            raise InputError(path, f"line {i + 1}", f"{line!r} repeats line {seen[line] + 1}")
        seen[line] = i
    if not lines:
        raise InputError(path, None, f"an empty {what} file")
    return lines


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``state_dict`` file, read (``weights_only``: no code is unpickled).

    Read into memory rather than memory-mapped: a mapped file's pages count in the job's memory
    once touched and stay while the mapping lives, so the renumbered copies of the embedding and
    the head came on top of the whole file (2.3x the checkpoint's size at 100M parameters in
    ``benchmarks/pretrained_check.py``); read, each original is freed as its copy is made (1.6x)."""
    if not path.is_file():
        raise InputError(path, None, "no such checkpoint file")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises pickle's and its own errors for a file it refuses
        _refuse(path, err)
    if not isinstance(blob, Mapping):
        raise InputError(path, None, f"holds a {type(blob).__name__}, not a state_dict; save one with "
                                     "torch.save(model.state_dict(), PATH)")
    for key, value in blob.items():
        if not isinstance(value, torch.Tensor):
            raise InputError(path, f"key {key!r}", f"holds a {type(value).__name__}, not a tensor: the checkpoint is "
                                                   "not a bare state_dict; save torch.save(model.state_dict(), PATH)")
    return dict(blob)


def _refuse(path: Path, err: Exception):
    text = str(err)
    if "weights_only" in text or "Unpickl" in type(err).__name__ or "GLOBAL" in text:
        raise InputError(path, None, "holds a pickled Python object (a whole model saved with torch.save(model, "
                                     "PATH)?), which lingscope does not unpickle: it could run any code. Save the "
                                     "weights instead: torch.save(model.state_dict(), PATH)") from None
    raise InputError(path, None, f"not a torch checkpoint ({type(err).__name__}: {text.splitlines()[0][:200]})") \
        from None


def expected_shapes(settings, vocab_rows: int, embedding_dim: int, hidden_dim: int,
                    units: int) -> dict[str, tuple[int, ...]]:
    """Every key the architecture needs, with its shape (torch's parameter names)."""
    G, H = GATE_ROWS[settings.cell] * hidden_dim, hidden_dim
    dirs = ("", "_reverse") if settings.bidirectional else ("",)
    shapes = {settings.key_embedding: (vocab_rows, embedding_dim)}
    for k in range(settings.layers):
        in_dim = embedding_dim if k == 0 else len(dirs) * H
        for d in dirs:
            prefix = f"{settings.key_rnn}."
            shapes |= {f"{prefix}weight_ih_l{k}{d}": (G, in_dim), f"{prefix}weight_hh_l{k}{d}": (G, H),
                       f"{prefix}bias_ih_l{k}{d}": (G,), f"{prefix}bias_hh_l{k}{d}": (G,)}
    shapes |= {f"{settings.key_head}.weight": (units, len(dirs) * H), f"{settings.key_head}.bias": (units,)}
    return shapes


def check_keys(path: Path, state: dict[str, torch.Tensor], settings, vocab_rows: int) -> tuple[int, int, int]:
    """``(embedding_dim, hidden_dim, units)`` read from the tensors, after checking that the
    checkpoint has every key the architecture needs, no other, each of the shape it needs; the
    error lists every problem at once."""
    def dim(key, axis, default=0):
        value = state.get(key)
        return int(value.shape[axis]) if value is not None and value.dim() > axis else default

    E = dim(settings.key_embedding, 1)
    H = dim(f"{settings.key_rnn}.weight_hh_l0", 1)
    units = dim(f"{settings.key_head}.weight", 0)
    expected = expected_shapes(settings, vocab_rows, E, H, units)
    if settings.head == "next_token":
        expected[f"{settings.key_head}.weight"] = (vocab_rows, expected[f"{settings.key_head}.weight"][1])
        expected[f"{settings.key_head}.bias"] = (vocab_rows,)
    problems = []
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing:
        problems.append(f"missing keys {missing}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    for key, shape in expected.items():
        if key in state and tuple(state[key].shape) != shape:
            problems.append(f"{key} has shape {list(state[key].shape)}, the architecture needs {list(shape)}")
    if problems:
        arch = (f"cell {settings.cell}, layers {settings.layers}, bidirectional {settings.bidirectional}, "
                f"head {settings.head}, keys embedding={settings.key_embedding!r} rnn={settings.key_rnn!r} "
                f"head={settings.key_head!r}")
        raise InputError(path, None, f"does not fit the architecture ({arch}): " + "; ".join(problems))
    return E, H, units


def lingscope_ids(tokens: list[str], vocab_path: Path, unk: str, eos: str) -> tuple[list[str], list[int]]:
    """lingscope's vocabulary (``<pad>``, ``<unk>``, ``<eos>``, then the user's other tokens in the
    user's order) and, for each lingscope id, the user's id (-1: the user has no such token)."""
    index = {token: i for i, token in enumerate(tokens)}
    for name, token in (("unk", unk), ("eos", eos)):
        if token and token not in index:
            raise InputError(vocab_path, f"specials.{name}", f"{token!r} is not in the vocabulary (its "
                                                             f"{len(tokens)} tokens include {tokens[:5]})")
    clash = [t for t in (UNK, EOS) if t in index and t not in (unk, eos)]
    if clash:
        raise InputError(vocab_path, f"token {clash[0]!r}", "lingscope reserves this name for its own special; it "
                                                            "must be the vocabulary's specials.unk or specials.eos")
    # A padding token of the user's becomes lingscope's (its logit stays in the softmax; its
    # embedding is zero, as lingscope pads with it and no sentence reads it).
    words = [t for t in tokens if t not in (unk, eos, PAD)]
    names = [PAD, UNK, EOS, *words]
    user = [index.get(PAD, -1), index[unk], index[eos] if eos else -1, *(index[t] for t in words)]
    return names, user


def permuted(matrix: torch.Tensor, user: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """Rows of ``matrix`` in lingscope's id order (``user[i]`` is the user's row of id i; -1: ``fill``)."""
    out = matrix.index_select(0, user.clamp(min=0))  # one copy (a masked assignment would make two)
    out[user < 0] = fill
    return out


def class_order(labels_path: Path | None, units: int, corpus_labels: Path | None) -> tuple[list[int], tuple[str, ...]]:
    """For each class id the corpus uses, the user's head row, and the label names: with a
    ``labels:`` file the corpus's labels are matched by name (each must be one of the file's);
    without one, class i is the corpus's label id i."""
    names = read_lines(labels_path, "labels") if labels_path else []
    if labels_path and len(names) != units:
        raise InputError(labels_path, None, f"{len(names)} labels, but the head has {units} classes")
    corpus = None
    if corpus_labels is not None and corpus_labels.exists():
        table = pq.read_table(corpus_labels, columns=["label_id", "label"]).sort_by("label_id")
        corpus = dict(zip(table.column("label_id").to_pylist(), table.column("label").to_pylist()))
    if not names:
        if corpus is not None and max(corpus) >= units:
            raise InputError(corpus_labels, f"label id {max(corpus)}", f"the head has only {units} classes; give a "
                                                                       "labels: file to match them by name")
        return list(range(units)), tuple(corpus.get(i, str(i)) for i in range(units)) if corpus else ()
    if corpus is None:
        return list(range(units)), tuple(names)
    row = {name: i for i, name in enumerate(names)}
    unknown = [label for label in corpus.values() if str(label) not in row]
    if unknown:
        raise InputError(labels_path, f"label {unknown[0]!r}", f"the corpus's label is not among the model's "
                                                               f"{names}")
    order = [row[str(corpus[i])] if i in corpus else -1 for i in range(max(corpus) + 1)]
    order += [i for i in range(units) if i not in order]
    if -1 in order:
        raise InputError(corpus_labels, None, "label ids with gaps cannot be matched to a head by name")
    return order, tuple(names[i] for i in order)


def convert(settings, checkpoint: Path, vocabulary: Path, labels: Path | None = None,
            corpus_labels: Path | None = None) -> tuple[PretrainedModel, list[str], dict]:
    """The user's network as a :class:`PretrainedModel` on lingscope's ids, its vocabulary in
    lingscope's id order, and a report of what was read."""
    tokens = read_lines(vocabulary, "vocabulary")
    state = read_state_dict(checkpoint)
    rows = state[settings.key_embedding].shape[0] if state.get(settings.key_embedding) is not None \
        and state[settings.key_embedding].dim() == 2 else len(tokens)
    if rows != len(tokens):
        raise InputError(vocabulary, None, f"{len(tokens)} tokens, but the embedding {settings.key_embedding!r} of "
                                           f"{checkpoint} has {rows} rows: line i of the vocabulary must be row i")
    E, H, units = check_keys(checkpoint, state, settings, len(tokens))
    names, user = lingscope_ids(tokens, vocabulary, settings.unk, settings.eos)
    user = torch.tensor(user)
    next_token = settings.head == "next_token"
    order, label_names = (None, ()) if next_token else class_order(labels, units, corpus_labels)
    arch = Architecture(settings.cell, settings.layers, settings.bidirectional, settings.head, len(names), E, H,
                        len(names) if next_token else units, bool(settings.eos), label_names)
    parameters = int(sum(v.numel() for v in state.values()))
    with torch.device("meta"):
        model = PretrainedModel(arch)
    prefix = f"{settings.key_rnn}."
    # The recurrent weights are taken as they are; the embedding and the head are renumbered, each
    # original dropped as soon as its copy exists (one copy at a time: memory stays near the file's size).
    ours = {"rnn." + k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    ours["embedding.weight"] = permuted(state.pop(settings.key_embedding), user)
    ours["embedding.weight"][PAD_ID] = 0.0
    for part, fill in (("weight", 0.0), ("bias", ABSENT_LOGIT)):
        original = state.pop(f"{settings.key_head}.{part}")
        ours[f"head.{part}"] = permuted(original, user, fill) if next_token else original[torch.tensor(order)]
        del original
    model.load_state_dict(ours, assign=True)
    report = {"checkpoint": str(checkpoint), "vocabulary": str(vocabulary), "parameters": parameters,
              "tokens": len(tokens), "embedding_dim": E, "hidden_dim": H, "units": arch.units,
              "labels": list(label_names), "architecture": asdict(arch)}
    return model.eval(), names, report


def write_vocab(names: list[str], path: Path) -> None:
    """The renumbered vocabulary as a VOCAB table, marked cased (looked up as written)."""
    table = pa.table({"token_id": pa.array(range(len(names)), pa.int32()), "token": names,
                      "count": pa.array([0] * len(names), pa.int64())})
    schema = VOCAB.with_metadata({**(VOCAB.metadata or {}), CASED_KEY: b"true"})
    write_parquet(table, path, schema, "vocab")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Check a network trained outside lingscope and write it as a lingscope "
                                            "model: every missing, unexpected or misshapen key is named.")
    p.add_argument("--name", required=True, help="the models.<name> entry")
    p.add_argument("--corpus-labels", type=Path, help="the corpus's LABELS table (a classes head's label ids)")
    p.add_argument("--out-model", type=Path, required=True)
    p.add_argument("--out-vocab", type=Path, required=True, help="the network's vocabulary, as a VOCAB table")
    p.add_argument("--out-report", type=Path, required=True, help="JSON: what was read, sizes and timings")
    catalog.PretrainedSettings.add_arguments(p, "models.<name> (kind: pretrained)")
    args = p.parse_args(argv)
    settings = catalog.PretrainedSettings.from_args(args)
    start = time.perf_counter()
    model, names, report = convert(settings, Path(settings.checkpoint), Path(settings.vocabulary),
                                   Path(settings.labels) if settings.labels else None, args.corpus_labels)
    checked = time.perf_counter() - start
    save_model(args.out_model, model, {"name": args.name, "pretrained": report})
    write_vocab(names, args.out_vocab)
    report |= {"name": args.name, "check_seconds": round(checked, 3),
               "seconds": round(time.perf_counter() - start, 3)}
    with atomic_path(args.out_report) as tmp:
        Path(tmp).write_text(json.dumps(report, indent=2) + "\n")
    print(f"{args.name}: {report['parameters']:,} parameters, {report['tokens']:,} tokens, checked in "
          f"{checked:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
