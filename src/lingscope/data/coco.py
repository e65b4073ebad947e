"""MSCOCO ingest: captions and image features into the SENTENCES and IMAGE_FEATURES tables.

Two published layouts are read (Kádár et al. 2017 used the first):
- Karpathy's split file ``dataset_coco.json`` with features as ``.npy`` (N × d, row =
  ``imgid``) or as the original ``vgg_feats.mat`` (MATLAB, d × N, variable ``feats``);
- the official ``captions_{train,val}2014.json`` with a ``.npz`` features file holding
  ``image_ids`` (N) and ``features`` (N × d), keyed by image id.
"""

from __future__ import annotations

import argparse
import json
import string
from pathlib import Path

import numpy as np
import pyarrow as pa

from lingscope.core.carve import carve_problem, missing_training_split
from lingscope.core.errors import InputError, run_cli
from lingscope.core.io import write_parquet
from lingscope.core.schemas import SENTENCES, image_features_schema

_PUNCT = str.maketrans("", "", string.punctuation)


def karpathy_tokenize(caption: str) -> list[str]:
    """Tokenise as Karpathy's preprocessing did: lower-case, drop punctuation, split on spaces."""
    return caption.lower().translate(_PUNCT).split()


def load_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise InputError(path, None, "file not found") from None
    except UnicodeDecodeError as err:
        raise InputError(path, f"byte {err.start}", "not valid UTF-8") from None
    except json.JSONDecodeError as err:
        raise InputError(path, f"line {err.lineno} column {err.colno}", f"malformed JSON: {err.msg}") from None


def _field(path: Path, record: str, obj: dict, name: str, kind: type | tuple[type, ...]):
    if not isinstance(obj, dict) or name not in obj:
        raise InputError(path, record, f"missing field {name!r}")
    value = obj[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InputError(path, record, f"field {name!r} should be {getattr(kind, '__name__', kind)}, got {type(value).__name__}")
    return value


def load_features(path: Path) -> np.ndarray:
    """N × d float32 features from ``.npy`` (rows are images) or ``vgg_feats.mat`` (columns are images)."""
    if not path.exists():
        raise InputError(path, None, "file not found")
    if path.suffix == ".npy":
        try:
            feats = np.load(path, mmap_mode="r")
        except ValueError as err:
            raise InputError(path, None, f"not a readable .npy array: {err}") from None
    elif path.suffix == ".mat":
        import scipy.io

        try:
            mat = scipy.io.loadmat(path, variable_names=["feats"])
        except (ValueError, NotImplementedError) as err:
            # NotImplementedError: MATLAB v7.3 files are HDF5, which scipy cannot read.
            raise InputError(path, None, f"not a readable MATLAB v5 file: {err}") from None
        if "feats" not in mat:
            raise InputError(path, None, "expected a variable 'feats' (d × N) as in Karpathy's vgg_feats.mat")
        feats = np.ascontiguousarray(mat["feats"].T)
    else:
        raise InputError(path, None, "expected a .npy (N × d) or .mat (d × N) features file")
    if feats.ndim != 2:
        raise InputError(path, None, f"expected a 2-d feature matrix, got shape {feats.shape}")
    return feats


def _check_dim(path: Path, dim: int, expected: int | None) -> None:
    if expected and dim != expected:
        raise InputError(path, None, f"feature dimension is {dim}, but the config expects {expected}")


def read_karpathy(json_path: Path, features_path: Path, restval_as_train: bool = True,
                  expected_dim: int | None = None) -> tuple[pa.Table, pa.Table]:
    data = load_json(json_path)
    images = _field(json_path, "top level", data, "images", list)
    feats = load_features(features_path)
    _check_dim(features_path, feats.shape[1], expected_dim)
    seen_imgids: dict[int, int] = {}
    sent_cols = {k: [] for k in ("split", "sentence_id", "image_id", "text", "tokens")}
    img_rows, img_ids, img_splits, img_files = [], [], [], []
    seen_sentids: set[int] = set()
    for i, image in enumerate(images):
        record = f"images[{i}]"
        imgid = _field(json_path, record, image, "imgid", int)
        record = f"images[{i}] (imgid {imgid})"
        if imgid in seen_imgids:
            raise InputError(json_path, record, f"duplicate imgid {imgid} (also images[{seen_imgids[imgid]}]); "
                                                f"each image's imgid is its own feature row")
        seen_imgids[imgid] = i
        cocoid = _field(json_path, record, image, "cocoid", int)
        split = _field(json_path, record, image, "split", str)
        if split == "restval":
            split = "train" if restval_as_train else "restval"
        elif split not in ("train", "val", "test"):
            raise InputError(json_path, record, f"split {split!r} is not one of train, restval, val, test")
        sentences = _field(json_path, record, image, "sentences", list)
        if not 0 <= imgid < feats.shape[0]:
            raise InputError(features_path, record,
                             f"image has no features: the file has {feats.shape[0]} rows, imgid is {imgid}")
        for j, sent in enumerate(sentences):
            srec = f"{record} sentences[{j}]"
            sentid = _field(json_path, srec, sent, "sentid", int)
            tokens = _field(json_path, srec, sent, "tokens", list)
            raw = _field(json_path, srec, sent, "raw", str)
            if not tokens or not all(isinstance(t, str) and t for t in tokens):
                raise InputError(json_path, f"{srec} (sentid {sentid})", "empty sentence or empty token")
            if sentid in seen_sentids:
                raise InputError(json_path, srec, f"duplicate sentid {sentid}")
            seen_sentids.add(sentid)
            for key, value in zip(sent_cols, (split, sentid, cocoid, raw.strip(), tokens)):
                sent_cols[key].append(value)
        img_rows.append(imgid)
        img_ids.append(cocoid)
        img_splits.append(split)
        img_files.append(image.get("filename"))
    if feats.shape[0] != len(images):
        # Fewer rows left an image without features above; more rows mean the two files do
        # not come from the same release (or the split file was cut down), so row = imgid
        # cannot be trusted.
        raise InputError(features_path, None,
                         f"{feats.shape[0]} feature rows for the {len(images)} images of {json_path}: Karpathy's "
                         f"features have exactly one row per image of the split file (row = imgid); with any other "
                         f"count the rows cannot be trusted to match the images. If the split file was cut down, "
                         f"keep the rows of its images in imgid order and renumber imgid from 0")
    sentences_table = _sentences_table(sent_cols)
    features = np.asarray(feats[np.asarray(img_rows, dtype=np.int64)], dtype=np.float32)
    return sentences_table, _features_table(img_ids, img_splits, img_files, features)


def read_official(caption_files: dict[str, Path], features_path: Path, expected_dim: int | None = None,
                  carve: tuple[int, int] = (0, 0), seed: int = 1, restval_as_train: bool = True
                  ) -> tuple[pa.Table, pa.Table]:
    """Official ``captions_*2014.json`` files, one per split, with features keyed by image id.

    ``carve = (n_val, n_test)`` draws that many images (seeded) out of the ``val`` file into
    the val and test splits; the rest of the file is ``restval``, which joins train unless
    ``restval_as_train`` is false, as Karpathy's split carved 5,000 + 5,000 images out of
    val2014. A split's images and captions may appear in no other split.
    """
    _check_distinct_files(caption_files)
    row_of, keyed_feats = _keyed_features(features_path, expected_dim)
    sent_cols = {k: [] for k in ("split", "sentence_id", "image_id", "text", "tokens")}
    img_rows, img_ids, img_splits, img_files = [], [], [], []
    where_image: dict[int, tuple[str, Path, int]] = {}
    where_caption: dict[int, tuple[Path, int]] = {}
    for split, path in caption_files.items():
        data = load_json(path)
        images = _field(path, "top level", data, "images", list)
        annotations = _field(path, "top level", data, "annotations", list)
        for i, image in enumerate(images):
            image_id = _field(path, f"images[{i}]", image, "id", int)
            if image_id in where_image:
                other_split, other, j = where_image[image_id]
                if other == path:
                    raise InputError(path, f"images[{i}] (id {image_id})", f"image listed twice (also images[{j}])")
                raise InputError(path, f"images[{i}] (id {image_id})",
                                 f"image already listed as {other}: images[{j}] ({other_split}); {split} and "
                                 f"{other_split} must not share images, or the same image is both trained on and "
                                 f"evaluated")
            where_image[image_id] = (split, path, i)
            if image_id not in row_of:
                raise InputError(features_path, f"image id {image_id} ({path.name} images[{i}])", "image has no features")
            img_rows.append(row_of[image_id])
            img_ids.append(image_id)
            img_splits.append(split)
            img_files.append(image.get("file_name"))
        for j, ann in enumerate(annotations):
            record = f"annotations[{j}]"
            image_id = _field(path, record, ann, "image_id", int)
            ann_id = _field(path, record, ann, "id", int)
            caption = _field(path, record, ann, "caption", str)
            if where_image.get(image_id, (None, None))[1] != path:
                raise InputError(path, f"{record} (id {ann_id})", f"caption refers to image {image_id}, which the file does not list")
            if ann_id in where_caption:
                other, k = where_caption[ann_id]
                raise InputError(path, f"{record} (id {ann_id})",
                                 f"caption id already used by {other}: annotations[{k}]; caption ids are sentence ids")
            where_caption[ann_id] = (path, j)
            tokens = karpathy_tokenize(caption)
            if not tokens:
                raise InputError(path, f"{record} (id {ann_id})", "empty sentence")
            for key, value in zip(sent_cols, (split, ann_id, image_id, caption.strip(), tokens)):
                sent_cols[key].append(value)
    if any(carve):
        new_split = carve_val(caption_files, img_ids, img_splits, carve, seed, restval_as_train)
        img_splits = [new_split.get(i, s) for i, s in zip(img_ids, img_splits)]
        sent_cols["split"] = [new_split.get(i, s) for i, s in zip(sent_cols["image_id"], sent_cols["split"])]
    files = ", ".join(f"{s}={p}" for s, p in caption_files.items())
    problem = missing_training_split(caption_files, *carve, keep_restval=not restval_as_train)
    if problem:
        raise InputError(None, files, problem)
    for split in ("train", "val"):
        if split not in img_splits:  # the files name the split, but hold no image of it
            raise InputError(None, files, f"no {split} images: training needs train and val captions")
    features = np.asarray(keyed_feats[np.asarray(img_rows, dtype=np.int64)], dtype=np.float32)
    return _sentences_table(sent_cols), _features_table(img_ids, img_splits, img_files, features)


def _check_distinct_files(caption_files: dict[str, Path]) -> None:
    seen: dict[Path, str] = {}
    for split, path in caption_files.items():
        key = path.resolve()
        if key in seen:
            raise InputError(path, None, f"given as both the {seen[key]} and the {split} captions file; each split "
                                         f"needs its own file, or every caption would be in both splits")
        seen[key] = split


def _keyed_features(features_path: Path, expected_dim: int | None) -> tuple[dict[int, int], np.ndarray]:
    """An ``.npz`` of ``image_ids`` (N) and ``features`` (N × d): the row of each image id, and the features."""
    if not features_path.exists():
        raise InputError(features_path, None, "file not found")
    try:
        npz = np.load(features_path)
        keyed_ids, keyed_feats = npz["image_ids"], npz["features"]
    except (ValueError, KeyError, OSError) as err:
        raise InputError(features_path, None, f"expected an .npz with arrays 'image_ids' and 'features': {err}") from None
    if keyed_feats.ndim != 2 or len(keyed_ids) != len(keyed_feats):
        raise InputError(features_path, None, f"'features' must be N × d with N = len(image_ids); got {keyed_feats.shape}")
    _check_dim(features_path, keyed_feats.shape[1], expected_dim)
    row_of: dict[int, int] = {}
    for r, k in enumerate(keyed_ids.tolist()):
        if k in row_of:
            raise InputError(features_path, f"image_ids[{r}]", f"image id {k} repeats image_ids[{row_of[k]}]; "
                                                               f"which row is its features cannot be told")
        row_of[k] = r
    return row_of, keyed_feats


def carve_val(caption_files: dict[str, Path], img_ids: list[int], img_splits: list[str], carve: tuple[int, int],
              seed: int, restval_as_train: bool) -> dict[int, str]:
    """The new split of each image of the val file: ``carve[0]`` val and ``carve[1]`` test images
    drawn with ``seed``, the others restval (train unless ``restval_as_train`` is false)."""
    n_val, n_test = carve
    problem = carve_problem(caption_files, n_val, n_test)
    if problem:
        raise InputError(caption_files.get("test") if "val" in caption_files else None, None, problem)
    pool = np.asarray([i for i, s in zip(img_ids, img_splits) if s == "val"], dtype=np.int64)
    if n_val + n_test > len(pool):
        raise InputError(caption_files["val"], None, f"{len(pool)} images, fewer than the {n_val} + {n_test} to carve "
                                                     f"out (corpora.coco.official.carve)")
    order = np.random.default_rng(seed).permutation(np.sort(pool))
    rest = "train" if restval_as_train else "restval"
    splits = ["val"] * n_val + ["test"] * n_test + [rest] * (len(pool) - n_val - n_test)
    return dict(zip(order.tolist(), splits))


def _sentences_table(cols: dict[str, list]) -> pa.Table:
    n = len(cols["sentence_id"])
    return pa.table({
        "corpus": pa.array(["coco"] * n), **{k: cols[k] for k in ("split", "sentence_id", "image_id")},
        "label": pa.nulls(n, pa.int8()), "text": cols["text"], "tokens": cols["tokens"],
    })


def _features_table(ids, splits, files, features: np.ndarray) -> pa.Table:
    flat = pa.array(features.reshape(-1), type=pa.float32())
    return pa.table({
        "image_id": pa.array(ids, pa.int64()), "split": splits, "filename": pa.array(files, pa.string()),
        "features": pa.FixedSizeListArray.from_arrays(flat, features.shape[1]),
    })


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Ingest MSCOCO captions and image features into Parquet.")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--karpathy", type=Path, help="Karpathy's dataset_coco.json")
    src.add_argument("--official", action="append", metavar="SPLIT=PATH",
                     help="official captions file for a split, e.g. train=captions_train2014.json (repeatable)")
    ap.add_argument("--features", type=Path, required=True, help=".npy or vgg_feats.mat (Karpathy); .npz (official)")
    ap.add_argument("--keep-restval", action="store_true",
                    help="keep Karpathy's restval split (or what carving leaves of the val file) apart from train")
    ap.add_argument("--carve", type=int, nargs=2, default=(0, 0), metavar=("N_VAL", "N_TEST"),
                    help="official format: draw this many val and test images out of the val file; the rest is restval")
    ap.add_argument("--carve-seed", type=int, default=1, help="seed of the images carved out of the val file")
    ap.add_argument("--expected-dim", type=int, default=0, help="fail unless the features have this dimension (0: any)")
    ap.add_argument("--sentences", type=Path, required=True)
    ap.add_argument("--image-features", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.karpathy:
        sentences, features = read_karpathy(args.karpathy, args.features, not args.keep_restval, args.expected_dim)
    else:
        files = {}
        for item in args.official:
            split, _, path = item.partition("=")
            if split not in ("train", "val", "test") or not path:
                raise InputError(None, f"--official {item}", "expected SPLIT=PATH with SPLIT in train, val, test")
            files[split] = Path(path)
        sentences, features = read_official(files, args.features, args.expected_dim, tuple(args.carve),
                                            args.carve_seed, not args.keep_restval)
    write_parquet(sentences, args.sentences, SENTENCES, "sentences")
    dim = features.schema.field("features").type.list_size
    write_parquet(features, args.image_features, image_features_schema(dim), "image_features", row_group_size=8192)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
