# Per-token hidden states to Parquet, omission scores joined with the parse, and the
# retrieval examples behind Fig. 1 (Kadar et al. 2017, sec. 4).


rule dump_activations:
    input:
        unpack(coco_data),
        model=model_file("{model}"),
        code=code("activations", "models/runs", "models/stream"),
    output:
        tokens=directory(activation_dir("tokens", "{model}", "{pathway}")),
        h_end=directory(activation_dir("h_end", "{model}", "{pathway}")),
    log:
        f"{RESULTS}/logs/activations/{{model}}-{{pathway}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/activations/{{model}}-{{pathway}}.tsv"
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(4000, 2),
        runtime=runtime(120),
        gpu=gpus(),
    params:
        split=analysis_split(),
        opts=lookup(dpath="activations", within=config),
        device=lookup(dpath="training/device", within=config),
    shell:
        "OMP_NUM_THREADS={threads} python -m lingscope.activations --model {input.model}"
        " --pathway {wildcards.pathway} --sentences {input.sentences} --vocab {input.vocab}"
        " --split {params.split} --dtype {params.opts[dtype]}"
        " --chunk-sentences {params.opts[chunk_sentences]} --rows-per-file {params.opts[rows_per_file]}"
        " --row-group-rows {params.opts[row_group_rows]} --device {params.device}"
        " --tokens-dir {output.tokens} --h-end-dir {output.h_end} > {log} 2>&1"


rule omission:
    input:
        model=model_file("{model}"),
        tokens=analysis_tokens,
        vocab=f"{RESULTS}/data/coco/vocab.parquet",
        code=code("omission", "models/runs", "models/gru", "models/stream"),
    output:
        table=omission_path("{model}", "{pathway}"),
    log:
        f"{RESULTS}/logs/omission/{{model}}-{{pathway}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/omission/{{model}}-{{pathway}}.tsv"
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(4000, 2),
        runtime=runtime(240),
        gpu=gpus(),
    params:
        opts=lookup(dpath="omission", within=config),
        device=lookup(dpath="training/device", within=config),
    shell:
        "OMP_NUM_THREADS={threads} python -m lingscope.omission --model {input.model}"
        " --pathway {wildcards.pathway} --tokens {input.tokens} --vocab {input.vocab}"
        " --chunk-tokens {params.opts[chunk_tokens]} --batch-rows {params.opts[batch_rows]}"
        " --device {params.device} --out {output.table} > {log} 2>&1"


rule retrieval_examples:
    input:
        unpack(coco_data),
        image_features=f"{RESULTS}/data/coco/image_features.parquet",
        model=model_file("imaginet"),
        omission=omission_path("imaginet", "visual"),
        code=code("retrieval_examples", "evaluate"),
    output:
        table=f"{RESULTS}/analysis/retrieval_examples.parquet",
    log:
        f"{RESULTS}/logs/analysis/retrieval_examples.log",
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(3000, 3),
        runtime=runtime(30),
    params:
        split=analysis_split(),
        n=lookup(dpath="analysis/examples/n", within=config),
        seed=lookup(dpath="analysis/examples/seed", within=config),
    shell:
        "python -m lingscope.retrieval_examples --model {input.model} --omission {input.omission}"
        " --sentences {input.sentences} --vocab {input.vocab} --image-features {input.image_features}"
        " --split {params.split} --n-examples {params.n} --seed {params.seed} --device cpu"
        " --out {output.table} > {log} 2>&1"
