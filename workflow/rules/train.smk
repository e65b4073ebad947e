# Train every models.<name> entry of the config (its kind from lingscope.core.catalog), then
# evaluate it on the splits its kind names (validation; the sentiment models' test too).


rule train:
    input:
        unpack(model_data),
        code=model_code("lingscope.training.train"),
    output:
        model=model_file("{model}"),
        metrics=f"{RESULTS}/models/{{model}}/metrics.parquet",
    log:
        f"{RESULTS}/logs/train/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{model}}.tsv"
    conda:
        env("lingscope")
    threads: lookup(dpath="training/threads", within=config)
    resources:
        mem_mb=mem_mb(4000, 3),
        runtime=runtime(720),
        gpu=gpus(),
    params:
        settings=train_args,
        tables=table_args,
        checkpoints=checkpoint_dir,
        runtime=runtime_args(),
    shell:
        "OMP_NUM_THREADS={threads} python -m lingscope.training.train --name {wildcards.model} {params.settings}"
        " --sentences {input.sentences} --vocab {input.vocab} {params.tables} {params.runtime}"
        " --checkpoint-dir {params.checkpoints} --out-model {output.model} --out-metrics {output.metrics} > {log} 2>&1"


rule evaluate:
    input:
        unpack(model_data),
        model=model_file("{model}"),
        code=model_code("lingscope.training.evaluate"),
    output:
        table=f"{RESULTS}/models/{{model}}/evaluation.parquet",
        predictions=f"{RESULTS}/models/{{model}}/predictions.parquet",
        reconstructions=f"{RESULTS}/models/{{model}}/reconstructions.parquet",
    log:
        f"{RESULTS}/logs/train/{{model}}-evaluate.log",
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(4000, 3),
        runtime=runtime(60),
        gpu=gpus(),
    params:
        tables=table_args,
        splits=evaluate_splits,
        runtime=runtime_args(),
    shell:
        "OMP_NUM_THREADS={threads} python -m lingscope.training.evaluate --model {input.model}"
        " --sentences {input.sentences} --vocab {input.vocab} {params.tables} --split {params.splits}"
        " {params.runtime} --threads {threads} --out {output.table}"
        " --predictions {output.predictions} --reconstructions {output.reconstructions} > {log} 2>&1"
