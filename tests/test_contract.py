"""The contract matrix: every method on every network of every kind in the catalog, on tiny models.

Written as data: the rows are the catalog's kinds x networks (and a variant of each kind's
settings), the columns the catalog's methods. A new family joins the matrix by adding its kinds
to the catalog; a new method by adding itself to ``METHODS`` and a runner below. Each cell
checks the method against a reference that does not share its fast path:

- the contract itself: embeddings, shapes, padding, readouts against the catalog;
- a network with a cell: the cell's states and final state against ``Model.states`` and
  ``Model.representation`` (the fast paths rely on this);
- a network with a bidirectional pair: the two cells' final states, assembled, against
  ``Model.representation`` (omission's two-sided path relies on this);
- a network with gates: the gates rebuild the network's own states through torch's equations,
  step by step in its reading order, to 1e-5 (a stacked encoder too);
- ``activations``: the dump (through the CLI, on Parquet) against a plain forward pass, with its
  gate columns off (none written) and on (those of ``Model.gates``);
- ``omission``: the fast path, the generic path and the authors' per-sentence method agree to
  1e-5; each kind takes the path ``OMISSION_PATHS`` names (a silent fall back to the generic
  path fails), a network with its cell and pair hidden takes the generic one; and on chunks of
  one- and two-word sentences and of mixed lengths;
- ``retrieval_examples``: the CLI's retrieved images against a brute-force ranking.
- ``saliency``: the batched pass (through the CLI, on Parquet) against one backward per sentence,
  run alone and unpadded, to 1e-6; variance salience against its definition;
- ``representations``: the CLI's representations and states against a plain forward pass.
- ``step_saliency``: the batched pass (through the CLI, on Parquet) against one backward per
  sentence and step, run alone and unpadded, to 1e-6.
- ``attribution``: the batched saliency, gradient x input and integrated gradients (through the
  CLI, on Parquet) against Captum's Saliency, InputXGradient and IntegratedGradients called on one
  sentence at a time, unpadded, with the score written out here from the readout's kind, to 1e-5;
  and the completeness gap against Captum's convergence delta.
"""

from __future__ import annotations

import dataclasses
import sys
from functools import partial
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from workflow_runs import worked_example

from lingscope.core import catalog
from lingscope.core.io import write_parquet
from lingscope.core.schemas import OMISSION, SENTENCES, VOCAB, image_features_schema
from lingscope.encoding.csr import pad, to_csr
from lingscope.encoding.ids import EOS_ID, PAD_ID, SPECIALS
from lingscope.methods import (
    activations,
    attribution,
    input_optimisation,
    omission,
    representations,
    retrieval_examples,
    saliency,
    step_saliency,
)
from lingscope.models.base import CLASSES, Model, NEXT_TOKEN, REGRESSION, SEQUENCE
from lingscope.models import pretrained
from lingscope.models.checkpoint import load_model, save_model
from lingscope.models.readouts import decoder_inputs, next_token_logits_of, sentence_readout, sequence_logits
from lingscope.models.tensors import last, mask
from lingscope.training.train import make
from lingscope.models.runs import (
    bidirectional_finals,
    padded_run,
    run_network,
    verify_cell,
)

VOCAB_SIZE = 23
IMAGE_DIM = 5
WORDS = [f"w{i}" for i in range(VOCAB_SIZE - len(SPECIALS))]
# Settings variants per family beyond its defaults (the authors' GRU for the caption models).
# A family of the user's own: the worked example of docs/extending.md, on the Python path.
FAMILY_DIR = Path(tempfile.mkdtemp(prefix="lingscope-contract-"))
(FAMILY_DIR / "contract_family.py").write_text(worked_example())
sys.path.insert(0, str(FAMILY_DIR))
VARIANTS = {"imaginet": [{}, {"gru": "authors"}], "sum": [{}, {"gru": "authors"}],
            "lm": [{}, {"gru": "authors"}, {"cell": "lstm", "layers": 2}],
            # networks trained elsewhere, read from a plain torch state_dict (tiny_pretrained)
            "pretrained": [{"cell": "lstm", "layers": 2}, {"cell": "rnn"}, {"cell": "rnn_relu"},
                           {"cell": "gru", "head": "classes", "eos": ""},
                           {"cell": "lstm", "layers": 2, "bidirectional": True, "head": "classes"}],
            "custom": [{"module": "contract_family"}]}  # by kind
# The omission path each kind's networks take; every kind not listed takes prefix reuse (a
# pretrained network: where it offers its cell, a one-directional LSTM or GRU).
OMISSION_PATHS = {"bilstm": omission.TWO_SIDED, "autoencoder": omission.GENERIC}


def settings_of(kind: str, variant: dict):
    """The settings of a tiny entry of ``kind`` with ``variant``."""
    if kind == "pretrained":  # sizes come from the tensors (tiny_pretrained)
        return catalog.PretrainedSettings(corpus="ptb", checkpoint="-", vocabulary="-", **variant)
    extra = {"corpus": "ptb"} if kind == "custom" else {}
    return dataclasses.replace(catalog.settings_of(kind)(), kind=kind, embedding_dim=6, hidden_dim=8, **extra,
                               **variant)


def entry_of(kind: str, variant: dict) -> catalog.Kind:
    """The catalog's kind as an entry with ``variant`` builds it (a pretrained head, a user's module)."""
    return catalog.kind(kind).of(settings_of(kind, variant))


def _cases():
    for kind in catalog.KINDS.values():
        for variant in VARIANTS.get(kind.name, [{}]):
            for network in entry_of(kind.name, variant).networks:
                label = "-".join([kind.name, network.name, *(f"{k}={v}" for k, v in variant.items())])
                yield pytest.param(kind.name, network.name, variant, id=label)


CASES = list(_cases())


def expected_omission_path(model: Model, network: str) -> str:
    if model.kind == "pretrained":  # a one-directional network offers its stacked cell
        return omission.GENERIC if model.arch.bidirectional else omission.PREFIX
    return OMISSION_PATHS.get(model.kind, omission.PREFIX)


def tiny_pretrained(settings, seed: int) -> Model:
    """A network in plain torch (an embedding, a torch RNN layer, a linear head; the user's ids in
    a shuffled order, no padding id), saved as a state_dict and read as ``kind: pretrained`` reads it."""
    rng = np.random.default_rng(seed)
    tokens = [*WORDS, "<unk>", *(["<eos>"] if settings.eos else [])]
    tokens = [tokens[i] for i in rng.permutation(len(tokens))]
    layer = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN,
             "rnn_relu": partial(torch.nn.RNN, nonlinearity="relu")}[settings.cell]
    dirs = 2 if settings.bidirectional else 1
    units = len(tokens) if settings.head == "next_token" else 3
    plain = torch.nn.ModuleDict({"encoder": torch.nn.Embedding(len(tokens), 6),
                                 "rnn": layer(6, 8, settings.layers, bidirectional=settings.bidirectional),
                                 "decoder": torch.nn.Linear(8 * dirs, units)})
    folder = Path(tempfile.mkdtemp(prefix="lingscope-pretrained-"))
    torch.save(plain.state_dict(), folder / "model.pt")
    (folder / "vocab.txt").write_text("\n".join(tokens) + "\n")
    model, names, _ = pretrained.convert(settings, folder / "model.pt", folder / "vocab.txt")
    assert len(names) == VOCAB_SIZE
    return model


def tiny(kind: str, variant: dict, seed: int = 0) -> Model:
    settings = settings_of(kind, variant)
    torch.manual_seed(seed)
    if kind == "pretrained":
        model = tiny_pretrained(settings, seed)
    else:
        model = make(catalog.kind(kind).of(settings), settings, VOCAB_SIZE, {"image": IMAGE_DIM, "classes": 3})
    with torch.no_grad():  # trained models are not near zero: spread the weights a little
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
        model.embedding.weight[PAD_ID] = 0.0
    return model.eval()


def sentences(seed: int, n: int = 30) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(flat, offsets, n_words)`` of n random sentences of 1..13 words (ids of real words)."""
    rng = np.random.default_rng(seed)
    n_words = rng.integers(1, 14, n)
    words = rng.integers(len(SPECIALS), VOCAB_SIZE, int(n_words.sum()))
    flat, offsets = to_csr(words, n_words)
    return flat, offsets, n_words


class WithoutCell:
    """The same model with its cell and its bidirectional pair hidden: what a network that offers
    neither looks like (it gets the generic paths)."""

    def __init__(self, model: Model):
        self._model = model

    def cell(self, network):
        return None

    def bidirectional(self, network):
        return None

    def __getattr__(self, name):
        return getattr(self._model, name)


# --- the contract -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind,network,variant", CASES)
def test_the_model_honours_the_contract(kind, network, variant):
    model = tiny(kind, variant)
    entry = entry_of(kind, variant)
    assert model.networks == tuple(n.name for n in entry.networks)
    assert set(model.readouts(network)) == set(entry.network(network).readouts)
    for objective in model.objectives():  # what training needs is what the catalog declares
        assert objective.readout in entry.network(objective.network).readouts, objective
    names = [o.name for o in model.objectives()]
    assert len(names) == len(set(names)) and sum(o.weight for o in model.objectives()) > 0
    ids = torch.tensor([[5, 6, 7, EOS_ID, PAD_ID], [8, 9, 10, 11, EOS_ID]])
    lengths = torch.tensor([4, 5])
    emb = model.embed(ids)
    torch.testing.assert_close(emb, model.embedding_matrix[ids])
    states = model.states(network, emb, lengths)
    assert states.shape == (2, 5, model.state_dim(network))
    rep = model.representation(network, emb, lengths)
    assert rep.shape == (2, model.representation_dim(network))
    # Padding changes nothing: the first sentence alone gives the same states and representation.
    alone = model.embed(ids[:1, :4])
    torch.testing.assert_close(model.states(network, alone, lengths[:1])[0], states[0, :4], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(model.representation(network, alone, lengths[:1]), rep[:1], atol=1e-6, rtol=1e-5)
    # Free embeddings work as well as ids (what gradient methods feed): the gradient reaches them.
    free = emb.detach().clone().requires_grad_(True)
    for name, readout in model.readouts(network).items():
        if readout.kind == "sequence":  # decoded from the representation, teacher-forced
            out = sequence_logits(model, network, name, free, lengths, model.embed(decoder_inputs(ids)))
        else:
            source = model.states(network, free, lengths) if readout.kind == "next_token" else \
                model.representation(network, free, lengths)
            out = model.readout(network, name, source)
        assert out.shape[-1] == readout.units
        out.sum().backward()
        assert free.grad is not None and free.grad[0, :4].abs().sum() > 0
        # positions past a sentence's end do not matter
        assert torch.all(free.grad[0, 4:] == 0) or readout.kind == "next_token"
        free.grad = None


@pytest.mark.parametrize("kind,network,variant", CASES)
def test_a_cell_reproduces_the_network(kind, network, variant):
    """What every fast path relies on: stepping the cell from zero gives the network's states,
    and its final state gives the representation."""
    model = tiny(kind, variant)
    cell = model.cell(network)
    if cell is None:
        pytest.skip("no cell: the methods take their generic paths")
    flat, offsets, _ = sentences(1, 12)
    ids, lengths = pad(flat, offsets)
    ids_t, lengths_t = torch.from_numpy(ids), torch.from_numpy(lengths)
    with torch.no_grad():
        emb = model.embed(ids_t)
        state = torch.zeros(len(ids), cell.state_size)
        x_in = cell.project(emb)
        stepped = []
        for t in range(ids.shape[1]):
            state = cell.step(x_in[:, t].clone(), state)
            stepped.append(cell.output(state))
        stepped = torch.stack(stepped, 1)
        m = mask(lengths_t, ids.shape[1]).bool()
        torch.testing.assert_close(stepped[m], model.states(network, emb, lengths_t)[m], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(last(stepped, lengths_t), model.representation(network, emb, lengths_t),
                                   atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind,network,variant", CASES)
def test_a_bidirectional_pair_reproduces_the_representation(kind, network, variant):
    """What omission's two-sided path relies on: the forward cell stepped over each sentence and
    the backward cell stepped over it reversed, from zero, give the representation once the pair
    assembles their final states; an empty sentence's too (zero states)."""
    from lingscope.models.tensors import reverse_within

    model = tiny(kind, variant)
    pair = model.bidirectional(network)
    if pair is None:
        pytest.skip("no bidirectional pair")
    assert model.cell(network) is None  # a pair is only offered where no left-to-right cell serves
    flat, offsets, _ = sentences(1, 12)
    ids, lengths = pad(flat, offsets)
    ids_t, lengths_t = torch.from_numpy(ids), torch.from_numpy(lengths)
    with torch.no_grad():
        emb = model.embed(ids_t)
        finals = []
        for cell, inputs in ((pair.forward, emb), (pair.backward, reverse_within(emb, lengths_t))):
            x_in, state, states = cell.project(inputs), torch.zeros(len(ids), cell.state_size), []
            for t in range(ids.shape[1]):
                state = cell.step(x_in[:, t].clone(), state)
                states.append(state)
            finals.append(last(torch.stack(states, 1), lengths_t))
        reference = model.representation(network, emb, lengths_t)
        torch.testing.assert_close(pair.representation(*finals), reference, atol=1e-5, rtol=1e-5)
        # The flat-layout runs (what omission uses) give the same.
        flat_finals = bidirectional_finals(pair, model.embed(torch.from_numpy(flat)), offsets, 5)
        torch.testing.assert_close(pair.representation(*flat_finals), reference, atol=1e-5, rtol=1e-5)
        zero = torch.zeros(1, pair.forward.state_size), torch.zeros(1, pair.backward.state_size)
        torch.testing.assert_close(pair.representation(*zero),
                                   model.representation(network, emb[:1, :0], torch.zeros(1, dtype=torch.long)))
    verify_cell(model, network, torch.from_numpy(flat), offsets)  # what the omission job checks passes


def test_a_pair_that_breaks_the_contract_is_refused():
    """The two-sided path trusts the pair; one whose cells do not make the representation (here
    swapped: right sizes, wrong directions) is stopped before any table is written."""
    from lingscope.models.base import Bidirectional

    model = tiny("bilstm", {})
    pair = model.bidirectional("sentiment")

    class Swapped(WithoutCell):
        def bidirectional(self, network):
            return Bidirectional(pair.backward, pair.forward)

    flat, offsets, _ = sentences(2, 10)
    with pytest.raises(ValueError, match="the fast paths would be wrong"):
        verify_cell(Swapped(model), "sentiment", torch.from_numpy(flat), offsets)


# --- gate activations -------------------------------------------------------------------------

# Beyond the matrix: a stacked encoder, whose states (and gates) are its top layer's.
GATE_CASES = CASES + [pytest.param("autoencoder", "encoder", {"layers": 2}, id="autoencoder-encoder-layers=2"),
                      pytest.param("autoencoder", "encoder", {"reverse_source": False},
                                   id="autoencoder-encoder-reverse_source=False")]


def reading_orders(model, kind, lengths, width):
    """``[(state columns, previous)]`` per direction of the network: ``previous[b, t]`` is the
    position whose step comes just before the step that reads token t (-1: the first step)."""
    t = torch.arange(width)[None, :].expand(len(lengths), -1)
    n = lengths[:, None]
    forward = t - 1
    backward = torch.where(t + 1 < n, t + 1, -1)
    dim = model.state_dim(model.networks[0])
    if kind == "bilstm":
        return [(slice(0, dim // 2), forward), (slice(dim // 2, dim), backward)]
    if kind == "autoencoder" and model.arch.reverse_source:  # w_n .. w_1, then <eos> (position n)
        words = n - 1
        reversed_words = torch.where(t + 1 < words, t + 1, -1)
        return [(slice(0, dim), torch.where(t == words, torch.where(words > 0, 0, -1), reversed_words))]
    return [(slice(0, dim), forward)]


def at(values, previous):
    """``values`` at the previous step of every position (zero before the first)."""
    index = previous.clamp(min=0).unsqueeze(-1).expand(-1, -1, values.shape[-1])
    return values.gather(1, index) * (previous >= 0).unsqueeze(-1)


@pytest.mark.parametrize("kind,network,variant", GATE_CASES)
def test_the_gates_reproduce_the_states(kind, network, variant):
    """The gates, recomputed from the layers' weights, give back the network's own states through
    torch's equations, step by step in the network's reading order: a GRU's
    h = (1 - z) * n + z * h_prev; an LSTM's c = f * c_prev + i * g and h = o * tanh(c)."""
    model = tiny(kind, variant)
    flat, _, n_words = sentences(2, 12)
    flat, offsets = to_csr(flat[flat != EOS_ID], n_words, eos=model.reads_eos)
    ids, lengths = (torch.from_numpy(a) for a in pad(flat, offsets))
    dims = model.gate_dims(network)
    with torch.no_grad():
        emb = model.embed(ids)
        states = model.states(network, emb, lengths)
        gates = model.gates(network, emb, lengths)
        given = model.gates(network, emb, lengths, states)
    # Without gates: the tanh RNN, SUM's running sum, and a pretrained tanh RNN or bidirectional
    # network (a user's family offers them or not: the worked example does not).
    no_gates = kind == "custom" or (kind == "pretrained" and (variant.get("cell") in ("rnn", "rnn_relu")
                                                               or variant.get("bidirectional")))
    if kind in ("rnn",) or (kind == "sum" and network == "visual") or no_gates:
        assert dims == {} and gates == {} and given == {}
        return
    assert list(dims) == (["gate_r", "gate_z", "gate_n"] if "gate_r" in dims else
                          ["gate_i", "gate_f", "gate_g", "gate_o", "cell_c"])
    assert list(gates) == list(given) == list(dims)
    m = mask(lengths, ids.shape[1]).bool()
    for name, size in dims.items():
        assert gates[name].shape == (*ids.shape, size) == (*ids.shape, model.state_dim(network))
        torch.testing.assert_close(given[name][m], gates[name][m], atol=1e-6, rtol=1e-5)
    for columns, previous in reading_orders(model, kind, lengths, ids.shape[1]):
        g = {name: value[..., columns] for name, value in gates.items()}
        h = states[..., columns]
        if "gate_z" in g:
            rebuilt = (1 - g["gate_z"]) * g["gate_n"] + g["gate_z"] * at(h, previous)
        else:
            c = g["cell_c"]
            torch.testing.assert_close((g["gate_f"] * at(c, previous) + g["gate_i"] * g["gate_g"])[m], c[m],
                                       atol=1e-5, rtol=1e-5)
            rebuilt = g["gate_o"] * torch.tanh(c)
        torch.testing.assert_close(rebuilt[m], h[m], atol=1e-5, rtol=1e-5)
        assert (h[m] - at(h, previous)[m]).abs().max() > 1e-2  # the states move: not a trivial match


# --- the methods -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny corpus on disk in the real tables: val sentences of the tiny vocabulary, images."""
    root = tmp_path_factory.mktemp("contract")
    flat, offsets, n_words = sentences(5, 24)
    vocab = list(SPECIALS) + WORDS
    tokens = [[vocab[i] for i in flat[offsets[k] : offsets[k + 1] - 1]] for k in range(len(n_words))]
    tokens = [[t.upper() if k % 3 == 0 else t for t in sent] for k, sent in enumerate(tokens)]  # case folds
    n = len(tokens)
    write_parquet(pa.table({
        "corpus": ["coco"] * n, "split": ["val"] * n, "sentence_id": list(range(100, 100 + n)),
        "image_id": [10 + k // 2 for k in range(n)], "label": pa.nulls(n, pa.int8()),
        "text": [" ".join(t) for t in tokens], "tokens": tokens}), root / "sentences.parquet", SENTENCES, "sentences")
    write_parquet(pa.table({"token_id": list(range(len(vocab))), "token": vocab, "count": [0] * len(vocab)}),
                  root / "vocab.parquet", VOCAB, "vocab")
    rng = np.random.default_rng(3)
    image_ids = sorted({10 + k // 2 for k in range(n)})
    feats = rng.normal(size=(len(image_ids), IMAGE_DIM)).astype(np.float32)
    write_parquet(pa.table({"image_id": image_ids, "split": ["val"] * len(image_ids),
                            "filename": [None] * len(image_ids),
                            "features": pa.FixedSizeListArray.from_arrays(pa.array(feats.ravel()), IMAGE_DIM)}),
                  root / "images.parquet", image_features_schema(IMAGE_DIM), "image_features")
    return {"root": root, "flat": flat, "offsets": offsets, "n_words": n_words, "features": feats,
            "image_ids": np.array(image_ids)}


def layout(files, model) -> tuple[np.ndarray, np.ndarray]:
    """The tiny corpus as ``model`` reads it: with ``<eos>`` after each sentence or without."""
    if model.reads_eos:
        return files["flat"], files["offsets"]
    words = np.concatenate([files["flat"][a : b - 1] for a, b in zip(files["offsets"][:-1], files["offsets"][1:])])
    return to_csr(words, files["n_words"], eos=False)


def saved(kind, variant, path):
    model = tiny(kind, variant)
    extra = {"name": kind, "image_mean": torch.zeros(IMAGE_DIM), "image_std": torch.ones(IMAGE_DIM)}
    save_model(path, model, extra)
    return load_model(path)[0]


def run_activations(model, network, path, files, tmp_path):
    root = files["root"]
    ids, lengths = pad(*layout(files, model))
    with torch.no_grad():
        emb = model.embed(torch.from_numpy(ids))
        ref = model.states(network, emb, torch.from_numpy(lengths))
        ref_rep = model.representation(network, emb, torch.from_numpy(lengths))
        ref_gates = model.gates(network, emb, torch.from_numpy(lengths))
    m = mask(torch.from_numpy(lengths), ids.shape[1]).bool()
    for gates in ([], ["--gates"]):  # off (the default), then on
        tokens_dir, h_end_dir = tmp_path / f"tokens{len(gates)}", tmp_path / f"h_end{len(gates)}"
        assert activations.main(["--model", str(path), "--pathway", network, "--sentences",
                                 str(root / "sentences.parquet"), "--vocab", str(root / "vocab.parquet"), "--device",
                                 "cpu", "--chunk-sentences", "7", "--batch-rows", "5", *gates, "--tokens-dir",
                                 str(tokens_dir), "--h-end-dir", str(h_end_dir)]) == 0
        dumped = pq.read_table(tokens_dir / f"layer={model.layers(network) - 1}")  # the top layer's partition
        states = np.stack(dumped.column("activation").to_numpy(zero_copy_only=False))
        reps = np.stack(pq.read_table(h_end_dir).column("activation").to_numpy(zero_copy_only=False))
        np.testing.assert_allclose(states, ref[m].numpy(), atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(reps, ref_rep.numpy(), atol=1e-5, rtol=1e-5)
        assert dumped.column("position").to_pylist()[: lengths[0]] == list(range(1, lengths[0] + 1))
        # Gate columns only when asked, exactly the model's, in its order; none for a network without gates.
        expected = list(model.gate_dims(network)) if gates else []
        assert dumped.column_names == ["sentence_id", "position", "token", "activation", *expected]
        for name in expected:
            values = np.stack(dumped.column(name).to_numpy(zero_copy_only=False))
            np.testing.assert_allclose(values, ref_gates[name][m].numpy(), atol=1e-5, rtol=1e-5, err_msg=name)


def run_omission(model, network, path, files, tmp_path):
    (flat, offsets), n_words = layout(files, model), files["n_words"]
    # The path taken is the kind's own: a fast path that silently fell back to the generic one fails here.
    assert omission.omission_path(model, network) == expected_omission_path(model, network)
    assert omission.omission_path(WithoutCell(model), network) == omission.GENERIC
    fast = omission.omission_scores(model, network, flat, offsets, n_words, "cpu", batch_rows=4)
    generic = omission.omission_scores(WithoutCell(model), network, flat, offsets, n_words, "cpu", batch_rows=4)
    naive = np.concatenate(omission.naive_omission(model, network, flat, offsets, n_words, "cpu"))
    assert fast.shape == generic.shape == naive.shape == (int(n_words.sum()),)
    np.testing.assert_allclose(generic, naive, atol=1e-5, rtol=0)
    np.testing.assert_allclose(fast, naive, atol=1e-5, rtol=0)
    assert naive.max() > 1e-3  # not trivially zero
    out = tmp_path / "omission.parquet"
    root = files["root"]
    assert omission.main(["--model", str(path), "--pathway", network, "--sentences", str(root / "sentences.parquet"),
                          "--vocab", str(root / "vocab.parquet"), "--chunk-tokens", "17", "--batch-rows", "3",
                          "--device", "cpu", "--out", str(out)]) == 0
    table = pq.read_table(out)
    assert table.schema.remove_metadata().equals(OMISSION.remove_metadata())
    np.testing.assert_allclose(table.column("omission").to_numpy(), naive, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind,network,variant", CASES)
def test_omission_on_short_sentences_and_mixed_lengths(kind, network, variant):
    """Each network's own path against the authors' method on the edge cases of resuming: chunks of
    one-word sentences (every variant is empty, or only the end symbol), of two-word ones (each
    direction resumes from its first state, or reads a single token), and of mixed lengths cut
    into batches that mix them, and all in one batch. Also with an end symbol after the words
    where the model reads none: it is kept and never deleted, on every path."""
    model = tiny(kind, variant)
    assert omission.omission_path(model, network) == expected_omission_path(model, network)
    rng = np.random.default_rng(7)
    for eos in sorted({model.reads_eos, True}):
        for n_words in ([1, 1, 1], [2, 2, 2, 2], [1, 2, 1, 5, 2, 13, 3, 1, 2, 8]):
            n_words = np.array(n_words)
            flat, offsets = to_csr(rng.integers(len(SPECIALS), VOCAB_SIZE, int(n_words.sum())), n_words, eos=eos)
            naive = np.concatenate(omission.naive_omission(model, network, flat, offsets, n_words, "cpu"))
            for batch_rows in (3, 1024):
                scores = omission.omission_scores(model, network, flat, offsets, n_words, "cpu", batch_rows)
                assert scores.shape == naive.shape == (int(n_words.sum()),)
                np.testing.assert_allclose(scores, naive, atol=1e-5, rtol=0,
                                           err_msg=f"{n_words}, eos {eos}, in batches of {batch_rows}")
            assert naive.max() > 1e-3


def run_retrieval_examples(model, network, path, files, tmp_path):
    root = files["root"]
    # The omission table the examples read: the most important word of each sentence.
    run_omission(model, network, path, files, tmp_path)
    out = tmp_path / "retrieval.parquet"
    assert retrieval_examples.main(["--model", str(path), "--pathway", network,
                                    "--omission", str(tmp_path / "omission.parquet"),
                                    "--sentences", str(root / "sentences.parquet"), "--vocab", str(root / "vocab.parquet"),
                                    "--image-features", str(root / "images.parquet"), "--n", "3", "--seed", "2",
                                    "--device", "cpu", "--out", str(out)]) == 0
    rows = pq.read_table(out).to_pylist()
    assert len(rows) == 6
    feats = torch.nn.functional.normalize(torch.from_numpy(files["features"]), dim=1)
    vocab = {t: i for i, t in enumerate(list(SPECIALS) + WORDS)}
    for row in rows:
        words = [vocab[w.lower()] for w in row["caption"].split()]
        ids, lengths = pad(*to_csr(np.array(words), np.array([len(words)])))
        with torch.no_grad():
            pred = sentence_readout(model, network, "image", torch.from_numpy(ids), torch.from_numpy(lengths))
        scores = torch.nn.functional.normalize(pred, dim=1)[0] @ feats.T
        assert row["retrieved_image_id"] == files["image_ids"][int(scores.argmax())]


def run_saliency(model, network, path, files, tmp_path):
    root = files["root"]
    out, examples = tmp_path / "saliency.parquet", tmp_path / "examples.parquet"
    assert saliency.main(["--model", str(path), "--pathway", network, "--sentences", str(root / "sentences.parquet"),
                          "--vocab", str(root / "vocab.parquet"), "--split", "val", "--chunk-sentences", "7",
                          "--batch-sentences", "3", "--saliency", "w1 w2 w3", "w4 w1 w4 w5", "--device", "cpu",
                          "--out", str(out), "--examples-out", str(examples)]) == 0
    table = pq.read_table(out)
    assert table.num_rows == int(files["n_words"].sum())
    sal = np.stack(table.column("saliency").to_numpy(zero_copy_only=False))
    var = np.stack(table.column("variance").to_numpy(zero_copy_only=False))
    flat, offsets = layout(files, model)
    readout = saliency.class_readout(model, network)
    k = 0
    for s, n in enumerate(files["n_words"]):  # the reference: one sentence at a time, no padding
        emb = model.embed(torch.from_numpy(flat[offsets[s]:offsets[s + 1]])[None]).detach().requires_grad_(True)
        scores = model.readout(network, readout, model.representation(network, emb, torch.tensor([emb.shape[1]])))
        scores[0, scores.argmax()].backward()
        np.testing.assert_allclose(sal[k:k + n], emb.grad[0, :n].abs().numpy(), atol=1e-6, rtol=0)
        words = emb[0, :n].detach().numpy()
        np.testing.assert_allclose(var[k:k + n], (words - words.mean(0)) ** 2, atol=1e-6, rtol=1e-5)
        assert table.column("predicted")[k].as_py() == int(scores.argmax())
        k += n
    np.testing.assert_allclose(table.column("saliency_norm").to_numpy(), np.linalg.norm(sal, axis=1), rtol=1e-5)
    ex = pq.read_table(examples)
    assert ex.column("sentence_id").to_pylist() == [0, 0, 0, 1, 1, 1, 1]
    assert ex.column("token").to_pylist() == "w1 w2 w3 w4 w1 w4 w5".split()


def run_representations(model, network, path, files, tmp_path):
    root = files["root"]
    reps, states = tmp_path / "reps.parquet", tmp_path / "states.parquet"
    phrases = ["--intensification", "w1", "w1 w2", "--negation", "w3 w4", "--concessive", "w1 w2 w3", "w1 w2 w5",
               "--clause-positive", "w6", "--clause-negative", "w7 w8", "--random-words", "4"]
    assert representations.main(["--model", str(path), "--pathway", network, "--vocab", str(root / "vocab.parquet"),
                                 *phrases, "--device", "cpu", "--out-representations", str(reps),
                                 "--out-states", str(states)]) == 0
    table = pq.read_table(reps).to_pylist()
    assert [r["group"] for r in table].count("random") == 4
    vocab = {t: i for i, t in enumerate(list(SPECIALS) + WORDS)}
    for row in table:
        words = [vocab[w] for w in row["text"].split()]
        ids, lengths = pad(*to_csr(np.array(words), np.array([len(words)]), eos=model.reads_eos))
        with torch.no_grad():
            ref = model.representation(network, model.embed(torch.from_numpy(ids)), torch.from_numpy(lengths))
        np.testing.assert_allclose(row["representation"], ref[0].numpy(), atol=1e-5, rtol=1e-5)
    st = pq.read_table(states)
    assert st.column("example").to_pylist().count(0) == 3 + model.reads_eos


def run_input_optimisation(model, network, path, files, tmp_path):
    """crp through the CLI against brute force over every window of the corpus; gbl's reported
    activations against its 5-grams run through the model; the named target's row."""
    root = files["root"]
    vocab = {t: i for i, t in enumerate(list(SPECIALS) + WORDS)}
    common = ["--model", str(path), "--pathway", network, "--sentences", str(root / "sentences.parquet"),
              "--vocab", str(root / "vocab.parquet"), "--per-draw", "4", "--targets", "w3", "--device", "cpu"]
    crp, gbl = tmp_path / "crp.parquet", tmp_path / "gbl.parquet"
    assert input_optimisation.main([*common, "--method", "crp", "--out", str(crp), "--splits", "val",
                                    "--batch-size", "7"]) == 0
    assert input_optimisation.main([*common, "--method", "gbl", "--out", str(gbl), "--steps", "3", "--patience", "1",
                                    "--max-epochs", "2", "--samples", "2"]) == 0
    words = [files["flat"][a:b - 1] for a, b in zip(files["offsets"][:-1], files["offsets"][1:])]
    windows = np.unique(np.array([w[i:i + 5] for w in words for i in range(len(w) - 4)]), axis=0)
    for out in (crp, gbl):
        rows = pq.read_table(out).to_pylist()
        # Every readout with one vector per input, and the hidden units (a SEQUENCE readout has no unit to read)
        one_vector = {r.name for r in model.readouts(network).values() if r.kind != SEQUENCE}
        assert {r["readout"] for r in rows} == one_vector | {"representation"}
        for row in rows:
            ids = torch.tensor([[vocab[t] for t in row["tokens"]]])
            with torch.no_grad():
                act = input_optimisation.unit_activations(model, network, row["readout"], model.embed(ids))
                if row["readout"] == "representation":  # the contract's own representation, not the method's
                    # of the sentence of those 5 words, read with its end symbol where the network needs one
                    sentence = torch.cat([ids, torch.tensor([[EOS_ID]])], 1) if model.needs_end(network) else ids
                    act = model.representation(network, model.embed(sentence), torch.tensor([sentence.shape[1]]))
            assert abs(act[0, row["unit"]].item() - row["activation"]) < 1e-5
            if row["method"] == "crp":
                with torch.no_grad():
                    every = input_optimisation.unit_activations(model, network, row["readout"],
                                                                model.embed(torch.from_numpy(windows)))
                assert abs(every[:, row["unit"]].max().item() - row["activation"]) < 1e-5
            if row["named"]:
                assert row["target_word"] == "w3" and row["unit"] == vocab["w3"]
        assert sum(r["named"] for r in rows) == sum(r.kind == "next_token" for r in model.readouts(network).values())


def run_step_saliency(model, network, path, files, tmp_path):
    """The CLI's table against one backward pass per sentence and step (no padding, no batch)."""
    root = files["root"]
    out = tmp_path / "steps.parquet"
    assert step_saliency.main(["--model", str(path), "--pathway", network, "--sentences",
                               str(root / "sentences.parquet"), "--vocab", str(root / "vocab.parquet"),
                               "--split", "val", "--sample", "0", "--figure", "2", "--batch-sentences", "5",
                               "--device", "cpu", "--out", str(out)]) == 0
    table = pq.read_table(out).to_pandas()
    flat, offsets = layout(files, model)
    readout = step_saliency.sequence_readout(model, network)
    assert table["sentence_id"].nunique() == len(files["n_words"])
    assert table.loc[table["chosen"], "sentence_id"].nunique() == 2
    for s, n in enumerate(files["n_words"]):
        ids = flat[offsets[s]:offsets[s + 1]]
        source, decoded = step_saliency.step_saliency_loop(model, network, readout, ids, "cpu")
        rows = table[table["sentence_id"] == 100 + s]
        src = rows[rows["side"] == "source"].sort_values(["step", "position"])
        dec = rows[rows["side"] == "decoded"].sort_values(["step", "position"])
        steps = n + 1
        assert len(src) == steps * steps and len(dec) == steps * (steps + 1) // 2
        np.testing.assert_allclose(src["saliency"].to_numpy().reshape(steps, steps), source, atol=1e-6, rtol=0)
        np.testing.assert_allclose(dec["saliency"].to_numpy(), decoded[np.tril_indices(steps)], atol=1e-6, rtol=0)
        assert np.all(np.triu(decoded, 1) == 0)  # a later decoder input never reaches an earlier step
        assert source.max() > 0
        assert dec[dec["position"] == 0]["token"].eq("<eos>").all()


def captum_forward(model, network, ids):
    """The score of one unpadded sentence ``ids`` (1, L) as a function of its embeddings, written
    from the readout's kind without lingscope's batching: Captum's forward function."""
    readout = next(iter(model.readouts(network).values()))
    lengths = torch.tensor([ids.shape[1]])
    if readout.kind in (CLASSES, REGRESSION):
        with torch.no_grad():
            out = model.readout(network, readout.name, model.representation(network, model.embed(ids), lengths))

    def forward(emb):
        n = emb.shape[0]
        if readout.kind in (CLASSES, REGRESSION):
            v = model.readout(network, readout.name, model.representation(network, emb, lengths.expand(n)))
            return v[:, out.argmax()] if readout.kind == CLASSES else v @ (out[0] / out[0].norm())
        if readout.kind == NEXT_TOKEN:
            logits = next_token_logits_of(model, network, readout.name, emb, lengths.expand(n))
        else:
            emb_in = model.embed(decoder_inputs(ids)).detach().expand(n, -1, -1)
            logits = sequence_logits(model, network, readout.name, emb, lengths.expand(n), emb_in)
        return torch.log_softmax(logits, -1)[:, torch.arange(ids.shape[1]), ids[0]].sum(1)

    return forward


def run_attribution(model, network, path, files, tmp_path):
    from captum.attr import InputXGradient, IntegratedGradients, Saliency

    root = files["root"]
    out = tmp_path / "attribution.parquet"
    assert attribution.main(["--model", str(path), "--pathway", network, "--sentences", str(root / "sentences.parquet"),
                             "--vocab", str(root / "vocab.parquet"), "--split", "val", "--sample", "0",
                             "--ig-steps", "16", "--batch-sentences", "5", "--batch-rows", "24", "--device", "cpu",
                             "--out", str(out)]) == 0
    table = pq.read_table(out).to_pandas()
    assert len(table) == int(files["n_words"].sum())
    flat, offsets = layout(files, model)
    k = 0
    for s, n in enumerate(files["n_words"]):  # the reference: Captum, one sentence at a time, no padding
        ids = torch.from_numpy(flat[offsets[s]:offsets[s + 1]])[None]
        forward = captum_forward(model, network, ids)
        emb = model.embed(ids).detach()
        sal = Saliency(forward).attribute(emb, abs=True)[0, :n]
        gxi = InputXGradient(forward).attribute(emb)[0, :n]
        ig, delta = IntegratedGradients(forward).attribute(emb, baselines=torch.zeros_like(emb), n_steps=16,
                                                          return_convergence_delta=True)
        rows = table.iloc[k:k + n]
        assert (rows["sentence_id"] == 100 + s).all() and rows["position"].tolist() == list(range(1, n + 1))
        for column, ref in (("saliency_norm", sal.norm(dim=-1)), ("gxi_norm", gxi.norm(dim=-1)),
                            ("gxi_total", gxi.sum(-1)), ("ig_norm", ig[0, :n].norm(dim=-1)),
                            ("ig_total", ig[0, :n].sum(-1))):
            np.testing.assert_allclose(rows[column].to_numpy(), ref.detach().double().numpy(), atol=1e-5, rtol=1e-5,
                                       err_msg=column)
        words = emb[0, :n].double().numpy()  # variance salience: the definition, in numpy
        np.testing.assert_allclose(rows["variance_norm"].to_numpy(),
                                   np.linalg.norm((words - words.mean(0)) ** 2, axis=1), atol=1e-5, rtol=1e-5)
        # the gap is a difference of scores: float32 rounding scales with them
        scale = max(1.0, abs(rows["score"].iloc[0]))
        np.testing.assert_allclose(rows["completeness_gap"].iloc[0], float(delta), atol=1e-5 * scale)
        np.testing.assert_allclose(rows["score"].iloc[0], float(forward(emb).detach()), atol=1e-5, rtol=1e-5)
        k += n
    assert table["saliency_norm"].max() > 0 and table["ig_norm"].max() > 0


RUNNERS = {"activations": run_activations, "attribution": run_attribution, "omission": run_omission, "retrieval_examples": run_retrieval_examples,
           "saliency": run_saliency, "representations": run_representations,
           "input_optimisation": run_input_optimisation, "step_saliency": run_step_saliency}


def test_every_method_has_a_runner_and_the_matrix_has_its_blanks():
    assert set(RUNNERS) == set(catalog.METHODS)
    blank = {(kind, network, method) for kind, network, method in _matrix(applies=False)}
    # The image retrieval is blank for the networks without an image readout, the sentiment
    # figures' methods for those without the sentiment readout, step saliency for those without a
    # sequence readout; attribution, omission and input optimisation (hidden units) run on all.
    caption = {(k, n) for k in ("imaginet", "sum", "lm") for n in ("textual", "visual") if k != "lm" or n == "textual"}
    others = caption | {(k, "sentiment") for k in ("rnn", "lstm", "bilstm")}
    assert blank == {(k, "textual", "retrieval_examples") for k in ("imaginet", "sum", "lm")} | \
        {(k, "sentiment", "retrieval_examples") for k in ("rnn", "lstm", "bilstm")} | \
        {(k, n, m) for k, n in caption for m in ("saliency", "representations")} | \
        {("autoencoder", "encoder", m) for m in ("retrieval_examples", "saliency", "representations")} | \
        {(k, n, "step_saliency") for k, n in others}


def _matrix(applies: bool = True):
    for kind in catalog.KINDS.values():
        for network in kind.networks:
            for method in catalog.METHODS.values():
                if method.applies(network) == applies:
                    yield kind.name, network.name, method.name


METHOD_CASES = [pytest.param(kind, network, variant, method, id=f"{case.id}-{method}")
                for case in CASES for kind, network, variant in [case.values]
                for method in sorted(catalog.METHODS)
                if catalog.METHODS[method].applies(entry_of(kind, variant).network(network))]


@pytest.mark.parametrize("kind,network,variant,method", METHOD_CASES)
def test_every_method_on_every_network(kind, network, variant, method, files, tmp_path):
    path = tmp_path / "model.pt"
    model = saved(kind, variant, path)
    RUNNERS[method](model, network, path, files, tmp_path)


def test_a_network_without_a_cell_gets_the_generic_path(files):
    """The dispatch, checked directly: hiding the cell sends the dump and omission through the
    padded generic paths, and they give the fast paths' results."""
    model = tiny("imaginet", {})
    hidden = WithoutCell(model)
    ids = torch.from_numpy(files["flat"])
    states, reps = run_network(hidden, "visual", ids, files["offsets"], 4)
    generic_states, generic_reps = padded_run(model, "visual", ids, files["offsets"], 4)
    torch.testing.assert_close(states, generic_states)
    torch.testing.assert_close(reps, generic_reps)
    fast_states, fast_reps = run_network(model, "visual", ids, files["offsets"], 4)
    torch.testing.assert_close(fast_states, states, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast_reps, reps, atol=1e-5, rtol=1e-5)


def test_a_cell_that_breaks_the_contract_is_refused(files, tmp_path):
    """The fast paths trust the cell; a family whose cell does not step as its states() is
    stopped by the methods before any table is written."""
    from lingscope.models.runs import verify_cell

    model = tiny("imaginet", {})

    class Lying(WithoutCell):
        def cell(self, network):
            return self._model.cell("textual")  # the other network's GRU: right sizes, wrong weights

    ids = torch.from_numpy(files["flat"])
    verify_cell(model, "visual", ids, files["offsets"])  # the real cell passes
    with pytest.raises(ValueError, match="the fast paths would be wrong|cannot be used"):
        verify_cell(Lying(model), "visual", ids, files["offsets"])
