"""IMAGINET/SUM/LM: GRU arithmetic, the family's own properties, objectives, batches, evaluation ranks.

The contract itself (every method on every network, fast paths against the generic ones) is
tested as a matrix in test_contract.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lingscope.encoding.captions import Sentences, length_batches
from lingscope.encoding.csr import encode_sentences, pad, to_csr
from lingscope.methods.omission import omission_scores
from lingscope.models.checkpoint import load_model, save_model
from lingscope.models.readouts import next_token_logits
from lingscope.models.cells import CLIP, STEEP, AuthorsGRU, make_gru
from lingscope.models.imaginet import Architecture, CaptionModel
from lingscope.training.evaluate import ranks_of_true_target
from lingscope.training.objectives import Batch, loss

VOCAB = 30


def _model(kind: str, gru: str = "fused", seed: int = 0, dim: int = 12) -> CaptionModel:
    torch.manual_seed(seed)
    return CaptionModel(Architecture(kind, VOCAB, 7, 9, dim, gru)).eval()


def test_authors_gru_matches_its_equations_by_hand():
    torch.manual_seed(3)
    layer = AuthorsGRU(2, 3)
    x = torch.randn(1, 2, 2)
    out, h_last = layer(x)
    h = np.zeros(3)
    w_ih, w_hh = layer.weight_ih.detach().numpy(), layer.weight_hh.detach().numpy()
    b_ih, b_hh = layer.bias_ih.detach().numpy(), layer.bias_hh.detach().numpy()
    sig = lambda v: 1 / (1 + np.exp(-STEEP * v))  # noqa: E731
    for t in range(2):
        xi, hh = w_ih @ x[0, t].numpy() + b_ih, w_hh @ h + b_hh
        r, z = sig(xi[:3] + hh[:3]), sig(xi[3:6] + hh[3:6])
        n = np.clip(xi[6:] + r * hh[6:], 0, CLIP)
        h = (1 - z) * n + z * h
        np.testing.assert_allclose(out[0, t].detach().numpy(), h, atol=1e-6)
    np.testing.assert_allclose(h_last[0, 0].detach().numpy(), h, atol=1e-6)
    # Orthogonal initialisation, as in the authors' code: each gate block has W W^T = I.
    block = layer.weight_hh.detach()[:3]
    torch.testing.assert_close(block @ block.T, torch.eye(3), atol=1e-5, rtol=0)


def test_authors_candidate_is_clipped_relu():
    layer = AuthorsGRU(1, 1)
    with torch.no_grad():
        for p in layer.parameters():
            p.zero_()
        layer.weight_ih[2, 0] = 100.0  # candidate input weight: pre-activation 100 x
        layer.bias_ih[1] = -100.0  # z gate shut, so h = candidate
    _, h = layer(torch.tensor([[[1.0]]]))
    assert h.item() == pytest.approx(CLIP)
    _, h = layer(torch.tensor([[[-1.0]]]))
    assert h.item() == 0.0


def test_make_gru_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown GRU kind 'lstm'"):
        make_gru("lstm", 2, 2)


def _h_end(model, network, ids):
    ids = torch.tensor(ids)
    return model.representation(network, model.embed(ids), torch.tensor([ids.shape[1]] * ids.shape[0]))


def test_omission_of_a_one_word_sentence_compares_with_eos_alone():
    model = _model("imaginet")
    words = np.array([5])
    score = omission_scores(model, "textual", *to_csr(words, np.array([1])), np.array([1]), "cpu")
    h_full = _h_end(model, "textual", [[5, 2]])
    h_eos = _h_end(model, "textual", [[2]])
    expected = 1 - torch.nn.functional.cosine_similarity(h_full, h_eos).item()
    assert score[0] == pytest.approx(expected, abs=1e-6)


def test_sum_omission_is_the_removed_embedding():
    model = _model("sum")
    words = np.array([4, 9, 4])
    scores = omission_scores(model, "visual", *to_csr(words, np.array([3])), np.array([3]), "cpu")
    emb = model.embedding_matrix.detach()
    total = emb[[4, 9, 4, 2]].sum(0)
    for i, w in enumerate(words):
        cos = torch.nn.functional.cosine_similarity(total, total - emb[w], dim=0).item()
        assert scores[i] == pytest.approx(1 - cos, abs=1e-6)
    assert scores[0] == pytest.approx(scores[2], abs=1e-7)  # same word, same score


def test_textual_loss_predicts_every_token_including_the_first_and_eos():
    model = _model("lm")
    ids = torch.tensor([[5, 6, 2]])
    lengths = torch.tensor([3])
    logits = next_token_logits(model, "textual", "vocabulary", ids, lengths)
    # The first word is predicted from the zero state: only the output bias speaks.
    torch.testing.assert_close(logits[0, 0], model.textual_out.bias)
    (objective,) = model.objectives()
    value = loss(model, objective, Batch(ids, lengths, 3))
    logp = torch.log_softmax(logits[0], -1)
    assert value.item() == pytest.approx(-(logp[0, 5] + logp[1, 6] + logp[2, 2]).item() / 3, abs=1e-6)


def test_visual_loss_is_the_cosine_distance_of_the_image_readout():
    model = _model("imaginet")
    ids, lengths = torch.tensor([[5, 6, 2], [7, 2, 0]]), torch.tensor([3, 2])
    images = torch.randn(2, 7)
    textual, visual = model.objectives()
    assert (textual.weight, visual.weight) == pytest.approx((0.1, 0.9))
    pred = model.visual_out(model.visual(model.embedding(ids))[0][[0, 1], [2, 1]])
    expected = (1 - torch.nn.functional.cosine_similarity(pred, images, dim=1)).mean()
    assert loss(model, visual, Batch(ids, lengths, 5, {"image": images})).item() == pytest.approx(expected.item(), abs=1e-6)
    both = {"textual": torch.tensor(2.0), "visual": torch.tensor(0.5)}
    assert model.combine(both).item() == pytest.approx(0.1 * 2.0 + 0.9 * 0.5)
    assert model.combine({"visual": torch.tensor(0.5)}).item() == 0.5  # a sampled batch


def test_padding_does_not_change_h_end_or_the_loss():
    model = _model("imaginet")
    ids = torch.tensor([[5, 6, 2, 0, 0], [7, 8, 9, 10, 2]])
    lengths = torch.tensor([3, 5])
    alone = model.representation("visual", model.embed(ids[:1, :3]), lengths[:1])
    torch.testing.assert_close(model.representation("visual", model.embed(ids), lengths)[:1], alone)
    (textual, _) = model.objectives()
    both = loss(model, textual, Batch(ids, lengths, 8))
    logits = next_token_logits(model, "textual", "vocabulary", ids, lengths)
    ref = torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids.flatten(), ignore_index=0)
    assert both.item() == pytest.approx(ref.item())


def test_length_batches_cover_every_caption_once_with_equal_lengths():
    lengths = np.array([3, 5, 3, 5, 5, 4, 3, 4])
    batches = length_batches(lengths, 2, np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(8))
    assert sum(len(set(lengths[b])) > 1 for b in batches) <= 2  # at most the boundary batches mix
    again = length_batches(lengths, 2, np.random.default_rng(0))
    assert all((a == b).all() for a, b in zip(batches, again))


def test_sentences_padded_and_eos():
    flat, offsets = encode_sentences([["A", "dog"], ["cat"]], {"a": 3, "dog": 4, "cat": 5})
    caps = Sentences(np.array([1, 2]), np.array([7, 7]), flat, offsets, [["A", "dog"], ["cat"]])
    ids, lengths = caps.padded(np.array([1, 0]))
    assert ids.tolist() == [[5, 2, 0], [3, 4, 2]]
    assert lengths.tolist() == [2, 3]
    # without an end symbol (a model that reads none), and the same layout from ids
    flat, offsets = encode_sentences([["A", "dog"], ["cat"]], {"a": 3, "dog": 4, "cat": 5}, eos=False)
    assert flat.tolist() == [3, 4, 5] and offsets.tolist() == [0, 2, 3]
    assert to_csr(np.array([3, 4, 5]), np.array([2, 1]))[0].tolist() == [3, 4, 2, 5, 2]
    assert pad(*to_csr(np.array([3, 4, 5]), np.array([2, 1])))[0].tolist() == [[3, 4, 2], [5, 2, 0]]


def test_ranks_of_true_target():
    feats = torch.nn.functional.normalize(torch.tensor([[1.0, 0], [0, 1.0], [1.0, 1.0]]), dim=1)
    pred = torch.nn.functional.normalize(torch.tensor([[1.0, 0.1], [1.0, 0.0]]), dim=1)
    ranks = ranks_of_true_target(pred, feats, np.array([10, 11, 12]), np.array([10, 11]))
    assert ranks.tolist() == [1, 3]
    assert math.isclose(float((ranks <= 1).mean()), 0.5)


def test_saved_model_bytes_depend_only_on_the_model(tmp_path):
    """Two saves of the same weights, under different names, are byte-identical (the
    atomic temporary name must not leak into the archive), and load back exactly."""
    model = _model("imaginet", seed=3)
    save_model(tmp_path / "a.pt", model, {"name": "imaginet"})
    (tmp_path / "other").mkdir()
    save_model(tmp_path / "other" / "model.pt", model, {"name": "imaginet"})
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "other" / "model.pt").read_bytes()
    loaded, extra = load_model(tmp_path / "a.pt")
    assert extra["name"] == "imaginet"
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
