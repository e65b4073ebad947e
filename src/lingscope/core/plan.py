"""The plan: what a run makes, decided from the config alone.

Which networks each method and figure gets, the config's cross-checks (a config that cannot
run stops here, before any job, with a message naming the key and the fix), the path of every
output, the final targets, and the method x network matrix with the reason for each blank cell.

The workflow (``workflow/rules/common.smk``) builds one :class:`Plan` when it parses and asks it;
the tests build plans from config dicts with no Snakemake at all. Torch-free, numpy-free: it
runs every time Snakemake plans the DAG.

Vocabulary (see :mod:`lingscope.core.catalog`): a *model* is a ``models.<name>`` entry of the
config, a *network* one ``(model, pathway)`` pair of it, a *display name* how figures label it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from lingscope.core import carve, catalog
from lingscope.core.corpora import BUILTIN, NAME_PATTERN, UserCorpus
from lingscope.core.errors import InputError
from lingscope.core.settings import TrainingSettings

CORPORA = BUILTIN  # the corpora in their published formats; a config may declare its own (UserCorpus)
SPLITS = ("train", "val", "test")
Network = tuple[str, str]  # (model, pathway)
# Input optimisation's methods (Poerner et al. 2018), each a section input_optimisation.<method>.
IO_METHODS = ("crp", "emb", "logit", "smx", "gbl")


_CATALOG_DISPLAYS = {n.display for k in catalog.KINDS.values() for n in k.networks}


class PlanError(Exception):
    """A config the workflow cannot run: the message names the key and what to do."""


@dataclass(frozen=True)
class Paths:
    """Where every output lives under the results folder: the one place a path is spelled.

    Arguments may be Snakemake wildcards (``"{model}"``): the rules declare their outputs with
    the same functions the plan lists targets with.
    """

    results: str

    def raw(self, corpus: str, name: str) -> str:
        return f"{self.results}/raw/{corpus}/{name}"

    def data(self, corpus: str, table: str) -> str:
        return f"{self.results}/data/{corpus}/{table}.parquet"

    def tokens(self, corpus: str, split: str) -> str:
        return f"{self.results}/parse/corpus={corpus}/split={split}/tokens.parquet"

    def parse_shard(self, corpus: str, split: str, shard, n_shards) -> str:
        return f"{self.results}/parse/corpus={corpus}/split={split}/shards/{shard}-of-{n_shards}.parquet"

    def parse(self, name: str) -> str:
        return f"{self.results}/parse/{name}"

    def model(self, model: str, name: str = "model.pt") -> str:
        """A model's checkpoint (``model.pt``) or one of its tables (``evaluation.parquet``)."""
        return f"{self.results}/models/{model}/{name}"

    def activations(self, kind: str, model: str, pathway: str) -> str:
        """``tokens``: per-token states; ``h_end``: the sentence representations."""
        return f"{self.results}/activations/{kind}/model={model}/pathway={pathway}"

    def network_table(self, method: str, model: str, pathway: str, kind: str | None = None) -> str:
        """A method's table of one network (``omission``, ``attribution``, ``saliency`` with its
        ``kind``, ...)."""
        folder = f"{method}/{kind}" if kind else method
        return f"{self.results}/{folder}/{model}.{pathway}.parquet"

    def top_contexts(self, model: str, pathway: str) -> str:
        return f"{self.results}/units/top_contexts/{model}.{pathway}.parquet"

    def io(self, model: str, pathway: str, method: str) -> str:
        return f"{self.results}/input_optimisation/{model}.{pathway}.{method}.parquet"

    def analysis(self, name: str, folder: str | None = None) -> str:
        """A file of the analyses: ``results/analysis[/folder]/name``."""
        return f"{self.results}/analysis/{folder}/{name}" if folder else f"{self.results}/analysis/{name}"

    def ingest_report(self, corpus: str) -> str:
        """What the ingest of a corpus of the user's own read: rows per split, blank lines skipped."""
        return f"{self.results}/data/{corpus}/ingest.json"

    def log(self, name: str) -> str:
        return f"{self.results}/logs/{name}.log"

    def benchmark(self, name: str) -> str:
        return f"{self.results}/benchmarks/{name}.tsv"


def _get(config: Mapping, dotted: str):
    node = config
    for key in dotted.split("."):
        node = node[key]
    return node


class Plan:
    """Every decision of a run that follows from its (merged, schema-checked) config."""

    def __init__(self, config: Mapping):
        self.config = config
        self.paths = Paths(str(config["results"]))
        try:
            self.models: dict[str, TrainingSettings] = catalog.check_models(config["models"])
            self.user_corpora: dict[str, UserCorpus] = {
                name: UserCorpus.from_config(name, entry) for name, entry in config["corpora"].items()
                if name not in BUILTIN and entry is not None}
        except InputError as err:
            raise PlanError(f"config: {err}") from None
        for name in self.user_corpora:
            if not re.fullmatch(NAME_PATTERN, name):
                raise PlanError(f"config: corpora.{name}: a corpus name is a letter, then letters, digits or _ "
                                "(it names folders and tables)")
        for model in self.models:
            self._check_corpus(model)

    def get(self, dotted: str):
        """A config value by its dotted key (``parse.splits.coco``)."""
        return _get(self.config, dotted)

    # --- corpora ----------------------------------------------------------------------------
    def corpora(self) -> list[str]:
        """The corpora a run ingests: each published-format corpus a model trains on, then every
        corpus of the user's own (each is ingested, parsed and summarised, used or not)."""
        used = {self.corpus(m) for m in self.models}
        return [c for c in BUILTIN if c in used] + list(self.user_corpora)

    def corpus_format(self, corpus: str) -> str:
        """coco, sst, wmt (the published formats, each its own), labelled or text."""
        if corpus in BUILTIN:
            return corpus
        if corpus in self.user_corpora:
            return self.user_corpora[corpus].format
        raise PlanError(f"config: no corpus {corpus!r} under corpora: (it has {sorted(self.config['corpora'])})")

    def data_tables(self, corpus: str) -> tuple[str, ...]:
        """The data tables of a corpus: its ingest's, then the vocabulary."""
        if corpus in self.user_corpora:
            return (*self.user_corpora[corpus].tables(), "vocab")
        extra = {"coco": ("image_features",), "sst": ("phrases",), "wmt": ()}[corpus]
        return ("sentences", *extra, "vocab")

    def describe_corpus(self, corpus: str) -> str:
        """How tables and figures name a corpus's data (a synthetic corpus says so)."""
        if corpus in self.user_corpora:
            return self.user_corpora[corpus].describe()
        if corpus == "sst":
            return self.li_data_label()
        source = self.source(corpus)
        return f"{corpus} ({'synthetic, lingscope.synth.' + corpus if source == 'synthetic' else source})"

    def source(self, corpus: str) -> str:
        return self.get(f"corpora.{corpus}.source")

    def vocab_settings(self, corpus: str):
        """vocab.<corpus>; a corpus of the user's own that it does not name keeps every train type
        (min_count 1, no cap). The class is the config schema's for every corpus's vocabulary
        (looked up by name: the plan imports no stage)."""
        from lingscope.core import config_schema

        section = self.get("vocab").get(corpus) or {}
        cls = config_schema.settings_class(f"vocab.{BUILTIN[0]}")
        try:
            return cls.from_config(section, f"vocab.{corpus}", defaults=corpus not in BUILTIN)
        except InputError as err:
            raise PlanError(f"config: {err}") from None

    def user_corpus(self, corpus: str) -> UserCorpus:
        return self.user_corpora[corpus]

    def user_corpora_of(self, fmt: str) -> list[str]:
        return [c for c, entry in self.user_corpora.items() if entry.format == fmt]

    def io_tokens(self) -> str:
        """The parse whose function words Poerner's summary counts: the analysis split of the
        first input-optimised network's corpus."""
        model = self.io_networks()[0][0]
        return self.paths.tokens(self.corpus(model), self.analysis_split)

    def parse_splits(self, corpus: str) -> list[str]:
        """parse.splits.<corpus>; a corpus of the user's own that it does not name parses val and test."""
        splits = self.get("parse.splits")
        if corpus in splits:
            return list(splits[corpus])
        return ["val", "test"] if corpus in self.user_corpora else []

    @property
    def analysis_split(self) -> str:
        return self.get("activations.split")

    def coco_caption_files(self) -> dict[str, str]:
        """The official captions files by split: those the config gives (null drops a split)."""
        files = self.get("corpora.coco.official.captions")
        return {split: path for split, path in files.items() if path is not None}

    def coco_carve(self) -> tuple[int, int]:
        section = self.get("corpora.coco.official.carve")
        return section["val"], section["test"]

    def coco_splits(self) -> set[str]:
        """The splits the MSCOCO ingest will write (checked against what later stages read)."""
        if self.source("coco") != "official":
            return set(SPLITS)
        return carve.carved_splits(self.coco_caption_files(), *self.coco_carve(),
                                   keep_restval=self.get("corpora.coco.keep_restval"))

    def raw_inputs(self, corpus: str) -> dict[str, str]:
        """The files a corpus's ingest reads: the generator's outputs, or the user's files."""
        source, raw = self.source(corpus), self.paths.raw
        if corpus == "coco":
            if source == "synthetic":
                return {"dataset": raw("coco", "dataset_coco.json"), "features": raw("coco", "features.npy")}
            if source == "karpathy":
                return dict(self.get("corpora.coco.karpathy"))
            return {**self.coco_caption_files(), "features": self.get("corpora.coco.official.features")}
        if corpus == "sst":
            return {s: f"{self.sst_trees_dir()}/{s}.txt" for s in ("train", "dev", "test")}
        if source == "synthetic":
            return {"train": raw("wmt", "train.txt.gz"), "val": raw("wmt", "val.txt"), "test": raw("wmt", "test.txt")}
        return {s: self.get(f"corpora.wmt.text.{s}") for s in SPLITS}

    def sst_trees_dir(self) -> str:
        if self.source("sst") == "synthetic":
            return self.paths.raw("sst", "trees")
        return self.get("corpora.sst.ptb.trees_dir")

    def wmt_max_lines(self) -> int:
        return 0 if self.source("wmt") == "synthetic" else self.get("corpora.wmt.text.max_lines")

    def coco_ingest_args(self, files: Mapping[str, str]) -> str:
        """The MSCOCO ingest's flags, given the files of :meth:`raw_inputs`."""
        if self.source("coco") == "official":
            sources = " ".join(f"--official {s}={files[s]}" for s in self.coco_caption_files())
            # No seed flag without carving: changing the seed then reruns nothing.
            if any(self.coco_carve()):
                seed = self.get("corpora.coco.official.carve.seed")
                sources += " --carve {} {} --carve-seed {}".format(*self.coco_carve(), seed)
        else:
            sources = f"--karpathy {files['dataset']}"
        keep = " --keep-restval" if self.get("corpora.coco.keep_restval") else ""
        return f"{sources} --expected-dim {self.get('corpora.coco.feature_dim')}{keep}"

    def synthetic(self, corpus: str) -> dict:
        """A synthetic corpus's generator section, its sizes multiplied by synthetic_scale."""
        section = dict(self.get(f"corpora.{corpus}.synthetic"))
        scale = self.get("synthetic_scale")
        return section | {k: max(1, round(section[k] * scale)) for k in ("n_train", "n_val", "n_test")}

    def parse_model_name(self) -> str:
        """The parser's model, as the parse accuracy table names it."""
        backend = self.get("parse.backend")
        if backend == "spacy":
            return self.get("parse.spacy.model")
        return f"stanza-{self.get('parse.stanza.package')}"

    def has_parse_accuracy(self) -> bool:
        """Gold trees exist only for the synthetic captions."""
        return "coco" in self.corpora() and self.source("coco") == "synthetic" and bool(self.parse_splits("coco"))

    # --- models and networks ----------------------------------------------------------------
    def kind(self, model: str) -> catalog.Kind:
        """The catalog's entry for the kind of the config's model ``model``."""
        return catalog.kind(self.models[model].kind).of(self.models[model])

    def trained(self, model: str) -> bool:
        """Whether lingscope trains the model (else a check job reads it from the user's files)."""
        return self.kind(model).trained

    def trained_models(self) -> list[str]:
        return [m for m in self.models if self.trained(m)]

    def pathways(self) -> list[str]:
        """Every network name a kind of the catalog or a model of the config has."""
        return sorted({n.name for k in catalog.KINDS.values() for n in k.networks}
                      | {n.name for m in self.models for n in self.kind(m).networks})

    def model_corpus(self, model: str) -> dict[str, str]:
        """The sentences of a model's corpus and the vocabulary it reads them with."""
        return {"sentences": self.paths.data(self.corpus(model), "sentences"), "vocab": self.model_vocab(model)}

    def models_pattern(self, trained: bool) -> str:
        """A regex of the trained models' names, or of the checked ones' (never matches when none)."""
        return "|".join(re.escape(m) for m in self.models if self.trained(m) == trained) or "(?!)"

    def model_vocab(self, model: str) -> str:
        """The vocabulary a model reads its corpus with: the corpus's, or, for a network trained
        elsewhere, its own (the check job writes it beside the model)."""
        return self.paths.data(self.corpus(model), "vocab") if self.trained(model) else \
            self.paths.model(model, "vocab.parquet")

    def pretrained_files(self, model: str) -> dict[str, str]:
        """A checked model's inputs: its checkpoint, vocabulary and labels files as the config
        names them, and the labels table of a labelled corpus (a classes head's ids)."""
        settings = self.models[model]
        files = {"checkpoint": settings.checkpoint, "vocabulary": settings.vocabulary}
        if settings.labels:
            files["labels"] = settings.labels
        corpus = self.corpus(model)
        if settings.head == "classes" and "labels" in self.data_tables(corpus):
            files["corpus_labels"] = self.paths.data(corpus, "labels")
        return files

    def corpus(self, model: str) -> str:
        """The corpus model ``model`` trains and is analysed on: its entry's ``corpus``, else its
        kind's."""
        return self.models[model].corpus or self.kind(model).corpus

    def _check_corpus(self, model: str) -> None:
        corpus, kind = self.corpus(model), self.kind(model)
        if corpus not in BUILTIN and corpus not in self.user_corpora:
            raise PlanError(f"config: models.{model}.corpus is {corpus!r}, which corpora: does not declare; declare "
                            f"it there (format: labelled or text) or use one of {sorted(self.corpora_declared())}")
        if model in catalog.KINDS and kind.corpus and corpus != kind.corpus:
            raise PlanError(f"config: models.{model}.corpus is {corpus!r}, but the entry named after the kind "
                            f"{model!r} is the paper's network on {kind.corpus!r} (its figures and published numbers "
                            f"follow its name); put the model on {corpus!r} under a name of its own, e.g. "
                            f"{corpus}_{model}: {{kind: {model}, corpus: {corpus}}}")
        fmt = self.corpus_format(corpus)
        if fmt not in kind.formats:
            raise PlanError(f"config: models.{model}.corpus is {corpus!r}, a {fmt} corpus; kind {kind.name!r} trains "
                            f"on corpora of the formats {list(kind.formats)} (the sentiment kinds need a label per "
                            "sentence, IMAGINET and SUM captions with images)")
        settings = self.models[model]
        if getattr(settings, "examples", None) == "phrases" and fmt != "sst":
            entry = self.config["models"][model]
            if isinstance(entry, Mapping) and entry.get("examples") == "phrases":
                raise PlanError(f"config: models.{model}.examples is 'phrases', but {corpus!r} has no phrase labels "
                                "(only the SST's trees do); use examples: sentences or leave the key out")

    def corpora_declared(self) -> list[str]:
        return [*BUILTIN, *self.user_corpora]

    def training_settings(self, model: str) -> TrainingSettings:
        """The model's settings as its training job takes them: on a corpus without phrase labels
        the sentiment kinds train on sentences."""
        settings = self.models[model]
        if getattr(settings, "examples", None) == "phrases" and self.corpus_format(self.corpus(model)) != "sst":
            return dataclasses.replace(settings, examples="sentences")
        return settings

    def sst_polarity(self, model: str) -> bool:
        """The SST's fine (5 labels) and coarse (polarity) granularities apply: the model is on the SST."""
        return self.corpus_format(self.corpus(model)) == "sst"

    def networks(self, method: str = "activations") -> list[Network]:
        """Every (model, network) of the config that catalog method ``method`` applies to."""
        applies = catalog.METHODS[method].applies
        return [(m, n.name) for m in self.models for n in self.kind(m).networks if applies(n)]

    def display(self, network: Network) -> str:
        return catalog.network_display(*network)

    def network_of(self, display: str) -> Network:
        """The (model, network) the figures call ``display`` (Sum, LM, Textual, Visual)."""
        for network in self.networks():
            if self.display(network) == display:
                return network
        raise PlanError(f"config: the analyses of Kadar et al. need the network {display!r}, which no entry "
                        f"under models: gives; keep the entries named {sorted(catalog.KINDS)}")

    def _by_display(self, chosen, candidates: list[Network], key: str, what: str) -> list[Network]:
        """The networks of the config list ``key`` (display names), each one of ``candidates``. A
        catalog network whose model entry the config dropped (``imaginet: null``) is left out: the
        analyses that need it leave the run."""
        by_display = {self.display(n): n for n in candidates}
        present = {self.display(n) for n in self.networks()}
        out = []
        for display in chosen:
            if display in _CATALOG_DISPLAYS and display not in present:
                continue
            if display not in by_display:
                raise PlanError(f"config: {key} names {display!r}, {what}{sorted(by_display)}")
            out.append(by_display[display])
        return out

    def parsed_networks(self) -> list[Network]:
        """The networks whose per-token states are of a parsed split: the analysis split of their
        own corpus is in parse.splits (the deprels of Table 2 and Fig. 8, for every corpus)."""
        return [(m, p) for m, p in self.networks("activations")
                if self.analysis_split in self.parse_splits(self.corpus(m))]

    def probe_networks(self) -> list[Network]:
        """units.probe.networks: ``all`` (every network of a parsed split) or display names."""
        chosen = self.get("units.probe.networks")
        if chosen == "all":
            return self.parsed_networks()
        return self._by_display(chosen, self.parsed_networks(), "units.probe.networks",
                                "which is not a network whose states are of a parsed split (the analysis split "
                                "of its corpus in parse.splits); expected 'all' or some of ")

    def io_optimisable(self) -> list[Network]:
        """The networks input optimisation has targets on: a readout that is not a sequence
        readout (the catalog), or the hidden units (input_optimisation.hidden_per_draw > 0)."""
        hidden = self.get("input_optimisation.hidden_per_draw") > 0
        return [(m, p) for m, p in self.networks("input_optimisation")
                if hidden or set(self.kind(m).network(p).readouts) - set(catalog.SEQUENCE_READOUTS)]

    _IO_MISSING = ("which no model entry gives, or which has no target (only a sequence readout, and "
                   "input_optimisation.hidden_per_draw is 0); expected ")

    def io_networks(self) -> list[Network]:
        """input_optimisation.networks (display names): Poerner's figures, every method."""
        return self._by_display(self.get("input_optimisation.networks"), self.io_optimisable(),
                                "input_optimisation.networks", self._IO_MISSING + "some of ")

    def io_other_networks(self) -> list[Network]:
        """input_optimisation.other_networks: ``all`` (every network the method applies to that
        input_optimisation.networks does not name) or display names. They run the methods of
        input_optimisation.other_methods only, and stay out of Poerner's figures."""
        main = set(self.io_networks())
        chosen = self.get("input_optimisation.other_networks")
        if chosen == "all":
            return [n for n in self.io_optimisable() if n not in main]
        out = self._by_display(chosen, self.io_optimisable(), "input_optimisation.other_networks",
                               self._IO_MISSING + "'all' or some of ")
        for network in out:
            if network in main:
                raise PlanError(f"config: input_optimisation.other_networks names {self.display(network)!r}, which "
                                "input_optimisation.networks names too; name a network in one of them")
        return out

    def attribution_networks(self) -> list[Network]:
        """The networks attribution applies to that omission also scores (agreement compares them)."""
        scored = set(self.networks("omission"))
        return [n for n in self.networks("attribution") if n in scored]

    def li_networks(self) -> list[Network]:
        """The networks with a class readout: what Li et al.'s figures compare."""
        return self.networks("saliency")

    def li_models(self) -> list[str]:
        return sorted({m for m, _ in self.li_networks()})

    def li_data_label(self) -> str:
        """Which treebank the accuracy table's numbers come from."""
        if self.source("sst") == "synthetic":
            return "synthetic treebank (lingscope.synth.sst), not the real SST"
        return "Stanford Sentiment Treebank (trainDevTestTrees_PTB)"

    def autoencoder_networks(self) -> list[Network]:
        """The networks with a sequence readout."""
        return self.networks("step_saliency")

    def retrieval_network(self) -> Network:
        """The network whose image readout retrieves the Fig. 1 images (Visual)."""
        return self.network_of(catalog.KADAR_PAIR[0])

    def has_kadar(self) -> bool:
        """Kadar et al.'s figures run when the config keeps the four networks they compare
        (models imaginet, sum and lm on the captions): a config that drops one leaves them out."""
        try:
            networks = [self.network_of(name) for name in catalog.KADAR_NETWORKS]
        except PlanError:
            return False
        return all(self.corpus(m) == "coco" for m, _ in networks)

    def kadar_networks(self) -> list[Network]:
        """The paper's four networks (Figs. 2-4 and 6), in the paper's order."""
        return [self.network_of(name) for name in catalog.KADAR_NETWORKS]

    def kadar_pair(self) -> list[Network]:
        """Visual and Textual (Fig. 1)."""
        return [self.network_of(name) for name in catalog.KADAR_PAIR]

    def fig5_network(self) -> Network:
        return self.network_of(self.get("analysis.fig5.network"))

    # --- checks -----------------------------------------------------------------------------
    def check(self) -> None:
        """Every cross-check of the config, in the order a run meets them; the first problem
        raises :class:`PlanError`."""
        if "coco" in self.corpora():
            self.check_coco_splits()
        if self.has_kadar():
            if self.analysis_split not in self.parse_splits("coco"):
                split = self.analysis_split
                raise PlanError(f"config: activations.split is {split!r} but parse.splits.coco does not parse it; "
                                f"add {split!r} there so the analyses can join the omission scores with the parse")
            self.fig5_network()
        self.probe_networks()
        self.io_other_networks()  # and io_networks

    def check_coco_splits(self) -> None:
        """An official-format config that cannot train or analyse stops here, before any job."""
        if self.source("coco") != "official":
            return
        given = self.coco_caption_files()
        key = carve.KEY
        if not given:
            raise PlanError(f"config: {key}.captions gives no file; map each split you have to its official captions "
                            "file, e.g. {val: data/coco/annotations/captions_val2014.json}")
        problem = carve.carve_problem(given, *self.coco_carve()) or carve.missing_training_split(
            given, *self.coco_carve(), keep_restval=self.get("corpora.coco.keep_restval"))
        if problem:
            raise PlanError(f"config: {problem}")
        have = self.coco_splits()
        for split in self.parse_splits("coco"):
            if split not in have:
                raise PlanError(f"config: parse.splits.coco parses {split!r}, which {key} does not give (it gives "
                                f"{', '.join(sorted(have))}); drop {split!r} from parse.splits.coco or carve it "
                                f"with {key}.carve")
        if self.analysis_split not in have:
            raise PlanError(f"config: activations.split is {self.analysis_split!r}, which {key} does not give "
                            f"(it gives {', '.join(sorted(have))})")

    # --- outputs ----------------------------------------------------------------------------
    def io_tables(self) -> list[str]:
        return [self.paths.io(m, p, method) for m, p in self.io_networks() for method in IO_METHODS]

    def io_other_tables(self) -> list[str]:
        methods = self.get("input_optimisation.other_methods")
        return [self.paths.io(m, p, method) for m, p in self.io_other_networks() for method in methods]

    def analysis_rules(self) -> list[str]:
        """The analysis rules whose outputs a run asks for (the others have no network to read)."""
        rules = ["training_summary", "checks", "unit_figures"]
        if self.has_kadar():
            rules += ["distributions", "ridge", "examples", "omission_words"]
        if self.parsed_networks():
            rules += ["mutual_information"]
        if self.probe_networks():
            rules += ["probe"]
        if self.li_networks():
            rules += ["sentiment_accuracy", "sentiment_figures"]
        if self.io_networks():
            rules.append("poerner_figures")
        if self.autoencoder_networks():
            rules.append("autoencoder_figures")
        if self.attribution_networks():
            rules.append("agreement")
        if self.has_parse_accuracy():
            rules.append("parse_accuracy")
        return [*rules, "matrix"]

    def targets(self) -> list[str]:
        """The files of a run besides its analysis rules' outputs (:meth:`analysis_rules`)."""
        p = self.paths
        out = [p.data(c, t) for c in self.corpora() for t in self.data_tables(c)]
        out += [p.tokens(c, s) for c in self.corpora() for s in self.parse_splits(c)]
        for m in self.models:
            out += [p.model(m), p.model(m, "evaluation.parquet")]
        for m, n in self.networks("activations"):
            out += [p.activations("tokens", m, n), p.activations("h_end", m, n)]
        out += [p.network_table("omission", m, n) for m, n in self.networks("omission")]
        out += [p.network_table("saliency", m, n, "split") for m, n in self.li_networks()]
        out += self.io_other_tables()
        if self.io_networks():
            out += self.io_tables()
        return out

    # --- the method x network matrix --------------------------------------------------------
    def matrix_cells(self) -> list[dict]:
        """Every (row, network) cell of the matrix: the outputs that fill it, or why it is blank.
        A row is a method (or an analysis of a method's output); a cell holds the files of one
        network, or a shared file and the network's rows in it."""
        p = self.paths
        networks = self.networks()
        parsed, probed = set(self.parsed_networks()), set(self.probe_networks())
        io_main, io_other = set(self.io_networks()), set(self.io_other_networks())
        optimisable = set(self.io_optimisable())
        other_methods = self.get("input_optimisation.other_methods")
        scored = set(self.attribution_networks())
        cells: list[dict] = []

        def add(row, network, outputs=(), reason=None, shared=False):
            cells.append({"method": row, "model": network[0], "pathway": network[1], "outputs": list(outputs),
                          "shared": shared, "reason": reason})

        def catalog_row(row, method, path):
            for n in networks:
                if catalog.METHODS[method].applies(self.kind(n[0]).network(n[1])):
                    add(row, n, [path(*n)])
                else:
                    add(row, n, reason=readout_reason(method))

        not_parsed = ("the analysis split of its corpus is not parsed (activations.split not in "
                      "parse.splits.<corpus>): no deprels")
        catalog_row("activation dumps", "activations", lambda m, n: p.activations("tokens", m, n))
        catalog_row("top-K contexts", "activations", p.top_contexts)
        for n in networks:
            if n in parsed:
                add("mutual information", n, [p.analysis("mi_units.parquet", "kadar2017")], shared=True)
            else:
                add("mutual information", n, reason=not_parsed)
            if n in probed:
                add("probe (deprel)", n, [p.analysis("table2.parquet", "kadar2017")], shared=True)
            elif n in parsed:
                add("probe (deprel)", n, reason="units.probe.networks does not name it")
            else:
                add("probe (deprel)", n, reason=not_parsed)
        catalog_row("omission", "omission", lambda m, n: p.network_table("omission", m, n))
        catalog_row("saliency, gradient x input, integrated gradients", "attribution",
                    lambda m, n: p.network_table("attribution", m, n))
        catalog_row("variance salience", "attribution", lambda m, n: p.network_table("attribution", m, n))
        for n in networks:
            if n in scored:
                add("agreement", n, [p.analysis("agreement.parquet", "across_papers")], shared=True)
            else:
                add("agreement", n, reason="needs both omission and attribution")
            row = "input optimisation"
            if n in io_main:
                add(row, n, [p.io(*n, method) for method in IO_METHODS])
            elif n in io_other and other_methods:
                add(row, n, [p.io(*n, method) for method in other_methods])
            elif n not in optimisable:
                add(row, n, reason="no target: only a sequence readout, and input_optimisation.hidden_per_draw is 0")
            elif n in io_other:
                add(row, n, reason="input_optimisation.other_methods is empty")
            else:
                add(row, n, reason="neither input_optimisation.networks nor other_networks names it")
        catalog_row("class saliency (Li et al. Figs. 5-8)", "saliency",
                    lambda m, n: p.network_table("saliency", m, n, "split"))
        catalog_row("representations (Li et al. Figs. 1-4)", "representations",
                    lambda m, n: p.network_table("representations", m, n, "representations"))
        catalog_row("step saliency (Li et al. Fig. 9)", "step_saliency",
                    lambda m, n: p.network_table("step_saliency", m, n))
        # A method the rows above do not name (a new one) gets its own row, filled by the table it
        # writes per network (Paths.network_table): adding a method needs no change here.
        named = {"activations", "omission", "attribution", "saliency", "representations", "step_saliency",
                 "input_optimisation", "retrieval_examples"}
        for method in catalog.METHODS.values():
            if method.name not in named:
                catalog_row(method.name, method.name,
                            lambda m, n, name=method.name: p.network_table(name, m, n))
        try:
            retrieval = self.retrieval_network()
        except PlanError:  # no Visual among the models: Fig. 1 is not planned
            retrieval = None
        retrieves = catalog.METHODS["retrieval_examples"]
        for n in networks:
            row = "image retrieval (Kadar et al. Fig. 1)"
            if n == retrieval:
                add(row, n, [p.analysis("retrieval_examples.parquet", "kadar2017")])
            elif not retrieves.applies(self.kind(n[0]).network(n[1])):
                add(row, n, reason=readout_reason("retrieval_examples"))
            else:
                add(row, n, reason="Fig. 1 retrieves with one network (Visual)")
        return cells

    def matrix_inputs(self) -> list[str]:
        return sorted({path for cell in self.matrix_cells() for path in cell["outputs"]})


def readout_reason(method: str) -> str:
    """Why catalog method ``method`` does not apply to a network (what it needs)."""
    needs = catalog.METHODS[method].needs_readout
    needs = (needs,) if isinstance(needs, str) else needs
    return f"needs a readout of {' or '.join(needs)}; the network has none (the catalog)"


def write_cells(cells: list[dict], path: str | Path) -> None:
    """The matrix plan as the matrix job reads it (a JSON list of cells), written whole or not at
    all (a temporary name, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(cells, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
