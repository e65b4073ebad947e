# What spans the papers: the training summary, the checks, the agreement of the attribution
# methods per network, and the method x network matrix.


# Plots and small tables run on the submit host, not as cluster jobs.
localrules:
    training_summary,
    checks,
    agreement,
    matrix_plan,
    matrix,


rule training_summary:
    input:
        metrics=expand(rules.train.output.metrics, model=PLAN.trained_models()),
        evaluation=expand(rules.evaluate.output.table, model=MODELS),
        code=code("lingscope.analysis.across_papers.training_summary"),
    output:
        curves_table=P.analysis("learning_curves.parquet", "across_papers"),
        curves=report(
            P.analysis("learning_curves.png", "across_papers"),
            caption="../report/across_papers/learning_curves.rst",
            category="Models",
        ),
        results=report(
            P.analysis("model_results.csv", "across_papers"),
            caption="../report/across_papers/model_results.rst",
            category="Models",
        ),
        curves_svg=P.analysis("learning_curves.svg", "across_papers"),
    log:
        P.log("analysis/training_summary"),
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 4),
        runtime=runtime(10),
    shell:
        "python -m lingscope.analysis.across_papers.training_summary --metrics {input.metrics} --evaluation {input.evaluation}"
        " --curves-table {output.curves_table} --curves {output.curves} --results {output.results} > {log} 2>&1"


rule checks:
    input:
        unpack(checks_inputs),
        code=code("lingscope.analysis.across_papers.checks"),
    output:
        table=P.analysis("checks.parquet", "across_papers"),
        csv=report(
            P.analysis("checks.csv", "across_papers"),
            caption="../report/across_papers/checks.rst",
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
        "python -m lingscope.analysis.across_papers.checks {params.corpora}"
        " --analysis-split '{params.split}' --evaluation {input.evaluation}"
        " {params.distribution} {params.settings} --table {output.table} --csv {output.csv} > {log} 2>&1"


# How far the attribution methods agree, per network (docs/beyond.md#agreement).
rule agreement:
    input:
        omission=tables("omission", PLAN.attribution_networks()),
        attribution=tables("attribution", PLAN.attribution_networks()),
        code=code("lingscope.analysis.across_papers.agreement"),
    output:
        table=report(
            P.analysis("agreement.csv", "across_papers"),
            caption="../report/across_papers/agreement.rst",
            category="Attribution",
        ),
        parquet=P.analysis("agreement.parquet", "across_papers"),
        figure=report(
            P.analysis("agreement.png", "across_papers"),
            caption="../report/across_papers/agreement_figure.rst",
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
        "python -m lingscope.analysis.across_papers.agreement --omission {input.omission} --attribution {input.attribution}"
        " {params.settings} --table {output.table} --figure {output.figure} > {log} 2>&1"


# The matrix's plan as a file (lingscope.core.plan): the cells, their outputs and the reason for
# each blank. A params change (the plan) reruns it and the matrix; it runs no package code.
rule matrix_plan:
    output:
        cells=P.analysis("plan.json", "across_papers"),
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
        code=code("lingscope.analysis.across_papers.matrix"),
    output:
        table=report(
            P.analysis("matrix.csv", "across_papers"),
            caption="../report/across_papers/matrix.rst",
            category="Matrix",
        ),
        parquet=P.analysis("matrix.parquet", "across_papers"),
        html=report(
            P.analysis("matrix.html", "across_papers"),
            caption="../report/across_papers/matrix.rst",
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
        "python -m lingscope.analysis.across_papers.matrix --cells {input.plan} --table {output.table}"
        " --parquet {output.parquet} --html {output.html} > {log} 2>&1"
