"""The model contract: the only way a method, the training loop or an evaluation touches a model.

Every family (:mod:`lingscope.models.imaginet`, and those to come) subclasses :class:`Model`.
A model has one or more **networks** (one model x pathway: IMAGINET has ``textual`` and
``visual``), all reading one shared word embedding. For each network it gives

- per-token **states** from embeddings (:meth:`Model.states`): the methods can feed free or soft
  embeddings instead of ids (gradients, input optimisation);
- the sentence **representation** (:meth:`Model.representation`): ``h_end`` for IMAGINET's
  networks, what omission scores and the sentence-level readouts use;
- named **readouts** (:meth:`Model.readouts`, :meth:`Model.readout`): the output units a method
  or an objective may target, computed from a state or a representation;
- for a ``sequence`` readout (an autoencoder's reconstruction), a **decoder**
  (:meth:`Model.decode_start`, :meth:`Model.decode`): the sentence is decoded again from its
  representation, token by token, each step reading the token before it (teacher forcing, or the
  model's own previous output in greedy decoding, :func:`greedy_decode`);
- optionally its **gate activations** (:meth:`Model.gate_dims`, :meth:`Model.gates`): named
  per-token tensors aligned with the states (a GRU's r, z, n; an LSTM's i, f, g, o and cell
  state c), for the activation store; a network without gates has none (the default);
- optionally a strictly left-to-right **cell** (:meth:`Model.cell`): one step from a state and an
  input. Only a network with a cell may use the fast exact paths of the methods (prefix reuse in
  omission, segment runs in the dumps); a network without one gets the generic exact path, so a
  fast path can never run where it would be wrong (a bidirectional network, say);
- optionally, for a network read in both directions, its two one-directional cells and how their
  final states make the representation (:meth:`Model.bidirectional`, a :class:`Bidirectional`):
  omission's two-sided fast exact path (the forward cell resumes from the prefix state, the
  backward one from the suffix state, both taken from the full runs).

Sentences are laid out as :mod:`lingscope.encoding.csr` describes; a model with
``reads_eos = True`` reads ``<eos>`` after the last word (the ids come from
:mod:`lingscope.encoding.ids`, never from a number written here).

The catalog (:mod:`lingscope.core.catalog`) lists each kind's networks and readouts without
torch; ``tests/test_contract.py`` checks that every model agrees with its catalog entry.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from lingscope.core import catalog
from lingscope.models.tensors import last

# What a readout's units are, which says how objectives and evaluations use them.
NEXT_TOKEN = "next_token"  # logits over the vocabulary; the state after t tokens predicts token t+1
REGRESSION = "regression"  # a vector predicted from the representation, regressed on a target of the same name
CLASSES = "classes"  # unnormalised scores of labels from the representation; the target is a label per example
SEQUENCE = "sequence"  # logits over the vocabulary of every token of the sentence, decoded from its representation


@dataclass(frozen=True)
class Readout:
    """Named output units of a network."""

    name: str  # e.g. "vocabulary", "image"; the target of a regression readout has the same name
    kind: str  # NEXT_TOKEN, REGRESSION or CLASSES
    units: int


@dataclass(frozen=True)
class Objective:
    """One training objective: a loss on one readout of one network, with its weight."""

    name: str  # names the loss columns of the training metrics (train_loss_<name>)
    network: str
    readout: str
    weight: float


class Cell(ABC):
    """One strictly left-to-right step: ``state_t = step(project(x_t), state_{t-1})``, from a zero state.

    ``project`` is the part of a step that does not depend on the state; it is computed once per
    token and shared by every run that reads that token. ``step`` may overwrite its ``x_in``
    argument (callers pass a fresh gather) and may write the new state into ``out``.
    """

    state_size: int

    @abstractmethod
    def project(self, x: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def step(self, x_in: torch.Tensor, state: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor: ...

    def output(self, state: torch.Tensor) -> torch.Tensor:
        """The network's state as :meth:`Model.states` gives it (the whole cell state by default)."""
        return state


@dataclass(frozen=True)
class Bidirectional:
    """A network read in both directions, as two strictly one-directional :class:`Cell` runs.

    ``forward`` reads a sentence's tokens ``1 .. L`` and ``backward`` reads ``L .. 1`` (its step t
    reads token ``L + 1 - t``), each from a zero state, over every token the model reads (an end
    symbol included). :meth:`representation` makes the network's sentence representation, as
    :meth:`Model.representation` gives it, from the two runs' final states: by default the two
    cells' outputs concatenated (a BiLSTM's ``[h_fwd ; h_bwd]``); a family whose representation
    is assembled otherwise passes ``assemble``. Zero final states (an empty sentence) must give
    the model's representation of an empty sentence. Per-token states are not described here:
    only methods that need the representation use the pair.
    """

    forward: Cell
    backward: Cell
    assemble: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None

    def representation(self, forward_final: torch.Tensor, backward_final: torch.Tensor) -> torch.Tensor:
        if self.assemble is not None:
            return self.assemble(forward_final, backward_final)
        return torch.cat([self.forward.output(forward_final), self.backward.output(backward_final)], -1)


class Network:
    """One network of a model, bound (:meth:`Model.network`): the contract's per-network methods
    without the network's name, ``model.network("textual").states(emb, lengths)``. Every network
    offers per-token states, the representation and its readouts; it may offer a cell, the
    bidirectional pair, gates and a decoder (None, or empty, where it has none)."""

    def __init__(self, model: Model, name: str):
        model.check_network(name)
        self.model, self.name = model, name

    def __repr__(self) -> str:
        return f"Network({self.model.kind!r}, {self.name!r})"

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.embed(ids)

    def states(self, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.model.states(self.name, emb, lengths)

    def layer_states(self, emb: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        return self.model.layer_states(self.name, emb, lengths)

    def representation(self, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.model.representation(self.name, emb, lengths)

    def readouts(self) -> dict[str, Readout]:
        return self.model.readouts(self.name)

    def readout(self, name: str, h: torch.Tensor) -> torch.Tensor:
        return self.model.readout(self.name, name, h)

    @property
    def state_dim(self) -> int:
        return self.model.state_dim(self.name)

    @property
    def representation_dim(self) -> int:
        return self.model.representation_dim(self.name)

    @property
    def layers(self) -> int:
        return self.model.layers(self.name)

    @property
    def needs_end(self) -> bool:
        return self.model.needs_end(self.name)

    def cell(self) -> Cell | None:
        return self.model.cell(self.name)

    def bidirectional(self) -> Bidirectional | None:
        return self.model.bidirectional(self.name)

    def gate_dims(self) -> dict[str, int]:
        return self.model.gate_dims(self.name)

    def gates(self, emb: torch.Tensor, lengths: torch.Tensor, states: torch.Tensor | None = None):
        return self.model.gates(self.name, emb, lengths, states)

    def decode_start(self, readout: str, representation: torch.Tensor):
        return self.model.decode_start(self.name, readout, representation)

    def decode(self, readout: str, carry, emb_in: torch.Tensor):
        return self.model.decode(self.name, readout, carry, emb_in)


class Model(nn.Module, ABC):
    """Base of every family; see the module docstring for the contract."""

    def __init__(self, architecture: dict):
        super().__init__()
        self.architecture = dict(architecture)

    @property
    def kind(self) -> str:
        return self.architecture["kind"]

    @property
    def reads_eos(self) -> bool:
        """Whether sentences are read with ``<eos>`` after the last word: the catalog's, or the
        family module's ``READS_EOS`` (a family of the user's own; True when it has none)."""
        declared = getattr(sys.modules.get(type(self).__module__), "READS_EOS", None)
        return catalog.kind(self.kind).reads_eos if declared is None else bool(declared)

    @property
    def networks(self) -> tuple[str, ...]:
        """The catalog's networks of the kind, or those the family module declares in ``NETWORKS``."""
        declared = getattr(sys.modules.get(type(self).__module__), "NETWORKS", None)
        if isinstance(declared, dict):
            return tuple(declared)
        return tuple(n.name for n in catalog.kind(self.kind).networks)

    # --- making a model -----------------------------------------------------------------
    @classmethod
    def build(cls, architecture: dict) -> Model:
        """The model a saved architecture (:attr:`architecture`) describes; the loader calls it
        before loading the saved weights. By default ``cls(architecture)``."""
        return cls(architecture)

    @classmethod
    def create(cls, settings, vocab_size: int, readout_units: dict[str, int]) -> Model:
        """A fresh model for a ``models.<name>`` entry (its settings), a vocabulary of ``vocab_size``
        ids (``<pad>`` 0, ``<unk>`` 1, ``<eos>`` 2) and the units of the readouts whose size the
        data decide (``classes``: the number of labels; ``image``: the feature size)."""
        raise NotImplementedError(f"{cls.__name__} does not say how to create a fresh model")

    @classmethod
    def load(cls, path, device: str | torch.device = "cpu") -> tuple[Model, dict]:
        """A saved model, in eval mode, and the extras saved with it (:func:`lingscope.models.checkpoint.load_model`)."""
        from lingscope.models.checkpoint import load_model

        return load_model(path, device)

    # --- embeddings -----------------------------------------------------------------------
    # A family sets ``self.embedding`` (an nn.Embedding whose <pad> row is zero) in __init__.
    embedding: nn.Embedding

    @property
    def embedding_matrix(self) -> torch.Tensor:
        """``(vocabulary, dim)``: row i embeds token id i."""
        return self.embedding.weight

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(ids)

    # --- networks -------------------------------------------------------------------------
    def network(self, name: str) -> Network:
        """Network ``name``, bound: its methods without the name (:class:`Network`)."""
        return Network(self, name)

    def check_network(self, network: str) -> None:
        if network not in self.networks:
            raise ValueError(f"model {self.kind!r} has no network {network!r}; it has {self.networks}")

    @abstractmethod
    def state_dim(self, network: str) -> int: ...

    @abstractmethod
    def states(self, network: str, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(batch, time, state_dim)``: the state after every token of right-padded ``emb``
        ``(batch, time, embedding_dim)``; rows past a sentence's length are unspecified."""

    def layers(self, network: str) -> int:
        """How many stacked layers the network's per-token states come from (1 by default);
        :meth:`states` is the top layer's."""
        self.check_network(network)
        return 1

    def layer_states(self, network: str, emb: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's per-token states, bottom first, each ``(batch, time, state_dim)`` and
        aligned with :meth:`states` (the last is :meth:`states` itself, to float rounding). The
        activation store keeps them all (``layer=k``); the default is the one layer."""
        return [self.states(network, emb, lengths)]

    def needs_end(self, network: str) -> bool:
        """Whether the network reads a sequence of words as a sentence only with the end symbol after
        it (an encoder that reads the words reversed, then <eos>); input optimisation then appends
        <eos> to its n-gram. False by default."""
        self.check_network(network)
        return False

    def representation_dim(self, network: str) -> int:
        return self.state_dim(network)

    def representation(self, network: str, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(batch, representation_dim)``: each sentence's representation; by default the state
        after its last token (``h_end`` when that token is ``<eos>``)."""
        return last(self.states(network, emb, lengths), lengths)

    @abstractmethod
    def readouts(self, network: str) -> dict[str, Readout]: ...

    @abstractmethod
    def readout(self, network: str, name: str, h: torch.Tensor) -> torch.Tensor:
        """The units of readout ``name`` from ``h`` (..., dim): a state for a NEXT_TOKEN
        readout, a representation for a REGRESSION or CLASSES one."""

    def gate_dims(self, network: str) -> dict[str, int]:
        """``{name: size}`` of the network's gate activations, in the order :meth:`gates` gives
        them; the names are columns of the activation store (``GATE_COLUMNS`` in
        :mod:`lingscope.core.schemas`). Empty (the default) for a network without gates."""
        self.check_network(network)
        return {}

    def gates(self, network: str, emb: torch.Tensor, lengths: torch.Tensor,
              states: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``{name: (batch, time, size)}`` per entry of :meth:`gate_dims`: each gate at the step
        that read token t, aligned with :meth:`states` (rows past a sentence's length are
        unspecified); the evaluation function (no dropout). ``states``, when the caller has them,
        are :meth:`states` of the same input, so a family need not run the network again."""
        self.check_network(network)
        return {}

    def cell(self, network: str) -> Cell | None:
        """The network's strictly left-to-right cell, or None (the default) where it has none."""
        self.check_network(network)
        return None

    def bidirectional(self, network: str) -> Bidirectional | None:
        """The network's forward and backward cells and how their final states make its
        representation, or None (the default). Offered only by a network that is exactly the two
        runs (a network with a left-to-right :meth:`cell` needs none)."""
        self.check_network(network)
        return None

    # --- decoders (sequence readouts) -----------------------------------------------------
    def decode_start(self, network: str, readout: str, representation: torch.Tensor):
        """The decoder's start state (any object :meth:`decode` takes) from ``(batch,
        representation_dim)`` representations; only a network with a sequence readout has one."""
        raise ValueError(f"network {network!r} has no sequence readout {readout!r} to decode")

    def decode(self, network: str, readout: str, carry, emb_in: torch.Tensor) -> tuple[torch.Tensor, object]:
        """``(states, carry)``: the decoder run over the input embeddings ``emb_in`` (batch, steps,
        embedding_dim) from ``carry``; ``states`` (batch, steps, dim) go to :meth:`readout`, the
        returned carry continues the run (greedy decoding feeds one step at a time)."""
        raise ValueError(f"network {network!r} has no sequence readout {readout!r} to decode")

    # --- training -------------------------------------------------------------------------
    @abstractmethod
    def objectives(self) -> tuple[Objective, ...]:
        """The losses the model is trained on, in the order they are computed."""

    sample_objectives: bool = False  # True: each batch trains one objective, drawn by weight

    def combine(self, losses: dict):
        """The total loss from per-objective losses (tensors or floats): the weighted sum, or the
        single loss when only one is present (a sampled batch, or a one-objective model)."""
        if len(losses) == 1:
            return next(iter(losses.values()))
        weights = {o.name: o.weight for o in self.objectives()}
        total = None
        for name, value in losses.items():
            term = weights[name] * value
            total = term if total is None else total + term
        return total
