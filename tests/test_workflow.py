"""The real DAG on a tiny config: outputs, schemas, joins, and what a change replans."""

from __future__ import annotations

import re

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from lingscope.core import schemas
from workflow_runs import REPO, TINY, planned_jobs, snakemake, tiny_config, tiny_variant

R = "results"


def _schema_matches(path, expected):
    got = pq.read_schema(path)
    assert got.names == expected.names, path
    for field in expected:
        assert got.field(field.name).type == field.type, (path, field.name)


def test_every_table_has_its_schema(tiny_run):
    d = tiny_run / R
    for corpus in ("coco", "sst", "wmt"):
        _schema_matches(d / f"data/{corpus}/sentences.parquet", schemas.SENTENCES)
        _schema_matches(d / f"data/{corpus}/vocab.parquet", schemas.VOCAB)
    _schema_matches(d / "data/sst/phrases.parquet", schemas.SST_PHRASES)
    _schema_matches(d / "data/coco/image_features.parquet", schemas.image_features_schema(128))
    _schema_matches(d / "parse/accuracy.parquet", schemas.PARSE_ACCURACY)
    for part in (d / "parse").glob("corpus=*/split=*/tokens.parquet"):
        _schema_matches(part, schemas.TOKENS)


def test_row_counts(tiny_run):
    d = tiny_run / R
    coco = pl.read_parquet(d / "data/coco/sentences.parquet")
    assert coco.height == (40 + 12 + 8) * 5
    assert dict(coco["split"].value_counts().iter_rows()) == {"train": 200, "val": 60, "test": 40}
    assert pl.read_parquet(d / "data/coco/image_features.parquet").height == 60
    assert pl.read_parquet(d / "data/sst/sentences.parquet").height == 50
    assert pl.read_parquet(d / "data/wmt/sentences.parquet").height == 80
    vocab = pl.read_parquet(d / "data/coco/vocab.parquet")
    assert vocab["token"][:3].to_list() == ["<pad>", "<unk>", "<eos>"]
    train_types = coco.filter(pl.col("split") == "train").explode("tokens")["tokens"].str.to_lowercase().n_unique()
    assert vocab.height == train_types + 3


def test_tables_join_up(tiny_run):
    d = tiny_run / R
    sentences = pl.read_parquet(d / "data/coco/sentences.parquet")
    features = pl.read_parquet(d / "data/coco/image_features.parquet")
    assert sentences.join(features, on="image_id", how="anti").is_empty()  # every caption has its image
    for split in ("val", "test"):
        tokens = pl.read_parquet(d / f"parse/corpus=coco/split={split}/tokens.parquet")
        expected = (sentences.filter(pl.col("split") == split).select("sentence_id", "tokens")
                    .explode("tokens").with_columns(position=pl.int_range(1, pl.len() + 1).over("sentence_id")))
        assert tokens.height == expected.height
        joined = expected.join(tokens, on=["sentence_id", "position"], how="left")
        assert (joined["tokens"] == joined["form"]).all()  # positions line up 1:1 with the models' tokens
        assert tokens.filter(pl.col("head") == 0).height >= sentences.filter(pl.col("split") == split).height
    phrases = pl.read_parquet(d / "data/sst/phrases.parquet")
    sst = pl.read_parquet(d / "data/sst/sentences.parquet")
    roots = phrases.filter(pl.col("is_sentence")).join(sst, on="sentence_id")
    assert roots.height == sst.height and (roots["label"] == roots["label_right"]).all()


def test_duckdb_and_polars_read_the_hive_layout(tiny_run):
    glob = str(tiny_run / R / "parse/*/*/tokens.parquet")
    rows = duckdb.sql(
        f"SELECT corpus, split, count(*) AS n FROM read_parquet('{glob}', hive_partitioning = true) "
        "GROUP BY ALL ORDER BY ALL").fetchall()
    assert [(c, s) for c, s, _ in rows] == [("coco", "test"), ("coco", "val"), ("sst", "val"), ("wmt", "val")]
    scanned = pl.scan_parquet(glob, hive_partitioning=True).group_by("corpus", "split").len().collect()
    assert sorted(scanned.iter_rows()) == sorted(rows)


def test_parse_accuracy_table(tiny_run):
    acc = pl.read_parquet(tiny_run / R / "parse/accuracy.parquet")
    overall = acc.filter(pl.col("deprel") == "(all)")
    assert sorted(overall["split"]) == ["test", "val"]
    # spaCy's small English model on simple captions: a real, not a perfect, parser
    assert overall["uas"].min() > 0.8 and overall["las"].max() < 1.0
    assert (tiny_run / R / "parse/accuracy.csv").read_text().startswith("corpus,split,backend")


def test_untouched_rerun_plans_nothing(tiny_run):
    proc = snakemake(tiny_run, "-n", "--configfile", str(TINY))
    assert planned_jobs(proc) == {}


def test_parse_setting_replans_only_parse_and_after(tiny_run):
    config = tiny_config()
    config["parse"]["spacy"]["batch_size"] = 64
    jobs = planned_jobs(snakemake(tiny_run, "-n", "--configfile", *tiny_variant(tiny_run, config, "tiny-parse.yaml")))
    assert jobs["parse_shard"] == 4  # one shard of each of the four parsed splits
    # The analyses that join the parse's labels follow. The omission scores do not depend on
    # the parse (GPU hours at paper scale): no omission job, no training, no dump. Poerner et al.'s
    # summary counts function words by the parse's tags; the optimisations themselves stay.
    assert set(jobs) == {"parse_shard", "parse_merge", "parse_accuracy", "distributions", "ridge", "checks",
                         "poerner_figures", "omission_words", "probe", "mutual_information", "matrix", "all"}


def test_corpus_setting_replans_only_that_corpus(tiny_run):
    config = tiny_config()
    config["corpora"]["sst"]["synthetic"]["seed"] = 99
    jobs = planned_jobs(snakemake(tiny_run, "-n", "--configfile", *tiny_variant(tiny_run, config, "tiny-sst.yaml")))
    # The SST's data, its parse and the sentiment models' chains; nothing of MSCOCO's.
    sentiment = {"train", "evaluate", "activations", "omission", "saliency", "representations", "attribution"}
    assert set(jobs) == {"synth_sst", "data_sst", "vocab", "parse_shard", "parse_merge", "checks", "all",
                         "training_summary", "sentiment_accuracy", "sentiment_figures", "top_contexts",
                         "unit_figures", "agreement", "input_optimisation", "probe", "mutual_information",
                         "matrix"} | sentiment
    assert jobs["vocab"] == 1 and jobs["parse_shard"] == 1
    assert all(jobs[rule] == 3 for rule in sentiment)  # RNN, LSTM, BiLSTM


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda c: c["parse"].update(shardz=2), ["shardz"]),
        (lambda c: c["parse"].update(shards="two"), ["'two'", "shards"]),
        (lambda c: c["corpora"]["coco"].update(source="flickr"), ["flickr", "source"]),
    ],
)
def test_bad_config_stops_before_any_job(tmp_path, edit, words):
    config = tiny_config()
    edit(config)
    proc = snakemake(tmp_path, "--cores", "1", "--configfile", *tiny_variant(tmp_path, config), check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    for word in words:
        assert word in text
    assert not (tmp_path / R).exists()


def test_sentiment_outputs_follow_their_schemas(tiny_run):
    d = tiny_run / R
    for model in ("rnn", "lstm", "bilstm"):
        _schema_matches(d / f"models/{model}/metrics.parquet", schemas.training_metrics_schema(("sentiment",)))
        _schema_matches(d / f"models/{model}/predictions.parquet", schemas.PREDICTIONS)
        _schema_matches(d / f"saliency/split/{model}.sentiment.parquet", schemas.SALIENCY)
        _schema_matches(d / f"representations/representations/{model}.sentiment.parquet", schemas.REPRESENTATIONS)
        _schema_matches(d / f"representations/states/{model}.sentiment.parquet", schemas.STATES)
    # the caption models predict no classes: their predictions table is empty, not missing
    assert pq.read_table(d / "models/imaginet/predictions.parquet").num_rows == 0
    li = d / "analysis/li2016"
    _schema_matches(li / "accuracy.parquet", schemas.SENTIMENT_ACCURACY)
    _schema_matches(li / "mcnemar.parquet", schemas.MCNEMAR)
    _schema_matches(li / "li_heatmaps.parquet", schemas.LI_HEATMAP)
    _schema_matches(li / "li_tsne.parquet", schemas.LI_TSNE)
    for fig in ("fig1_representations", "fig2_tsne", "fig3_states", "fig4_clauses", "fig5_saliency", "fig6_saliency",
                "fig7_saliency", "fig8_variance"):
        assert (li / f"li_{fig}.png").stat().st_size > 1000, fig
    # the test split's every word has a saliency row
    test_words = pq.read_table(d / "data/sst/sentences.parquet", filters=[("split", "=", "test")]).column("tokens")
    assert pq.read_table(d / "saliency/split/lstm.sentiment.parquet").num_rows == sum(len(t) for t in test_words.to_pylist())


# --- models, activations, omission, analyses (Kadar et al. 2017) ------------------------------
NETWORK_FILES = {"Sum": "sum.visual", "LM": "lm.textual", "Textual": "imaginet.textual", "Visual": "imaginet.visual"}


def test_model_stage_outputs_follow_their_schemas(tiny_run):
    tables = schemas
    d = tiny_run / R
    for model, objectives in (("imaginet", ("textual", "visual")), ("sum", ("textual", "visual")), ("lm", ("textual",))):
        assert (d / f"models/{model}/model.pt").stat().st_size > 0
        # a loss column per objective the model has: LM has no visual one
        _schema_matches(d / f"models/{model}/metrics.parquet", schemas.training_metrics_schema(objectives))
        _schema_matches(d / f"models/{model}/evaluation.parquet", schemas.EVALUATION)
    for name in ("imaginet.textual", "imaginet.visual", "sum.textual", "sum.visual", "lm.textual"):
        _schema_matches(d / f"omission/{name}.parquet", schemas.OMISSION)
    assert not (d / "omission/lm.visual.parquet").exists()
    _schema_matches(d / "analysis/kadar2017/retrieval_examples.parquet", schemas.RETRIEVAL_EXAMPLES)
    _schema_matches(d / "analysis/kadar2017/ridge_r2.parquet", tables.RIDGE_R2)
    _schema_matches(d / "analysis/kadar2017/omission_by_label.parquet", tables.OMISSION_BY_LABEL)
    for fig in ("kadar2017/fig1_examples", "kadar2017/fig2_xpos", "kadar2017/fig2_deprel", "kadar2017/fig3_xpos",
                "kadar2017/fig3_deprel", "kadar2017/fig4_r2", "kadar2017/fig6_positions",
                "across_papers/learning_curves"):
        for ext in ("png", "svg"):
            assert (d / f"analysis/{fig}.{ext}").stat().st_size > 1000, fig


def test_activations_cover_the_analysis_split(tiny_run):
    d = tiny_run / R
    val = pl.read_parquet(d / "data/coco/sentences.parquet").filter(pl.col("split") == "val")
    n_tokens = val["tokens"].list.len().sum() + val.height  # one <eos> each
    con = duckdb.connect()
    counts = dict(con.sql(
        f"select model || '.' || pathway, count(*) from read_parquet('{d}/activations/tokens/*/*/*/*.parquet', "
        "hive_partitioning=true, union_by_name=true) where layer = 0 group by all").fetchall())  # layers: same rows
    sst_val = pl.read_parquet(d / "data/sst/sentences.parquet").filter(pl.col("split") == "val")
    n_sst = sst_val["tokens"].list.len().sum()  # the sentiment networks read no <eos>
    wmt_val = pl.read_parquet(d / "data/wmt/sentences.parquet").filter(pl.col("split") == "val")
    n_wmt = wmt_val["tokens"].list.len().sum() + wmt_val.height  # the autoencoder's encoder reads <eos>
    assert counts == {k: n_tokens for k in ("imaginet.textual", "imaginet.visual", "sum.textual", "sum.visual",
                                            "lm.textual")} | {f"{k}.sentiment": n_sst for k in ("rnn", "lstm", "bilstm")} \
        | {"autoencoder.encoder": n_wmt}
    h_end = con.sql(f"select count(*) from read_parquet('{d}/activations/h_end/*/*/*.parquet', hive_partitioning=true)").fetchall()
    assert h_end[0][0] == 5 * val.height + 3 * sst_val.height + wmt_val.height
    dims = con.sql(f"select distinct len(activation) from read_parquet('{d}/activations/tokens/model=sum/pathway=visual/layer=0/*.parquet')").fetchall()
    assert dims == [(12,)]  # SUM's visual "state" is the running sum of 12-d embeddings


def test_omission_scores_every_word_and_joins_the_parse(tiny_run):
    d = tiny_run / R
    parse = pl.read_parquet(d / "parse/corpus=coco/split=val/tokens.parquet")
    for name in ("imaginet.visual", "lm.textual"):
        scores = pl.read_parquet(d / f"omission/{name}.parquet")
        assert scores.height == parse.height
        joined = scores.join(parse, on=["sentence_id", "position"], how="inner")
        assert joined.height == parse.height and (joined["token"] == joined["form"]).all()
        assert (scores["omission"] >= -1e-6).all() and scores["omission"].max() > 0


def test_analysis_setting_replans_only_analysis_jobs(tiny_run):
    config = tiny_config()
    config["analysis"]["min_count"] = 3
    jobs = planned_jobs(snakemake(tiny_run, "-n", "--configfile", *tiny_variant(tiny_run, config, "tiny-mc.yaml")))
    assert set(jobs) == {"distributions", "checks", "all"}
    config = tiny_config()
    config["analysis"]["ridge"]["alphas"] = [0.5, 2.0]
    jobs = planned_jobs(snakemake(tiny_run, "-n", "--configfile", *tiny_variant(tiny_run, config, "tiny-ridge.yaml")))
    assert set(jobs) == {"ridge", "omission_words", "all"}  # Fig. 5 fits its models on the same grid
    config = tiny_config()
    config["units"]["mutual_information"]["seed"] = 2
    jobs = planned_jobs(snakemake(tiny_run, "-n", "--configfile", *tiny_variant(tiny_run, config, "tiny-mi.yaml")))
    assert set(jobs) == {"mutual_information", "matrix", "all"}
    config = tiny_config()
    config["analysis"]["checks"]["alpha"] = 0.05
    jobs = planned_jobs(snakemake(tiny_run, "-n", "--configfile", *tiny_variant(tiny_run, config, "tiny-ck.yaml")))
    assert set(jobs) == {"checks", "all"}


def test_one_models_setting_retrains_only_that_model(tiny_run):
    config = tiny_config()
    config["models"]["sum"]["hidden_dim"] = 20
    proc = snakemake(tiny_run, "-n", "--configfile", *tiny_variant(tiny_run, config, "tiny-sum.yaml"))
    jobs = planned_jobs(proc)
    assert jobs["train"] == 1 and jobs["evaluate"] == 1
    assert jobs["activations"] == 2 and jobs["omission"] == 2  # SUM's two pathways
    models = set(re.findall(r"wildcards: model=(\w+)", proc.stdout))
    assert models == {"sum"}
    assert {"synth_coco", "data_coco", "parse_shard", "retrieval_examples", "examples"}.isdisjoint(jobs)
    assert {"training_summary", "distributions", "ridge"} <= set(jobs)


def test_one_sentiment_models_setting_reruns_only_its_chain(tiny_run):
    config = tiny_config()
    config["models"]["lstm"]["dropout"] = 0.1
    proc = snakemake(tiny_run, "-n", "--configfile", *tiny_variant(tiny_run, config, "tiny-lstm.yaml"))
    jobs = planned_jobs(proc)
    assert set(re.findall(r"wildcards: model=(\w+)", proc.stdout)) == {"lstm"}
    for rule in ("train", "evaluate", "activations", "omission", "saliency", "representations", "attribution"):
        assert jobs[rule] == 1, rule
    assert set(jobs) == {"train", "evaluate", "activations", "omission", "saliency", "representations",
                         "attribution", "sentiment_accuracy", "sentiment_figures", "training_summary", "checks",
                         "top_contexts", "unit_figures", "agreement", "probe", "mutual_information", "matrix", "all"}
    assert jobs["top_contexts"] == 1


def test_sentiment_example_phrases_rerun_only_the_example_jobs(tiny_run):
    config = tiny_config()
    config["li_figures"]["examples"]["negation"] = ["not good", "good"]
    jobs = planned_jobs(snakemake(tiny_run, "-n", "--configfile", *tiny_variant(tiny_run, config, "tiny-ex.yaml")))
    assert jobs == {"saliency": 3, "representations": 3, "sentiment_figures": 1, "matrix": 1, "all": 1}
    config = tiny_config()
    config["li_figures"]["tsne"]["perplexity"] = 3.0
    jobs = planned_jobs(snakemake(tiny_run, "-n", "--configfile", *tiny_variant(tiny_run, config, "tiny-ts.yaml")))
    assert jobs == {"sentiment_figures": 1, "all": 1}


def test_unit_analyses_follow_their_schemas(tiny_run):
    d = tiny_run / R
    tops = sorted((d / "units/top_contexts").glob("*.parquet"))
    assert len(tops) == 9  # every network with per-token states
    for path in tops:
        _schema_matches(path, schemas.TOP_CONTEXTS)
    u = d / "analysis/kadar2017"
    for name, schema in (("table1", schemas.UNIT_TABLE1), ("fig7_traces", schemas.ACTIVATION_TRACES),
                         ("table2", schemas.PROBE_F1), ("probe_units", schemas.PROBE_UNITS),
                         ("mi_units", schemas.MI_UNITS), ("mi_summary", schemas.MI_SUMMARY),
                         ("mi_ratios", schemas.MI_RATIO)):
        _schema_matches(u / f"{name}.parquet", schema)
    _schema_matches(d / "analysis/kadar2017/fig5_words.parquet", schemas.FIG5_WORDS)
    _schema_matches(d / "analysis/kadar2017/fig5_boxes.parquet", schemas.FIG5_BOXES)
    _schema_matches(d / "analysis/kadar2017/log_ratio_by_label.parquet", schemas.OMISSION_LOG_RATIO)
    table2 = pl.read_parquet(u / "table2.parquet")
    # units.probe.networks is 'all': every network, each with its own corpus's parse and baselines
    assert set(table2["network"].drop_nulls()) == {"Visual", "Textual", "Sum", "Sum textual", "LM", "RNN", "LSTM",
                                                   "BiLSTM", "Autoencoder"}
    baselines = table2.filter(pl.col("network").is_null())
    assert sorted(baselines["corpus"].to_list()) == sorted(["coco", "sst", "wmt"] * 2)
    assert set(pl.read_parquet(u / "mi_summary.parquet")["network"]) == set(table2["network"].drop_nulls())
    for png in ("fig7_traces", "fig8_mi"):
        assert (u / f"{png}.png").stat().st_size > 0 and (u / f"{png}.svg").exists()


def test_input_optimisation_outputs(tiny_run):
    """One table per network and method, each with the drawn units and the named target; the
    figure, the summary and Table 1 of the analysis."""
    d = tiny_run / R
    tables = sorted((d / "input_optimisation").glob("*.parquet"))
    paper = [("imaginet", "visual"), ("imaginet", "textual"), ("lm", "textual")]
    others = [("rnn", "sentiment"), ("autoencoder", "encoder")]  # the tiny config's other_networks
    assert [p.name for p in tables] == sorted([f"{m}.{p}.{method}.parquet" for m, p in paper
                                              for method in ("crp", "emb", "logit", "smx", "gbl")]
                                             + [f"{m}.{p}.{method}.parquet" for m, p in others
                                                for method in ("crp", "gbl")])
    for path in tables:
        _schema_matches(path, schemas.INPUT_OPTIMISATION)
        table = pl.read_parquet(path)
        named = table.filter(pl.col("named"))
        hidden = table.filter(pl.col("readout") == "representation")
        assert hidden.height == 6 and hidden["target_word"].is_null().all()  # 2 draws of 3 hidden units
        readouts = table.filter(pl.col("readout") != "representation")
        if ".visual." in path.name:
            assert readouts.height == 12 and named.is_empty() and table["target_word"].is_null().all()
        elif ".sentiment." in path.name:
            assert readouts["unit"].sort().to_list() == sorted(list(range(5)) * 2)  # every class in each draw
        elif ".encoder." in path.name:
            assert readouts.is_empty()  # a sequence readout has no unit to read: hidden units only
        else:
            assert readouts.height == 13 and named["target_word"].to_list() == ["a"]
        assert (table["tokens"].list.len() == 5).all()
        assert (table["ngram"] == table["tokens"].list.join(" ")).all()
    a = d / "analysis/poerner2018"
    _schema_matches(a / "summary.parquet", schemas.IO_SUMMARY)
    _schema_matches(a / "table1.parquet", schemas.IO_TABLE1)
    summary = pl.read_parquet(a / "summary.parquet")
    assert summary.height == 30  # 3 networks x (their readout, their hidden units) x 5 methods
    assert summary.filter(pl.col("readout") != "representation")["units"].to_list() == [12] * 15
    assert summary.filter(pl.col("readout") == "representation")["units"].to_list() == [6] * 15
    assert summary.filter(pl.col("method") == "emb")["mean_cosine"].is_not_null().all()
    assert (a / "fig1_activations.png").stat().st_size > 0 and (a / "fig1_activations.svg").is_file()
    table1 = pl.read_parquet(a / "table1.parquet")
    assert table1.height == 3 * 3 + 2  # 3 drawn units per network, the named target of the two language models
    assert "representation" not in set(table1["readout"])  # the paper's projections; hidden units: the summary


def test_one_input_optimisation_methods_setting_reruns_only_that_method(tiny_run):
    config = tiny_config()
    config["input_optimisation"]["gbl"]["samples"] = 3
    proc = snakemake(tiny_run, "-n", "--configfile", *tiny_variant(tiny_run, config, "tiny-gbl.yaml"))
    assert planned_jobs(proc) == {"input_optimisation": 5, "poerner_figures": 1, "matrix": 1, "all": 1}  # 3 paper + 2 other networks
    assert set(re.findall(r"io_method=(\w+)", proc.stdout)) == {"gbl"}
    config = tiny_config()
    config["input_optimisation"]["seed"] = 2  # shared by every method
    jobs = planned_jobs(snakemake(tiny_run, "-n", "--configfile", *tiny_variant(tiny_run, config, "tiny-io.yaml")))
    assert jobs == {"input_optimisation": 15 + 4, "poerner_figures": 1, "matrix": 1, "all": 1}  # 3 x 5 methods, 2 x crp and gbl
    config = tiny_config()
    config["input_optimisation"]["networks"] = ["Visual", "Nope"]
    proc = snakemake(tiny_run, "-n", "--configfile", *tiny_variant(tiny_run, config, "tiny-nope.yaml"),
                     check=False)
    assert proc.returncode != 0 and "input_optimisation.networks names 'Nope'" in proc.stdout + proc.stderr
    # Without hidden units, a network with only a sequence readout has no target: 'all' leaves it
    # out (the matrix says why), and naming it is refused before any job.
    config = tiny_config()
    config["input_optimisation"].update(hidden_per_draw=0, other_networks="all")
    proc = snakemake(tiny_run, "-n", "--configfile", *tiny_variant(tiny_run, config, "tiny-h0.yaml"))
    assert "autoencoder" not in set(re.findall(r"model=(\w+), pathway=\w+, io_method", proc.stdout))
    assert planned_jobs(proc)["input_optimisation"] == 15 + 5 * 2  # Sum, Sum textual, RNN, LSTM, BiLSTM
    config["input_optimisation"]["other_networks"] = ["Autoencoder"]
    proc = snakemake(tiny_run, "-n", "--configfile", *tiny_variant(tiny_run, config, "tiny-h0a.yaml"),
                     check=False)
    assert proc.returncode != 0 and "has no target" in proc.stdout + proc.stderr


# --- code-change reruns ---------------------------------------------------------------------------
def _copy_of_the_workflow(folder):
    """The Snakefile, workflow/ and src/ of this checkout, with their modification times, so that
    touching a module in the copy leaves the checkout (and the other tests) alone."""
    import shutil

    for name in ("Snakefile", "config.yaml"):
        shutil.copy2(REPO / name, folder / name)
    shutil.copytree(REPO / "workflow", folder / "workflow")
    shutil.copytree(REPO / "src", folder / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return folder


def _inputs(text: str) -> dict[str, set[str]]:
    """For each planned rule, the input files of its jobs (from a dry run's job blocks)."""
    out: dict[str, set[str]] = {}
    for block in re.split(r"(?m)^(?=(?:local)?rule \w+:)", text)[1:]:
        rule = re.match(r"(?:local)?rule (\w+):", block).group(1)
        found = re.search(r"(?m)^    input: (.+)$", block)
        out.setdefault(rule, set())
        if found:
            out[rule] |= {p.strip() for p in found.group(1).split(",")}
    return out


@pytest.mark.parametrize(
    ("module", "importers", "downstream"),
    [
        # Every stage writes through the atomic Parquet writer: every rule runs it.
        ("core/io.py", None, set()),
        # The plotting helpers: exactly the four analyses that draw figures ...
        ("analysis/plotting.py", {"training_summary", "distributions", "ridge", "examples", "sentiment_figures",
                                  "poerner_figures", "omission_words", "unit_figures", "mutual_information", "probe",
                                  "autoencoder_figures", "agreement"},
         {"matrix"}),
        # ... and one analysis: only its own rule.
        ("analysis/kadar2017/ridge.py", {"ridge", "omission_words", "probe"}, {"matrix"}),
        # The family module, which the model loader imports by name: every job that loads a model,
        # and the analyses that read what they write.
        ("models/imaginet.py", {"train", "evaluate", "activations", "omission", "retrieval_examples",
                                "input_optimisation", "attribution"},
         {"training_summary", "distributions", "ridge", "examples", "checks", "poerner_figures", "omission_words",
          "top_contexts", "unit_figures", "probe", "mutual_information", "agreement", "matrix"}),
    ],
)
def test_touching_a_module_replans_the_rules_that_import_it(tiny_run, tmp_path, module, importers, downstream):
    """A rule's code inputs are its module's import closure: touching a module replans exactly
    the rules that import it (directly or through other modules), and what they feed."""
    copy = _copy_of_the_workflow(tmp_path)
    (copy / "src/lingscope" / module).touch()
    # Only modification times may decide here: the copy's paths differ from those recorded.
    proc = snakemake(tiny_run, "-n", "--snakefile", str(copy / "Snakefile"), "--configfile",
                     str(TINY), "--rerun-triggers", "mtime")
    inputs = _inputs(proc.stdout + proc.stderr)
    planned = set(planned_jobs(proc)) - {"all"}
    reading = {rule for rule, files in inputs.items() if str(copy / "src/lingscope" / module) in files}
    if importers is None:
        # matrix_plan runs no package code: it writes the cells the plan made when Snakemake parsed
        every = set(planned_jobs(snakemake(tiny_run, "-n", "--configfile", str(TINY),
                                           "--forceall"))) - {"all", "matrix_plan"}
        assert reading == planned == every, every - reading
    else:
        assert reading == importers
        assert planned == importers | downstream


def test_any_number_of_model_entries_of_a_catalog_kind(tiny_run):
    """A second entry of a kind trains and runs every method on its networks, labelled by its
    own name; an entry named after another kind is refused before any job, naming the key."""
    config = tiny_config()
    config["models"]["imaginet_authors"] = dict(config["models"]["imaginet"], gru="authors")
    proc = snakemake(tiny_run, "-n", "-p", "--configfile", *tiny_variant(tiny_run, config, "tiny-two.yaml"))
    jobs = planned_jobs(proc)
    assert jobs["train"] == jobs["evaluate"] == 1
    assert jobs["activations"] == jobs["omission"] == 2  # its two networks
    assert set(re.findall(r"wildcards: model=(\w+)", proc.stdout)) == {"imaginet_authors"}
    assert "--gru authors" in proc.stdout
    config = tiny_config()
    config["models"]["autoencoder"] = None  # a null entry drops the model and all that reads it
    config["input_optimisation"]["other_networks"] = ["RNN"]  # a config that names a network keeps it
    proc = snakemake(tiny_run, "-n", "--forceall", "--configfile", *tiny_variant(tiny_run, config, "tiny-drop.yaml"))
    jobs = planned_jobs(proc)
    assert jobs["train"] == len(tiny_config()["models"]) - 1
    assert "step_saliency" not in jobs and "autoencoder_figures" not in jobs
    config = tiny_config()
    config["models"]["sum"]["kind"] = "imaginet"
    proc = snakemake(tiny_run, "-n", "--configfile", *tiny_variant(tiny_run, config, "tiny-bad.yaml"), check=False)
    assert proc.returncode != 0
    assert "models.sum.kind: an entry named after the kind 'sum' must be of that kind" in proc.stdout + proc.stderr
    config = tiny_config()
    config["models"]["lm"]["hiden_dim"] = 3
    proc = snakemake(tiny_run, "-n", "--configfile", *tiny_variant(tiny_run, config, "tiny-typo.yaml"), check=False)
    assert proc.returncode != 0 and "hiden_dim" in proc.stdout + proc.stderr


def test_the_matrix_page_lists_every_cell_as_it_ran(tiny_run):
    """The report's matrix: every method x network of the run, each cell filled with files that
    hold the network's rows (and links that resolve) or blank with its reason. The cells the
    issue asks of every network are filled on every network."""
    import html as html_lib

    d = tiny_run / R / "analysis/across_papers"
    _schema_matches(d / "matrix.parquet", schemas.MATRIX)
    table = pl.read_parquet(d / "matrix.parquet")
    networks = {"Visual", "Textual", "Sum", "Sum textual", "LM", "RNN", "LSTM", "BiLSTM", "Autoencoder"}
    assert set(table["network"]) == networks
    assert table.group_by("method").len()["len"].to_list() == [len(networks)] * table["method"].n_unique()
    assert set(table["status"]) == {"ran", "blank"}  # nothing planned came out empty
    everywhere = ["activation dumps", "top-K contexts", "mutual information", "probe (deprel)", "omission",
                  "saliency, gradient x input, integrated gradients", "variance salience", "agreement"]
    for method in everywhere:
        cells = table.filter(pl.col("method") == method)
        assert cells["status"].to_list() == ["ran"] * len(networks), method
        assert (cells["rows"] > 0).all(), method
    # Input optimisation: the paper's three and the tiny config's other_networks (RNN, Autoencoder)
    optimised = table.filter(pl.col("method") == "input optimisation")
    ran = set(optimised.filter(pl.col("status") == "ran")["network"])
    assert ran == {"Visual", "Textual", "LM", "RNN", "Autoencoder"}
    assert set(optimised.filter(pl.col("status") == "blank")["reason"]) == {
        "neither input_optimisation.networks nor other_networks names it"}
    blank = table.filter(pl.col("status") == "blank")
    assert blank["reason"].is_not_null().all() and blank["rows"].is_null().all()
    assert set(blank["method"]) == {"class saliency (Li et al. Figs. 5-8)", "representations (Li et al. Figs. 1-4)",
                                    "step saliency (Li et al. Fig. 9)", "image retrieval (Kadar et al. Fig. 1)",
                                    "input optimisation"}
    ran = table.filter(pl.col("status") == "ran")
    # A shared table counts the network's own rows: the probe's Table 2 has 4 rows per network
    probe = ran.filter(pl.col("method") == "probe (deprel)")
    assert probe["rows"].to_list() == [4] * len(networks)  # state and state+4-gram, deprel and control
    page = (d / "matrix.html").read_text()
    links = [html_lib.unescape(h) for h in re.findall(r"href='([^']+)'", page)]
    assert len(links) == sum(len(o) for o in ran["outputs"].to_list())
    for link in links:
        assert (d / link).exists(), link
    for reason in blank["reason"].unique():
        assert html_lib.escape(reason) in page
    csv = pl.read_csv(d / "matrix.csv")
    assert csv.height == table.height
