# Workflow plumbing shared by the rule files (the plan, paths, input functions, code inputs and
# resources). What to make is decided in Python (lingscope.core.plan), from the config alone;
# this file only asks it. Keep heavy imports out: it runs every time snakemake plans the DAG.
import csv
import os
import shlex
import sys
import time
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

# Jobs run the package from this checkout (jobs inherit this environment, on SLURM too), so
# the conda envs of --sdm conda need only the third-party dependencies, and the code-change
# inputs below are the code that runs. In the Makefile's venv the editable install agrees.
# `snakemake --lint` asks for an `envvars:` assertion here; that directive *requires* a
# variable from the user, while this only extends an optional one, so the lint is left.
SRC = Path(workflow.basedir) / "src"
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(SRC), os.environ.get("PYTHONPATH")])
)
sys.path.insert(0, str(SRC))

# The plan, the catalog and the settings objects (all torch-free: planning stays fast).
from lingscope.core import catalog  # noqa: E402
from lingscope.core import config as config_check  # noqa: E402
from lingscope.core import config_schema  # noqa: E402
from lingscope.core.code import CodeError, closure  # noqa: E402
from lingscope.core.errors import InputError  # noqa: E402
from lingscope.core.plan import (
    CORPORA,
    IO_METHODS,
    SPLITS,
    Plan,
    PlanError,
    write_cells,
)  # noqa: E402

# The schema's problems, one line each (key, what is wrong, what is allowed): snakemake's own
# validate() prints the whole config after the first problem, about 400 lines.
try:
    config_check.check(
        config,
        source=" + ".join(["config.yaml", *map(str, workflow.overwrite_configfiles)]),
    )
    PLAN = Plan(config)
    PLAN.check()
except InputError as err:
    raise WorkflowError(str(err)) from None
except PlanError as err:
    raise WorkflowError(str(err)) from None

P = PLAN.paths
RESULTS = P.results
MODELS = list(PLAN.models)
# Every network name any kind or model has: the {pathway} wildcard.
PATHWAYS = PLAN.pathways()


def checked(make):
    """A config section's settings, or a WorkflowError naming the key (before any job runs)."""
    try:
        return make()
    except InputError as err:
        raise WorkflowError(f"config: {err}") from None


def settings_args(section, mapping=None):
    """The flags of config section ``section`` (dotted: ``analysis.ridge``) from its settings class
    (lingscope.core.config_schema.SECTIONS); ``mapping`` stands in for the config's section.
    """
    values = PLAN.get(section) if mapping is None else mapping
    return checked(lambda: config_schema.settings(section, values)).command_line()


def env(name):
    return f"../../envs/{name}.yaml"


# --- code inputs: a rule reruns when the code it runs changes ---------------------------------
# A rule's code inputs are the import closure of its entry module inside the package, read
# with ast by lingscope.core.code (no import, so no torch at DAG time).
def code(*modules):
    """The files of the import closure of ``modules`` (dotted names) inside the package."""
    try:
        return [str(p) for p in closure(*modules, src=SRC)]
    except CodeError as err:
        raise WorkflowError(f"code inputs: {err}") from None


def model_code(module):
    """:func:`code` of ``module`` plus the family module of the job's model, which the model
    loader imports by name from the catalog."""

    def files(wildcards):
        return code(module, PLAN.kind(wildcards.model).module)

    return files


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


def runtime_args():
    return settings_args("training")


# --- corpora ---------------------------------------------------------------------------------
def synthetic_args(corpus):
    """The generator's settings; the sizes multiplied by synthetic_scale."""
    return settings_args(f"corpora.{corpus}.synthetic", PLAN.synthetic(corpus))


def coco_synthetic_args():
    weights = lookup(dpath="corpora/coco/synthetic/weights", within=config)
    flags = " ".join(f"--weight {k}={v}" for k, v in weights.items())
    return f"{synthetic_args('coco')} {flags}"


def synth_coco_mem_mb(wildcards, attempt):
    """The generator holds the image features (float32) about three times over."""
    syn = PLAN.synthetic("coco")
    images = sum(syn[k] for k in ("n_train", "n_val", "n_test"))
    return int((1000 + 3 * images * syn["feature_dim"] * 4 / 1e6) * attempt)


def raw_inputs(corpus):
    """The files the ingest of ``corpus`` reads (the plan says which)."""
    return lambda wildcards: PLAN.raw_inputs(corpus)


def user_corpora_pattern(fmt):
    """The {corpus} wildcard of the ingest of a format of the user's own, the names of its
    corpora (a pattern that matches nothing when there are none)."""
    return "|".join(PLAN.user_corpora_of(fmt)) or "(?!)"


# --- parsing ---------------------------------------------------------------------------------
def parse_shard_paths(wildcards):
    n = lookup(dpath="parse/shards", within=config)
    return [P.parse_shard(wildcards.corpus, wildcards.split, k, n) for k in range(n)]


def parse_args():
    """Backend options; a change here reruns the parse jobs (a params change) but not ingest."""
    backend = lookup(dpath="parse/backend", within=config)
    return f"--backend {backend} {settings_args(f'parse.{backend}')}"


def parse_form_args(wildcards):
    """The SST's trees escape brackets as Penn Treebank does (-LRB-): its parse reads "(".
    COCO captions lose their punctuation in tokenisation, and WMT lines are plain text.
    """
    return "--unescape-ptb" if wildcards.corpus == "sst" else ""


# --- models and the methods' inputs ------------------------------------------------------------
def corpus_data(corpus):
    return {"sentences": P.data(corpus, "sentences"), "vocab": P.data(corpus, "vocab")}


def model_data(wildcards):
    """The corpus tables a model trains and is evaluated on (its corpus), and its extra data
    tables (the image features of a model with an image readout, the labels of a classifier).
    """
    corpus = PLAN.corpus(wildcards.model)
    tables = list(PLAN.kind(wildcards.model).tables)
    # a labelled corpus's classes (lingscope.training.objectives reads them beside its phrases)
    if "phrases" in tables and "labels" in PLAN.data_tables(corpus):
        tables.append("labels")
    return PLAN.model_corpus(wildcards.model) | {t: P.data(corpus, t) for t in tables}


def pretrained_inputs(wildcards):
    """A checked model's files: its checkpoint, vocabulary, labels (PLAN.pretrained_files)."""
    return PLAN.pretrained_files(wildcards.model)


def table_args(wildcards, input):
    """``--image-features PATH`` and the like, for the extra tables of :func:`model_data`."""
    tables = PLAN.kind(wildcards.model).tables
    return " ".join(f"--{t.replace('_', '-')} {input[t]}" for t in tables)


def method_inputs(module, corpus_tables=("sentences", "vocab")):
    """A network method's inputs: the model's corpus tables, the model, and the code."""

    def inputs(wildcards):
        corpus = PLAN.model_corpus(wildcards.model)
        return {t: corpus[t] for t in corpus_tables} | {
            "model": P.model(wildcards.model),
            "code": model_code(module)(wildcards),
        }

    return inputs


def corpus_flags(wildcards, input):
    """``--sentences PATH --vocab PATH``, for the corpus tables among a method's inputs."""
    return " ".join(
        f"--{k} {input[k]}" for k in ("sentences", "vocab") if k in input.keys()
    )


def output_flags(wildcards, output):
    """Each named output as its flag: output ``examples_out`` is ``--examples-out PATH``."""
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in output.items())


def tables(method, networks, kind=None):
    return [P.network_table(method, m, p, kind) for m, p in networks]


def unit_inputs(networks, top_contexts=False, tokens=False):
    """The activation folders of ``networks`` and, optionally, their top-contexts tables and the
    parse of each one's analysis split (in the same order)."""
    inputs = {"activations": [P.activations("tokens", m, p) for m, p in networks]}
    if top_contexts:
        inputs["top_contexts"] = [P.top_contexts(m, p) for m, p in networks]
    if tokens:
        split = PLAN.analysis_split
        inputs["tokens"] = [P.tokens(PLAN.corpus(m), split) for m, _ in networks]
    return inputs


def retrieval_inputs(wildcards):
    model, _ = PLAN.retrieval_network()
    corpus = PLAN.corpus(model)
    return PLAN.model_corpus(model) | {
        "image_features": P.data(corpus, "image_features"),
        "model": P.model(model),
        "omission": P.network_table("omission", *PLAN.retrieval_network()),
        "code": code(
            catalog.METHODS["retrieval_examples"].module, PLAN.kind(model).module
        ),
    }


def checks_inputs(wildcards):
    """Every corpus's sentences and vocabulary, the parse of the analysis split, and every
    model's evaluation."""
    inputs = {"evaluation": [P.model(m, "evaluation.parquet") for m in MODELS]}
    if PLAN.has_kadar():  # the parse labels of Figs. 2-3
        inputs["tokens"] = P.tokens("coco", PLAN.analysis_split)
    for c in PLAN.corpora():
        inputs |= {f"{c}_{k}": v for k, v in corpus_data(c).items()}
    return inputs


def checks_corpus_args(wildcards, input):
    def one(c):
        min_count = PLAN.vocab_settings(c).min_count
        return (
            f"--corpus {c}={input[f'{c}_sentences']},{input[f'{c}_vocab']},{min_count}"
        )

    tokens = f"--tokens {input.tokens}" if "tokens" in input.keys() else ""
    corpora = " ".join(one(c) for c in PLAN.corpora())
    return f"{corpora} {tokens}"


def li_data_args():
    """``MODEL=DESCRIPTION`` of each class network's corpus, for the accuracy table."""
    return " ".join(
        shlex.quote(f"{m}={PLAN.describe_corpus(PLAN.corpus(m))}")
        for m in PLAN.li_models()
    )


def autoencoder_inputs(wildcards):
    models = sorted({m for m, _ in PLAN.autoencoder_networks()})
    return {
        "evaluation": [P.model(m, "evaluation.parquet") for m in models],
        "reconstructions": [P.model(m, "reconstructions.parquet") for m in models],
        "step_saliency": tables("step_saliency", PLAN.autoencoder_networks()),
    }


def io_settings(wildcards):
    """The shared settings (a change reruns every method), then the method's own section (a
    change reruns that method's jobs only)."""
    method = wildcards.io_method
    shared = settings_args("input_optimisation")
    own = settings_args(f"input_optimisation.{method}")
    return f"--method {method} {shared} {own}"


def figures_dir(wildcards, output):
    """The folder of a rule's ``fig1`` output (where it writes its other figures and tables)."""
    return str(Path(output.fig1).parent)


# --- targets and the end of a run --------------------------------------------------------------
def final_targets():
    """The plan's files, and every output of the analysis rules it asks for."""
    out = PLAN.targets()
    for name in PLAN.analysis_rules():
        out += [str(f) for f in getattr(rules, name).output]
    return out


RUN_STARTED = time.time()


def print_checks():
    """At the end of a successful run: the warnings of the checks (analysis.checks), which
    otherwise only the report and results/analysis/checks.csv show."""
    path = Path(rules.checks.output.csv)
    if not path.is_file():
        return
    with open(path, newline="", encoding="utf-8") as fh:
        warnings = [
            r["message"] for r in csv.DictReader(fh) if r["status"] == "warning"
        ]
    if not warnings:
        return
    if path.stat().st_mtime < RUN_STARTED:
        logger.warning(
            f"lingscope: {len(warnings)} warnings of an earlier run are in {path}"
        )
        return
    logger.warning(
        f"lingscope: {len(warnings)} warnings (also in {path} and the report):"
    )
    for message in warnings:
        logger.warning(f"  - {message}")
