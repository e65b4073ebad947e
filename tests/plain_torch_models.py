"""Two models written and trained the way a researcher would, in plain PyTorch, importing nothing
from lingscope: what ``kind: pretrained`` must read (tests/test_pretrained_models.py).

- :class:`WordLM` is PyTorch's word-language-model example's ``RNNModel`` (an embedding
  ``encoder``, a 2-layer ``rnn``, a linear ``decoder``; sequence-first), trained on lines with
  ``<eos>`` appended. Its vocabulary is the example's ``Dictionary``: ids in order of first
  appearance, no padding id; here words seen once are ``<unk>`` (as in PTB's files).
- :class:`GRUClassifier` embeds, runs a one-layer batch-first GRU over packed sentences and
  classifies the final state; no end symbol; its own key names.

Both train for a few steps on the CPU (a real, briefly trained state, not random weights).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_sequence


class WordLM(nn.Module):
    def __init__(self, ntoken: int, ninp: int, nhid: int, nlayers: int):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers)
        self.decoder = nn.Linear(nhid, ntoken)
        # the example's init_weights
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

    def forward(self, ids: torch.Tensor, hidden=None):
        output, hidden = self.rnn(self.encoder(ids), hidden)
        return self.decoder(output), hidden


class GRUClassifier(nn.Module):
    def __init__(self, ntoken: int, ninp: int, nhid: int, nclass: int):
        super().__init__()
        self.embed = nn.Embedding(ntoken, ninp)
        self.gru = nn.GRU(ninp, nhid, batch_first=True)
        self.out = nn.Linear(nhid, nclass)

    def final_state(self, sentences: list[torch.Tensor]) -> torch.Tensor:
        packed = pack_sequence([self.embed(s) for s in sentences], enforce_sorted=False)
        return self.gru(packed)[1][-1]

    def forward(self, sentences: list[torch.Tensor]) -> torch.Tensor:
        return self.out(self.final_state(sentences))


def read_lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def first_appearance_vocabulary(lines: list[list[str]], specials: tuple[str, ...]) -> list[str]:
    """Tokens in order of first appearance; a word seen once is ``<unk>`` (which takes the place
    of the first such word); ``specials`` are added where they first appear."""
    counts = Counter(w for line in lines for w in line)
    out: dict[str, None] = {}
    for line in lines:
        for w in line:
            out.setdefault(w if counts[w] > 1 or w in specials else "<unk>")
    for s in specials:
        out.setdefault(s)
    return list(out)


def ids(words: list[str], index: dict[str, int]) -> torch.Tensor:
    return torch.tensor([index.get(w, index["<unk>"]) for w in words])


def train_lm(train: Path, out_dir: Path, steps: int = 25, seed: int = 0) -> tuple[WordLM, list[str]]:
    """The example's training, shortened (Adam instead of its SGD at lr 20): lines with <eos> appended, one
    stream, bptt 20, batch 8; 25 steps, before its states saturate towards the unigram prediction."""
    torch.manual_seed(seed)
    lines = [line + ["<eos>"] for line in read_lines(train)]
    vocab = first_appearance_vocabulary(lines, ("<eos>", "<unk>"))
    index = {w: i for i, w in enumerate(vocab)}
    stream = torch.cat([ids(line, index) for line in lines])
    model = WordLM(len(vocab), 24, 32, 2)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch, bptt = 8, 20
    data = stream[: len(stream) // batch * batch].view(batch, -1).t().contiguous()
    for step in range(steps):
        i = (step * bptt) % (data.shape[0] - bptt - 1)
        logits, _ = model(data[i:i + bptt])
        loss = nn.functional.cross_entropy(logits.view(-1, len(vocab)), data[i + 1:i + 1 + bptt].reshape(-1))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out_dir / "my_lm.pt")
    (out_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return model, vocab


def train_classifier(rows: list[tuple[list[str], str]], labels: list[str], out_dir: Path, steps: int = 80,
                     seed: int = 0) -> tuple[GRUClassifier, list[str]]:
    """A GRU classifier on (tokens, label name) rows; label i of ``labels`` is class i."""
    torch.manual_seed(seed)
    vocab = first_appearance_vocabulary([t for t, _ in rows], ("<unk>",))
    index = {w: i for i, w in enumerate(vocab)}
    model = GRUClassifier(len(vocab), 16, 24, len(labels))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    target = torch.tensor([labels.index(label) for _, label in rows])
    sentences = [ids(t, index) for t, _ in rows]
    for step in range(steps):
        pick = torch.randint(len(rows), (32,))
        loss = nn.functional.cross_entropy(model([sentences[int(k)] for k in pick]), target[pick])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out_dir / "my_gru.pt")
    (out_dir / "gru_vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (out_dir / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    return model, vocab
