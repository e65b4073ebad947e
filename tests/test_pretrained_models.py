"""Networks trained outside lingscope (``kind: pretrained``, docs/extending.md#a-model-you-trained) through the
real workflow: a 2-layer LSTM language model in the layout of PyTorch's word-language-model
example (ids in first-appearance order, no padding id) and a GRU classifier with key names of
its own, both defined and briefly trained in plain torch (tests/plain_torch_models.py imports
nothing from lingscope), saved as a state_dict and a vocabulary, and named in a config exactly
as the issue's entry.

Every method that applies must run on them, and what lingscope computes must equal a direct
computation on the plain modules, to 1e-5: every layer's states, omission, saliency,
integrated gradients (Captum on the plain module), perplexity and accuracy.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
import torch
import yaml
from plain_torch_models import train_classifier, train_lm
from workflow_runs import REPO, SUMMARY, planned_jobs, snakemake, synth, worked_example


R = "results"
TOL = 1e-5


@pytest.fixture(scope="module")
def pretrained_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("pretrained")
    default = yaml.safe_load((REPO / "config.yaml").read_text())
    synth("wmt", work / "raw/wmt", default)
    synth("sst", work / "raw/sst", default)
    # Running text, one sentence per line, as a user's corpus comes (PTB's shape: train, valid, test).
    import gzip
    train_lines = gzip.decompress((work / "raw/wmt/train.txt.gz").read_bytes()).decode().splitlines()[:3000]
    text = work / "ptb"
    text.mkdir()
    (text / "train.txt").write_text("\n".join(train_lines) + "\n", encoding="utf-8")
    for split in ("val", "test"):
        lines = (work / f"raw/wmt/{split}.txt").read_text().splitlines()[:150]
        (text / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "lingscope.data.sst", "--trees-dir", str(work / "raw/sst"),
                    "--sentences", str(work / "sst.parquet"), "--phrases", str(work / "phrases.parquet")],
                   check=True, capture_output=True)
    sst = pl.read_parquet(work / "sst.parquet").filter(pl.col("label") != 2)
    reviews = sst.select(sentence=pl.col("tokens").list.join(" "),
                         label=pl.when(pl.col("label") > 2).then(pl.lit("pos")).otherwise(pl.lit("neg")),
                         split=pl.col("split"))
    reviews.write_csv(work / "reviews.tsv", separator="\t", quote_style="never")

    models = work / "models"
    train_lm(text / "train.txt", models)
    train_rows = [(s.split(), label) for s, label, split in reviews.iter_rows() if split == "train"]
    train_classifier(train_rows, ["pos", "neg"], models)  # not the corpus's sorted order: matched by name

    config = {
        "corpora": {
            "ptb": {"format": "text", "files": {s: str(text / f"{s}.txt") for s in ("train", "val", "test")},
                    "tokenize": "whitespace"},
            "reviews": {"format": "labelled", "path": str(work / "reviews.tsv"), "text": "sentence",
                        "label": "label", "tokenize": "whitespace"},
        },
        "models": {name: None for name in default["models"]} | {
            # The entry, as written.
            "my_lm": {"kind": "pretrained", "corpus": "ptb", "checkpoint": str(models / "my_lm.pt"),
                      "vocabulary": str(models / "vocab.txt"),
                      "architecture": {"cell": "lstm", "layers": 2, "bidirectional": False, "head": "next_token"},
                      "keys": {"embedding": "encoder.weight", "rnn": "rnn", "head": "decoder"},
                      "specials": {"unk": "<unk>", "eos": "<eos>"}},
            "my_gru": {"kind": "pretrained", "corpus": "reviews", "checkpoint": str(models / "my_gru.pt"),
                       "vocabulary": str(models / "gru_vocab.txt"), "labels": str(models / "labels.txt"),
                       "architecture": {"cell": "gru", "layers": 1, "head": "classes"},
                       "keys": {"embedding": "embed.weight", "rnn": "gru", "head": "out"},
                       "specials": {"unk": "<unk>", "eos": ""}},
        },
        "attribution": {"sample": 40, "split": "val"},
        "activations": {"split": "val"},
        "units": {"probe": {"c_grid": [1.0], "control": False}},
        "parse": {"splits": {"ptb": ["val"], "reviews": ["val"]}},
        # Every input optimisation method the networks' readouts allow, on fewer units and steps.
        "input_optimisation": {"other_methods": ["crp", "gbl"], "per_draw": 16, "hidden_per_draw": 8,
                               "gbl": {"steps": 10, "max_epochs": 3}},
    }
    # ... and the worked example of a family of one's own, as docs/extending.md gives it.
    (work / "family").mkdir()
    (work / "family/my_family.py").write_text(worked_example())
    config["models"]["my_gru_lm"] = {"kind": "custom", "module": "my_family", "corpus": "ptb", "embedding_dim": 16,
                                     "hidden_dim": 24, "max_epochs": 1}
    path = work / "pretrained.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    snakemake(work, "--configfile", str(path), "--cores", "2", python_path=str(work / "family"))
    return work



# --- the direct computation, on the plain modules ---------------------------------------------------


class Plain:
    """A plain module with its vocabulary, and the direct computations on one sentence."""

    def __init__(self, work, name: str):
        import plain_torch_models as plain
        self.name = name
        models = work / "models"
        state = torch.load(models / f"{name}.pt")
        if name == "my_lm":
            V, E = state["encoder.weight"].shape
            self.module = plain.WordLM(V, E, state["rnn.weight_hh_l0"].shape[1], 2)
            self.vocab = (models / "vocab.txt").read_text(encoding="utf-8").splitlines()
        else:
            V, E = state["embed.weight"].shape
            H, C = state["gru.weight_hh_l0"].shape[1], state["out.weight"].shape[0]
            self.module = plain.GRUClassifier(V, E, H, C)
            self.vocab = (models / "gru_vocab.txt").read_text(encoding="utf-8").splitlines()
            self.labels = (models / "labels.txt").read_text(encoding="utf-8").splitlines()
        self.module.load_state_dict(state)
        self.module.eval()
        self.index = {w: i for i, w in enumerate(self.vocab)}

    def ids(self, words: list[str]) -> torch.Tensor:
        ids = [self.index.get(w, self.index["<unk>"]) for w in words]
        return torch.tensor(ids + ([self.index["<eos>"]] if self.name == "my_lm" else []))

    def embed(self, words):
        m = self.module
        return (m.encoder if self.name == "my_lm" else m.embed)(self.ids(words))

    def layers(self, emb: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's states over one sentence's embeddings (time, dim)."""
        if self.name == "my_gru":
            return [self.module.gru(emb[None])[0][0]]
        rnn = self.module.rnn
        bottom = torch.nn.LSTM(rnn.input_size, rnn.hidden_size, 1)
        bottom.load_state_dict({k: v for k, v in rnn.state_dict().items() if k.endswith("_l0")})
        return [bottom(emb[:, None])[0][:, 0], rnn(emb[:, None])[0][:, 0]]

    def representation(self, words) -> torch.Tensor:
        return self.layers(self.embed(words))[-1][-1]

    def score(self, emb: torch.Tensor, words) -> torch.Tensor:
        """The attributed score of embeddings ``emb`` (points, time, dim): the sentence's
        log-likelihood (the first token predicted from the zero state), or the score of the class
        predicted at the real input."""
        m = self.module
        if self.name == "my_lm":
            out = m.rnn(emb.transpose(0, 1))[0].transpose(0, 1)
            states = torch.cat([out.new_zeros(out.shape[0], 1, out.shape[2]), out[:, :-1]], 1)
            log_p = torch.log_softmax(m.decoder(states), -1)
            return log_p.gather(2, self.ids(words).expand(emb.shape[0], -1)[..., None]).sum((1, 2))
        with torch.no_grad():
            c = int(m.out(m.gru(self.embed(words)[None])[1][-1]).argmax())
        return m.out(m.gru(emb)[1][-1])[:, c]


def _sentences(run, corpus: str, split: str) -> dict[int, list[str]]:
    table = pl.read_parquet(run / R / f"data/{corpus}/sentences.parquet").filter(pl.col("split") == split)
    return dict(zip(table["sentence_id"].to_list(), table["tokens"].to_list()))


CORPUS = {"my_lm": ("ptb", "textual"), "my_gru": ("reviews", "classifier")}


@pytest.mark.parametrize("name", ["my_lm", "my_gru"])
def test_every_layers_activations_equal_the_plain_module(pretrained_run, name):
    plain = Plain(pretrained_run, name)
    corpus, pathway = CORPUS[name]
    sentences = _sentences(pretrained_run, corpus, "val")
    store = pretrained_run / R / f"activations/tokens/model={name}/pathway={pathway}"
    layers = sorted(p.name for p in store.iterdir() if p.name.startswith("layer="))
    assert layers == [f"layer={k}" for k in range(2 if name == "my_lm" else 1)]
    for k, layer in enumerate(layers):
        table = pl.read_parquet(store / layer).sort("sentence_id", "position")
        ids = table["sentence_id"].unique().sort().to_list()[:25]
        worst = 0.0
        with torch.no_grad():
            for sid in ids:
                rows = table.filter(pl.col("sentence_id") == sid)
                direct = plain.layers(plain.embed(sentences[sid]))[k].numpy()
                assert rows.height == direct.shape[0]  # <eos> too where the network reads it
                worst = max(worst, float(np.abs(np.stack(rows["activation"].to_numpy()) - direct).max()))
        assert worst < TOL, (layer, worst)


@pytest.mark.parametrize("name", ["my_lm", "my_gru"])
def test_omission_equals_the_plain_module(pretrained_run, name):
    plain = Plain(pretrained_run, name)
    corpus, pathway = CORPUS[name]
    sentences = _sentences(pretrained_run, corpus, "val")
    table = pl.read_parquet(pretrained_run / R / f"omission/{name}.{pathway}.parquet")
    ids = table["sentence_id"].unique().sort().to_list()[:30]
    got, want = [], []
    with torch.no_grad():
        for sid in ids:
            words = sentences[sid]
            full = plain.representation(words)
            rows = table.filter(pl.col("sentence_id") == sid).sort("position")
            for position, score in zip(rows["position"].to_list(), rows["omission"].to_list()):
                without = words[:position - 1] + words[position:]
                direct = 1 - torch.cosine_similarity(full, plain.representation(without), 0)
                got.append(score)
                want.append(float(direct))
    got, want = np.array(got), np.array(want)
    assert np.abs(got - want).max() < TOL
    # Not a comparison of zeros: the language model's scores are small (its state after <eos> is
    # nearly the same for every sentence, as a model trained on a stream learns), so the two must
    # also rank the words alike.
    assert want.max() > 1e-5 and np.corrcoef(got, want)[0, 1] > 0.99


@pytest.mark.parametrize("name", ["my_lm", "my_gru"])
def test_saliency_and_integrated_gradients_equal_the_plain_module(pretrained_run, name):
    from captum.attr import IntegratedGradients
    plain = Plain(pretrained_run, name)
    corpus, pathway = CORPUS[name]
    sentences = _sentences(pretrained_run, corpus, "val")
    table = pl.read_parquet(pretrained_run / R / f"attribution/{name}.{pathway}.parquet")
    for sid in table["sentence_id"].unique().sort().to_list()[:8]:
        words = sentences[sid]
        rows = table.filter(pl.col("sentence_id") == sid).sort("position")
        emb = plain.embed(words).detach()[None].requires_grad_(True)
        score = plain.score(emb, words)
        (grad,) = torch.autograd.grad(score.sum(), emb)
        n = len(words)  # the words' rows (an end symbol is attributed, not written)
        np.testing.assert_allclose(rows["saliency_norm"].to_numpy(), grad[0, :n].norm(dim=1).numpy(), atol=TOL,
                                   rtol=1e-5)
        assert float(rows["score"][0]) == pytest.approx(float(score.detach()), abs=1e-4)
        ig = IntegratedGradients(lambda e: plain.score(e, words)).attribute(
            emb, baselines=torch.zeros_like(emb), n_steps=50, method="gausslegendre")
        np.testing.assert_allclose(rows["ig_norm"].to_numpy(), ig[0, :n].norm(dim=1).detach().numpy(), atol=TOL,
                                   rtol=1e-4)
        np.testing.assert_allclose(rows["ig_total"].to_numpy(), ig[0, :n].sum(1).detach().numpy(), atol=TOL,
                                   rtol=1e-4)


def test_perplexity_equals_the_plain_module(pretrained_run):
    plain = Plain(pretrained_run, "my_lm")
    evaluation = pl.read_parquet(pretrained_run / R / "models/my_lm/evaluation.parquet")
    for split in ("val", "test"):
        total, n = 0.0, 0
        with torch.no_grad():
            for words in _sentences(pretrained_run, "ptb", split).values():
                emb = plain.embed(words)[None]
                total -= float(plain.score(emb, words))
                n += len(words) + 1
        row = evaluation.filter((pl.col("split") == split) & (pl.col("metric") == "perplexity")).row(0, named=True)
        assert row["n"] == n
        assert row["value"] == pytest.approx(math.exp(total / n), rel=1e-5)
        SUMMARY.append(f"pretrained: the plain LSTM LM's {split} perplexity {row['value']:.2f} (n {n}), equal to the "
                       "plain module's")


def test_accuracy_equals_the_plain_module(pretrained_run):
    plain = Plain(pretrained_run, "my_gru")
    table = pl.read_parquet(pretrained_run / R / "data/reviews/sentences.parquet").filter(pl.col("split") == "test")
    names = dict(pl.read_parquet(pretrained_run / R / "data/reviews/labels.parquet").select("label_id", "label")
                 .iter_rows())
    with torch.no_grad():
        predicted = [int(plain.module([plain.ids(w)]).argmax()) for w in table["tokens"].to_list()]
    gold = [plain.labels.index(names[k]) for k in table["label"].to_list()]
    direct = float(np.mean(np.array(predicted) == np.array(gold)))
    evaluation = pl.read_parquet(pretrained_run / R / "models/my_gru/evaluation.parquet")
    row = evaluation.filter((pl.col("split") == "test") & (pl.col("metric") == "accuracy")).row(0, named=True)
    assert row["n"] == table.height and row["value"] == pytest.approx(direct, abs=1e-12)
    SUMMARY.append(f"pretrained: the plain GRU classifier's test accuracy {direct:.3f} (n {table.height}), equal to "
                   "the plain module's")


def test_the_check_job_reads_both_networks_and_no_training_runs(pretrained_run):
    for name, labels in (("my_lm", []), ("my_gru", ["neg", "pos"])):
        report = yaml.safe_load((pretrained_run / R / f"models/{name}/check.json").read_text())
        assert report["name"] == name and report["parameters"] > 0
        assert report["labels"] == labels  # the head's rows follow the corpus's label ids, matched by name
        assert not (pretrained_run / R / f"models/{name}/metrics.parquet").exists()
    vocab = pl.read_parquet(pretrained_run / R / "models/my_lm/vocab.parquet")
    user = (pretrained_run / "models/vocab.txt").read_text(encoding="utf-8").splitlines()
    assert vocab["token"].to_list() == ["<pad>", "<unk>", "<eos>", *[t for t in user if t not in ("<unk>", "<eos>")]]


def test_every_applicable_method_runs_on_them(pretrained_run):
    matrix = pl.read_parquet(pretrained_run / R / "analysis/across_papers/matrix.parquet")
    ours = matrix.filter(pl.col("model").is_in(["my_lm", "my_gru"]))
    ran = {(m, method) for m, method, status in ours.select("model", "method", "status").iter_rows() if status == "ran"}
    blank = ours.filter(pl.col("status") != "ran")
    # Only what needs a readout the networks lack (an image, a decoded sequence) is left out.
    assert blank["reason"].str.starts_with("needs a readout of ").all(), blank
    methods = set(matrix["method"])
    for name in ("my_lm", "my_gru"):
        for method in methods - set(blank.filter(pl.col("model") == name)["method"]):
            assert (name, method) in ran, (name, method)
    assert {("my_gru", m) for m in methods if m.startswith("saliency")} <= ran
    io = pl.read_parquet(pretrained_run / R / "input_optimisation/my_lm.textual.gbl.parquet")
    assert set(io["readout"]) == {"vocabulary", "representation"}
    agreement = pl.read_parquet(pretrained_run / R / "analysis/across_papers/agreement.parquet")
    assert {"my_lm", "my_gru"} <= set(agreement["model"])


def test_the_worked_example_family_runs_every_method_and_editing_it_reruns_its_jobs(pretrained_run):
    lines = worked_example().strip().splitlines()
    assert len(lines) <= 100  # the bound on the worked example
    matrix = pl.read_parquet(pretrained_run / R / "analysis/across_papers/matrix.parquet")
    ours = matrix.filter(pl.col("model") == "my_gru_lm")
    assert ours.filter(pl.col("status") == "ran").height >= 8
    assert ours.filter(pl.col("status") != "ran")["reason"].str.starts_with("needs a readout of ").all()
    evaluation = pl.read_parquet(pretrained_run / R / "models/my_gru_lm/evaluation.parquet")
    assert "perplexity" in evaluation["metric"].to_list()
    # The module is a code input: an edit reruns its training and what reads the model, no more.
    module = pretrained_run / "family/my_family.py"
    module.write_text(module.read_text() + "\n# edited\n")
    proc = snakemake(pretrained_run, "--configfile", str(pretrained_run / "pretrained.yaml"), "-n", "--cores", "2",
                     python_path=str(pretrained_run / "family"))
    jobs = planned_jobs(proc)
    assert jobs.get("pretrained") is None, jobs  # the checked networks' jobs stay as they are
    for rule in ("train", "evaluate", "activations", "omission", "attribution"):
        assert jobs.get(rule) == 1, (rule, jobs)  # the family's network's, only
