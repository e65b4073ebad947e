"""Profiles, per-rule resources and the paper-scale configuration (planned, not run)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from workflow_runs import REPO, planned_jobs, snakemake, rule_blocks

RULES = REPO / "workflow" / "rules"
PAPER = REPO / "workflow" / "configs" / "paper.yaml"
TORCH_RULES = {"train", "evaluate", "activations", "omission", "saliency", "representations", "input_optimisation",
               "step_saliency", "attribution"}
# Files the paper config reads, relative to the folder snakemake runs in.
PAPER_INPUTS = [
    "data/coco/dataset_coco.json",
    "data/coco/vgg_feats.mat",
    "data/sst/trainDevTestTrees_PTB/trees/train.txt",
    "data/sst/trainDevTestTrees_PTB/trees/dev.txt",
    "data/sst/trainDevTestTrees_PTB/trees/test.txt",
    "data/wmt/news.2014.en.shuffled.gz",
    "data/wmt/newstest2013.en",
    "data/wmt/newstest2014.en",
]


def _local_rules() -> set[str]:
    names = set()
    for path in RULES.glob("*.smk"):
        for block in re.findall(r"(?m)^localrules:\n((?:    \w+,\n)+)", path.read_text()):
            names |= set(re.findall(r"\w+", block))
    return names


def test_every_rule_declares_threads_memory_runtime_and_torch_rules_gpu():
    blocks = rule_blocks()
    assert len(blocks) >= 19
    for name, block in blocks.items():
        assert re.search(r"^    threads: ", block, flags=re.M), name
        resources = re.search(r"^    resources:\n((?:        .+\n)+)", block, flags=re.M)
        assert resources, name
        keys = set(re.findall(r"^        (\w+)=", resources.group(1), flags=re.M))
        assert {"mem_mb", "runtime"} <= keys, name
        assert ("gpu" in keys) == (name in TORCH_RULES), name


def test_local_rules_are_the_tiny_ones():
    assert _local_rules() == {"synth_sst", "data_sst", "parse_merge", "parse_accuracy", "training_summary",
                              "distributions", "examples", "checks", "sentiment_accuracy", "sentiment_figures",
                              "poerner_figures", "omission_words", "unit_figures", "autoencoder_figures",
                              "agreement", "matrix_plan", "matrix"}
    assert _local_rules() <= set(rule_blocks())


def test_site_details_live_only_in_the_profiles():
    slurm = yaml.safe_load((REPO / "workflow/profiles/slurm/config.yaml").read_text())
    assert slurm["executor"] == "slurm" and slurm["slurm-status-command"] == "squeue"
    assert "slurm_partition" in slurm["default-resources"]
    assert set(slurm["set-resources"]) == TORCH_RULES  # where a GPU partition goes
    local = yaml.safe_load((REPO / "workflow/profiles/local/config.yaml").read_text())
    assert "executor" not in local and local["cores"] == "all"
    for path in [REPO / "config.yaml", PAPER, *RULES.glob("*.smk")]:
        text = path.read_text()
        # (a rule's wildcard_constraints are Snakemake's, not SLURM's)
        assert not re.search(r"slurm_\w+|(?<!wildcard_)constraint", text), path


def _paper_dir(tmp_path: Path, with_inputs: bool = True) -> Path:
    if with_inputs:
        for name in PAPER_INPUTS:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).touch()
    return tmp_path


def test_paper_config_plans_the_whole_dag_with_sharded_parses(tmp_path):
    workdir = _paper_dir(tmp_path)
    proc = snakemake(workdir, "-n", "--configfile", str(PAPER), "--workflow-profile", str(REPO / "workflow/profiles/slurm"))
    jobs = planned_jobs(proc)
    config = yaml.safe_load(PAPER.read_text())
    shards = config["parse"]["shards"]
    splits = sum(len(s) for s in config["parse"]["splits"].values())
    assert shards >= 8 and jobs["parse_shard"] == shards * splits
    assert jobs["parse_merge"] == splits
    assert jobs["train"] == jobs["evaluate"] == 7  # IMAGINET, SUM, LM; RNN, LSTM, BiLSTM; the autoencoder
    assert jobs["activations"] == jobs["omission"] == 9
    assert jobs["step_saliency"] == jobs["autoencoder_figures"] == 1
    assert jobs["saliency"] == jobs["representations"] == 3
    assert jobs["input_optimisation"] == 15 + 12 and jobs["poerner_figures"] == 1  # Visual, Textual, LM x 5 methods;
    # the 6 other networks x crp and gbl
    assert jobs["top_contexts"] == 9  # every network with per-token states
    assert jobs["unit_figures"] == jobs["probe"] == jobs["mutual_information"] == jobs["omission_words"] == 1
    assert {"ridge", "distributions", "retrieval_examples", "examples", "training_summary"} <= set(jobs)
    assert not any(rule.startswith("synth_") for rule in jobs)  # the real corpora, not the embedded ones
    assert "parse_accuracy" not in jobs  # gold trees exist only for the synthetic captions
    text = proc.stdout + proc.stderr
    for rule in TORCH_RULES:
        block = re.search(rf"^rule {rule}:\n((?:    .+\n)+)", text, flags=re.M).group(1)
        assert "gpu=1" in block and "slurm_partition=" in block, rule
    block = re.search(r"^rule train:\n((?:    .+\n)+)", text, flags=re.M).group(1)
    assert "results-paper/models/imaginet/model.pt" in text and "runtime=720" in block
    assert "--embedding-dim 1024 --hidden-dim 1024" in text and "--min-count 500" in text
    # The authors' input-optimisation schedule (docs/poerner2018.md#schedules).
    assert "--method gbl" in text and "--learning-rate 0.001 --steps 200 --patience 200 --max-epochs 1000 " \
        "--samples 64 --tau-start 2.0 --tau-decay 0.99995 --tau-min 0.1" in text
    assert "--method emb" in text and "--learning-rate 0.001 --steps 20 --patience 25 --max-epochs 1000" in text


def test_paper_config_names_the_missing_input_files(tmp_path):
    proc = snakemake(_paper_dir(tmp_path, with_inputs=False), "-n", "--configfile", str(PAPER), check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "MissingInputException" in text
    for name in ("data/coco/dataset_coco.json", "data/coco/vgg_feats.mat"):  # the first job's inputs
        assert name in text


@pytest.mark.parametrize("profile", ["local", "slurm"])
def test_profiles_plan_the_default_run(tmp_path, profile):
    proc = snakemake(tmp_path, "-n", "--workflow-profile", str(REPO / "workflow/profiles" / profile))
    jobs = planned_jobs(proc)
    assert jobs["train"] == 7 and jobs["parse_shard"] > 0
