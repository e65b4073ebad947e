"""MSCOCO ingest on small fixtures in the published formats (Karpathy's split, official)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from lingscope.data import coco
from lingscope.core.errors import InputError, run_cli

FIX = Path(__file__).parent / "fixtures" / "coco"


def test_karpathy_npy_and_mat_give_identical_tables():
    s_npy, f_npy = coco.read_karpathy(FIX / "dataset_coco.json", FIX / "features.npy")
    s_mat, f_mat = coco.read_karpathy(FIX / "dataset_coco.json", FIX / "vgg_feats.mat")
    assert s_npy.equals(s_mat) and f_npy.equals(f_mat)
    assert s_npy.num_rows == 7 and f_npy.num_rows == 4
    feats = np.load(FIX / "features.npy")
    rows = {r["image_id"]: r["features"] for r in f_npy.to_pylist()}
    np.testing.assert_array_equal(rows[522418], feats[1])  # imgid 1 is cocoid 522418


def test_karpathy_fields_and_restval():
    sentences, features = coco.read_karpathy(FIX / "dataset_coco.json", FIX / "features.npy")
    rows = sentences.to_pylist()
    assert rows[0]["sentence_id"] == 0 and rows[0]["image_id"] == 391895 and rows[0]["split"] == "test"
    assert rows[0]["text"] == "A man with a red helmet on a small moped on a dirt road."
    assert rows[0]["tokens"][:3] == ["a", "man", "with"]
    assert {r["split"] for r in rows if r["image_id"] == 522418} == {"train"}  # restval folded into train
    kept, _ = coco.read_karpathy(FIX / "dataset_coco.json", FIX / "features.npy", restval_as_train=False)
    assert {r["split"] for r in kept.to_pylist() if r["image_id"] == 522418} == {"restval"}
    assert features.schema.field("features").type.list_size == 8


def test_official_captions_with_keyed_features():
    sentences, features = coco.read_official(
        {"train": FIX / "captions_train2014.json", "val": FIX / "captions_val2014.json"}, FIX / "features.npz")
    rows = {r["sentence_id"]: r for r in sentences.to_pylist()}
    assert set(rows) == {48, 126, 770337, 771687}
    assert rows[771687]["tokens"] == ["a", "child", "holding", "a", "flowered", "umbrella", "and", "petting", "a", "yak"]
    assert rows[48]["split"] == "train" and rows[770337]["split"] == "val"
    by_id = {r["image_id"]: r["features"] for r in features.to_pylist()}
    np.testing.assert_array_equal(by_id[184613], np.load(FIX / "features.npz")["features"][3])


def test_karpathy_tokenize_drops_punctuation_and_lowercases():
    assert coco.karpathy_tokenize("A child's umbrella, red.") == ["a", "childs", "umbrella", "red"]


def _copy(tmp_path, name, text=None):
    dst = tmp_path / name
    if text is None:
        shutil.copy(FIX / name, dst)
    else:
        dst.write_text(text)
    return dst


def test_malformed_json_names_file_and_line(tmp_path):
    bad = _copy(tmp_path, "dataset_coco.json", '{"images": [\n {"imgid": 0,,}\n]}')
    with pytest.raises(InputError) as err:
        coco.read_karpathy(bad, FIX / "features.npy")
    assert "dataset_coco.json" in str(err.value) and "line 2" in str(err.value) and "malformed JSON" in str(err.value)


def test_caption_whose_image_has_no_features(tmp_path):
    short = tmp_path / "features.npy"
    np.save(short, np.load(FIX / "features.npy")[:2])
    with pytest.raises(InputError) as err:
        coco.read_karpathy(FIX / "dataset_coco.json", short)
    assert "features.npy" in str(err.value) and "imgid 2" in str(err.value) and "has no features" in str(err.value)


def test_official_caption_image_missing_from_features(tmp_path):
    npz = np.load(FIX / "features.npz")
    path = tmp_path / "features.npz"
    np.savez(path, image_ids=npz["image_ids"][:2], features=npz["features"][:2])
    with pytest.raises(InputError) as err:
        coco.read_official({"val": FIX / "captions_val2014.json"}, path)
    assert "184613" in str(err.value) and "no features" in str(err.value)


def test_feature_dimension_mismatch():
    with pytest.raises(InputError) as err:
        coco.read_karpathy(FIX / "dataset_coco.json", FIX / "vgg_feats.mat", expected_dim=4096)
    assert "vgg_feats.mat" in str(err.value) and "dimension is 8" in str(err.value) and "4096" in str(err.value)


def test_empty_sentence_and_missing_field(tmp_path):
    data = json.loads((FIX / "dataset_coco.json").read_text())
    data["images"][1]["sentences"][0]["tokens"] = []
    bad = _copy(tmp_path, "dataset_coco.json", json.dumps(data))
    with pytest.raises(InputError) as err:
        coco.read_karpathy(bad, FIX / "features.npy")
    assert "images[1]" in str(err.value) and "sentid 2" in str(err.value) and "empty sentence" in str(err.value)
    del data["images"][1]["sentences"][0]
    del data["images"][2]["cocoid"]
    bad.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"images\[2\] \(imgid 2\): missing field 'cocoid'"):
        coco.read_karpathy(bad, FIX / "features.npy")


def test_cli_exit_code_and_no_partial_output(tmp_path, capsys):
    out_s, out_f = tmp_path / "s.parquet", tmp_path / "f.parquet"
    argv = ["--karpathy", str(FIX / "dataset_coco.json"), "--features", str(FIX / "features.npy"),
            "--expected-dim", "16", "--sentences", str(out_s), "--image-features", str(out_f)]
    assert run_cli(coco.main, argv) == 2
    assert "dimension is 8" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    argv[argv.index("16")] = "8"
    assert run_cli(coco.main, argv) == 0
    assert pq.read_table(out_s).num_rows == 7 and pq.read_table(out_f).num_rows == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.parquet", "s.parquet"]  # no temp files left
