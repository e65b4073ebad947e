"""Input optimisation reads an n-gram as the network reads the sentence of its words.

The autoencoder's encoder reads a sentence's words reversed and then ``<eos>``
(``Model.needs_end``): every input-optimisation path (crp and the gradient methods) must append
the fixed ``<eos>`` after the n optimised words, so the score it records for ``w1 .. w5`` is the
ordinary sentence path's (``Model.representation`` of ``w1 .. w5 <eos>``, the ids laid out by
:mod:`lingscope.encoding.csr`). Networks that need no end symbol (IMAGINET, the LM) read the n
words alone, as Poerner et al. fed them. Tiny random models."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch

from lingscope.core import catalog
from lingscope.core.catalog import CaptionModelSettings
from lingscope.encoding.csr import pad, to_csr
from lingscope.encoding.ids import EOS_ID, PAD_ID
from lingscope.methods.input_optimisation import (GRADIENT_METHODS, REPRESENTATION, Schedule, corpus_search,
                                                  needs_end, optimise, unit_activations)
from lingscope.models import autoencoder, imaginet

VOCAB = 9  # 3 specials + 6 words
UNITS = np.array([0, 3, 9, 17, 30])  # of the 2 x 16 = 32 representation units (h then c)


def _all_ngrams() -> np.ndarray:
    return np.array(list(itertools.product(range(3, VOCAB), repeat=5)))


@pytest.fixture(scope="module", params=[True, False], ids=["reversed", "forward"])
def encoder(request):
    settings = dataclasses.replace(catalog.settings_of("autoencoder")(), embedding_dim=8, hidden_dim=16,
                                   reverse_source=request.param)
    torch.manual_seed(0)
    model = autoencoder.create(settings, VOCAB, {})
    with torch.no_grad():  # spread the weights, so that the units differ clearly between inputs
        for p in model.parameters():
            p.add_(0.5 * torch.randn_like(p))
        model.embedding.weight[PAD_ID] = 0.0
    return model.eval()


@torch.no_grad()
def sentence_units(model, grams: np.ndarray) -> np.ndarray:
    """``(len(grams), representation units)``: the ordinary sentence path on the sentences
    ``w1 .. w5`` (laid out with the model's end symbol, padded, read by ``Model.representation``)."""
    flat, offsets = to_csr(grams.ravel(), np.full(len(grams), grams.shape[1]), eos=model.reads_eos)
    ids, lengths = (torch.from_numpy(a) for a in pad(flat, offsets))
    return model.representation("encoder", model.embed(ids), lengths).numpy()


def test_the_encoder_needs_its_end_symbol_and_the_caption_networks_do_not(encoder):
    assert needs_end(encoder, "encoder") and encoder.reads_eos
    torch.manual_seed(0)
    lm = imaginet.create(CaptionModelSettings(kind="lm", embedding_dim=8, hidden_dim=16), VOCAB, {})
    assert not needs_end(lm, "textual")


def test_crp_scores_each_ngram_as_the_sentence_of_its_words(encoder):
    """The best 5-gram's recorded activation is the sentence path's value of that 5-gram, and it
    is the best over the n-grams by that path."""
    grams = _all_ngrams()[::5]
    ids, best, seen = corpus_search(encoder, "encoder", REPRESENTATION, UNITS, grams, batch_size=300)
    assert seen == len(grams)
    every = sentence_units(encoder, grams)[:, UNITS]
    np.testing.assert_allclose(best, every.max(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(best, sentence_units(encoder, ids)[np.arange(len(UNITS)), UNITS],
                               rtol=1e-5, atol=1e-5)
    assert np.array_equal(ids, grams[every.argmax(0)])


@pytest.mark.parametrize("method", GRADIENT_METHODS)
def test_a_gradient_methods_ngram_is_scored_as_the_sentence_of_its_words(encoder, method):
    """The recorded activation of the kept n-gram (n words: the end symbol is appended, not
    optimised) is the sentence path's value of it; rows still do not interact."""
    schedule = Schedule(steps=5, patience=2, max_epochs=4)
    found = optimise(encoder, "encoder", REPRESENTATION, UNITS, method, schedule, samples=4, seed=3,
                     learning_rate=0.05)
    assert found.ids.shape == (len(UNITS), 5) and (found.ids >= 3).all()  # real words only, no <eos>
    np.testing.assert_allclose(found.activation, sentence_units(encoder, found.ids)[np.arange(len(UNITS)), UNITS],
                               rtol=1e-5, atol=1e-5)
    alone = optimise(encoder, "encoder", REPRESENTATION, UNITS[1:2], method, schedule, samples=4, seed=3,
                     learning_rate=0.05)
    assert np.array_equal(alone.ids, found.ids[1:2])


def test_without_the_end_symbol_the_encoder_would_read_another_input(encoder):
    """The old input (the five words, no <eos>) gives other values for n-grams that are not
    palindromes: the reversing encoder read w4 w3 w2 w1 and took w5 as its <eos> step."""
    grams = np.array([[3, 4, 5, 6, 7], [8, 3, 3, 5, 4], [5, 5, 6, 7, 3]])
    with torch.no_grad():
        now = unit_activations(encoder, "encoder", REPRESENTATION, encoder.embed(torch.from_numpy(grams))).numpy()
        emb = encoder.embed(torch.from_numpy(grams))
        old = encoder.representation("encoder", emb, torch.full((len(grams),), 5)).numpy()
    np.testing.assert_allclose(now, sentence_units(encoder, grams), rtol=1e-5, atol=1e-5)
    assert (np.abs(now - old).max(1) > 1e-3).all()
    # crp's optimum under the old reading is another 5-gram for some unit, or another value.
    grams = _all_ngrams()[::5]
    ids, best, _ = corpus_search(encoder, "encoder", REPRESENTATION, UNITS, grams)
    with torch.no_grad():
        old_all = encoder.representation("encoder", encoder.embed(torch.from_numpy(grams)),
                                         torch.full((len(grams),), 5)).numpy()[:, UNITS]
    assert not np.allclose(best, old_all.max(0), atol=1e-4)


@pytest.fixture(scope="module", params=[("imaginet", "visual", "image"), ("lm", "textual", "vocabulary")],
                ids=["visual-image", "lm-vocabulary"])
def caption(request):
    kind, network, readout = request.param
    torch.manual_seed(0)
    model = imaginet.create(CaptionModelSettings(kind=kind, embedding_dim=8, hidden_dim=16), VOCAB, {"image": 12})
    units = np.array([0, 5, 7, 11]) if readout == "image" else np.array([1, 4, 6, 8])
    return model.eval(), network, readout, units


@torch.no_grad()
def five_words_alone(model, network: str, readout: str, grams: np.ndarray) -> np.ndarray:
    """The unit directly: the network's last state (or representation) after w1 .. w5, no <eos>."""
    emb = model.embed(torch.from_numpy(grams))
    lengths = torch.full((len(grams),), grams.shape[1])
    if readout == REPRESENTATION:
        return model.representation(network, emb, lengths).numpy()
    if model.readouts(network)[readout].kind == "next_token":
        return model.readout(network, readout, model.states(network, emb, lengths)[:, -1]).numpy()
    return model.readout(network, readout, model.representation(network, emb, lengths)).numpy()


@pytest.mark.parametrize("which", ["readout", REPRESENTATION])
def test_the_caption_networks_read_the_five_words_alone(caption, which):
    """No end symbol where the network needs none: crp's and a gradient method's scores are the
    last state's after w1 .. w5 exactly, as before the end symbol came in."""
    model, network, readout, units = caption
    readout = readout if which == "readout" else REPRESENTATION
    grams = _all_ngrams()[::11]
    assert EOS_ID not in grams
    direct = five_words_alone(model, network, readout, grams)
    with torch.no_grad():
        via = unit_activations(model, network, readout, model.embed(torch.from_numpy(grams))).numpy()
    assert np.array_equal(via, direct)
    ids, best, _ = corpus_search(model, network, readout, units, grams, batch_size=len(grams))
    assert np.array_equal(best, direct[:, units].max(0)) and np.array_equal(ids, grams[direct[:, units].argmax(0)])
    found = optimise(model, network, readout, units, "gbl", Schedule(5, 2, 3), samples=4, seed=3)
    np.testing.assert_allclose(found.activation,
                               five_words_alone(model, network, readout, found.ids)[np.arange(len(units)), units],
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("layer", [0, -2])
def test_the_hidden_units_of_a_lower_layer(layer):
    """input_optimisation.layer: on a 2-layer LSTM language model the hidden units are the bottom
    layer's state after the last word (a plain nn.LSTM of the bottom layer's weights), by crp and
    by a gradient method; -1 keeps the representation (the top layer's)."""
    from torch import nn

    from lingscope.methods.input_optimisation import hidden_target_model

    settings = dataclasses.replace(catalog.settings_of("lm")(), embedding_dim=8, hidden_dim=16, cell="lstm", layers=2)
    torch.manual_seed(0)
    lm = imaginet.create(settings, VOCAB, {}).eval()
    assert hidden_target_model(lm, "textual", -1) is lm
    hidden = hidden_target_model(lm, "textual", layer)
    bottom = nn.LSTM(8, 16, batch_first=True)
    bottom.load_state_dict({k.removeprefix("textual."): v for k, v in lm.state_dict().items()
                            if k.startswith("textual.") and k.endswith("_l0")})
    grams = _all_ngrams()[::7]
    units = np.array([0, 5, 11])
    ids, best, _ = corpus_search(hidden, "textual", REPRESENTATION, units, grams, batch_size=300)
    with torch.no_grad():
        every = bottom(lm.embed(torch.from_numpy(grams)))[0][:, -1].numpy()[:, units]
    np.testing.assert_allclose(best, every.max(0), rtol=1e-5, atol=1e-5)
    found = optimise(hidden, "textual", REPRESENTATION, units, "smx", Schedule(3, 1, 2), seed=1)
    with torch.no_grad():
        direct = bottom(lm.embed(torch.from_numpy(found.ids)))[0][:, -1].numpy()[np.arange(len(units)), units]
    np.testing.assert_allclose(found.activation, direct, rtol=1e-5, atol=1e-5)
    with pytest.raises(Exception, match="input_optimisation.layer: is 2, but network 'textual' has 2 layer"):
        hidden_target_model(lm, "textual", 2)
