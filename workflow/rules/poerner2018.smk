# Poerner et al. 2018: Fig. 1 (the methods' optima per network), the summary and Table 1.


# Plots and small tables run on the submit host, not as cluster jobs.
localrules:
    poerner_figures,


# Poerner et al. 2018: Fig. 1 (the methods' optima per network), the summary and Table 1.
rule poerner_figures:
    input:
        results=PLAN.io_tables(),
        tokens=lambda w: PLAN.io_tokens(),
        code=code("lingscope.analysis.poerner2018.poerner_figures"),
    output:
        fig1=report(
            P.analysis("fig1_activations.png", "poerner2018"),
            caption="../report/poerner2018/fig1.rst",
            category="Input optimisation",
        ),
        fig1_svg=P.analysis("fig1_activations.svg", "poerner2018"),
        summary=P.analysis("summary.parquet", "poerner2018"),
        summary_csv=report(
            P.analysis("summary.csv", "poerner2018"),
            caption="../report/poerner2018/summary.rst",
            category="Input optimisation",
        ),
        table1=report(
            P.analysis("table1.csv", "poerner2018"),
            caption="../report/poerner2018/table1.rst",
            category="Input optimisation",
        ),
        table1_parquet=P.analysis("table1.parquet", "poerner2018"),
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
        "python -m lingscope.analysis.poerner2018.poerner_figures --results {input.results} --tokens {input.tokens}"
        " --fig1 {output.fig1} --summary {output.summary} --table1 {output.table1}"
        " {params.settings} > {log} 2>&1"
