"""The check job of a network trained outside lingscope (``python -m lingscope.models.pretrained``):
each bad input the issue names gets an error that names the file, the key or line, and what
was expected, exits non-zero and leaves no output behind; a good checkpoint in the
word-language-model layout becomes a lingscope model whose outputs are the plain module's."""

from __future__ import annotations

import subprocess
import sys

import torch
from plain_torch_models import GRUClassifier, WordLM

from lingscope.models.checkpoint import load_model
from lingscope.models.readouts import next_token_logits
from lingscope.models.pretrained import ABSENT_LOGIT

VOCAB = ["the", "<unk>", "cat", "sat", "<eos>", "on", "mat", "Mat"]  # specials mid-list, a cased pair


def _lm(tmp_path, vocab=VOCAB, layers=2):
    torch.manual_seed(0)
    model = WordLM(len(vocab), 6, 5, layers).eval()
    torch.save(model.state_dict(), tmp_path / "lm.pt")
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return model


def _check(tmp_path, *flags, checkpoint="lm.pt", vocabulary="vocab.txt"):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lingscope.models.pretrained", "--name", "my_lm", "--checkpoint",
           str(tmp_path / checkpoint), "--vocabulary", str(tmp_path / vocabulary), "--corpus", "ptb",
           "--cell", "lstm", "--layers", "2", "--out-model", str(out / "model.pt"), "--out-vocab",
           str(out / "vocab.parquet"), "--out-report", str(out / "check.json"), *flags]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return proc, out


def _fails(proc, out, *needles):
    assert proc.returncode == 2, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr
    assert not out.exists() or not any(out.iterdir())  # nothing half-written


def test_a_word_language_model_checkpoint_reads_as_the_plain_module(tmp_path):
    plain = _lm(tmp_path)
    proc, out = _check(tmp_path)
    assert proc.returncode == 0, proc.stderr
    model, extra = load_model(out / "model.pt")
    assert model.networks == ("textual",) and model.layers("textual") == 2 and model.reads_eos
    assert extra["pretrained"]["parameters"] == sum(p.numel() for p in plain.parameters())
    import pyarrow.parquet as pq
    vocab = pq.read_table(out / "vocab.parquet")
    names = vocab.column("token").to_pylist()
    assert names == ["<pad>", "<unk>", "<eos>", "the", "cat", "sat", "on", "mat", "Mat"]
    assert vocab.schema.metadata[b"lingscope.cased"] == b"true"
    words = ["the", "Mat", "sat", "zebra"]
    user = torch.tensor([VOCAB.index(w) if w in VOCAB else 1 for w in words] + [4])
    ours = torch.tensor([names.index(w) if w in names else 1 for w in words] + [2])
    with torch.no_grad():
        logits = next_token_logits(model, "textual", "vocabulary", ours[None], torch.tensor([5]))[0]
        out_plain = plain.rnn(plain.encoder(user)[:, None])[0][:, 0]
        direct = plain.decoder(torch.cat([out_plain.new_zeros(1, 5), out_plain[:-1]]))
    # every user token's logit at its new id; <pad> can never be predicted
    perm = torch.tensor([VOCAB.index(n) for n in names[1:]])
    assert torch.allclose(logits[:, 1:], direct[:, perm], atol=1e-6)
    assert (logits[:, 0] <= ABSENT_LOGIT + 10).all()
    assert torch.allclose(torch.log_softmax(logits, -1)[:, 1:], torch.log_softmax(direct, -1)[:, perm], atol=1e-6)


def test_a_missing_key_is_named(tmp_path):
    _lm(tmp_path)
    state = torch.load(tmp_path / "lm.pt")
    del state["rnn.bias_hh_l1"]
    torch.save(state, tmp_path / "lm.pt")
    _fails(*_check(tmp_path), "lm.pt", "missing keys ['rnn.bias_hh_l1']")


def test_an_unexpected_key_is_named(tmp_path):
    _lm(tmp_path)
    state = torch.load(tmp_path / "lm.pt")
    state["rnn.weight_hr_l0"] = torch.zeros(3, 3)
    torch.save(state, tmp_path / "lm.pt")
    _fails(*_check(tmp_path), "unexpected keys ['rnn.weight_hr_l0']")


def test_a_one_layer_checkpoint_read_as_two_layers_names_the_missing_layer(tmp_path):
    _lm(tmp_path, layers=1)
    _fails(*_check(tmp_path), "missing keys ['rnn.weight_ih_l1', 'rnn.weight_hh_l1', 'rnn.bias_ih_l1', "
                              "'rnn.bias_hh_l1']")


def test_a_wrong_shape_is_named(tmp_path):
    _lm(tmp_path)
    proc, out = _check(tmp_path, "--cell", "gru")  # an LSTM's weights read as a GRU's
    _fails(proc, out, "rnn.weight_ih_l0 has shape [20, 6], the architecture needs [15, 6]")


def test_a_vocabulary_of_the_wrong_length_is_named(tmp_path):
    _lm(tmp_path)
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB[:-1]) + "\n", encoding="utf-8")
    _fails(*_check(tmp_path), "vocab.txt", "7 tokens, but the embedding 'encoder.weight'", "has 8 rows")


def test_a_pickled_module_is_refused_with_how_to_save_a_state_dict(tmp_path):
    model = _lm(tmp_path)
    torch.save(model, tmp_path / "lm.pt")
    _fails(*_check(tmp_path), "lm.pt", "pickled Python object", "torch.save(model.state_dict(), PATH)")


def test_a_training_checkpoint_that_is_not_a_bare_state_dict_is_named(tmp_path):
    model = _lm(tmp_path)
    torch.save({"model": model.state_dict(), "epoch": 3}, tmp_path / "lm.pt")
    _fails(*_check(tmp_path), "key 'model'", "not a bare state_dict")


def test_a_special_token_missing_from_the_vocabulary_is_named(tmp_path):
    _lm(tmp_path)
    _fails(*_check(tmp_path, "--eos", "</s>"), "vocab.txt", "specials.eos", "'</s>' is not in the vocabulary")
    _fails(*_check(tmp_path, "--unk", "UNK"), "specials.unk", "'UNK' is not in the vocabulary")


def test_a_repeated_or_blank_vocabulary_line_is_named(tmp_path):
    _lm(tmp_path)
    (tmp_path / "vocab.txt").write_text("\n".join([*VOCAB[:-1], "cat"]) + "\n", encoding="utf-8")
    _fails(*_check(tmp_path), "line 8", "'cat' repeats line 3")
    (tmp_path / "vocab.txt").write_text("\n".join([*VOCAB[:-1], ""]) + "\n", encoding="utf-8")
    _fails(*_check(tmp_path), "line 8", "an empty entry")


def test_a_vocabulary_with_a_bom_and_crlf_reads_as_its_tokens(tmp_path):
    _lm(tmp_path)
    (tmp_path / "vocab.txt").write_bytes(("\ufeff" + "\r\n".join(VOCAB) + "\r\n").encode("utf-8"))
    proc, out = _check(tmp_path)
    assert proc.returncode == 0, proc.stderr
    import pyarrow.parquet as pq
    assert pq.read_table(out / "vocab.parquet").column("token").to_pylist()[3] == "the"


def test_a_missing_checkpoint_is_named(tmp_path):
    _lm(tmp_path)
    _fails(*_check(tmp_path, checkpoint="nope.pt"), "nope.pt", "no such checkpoint file")


def test_a_classes_head_matches_the_corpus_labels_by_name(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    torch.manual_seed(0)
    vocab = ["<unk>", "good", "bad"]
    plain = GRUClassifier(3, 4, 5, 3).eval()
    torch.save(plain.state_dict(), tmp_path / "gru.pt")
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    (tmp_path / "labels.txt").write_text("pos\nneg\nneutral\n")
    pq.write_table(pa.table({"label_id": pa.array([0, 1], pa.int32()), "label": ["neg", "pos"]}),
                   tmp_path / "corpus_labels.parquet")
    flags = ["--head", "classes", "--cell", "gru", "--layers", "1", "--key-embedding", "embed.weight", "--key-rnn",
             "gru", "--key-head", "out", "--eos", "", "--labels", str(tmp_path / "labels.txt")]
    proc, out = _check(tmp_path, *flags, "--corpus-labels", str(tmp_path / "corpus_labels.parquet"),
                       checkpoint="gru.pt")
    assert proc.returncode == 0, proc.stderr
    model, extra = load_model(out / "model.pt")
    assert extra["pretrained"]["labels"] == ["neg", "pos", "neutral"] and not model.reads_eos
    with torch.no_grad():
        ours = model.readout("classifier", "classes", model.representation(
            "classifier", model.embed(torch.tensor([[3, 4]])), torch.tensor([2])))[0]
        direct = plain([torch.tensor([1, 2])])[0]
    assert torch.allclose(ours, direct[[1, 0, 2]], atol=1e-6)
    (tmp_path / "labels.txt").write_text("positive\nnegative\nneutral\n")
    for path in out.iterdir():
        path.unlink()
    _fails(*_check(tmp_path, *flags, "--corpus-labels", str(tmp_path / "corpus_labels.parquet"), checkpoint="gru.pt"),
           "labels.txt", "label 'neg'", "not among the model's")


def test_a_padding_token_of_the_users_becomes_lingscopes_and_keeps_its_logit(tmp_path):
    vocab = ["<pad>", "<unk>", "good", "bad", "<eos>"]
    plain = _lm(tmp_path, vocab=vocab)
    proc, out = _check(tmp_path)
    assert proc.returncode == 0, proc.stderr
    model, _ = load_model(out / "model.pt")
    import pyarrow.parquet as pq
    names = pq.read_table(out / "vocab.parquet").column("token").to_pylist()
    assert names == ["<pad>", "<unk>", "<eos>", "good", "bad"]
    ids = torch.tensor([[3, 4, 2]])
    with torch.no_grad():
        logits = next_token_logits(model, "textual", "vocabulary", ids, torch.tensor([3]))[0]
        out_plain = plain.rnn(plain.encoder(torch.tensor([2, 3, 4]))[:, None])[0][:, 0]
        direct = plain.decoder(torch.cat([out_plain.new_zeros(1, 5), out_plain[:-1]]))
    perm = torch.tensor([vocab.index(n) for n in names])
    assert torch.allclose(logits, direct[:, perm], atol=1e-6)  # the user's <pad> logit included
    assert (model.embedding.weight[0] == 0).all()


def test_a_relu_rnn_reads_as_the_plain_module(tmp_path):
    """The example's RNN_RELU, read with ``cell: rnn_relu``: its states, and its stacked cell's (the fast
    paths'), are the plain module's."""
    torch.manual_seed(0)
    plain = torch.nn.ModuleDict({"encoder": torch.nn.Embedding(len(VOCAB), 6),
                                 "rnn": torch.nn.RNN(6, 5, 2, nonlinearity="relu"),
                                 "decoder": torch.nn.Linear(5, len(VOCAB))}).eval()
    torch.save(plain.state_dict(), tmp_path / "lm.pt")
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    proc, out = _check(tmp_path, "--cell", "rnn_relu")
    assert proc.returncode == 0, proc.stderr
    model, _ = load_model(out / "model.pt")
    cell = model.cell("textual")
    import pyarrow.parquet as pq
    names = pq.read_table(out / "vocab.parquet").column("token").to_pylist()
    ours = torch.tensor([[names.index(w) for w in ("the", "cat", "sat")] + [2]])
    with torch.no_grad():
        states = model.states("textual", model.embed(ours), torch.tensor([4]))[0]
        user = torch.tensor([VOCAB.index(w) for w in ("the", "cat", "sat", "<eos>")])
        direct = plain["rnn"](plain["encoder"](user)[:, None])[0][:, 0]
        state = torch.zeros(1, cell.state_size)
        for t, x in enumerate(model.embed(ours)[0]):
            state = cell.step(cell.project(x[None]), state)
            assert torch.allclose(cell.output(state)[0], direct[t], atol=1e-6)
    assert torch.allclose(states, direct, atol=1e-6)
