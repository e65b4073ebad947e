"""The plan (lingscope.core.plan) from config dicts alone: no Snakemake, no torch.

Every config cross-check the workflow runs before any job, and every reason a cell of the
method x network matrix can be blank, each shown on the smallest config edit that causes it.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lingscope.core import carve, catalog
from lingscope.core.plan import Plan, PlanError, readout_reason

REPO = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())


def config(**edits) -> dict:
    """config.yaml with ``edits``: dotted keys (``units__probe__networks``) to values."""
    out = copy.deepcopy(DEFAULT)
    for dotted, value in edits.items():
        keys = dotted.split("__")
        node = out
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return out


def official(captions, carve_val=0, carve_test=0, **edits) -> dict:
    cfg = config(**edits)
    coco = cfg["corpora"]["coco"]
    coco["source"] = "official"
    coco["official"]["captions"] = captions
    coco["official"]["carve"] = {"val": carve_val, "test": carve_test, "seed": 1}
    return cfg


def refused(cfg: dict, pattern: str) -> None:
    with pytest.raises(PlanError, match=pattern) as err:
        Plan(cfg).check()
    assert str(err.value).startswith("config: ")


def test_the_default_config_plans_every_network_of_every_kind():
    plan = Plan(DEFAULT)
    plan.check()
    assert [plan.display(n) for n in plan.networks()] == [
        "Textual", "Visual", "Sum textual", "Sum", "LM", "RNN", "LSTM", "BiLSTM", "Autoencoder"]
    assert [plan.display(n) for n in plan.kadar_networks()] == list(catalog.KADAR_NETWORKS)
    assert [plan.display(n) for n in plan.li_networks()] == ["RNN", "LSTM", "BiLSTM"]
    assert plan.autoencoder_networks() == [("autoencoder", "encoder")]
    assert plan.retrieval_network() == ("imaginet", "visual")
    assert plan.attribution_networks() == plan.networks()
    # the default parses the analysis split of every corpus: every network has deprels
    assert plan.parsed_networks() == plan.networks()
    assert [plan.display(n) for n in plan.io_networks()] == list(catalog.POERNER_NETWORKS)
    assert set(plan.io_other_networks()) == set(plan.networks()) - set(plan.io_networks())


def test_paths_are_spelled_once_and_take_wildcards():
    paths = Plan(DEFAULT).paths
    assert paths.network_table("omission", "{model}", "{pathway}") == "results/omission/{model}.{pathway}.parquet"
    assert paths.network_table("saliency", "lstm", "sentiment", "split") == "results/saliency/split/lstm.sentiment.parquet"
    assert paths.activations("tokens", "lm", "textual") == "results/activations/tokens/model=lm/pathway=textual"
    assert paths.analysis("table2.parquet", "kadar2017") == "results/analysis/kadar2017/table2.parquet"
    assert Plan(config(results="elsewhere")).paths.model("lm") == "elsewhere/models/lm/model.pt"


def test_targets_follow_the_networks_the_config_keeps():
    plan = Plan(config(models__rnn=None, models__lstm=None, models__bilstm=None, models__autoencoder=None))
    assert "sentiment_figures" not in plan.analysis_rules() and "autoencoder_figures" not in plan.analysis_rules()
    assert not any("/saliency/" in t for t in plan.targets())
    full = Plan(DEFAULT)
    assert {"sentiment_accuracy", "sentiment_figures", "autoencoder_figures", "agreement", "poerner_figures",
            "parse_accuracy", "matrix"} <= set(full.analysis_rules())
    assert "results/saliency/split/lstm.sentiment.parquet" in full.targets()
    # no input optimisation at all: no table, no Poerner figure
    none = Plan(config(input_optimisation__networks=[], input_optimisation__other_networks=[]))
    assert "poerner_figures" not in none.analysis_rules()
    assert not any("input_optimisation" in t for t in none.targets())


# --- the config's cross-checks -----------------------------------------------------------------
def test_a_bad_model_entry_names_its_key():
    with pytest.raises(PlanError, match=r"^config: models\.lm\.kind: must be one of"):
        Plan(config(models__lm={"kind": "transformer"}))
    with pytest.raises(PlanError, match=r"models\.lstm\.kind: an entry named after the kind 'lstm' must be"):
        Plan(config(models__lstm=dict(DEFAULT["models"]["rnn"])))


def test_official_captions_without_a_file():
    refused(official({}), r"corpora\.coco\.official\.captions gives no file")


def test_carving_needs_a_val_file():
    refused(official({"train": "t.json"}, carve_val=5), r"\.carve takes images out of the val file, but .* gives no val")


def test_carving_test_images_beside_a_test_file():
    refused(official({"val": "v.json", "test": "t.json"}, carve_val=5, carve_test=5),
            r"gives a test file and .*carve\.test carves test images out of val too")


def test_carving_no_val_images():
    refused(official({"val": "v.json"}, carve_val=0, carve_test=5),
            r"nothing gives the val split that training needs: .*carve\.val is 0")


def test_carving_with_restval_kept_apart_leaves_no_train():
    cfg = official({"val": "v.json"}, carve_val=5, carve_test=5, corpora__coco__keep_restval=True)
    refused(cfg, r"nothing gives the train split that training needs: corpora\.coco\.keep_restval is true")


def test_official_files_without_train():
    refused(official({"val": "v.json"}), r"gives val and nothing gives train; training needs train and val")


def test_parsing_a_split_the_official_files_do_not_give():
    cfg = official({"train": "a.json", "val": "v.json"}, parse__splits__coco=["val", "test"])
    refused(cfg, r"parse\.splits\.coco parses 'test', which corpora\.coco\.official does not give")


def test_analysing_a_split_the_official_files_do_not_give():
    cfg = official({"train": "a.json", "val": "v.json"}, parse__splits__coco=["val"], activations__split="test")
    refused(cfg, r"activations\.split is 'test', which corpora\.coco\.official does not give")


def test_analysing_a_split_that_is_not_parsed():
    refused(config(parse__splits__coco=["val"], activations__split="test"),
            r"activations\.split is 'test' but parse\.splits\.coco does not parse it")


def test_a_kadar_network_dropped_takes_kadars_figures_out_of_the_run():
    plan = Plan(config(models__sum=None))
    plan.check()
    rules = plan.analysis_rules()
    assert not {"distributions", "ridge", "examples", "omission_words"} & set(rules)
    assert {"training_summary", "probe", "mutual_information", "unit_figures", "sentiment_accuracy"} <= set(rules)
    assert "Sum" not in [plan.display(n) for n in plan.networks()]


def test_fig5_on_a_network_no_entry_gives():
    refused(config(analysis__fig5__network="Transformer"), r"need the network 'Transformer'")


def test_probe_networks_names_an_unparsed_network():
    cfg = config(units__probe__networks=["Visual", "RNN"], parse__splits__sst=["test"])
    refused(cfg, r"units\.probe\.networks names 'RNN', which is not a network whose states are of a parsed split")


def test_input_optimisation_names_a_network_without_target():
    cfg = config(input_optimisation__networks=["Autoencoder"], input_optimisation__hidden_per_draw=0,
                 input_optimisation__other_networks=[])
    refused(cfg, r"input_optimisation\.networks names 'Autoencoder', which no model entry gives, or which has no "
                 r"target")


def test_other_networks_names_an_unknown_network():
    refused(config(input_optimisation__other_networks=["GPT"]),
            r"input_optimisation\.other_networks names 'GPT', .* expected 'all' or some of")


def test_other_networks_names_a_main_network():
    refused(config(input_optimisation__other_networks=["Visual"]),
            r"other_networks names 'Visual', which input_optimisation\.networks names too")


def test_the_carve_arithmetic_is_the_ingests():
    """The plan and the MSCOCO ingest ask the same functions (lingscope.core.carve)."""
    from lingscope.data import coco

    assert coco.carve_problem is carve.carve_problem
    assert coco.missing_training_split is carve.missing_training_split
    assert carve.carved_splits({"val"}, 5, 5, keep_restval=False) == {"train", "val", "test"}
    assert carve.carved_splits({"val"}, 5, 0, keep_restval=True) == {"val"}
    assert carve.carved_splits({"train", "val"}, 0, 0, keep_restval=False) == {"train", "val"}


# --- the matrix --------------------------------------------------------------------------------
def cells_of(plan: Plan) -> dict[tuple[str, str], dict]:
    return {(c["method"], plan.display((c["model"], c["pathway"]))): c for c in plan.matrix_cells()}


def test_every_cell_is_filled_or_says_why_not():
    plan = Plan(DEFAULT)
    cells = plan.matrix_cells()
    rows = {c["method"] for c in cells}
    assert len(cells) == len(rows) * len(plan.networks())
    assert all(bool(c["outputs"]) != bool(c["reason"]) for c in cells)
    assert set(plan.matrix_inputs()) == {p for c in cells for p in c["outputs"]}


def test_blank_cells_name_the_readout_the_method_needs():
    cells = cells_of(Plan(DEFAULT))
    assert cells[("class saliency (Li et al. Figs. 5-8)", "LM")]["reason"] == readout_reason("saliency")
    assert "needs a readout of sentiment" in readout_reason("saliency")
    assert cells[("step saliency (Li et al. Fig. 9)", "RNN")]["reason"] == readout_reason("step_saliency")
    assert cells[("image retrieval (Kadar et al. Fig. 1)", "LM")]["reason"] == readout_reason("retrieval_examples")
    assert cells[("image retrieval (Kadar et al. Fig. 1)", "Sum")]["reason"] == (
        "Fig. 1 retrieves with one network (Visual)")
    assert cells[("image retrieval (Kadar et al. Fig. 1)", "Visual")]["outputs"] == [
        "results/analysis/kadar2017/retrieval_examples.parquet"]


def test_blank_cells_of_an_unparsed_corpus_and_an_unprobed_network():
    cells = cells_of(Plan(config(parse__splits__sst=["test"], units__probe__networks=["Visual"])))
    unparsed = "the analysis split of its corpus is not parsed"
    assert cells[("mutual information", "LSTM")]["reason"].startswith(unparsed)
    assert cells[("probe (deprel)", "LSTM")]["reason"].startswith(unparsed)
    assert cells[("probe (deprel)", "Textual")]["reason"] == "units.probe.networks does not name it"
    assert cells[("probe (deprel)", "Visual")]["outputs"] == ["results/analysis/kadar2017/table2.parquet"]
    assert cells[("mutual information", "Textual")]["shared"]


def test_blank_input_optimisation_cells():
    cells = cells_of(Plan(config(input_optimisation__hidden_per_draw=0, input_optimisation__other_networks=["RNN"],
                                 input_optimisation__other_methods=[])))
    row = "input optimisation"
    assert cells[(row, "Autoencoder")]["reason"].startswith("no target: only a sequence readout")
    assert cells[(row, "RNN")]["reason"] == "input_optimisation.other_methods is empty"
    assert cells[(row, "LSTM")]["reason"] == "neither input_optimisation.networks nor other_networks names it"
    assert len(cells[(row, "Visual")]["outputs"]) == 5


def test_agreement_is_blank_where_attribution_does_not_apply(monkeypatch):
    """No network of today's catalog lacks attribution; a method restricted to class readouts shows the reason."""
    restricted = dataclasses.replace(catalog.METHODS["attribution"], needs_readout="sentiment")
    monkeypatch.setitem(catalog.METHODS, "attribution", restricted)
    cells = cells_of(Plan(DEFAULT))
    assert cells[("agreement", "LM")]["reason"] == "needs both omission and attribution"
    assert cells[("agreement", "LSTM")]["outputs"] == ["results/analysis/across_papers/agreement.parquet"]


def test_the_plan_imports_neither_torch_nor_snakemake():
    code = ("import sys, lingscope.core.plan; "
            "print(sorted(m for m in ('torch', 'snakemake', 'numpy', 'polars') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(REPO / "src")})
    assert out.stdout.strip() == "[]"


def test_common_smk_is_plumbing_only():
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    assert len(common.splitlines()) <= 350
    assert not re.search(r"f\"\{RESULTS\}/", common), "paths are spelled in lingscope.core.plan.Paths"


def test_a_new_method_gets_its_row_from_the_catalog(monkeypatch):
    """A method added to the catalog fills a row of its own with the table it writes per network."""
    new = catalog.Method("surprisal", "lingscope.methods.surprisal", "per-token surprisal",
                         needs_readout="vocabulary")
    monkeypatch.setitem(catalog.METHODS, "surprisal", new)
    cells = cells_of(Plan(DEFAULT))
    assert cells[("surprisal", "LM")]["outputs"] == ["results/surprisal/lm.textual.parquet"]
    assert cells[("surprisal", "Visual")]["reason"] == readout_reason("surprisal")


# --- corpora of the user's own (docs/data.md#your-own-corpus) ---------------------------------
USER_CORPORA = {
    "mr": {"format": "labelled", "path": "data/mr.tsv", "text": "sentence", "label": "polarity",
           "split": {"val": 0.1, "test": 0.1, "seed": 1}, "tokenize": "spacy"},
    "ptb": {"format": "text", "files": {"train": "data/ptb.train.txt", "val": "data/ptb.valid.txt",
                                        "test": "data/ptb.test.txt"}, "tokenize": "whitespace"},
}
USER_MODELS = {
    "mr_lstm": {"kind": "lstm", "corpus": "mr"},
    "mr_bilstm": {"kind": "bilstm", "corpus": "mr"},
    "ptb_lm": {"kind": "lm", "corpus": "ptb", "cell": "lstm", "layers": 2, "embedding_dim": 200, "hidden_dim": 200},
}


def user_config(drop_defaults: bool = True, **models) -> dict:
    cfg = config()
    cfg["corpora"] |= copy.deepcopy(USER_CORPORA)
    if drop_defaults:
        cfg["models"] = {name: None for name in cfg["models"]}
    cfg["models"] |= copy.deepcopy(USER_MODELS) | models
    return cfg


def test_the_issues_config_plans_only_its_own_corpora_and_models():
    plan = Plan(user_config())
    plan.check()
    assert plan.corpora() == ["mr", "ptb"]
    assert [plan.corpus(m) for m in plan.models] == ["mr", "mr", "ptb"]
    assert plan.data_tables("mr") == ("sentences", "phrases", "labels", "vocab")
    assert plan.data_tables("ptb") == ("sentences", "vocab")
    assert plan.parse_splits("mr") == ["val", "test"]
    # Entries give only what differs: the rest are the settings classes' defaults.
    assert plan.models["ptb_lm"].cell == "lstm" and plan.models["ptb_lm"].layers == 2
    assert plan.models["mr_lstm"].embedding_dim == 60
    # No phrase labels outside the SST: the sentiment kinds train on sentences.
    assert plan.models["mr_lstm"].examples == "phrases"
    assert plan.training_settings("mr_lstm").examples == "sentences"
    assert not plan.sst_polarity("mr_lstm")
    assert plan.describe_corpus("mr") == "mr (labelled: data/mr.tsv)"
    rules = plan.analysis_rules()
    assert {"sentiment_accuracy", "probe", "mutual_information", "unit_figures", "checks", "matrix"} <= set(rules)
    assert not {"distributions", "ridge", "parse_accuracy", "poerner_figures", "autoencoder_figures"} & set(rules)
    targets = plan.targets()
    assert plan.paths.data("mr", "labels") in targets and plan.paths.tokens("ptb", "val") in targets
    assert not any("/coco/" in t or "corpus=coco" in t for t in targets)
    # The matrix covers the new kinds on the new corpora.
    cells = plan.matrix_cells()
    assert {(c["model"], c["pathway"]) for c in cells} == {("mr_lstm", "sentiment"), ("mr_bilstm", "sentiment"),
                                                          ("ptb_lm", "textual")}
    filled = {(c["method"], c["model"]) for c in cells if c["outputs"]}
    assert ("omission", "ptb_lm") in filled and ("class saliency (Li et al. Figs. 5-8)", "mr_lstm") in filled


def test_user_corpora_beside_the_default_models():
    plan = Plan(user_config(drop_defaults=False))
    plan.check()
    assert plan.corpora() == ["coco", "sst", "wmt", "mr", "ptb"]
    assert plan.has_kadar()
    assert plan.display(("ptb_lm", "textual")) == "ptb_lm/textual"


@pytest.mark.parametrize("model, pattern", [
    ({"kind": "lstm", "corpus": "ptb"}, r"models\.bad\.corpus is 'ptb', a text corpus; kind 'lstm' trains on"),
    ({"kind": "imaginet", "corpus": "mr"}, r"models\.bad\.corpus is 'mr', a labelled corpus; kind 'imaginet'"),
    ({"kind": "lm", "corpus": "nowhere"}, r"models\.bad\.corpus is 'nowhere', which corpora: does not declare"),
    ({"kind": "lstm", "corpus": "mr", "examples": "phrases"}, r"models\.bad\.examples is 'phrases', but 'mr' has "
                                                              r"no phrase labels"),
    ({"kind": "lm", "corpus": "ptb", "cell": "rnn"}, r"models\.bad\.cell"),
])
def test_a_model_on_a_corpus_it_cannot_train_on(model, pattern):
    with pytest.raises(PlanError, match=pattern):
        Plan(user_config(bad=model))


@pytest.mark.parametrize("entry, pattern", [
    ({"format": "csv", "path": "x.csv"}, r"corpora\.mine\.format: must be one of \['labelled', 'text'\]"),
    ({"format": "text"}, r"corpora\.mine: give either path .* or files"),
    ({"format": "text", "path": "a.txt", "files": {"train": "a", "val": "b", "test": "c"}}, r"not both"),
    ({"format": "labelled", "path": "x.xlsx"}, r"a labelled corpus is read from \.csv, \.tsv, \.parquet, \.jsonl"),
    ({"format": "text", "files": {"train": "a", "val": "b"}}, r"corpora\.mine\.files: must map exactly train, val"),
    ({"format": "text", "path": "a.txt", "split": {"val": 0.6, "test": 0.5}}, r"val \+ test must leave some train"),
    ({"format": "text", "path": "a.txt", "split": {"val": 0}}, r"corpora\.mine\.split\.val: must be a share"),
    ({"format": "text", "path": "a.txt", "tokenize": "nltk"}, r"corpora\.mine\.tokenize"),
    ({"format": "text", "path": "a.txt", "label": "y"}, r"corpora\.mine\.label: only a labelled corpus has columns"),
    ({"format": "text", "path": "a.txt", "colour": "red"}, r"corpora\.mine\.colour: unknown key"),
])
def test_a_user_corpus_entry_that_cannot_be_read(entry, pattern):
    cfg = user_config()
    cfg["corpora"]["mine"] = entry
    with pytest.raises(PlanError, match=pattern):
        Plan(cfg)


def test_an_entry_named_after_a_kind_stays_on_its_corpus():
    """``lm: {corpus: ptb}`` would still be called "LM" and enter the papers' figures and their
    published numbers: the model goes on another corpus under a name of its own."""
    cfg = user_config(drop_defaults=False)
    cfg["models"]["lm"]["corpus"] = "ptb"
    with pytest.raises(PlanError, match=r"models\.lm\.corpus is 'ptb', but the entry named after the kind 'lm'.*"
                                        r"ptb_lm: \{kind: lm, corpus: ptb\}"):
        Plan(cfg)


def test_a_user_corpus_vocabulary_may_give_part_of_its_settings():
    from lingscope.core import config as config_check

    cfg = user_config()
    cfg["vocab"]["ptb"] = {"min_count": 2}
    config_check.check(cfg, source="test")  # the schema takes a partial entry for a corpus of your own
    plan = Plan(cfg)
    assert (plan.vocab_settings("ptb").min_count, plan.vocab_settings("ptb").max_size) == (2, 0)
    assert plan.vocab_settings("mr").min_count == 1  # no entry: every train type
