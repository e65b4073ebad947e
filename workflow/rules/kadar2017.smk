# Kadar et al. 2017: omission scores by label and position (Figs. 1-6) and the unit-level
# analyses (top-K contexts, Table 1 and Fig. 7, the probe of Table 2, mutual information of Fig. 8).


# Plots and small tables run on the submit host, not as cluster jobs.
localrules:
    distributions,
    examples,
    omission_words,
    unit_figures,


rule distributions:
    input:
        omission=lambda w: tables("omission", PLAN.kadar_networks()),
        tokens=P.tokens("coco", PLAN.analysis_split),
        code=code("lingscope.analysis.kadar2017.distributions"),
    output:
        by_label=P.analysis("omission_by_label.parquet", "kadar2017"),
        log_ratio=P.analysis("log_ratio_by_label.parquet", "kadar2017"),
        fig2_xpos=report(
            P.analysis("fig2_xpos.png", "kadar2017"),
            caption="../report/kadar2017/fig2.rst",
            category="Omission",
            subcategory="Fig. 2",
        ),
        fig2_deprel=report(
            P.analysis("fig2_deprel.png", "kadar2017"),
            caption="../report/kadar2017/fig2.rst",
            category="Omission",
            subcategory="Fig. 2",
        ),
        fig3_xpos=report(
            P.analysis("fig3_xpos.png", "kadar2017"),
            caption="../report/kadar2017/fig3.rst",
            category="Omission",
            subcategory="Fig. 3",
        ),
        fig3_deprel=report(
            P.analysis("fig3_deprel.png", "kadar2017"),
            caption="../report/kadar2017/fig3.rst",
            category="Omission",
            subcategory="Fig. 3",
        ),
        fig2_xpos_svg=P.analysis("fig2_xpos.svg", "kadar2017"),
        fig2_deprel_svg=P.analysis("fig2_deprel.svg", "kadar2017"),
        fig3_xpos_svg=P.analysis("fig3_xpos.svg", "kadar2017"),
        fig3_deprel_svg=P.analysis("fig3_deprel.svg", "kadar2017"),
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
        "python -m lingscope.analysis.kadar2017.distributions --omission {input.omission} --tokens {input.tokens}"
        " {params.settings}"
        " --by-label {output.by_label} --log-ratio {output.log_ratio}"
        " --fig2-xpos {output.fig2_xpos} --fig2-deprel {output.fig2_deprel}"
        " --fig3-xpos {output.fig3_xpos} --fig3-deprel {output.fig3_deprel} > {log} 2>&1"


rule ridge:
    input:
        omission=lambda w: tables("omission", PLAN.kadar_networks()),
        tokens=P.tokens("coco", PLAN.analysis_split),
        code=code("lingscope.analysis.kadar2017.ridge"),
    output:
        r2=P.analysis("ridge_r2.parquet", "kadar2017"),
        positions=P.analysis("ridge_positions.parquet", "kadar2017"),
        fig4=report(
            P.analysis("fig4_r2.png", "kadar2017"),
            caption="../report/kadar2017/fig4.rst",
            category="Omission",
            subcategory="Figs. 4 and 6",
        ),
        fig6=report(
            P.analysis("fig6_positions.png", "kadar2017"),
            caption="../report/kadar2017/fig6.rst",
            category="Omission",
            subcategory="Figs. 4 and 6",
        ),
        fig4_svg=P.analysis("fig4_r2.svg", "kadar2017"),
        fig6_svg=P.analysis("fig6_positions.svg", "kadar2017"),
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
        "python -m lingscope.analysis.kadar2017.ridge --omission {input.omission} --tokens {input.tokens}"
        " {params.settings} --r2 {output.r2}"
        " --positions {output.positions} --fig4 {output.fig4} --fig6 {output.fig6} > {log} 2>&1"


rule examples:
    input:
        omission=lambda w: tables("omission", PLAN.kadar_pair()),
        retrieval=rules.retrieval_examples.output.table,
        code=code("lingscope.analysis.kadar2017.examples"),
    output:
        table=P.analysis("fig1_examples.parquet", "kadar2017"),
        figure=report(
            P.analysis("fig1_examples.png", "kadar2017"),
            caption="../report/kadar2017/fig1.rst",
            category="Omission",
            subcategory="Fig. 1",
        ),
        figure_svg=P.analysis("fig1_examples.svg", "kadar2017"),
    log:
        P.log("analysis/examples"),
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 4),
        runtime=runtime(10),
    shell:
        "python -m lingscope.analysis.kadar2017.examples --omission {input.omission} --retrieval {input.retrieval}"
        " --table {output.table} --figure {output.figure} > {log} 2>&1"


rule omission_words:
    input:
        omission=lambda w: P.network_table("omission", *PLAN.fig5_network()),
        tokens=P.tokens("coco", PLAN.analysis_split),
        code=code("lingscope.analysis.kadar2017.omission_words"),
    output:
        words=P.analysis("fig5_words.parquet", "kadar2017"),
        boxes=P.analysis("fig5_boxes.parquet", "kadar2017"),
        fig5=report(
            P.analysis("fig5_words.png", "kadar2017"),
            caption="../report/kadar2017/fig5.rst",
            category="Omission",
            subcategory="Fig. 5",
        ),
        fig5_svg=P.analysis("fig5_words.svg", "kadar2017"),
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
        "python -m lingscope.analysis.kadar2017.omission_words --omission {input.omission} --tokens {input.tokens}"
        " {params.settings} {params.ridge} --words-table {output.words} --boxes {output.boxes}"
        " --fig5 {output.fig5} > {log} 2>&1"


# Kadar et al. 2017, the unit-level analyses (sec. 5.4-5.6), read from the activation store:
# top-K contexts of every unit (Table 1), activation through time (Fig. 7), the
# grammatical-function probe (Table 2) and mutual information (Fig. 8).
rule top_contexts:
    input:
        activations=rules.activations.output.tokens_dir,
        code=code("lingscope.analysis.kadar2017.top_contexts"),
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
        "python -m lingscope.analysis.kadar2017.top_contexts --activations {input.activations} {params.settings}"
        " --out {output.table} > {log} 2>&1"


rule unit_figures:
    input:
        unpack(lambda w: unit_inputs(PLAN.networks(), top_contexts=True)),
        code=code("lingscope.analysis.kadar2017.unit_figures"),
    output:
        table1=report(
            P.analysis("table1.csv", "kadar2017"),
            caption="../report/kadar2017/table1.rst",
            category="Units",
            subcategory="Table 1",
        ),
        table1_parquet=P.analysis("table1.parquet", "kadar2017"),
        traces=P.analysis("fig7_traces.parquet", "kadar2017"),
        fig7=report(
            P.analysis("fig7_traces.png", "kadar2017"),
            caption="../report/kadar2017/fig7.rst",
            category="Units",
            subcategory="Fig. 7",
        ),
        fig7_svg=P.analysis("fig7_traces.svg", "kadar2017"),
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
        "python -m lingscope.analysis.kadar2017.unit_figures --top-contexts {input.top_contexts}"
        " --activations {input.activations} {params.settings} --table1 {output.table1_parquet}"
        " --table1-csv {output.table1} --traces {output.traces} --fig7 {output.fig7} > {log} 2>&1"


rule probe:
    input:
        unpack(lambda w: unit_inputs(PLAN.probe_networks(), True, True)),
        code=code("lingscope.analysis.kadar2017.probe"),
    output:
        table2=P.analysis("table2.parquet", "kadar2017"),
        table2_csv=report(
            P.analysis("table2.csv", "kadar2017"),
            caption="../report/kadar2017/table2.rst",
            category="Units",
            subcategory="Table 2",
        ),
        units=P.analysis("probe_units.parquet", "kadar2017"),
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
        "OMP_NUM_THREADS={threads} python -m lingscope.analysis.kadar2017.probe --activations {input.activations}"
        " --tokens {input.tokens} --top-contexts {input.top_contexts} {params.settings}"
        " --table2 {output.table2} --table2-csv {output.table2_csv} --units {output.units} > {log} 2>&1"


rule mutual_information:
    input:
        unpack(lambda w: unit_inputs(PLAN.parsed_networks(), tokens=True)),
        code=code("lingscope.analysis.kadar2017.mutual_information"),
    output:
        units=P.analysis("mi_units.parquet", "kadar2017"),
        summary=P.analysis("mi_summary.parquet", "kadar2017"),
        ratios=P.analysis("mi_ratios.parquet", "kadar2017"),
        ratios_csv=report(
            P.analysis("mi_ratios.csv", "kadar2017"),
            caption="../report/kadar2017/fig8.rst",
            category="Units",
            subcategory="Fig. 8",
        ),
        fig8=report(
            P.analysis("fig8_mi.png", "kadar2017"),
            caption="../report/kadar2017/fig8.rst",
            category="Units",
            subcategory="Fig. 8",
        ),
        fig8_svg=P.analysis("fig8_mi.svg", "kadar2017"),
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
        "python -m lingscope.analysis.kadar2017.mutual_information --activations {input.activations}"
        " --tokens {input.tokens} {params.settings} --units {output.units} --summary {output.summary}"
        " --ratios {output.ratios} --ratios-csv {output.ratios_csv} --fig8 {output.fig8} > {log} 2>&1"
