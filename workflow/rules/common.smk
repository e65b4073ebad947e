# Helpers shared by the rule files (config access, paths, input functions).
# Keep heavy imports out of here: this file runs every time snakemake plans the DAG.
import os
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml")

RESULTS = lookup(dpath="results", within=config)
CORPORA = ["coco", "sst", "wmt"]
SPLITS = ["train", "val", "test"]
# Jobs run the package from this checkout (jobs inherit this environment, on SLURM too), so
# the conda envs of --sdm conda need only the third-party dependencies, and the code-change
# inputs below are the code that runs. In the Makefile's venv the editable install agrees.
# `snakemake --lint` asks for an `envvars:` assertion here; that directive *requires* a
# variable from the user, while this only extends an optional one, so the lint is left.
SRC = Path(workflow.basedir) / "src"
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(SRC), os.environ.get("PYTHONPATH")])
)


def env(name):
    return f"../../envs/{name}.yaml"


def code(*modules):
    """Package modules a rule runs, listed as inputs so that editing them reruns the rule."""
    return [workflow.source_path(f"../../src/lingscope/{m}.py") for m in modules]


def source(corpus):
    return lookup(dpath=f"corpora/{corpus}/source", within=config)


def synthetic_size(corpus, key):
    """A synthetic corpus size, multiplied by synthetic_scale."""
    n = lookup(dpath=f"corpora/{corpus}/synthetic/{key}", within=config)
    return max(1, round(n * lookup(dpath="synthetic_scale", within=config)))


def synthetic_args(corpus):
    seed = lookup(dpath=f"corpora/{corpus}/synthetic/seed", within=config)
    sizes = " ".join(
        f"--{key.replace('_', '-')} {synthetic_size(corpus, key)}"
        for key in ("n_train", "n_val", "n_test")
    )
    return f"--seed {seed} {sizes}"


def coco_synthetic_args():
    syn = lookup(dpath="corpora/coco/synthetic", within=config)
    weights = " ".join(f"--weight {k}={v}" for k, v in syn["weights"].items())
    return (
        f"{synthetic_args('coco')} --restval-fraction {syn['restval_fraction']} "
        f"--dim {syn['feature_dim']} --captions-per-image {syn['captions_per_image']} "
        f"--noise {syn['noise']} {weights}"
    )


# --- resources -------------------------------------------------------------------------------
# Every rule declares threads, mem_mb and runtime (and gpu where it runs torch), so the same
# rules schedule on a laptop and on SLURM. Memory follows the data: a base for the
# interpreter and its libraries plus a multiple of what the job reads, so the tiny test
# config asks for little and the paper config for enough. Both grow with each retry
# (the SLURM profile retries once). Site details (partition, account) live in the profiles.
def mem_mb(base, per_input_mb=0.0):
    def mem(wildcards, input, attempt):
        return int((base + per_input_mb * input.size_mb) * attempt)

    return mem


def runtime(minutes):
    def minutes_for(wildcards, attempt):
        return minutes * attempt

    return minutes_for


def gpus():
    """GPUs for each training, evaluation, dump and omission job (training.gpus)."""
    return lookup(dpath="training/gpus", within=config)


def synth_coco_mem_mb(wildcards, attempt):
    """The generator holds the image features (float32) about three times over."""
    syn = lookup(dpath="corpora/coco/synthetic", within=config)
    images = sum(synthetic_size("coco", k) for k in ("n_train", "n_val", "n_test"))
    return int((1000 + 3 * images * syn["feature_dim"] * 4 / 1e6) * attempt)


# --- raw inputs: synthetic outputs or the user's files ---------------------------------------
def raw(corpus, name):
    return f"{RESULTS}/raw/{corpus}/{name}"


def coco_raw_inputs(wildcards):
    src = source("coco")
    if src == "synthetic":
        return {
            "dataset": raw("coco", "dataset_coco.json"),
            "features": raw("coco", "features.npy"),
        }
    if src == "karpathy":
        return lookup(dpath="corpora/coco/karpathy", within=config)
    official = lookup(dpath="corpora/coco/official", within=config)
    return {**official["captions"], "features": official["features"]}


def coco_ingest_args(wildcards, input):
    src = source("coco")
    if src == "official":
        splits = lookup(dpath="corpora/coco/official/captions", within=config)
        sources = " ".join(f"--official {s}={input[s]}" for s in splits)
    else:
        sources = f"--karpathy {input.dataset}"
    keep = lookup(dpath="corpora/coco/keep_restval", within=config)
    dim = lookup(dpath="corpora/coco/feature_dim", within=config)
    return f"{sources} --expected-dim {dim}" + (" --keep-restval" if keep else "")


def sst_trees_dir():
    if source("sst") == "synthetic":
        return raw("sst", "trees")
    return lookup(dpath="corpora/sst/ptb/trees_dir", within=config)


def sst_raw_inputs(wildcards):
    folder = sst_trees_dir()
    return {s: f"{folder}/{s}.txt" for s in ("train", "dev", "test")}


def wmt_raw_inputs(wildcards):
    if source("wmt") == "synthetic":
        return {
            "train": raw("wmt", "train.txt.gz"),
            "val": raw("wmt", "val.txt"),
            "test": raw("wmt", "test.txt"),
        }
    files = lookup(dpath="corpora/wmt/text", within=config)
    return {s: files[s] for s in SPLITS}


def wmt_max_lines():
    if source("wmt") == "synthetic":
        return 0
    return lookup(dpath="corpora/wmt/text/max_lines", within=config)


# --- parsing ---------------------------------------------------------------------------------
def n_shards():
    return lookup(dpath="parse/shards", within=config)


def parse_splits(corpus):
    return lookup(dpath=f"parse/splits/{corpus}", within=config)


def tokens_path(corpus, split):
    return f"{RESULTS}/parse/corpus={corpus}/split={split}/tokens.parquet"


def parse_shard_paths(wildcards):
    n = n_shards()
    return [
        f"{RESULTS}/parse/corpus={wildcards.corpus}/split={wildcards.split}/shards/{k}-of-{n}.parquet"
        for k in range(n)
    ]


def parse_args():
    """Backend options; a change here reruns the parse jobs (a params change) but not ingest."""
    backend = lookup(dpath="parse/backend", within=config)
    if backend == "spacy":
        opts = lookup(dpath="parse/spacy", within=config)
        args = (
            f"--backend spacy --model {opts['model']} --batch-size {opts['batch_size']}"
        )
        return args + (" --lemmatize" if opts["lemmatize"] else "")
    opts = lookup(dpath="parse/stanza", within=config)
    args = f"--backend stanza --stanza-package {opts['package']}"
    return args + (f" --stanza-dir {opts['model_dir']}" if opts["model_dir"] else "")


def parse_model_name():
    backend = lookup(dpath="parse/backend", within=config)
    if backend == "spacy":
        return lookup(dpath="parse/spacy/model", within=config)
    return f"stanza-{lookup(dpath='parse/stanza/package', within=config)}"


def coco_gold_tokens():
    return [tokens_path("coco", s) for s in parse_splits("coco")]


def has_parse_accuracy():
    """Gold trees exist only for the synthetic captions."""
    return source("coco") == "synthetic" and bool(parse_splits("coco"))


# --- models (Kadar et al. 2017) ---------------------------------------------------------------
MODELS = ["imaginet", "sum", "lm"]
PATHWAYS = ["textual", "visual"]
# The four networks the paper compares, as (model, pathway).
NETWORKS = {
    "Sum": ("sum", "visual"),
    "LM": ("lm", "textual"),
    "Textual": ("imaginet", "textual"),
    "Visual": ("imaginet", "visual"),
}


def model_setting(model, key):
    return lookup(dpath=f"models/{model}/{key}", within=config)


def has_pathway(model, pathway):
    return pathway == "textual" or model_setting(model, "kind") != "lm"


def model_pathways():
    return [(m, p) for m in MODELS for p in PATHWAYS if has_pathway(m, p)]


def model_file(model):
    return f"{RESULTS}/models/{model}/model.pt"


def coco_data(wildcards=None):
    return {
        "sentences": f"{RESULTS}/data/coco/sentences.parquet",
        "vocab": f"{RESULTS}/data/coco/vocab.parquet",
    }


def train_inputs(wildcards):
    """The captions, plus the image features for models with a visual pathway."""
    inputs = coco_data()
    if has_pathway(wildcards.model, "visual"):
        inputs["image_features"] = f"{RESULTS}/data/coco/image_features.parquet"
    return inputs


def image_args(wildcards, input):
    return (
        f"--image-features {input.image_features}"
        if "image_features" in input.keys()
        else ""
    )


def train_args(wildcards):
    """The model's hyper-parameters as flags: a change to one model's entry is a params
    change of that model's training job only."""
    s = lookup(dpath=f"models/{wildcards.model}", within=config)
    flags = [
        f"--kind {s['kind']} --embedding-dim {s['embedding_dim']} --hidden-dim {s['hidden_dim']}",
        f"--gru {s['gru']} --alpha {s['alpha']} --batch-size {s['batch_size']}",
        f"--learning-rate {s['learning_rate']} --grad-clip {s['grad_clip']}",
        f"--max-epochs {s['max_epochs']} --patience {s['patience']}",
        f"--max-train-sentences {s['max_train_sentences']} --seed {s['seed']}",
    ]
    return " ".join(flags) + (" --task-sampling" if s["task_sampling"] else "")


def checkpoint_dir(wildcards):
    """Not an output: Snakemake must not delete it when a job dies, so a rerun resumes."""
    return f"{RESULTS}/models/{wildcards.model}/checkpoints"


# --- activations and omission ----------------------------------------------------------------
def analysis_split():
    return lookup(dpath="activations/split", within=config)


def analysis_tokens(wildcards=None):
    split = analysis_split()
    if split not in parse_splits("coco"):
        raise WorkflowError(
            f"config: activations.split is {split!r} but parse.splits.coco does not parse it; "
            f"add {split!r} there so the omission scores can be joined with the parse"
        )
    return tokens_path("coco", split)


def activation_dir(kind, model, pathway):
    return f"{RESULTS}/activations/{kind}/model={model}/pathway={pathway}"


def omission_path(model, pathway):
    return f"{RESULTS}/omission/{model}.{pathway}.parquet"


def network_omission():
    return [omission_path(m, p) for m, p in NETWORKS.values()]


def analysis_dir():
    return f"{RESULTS}/analysis"


def kadar_targets():
    out = []
    for m in MODELS:
        out += [model_file(m), f"{RESULTS}/models/{m}/evaluation.parquet"]
    for m, p in model_pathways():
        out += [
            activation_dir("tokens", m, p),
            activation_dir("h_end", m, p),
            omission_path(m, p),
        ]
    a = analysis_dir()
    out += [
        f"{a}/fig1_examples.png",
        f"{a}/fig2_xpos.png",
        f"{a}/fig3_xpos.png",
        f"{a}/fig4_r2.png",
        f"{a}/fig6_positions.png",
        f"{a}/learning_curves.png",
        f"{a}/model_results.csv",
    ]
    return out


# --- targets ---------------------------------------------------------------------------------
def data_targets():
    out = [
        f"{RESULTS}/data/{c}/{t}.parquet"
        for c in CORPORA
        for t in ("sentences", "vocab")
    ]
    out += [
        f"{RESULTS}/data/coco/image_features.parquet",
        f"{RESULTS}/data/sst/phrases.parquet",
    ]
    return out


def parse_targets():
    out = [tokens_path(c, s) for c in CORPORA for s in parse_splits(c)]
    if has_parse_accuracy():
        out.append(f"{RESULTS}/parse/accuracy.parquet")
    return out


def final_targets():
    return data_targets() + parse_targets() + kadar_targets()
