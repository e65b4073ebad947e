# Li et al. 2016: the sentiment networks' accuracy and Figs. 1-8, and the autoencoder's
# results and Fig. 9.


# Plots and small tables run on the submit host, not as cluster jobs.
localrules:
    sentiment_accuracy,
    sentiment_figures,
    autoencoder_figures,


# Li et al. 2016: the accuracy table and Figs. 1-8 of the sentiment networks.
rule sentiment_accuracy:
    input:
        predictions=expand(rules.evaluate.output.predictions, model=PLAN.li_models()),
        evaluation=expand(rules.evaluate.output.table, model=PLAN.li_models()),
        code=code("lingscope.analysis.li2016.sentiment_accuracy"),
    output:
        table=P.analysis("accuracy.parquet", "li2016"),
        csv=report(
            P.analysis("accuracy.csv", "li2016"),
            caption="../report/li2016/accuracy.rst",
            category="Sentiment",
            subcategory="Accuracy",
        ),
        mcnemar=P.analysis("mcnemar.parquet", "li2016"),
        mcnemar_csv=report(
            P.analysis("mcnemar.csv", "li2016"),
            caption="../report/li2016/mcnemar.rst",
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
        data=lambda w: li_data_args(),
    shell:
        "python -m lingscope.analysis.li2016.sentiment_accuracy --predictions {input.predictions}"
        " --evaluation {input.evaluation} --data {params.data} --out {output.table}"
        " --out-mcnemar {output.mcnemar} > {log} 2>&1"


rule sentiment_figures:
    input:
        representations=tables("representations", PLAN.li_networks(), "representations"),
        states=tables("representations", PLAN.li_networks(), "states"),
        saliency=tables("saliency", PLAN.li_networks(), "examples"),
        code=code("lingscope.analysis.li2016.sentiment_figures"),
    output:
        heatmaps=P.analysis("li_heatmaps.parquet", "li2016"),
        tsne=P.analysis("li_tsne.parquet", "li2016"),
        saliency=P.analysis("li_saliency_examples.parquet", "li2016"),
        fig1=report(
            P.analysis("li_fig1_representations.png", "li2016"),
            caption="../report/li2016/fig1.rst",
            category="Sentiment",
            subcategory="Representations",
        ),
        fig2=report(
            P.analysis("li_fig2_tsne.png", "li2016"),
            caption="../report/li2016/fig2.rst",
            category="Sentiment",
            subcategory="Representations",
        ),
        fig3=report(
            P.analysis("li_fig3_states.png", "li2016"),
            caption="../report/li2016/fig3.rst",
            category="Sentiment",
            subcategory="Representations",
        ),
        fig4=report(
            P.analysis("li_fig4_clauses.png", "li2016"),
            caption="../report/li2016/fig4.rst",
            category="Sentiment",
            subcategory="Representations",
        ),
        fig5=report(
            P.analysis("li_fig5_saliency.png", "li2016"),
            caption="../report/li2016/saliency.rst",
            category="Sentiment",
            subcategory="Saliency",
        ),
        fig6=report(
            P.analysis("li_fig6_saliency.png", "li2016"),
            caption="../report/li2016/saliency.rst",
            category="Sentiment",
            subcategory="Saliency",
        ),
        fig7=report(
            P.analysis("li_fig7_saliency.png", "li2016"),
            caption="../report/li2016/saliency.rst",
            category="Sentiment",
            subcategory="Saliency",
        ),
        fig8=report(
            P.analysis("li_fig8_variance.png", "li2016"),
            caption="../report/li2016/fig8.rst",
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
        "python -m lingscope.analysis.li2016.sentiment_figures --representations {input.representations}"
        " --states {input.states} --saliency {input.saliency} {params.tsne}"
        " --out-dir {params.out_dir} > {log} 2>&1"


# Li et al. 2016's autoencoder: its results, by sentence length, and Fig. 9.
rule autoencoder_figures:
    input:
        unpack(autoencoder_inputs),
        code=code("lingscope.analysis.li2016.autoencoder_figures"),
    output:
        results=report(
            P.analysis("results.csv", "li2016/autoencoder"),
            caption="../report/li2016/autoencoder_results.rst",
            category="Autoencoder",
        ),
        by_length=P.analysis("by_length.csv", "li2016/autoencoder"),
        by_length_figure=report(
            P.analysis("by_length.png", "li2016/autoencoder"),
            caption="../report/li2016/autoencoder_by_length.rst",
            category="Autoencoder",
        ),
        alignment=report(
            P.analysis("alignment.csv", "li2016/autoencoder"),
            caption="../report/li2016/autoencoder_alignment.rst",
            category="Autoencoder",
        ),
        fig9=report(
            P.analysis("fig9_saliency.png", "li2016/autoencoder"),
            caption="../report/li2016/fig9.rst",
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
        "python -m lingscope.analysis.li2016.autoencoder_figures --evaluation {input.evaluation}"
        " --reconstructions {input.reconstructions} --step-saliency {input.step_saliency} {params.settings}"
        " --results {output.results} --by-length {output.by_length} --by-length-figure {output.by_length_figure}"
        " --alignment {output.alignment} --fig9 {output.fig9} > {log} 2>&1"
