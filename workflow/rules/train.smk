# Train IMAGINET, SUM and LM (Kadar et al. 2017), then evaluate them on the validation split.


rule train_model:
    input:
        unpack(train_inputs),
        code=code("train", "models/imaginet", "models/gru", "models/data"),
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
        args=train_args,
        images=image_args,
        checkpoints=checkpoint_dir,
        device=lookup(dpath="training/device", within=config),
    shell:
        "OMP_NUM_THREADS={threads} python -m lingscope.train --name {wildcards.model} {params.args}"
        " --sentences {input.sentences} --vocab {input.vocab} {params.images}"
        " --device {params.device} --threads {threads} --checkpoint-dir {params.checkpoints}"
        " --out-model {output.model} --out-metrics {output.metrics} > {log} 2>&1"


rule evaluate_model:
    input:
        unpack(train_inputs),
        model=model_file("{model}"),
        code=code("evaluate", "models/data"),
    output:
        table=f"{RESULTS}/models/{{model}}/evaluation.parquet",
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
        images=image_args,
        device=lookup(dpath="training/device", within=config),
    shell:
        "OMP_NUM_THREADS={threads} python -m lingscope.evaluate --model {input.model}"
        " --sentences {input.sentences} --vocab {input.vocab} {params.images}"
        " --device {params.device} --out {output.table} > {log} 2>&1"
