"""The language model beyond the paper's one GRU (``cell: lstm``, ``layers``, ``dropout``) and the
contract's per-layer states (``layers``, ``layer_states``), on the lm and the autoencoder's
encoder: every layer against a plain ``torch.nn.LSTM`` / ``torch.nn.GRU`` run with the same
weights, the stacked cell against the network's states, the default lm unchanged, checkpoints,
and a short training run through the real training CLI."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lingscope.core import catalog
from lingscope.data import coco as ingest_coco
from lingscope.data import vocab as build_vocab
from lingscope.encoding.csr import pad, to_csr
from lingscope.encoding.ids import PAD_ID, SPECIALS
from lingscope.models.autoencoder import Architecture as AutoencoderArchitecture
from lingscope.models.autoencoder import Autoencoder
from lingscope.models.checkpoint import family, load_model, save_model
from lingscope.models.readouts import next_token_logits
from lingscope.models.tensors import last, mask
from lingscope.models.cells import LSTM_GATES, GRUCell, StackedCell
from lingscope.models.imaginet import Architecture, CaptionModel
from lingscope.models.runs import padded_run, run_network, verify_cell
from lingscope.synth import coco as synth_coco
from lingscope.training import train

VOCAB = 30
E, H = 9, 12
RNNS = {"lstm": nn.LSTM, "gru": nn.GRU}


def _lm(cell: str = "lstm", layers: int = 2, dropout: float = 0.0, seed: int = 0) -> CaptionModel:
    torch.manual_seed(seed)
    model = CaptionModel(Architecture("lm", VOCAB, 0, E, H, cell=cell, layers=layers, dropout=dropout))
    with torch.no_grad():  # trained models are not near zero: spread the weights a little
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
        model.embedding.weight[PAD_ID] = 0.0
    return model.eval()


def _batch(seed: int = 1, n: int = 6, eos: bool = True) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
    """``(ids, lengths, flat, offsets)``: n random sentences of 1..9 words, padded and flat."""
    rng = np.random.default_rng(seed)
    n_words = rng.integers(1, 10, n)
    flat, offsets = to_csr(rng.integers(len(SPECIALS), VOCAB, int(n_words.sum())), n_words, eos=eos)
    ids, lengths = (torch.from_numpy(a) for a in pad(flat, offsets))
    return ids, lengths, flat, offsets


def _plain(module: nn.Module, k: int, input_size: int) -> nn.Module:
    """A one-layer torch module of the same class with the weights of layer ``k`` of ``module``."""
    one = type(module)(input_size, module.hidden_size, batch_first=True)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(one, f"{name}_l0").copy_(getattr(module, f"{name}_l{k}"))
    return one.eval()


def _check_layers_against_plain(module: nn.Module, layer_states: list[torch.Tensor], x: torch.Tensor,
                                m: torch.Tensor) -> None:
    """Layer k's states equal a one-layer torch module with the l_k weights run over layer k - 1's
    (the plain one's) output; the top equals the stacked module's own output."""
    assert len(layer_states) == module.num_layers
    with torch.no_grad():
        below = x
        for k, states in enumerate(layer_states):
            below = _plain(module, k, below.shape[-1])(below)[0]
            torch.testing.assert_close(states[m], below[m], atol=1e-5, rtol=0)
        torch.testing.assert_close(layer_states[-1][m], module.eval()(x)[0][m], atol=1e-5, rtol=0)


# --- per-layer states ---------------------------------------------------------------------------

@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_lm_layer_states_equal_plain_torch_layers(cell):
    model = _lm(cell)
    ids, lengths, _, _ = _batch()
    assert model.layers("textual") == 2
    with torch.no_grad():
        emb = model.embed(ids)
        layer_states = model.layer_states("textual", emb, lengths)
        states = model.states("textual", emb, lengths)
    assert [s.shape for s in layer_states] == [(*ids.shape, H)] * 2
    m = mask(lengths, ids.shape[1]).bool()
    torch.testing.assert_close(layer_states[-1], states)
    _check_layers_against_plain(model.textual, layer_states, emb, m)
    # Layer 0 alone is a one-layer module with the l0 weights, and differs from the top.
    assert (layer_states[0][m] - layer_states[1][m]).abs().max() > 1e-2


def test_default_lm_has_one_layer():
    model = CaptionModel(Architecture("lm", VOCAB, 0, E, H))
    ids, lengths, _, _ = _batch()
    assert model.layers("textual") == 1
    (only,) = model.layer_states("textual", model.embed(ids), lengths)
    torch.testing.assert_close(only, model.states("textual", model.embed(ids), lengths))


def test_autoencoder_layer_states_equal_plain_torch_lstms():
    torch.manual_seed(0)
    model = Autoencoder(AutoencoderArchitecture("autoencoder", VOCAB, E, H, layers=2, dropout=0.2), 0.3).eval()
    ids, lengths, _, _ = _batch(3)
    assert model.layers("encoder") == 2
    with torch.no_grad():
        emb = model.embed(ids)
        layer_states = model.layer_states("encoder", emb, lengths)
        states = model.states("encoder", emb, lengths)
    m = mask(lengths, ids.shape[1]).bool()
    torch.testing.assert_close(layer_states[-1][m], states[m])
    # In the encoder's reading order (words reversed, <eos> last), each sentence run alone.
    for b in range(len(lengths)):
        n = int(lengths[b])
        order = list(range(n - 2, -1, -1)) + [n - 1]
        x = emb[b : b + 1, order]
        back = torch.argsort(torch.tensor(order))
        reordered = [s[b : b + 1, :n][:, order] for s in layer_states]
        _check_layers_against_plain(model.encoder, reordered, x, torch.ones(1, n, dtype=torch.bool))
        torch.testing.assert_close(reordered[-1][:, back], states[b : b + 1, :n], atol=1e-5, rtol=0)


# --- the cell, readouts, gates ----------------------------------------------------------------

@pytest.mark.parametrize("cell,layers", [("lstm", 2), ("gru", 2), ("lstm", 1), ("gru", 3)])
def test_the_stacked_cell_reproduces_the_states(cell, layers):
    model = _lm(cell, layers)
    ids, lengths, flat, offsets = _batch(5, 20)
    c = model.cell("textual")
    assert isinstance(c, StackedCell)
    assert c.state_size == layers * H * (2 if cell == "lstm" else 1)
    flat_t = torch.from_numpy(flat)
    verify_cell(model, "textual", flat_t, offsets, sample=20, tolerance=1e-6)
    fast_states, fast_reps = run_network(model, "textual", flat_t, offsets)
    generic_states, generic_reps = padded_run(model, "textual", flat_t, offsets)
    torch.testing.assert_close(fast_states, generic_states, atol=1e-5, rtol=0)
    torch.testing.assert_close(fast_reps, generic_reps, atol=1e-5, rtol=0)
    with torch.no_grad():
        reps = model.representation("textual", model.embed(ids), lengths)
    torch.testing.assert_close(fast_reps, reps, atol=1e-5, rtol=0)


def test_representation_and_next_token_logits_of_a_stacked_lstm():
    model = _lm("lstm")
    ids, lengths, _, _ = _batch(7)
    plain = nn.LSTM(E, H, 2, batch_first=True)
    plain.load_state_dict(model.textual.state_dict())
    with torch.no_grad():
        emb = model.embed(ids)
        states = plain.eval()(emb)[0]
        torch.testing.assert_close(model.representation("textual", emb, lengths), last(states, lengths),
                                   atol=1e-6, rtol=0)
        logits = next_token_logits(model, "textual", "vocabulary", ids, lengths)
        before = torch.cat([states.new_zeros(len(ids), 1, H), states[:, :-1]], 1)
        torch.testing.assert_close(logits, model.textual_out(before), atol=1e-5, rtol=0)
        torch.testing.assert_close(logits[:, 0], model.textual_out.bias.expand(len(ids), -1))


def test_dropout_only_in_training():
    model = _lm("lstm", dropout=0.5)
    assert model.textual.dropout == 0.5
    ids, lengths, _, _ = _batch(8)
    with torch.no_grad():
        a = next_token_logits(model, "textual", "vocabulary", ids, lengths)
        b = next_token_logits(model, "textual", "vocabulary", ids, lengths)
        torch.testing.assert_close(a, b)
        model.train()
        torch.manual_seed(0)
        c = next_token_logits(model, "textual", "vocabulary", ids, lengths)
    assert (c - a).abs().max() > 1e-3


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gates_are_the_top_layers(cell):
    model = _lm(cell)
    ids, lengths, _, _ = _batch(9)
    with torch.no_grad():
        emb = model.embed(ids)
        layer_states = model.layer_states("textual", emb, lengths)
        gates = model.gates("textual", emb, lengths)
        given = model.gates("textual", emb, lengths, layer_states[-1])
    assert list(gates) == list(model.gate_dims("textual")) == list(given)
    m = mask(lengths, ids.shape[1]).bool()
    for name in gates:
        torch.testing.assert_close(gates[name][m], given[name][m], atol=1e-6, rtol=0)
    # The top layer's own step from the layer below (torch's equations with the l1 weights).
    w_ih, w_hh, b_ih, b_hh = (getattr(model.textual, f"{n}_l1") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    x, h = layer_states[0], layer_states[1]
    h_prev = torch.cat([h.new_zeros(len(ids), 1, H), h[:, :-1]], 1)
    if cell == "lstm":
        assert list(gates) == list(LSTM_GATES)
        i, f, g, o = (F.linear(x, w_ih, b_ih) + F.linear(h_prev, w_hh, b_hh)).detach().chunk(4, -1)
        torch.testing.assert_close(gates["gate_i"][m], torch.sigmoid(i)[m], atol=1e-5, rtol=0)
        torch.testing.assert_close(gates["gate_g"][m], torch.tanh(g)[m], atol=1e-5, rtol=0)
        torch.testing.assert_close((gates["gate_o"] * torch.tanh(gates["cell_c"]))[m], h[m], atol=1e-5, rtol=0)
    else:
        z = torch.sigmoid(F.linear(x, w_ih[H : 2 * H], b_ih[H : 2 * H]) + F.linear(h_prev, w_hh[H : 2 * H],
                                                                                  b_hh[H : 2 * H]))
        torch.testing.assert_close(gates["gate_z"][m], z.detach()[m], atol=1e-5, rtol=0)
        rebuilt = (1 - gates["gate_z"]) * gates["gate_n"] + gates["gate_z"] * h_prev
        torch.testing.assert_close(rebuilt[m], h[m], atol=1e-5, rtol=0)


# --- the default lm, checkpoints, errors -------------------------------------------------------

def test_the_default_lm_is_built_as_before():
    torch.manual_seed(4)
    model = CaptionModel(Architecture("lm", VOCAB, 0, E, H))
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert shapes == {
        "embedding.weight": (VOCAB, E),
        "textual.weight_ih_l0": (3 * H, E), "textual.weight_hh_l0": (3 * H, H),
        "textual.bias_ih_l0": (3 * H,), "textual.bias_hh_l0": (3 * H,),
        "textual_out.weight": (VOCAB, H), "textual_out.bias": (VOCAB,),
    }
    assert isinstance(model.textual, nn.GRU) and model.textual.num_layers == 1
    assert isinstance(model.cell("textual"), GRUCell)
    # One seed, the same weights as the modules built in the paper model's order.
    torch.manual_seed(4)
    reference = [nn.Embedding(VOCAB, E, padding_idx=PAD_ID), nn.GRU(E, H, batch_first=True), nn.Linear(H, VOCAB)]
    expected = [p for module in reference for p in module.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), expected, strict=True))
    # Through the catalog's settings too (their defaults: gru, 1 layer, no dropout).
    settings = catalog.settings_of("lm")(kind="lm", embedding_dim=E, hidden_dim=H)
    torch.manual_seed(4)
    created = family("lm").create(settings, VOCAB, {})
    assert created.architecture == model.architecture | {"alpha": settings.alpha}  # alpha: unused by an lm
    assert all(torch.equal(a, b) for a, b in zip(created.parameters(), model.parameters(), strict=True))


def test_an_old_checkpoint_without_the_new_fields_loads(tmp_path):
    model = CaptionModel(Architecture("lm", VOCAB, 0, E, H))
    path = tmp_path / "old.pt"
    old = {k: v for k, v in model.architecture.items() if k not in ("cell", "layers", "dropout")}
    torch.save({"architecture": old, "state_dict": model.state_dict(), "name": "lm"}, path)
    loaded, _ = load_model(path)
    assert (loaded.arch.cell, loaded.arch.layers, loaded.arch.dropout) == ("gru", 1, 0.0)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_checkpoint_round_trip(tmp_path, cell):
    model = _lm(cell, 2, dropout=0.25)
    save_model(tmp_path / "m.pt", model, {"name": "lm"})
    loaded, extra = load_model(tmp_path / "m.pt")
    assert extra["name"] == "lm" and not loaded.training
    assert loaded.architecture == model.architecture and loaded.layers("textual") == 2
    assert isinstance(loaded.textual, RNNS[cell]) and loaded.textual.dropout == 0.25
    ids, lengths, _, _ = _batch(11)
    with torch.no_grad():
        torch.testing.assert_close(next_token_logits(loaded, "textual", "vocabulary", ids, lengths),
                                   next_token_logits(model, "textual", "vocabulary", ids, lengths), atol=0, rtol=0)


def test_authors_gru_with_an_lstm_or_layers_is_a_clear_error():
    for cell, layers in (("lstm", 1), ("gru", 2), ("lstm", 3)):
        with pytest.raises(ValueError, match=r"models\.<name>\.gru: authors needs cell: gru and layers: 1"):
            CaptionModel(Architecture("lm", VOCAB, 0, E, H, gru="authors", cell=cell, layers=layers))
    CaptionModel(Architecture("lm", VOCAB, 0, E, H, gru="authors"))  # the paper's one layer is fine


@pytest.mark.parametrize("kind", ["imaginet", "sum"])
def test_only_the_lm_stacks_layers(kind):
    for change in ({"cell": "lstm"}, {"layers": 2}, {"dropout": 0.1}):
        with pytest.raises(ValueError, match="for kind lm only"):
            CaptionModel(Architecture(kind, VOCAB, 7, E, H, **change))
    settings = dataclasses.replace(catalog.settings_of(kind)(), kind=kind, embedding_dim=E, hidden_dim=H)
    model = family(kind).create(settings, VOCAB, {"image": 7})
    assert model.layers("textual") == 1 and isinstance(model.textual, nn.GRU)


# --- training through the real loop ------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("coco")
    raw = root / "raw"
    assert synth_coco.main(["--out-dir", str(raw), "--seed", "7", "--n-train", "120", "--n-val", "20", "--n-test", "10",
                            "--feature-dim", "8"]) == 0
    paths = {"sentences": root / "sentences.parquet", "images": root / "image_features.parquet",
             "vocab": root / "vocab.parquet"}
    assert ingest_coco.main(["--karpathy", str(raw / "dataset_coco.json"), "--features", str(raw / "features.npy"),
                             "--sentences", str(paths["sentences"]), "--image-features", str(paths["images"])]) == 0
    assert build_vocab.main(["--sentences", str(paths["sentences"]), "--out", str(paths["vocab"]), "--min-count", "1"]) == 0
    return paths


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_stacked_lm_trains_through_the_training_cli(corpus, tmp_path, cell):
    args = ["--name", "lm", "--kind", "lm", "--sentences", str(corpus["sentences"]), "--vocab", str(corpus["vocab"]),
            "--embedding-dim", "16", "--hidden-dim", "24", "--cell", cell, "--layers", "2", "--dropout", "0.1",
            "--max-epochs", "3", "--patience", "5", "--batch-size", "16", "--seed", "3", "--device", "cpu",
            "--learning-rate", "0.01", "--checkpoint-dir", str(tmp_path / "ckpt"),
            "--out-model", str(tmp_path / "model.pt"), "--out-metrics", str(tmp_path / "metrics.parquet")]
    assert train.main(args) == 0
    rows = pq.read_table(tmp_path / "metrics.parquet").to_pylist()
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert rows[-1]["val_loss"] < rows[0]["val_loss"]
    model, _ = load_model(tmp_path / "model.pt")
    assert (model.arch.cell, model.arch.layers, model.arch.dropout) == (cell, 2, 0.1)
    assert isinstance(model.textual, RNNS[cell]) and model.textual.num_layers == 2
