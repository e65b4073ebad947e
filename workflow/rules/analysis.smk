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
    matrix_plan,
    matrix,


rule training_summary:
    input:
        metrics=expand(rules.train.output.metrics, model=MODELS),
        evaluation=expand(rules.evaluate.output.table, model=MODELS),
        code=code("lingscope.analysis.training_summary"),
    output:
        curves_table=P.analysis("learning_curves.parquet"),
        curves=report(
            P.analysis("learning_curves.png"),
            caption="../report/learning_curves.rst",
            category="Models",
        ),
        results=report(
            P.analysis("model_results.csv"),
            caption="../report/model_results.rst",
            category="Models",
        ),
        curves_svg=P.analysis("learning_curves.svg"),
    log:
        P.log("analysis/training_summary"),
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
        omission=tables("omission", PLAN.kadar_networks()),
        tokens=P.tokens("coco", PLAN.analysis_split),
        code=code("lingscope.analysis.distributions"),
    output:
        by_label=P.analysis("omission_by_label.parquet"),
        log_ratio=P.analysis("log_ratio_by_label.parquet"),
        fig2_xpos=report(
            P.analysis("fig2_xpos.png"),
            caption="../report/fig2.rst",
            category="Omission",
            subcategory="Fig. 2",
        ),
        fig2_deprel=report(
            P.analysis("fig2_deprel.png"),
            caption="../report/fig2.rst",
            category="Omission",
            subcategory="Fig. 2",
        ),
        fig3_xpos=report(
            P.analysis("fig3_xpos.png"),
            caption="../report/fig3.rst",
            category="Omission",
            subcategory="Fig. 3",
        ),
        fig3_deprel=report(
            P.analysis("fig3_deprel.png"),
            caption="../report/fig3.rst",
            category="Omission",
            subcategory="Fig. 3",
        ),
        fig2_xpos_svg=P.analysis("fig2_xpos.svg"),
        fig2_deprel_svg=P.analysis("fig2_deprel.svg"),
        fig3_xpos_svg=P.analysis("fig3_xpos.svg"),
        fig3_deprel_svg=P.analysis("fig3_deprel.svg"),
    log:
        P.log("analysis/distributions"),
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 10),
        runtime=runtime(20),
    params:
        settings=settings_args("analysis"),
    shell:
        "python -m lingscope.analysis.distributions --omission {input.omission} --tokens {input.tokens}"
        " {params.settings}"
        " --by-label {output.by_label} --log-ratio {output.log_ratio}"
        " --fig2-xpos {output.fig2_xpos} --fig2-deprel {output.fig2_deprel}"
        " --fig3-xpos {output.fig3_xpos} --fig3-deprel {output.fig3_deprel} > {log} 2>&1"


rule ridge:
    input:
        omission=tables("omission", PLAN.kadar_networks()),
        tokens=P.tokens("coco", PLAN.analysis_split),
        code=code("lingscope.analysis.ridge"),
    output:
        r2=P.analysis("ridge_r2.parquet"),
        positions=P.analysis("ridge_positions.parquet"),
        fig4=report(
            P.analysis("fig4_r2.png"),
            caption="../report/fig4.rst",
            category="Omission",
            subcategory="Figs. 4 and 6",
        ),
        fig6=report(
            P.analysis("fig6_positions.png"),
            caption="../report/fig6.rst",
            category="Omission",
            subcategory="Figs. 4 and 6",
        ),
        fig4_svg=P.analysis("fig4_r2.svg"),
        fig6_svg=P.analysis("fig6_positions.svg"),
    log:
        P.log("analysis/ridge"),
    benchmark:
        P.benchmark("analysis/ridge")
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(2000, 20),
        runtime=runtime(60),
    params:
        settings=settings_args("analysis.ridge"),
    shell:
        "python -m lingscope.analysis.ridge --omission {input.omission} --tokens {input.tokens}"
        " {params.settings} --r2 {output.r2}"
        " --positions {output.positions} --fig4 {output.fig4} --fig6 {output.fig6} > {log} 2>&1"


rule examples:
    input:
        omission=tables("omission", PLAN.kadar_pair()),
        retrieval=rules.retrieval_examples.output.table,
        code=code("lingscope.analysis.examples"),
    output:
        table=P.analysis("fig1_examples.parquet"),
        figure=report(
            P.analysis("fig1_examples.png"),
            caption="../report/fig1.rst",
            category="Omission",
            subcategory="Fig. 1",
        ),
        figure_svg=P.analysis("fig1_examples.svg"),
    log:
        P.log("analysis/examples"),
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
        table=P.analysis("checks.parquet"),
        csv=report(
            P.analysis("checks.csv"),
            caption="../report/checks.rst",
            category="Checks",
        ),
    log:
        P.log("analysis/checks"),
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 4),
        runtime=runtime(10),
    params:
        corpora=checks_corpus_args,
        split=f"coco {PLAN.analysis_split}",
        distribution=settings_args("analysis"),
        settings=settings_args("analysis.checks"),
    shell:
        "python -m lingscope.analysis.checks {params.corpora} --tokens {input.tokens}"
        " --analysis-split '{params.split}' --evaluation {input.evaluation}"
        " {params.distribution} {params.settings} --table {output.table} --csv {output.csv} > {log} 2>&1"


rule omission_words:
    input:
        omission=P.network_table("omission", *PLAN.fig5_network()),
        tokens=P.tokens("coco", PLAN.analysis_split),
        code=code("lingscope.analysis.omission_words"),
    output:
        words=P.analysis("fig5_words.parquet"),
        boxes=P.analysis("fig5_boxes.parquet"),
        fig5=report(
            P.analysis("fig5_words.png"),
            caption="../report/fig5.rst",
            category="Omission",
            subcategory="Fig. 5",
        ),
        fig5_svg=P.analysis("fig5_words.svg"),
    log:
        P.log("analysis/omission_words"),
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 10),
        runtime=runtime(20),
    params:
        settings=settings_args("analysis.fig5"),
        ridge=settings_args("analysis.ridge"),
    shell:
        "python -m lingscope.analysis.omission_words --omission {input.omission} --tokens {input.tokens}"
        " {params.settings} {params.ridge} --words-table {output.words} --boxes {output.boxes}"
        " --fig5 {output.fig5} > {log} 2>&1"


# Kadar et al. 2017, the unit-level analyses (sec. 5.4-5.6), read from the activation store:
# top-K contexts of every unit (Table 1), activation through time (Fig. 7), the
# grammatical-function probe (Table 2) and mutual information (Fig. 8).


rule top_contexts:
    input:
        activations=rules.activations.output.tokens_dir,
        code=code("lingscope.analysis.top_contexts"),
    output:
        table=P.top_contexts("{model}", "{pathway}"),
    log:
        P.log("top_contexts/{model}-{pathway}"),
    benchmark:
        P.benchmark("top_contexts/{model}-{pathway}")
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime(30),
    params:
        settings=settings_args("units.top_contexts"),
    shell:
        "python -m lingscope.analysis.top_contexts --activations {input.activations} {params.settings}"
        " --out {output.table} > {log} 2>&1"


rule unit_figures:
    input:
        unpack(lambda w: unit_inputs(PLAN.networks(), top_contexts=True)),
        code=code("lingscope.analysis.unit_figures"),
    output:
        table1=report(
            P.analysis("table1.csv", "units"),
            caption="../report/units_table1.rst",
            category="Units",
            subcategory="Table 1",
        ),
        table1_parquet=P.analysis("table1.parquet", "units"),
        traces=P.analysis("fig7_traces.parquet", "units"),
        fig7=report(
            P.analysis("fig7_traces.png", "units"),
            caption="../report/units_fig7.rst",
            category="Units",
            subcategory="Fig. 7",
        ),
        fig7_svg=P.analysis("fig7_traces.svg", "units"),
    log:
        P.log("analysis/unit_figures"),
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 4),
        runtime=runtime(20),
    params:
        settings=settings_args("units.figures"),
    shell:
        "python -m lingscope.analysis.unit_figures --top-contexts {input.top_contexts}"
        " --activations {input.activations} {params.settings} --table1 {output.table1_parquet}"
        " --table1-csv {output.table1} --traces {output.traces} --fig7 {output.fig7} > {log} 2>&1"


rule probe:
    input:
        unpack(lambda w: unit_inputs(PLAN.probe_networks(), True, True)),
        code=code("lingscope.analysis.probe"),
    output:
        table2=P.analysis("table2.parquet", "units"),
        table2_csv=report(
            P.analysis("table2.csv", "units"),
            caption="../report/units_table2.rst",
            category="Units",
            subcategory="Table 2",
        ),
        units=P.analysis("probe_units.parquet", "units"),
    log:
        P.log("analysis/probe"),
    benchmark:
        P.benchmark("analysis/probe")
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(4000, 4),
        runtime=runtime(240),
    params:
        settings=settings_args("units.probe"),
    shell:
        "OMP_NUM_THREADS={threads} python -m lingscope.analysis.probe --activations {input.activations}"
        " --tokens {input.tokens} --top-contexts {input.top_contexts} {params.settings}"
        " --table2 {output.table2} --table2-csv {output.table2_csv} --units {output.units} > {log} 2>&1"


rule mutual_information:
    input:
        unpack(lambda w: unit_inputs(PLAN.parsed_networks(), tokens=True)),
        code=code("lingscope.analysis.mutual_information"),
    output:
        units=P.analysis("mi_units.parquet", "units"),
        summary=P.analysis("mi_summary.parquet", "units"),
        ratios=P.analysis("mi_ratios.parquet", "units"),
        ratios_csv=report(
            P.analysis("mi_ratios.csv", "units"),
            caption="../report/units_fig8.rst",
            category="Units",
            subcategory="Fig. 8",
        ),
        fig8=report(
            P.analysis("fig8_mi.png", "units"),
            caption="../report/units_fig8.rst",
            category="Units",
            subcategory="Fig. 8",
        ),
        fig8_svg=P.analysis("fig8_mi.svg", "units"),
    log:
        P.log("analysis/mutual_information"),
    benchmark:
        P.benchmark("analysis/mutual_information")
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(4000, 4),
        runtime=runtime(60),
    params:
        settings=settings_args("units.mutual_information"),
    shell:
        "python -m lingscope.analysis.mutual_information --activations {input.activations}"
        " --tokens {input.tokens} {params.settings} --units {output.units} --summary {output.summary}"
        " --ratios {output.ratios} --ratios-csv {output.ratios_csv} --fig8 {output.fig8} > {log} 2>&1"


# Li et al. 2016: the accuracy table and Figs. 1-8 of the sentiment networks.


rule sentiment_accuracy:
    input:
        predictions=expand(rules.evaluate.output.predictions, model=PLAN.li_models()),
        evaluation=expand(rules.evaluate.output.table, model=PLAN.li_models()),
        code=code("lingscope.analysis.sentiment_accuracy"),
    output:
        table=P.analysis("accuracy.parquet", "sentiment"),
        csv=report(
            P.analysis("accuracy.csv", "sentiment"),
            caption="../report/li_accuracy.rst",
            category="Sentiment",
            subcategory="Accuracy",
        ),
        mcnemar=P.analysis("mcnemar.parquet", "sentiment"),
        mcnemar_csv=report(
            P.analysis("mcnemar.csv", "sentiment"),
            caption="../report/li_mcnemar.rst",
            category="Sentiment",
            subcategory="Accuracy",
        ),
    log:
        P.log("analysis/sentiment_accuracy"),
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 4),
        runtime=runtime(10),
    params:
        data=PLAN.li_data_label(),
    shell:
        "python -m lingscope.analysis.sentiment_accuracy --predictions {input.predictions}"
        " --evaluation {input.evaluation} --data '{params.data}' --out {output.table}"
        " --out-mcnemar {output.mcnemar} > {log} 2>&1"


rule sentiment_figures:
    input:
        representations=tables("representations", PLAN.li_networks(), "representations"),
        states=tables("representations", PLAN.li_networks(), "states"),
        saliency=tables("saliency", PLAN.li_networks(), "examples"),
        code=code("lingscope.analysis.sentiment_figures"),
    output:
        heatmaps=P.analysis("li_heatmaps.parquet", "sentiment"),
        tsne=P.analysis("li_tsne.parquet", "sentiment"),
        saliency=P.analysis("li_saliency_examples.parquet", "sentiment"),
        fig1=report(
            P.analysis("li_fig1_representations.png", "sentiment"),
            caption="../report/li_fig1.rst",
            category="Sentiment",
            subcategory="Representations",
        ),
        fig2=report(
            P.analysis("li_fig2_tsne.png", "sentiment"),
            caption="../report/li_fig2.rst",
            category="Sentiment",
            subcategory="Representations",
        ),
        fig3=report(
            P.analysis("li_fig3_states.png", "sentiment"),
            caption="../report/li_fig3.rst",
            category="Sentiment",
            subcategory="Representations",
        ),
        fig4=report(
            P.analysis("li_fig4_clauses.png", "sentiment"),
            caption="../report/li_fig4.rst",
            category="Sentiment",
            subcategory="Representations",
        ),
        fig5=report(
            P.analysis("li_fig5_saliency.png", "sentiment"),
            caption="../report/li_saliency.rst",
            category="Sentiment",
            subcategory="Saliency",
        ),
        fig6=report(
            P.analysis("li_fig6_saliency.png", "sentiment"),
            caption="../report/li_saliency.rst",
            category="Sentiment",
            subcategory="Saliency",
        ),
        fig7=report(
            P.analysis("li_fig7_saliency.png", "sentiment"),
            caption="../report/li_saliency.rst",
            category="Sentiment",
            subcategory="Saliency",
        ),
        fig8=report(
            P.analysis("li_fig8_variance.png", "sentiment"),
            caption="../report/li_fig8.rst",
            category="Sentiment",
            subcategory="Saliency",
        ),
    log:
        P.log("analysis/sentiment_figures"),
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(2000, 4),
        runtime=runtime(20),
    params:
        tsne=settings_args("li_figures.tsne"),
        out_dir=figures_dir,
    shell:
        "python -m lingscope.analysis.sentiment_figures --representations {input.representations}"
        " --states {input.states} --saliency {input.saliency} {params.tsne}"
        " --out-dir {params.out_dir} > {log} 2>&1"


# Poerner et al. 2018: Fig. 1 (the methods' optima per network), the summary and Table 1.


rule poerner_figures:
    input:
        results=PLAN.io_tables(),
        tokens=P.tokens("coco", PLAN.analysis_split),
        code=code("lingscope.analysis.poerner_figures"),
    output:
        fig1=report(
            P.analysis("fig1_activations.png", "input_optimisation"),
            caption="../report/poerner_fig1.rst",
            category="Input optimisation",
        ),
        fig1_svg=P.analysis("fig1_activations.svg", "input_optimisation"),
        summary=P.analysis("summary.parquet", "input_optimisation"),
        summary_csv=report(
            P.analysis("summary.csv", "input_optimisation"),
            caption="../report/poerner_summary.rst",
            category="Input optimisation",
        ),
        table1=report(
            P.analysis("table1.csv", "input_optimisation"),
            caption="../report/poerner_table1.rst",
            category="Input optimisation",
        ),
        table1_parquet=P.analysis("table1.parquet", "input_optimisation"),
    log:
        P.log("analysis/poerner_figures"),
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 4),
        runtime=runtime(10),
    params:
        settings=settings_args("poerner_figures"),
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
            P.analysis("results.csv", "autoencoder"),
            caption="../report/autoencoder_results.rst",
            category="Autoencoder",
        ),
        by_length=P.analysis("by_length.csv", "autoencoder"),
        by_length_figure=report(
            P.analysis("by_length.png", "autoencoder"),
            caption="../report/autoencoder_by_length.rst",
            category="Autoencoder",
        ),
        alignment=report(
            P.analysis("alignment.csv", "autoencoder"),
            caption="../report/autoencoder_alignment.rst",
            category="Autoencoder",
        ),
        fig9=report(
            P.analysis("fig9_saliency.png", "autoencoder"),
            caption="../report/fig9.rst",
            category="Autoencoder",
        ),
    log:
        P.log("analysis/autoencoder_figures"),
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1500, 6),
        runtime=runtime(10),
    params:
        settings=settings_args("autoencoder_figures"),
    shell:
        "python -m lingscope.analysis.autoencoder_figures --evaluation {input.evaluation}"
        " --reconstructions {input.reconstructions} --step-saliency {input.step_saliency} {params.settings}"
        " --results {output.results} --by-length {output.by_length} --by-length-figure {output.by_length_figure}"
        " --alignment {output.alignment} --fig9 {output.fig9} > {log} 2>&1"


# How far the attribution methods agree, per network (docs/beyond.md#agreement).


rule agreement:
    input:
        omission=tables("omission", PLAN.attribution_networks()),
        attribution=tables("attribution", PLAN.attribution_networks()),
        code=code("lingscope.analysis.agreement"),
    output:
        table=report(
            P.analysis("agreement.csv", "agreement"),
            caption="../report/agreement.rst",
            category="Attribution",
        ),
        parquet=P.analysis("agreement.parquet", "agreement"),
        figure=report(
            P.analysis("agreement.png", "agreement"),
            caption="../report/agreement_figure.rst",
            category="Attribution",
        ),
    log:
        P.log("analysis/agreement"),
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1500, 6),
        runtime=runtime(10),
    params:
        settings=settings_args("agreement"),
    shell:
        "python -m lingscope.analysis.agreement --omission {input.omission} --attribution {input.attribution}"
        " {params.settings} --table {output.table} --figure {output.figure} > {log} 2>&1"


# The matrix's plan as a file (lingscope.core.plan): the cells, their outputs and the reason for
# each blank. A params change (the plan) reruns it and the matrix; it runs no package code.
rule matrix_plan:
    output:
        cells=P.analysis("plan.json", "matrix"),
    log:
        P.log("analysis/matrix_plan"),
    threads: 1
    resources:
        mem_mb=mem_mb(500),
        runtime=runtime(5),
    params:
        cells=lambda wildcards: PLAN.matrix_cells(),
    run:
        write_cells(params.cells, output.cells)


# Every method on every network, as the run made it (docs/beyond.md#the-matrix): links and reasons.
rule matrix:
    input:
        outputs=lambda w: PLAN.matrix_inputs(),
        plan=rules.matrix_plan.output.cells,
        code=code("lingscope.analysis.matrix"),
    output:
        table=report(
            P.analysis("matrix.csv", "matrix"),
            caption="../report/matrix.rst",
            category="Matrix",
        ),
        parquet=P.analysis("matrix.parquet", "matrix"),
        html=report(
            P.analysis("matrix.html", "matrix"),
            caption="../report/matrix.rst",
            category="Matrix",
        ),
    log:
        P.log("analysis/matrix"),
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000),
        runtime=runtime(10),
    shell:
        "python -m lingscope.analysis.matrix --cells {input.plan} --table {output.table}"
        " --parquet {output.parquet} --html {output.html} > {log} 2>&1"
