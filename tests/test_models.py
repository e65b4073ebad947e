"""Models, GRU arithmetic, segment runs, omission exactness, evaluation ranks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lingscope.evaluate import ranks_of_true_image
from lingscope.models.data import Captions, encode_captions, length_batches
from lingscope.models.gru import CLIP, STEEP, AuthorsGRU, make_gru
from lingscope.models.imaginet import Architecture, CaptionModel, load_model, save_model
from lingscope.models.runs import all_states
from lingscope.models.stream import csr_with_eos
from lingscope.omission import naive_omission, omission_scores

VOCAB = 30


def _model(kind: str, gru: str = "fused", seed: int = 0, dim: int = 12) -> CaptionModel:
    torch.manual_seed(seed)
    return CaptionModel(Architecture(kind, VOCAB, 7, 9, dim, gru)).eval()


def _sentences(seed: int = 0, n: int = 40) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    # Lengths 1..14, words drawn from the real vocabulary range (ids 3.. are words).
    return [rng.integers(3, VOCAB, size=rng.integers(1, 15)) for _ in range(n)]


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


@pytest.mark.parametrize("kind,pathway,gru", [
    ("imaginet", "textual", "fused"), ("imaginet", "visual", "fused"), ("imaginet", "visual", "authors"),
    ("sum", "visual", "fused"), ("lm", "textual", "fused"),
])
def test_all_states_match_a_plain_forward_run(kind, pathway, gru):
    model = _model(kind, gru)
    sents = _sentences(1, 25)
    flat, offsets = csr_with_eos(np.concatenate(sents), np.array([len(s) for s in sents]))
    states = all_states(model, pathway, torch.from_numpy(flat), offsets, batch_rows=7)
    for k in range(len(sents)):
        ref = model.states(pathway, torch.from_numpy(flat[offsets[k] : offsets[k + 1]])[None])[0]
        torch.testing.assert_close(states[offsets[k] : offsets[k + 1]], ref, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kind,pathway,gru", [
    ("imaginet", "textual", "fused"), ("imaginet", "visual", "fused"), ("imaginet", "textual", "authors"),
    ("imaginet", "visual", "authors"), ("sum", "visual", "fused"), ("sum", "textual", "fused"), ("lm", "textual", "fused"),
])
def test_omission_equals_naive_recomputation(kind, pathway, gru):
    """The fast path (prefix reuse, suffix batches) agrees with deleting each word and
    rerunning from scratch, to 1e-5, including one-word sentences and small batches."""
    model = _model(kind, gru, seed=2)
    sents = _sentences(2, 60)
    flat, offsets = csr_with_eos(np.concatenate(sents), np.array([len(s) for s in sents]))
    fast = omission_scores(model, pathway, flat, offsets, "cpu", batch_rows=16)
    naive = np.concatenate(naive_omission(model, pathway, sents, "cpu"))
    assert fast.shape == naive.shape == (sum(len(s) for s in sents),)
    np.testing.assert_allclose(fast, naive, atol=1e-5, rtol=0)
    assert fast.max() > 1e-3  # not trivially zero


def test_omission_of_a_one_word_sentence_compares_with_eos_alone():
    model = _model("imaginet")
    words = np.array([5])
    score = omission_scores(model, "textual", *csr_with_eos(words, np.array([1])), "cpu")
    h_full = model.h_end("textual", torch.tensor([[5, 2]]), torch.tensor([2]))
    h_eos = model.h_end("textual", torch.tensor([[2]]), torch.tensor([1]))
    expected = 1 - torch.nn.functional.cosine_similarity(h_full, h_eos).item()
    assert score[0] == pytest.approx(expected, abs=1e-6)


def test_sum_omission_is_the_removed_embedding():
    model = _model("sum")
    words = np.array([4, 9, 4])
    scores = omission_scores(model, "visual", *csr_with_eos(words, np.array([3])), "cpu")
    emb = model.embedding.weight.detach()
    total = emb[[4, 9, 4, 2]].sum(0)
    for i, w in enumerate(words):
        cos = torch.nn.functional.cosine_similarity(total, total - emb[w], dim=0).item()
        assert scores[i] == pytest.approx(1 - cos, abs=1e-6)
    assert scores[0] == pytest.approx(scores[2], abs=1e-7)  # same word, same score


def test_textual_loss_predicts_every_token_including_the_first_and_eos():
    model = _model("lm")
    ids = torch.tensor([[5, 6, 2]])
    logits = model.textual_logits(model.states("textual", ids))
    # The first word is predicted from the zero state: only the output bias speaks.
    torch.testing.assert_close(logits[0, 0], model.textual_out.bias)
    loss = model.losses(ids, torch.tensor([3]), None)["textual"]
    logp = torch.log_softmax(logits[0], -1)
    assert loss.item() == pytest.approx(-(logp[0, 5] + logp[1, 6] + logp[2, 2]).item() / 3, abs=1e-6)


def test_padding_does_not_change_h_end_or_the_loss():
    model = _model("imaginet")
    ids = torch.tensor([[5, 6, 2, 0, 0], [7, 8, 9, 10, 2]])
    lengths = torch.tensor([3, 5])
    alone = model.h_end("visual", ids[:1, :3], lengths[:1])
    torch.testing.assert_close(model.h_end("visual", ids, lengths)[:1], alone)
    images = torch.randn(2, 7)
    both = model.losses(ids, lengths, images)["textual"]
    ref = torch.nn.functional.cross_entropy(model.textual_logits(model.states("textual", ids)).flatten(0, 1), ids.flatten(), ignore_index=0)
    assert both.item() == pytest.approx(ref.item())


def test_length_batches_cover_every_caption_once_with_equal_lengths():
    lengths = np.array([3, 5, 3, 5, 5, 4, 3, 4])
    batches = length_batches(lengths, 2, np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(8))
    assert sum(len(set(lengths[b])) > 1 for b in batches) <= 2  # at most the boundary batches mix
    again = length_batches(lengths, 2, np.random.default_rng(0))
    assert all((a == b).all() for a, b in zip(batches, again))


def test_captions_padded_and_eos():
    flat, offsets = encode_captions([["A", "dog"], ["cat"]], {"a": 3, "dog": 4, "cat": 5})
    caps = Captions(np.array([1, 2]), np.array([7, 7]), flat, offsets, [["A", "dog"], ["cat"]])
    ids, lengths = caps.padded(np.array([1, 0]))
    assert ids.tolist() == [[5, 2, 0], [3, 4, 2]]
    assert lengths.tolist() == [2, 3]


def test_ranks_of_true_image():
    feats = torch.nn.functional.normalize(torch.tensor([[1.0, 0], [0, 1.0], [1.0, 1.0]]), dim=1)
    pred = torch.nn.functional.normalize(torch.tensor([[1.0, 0.1], [1.0, 0.0]]), dim=1)
    ranks = ranks_of_true_image(pred, feats, np.array([10, 11, 12]), np.array([10, 11]))
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
