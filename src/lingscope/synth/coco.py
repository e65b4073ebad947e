"""Synthetic grounded captions in the format of Karpathy's MSCOCO split (issue 2, §3).

Writes to ``--out-dir``:
- ``dataset_coco.json``: images with ``split``, ``filepath``, ``filename``, ``imgid``,
  ``cocoid``, ``sentids`` and ``sentences`` (``tokens``, ``raw``, ``imgid``, ``sentid``),
  exactly the layout of Karpathy's file;
- ``features.npy``: float32, N_images × dim, row ``imgid``;
- ``gold.conllu``: each caption's gold tree (PTB xpos, ClearNLP/Stanford labels);
- ``planted_weights.json``: the weight of each concept category and the category of every
  word, so analyses can check what a model should find.

An image's feature vector is the weighted sum of fixed random concept vectors plus Gaussian
noise. The planted order (objects > places > compound modifiers > attributes ≈ counts >
actions > function words = 0) is the visual signal that Kádár et al. 2017 (§5.1) found
VISUAL to track.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import atomic_path, write_json, write_text
from lingscope.core.tagmap import ptb_to_upos
from lingscope.synth import coco_grammar as g
from lingscope.synth.settings import PLANTED_WEIGHTS, CocoSynthetic
from lingscope.synth.cli import corpus_parser

DEFAULT_WEIGHTS = {**PLANTED_WEIGHTS, "function": 0.0}  # function words never weigh


def concept_inventory() -> list[tuple[str, str]]:
    """Every concept that can contribute to an image, as (key, category)."""
    concepts = [(f"object:{n}", "object") for n in sorted(g.AGENTS) + sorted(g.THINGS)]
    modifiers = sorted({m for ms in g.MODIFIERS.values() for m in ms} | g.PLACE_COMPOUNDS)
    concepts += [(f"modifier:{m}", "modifier") for m in modifiers]
    attributes = sorted({a for attrs in g.ATTRIBUTES.values() for a in attrs} | set(g.PLACE_ADJECTIVES))
    concepts += [(f"attribute:{a}", "attribute") for a in attributes]
    concepts += [(f"count:{k}", "count") for k in (1, 2, 3, 4)]
    concepts += [(f"action:{a}", "action") for a in sorted(g.ACTIONS)]
    concepts += [(f"place:{p}", "place") for p in sorted(g.PLACES)]
    return concepts


def word_categories() -> dict[str, str]:
    """The planted category of every content word form; all other words are function words."""
    words: dict[str, str] = {}
    for noun in list(g.AGENTS) + list(g.THINGS):
        words[noun] = words[g.plural_of(noun)] = "object"
    for key, category in concept_inventory():
        kind, name = key.split(":")
        if kind in ("modifier", "attribute", "place"):
            words.setdefault(name, category)
    for word in g.COUNT_WORDS.values():
        words[word] = "count"
    words["several"] = "count"
    for base, third, ing, pastpart, *_ in g.ACTIONS.values():
        for form in (base, third, ing, pastpart):
            words.setdefault(form, "action")
    return words


def scene_concepts(scene: g.Scene) -> list[tuple[str, str]]:
    """(concept key, category) of everything visible in a scene."""
    out = []
    for obj in scene.objects():
        out.append((f"object:{obj.noun}", "object"))
        out.append((f"count:{obj.count}", "count"))
        if obj.attribute:
            out.append((f"attribute:{obj.attribute}", "attribute"))
        if obj.modifier:
            out.append((f"modifier:{obj.modifier}", "modifier"))
    out.append((f"action:{scene.action}", "action"))
    out.append((f"place:{scene.place}", "place"))
    if scene.place_adjective:
        cat = "modifier" if scene.place_adjective in g.PLACE_COMPOUNDS else "attribute"
        out.append((f"{cat}:{scene.place_adjective}", cat))
    return out


def assign_splits(rng: np.random.Generator, n_train: int, n_val: int, n_test: int, restval_fraction: float) -> list[str]:
    n_restval = int(round(n_train * restval_fraction))
    splits = ["train"] * (n_train - n_restval) + ["restval"] * n_restval + ["val"] * n_val + ["test"] * n_test
    return [splits[i] for i in rng.permutation(len(splits))]


def image_features(rng: np.random.Generator, scenes: list[g.Scene], dim: int, weights: dict[str, float],
                   noise: float, out: Path, chunk: int = 50_000) -> np.ndarray:
    """Planted features, written chunk by chunk to a .npy memmap so paper scale fits in memory."""
    concepts = concept_inventory()
    index = {key: i for i, (key, _) in enumerate(concepts)}
    vectors = rng.standard_normal((len(concepts), dim)).astype(np.float32) / np.sqrt(dim)
    rows, cols, vals = [], [], []
    for r, scene in enumerate(scenes):
        for key, category in scene_concepts(scene):
            rows.append(r)
            cols.append(index[key])
            vals.append(weights[category])
    mix = sp.csr_matrix((vals, (rows, cols)), shape=(len(scenes), len(concepts)), dtype=np.float32)
    feats = np.lib.format.open_memmap(out, mode="w+", dtype=np.float32, shape=(len(scenes), dim))
    for start in range(0, len(scenes), chunk):
        stop = min(start + chunk, len(scenes))
        block = mix[start:stop] @ vectors
        block += rng.standard_normal(block.shape).astype(np.float32) * np.float32(noise / np.sqrt(dim))
        feats[start:stop] = block
    feats.flush()
    return vectors


def conllu_block(sentid: int, construction: str, rows) -> str:
    lines = [f"# sent_id = {sentid}", f"# text = {' '.join(r[0] for r in rows)}", f"# construction = {construction}"]
    for i, (form, xpos, lemma, head, deprel) in enumerate(rows, start=1):
        lines.append(f"{i}\t{form}\t{lemma}\t{ptb_to_upos(xpos, deprel)}\t{xpos}\t_\t{head}\t{deprel}\t_\t_")
    return "\n".join(lines) + "\n\n"


def generate(out_dir: Path, seed: int, n_train: int, n_val: int, n_test: int, restval_fraction: float = 0.1,
             dim: int = 128, captions_per_image: int = 5, weights: dict[str, float] | None = None,
             noise: float = 0.3) -> None:
    weights = {**DEFAULT_WEIGHTS, **(weights or {})}
    scene_rng, caption_rng, feature_rng, id_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))
    splits = assign_splits(id_rng, n_train, n_val, n_test, restval_fraction)
    n_images = len(splits)
    cocoids = np.sort(id_rng.choice(600_000, size=n_images, replace=False)) + 1
    cocoids = cocoids[id_rng.permutation(n_images)]
    scenes = [g.sample_scene(scene_rng) for _ in range(n_images)]

    images, conllu = [], []
    sentid = 0
    for imgid, (split, scene) in enumerate(zip(splits, scenes)):
        folder = "train2014" if split == "train" else "val2014"
        cocoid = int(cocoids[imgid])
        sentences = []
        for construction, caption in g.captions_for(caption_rng, scene, captions_per_image):
            rows = caption.rows()
            forms = [r[0] for r in rows]
            sentences.append({"tokens": forms, "raw": g.raw_text(forms), "imgid": imgid, "sentid": sentid})
            conllu.append(conllu_block(sentid, construction, rows))
            sentid += 1
        images.append({
            "filepath": folder, "sentids": [s["sentid"] for s in sentences],
            "filename": f"COCO_{folder[:-4]}2014_{cocoid:012d}.jpg", "imgid": imgid, "split": split,
            "sentences": sentences, "cocoid": cocoid,
        })

    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "features.npy") as tmp:
        image_features(feature_rng, scenes, dim, weights, noise, tmp)
    with atomic_path(out_dir / "dataset_coco.json") as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"images": images, "dataset": "coco"}, fh, separators=(",", ":"))
    write_text(out_dir / "gold.conllu", "".join(conllu))
    write_json(out_dir / "planted_weights.json", {
        "seed": seed, "feature_dim": dim, "noise_sd": noise,
        "category_weights": weights,
        "word_categories": dict(sorted(word_categories().items())),
        "note": "words not listed are function words with weight 0",
    })


def _parse_weights(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        if name not in DEFAULT_WEIGHTS or not value:
            raise InputError(None, f"--weight {item}", f"expected CATEGORY=NUMBER with CATEGORY in {sorted(DEFAULT_WEIGHTS)}")
        try:
            out[name] = float(value)
        except ValueError:
            raise InputError(None, f"--weight {item}", "the weight is not a number") from None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = corpus_parser("Generate a synthetic MSCOCO corpus in Karpathy's format.",
                       "folder for dataset_coco.json, features.npy, gold.conllu, planted_weights.json",
                       "(sizes in images; train includes restval)", CocoSynthetic)
    ap.add_argument("--weight", action="append", default=[], metavar="CATEGORY=W",
                    help=f"planted weight of a concept category; defaults {DEFAULT_WEIGHTS}")
    args = ap.parse_args(argv)
    s = CocoSynthetic.from_args(args)
    generate(args.out_dir, s.seed, s.n_train, s.n_val, s.n_test, s.restval_fraction,
             s.feature_dim, s.captions_per_image, _parse_weights(args.weight), s.noise)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
