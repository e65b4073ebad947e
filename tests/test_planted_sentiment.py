"""The effects Li et al. (2016) report, planted by the synthetic treebank's grammar, asserted on
the default config's trained models (the `make run` job): the LSTM and the BiLSTM, and the RNN
for omission.

The grammar (lingscope.synth.sst) gives every adjective and verb a polarity, negation its
markedness asymmetry ("not good" -> -0.475, "not bad" -> +0.15, near neutral) and makes "hate"
the only polar word of "i hate the movie ." and "i hate the movie i saw last night .". If a
check fails, find out whether the model or the grammar is at fault before changing either.

What the model learned and what first-derivative saliency shows are tested separately, because
they can disagree. Omission (the change of the predicted class's score when the word is left
out) asks the model directly; it finds "hate" decisive on all three default models, and did
on the l2-free LSTM whose saliency missed it. Saliency is
a local derivative: an LSTM that has saturated its gates on a strongly polar verb can give that
verb a *smaller* gradient than a neutral noun (of the grammar's 28 polar verb forms, "hate" had
the smallest mean ``sigma(i) tanh'(g)`` at the verb's step in an l2-free LSTM;
docs/li2016.md#what-the-default-run-finds, "Saliency saturates"). So the saliency tests check
the paper's two examples on the default seed and, less fragile than two sentences, the share
of 168 "i VERB the NOUN ." sentences whose polar verb is the most salient word (chance 0.2;
measured .94 LSTM and .96 BiLSTM on the default config).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from lingscope.encoding.ids import UNK_ID, load_vocab
from lingscope.methods.saliency import class_readout, saliency_batch
from lingscope.models.checkpoint import load_model, load_network
from lingscope.synth.sst import NEGATIVE_ADJ, POSITIVE_ADJ, VERBS

R = "results"
MODELS = ("lstm", "bilstm")
# The margins over the majority baseline the trained models must clear (the default run has
# about +0.66 fine and +0.44 coarse for both; see docs/li2016.md#what-the-default-run-finds).
FINE_MARGIN, COARSE_MARGIN = 0.3, 0.25
# The share of "i VERB the NOUN ." sentences whose polar verb must be the most salient word
# (chance is 1/5; the default run measures about .95, other seeds .6-.7).
VERB_SHARE = 0.5
OBJECT_NOUNS = ("movie", "film", "plot", "acting", "story", "script")


@pytest.fixture(scope="module")
def accuracy(default_run) -> pl.DataFrame:
    return pl.read_parquet(default_run / R / "analysis/li2016/accuracy.parquet")


@pytest.mark.parametrize("model", MODELS)
def test_the_models_beat_the_majority_class(accuracy, model):
    for granularity, margin in (("fine", FINE_MARGIN), ("coarse", COARSE_MARGIN)):
        row = accuracy.filter((pl.col("model") == model) & (pl.col("split") == "test")
                              & (pl.col("granularity") == granularity)).row(0, named=True)
        assert row["accuracy"] > row["majority"] + margin, row
        assert row["ci_low"] > row["majority"], row  # not by chance either
    assert accuracy["data"].str.contains("synthetic").all()


def _representations(default_run, model: str, texts: list[str]) -> np.ndarray:
    vocab = load_vocab(default_run / R / "data/sst/vocab.parquet")
    net, _ = load_model(default_run / R / f"models/{model}/model.pt")
    out = []
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([[vocab.get(w, UNK_ID) for w in text.split()]])
            out.append(net.representation("sentiment", net.embed(ids), torch.tensor([ids.shape[1]]))[0].numpy())
    reps = np.stack(out)
    return reps / np.linalg.norm(reps, axis=1, keepdims=True)


@pytest.mark.parametrize("model", MODELS)
def test_not_good_joins_the_negatives_and_not_bad_is_not_among_the_positives(default_run, model):
    """Fig. 2's finding, in representation space: the grammar's positive and negative adjectives
    (those in the vocabulary) are the reference phrases."""
    vocab = load_vocab(default_run / R / "data/sst/vocab.parquet")
    positive = [w for w in POSITIVE_ADJ if w in vocab]
    negative = [w for w in NEGATIVE_ADJ if w in vocab]
    reference = _representations(default_run, model, positive + negative)
    is_positive = np.array([True] * len(positive) + [False] * len(negative))
    not_good, not_bad = _representations(default_run, model, ["not good", "not bad"])
    cos = reference @ not_good
    assert cos[~is_positive].mean() > cos[is_positive].mean()
    nearest = np.argsort(-(reference @ not_bad))[:10]
    assert is_positive[nearest].sum() < 5  # the positives are not its neighbourhood


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("example", [0, 1])
def test_hate_is_the_most_salient_word(default_run, model, example):
    """Figs. 5-6: in "i hate the movie ." and "i hate the movie i saw last night ." the only polar
    word is "hate"; its saliency norm is the largest of the sentence."""
    table = pl.read_parquet(default_run / R / "analysis/li2016/li_saliency_examples.parquet")
    sentence = table.filter((pl.col("model") == model) & (pl.col("sentence_id") == example)).sort("position")
    assert sentence["token"][1] == "hate"
    assert sentence["token"][int(sentence["saliency_norm"].arg_max())] == "hate", \
        dict(zip(sentence["token"], sentence["saliency_norm"].round(3)))


def _class_scores(net, network: str, vocab: dict, sentences: list[list[str]]) -> torch.Tensor:
    """The class scores (before softmax) of equal-length sentences, through the model contract."""
    ids = torch.tensor([[vocab.get(w, UNK_ID) for w in words] for words in sentences])
    lengths = torch.full((len(sentences),), ids.shape[1])
    with torch.no_grad():
        return net.readout(network, class_readout(net, network), net.representation(network, net.embed(ids), lengths))


@pytest.mark.parametrize("model", ("rnn", "lstm", "bilstm"))
def test_leaving_out_hate_changes_the_predicted_score_most(default_run, model):
    """What the model learned, asked by omission: the score of the predicted class changes more
    when "hate" is deleted than when any other word of the example sentences is."""
    vocab = load_vocab(default_run / R / "data/sst/vocab.parquet")
    net, _ = load_network(default_run / R / f"models/{model}/model.pt", "sentiment")
    for text in ("i hate the movie .", "i hate the movie i saw last night ."):
        words = text.split()
        full = _class_scores(net, "sentiment", vocab, [words])[0]
        c = int(full.argmax())
        omitted = _class_scores(net, "sentiment", vocab, [words[:i] + words[i + 1:] for i in range(len(words))])
        change = (full[c] - omitted[:, c]).abs()
        assert words[int(change.argmax())] == "hate", dict(zip(words, change.numpy().round(2)))


@pytest.mark.parametrize("model", MODELS)
def test_the_polar_verb_is_the_most_salient_word_of_most_simple_sentences(default_run, model):
    """The two-example test above on a population: every polar verb form of the grammar (base and
    past) with each of six object nouns, "i VERB the NOUN .", batched through saliency_batch."""
    vocab = load_vocab(default_run / R / "data/sst/vocab.parquet")
    net, _ = load_network(default_run / R / f"models/{model}/model.pt", "sentiment")
    forms = [form for base, (past, polarity) in VERBS.items() if polarity for form in (base, past)]
    sentences = [f"i {form} the {noun} .".split() for form in forms for noun in OBJECT_NOUNS]
    assert all(w in vocab for words in sentences for w in words)
    ids = torch.tensor([[vocab[w] for w in words] for words in sentences])
    gradient, _, _ = saliency_batch(net, "sentiment", class_readout(net, "sentiment"), ids,
                                    torch.full((len(sentences),), 5))
    top = gradient.norm(dim=2).argmax(dim=1)
    share = float((top == 1).float().mean())
    assert share >= VERB_SHARE, (share, [forms[i // len(OBJECT_NOUNS)] for i in np.flatnonzero(top.numpy() != 1)])
