# Helpers shared by the rule files (config access, paths, input functions).
# Keep heavy imports out of here: this file runs every time snakemake plans the DAG. Only the
# torch-free lingscope.core modules (the catalog and the settings objects) are imported.
import csv
import functools
import json
import os
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

# The catalog and the settings objects (all torch-free: planning stays fast).
from lingscope.analysis.settings import (  # noqa: E402
    AgreementSettings,
    AutoencoderFigureSettings,
    CheckSettings,
    DistributionSettings,
    MutualInformationSettings,
    OmissionWordSettings,
    PoernerTableSettings,
    ProbeSettings,
    RidgeSettings,
    TopContextSettings,
    TsneSettings,
    UnitFigureSettings,
)
from lingscope.core import catalog  # noqa: E402
from lingscope.core import config as config_check  # noqa: E402
from lingscope.core.code import CodeError, closure  # noqa: E402
from lingscope.core.errors import InputError  # noqa: E402
from lingscope.core.settings import Runtime  # noqa: E402
from lingscope.data.settings import VocabSettings  # noqa: E402
from lingscope.methods.settings import (  # noqa: E402
    ActivationSettings,
    AttributionSettings,
    CorpusSearchSettings,
    ExampleSettings,
    GradientSettings,
    GumbelSettings,
    InputOptimisationSettings,
    OmissionSettings,
    SaliencySettings,
    SentimentExamples,
    StepSaliencySettings,
)
from lingscope.parse.settings import SpacySettings, StanzaSettings  # noqa: E402
from lingscope.synth.settings import CocoSynthetic, SyntheticSizes  # noqa: E402

# The schema's problems, one line each (key, what is wrong, what is allowed): snakemake's own
# validate() prints the whole config after the first problem, about 400 lines.
try:
    config_check.check(
        config,
        source=" + ".join(["config.yaml", *map(str, workflow.overwrite_configfiles)]),
    )
except InputError as err:
    raise WorkflowError(str(err)) from None

RESULTS = lookup(dpath="results", within=config)
CORPORA = ["coco", "sst", "wmt"]
SPLITS = ["train", "val", "test"]


def checked(make):
    """A config section's settings, or a WorkflowError naming the key (before any job runs)."""
    try:
        return make()
    except InputError as err:
        raise WorkflowError(f"config: {err}") from None


def settings_args(cls, dpath, ignore=()):
    """The flags of settings class ``cls`` from the config section at ``dpath``."""
    section = lookup(dpath=dpath, within=config)
    where = ".".join(Path(dpath).parts)
    return checked(lambda: cls.from_config(section, where, ignore)).command_line()


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
        return code(module, model_entry(wildcards.model).module)

    return files


# --- corpora ---------------------------------------------------------------------------------
def source(corpus):
    return lookup(dpath=f"corpora/{corpus}/source", within=config)


def synthetic_size(corpus, key):
    """A synthetic corpus size, multiplied by synthetic_scale."""
    n = lookup(dpath=f"corpora/{corpus}/synthetic/{key}", within=config)
    return max(1, round(n * lookup(dpath="synthetic_scale", within=config)))


def synthetic_args(corpus, cls=SyntheticSizes, ignore=()):
    """The generator's settings; the sizes multiplied by synthetic_scale."""
    section = dict(lookup(dpath=f"corpora/{corpus}/synthetic", within=config))
    section |= {k: synthetic_size(corpus, k) for k in ("n_train", "n_val", "n_test")}
    where = f"corpora.{corpus}.synthetic"
    return checked(lambda: cls.from_config(section, where, ignore)).command_line()


def coco_synthetic_args():
    weights = lookup(dpath="corpora/coco/synthetic/weights", within=config)
    flags = " ".join(f"--weight {k}={v}" for k, v in weights.items())
    return f"{synthetic_args('coco', CocoSynthetic, ('weights',))} {flags}"


def vocab_args(wildcards):
    return settings_args(VocabSettings, f"vocab/{wildcards.corpus}")


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


def coco_caption_files():
    """The official captions files by split: those the config gives (null drops a split)."""
    files = lookup(dpath="corpora/coco/official/captions", within=config)
    return {split: path for split, path in files.items() if path is not None}


def coco_carve():
    return lookup(dpath="corpora/coco/official/carve", within=config)


def coco_carves():
    carve = coco_carve()
    return bool(carve["val"] or carve["test"])


def coco_splits():
    """The splits the MSCOCO ingest will write (checked against what later stages read)."""
    if source("coco") != "official":
        return set(SPLITS)
    splits = set(coco_caption_files())
    if coco_carves():
        # Carving spreads every image of the val file over val, test and what is left.
        carve = coco_carve()
        splits = (splits - {"val"}) | {s for s in ("val", "test") if carve[s]}
        if not lookup(dpath="corpora/coco/keep_restval", within=config):
            splits.add("train")
    return splits


def check_coco_splits():
    """An official-format config that cannot train or analyse stops here, before any job."""
    if source("coco") != "official":
        return
    given = coco_caption_files()
    key = "corpora.coco.official"
    if not given:
        raise WorkflowError(
            f"config: {key}.captions gives no file; map each split you have to its official captions file, "
            "e.g. {val: data/coco/annotations/captions_val2014.json}"
        )
    if coco_carves() and "val" not in given:
        raise WorkflowError(
            f"config: {key}.carve takes images out of the val file, but {key}.captions gives no val"
        )
    if coco_carve()["test"] and "test" in given:
        raise WorkflowError(
            f"config: {key}.captions gives a test file and {key}.carve.test carves test images out of val too; "
            "drop one of them"
        )
    have = coco_splits()
    missing = [s for s in ("train", "val") if s not in have]
    if missing and coco_carves():
        reason = {
            "val": f"{key}.carve.val is 0, and carving spreads the whole val file over the carved splits and "
            "the rest; carve some val images",
            "train": "corpora.coco.keep_restval is true, so what carving leaves of the val file is restval, "
            "not train; set it to false or add a train file",
        }[missing[0]]
        raise WorkflowError(
            f"config: nothing gives the {missing[0]} split that training needs: {reason}"
        )
    if missing:
        raise WorkflowError(
            f"config: {key}.captions gives {', '.join(sorted(given))} and nothing gives {' or '.join(missing)}; "
            f"training needs train and val captions. Add a {missing[0]} file, or carve val and test images out of "
            f"the val file with {key}.carve (Karpathy's split: {{val: 5000, test: 5000}}): the rest of that file "
            f"is then the train split"
        )
    for split in parse_splits("coco"):
        if split not in have:
            raise WorkflowError(
                f"config: parse.splits.coco parses {split!r}, which {key} does not give (it gives "
                f"{', '.join(sorted(have))}); drop {split!r} from parse.splits.coco or carve it with {key}.carve"
            )
    if analysis_split() not in have:
        raise WorkflowError(
            f"config: activations.split is {analysis_split()!r}, which {key} does not give "
            f"(it gives {', '.join(sorted(have))})"
        )


def coco_raw_inputs(wildcards):
    src = source("coco")
    if src == "synthetic":
        return {
            "dataset": raw("coco", "dataset_coco.json"),
            "features": raw("coco", "features.npy"),
        }
    if src == "karpathy":
        return lookup(dpath="corpora/coco/karpathy", within=config)
    features = lookup(dpath="corpora/coco/official/features", within=config)
    return {**coco_caption_files(), "features": features}


def coco_ingest_args(wildcards, input):
    src = source("coco")
    if src == "official":
        sources = " ".join(f"--official {s}={input[s]}" for s in coco_caption_files())
        # No seed flag without carving: changing the seed then reruns nothing.
        if coco_carves():
            carve = coco_carve()
            sources += (
                f" --carve {carve['val']} {carve['test']} --carve-seed {carve['seed']}"
            )
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
    cls = SpacySettings if backend == "spacy" else StanzaSettings
    return f"--backend {backend} {settings_args(cls, f'parse/{backend}')}"


def parse_form_args(wildcards):
    """The SST's trees escape brackets as Penn Treebank does (-LRB-): its parse reads "(".
    COCO captions lose their punctuation in tokenisation, and WMT lines are plain text.
    """
    return "--unescape-ptb" if wildcards.corpus == "sst" else ""


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


# --- models: the config's entries, described by the catalog -----------------------------------
MODEL_SETTINGS = checked(
    lambda: catalog.check_models(lookup(dpath="models", within=config))
)
MODELS = list(MODEL_SETTINGS)
# Every network name any kind has: the {pathway} wildcard.
PATHWAYS = sorted({n.name for k in catalog.KINDS.values() for n in k.networks})


def model_kind(model):
    return MODEL_SETTINGS[model].kind


def model_entry(model):
    """The catalog's entry for the kind of the config's model ``model``."""
    return catalog.kind(model_kind(model))


def model_pathways(method="activations"):
    """Every (model, network) of the config that ``method`` applies to (the catalog says)."""
    applies = catalog.METHODS[method].applies
    return [(m, n.name) for m in MODELS for n in model_entry(m).networks if applies(n)]


def network_of(display):
    """The (model, network) the figures call ``display`` (Sum, LM, Textual, Visual)."""
    for model, network in model_pathways():
        if catalog.network_display(model, network) == display:
            return model, network
    raise WorkflowError(
        f"config: the analyses of Kadar et al. need the network {display!r}, which no entry "
        f"under models: gives; keep the entries named {sorted(catalog.KINDS)}"
    )


def model_file(model):
    return f"{RESULTS}/models/{model}/model.pt"


def corpus_data(corpus):
    return {
        "sentences": f"{RESULTS}/data/{corpus}/sentences.parquet",
        "vocab": f"{RESULTS}/data/{corpus}/vocab.parquet",
    }


def model_data(wildcards):
    """The corpus tables a model trains and is evaluated on (its kind's corpus), and its extra
    data tables (the image features of a model with an image readout)."""
    kind = model_entry(wildcards.model)
    inputs = corpus_data(kind.corpus)
    for table in kind.tables:
        inputs[table] = f"{RESULTS}/data/{kind.corpus}/{table}.parquet"
    return inputs


def model_corpus(wildcards):
    """The sentences and vocabulary of the model's corpus (what the methods read)."""
    return corpus_data(model_entry(wildcards.model).corpus)


def table_args(wildcards, input):
    """``--image-features PATH`` and the like, for the extra tables of :func:`model_data`."""
    kind = model_entry(wildcards.model)
    return " ".join(f"--{t.replace('_', '-')} {input[t]}" for t in kind.tables)


def train_args(wildcards):
    """The model entry's settings as flags: a change to one entry is a params change of that
    model's training job only."""
    return MODEL_SETTINGS[wildcards.model].command_line()


def evaluate_splits(wildcards):
    """The splits the model's kind is evaluated on (the catalog's evaluate_on)."""
    return " ".join(model_entry(wildcards.model).evaluate_on)


def runtime_args():
    return settings_args(Runtime, "training", ignore=("gpus",))


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
            f"add {split!r} there so the analyses can join the omission scores with the parse"
        )
    return tokens_path("coco", split)


check_coco_splits()


def activation_dir(kind, model, pathway):
    return f"{RESULTS}/activations/{kind}/model={model}/pathway={pathway}"


def omission_path(model, pathway):
    return f"{RESULTS}/omission/{model}.{pathway}.parquet"


def kadar_omission():
    """The omission tables of the paper's four networks (Figs. 2-4 and 6)."""
    return [omission_path(*network_of(name)) for name in catalog.KADAR_NETWORKS]


def pair_omission():
    """The omission tables of VISUAL and TEXTUAL (Fig. 1)."""
    return [omission_path(*network_of(name)) for name in catalog.KADAR_PAIR]


def retrieval_network():
    """The network whose image readout retrieves the Fig. 1 images (VISUAL)."""
    return network_of(catalog.KADAR_PAIR[0])


def retrieval_inputs(wildcards):
    model, network = retrieval_network()
    kind = model_entry(model)
    return {
        **corpus_data(kind.corpus),
        "image_features": f"{RESULTS}/data/{kind.corpus}/image_features.parquet",
        "model": model_file(model),
        "omission": omission_path(model, network),
        "code": code(
            catalog.METHODS["retrieval_examples"].module,
            kind.module,
        ),
    }


def checks_inputs(wildcards):
    """What the checks read: every corpus's sentences and vocabulary, the parse of the analysis
    split, and every model's evaluation."""
    inputs = {
        "tokens": analysis_tokens(),
        "evaluation": [f"{RESULTS}/models/{m}/evaluation.parquet" for m in MODELS],
    }
    for c in CORPORA:
        inputs |= {f"{c}_{k}": v for k, v in corpus_data(c).items()}
    return inputs


def checks_corpus_args(wildcards, input):
    def one(c):
        min_count = lookup(dpath=f"vocab/{c}/min_count", within=config)
        sentences, vocab = input[f"{c}_sentences"], input[f"{c}_vocab"]
        return f"--corpus {c}={sentences},{vocab},{min_count}"

    return " ".join(one(c) for c in CORPORA)


def analysis_dir():
    return f"{RESULTS}/analysis"


def kadar_targets():
    out = []
    for m in MODELS:
        out += [model_file(m), f"{RESULTS}/models/{m}/evaluation.parquet"]
    for m, p in model_pathways("activations"):
        out += [activation_dir("tokens", m, p), activation_dir("h_end", m, p)]
    for m, p in model_pathways("omission"):
        out.append(omission_path(m, p))
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


def fig5_omission():
    """The omission table of analysis.fig5.network (Fig. 5)."""
    return omission_path(
        *network_of(lookup(dpath="analysis/fig5/network", within=config))
    )


# --- Kadar et al. 2017: the unit-level analyses ----------------------------------------------
def units_dir():
    return f"{RESULTS}/analysis/units"


def top_contexts_path(model, pathway):
    return f"{RESULTS}/units/top_contexts/{model}.{pathway}.parquet"


def unit_networks():
    """Every (model, network) with per-token states: top contexts, Table 1 and Fig. 7."""
    return model_pathways("activations")


def network_tokens(model):
    """The parse of the analysis split of the corpus of ``model`` (its deprels and forms)."""
    return tokens_path(model_entry(model).corpus, analysis_split())


def parsed_networks():
    """The networks whose per-token states are of a parsed split: the analysis split of their
    own corpus is in parse.splits (the deprels of Table 2 and Fig. 8, for every corpus).
    """
    return [
        (m, p)
        for m, p in unit_networks()
        if analysis_split() in parse_splits(model_entry(m).corpus)
    ]


def unit_inputs(networks, top_contexts=False, tokens=False):
    """The activation folders of ``networks`` and, optionally, their top-contexts tables and the
    parse of each one's split (in the same order)."""
    inputs = {"activations": [activation_dir("tokens", m, p) for m, p in networks]}
    if top_contexts:
        inputs["top_contexts"] = [top_contexts_path(m, p) for m, p in networks]
    if tokens:
        inputs["tokens"] = [network_tokens(m) for m, _ in networks]
    return inputs


def unit_figure_inputs(wildcards):
    return unit_inputs(unit_networks(), top_contexts=True)


def probe_networks():
    """The networks of units.probe.networks: ``all`` (every network of a parsed split) or display
    names, each checked to be one of a parsed split's."""
    chosen = lookup(dpath="units/probe/networks", within=config)
    if chosen == "all":
        return parsed_networks()
    by_display = {catalog.network_display(m, p): (m, p) for m, p in parsed_networks()}
    out = []
    for display in chosen:
        if display not in by_display:
            raise WorkflowError(
                f"config: units.probe.networks names {display!r}, which is not a network whose states are "
                f"of a parsed split (the analysis split of its corpus in parse.splits); expected 'all' or "
                f"some of {sorted(by_display)}"
            )
        out.append(by_display[display])
    return out


def probe_inputs(wildcards):
    return unit_inputs(probe_networks(), top_contexts=True, tokens=True)


def mi_inputs(wildcards):
    return unit_inputs(parsed_networks(), tokens=True)


def unit_targets():
    u = units_dir()
    return [
        f"{u}/table1.csv",
        f"{u}/fig7_traces.png",
        f"{u}/table2.csv",
        f"{u}/mi_ratios.csv",
        f"{u}/fig8_mi.png",
        f"{analysis_dir()}/fig5_words.png",
    ]


# --- Li et al. 2016: the sentiment networks ---------------------------------------------------
def saliency_path(kind, model, pathway):
    """``split``: every token of the saliency split; ``examples``: the example sentences."""
    return f"{RESULTS}/saliency/{kind}/{model}.{pathway}.parquet"


def representations_path(kind, model, pathway):
    """``representations`` of the example phrases; ``states`` of the concessive sentences."""
    return f"{RESULTS}/representations/{kind}/{model}.{pathway}.parquet"


def li_networks():
    """The (model, network) pairs with a class readout: what Li et al.'s figures compare."""
    return model_pathways("saliency")


def li_models():
    return sorted({m for m, _ in li_networks()})


def sentiment_examples_args():
    return settings_args(SentimentExamples, "li_figures/examples")


def li_data_label():
    """Which treebank the accuracy table's numbers come from."""
    if source("sst") == "synthetic":
        return "synthetic treebank (lingscope.synth.sst), not the real SST"
    return "Stanford Sentiment Treebank (trainDevTestTrees_PTB)"


def li_dir():
    return f"{RESULTS}/analysis/sentiment"


def figures_dir(wildcards, output):
    """The folder of a rule's ``fig1`` output (where it writes its other figures and tables)."""
    return str(Path(output.fig1).parent)


def li_targets():
    if not li_networks():
        return []
    out = [f"{li_dir()}/accuracy.csv", f"{li_dir()}/li_fig1_representations.png"]
    for m, p in li_networks():
        out.append(saliency_path("split", m, p))
    return out


# --- Li et al. 2016: the autoencoder --------------------------------------------------------
def attribution_path(model, pathway):
    return f"{RESULTS}/attribution/{model}.{pathway}.parquet"


def attribution_networks():
    """The (model, network) pairs attribution applies to (the catalog says) that omission also scores."""
    scored = set(model_pathways("omission"))
    return [n for n in model_pathways("attribution") if n in scored]


def agreement_dir():
    return f"{RESULTS}/analysis/agreement"


def agreement_inputs(wildcards):
    return {
        "omission": [omission_path(m, p) for m, p in attribution_networks()],
        "attribution": [attribution_path(m, p) for m, p in attribution_networks()],
    }


def agreement_targets():
    if not attribution_networks():
        return []
    return [f"{agreement_dir()}/agreement.csv", f"{agreement_dir()}/agreement.png"]


def step_saliency_path(model, pathway):
    return f"{RESULTS}/step_saliency/{model}.{pathway}.parquet"


def autoencoder_networks():
    """The (model, network) pairs with a sequence readout (the catalog says)."""
    return model_pathways("step_saliency")


def autoencoder_dir():
    return f"{RESULTS}/analysis/autoencoder"


def autoencoder_inputs(wildcards):
    models = sorted({m for m, _ in autoencoder_networks()})
    return {
        "evaluation": [f"{RESULTS}/models/{m}/evaluation.parquet" for m in models],
        "reconstructions": [
            f"{RESULTS}/models/{m}/reconstructions.parquet" for m in models
        ],
        "step_saliency": [step_saliency_path(m, p) for m, p in autoencoder_networks()],
    }


def autoencoder_targets():
    if not autoencoder_networks():
        return []
    d = autoencoder_dir()
    return [
        f"{d}/results.csv",
        f"{d}/by_length.png",
        f"{d}/alignment.csv",
        f"{d}/fig9_saliency.png",
    ]


# --- Poerner et al. 2018: input optimisation -------------------------------------------------
# Each method's own settings class (its section input_optimisation.<method>).
IO_METHODS = {
    "crp": CorpusSearchSettings,
    "emb": GradientSettings,
    "logit": GradientSettings,
    "smx": GradientSettings,
    "gbl": GumbelSettings,
}


def io_optimisable():
    """The (model, network) pairs input optimisation has targets on: a readout that is not a
    sequence readout (the catalog), or the hidden units (input_optimisation.hidden_per_draw > 0).
    """
    hidden = lookup(dpath="input_optimisation/hidden_per_draw", within=config) > 0
    return [
        (m, p)
        for m, p in model_pathways("input_optimisation")
        if hidden
        or set(model_entry(m).network(p).readouts) - set(catalog.SEQUENCE_READOUTS)
    ]


def io_networks():
    """The (model, network) pairs of input_optimisation.networks (display names), each checked
    against the catalog and the settings: the method must have targets on it."""
    applies = io_optimisable()
    by_display = {catalog.network_display(m, p): (m, p) for m, p in applies}
    out = []
    for display in lookup(dpath="input_optimisation/networks", within=config):
        if display not in by_display:
            raise WorkflowError(
                f"config: input_optimisation.networks names {display!r}, which no model entry gives, or "
                f"which has no target (only a sequence readout, and input_optimisation.hidden_per_draw is 0); "
                f"expected some of {sorted(by_display)}"
            )
        out.append(by_display[display])
    return out


def io_other_networks():
    """The (model, network) pairs of input_optimisation.other_networks: ``all`` (every network the
    method applies to that input_optimisation.networks does not name) or display names. They run
    the methods of input_optimisation.other_methods only, and stay out of Poerner's figures.
    """
    applies = io_optimisable()
    main = set(io_networks())
    chosen = lookup(dpath="input_optimisation/other_networks", within=config)
    if chosen == "all":
        return [n for n in applies if n not in main]
    by_display = {catalog.network_display(m, p): (m, p) for m, p in applies}
    out = []
    for display in chosen:
        if display not in by_display:
            raise WorkflowError(
                f"config: input_optimisation.other_networks names {display!r}, which no model entry gives, "
                f"or which has no target (only a sequence readout, and input_optimisation.hidden_per_draw "
                f"is 0); expected 'all' or some of {sorted(by_display)}"
            )
        if by_display[display] in main:
            raise WorkflowError(
                f"config: input_optimisation.other_networks names {display!r}, which input_optimisation.networks "
                "names too; name a network in one of them"
            )
        out.append(by_display[display])
    return out


def io_other_tables():
    methods = lookup(dpath="input_optimisation/other_methods", within=config)
    return [io_path(m, p, method) for m, p in io_other_networks() for method in methods]


def io_path(model, pathway, method):
    return f"{RESULTS}/input_optimisation/{model}.{pathway}.{method}.parquet"


def io_tables():
    return [io_path(m, p, method) for m, p in io_networks() for method in IO_METHODS]


def io_args():
    """The shared settings (targets, draws, seeds): a change reruns every method."""
    return settings_args(
        InputOptimisationSettings,
        "input_optimisation",
        ignore=("networks", "other_networks", "other_methods", *IO_METHODS),
    )


def io_method_args(wildcards):
    """The method's own section: a change reruns that method's jobs only."""
    method = wildcards.io_method
    return settings_args(IO_METHODS[method], f"input_optimisation/{method}")


def io_dir():
    return f"{RESULTS}/analysis/input_optimisation"


def io_targets():
    out = io_other_tables()
    if io_networks():
        out += [
            *io_tables(),
            f"{io_dir()}/fig1_activations.png",
            f"{io_dir()}/table1.csv",
        ]
    return out


# --- the method x network matrix as it ran (METHODS.md sec. 4) --------------------------------
def matrix_dir():
    return f"{RESULTS}/analysis/matrix"


def _readout_reason(method):
    """Why catalog method ``method`` does not apply to a network (what it needs)."""
    needs = catalog.METHODS[method].needs_readout
    needs = (needs,) if isinstance(needs, str) else needs
    return (
        f"needs a readout of {' or '.join(needs)}; the network has none (the catalog)"
    )


@functools.cache  # the config is fixed once the workflow is parsed: plan once, for input and params
def matrix_cells():
    """Every (row, network) cell of the matrix: the outputs that fill it, or why it is blank.
    A row is a method (or an analysis of a method's output); a cell holds the files of one
    network, or a shared file and the network's rows in it."""
    u = units_dir()
    networks = model_pathways()
    parsed = set(parsed_networks())
    probed = set(probe_networks())
    io_main, io_other = set(io_networks()), set(io_other_networks())
    optimisable = set(io_optimisable())
    other_methods = lookup(dpath="input_optimisation/other_methods", within=config)
    scored = set(attribution_networks())
    cells = []

    def add(row, model, network, outputs=(), reason=None, shared=False):
        cells.append(
            {
                "method": row,
                "model": model,
                "pathway": network,
                "outputs": list(outputs),
                "shared": shared,
                "reason": reason,
            }
        )

    def catalog_row(row, method, path):
        for m, p in networks:
            if catalog.METHODS[method].applies(model_entry(m).network(p)):
                add(row, m, p, [path(m, p)])
            else:
                add(row, m, p, reason=_readout_reason(method))

    not_parsed = (
        "the analysis split of its corpus is not parsed (activations.split not in parse.splits.<corpus>): "
        "no deprels"
    )
    catalog_row(
        "activation dumps", "activations", lambda m, p: activation_dir("tokens", m, p)
    )
    catalog_row("top-K contexts", "activations", top_contexts_path)
    for m, p in networks:
        if (m, p) in parsed:
            add("mutual information", m, p, [f"{u}/mi_units.parquet"], shared=True)
        else:
            add("mutual information", m, p, reason=not_parsed)
        if (m, p) in probed:
            add("probe (deprel)", m, p, [f"{u}/table2.parquet"], shared=True)
        elif (m, p) in parsed:
            add("probe (deprel)", m, p, reason="units.probe.networks does not name it")
        else:
            add("probe (deprel)", m, p, reason=not_parsed)
    catalog_row("omission", "omission", omission_path)
    catalog_row(
        "saliency, gradient x input, integrated gradients",
        "attribution",
        attribution_path,
    )
    catalog_row("variance salience", "attribution", attribution_path)
    for m, p in networks:
        if (m, p) in scored:
            add(
                "agreement", m, p, [f"{agreement_dir()}/agreement.parquet"], shared=True
            )
        else:
            add("agreement", m, p, reason="needs both omission and attribution")
        if (m, p) in io_main:
            add(
                "input optimisation",
                m,
                p,
                [io_path(m, p, method) for method in IO_METHODS],
            )
        elif (m, p) in io_other and other_methods:
            add(
                "input optimisation",
                m,
                p,
                [io_path(m, p, method) for method in other_methods],
            )
        elif (m, p) not in optimisable:
            add(
                "input optimisation",
                m,
                p,
                reason="no target: only a sequence readout, and input_optimisation.hidden_per_draw is 0",
            )
        elif (m, p) in io_other:
            add(
                "input optimisation",
                m,
                p,
                reason="input_optimisation.other_methods is empty",
            )
        else:
            add(
                "input optimisation",
                m,
                p,
                reason="neither input_optimisation.networks nor other_networks names it",
            )
    catalog_row(
        "class saliency (Li et al. Figs. 5-8)",
        "saliency",
        lambda m, p: saliency_path("split", m, p),
    )
    catalog_row(
        "representations (Li et al. Figs. 1-4)",
        "representations",
        lambda m, p: representations_path("representations", m, p),
    )
    catalog_row("step saliency (Li et al. Fig. 9)", "step_saliency", step_saliency_path)
    try:
        retrieval = retrieval_network()
    except WorkflowError:  # no Visual among the models: Fig. 1 is not planned
        retrieval = None
    for m, p in networks:
        if (m, p) == retrieval:
            add(
                "image retrieval (Kadar et al. Fig. 1)",
                m,
                p,
                [f"{analysis_dir()}/retrieval_examples.parquet"],
            )
        else:
            add(
                "image retrieval (Kadar et al. Fig. 1)",
                m,
                p,
                reason=(
                    _readout_reason("retrieval_examples")
                    if not catalog.METHODS["retrieval_examples"].applies(
                        model_entry(m).network(p)
                    )
                    else "Fig. 1 retrieves with one network (Visual)"
                ),
            )
    return cells


def matrix_inputs(wildcards):
    return sorted({path for cell in matrix_cells() for path in cell["outputs"]})


def matrix_targets():
    return [f"{matrix_dir()}/matrix.html", f"{matrix_dir()}/matrix.csv"]


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
    return [
        *data_targets(),
        *parse_targets(),
        *kadar_targets(),
        *unit_targets(),
        *li_targets(),
        *io_targets(),
        *autoencoder_targets(),
        *agreement_targets(),
        *matrix_targets(),
        checks_csv(),
    ]


def checks_csv():
    return f"{analysis_dir()}/checks.csv"


# --- the end of a run ------------------------------------------------------------------------
RUN_STARTED = time.time()


def print_checks():
    """At the end of a successful run: the warnings of the checks (analysis.checks), which
    otherwise only the report and results/analysis/checks.csv show."""
    path = Path(checks_csv())
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
