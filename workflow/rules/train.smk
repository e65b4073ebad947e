# Train every models.<name> entry of the config (its kind from lingscope.core.catalog), then
# evaluate it on the splits its kind names (validation; the sentiment models' test too).


rule train:
    input:
        unpack(model_data),
        code=model_code("lingscope.training.train"),
    output:
        model=P.model("{model}"),
        metrics=P.model("{model}", "metrics.parquet"),
    log:
        P.log("train/{model}"),
    benchmark:
        P.benchmark("train/{model}")
    wildcard_constraints:
        model=PLAN.models_pattern(trained=True),
    conda:
        env("lingscope")
    threads: lookup(dpath="training/threads", within=config)
    resources:
        mem_mb=mem_mb(4000, 3),
        runtime=runtime(720),
        gpu=gpus(),
    params:
        settings=lambda w: PLAN.training_settings(w.model).command_line(),
        tables=table_args,
        # Not an output: Snakemake must not delete it when a job dies, so a rerun resumes.
        checkpoints=lambda w: P.model(w.model, "checkpoints"),
        runtime=runtime_args(),
    shell:
        "OMP_NUM_THREADS={threads} python -m lingscope.training.train --name {wildcards.model} {params.settings}"
        " --sentences {input.sentences} --vocab {input.vocab} {params.tables} {params.runtime}"
        " --checkpoint-dir {params.checkpoints} --out-model {output.model} --out-metrics {output.metrics} > {log} 2>&1"


rule pretrained:
    input:
        unpack(pretrained_inputs),
        code=model_code("lingscope.models.pretrained"),
    output:
        model=P.model("{model}"),
        vocab=P.model("{model}", "vocab.parquet"),
        report=P.model("{model}", "check.json"),
    log:
        P.log("train/{model}-check"),
    wildcard_constraints:
        model=PLAN.models_pattern(trained=False),
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(2000, 3),
        runtime=runtime(60),
    params:
        settings=lambda w: PLAN.models[w.model].command_line(),
        corpus_labels=lambda w, input: (
            f"--corpus-labels {input.corpus_labels}"
            if "corpus_labels" in input.keys()
            else ""
        ),
    shell:
        "python -m lingscope.models.pretrained --name {wildcards.model} {params.settings} {params.corpus_labels}"
        " --out-model {output.model} --out-vocab {output.vocab} --out-report {output.report} > {log} 2>&1"


rule evaluate:
    input:
        unpack(model_data),
        model=P.model("{model}"),
        code=model_code("lingscope.training.evaluate"),
    output:
        table=P.model("{model}", "evaluation.parquet"),
        predictions=P.model("{model}", "predictions.parquet"),
        reconstructions=P.model("{model}", "reconstructions.parquet"),
    log:
        P.log("train/{model}-evaluate"),
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(4000, 3),
        runtime=runtime(60),
        gpu=gpus(),
    params:
        tables=table_args,
        splits=lambda w: " ".join(PLAN.kind(w.model).evaluate_on),
        polarity=lambda w: "--sst-polarity" if PLAN.sst_polarity(w.model) else "",
        runtime=runtime_args(),
    shell:
        "OMP_NUM_THREADS={threads} python -m lingscope.training.evaluate --model {input.model}"
        " --sentences {input.sentences} --vocab {input.vocab} {params.tables} --split {params.splits} {params.polarity}"
        " {params.runtime} --threads {threads} --out {output.table}"
        " --predictions {output.predictions} --reconstructions {output.reconstructions} > {log} 2>&1"
