# Analyses and figures of Kadar et al. 2017 (Figs. 1-4 and 6), each with its table.


# Plots and small tables run on the submit host, not as cluster jobs.
localrules:
    training_summary,
    distributions,
    examples,
    checks,
    sentiment_accuracy,
    sentiment_figures,
    poerner_figures,
    omission_words,
    unit_figures,
    autoencoder_figures,
    agreement,
    matrix,


rule training_summary:
    input:
        metrics=expand(f"{RESULTS}/models/{{model}}/metrics.parquet", model=MODELS),
        evaluation=expand(
            f"{RESULTS}/models/{{model}}/evaluation.parquet", model=MODELS
        ),
        code=code("lingscope.analysis.training_summary"),
    output:
        curves_table=f"{RESULTS}/analysis/learning_curves.parquet",
        curves=report(
            f"{RESULTS}/analysis/learning_curves.png",
            caption="../report/learning_curves.rst",
            category="Models",
        ),
        results=report(
            f"{RESULTS}/analysis/model_results.csv",
            caption="../report/model_results.rst",
            category="Models",
        ),
        curves_svg=f"{RESULTS}/analysis/learning_curves.svg",
    log:
        f"{RESULTS}/logs/analysis/training_summary.log",
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 4),
        runtime=runtime(10),
    shell:
        "python -m lingscope.analysis.training_summary --metrics {input.metrics} --evaluation {input.evaluation}"
        " --curves-table {output.curves_table} --curves {output.curves} --results {output.results} > {log} 2>&1"


rule distributions:
    input:
        omission=kadar_omission(),
        tokens=analysis_tokens,
        code=code("lingscope.analysis.distributions"),
    output:
        by_label=f"{RESULTS}/analysis/omission_by_label.parquet",
        log_ratio=f"{RESULTS}/analysis/log_ratio_by_label.parquet",
        fig2_xpos=report(
            f"{RESULTS}/analysis/fig2_xpos.png",
            caption="../report/fig2.rst",
            category="Omission",
            subcategory="Fig. 2",
        ),
        fig2_deprel=report(
            f"{RESULTS}/analysis/fig2_deprel.png",
            caption="../report/fig2.rst",
            category="Omission",
            subcategory="Fig. 2",
        ),
        fig3_xpos=report(
            f"{RESULTS}/analysis/fig3_xpos.png",
            caption="../report/fig3.rst",
            category="Omission",
            subcategory="Fig. 3",
        ),
        fig3_deprel=report(
            f"{RESULTS}/analysis/fig3_deprel.png",
            caption="../report/fig3.rst",
            category="Omission",
            subcategory="Fig. 3",
        ),
        fig2_xpos_svg=f"{RESULTS}/analysis/fig2_xpos.svg",
        fig2_deprel_svg=f"{RESULTS}/analysis/fig2_deprel.svg",
        fig3_xpos_svg=f"{RESULTS}/analysis/fig3_xpos.svg",
        fig3_deprel_svg=f"{RESULTS}/analysis/fig3_deprel.svg",
    log:
        f"{RESULTS}/logs/analysis/distributions.log",
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 10),
        runtime=runtime(20),
    params:
        settings=settings_args(
            DistributionSettings,
            "analysis",
            ignore=("ridge", "examples", "checks", "fig5"),
        ),
    shell:
        "python -m lingscope.analysis.distributions --omission {input.omission} --tokens {input.tokens}"
        " {params.settings}"
        " --by-label {output.by_label} --log-ratio {output.log_ratio}"
        " --fig2-xpos {output.fig2_xpos} --fig2-deprel {output.fig2_deprel}"
        " --fig3-xpos {output.fig3_xpos} --fig3-deprel {output.fig3_deprel} > {log} 2>&1"


rule ridge:
    input:
        omission=kadar_omission(),
        tokens=analysis_tokens,
        code=code("lingscope.analysis.ridge"),
    output:
        r2=f"{RESULTS}/analysis/ridge_r2.parquet",
        positions=f"{RESULTS}/analysis/ridge_positions.parquet",
        fig4=report(
            f"{RESULTS}/analysis/fig4_r2.png",
            caption="../report/fig4.rst",
            category="Omission",
            subcategory="Figs. 4 and 6",
        ),
        fig6=report(
            f"{RESULTS}/analysis/fig6_positions.png",
            caption="../report/fig6.rst",
            category="Omission",
            subcategory="Figs. 4 and 6",
        ),
        fig4_svg=f"{RESULTS}/analysis/fig4_r2.svg",
        fig6_svg=f"{RESULTS}/analysis/fig6_positions.svg",
    log:
        f"{RESULTS}/logs/analysis/ridge.log",
    benchmark:
        f"{RESULTS}/benchmarks/analysis/ridge.tsv"
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(2000, 20),
        runtime=runtime(60),
    params:
        settings=settings_args(RidgeSettings, "analysis/ridge"),
    shell:
        "python -m lingscope.analysis.ridge --omission {input.omission} --tokens {input.tokens}"
        " {params.settings} --r2 {output.r2}"
        " --positions {output.positions} --fig4 {output.fig4} --fig6 {output.fig6} > {log} 2>&1"


rule examples:
    input:
        omission=pair_omission(),
        retrieval=f"{RESULTS}/analysis/retrieval_examples.parquet",
        code=code("lingscope.analysis.examples"),
    output:
        table=f"{RESULTS}/analysis/fig1_examples.parquet",
        figure=report(
            f"{RESULTS}/analysis/fig1_examples.png",
            caption="../report/fig1.rst",
            category="Omission",
            subcategory="Fig. 1",
        ),
        figure_svg=f"{RESULTS}/analysis/fig1_examples.svg",
    log:
        f"{RESULTS}/logs/analysis/examples.log",
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 4),
        runtime=runtime(10),
    shell:
        "python -m lingscope.analysis.examples --omission {input.omission} --retrieval {input.retrieval}"
        " --table {output.table} --figure {output.figure} > {log} 2>&1"


rule checks:
    input:
        unpack(checks_inputs),
        code=code("lingscope.analysis.checks"),
    output:
        table=f"{RESULTS}/analysis/checks.parquet",
        csv=report(
            f"{RESULTS}/analysis/checks.csv",
            caption="../report/checks.rst",
            category="Checks",
        ),
    log:
        f"{RESULTS}/logs/analysis/checks.log",
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 4),
        runtime=runtime(10),
    params:
        corpora=checks_corpus_args,
        split=f"coco {analysis_split()}",
        distribution=settings_args(
            DistributionSettings,
            "analysis",
            ignore=("ridge", "examples", "checks", "fig5"),
        ),
        settings=settings_args(CheckSettings, "analysis/checks"),
    shell:
        "python -m lingscope.analysis.checks {params.corpora} --tokens {input.tokens}"
        " --analysis-split '{params.split}' --evaluation {input.evaluation}"
        " {params.distribution} {params.settings} --table {output.table} --csv {output.csv} > {log} 2>&1"


rule omission_words:
    input:
        omission=fig5_omission(),
        tokens=analysis_tokens,
        code=code("lingscope.analysis.omission_words"),
    output:
        words=f"{RESULTS}/analysis/fig5_words.parquet",
        boxes=f"{RESULTS}/analysis/fig5_boxes.parquet",
        fig5=report(
            f"{RESULTS}/analysis/fig5_words.png",
            caption="../report/fig5.rst",
            category="Omission",
            subcategory="Fig. 5",
        ),
        fig5_svg=f"{RESULTS}/analysis/fig5_words.svg",
    log:
        f"{RESULTS}/logs/analysis/omission_words.log",
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 10),
        runtime=runtime(20),
    params:
        settings=settings_args(OmissionWordSettings, "analysis/fig5"),
        ridge=settings_args(RidgeSettings, "analysis/ridge"),
    shell:
        "python -m lingscope.analysis.omission_words --omission {input.omission} --tokens {input.tokens}"
        " {params.settings} {params.ridge} --words-table {output.words} --boxes {output.boxes}"
        " --fig5 {output.fig5} > {log} 2>&1"


# Kadar et al. 2017, the unit-level analyses (sec. 5.4-5.6), read from the activation store:
# top-K contexts of every unit (Table 1), activation through time (Fig. 7), the
# grammatical-function probe (Table 2) and mutual information (Fig. 8).


rule top_contexts:
    input:
        activations=activation_dir("tokens", "{model}", "{pathway}"),
        code=code("lingscope.analysis.top_contexts"),
    output:
        table=top_contexts_path("{model}", "{pathway}"),
    log:
        f"{RESULTS}/logs/top_contexts/{{model}}-{{pathway}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/top_contexts/{{model}}-{{pathway}}.tsv"
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime(30),
    params:
        settings=settings_args(TopContextSettings, "units/top_contexts"),
    shell:
        "python -m lingscope.analysis.top_contexts --activations {input.activations} {params.settings}"
        " --out {output.table} > {log} 2>&1"


rule unit_figures:
    input:
        unpack(unit_figure_inputs),
        code=code("lingscope.analysis.unit_figures"),
    output:
        table1=report(
            f"{units_dir()}/table1.csv",
            caption="../report/units_table1.rst",
            category="Units",
            subcategory="Table 1",
        ),
        table1_parquet=f"{units_dir()}/table1.parquet",
        traces=f"{units_dir()}/fig7_traces.parquet",
        fig7=report(
            f"{units_dir()}/fig7_traces.png",
            caption="../report/units_fig7.rst",
            category="Units",
            subcategory="Fig. 7",
        ),
        fig7_svg=f"{units_dir()}/fig7_traces.svg",
    log:
        f"{RESULTS}/logs/analysis/unit_figures.log",
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 4),
        runtime=runtime(20),
    params:
        settings=settings_args(UnitFigureSettings, "units/figures"),
    shell:
        "python -m lingscope.analysis.unit_figures --top-contexts {input.top_contexts}"
        " --activations {input.activations} {params.settings} --table1 {output.table1_parquet}"
        " --table1-csv {output.table1} --traces {output.traces} --fig7 {output.fig7} > {log} 2>&1"


rule probe:
    input:
        unpack(probe_inputs),
        code=code("lingscope.analysis.probe"),
    output:
        table2=f"{units_dir()}/table2.parquet",
        table2_csv=report(
            f"{units_dir()}/table2.csv",
            caption="../report/units_table2.rst",
            category="Units",
            subcategory="Table 2",
        ),
        units=f"{units_dir()}/probe_units.parquet",
    log:
        f"{RESULTS}/logs/analysis/probe.log",
    benchmark:
        f"{RESULTS}/benchmarks/analysis/probe.tsv"
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(4000, 4),
        runtime=runtime(240),
    params:
        settings=settings_args(ProbeSettings, "units/probe", ignore=("networks",)),
    shell:
        "OMP_NUM_THREADS={threads} python -m lingscope.analysis.probe --activations {input.activations}"
        " --tokens {input.tokens} --top-contexts {input.top_contexts} {params.settings}"
        " --table2 {output.table2} --table2-csv {output.table2_csv} --units {output.units} > {log} 2>&1"


rule mutual_information:
    input:
        unpack(mi_inputs),
        code=code("lingscope.analysis.mutual_information"),
    output:
        units=f"{units_dir()}/mi_units.parquet",
        summary=f"{units_dir()}/mi_summary.parquet",
        ratios=f"{units_dir()}/mi_ratios.parquet",
        ratios_csv=report(
            f"{units_dir()}/mi_ratios.csv",
            caption="../report/units_fig8.rst",
            category="Units",
            subcategory="Fig. 8",
        ),
        fig8=report(
            f"{units_dir()}/fig8_mi.png",
            caption="../report/units_fig8.rst",
            category="Units",
            subcategory="Fig. 8",
        ),
        fig8_svg=f"{units_dir()}/fig8_mi.svg",
    log:
        f"{RESULTS}/logs/analysis/mutual_information.log",
    benchmark:
        f"{RESULTS}/benchmarks/analysis/mutual_information.tsv"
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(4000, 4),
        runtime=runtime(60),
    params:
        settings=settings_args(MutualInformationSettings, "units/mutual_information"),
    shell:
        "python -m lingscope.analysis.mutual_information --activations {input.activations}"
        " --tokens {input.tokens} {params.settings} --units {output.units} --summary {output.summary}"
        " --ratios {output.ratios} --ratios-csv {output.ratios_csv} --fig8 {output.fig8} > {log} 2>&1"


# Li et al. 2016: the accuracy table and Figs. 1-8 of the sentiment networks.


rule sentiment_accuracy:
    input:
        predictions=expand(
            f"{RESULTS}/models/{{model}}/predictions.parquet", model=li_models()
        ),
        evaluation=expand(
            f"{RESULTS}/models/{{model}}/evaluation.parquet", model=li_models()
        ),
        code=code("lingscope.analysis.sentiment_accuracy"),
    output:
        table=f"{li_dir()}/accuracy.parquet",
        csv=report(
            f"{li_dir()}/accuracy.csv",
            caption="../report/li_accuracy.rst",
            category="Sentiment",
            subcategory="Accuracy",
        ),
        mcnemar=f"{li_dir()}/mcnemar.parquet",
        mcnemar_csv=report(
            f"{li_dir()}/mcnemar.csv",
            caption="../report/li_mcnemar.rst",
            category="Sentiment",
            subcategory="Accuracy",
        ),
    log:
        f"{RESULTS}/logs/analysis/sentiment_accuracy.log",
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 4),
        runtime=runtime(10),
    params:
        data=li_data_label(),
    shell:
        "python -m lingscope.analysis.sentiment_accuracy --predictions {input.predictions}"
        " --evaluation {input.evaluation} --data '{params.data}' --out {output.table}"
        " --out-mcnemar {output.mcnemar} > {log} 2>&1"


rule sentiment_figures:
    input:
        representations=[
            representations_path("representations", m, p) for m, p in li_networks()
        ],
        states=[representations_path("states", m, p) for m, p in li_networks()],
        saliency=[saliency_path("examples", m, p) for m, p in li_networks()],
        code=code("lingscope.analysis.sentiment_figures"),
    output:
        heatmaps=f"{li_dir()}/li_heatmaps.parquet",
        tsne=f"{li_dir()}/li_tsne.parquet",
        saliency=f"{li_dir()}/li_saliency_examples.parquet",
        fig1=report(
            f"{li_dir()}/li_fig1_representations.png",
            caption="../report/li_fig1.rst",
            category="Sentiment",
            subcategory="Representations",
        ),
        fig2=report(
            f"{li_dir()}/li_fig2_tsne.png",
            caption="../report/li_fig2.rst",
            category="Sentiment",
            subcategory="Representations",
        ),
        fig3=report(
            f"{li_dir()}/li_fig3_states.png",
            caption="../report/li_fig3.rst",
            category="Sentiment",
            subcategory="Representations",
        ),
        fig4=report(
            f"{li_dir()}/li_fig4_clauses.png",
            caption="../report/li_fig4.rst",
            category="Sentiment",
            subcategory="Representations",
        ),
        fig5=report(
            f"{li_dir()}/li_fig5_saliency.png",
            caption="../report/li_saliency.rst",
            category="Sentiment",
            subcategory="Saliency",
        ),
        fig6=report(
            f"{li_dir()}/li_fig6_saliency.png",
            caption="../report/li_saliency.rst",
            category="Sentiment",
            subcategory="Saliency",
        ),
        fig7=report(
            f"{li_dir()}/li_fig7_saliency.png",
            caption="../report/li_saliency.rst",
            category="Sentiment",
            subcategory="Saliency",
        ),
        fig8=report(
            f"{li_dir()}/li_fig8_variance.png",
            caption="../report/li_fig8.rst",
            category="Sentiment",
            subcategory="Saliency",
        ),
    log:
        f"{RESULTS}/logs/analysis/sentiment_figures.log",
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(2000, 4),
        runtime=runtime(20),
    params:
        tsne=settings_args(TsneSettings, "li_figures/tsne"),
        out_dir=figures_dir,
    shell:
        "python -m lingscope.analysis.sentiment_figures --representations {input.representations}"
        " --states {input.states} --saliency {input.saliency} {params.tsne}"
        " --out-dir {params.out_dir} > {log} 2>&1"


# Poerner et al. 2018: Fig. 1 (the methods' optima per network), the summary and Table 1.


rule poerner_figures:
    input:
        results=io_tables(),
        tokens=analysis_tokens,
        code=code("lingscope.analysis.poerner_figures"),
    output:
        fig1=report(
            f"{io_dir()}/fig1_activations.png",
            caption="../report/poerner_fig1.rst",
            category="Input optimisation",
        ),
        fig1_svg=f"{io_dir()}/fig1_activations.svg",
        summary=f"{io_dir()}/summary.parquet",
        summary_csv=report(
            f"{io_dir()}/summary.csv",
            caption="../report/poerner_summary.rst",
            category="Input optimisation",
        ),
        table1=report(
            f"{io_dir()}/table1.csv",
            caption="../report/poerner_table1.rst",
            category="Input optimisation",
        ),
        table1_parquet=f"{io_dir()}/table1.parquet",
    log:
        f"{RESULTS}/logs/analysis/poerner_figures.log",
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 4),
        runtime=runtime(10),
    params:
        settings=settings_args(PoernerTableSettings, "poerner_figures"),
    shell:
        "python -m lingscope.analysis.poerner_figures --results {input.results} --tokens {input.tokens}"
        " --fig1 {output.fig1} --summary {output.summary} --table1 {output.table1}"
        " {params.settings} > {log} 2>&1"


# Li et al. 2016's autoencoder: its results, by sentence length, and Fig. 9.


rule autoencoder_figures:
    input:
        unpack(autoencoder_inputs),
        code=code("lingscope.analysis.autoencoder_figures"),
    output:
        results=report(
            f"{autoencoder_dir()}/results.csv",
            caption="../report/autoencoder_results.rst",
            category="Autoencoder",
        ),
        by_length=f"{autoencoder_dir()}/by_length.csv",
        by_length_figure=report(
            f"{autoencoder_dir()}/by_length.png",
            caption="../report/autoencoder_by_length.rst",
            category="Autoencoder",
        ),
        alignment=report(
            f"{autoencoder_dir()}/alignment.csv",
            caption="../report/autoencoder_alignment.rst",
            category="Autoencoder",
        ),
        fig9=report(
            f"{autoencoder_dir()}/fig9_saliency.png",
            caption="../report/fig9.rst",
            category="Autoencoder",
        ),
    log:
        f"{RESULTS}/logs/analysis/autoencoder_figures.log",
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1500, 6),
        runtime=runtime(10),
    params:
        settings=settings_args(AutoencoderFigureSettings, "autoencoder_figures"),
    shell:
        "python -m lingscope.analysis.autoencoder_figures --evaluation {input.evaluation}"
        " --reconstructions {input.reconstructions} --step-saliency {input.step_saliency} {params.settings}"
        " --results {output.results} --by-length {output.by_length} --by-length-figure {output.by_length_figure}"
        " --alignment {output.alignment} --fig9 {output.fig9} > {log} 2>&1"


# How far the attribution methods agree, per network (METHODS.md sec. 4).


rule agreement:
    input:
        unpack(agreement_inputs),
        code=code("lingscope.analysis.agreement"),
    output:
        table=report(
            f"{agreement_dir()}/agreement.csv",
            caption="../report/agreement.rst",
            category="Attribution",
        ),
        parquet=f"{agreement_dir()}/agreement.parquet",
        figure=report(
            f"{agreement_dir()}/agreement.png",
            caption="../report/agreement_figure.rst",
            category="Attribution",
        ),
    log:
        f"{RESULTS}/logs/analysis/agreement.log",
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1500, 6),
        runtime=runtime(10),
    params:
        settings=settings_args(AgreementSettings, "agreement"),
    shell:
        "python -m lingscope.analysis.agreement --omission {input.omission} --attribution {input.attribution}"
        " {params.settings} --table {output.table} --figure {output.figure} > {log} 2>&1"


# Every method on every network, as the run made it (METHODS.md sec. 4): links and reasons.
rule matrix:
    input:
        outputs=matrix_inputs,
        code=code("lingscope.analysis.matrix"),
    output:
        table=report(
            f"{matrix_dir()}/matrix.csv",
            caption="../report/matrix.rst",
            category="Matrix",
        ),
        parquet=f"{matrix_dir()}/matrix.parquet",
        html=report(
            f"{matrix_dir()}/matrix.html",
            caption="../report/matrix.rst",
            category="Matrix",
        ),
    log:
        f"{RESULTS}/logs/analysis/matrix.log",
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000),
        runtime=runtime(10),
    params:
        cells=lambda wildcards: json.dumps(matrix_cells()),
    shell:
        "python -m lingscope.analysis.matrix --cells {params.cells:q} --table {output.table}"
        " --parquet {output.parquet} --html {output.html} > {log} 2>&1"
