"""Input optimisation (Poerner et al. 2018): unit draws, distinct n-grams, corpus search against
brute force, batched optimisation against one unit at a time, and gbl against the exhaustive
optimum of a tiny vocabulary. Tiny random models; the planted-truth checks on the default run
come with the workflow rules."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import pyarrow as pa

from lingscope.core.catalog import CaptionModelSettings
from lingscope.core.io import write_parquet
from lingscope.core.schemas import SENTENCES
from lingscope.encoding.csr import offsets_of, to_csr
from lingscope.methods.input_optimisation import (GRADIENT_METHODS, CorpusNgrams, Schedule, corpus_search,
                                                  distinct_ngrams, draw_units, optimise, unit_activations)
from lingscope.models.imaginet import create

VOCAB = 9  # 3 specials + 6 words: 6^5 = 7,776 possible 5-grams, few enough to score them all


@pytest.fixture(scope="module", params=[("imaginet", "visual", "image"), ("lm", "textual", "vocabulary")],
                ids=["visual-image", "lm-vocabulary"])
def target(request):
    kind, network, readout = request.param
    torch.manual_seed(0)
    model = create(CaptionModelSettings(kind=kind, embedding_dim=8, hidden_dim=16), VOCAB, {"image": 12}).eval()
    units = np.array([0, 5, 7, 11]) if readout == "image" else np.array([1, 4, 6, 8])
    return model, network, readout, units


def _all_ngrams() -> np.ndarray:
    return np.array(list(itertools.product(range(3, VOCAB), repeat=5)))


def test_units_are_two_seeded_draws_of_distinct_indices():
    units = draw_units(4096)
    rng = np.random.RandomState(123)
    first, second = rng.choice(1024, 80, replace=False), rng.choice(1024, 80, replace=False)
    assert np.array_equal(units, np.concatenate([first, second]))
    assert len(set(units[:80])) == 80 and units.max() < 1024
    small = draw_units(12)
    assert len(small) == 24 and set(small[:12]) == set(range(12))  # fewer units: each draw takes them all


def test_distinct_ngrams_are_the_windows_within_sentences():
    sentences = [[3, 4, 5, 6, 7, 8], [3, 4, 5, 6, 7], [9, 9], [3, 4, 5, 6, 7, 8, 3]]
    flat = np.concatenate(sentences)
    grams = distinct_ngrams(flat, offsets_of(np.array([len(s) for s in sentences])))
    expected = {tuple(s[i:i + 5]) for s in sentences for i in range(len(s) - 4)}
    assert {tuple(g) for g in grams} == expected and len(grams) == len(expected)  # no window crosses a sentence


def test_corpus_ngrams_on_disk_are_the_distinct_ngrams_of_the_chosen_splits(tmp_path):
    """The bounded-memory path (chunks to Parquet, DuckDB's DISTINCT with a spill folder) gives
    the in-memory reference's n-grams in the same order, in batches of the size asked for; words
    outside the vocabulary are <unk>, and other splits are left out."""
    rng = np.random.default_rng(4)
    words = [f"w{i}" for i in range(6)]
    vocab = {t: i for i, t in enumerate(["<pad>", "<unk>", "<eos>", *words[:5]])}  # w5 is unknown
    sents = [[words[k] for k in rng.integers(0, 6, rng.integers(1, 12))] for _ in range(300)]
    splits = ["train"] * 200 + ["val"] * 60 + ["test"] * 40
    write_parquet(pa.table({"corpus": ["coco"] * 300, "split": splits, "sentence_id": list(range(300)),
                            "image_id": list(range(300)), "label": pa.nulls(300, pa.int8()),
                            "text": [" ".join(t) for t in sents], "tokens": sents}),
                  tmp_path / "sentences.parquet", SENTENCES, "sentences")
    chosen = [s for s, split in zip(sents, splits) if split != "val"]
    ids = [vocab.get(w, 1) for s in chosen for w in s]
    expected = distinct_ngrams(*to_csr(np.array(ids), np.array([len(s) for s in chosen]), eos=False))
    store = CorpusNgrams(tmp_path / "sentences.parquet", ("train", "test"), vocab, 5, 17, tmp_path, memory_mb=64)
    batches = list(store.batches(100))
    assert all(len(b) == 100 for b in batches[:-1]) and 0 < len(batches[-1]) <= 100
    assert np.array_equal(np.concatenate(batches), expected)
    assert store.windows == sum(max(len(s) - 4, 0) for s in chosen)


def test_corpus_search_finds_each_units_best_ngram(target):
    model, network, readout, UNITS = target
    grams = _all_ngrams()[::7]
    ids, best, seen = corpus_search(model, network, readout, UNITS, grams, batch_size=100)
    assert seen == len(grams)
    with torch.no_grad():
        every = unit_activations(model, network, readout, model.embed(torch.as_tensor(grams)))[:, UNITS].numpy()
    np.testing.assert_allclose(best, every.max(0), rtol=1e-5, atol=1e-6)
    assert np.array_equal(ids, grams[every.argmax(0)])


@pytest.mark.parametrize("method", GRADIENT_METHODS)
def test_batched_units_follow_the_path_each_would_alone(target, method):
    """Rows do not interact: optimising the units together gives each unit's own result, stop
    epoch included, and the reported activation is the kept n-gram's through the model."""
    model, network, readout, UNITS = target
    schedule = Schedule(steps=5, patience=2, max_epochs=6)
    together = optimise(model, network, readout, UNITS, method, schedule, samples=8, seed=3)
    alone = [optimise(model, network, readout, UNITS[i:i + 1], method, schedule, samples=8, seed=3)
             for i in range(len(UNITS))]
    assert np.array_equal(together.ids, np.concatenate([a.ids for a in alone]))
    assert np.array_equal(together.stopped_epoch, np.concatenate([a.stopped_epoch for a in alone]))
    np.testing.assert_allclose(together.activation, np.concatenate([a.activation for a in alone]), atol=1e-6)
    with torch.no_grad():
        again = unit_activations(model, network, readout, model.embed(torch.as_tensor(together.ids)))
    np.testing.assert_allclose(together.activation, again[np.arange(len(UNITS)), UNITS].numpy(), atol=1e-6)
    assert (together.ids >= 3).all()  # real words only, never <pad>, <unk> or <eos>
    assert all(p.requires_grad for p in model.parameters())  # the model is left as it was
    if method == "emb":
        assert together.cosine is not None and ((together.cosine > -1) & (together.cosine <= 1)).all()


def test_gbl_reaches_the_exhaustive_optimum_of_a_tiny_vocabulary(target):
    model, network, readout, UNITS = target
    _, optimum, _ = corpus_search(model, network, readout, UNITS, _all_ngrams(), batch_size=2000)
    found = optimise(model, network, readout, UNITS, "gbl", Schedule(200, 5, 20), samples=64, seed=1,
                     learning_rate=1e-2)
    assert (found.activation <= optimum + 1e-5).all()
    assert (found.activation >= optimum - 0.05 * np.abs(optimum)).sum() >= 3, (found.activation, optimum)


def test_a_unit_outside_the_readout_is_refused(target):
    model, network, readout, _ = target
    with pytest.raises(ValueError, match=rf"units \[40\] are not units of readout '{readout}'"):
        optimise(model, network, readout, np.array([0, 40]), "gbl", Schedule(1, 1, 1))
    with pytest.raises(ValueError, match="not units of readout"):
        corpus_search(model, network, readout, np.array([-1]), _all_ngrams())
