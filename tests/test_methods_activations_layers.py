"""The activation store keeps every layer (lingscope.methods.activations): a two-layer network is
dumped through the real CLI into ``layer=0`` and ``layer=1`` partitions, each checked against a
plain ``torch.nn.LSTM`` with the same weights, and read back by the unit analyses' readers."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch import nn

from lingscope.analysis.across_papers import matrix
from lingscope.analysis.kadar2017 import top_contexts
from lingscope.analysis.kadar2017.units import (
    activation_files,
    iter_states,
    load_states,
    resolve_layer,
    state_dim,
    store_layers,
)
from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet
from lingscope.core.schemas import SENTENCES, VOCAB
from lingscope.encoding.ids import EOS_ID, SPECIALS
from lingscope.methods import activations
from lingscope.models.base import Cell, Model, Readout

WORDS = ["a", "dog", "runs", "two", "cats", "sit", "red"]
E, H = 5, 4  # embedding and hidden sizes of both layers


class StackCell(Cell):
    """The two LSTM layers stepped together: the state is ``[h0 ; c0 ; h1 ; c1]``, its output h1."""

    def __init__(self, bottom: nn.LSTM, top: nn.LSTM):
        self.bottom, self.top = bottom, top
        self.state_size = 4 * H

    def project(self, x):
        return x @ self.bottom.weight_ih_l0.T + self.bottom.bias_ih_l0 + self.bottom.bias_hh_l0

    @staticmethod
    def _lstm(gates, c):
        i, f, g, o = gates.chunk(4, -1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    def step(self, x_in, state, out=None):
        h0, c0, h1, c1 = state.split(H, -1)
        h0, c0 = self._lstm(x_in + h0 @ self.bottom.weight_hh_l0.T, c0)
        h1, c1 = self._lstm(h0 @ self.top.weight_ih_l0.T + self.top.bias_ih_l0 + self.top.bias_hh_l0
                            + h1 @ self.top.weight_hh_l0.T, c1)
        new = torch.cat([h0, c0, h1, c1], -1)
        if out is not None:
            out.copy_(new)
            return out
        return new

    def output(self, state):
        return state[..., 2 * H : 3 * H]


class TwoLayers(Model):
    """A test-local language-model-like network: embeddings into two stacked one-layer LSTMs;
    ``cell`` says whether it offers its stacked cell (the dump's fast path) or not (padded runs).
    Its one gate column, ``cell_c``, is 2 x the top state: only its placement is tested."""

    reads_eos = True
    networks = ("textual",)

    def __init__(self, vocabulary: int, cell: bool = True, seed: int = 0):
        super().__init__({"kind": "two_layers"})
        torch.manual_seed(seed)
        self.embedding = nn.Embedding(vocabulary, E, padding_idx=0)
        self.bottom = nn.LSTM(E, H, batch_first=True)
        self.top = nn.LSTM(H, H, batch_first=True)
        self.with_cell = cell
        self.eval()

    def state_dim(self, network):
        return H

    def layers(self, network):
        self.check_network(network)
        return 2

    def layer_states(self, network, emb, lengths):
        bottom = self.bottom(emb)[0]  # right-padded: the padding never reaches a sentence's own steps
        return [bottom, self.top(bottom)[0]]

    def states(self, network, emb, lengths):
        return self.layer_states(network, emb, lengths)[-1]

    def cell(self, network):
        self.check_network(network)
        return StackCell(self.bottom, self.top) if self.with_cell else None

    def gate_dims(self, network):
        return {"cell_c": H}

    def gates(self, network, emb, lengths, states=None):
        states = self.states(network, emb, lengths) if states is None else states
        return {"cell_c": 2 * states}

    def readouts(self, network):
        return {"vocabulary": Readout("vocabulary", "next_token", len(WORDS))}

    def readout(self, network, name, h):
        return h

    def objectives(self):
        return ()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Val sentences of 1 to 6 words (one word repeated more than a chunk), and the vocabulary."""
    root = tmp_path_factory.mktemp("layers")
    rng = np.random.default_rng(0)
    tokens = [[str(w) for w in rng.choice(WORDS, int(rng.integers(1, 7)))] for _ in range(13)]
    n = len(tokens)
    write_parquet(pa.table({
        "corpus": ["coco"] * n, "split": ["val"] * n, "sentence_id": list(range(100, 100 + n)),
        "image_id": list(range(n)), "label": pa.nulls(n, pa.int8()),
        "text": [" ".join(t) for t in tokens], "tokens": tokens}), root / "sentences.parquet", SENTENCES, "sentences")
    vocab = list(SPECIALS) + WORDS
    write_parquet(pa.table({"token_id": list(range(len(vocab))), "token": vocab, "count": [0] * len(vocab)}),
                  root / "vocab.parquet", VOCAB, "vocab")
    return {"root": root, "tokens": tokens, "ids": [[vocab.index(w) for w in t] + [EOS_ID] for t in tokens]}


def reference(model: TwoLayers, ids: list[list[int]]) -> list[np.ndarray]:
    """Each layer's states of every token, sentence by sentence, from plain torch LSTMs with the
    model's weights: a one-layer LSTM for the bottom, a two-layer one for the top."""
    one, two = nn.LSTM(E, H, batch_first=True), nn.LSTM(E, H, num_layers=2, batch_first=True)
    one.load_state_dict(model.bottom.state_dict())
    two.load_state_dict({**model.bottom.state_dict(),
                         **{k.replace("l0", "l1"): v for k, v in model.top.state_dict().items()}})
    out = [[], []]
    with torch.no_grad():
        for sentence in ids:
            emb = model.embed(torch.tensor([sentence]))
            out[0].append(one(emb)[0][0].numpy())
            out[1].append(two(emb)[0][0].numpy())
    return [np.concatenate(layer) for layer in out]


def dump(model, corpus, tmp_path, monkeypatch, *extra) -> tuple:
    """The real CLI, with the test model in place of the saved one."""
    monkeypatch.setattr(activations, "open_network",
                        lambda path, network, runtime: (model, {"name": "two_layers"}, torch.device("cpu")))
    root = corpus["root"]
    tokens_dir = tmp_path / "tokens" / "model=two" / "pathway=textual"
    h_end_dir = tmp_path / "h_end" / "model=two" / "pathway=textual"
    assert activations.main(["--model", str(tmp_path / "unused.pt"), "--pathway", "textual", "--sentences",
                             str(root / "sentences.parquet"), "--vocab", str(root / "vocab.parquet"), "--device", "cpu",
                             "--chunk-sentences", "5", "--batch-rows", "3", "--rows-per-file", "20",
                             "--row-group-rows", "8", "--tokens-dir", str(tokens_dir), "--h-end-dir", str(h_end_dir),
                             *extra]) == 0
    return tokens_dir, h_end_dir


@pytest.mark.parametrize("cell", [True, False], ids=["cell", "padded"])
def test_every_layer_is_dumped_and_equals_plain_torch(corpus, tmp_path, monkeypatch, cell):
    model = TwoLayers(len(SPECIALS) + len(WORDS), cell=cell)
    tokens_dir, h_end_dir = dump(model, corpus, tmp_path, monkeypatch, "--gates")
    assert sorted(p.name for p in tokens_dir.iterdir()) == ["layer=0", "layer=1"]
    assert not list(tokens_dir.glob("*.parquet")) and not list(tokens_dir.parent.glob(".*"))  # nothing staged
    assert len(list((tokens_dir / "layer=0").glob("part-*.parquet"))) > 1  # rows_per_file cuts every layer
    expected = reference(model, corpus["ids"])
    n_tokens = sum(map(len, corpus["ids"]))
    for k in (0, 1):
        table = pq.read_table(tokens_dir / f"layer={k}")
        assert table.num_rows == n_tokens
        states = np.stack(table.column("activation").to_numpy(zero_copy_only=False))
        np.testing.assert_allclose(states, expected[k], atol=1e-5, rtol=0, err_msg=f"layer {k}")
        # gate columns only on the top layer's partition
        gates = ["cell_c"] if k == 1 else []
        assert table.column_names == ["sentence_id", "position", "token", "activation", *gates]
    top = pq.read_table(tokens_dir / "layer=1")
    np.testing.assert_allclose(np.stack(top.column("cell_c").to_numpy(zero_copy_only=False)), 2 * expected[1],
                               atol=1e-5, rtol=0)
    # the h_end store is as before: the top state at <eos>, directly in its folder
    reps = np.stack(pq.read_table(h_end_dir / "part-0.parquet").column("activation").to_numpy(zero_copy_only=False))
    ends = np.cumsum([len(s) for s in corpus["ids"]]) - 1
    np.testing.assert_allclose(reps, expected[1][ends], atol=1e-5, rtol=0)

    # one hive-partitioned read of the pathway folder gives every layer with its key (the gate
    # columns of the top layer's files are not in the bottom layer's: polars is told to drop them)
    frame = pl.scan_parquet(f"{tokens_dir}/**/*.parquet", hive_partitioning=True, extra_columns="ignore").select(
        "layer", "sentence_id", "position", "activation").collect()
    assert sorted(frame["layer"].unique().to_list()) == [0, 1] and frame.height == 2 * n_tokens
    bottom = frame.filter(pl.col("layer") == 0).sort("sentence_id", "position")
    np.testing.assert_allclose(np.stack(bottom["activation"].to_numpy()), expected[0], atol=1e-5, rtol=0)


def test_the_readers_take_a_layer(corpus, tmp_path, monkeypatch, capsys):
    model = TwoLayers(len(SPECIALS) + len(WORDS))
    tokens_dir, _ = dump(model, corpus, tmp_path, monkeypatch)
    expected = reference(model, corpus["ids"])
    words = np.concatenate([[True] * (len(s) - 1) + [False] for s in corpus["ids"]])  # <eos> left out
    assert sorted(store_layers(tokens_dir)) == [0, 1]
    assert [resolve_layer(tokens_dir, k) for k in (-1, -2, 0, 1)] == [1, 0, 0, 1]
    assert activation_files(tokens_dir)[0].parent.name == "layer=1"
    assert state_dim(tokens_dir, 0) == state_dim(tokens_dir) == H
    for layer, k in ((-1, 1), (1, 1), (0, 0), (-2, 0)):
        loaded = load_states(tokens_dir, layer=layer)
        np.testing.assert_allclose(loaded.states, expected[k][words], atol=1e-5, rtol=0, err_msg=f"layer {layer}")
    streamed = np.concatenate([s for _, s in iter_states(tokens_dir, batch_rows=7, layer=0)])
    np.testing.assert_allclose(streamed, expected[0][words], atol=1e-5, rtol=0)
    for bad in (2, -3):
        with pytest.raises(InputError, match=rf"pathway=textual: layer {bad}: not in the store: its layers are "
                                             r"\[0, 1\]"):
            load_states(tokens_dir, layer=bad)
    # the analyses' --layer, and the layer their tables say they read
    out = tmp_path / "top.parquet"
    assert top_contexts.main(["--activations", str(tokens_dir), "--out", str(out), "--k", "3", "--layer", "-2"]) == 0
    table = pl.read_parquet(out)
    assert set(table["layer"]) == {0}
    best = table.filter((pl.col("unit") == 0) & (pl.col("rank") == 1))["activation"][0]
    assert best == pytest.approx(expected[0][words][np.abs(expected[0][words][:, 0]).argmax(), 0], abs=1e-6)
    assert run_cli(top_contexts.main, ["--activations", str(tokens_dir), "--out", str(out), "--layer", "5"]) == 2
    assert "layer 5: not in the store: its layers are [0, 1]" in capsys.readouterr().err
    # the matrix counts the network's tokens once, not once per layer
    assert matrix.row_counts(tokens_dir) == sum(map(len, corpus["ids"]))


def test_a_one_layer_network_writes_layer_0_and_the_old_layout_still_reads(corpus, tmp_path, monkeypatch):
    class OneLayer(TwoLayers):
        def layers(self, network):
            return 1

        def layer_states(self, network, emb, lengths):
            raise AssertionError("a one-layer network takes the fast path only")

        def states(self, network, emb, lengths):
            return self.top(self.bottom(emb)[0])[0]

    model = OneLayer(len(SPECIALS) + len(WORDS))
    tokens_dir, _ = dump(model, corpus, tmp_path, monkeypatch)
    assert [p.name for p in tokens_dir.iterdir()] == ["layer=0"]
    np.testing.assert_allclose(np.stack(pq.read_table(tokens_dir / "layer=0").column("activation").to_numpy(
        zero_copy_only=False)), reference(model, corpus["ids"])[1], atol=1e-5, rtol=0)
    old = tmp_path / "old" / "model=two" / "pathway=textual"
    (tokens_dir / "layer=0").rename(old.parent.mkdir(parents=True) or old)  # part files directly in the folder
    assert store_layers(old) == {0: old} and len(load_states(old, layer=-1)) == len(load_states(old, layer=0))
    with pytest.raises(InputError, match=r"layer -2: not in the store: its layers are \[0\]"):
        load_states(old, layer=-2)


def test_a_model_whose_layers_break_the_contract_is_refused(corpus, tmp_path, monkeypatch):
    class Wrong(TwoLayers):
        def layer_states(self, network, emb, lengths):
            bottom = self.bottom(emb)[0]
            return [bottom, bottom]  # its top is not its states

        def states(self, network, emb, lengths):
            return self.top(self.bottom(emb)[0])[0]

    with pytest.raises(ValueError, match="the last of its layer_states differs from its states"):
        dump(Wrong(len(SPECIALS) + len(WORDS)), corpus, tmp_path, monkeypatch)
    assert not (tmp_path / "tokens" / "model=two" / "pathway=textual").exists()
    assert not list((tmp_path / "tokens" / "model=two").glob(".*"))  # the staging folder is gone too


def test_the_lm_kinds_two_layer_lstm_is_stored_layer_by_layer(corpus, tmp_path):
    """The catalog's ``lm`` with ``cell: lstm, layers: 2``, saved and dumped through the real CLI:
    each ``layer=K`` partition equals a plain ``torch.nn.LSTM`` run with the model's weights."""
    import dataclasses

    from lingscope.core import catalog
    from lingscope.models.checkpoint import family, save_model

    settings = dataclasses.replace(catalog.settings_of("lm")(), kind="lm", cell="lstm", layers=2, embedding_dim=E,
                                   hidden_dim=H)
    torch.manual_seed(3)
    model = family("lm").create(settings, len(SPECIALS) + len(WORDS), {}).eval()
    save_model(tmp_path / "lm.pt", model, {"name": "lm2"})
    root = corpus["root"]
    tokens_dir = tmp_path / "tokens" / "model=lm2" / "pathway=textual"
    assert activations.main(["--model", str(tmp_path / "lm.pt"), "--pathway", "textual", "--sentences",
                             str(root / "sentences.parquet"), "--vocab", str(root / "vocab.parquet"), "--device", "cpu",
                             "--tokens-dir", str(tokens_dir), "--h-end-dir", str(tmp_path / "h_end")]) == 0
    weights = {k: v for k, v in model.state_dict().items() if k.startswith("textual.")}
    two = nn.LSTM(E, H, num_layers=2, batch_first=True)
    two.load_state_dict({k.removeprefix("textual."): v for k, v in weights.items()})
    one = nn.LSTM(E, H, batch_first=True)
    one.load_state_dict({k.removeprefix("textual."): v for k, v in weights.items() if k.endswith("_l0")})
    with torch.no_grad():
        expected = [np.concatenate([net(model.embed(torch.tensor([s])))[0][0].numpy() for s in corpus["ids"]])
                    for net in (one, two)]
    for k in (0, 1):
        states = np.stack(pq.read_table(tokens_dir / f"layer={k}").column("activation").to_numpy(zero_copy_only=False))
        np.testing.assert_allclose(states, expected[k], atol=1e-5, rtol=0, err_msg=f"layer {k}")
