"""The LSTM sequence autoencoder of Li et al. (2016, sec. 3.2; docs/li2016.md#autoencoder) behind the model contract.

An encoder-decoder after Sutskever et al. (2014), trained to reproduce its input:

- the **encoder**, a stack of ``layers`` LSTMs, reads the sentence's words right to left and
  then ``<eos>`` (``reverse_source``; the source is reversed, as Sutskever et al. found best);
- the **decoder**, a second stack of the same shape, starts from the encoder's final ``(h, c)``
  of every layer and reads ``<eos>`` (:data:`lingscope.models.readouts.START_ID`) and then the
  sentence's tokens; its state at step t scores token t (the words, then ``<eos>``) through a
  linear map to the vocabulary (the readout ``reconstruction``, of kind ``sequence``);
- one word embedding feeds both (source and target are the same language), so a saliency
  gradient reaches a source token and an already decoded token through the same table.

The contract's one network is the encoder (``encoder``), so every method that reads states sees
it like any other network: its per-token state is the top layer's ``h`` at the token's own
position (with ``reverse_source``, the state after reading the sentence from its end to that
token: the state of a backward reader, so the network has no left-to-right cell and the methods
take their generic exact paths); its representation is what the decoder starts from, every
layer's final ``h`` then every layer's final ``c`` (``2 x layers x hidden``).
Its gates (:meth:`Autoencoder.gates`, for the activation store) are the top layer's ``i, f, g,
o`` and cell state ``c``, the layer whose ``h`` the states are, at the same token positions.

Weights are drawn uniformly from ``[-init_scale, init_scale]`` (0.08, Sutskever et al.), the
``<pad>`` row of the embedding then set to zero. Sentences of different lengths are packed
(:func:`torch.nn.utils.rnn.pack_padded_sequence`), so padding never enters a final state.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lingscope.core.settings import TrainingSettings
from lingscope.encoding.ids import PAD_ID
from lingscope.models.base import Model, Objective, Readout, SEQUENCE
from lingscope.models.tensors import reverse_within
from lingscope.models.cells import LSTM_GATES, lstm_gates, lstm_layer_states, previous

NETWORK = "encoder"
READOUT = "reconstruction"


@dataclass(frozen=True)
class Architecture:
    kind: str
    vocab_size: int
    embedding_dim: int
    hidden_dim: int
    layers: int = 1
    dropout: float = 0.0
    reverse_source: bool = True


class Autoencoder(Model):
    def __init__(self, arch: Architecture, init_scale: float = 0.0):
        if arch.kind != "autoencoder":
            raise ValueError(f"unknown autoencoder kind {arch.kind!r}")
        super().__init__(asdict(arch))
        self.arch = arch
        E, H, L = arch.embedding_dim, arch.hidden_dim, arch.layers
        dropout = arch.dropout if L > 1 else 0.0
        self.embedding = nn.Embedding(arch.vocab_size, E, padding_idx=PAD_ID)
        self.encoder = nn.LSTM(E, H, L, batch_first=True, dropout=dropout)
        self.decoder = nn.LSTM(E, H, L, batch_first=True, dropout=dropout)
        self.output = nn.Linear(H, arch.vocab_size)
        if init_scale > 0:
            with torch.no_grad():
                for p in self.parameters():
                    p.uniform_(-init_scale, init_scale)
                self.embedding.weight[PAD_ID] = 0.0

    # --- the encoder: the contract's network ---------------------------------------------------
    def state_dim(self, network: str) -> int:
        self.check_network(network)
        return self.arch.hidden_dim

    def representation_dim(self, network: str) -> int:
        self.check_network(network)
        return 2 * self.arch.layers * self.arch.hidden_dim

    def needs_end(self, network: str) -> bool:
        """True: the encoder reads a sentence's words (reversed, with ``reverse_source``) and then
        ``<eos>``, the last position, which :meth:`_source` keeps in place; so a word sequence is a
        sentence to it only with its end symbol after it (without one, its last word would be read
        in the ``<eos>`` step, after the others reversed)."""
        self.check_network(network)
        return True

    def _source(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The encoder's reading order of right-padded ``x``: the words reversed, ``<eos>`` (the
        last position) in place; an involution, so it also maps states back to their tokens."""
        return reverse_within(x, lengths - 1) if self.arch.reverse_source else x

    def _encode(self, emb: torch.Tensor, lengths: torch.Tensor):
        packed = pack_padded_sequence(self._source(emb, lengths), lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        out, (h, c) = self.encoder(packed)
        return out, h, c

    def states(self, network: str, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        self.check_network(network)
        out, _, _ = self._encode(emb, lengths)
        out = pad_packed_sequence(out, batch_first=True, total_length=emb.shape[1])[0]
        return self._source(out, lengths)

    def layers(self, network: str) -> int:
        self.check_network(network)
        return self.arch.layers

    def layer_states(self, network: str, emb: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
        """Every encoder layer's ``h`` at each token's own position, as :meth:`states` maps the top
        layer's: the layers below the top stepped in the encoder's reading order with its own
        weights (no dropout between them; right padding stays behind every sentence, so it never
        reaches a real token's state), then :meth:`states` itself."""
        self.check_network(network)
        out, x = [], self._source(emb, lengths)
        for k in range(self.arch.layers - 1):
            x = lstm_layer_states(self.encoder, x, k)
            out.append(self._source(x, lengths))
        out.append(self.states(network, emb, lengths))
        return out

    def representation(self, network: str, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        self.check_network(network)
        _, h, c = self._encode(emb, lengths)
        return torch.cat([h.transpose(0, 1).flatten(1), c.transpose(0, 1).flatten(1)], 1)

    def gate_dims(self, network: str) -> dict[str, int]:
        """The top layer's, whose ``h`` the states are."""
        self.check_network(network)
        return dict.fromkeys(LSTM_GATES, self.arch.hidden_dim)

    def gates(self, network: str, emb: torch.Tensor, lengths: torch.Tensor,
              states: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The top layer's gates in the encoder's reading order (its input: the layers below,
        stepped; its states before every step: the top layer's), mapped back to the token
        positions as :meth:`states` are."""
        self.check_network(network)
        if states is None:
            states = self.states(network, emb, lengths)
        x = self._source(emb, lengths)
        top = self.arch.layers - 1
        for k in range(top):
            x = lstm_layer_states(self.encoder, x, k)
        gates = lstm_gates(self.encoder, x, previous(self._source(states, lengths)), top)
        return {name: self._source(value, lengths) for name, value in gates.items()}

    # --- the decoder: the sequence readout -------------------------------------------------------
    def readouts(self, network: str) -> dict[str, Readout]:
        self.check_network(network)
        return {READOUT: Readout(READOUT, SEQUENCE, self.arch.vocab_size)}

    def _check_readout(self, network: str, name: str) -> None:
        if name not in self.readouts(network):
            raise ValueError(f"network {network!r} has no readout {name!r}")

    def readout(self, network: str, name: str, h: torch.Tensor) -> torch.Tensor:
        """The vocabulary logits of decoder states ``h`` (..., hidden_dim)."""
        self._check_readout(network, name)
        return self.output(h)

    def decode_start(self, network: str, readout: str, representation: torch.Tensor):
        self._check_readout(network, readout)
        L, H = self.arch.layers, self.arch.hidden_dim
        h, c = representation.view(-1, 2, L, H).permute(1, 2, 0, 3)
        return h.contiguous(), c.contiguous()

    def decode(self, network: str, readout: str, carry, emb_in: torch.Tensor):
        self._check_readout(network, readout)
        return self.decoder(emb_in, carry)

    def objectives(self) -> tuple[Objective, ...]:
        return (Objective(READOUT, NETWORK, READOUT, 1.0),)


def build(architecture: dict) -> Autoencoder:
    """The model described by a saved architecture (the contract's loader calls this)."""
    return Autoencoder(Architecture(**architecture))


def create(settings: TrainingSettings, vocab_size: int, readout_units: dict[str, int]) -> Autoencoder:
    """A fresh model for a ``models.<name>`` entry."""
    return Autoencoder(Architecture(settings.kind, vocab_size, settings.embedding_dim, settings.hidden_dim,
                                    settings.layers, settings.dropout, settings.reverse_source),
                       settings.init_scale)
