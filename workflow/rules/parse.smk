# Parse stage: each corpus split is parsed in shards (separate jobs), merged, and scored
# against the gold trees where they exist.


localrules:
    parse_merge,
    parse_accuracy,


rule parse_shard:
    input:
        sentences=f"{RESULTS}/data/{{corpus}}/sentences.parquet",
        code=code("lingscope.parse.shard"),
    output:
        tokens=temp(
            f"{RESULTS}/parse/corpus={{corpus}}/split={{split}}/shards/{{shard}}-of-{{n_shards}}.parquet"
        ),
    log:
        f"{RESULTS}/logs/parse/{{corpus}}-{{split}}-{{shard}}-of-{{n_shards}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/parse/{{corpus}}-{{split}}-{{shard}}-of-{{n_shards}}.tsv"
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(2000, 1),
        runtime=runtime(120),
    params:
        args=parse_args(),
        forms=parse_form_args,
    shell:
        "OMP_NUM_THREADS={threads} python -m lingscope.parse.shard --sentences {input.sentences}"
        " --split {wildcards.split} --shard {wildcards.shard} --n-shards {wildcards.n_shards}"
        " {params.args} {params.forms} --out {output.tokens} > {log} 2>&1"


rule parse_merge:
    input:
        shards=parse_shard_paths,
        code=code("lingscope.parse.merge"),
    output:
        tokens=tokens_path("{corpus}", "{split}"),
    log:
        f"{RESULTS}/logs/parse/{{corpus}}-{{split}}-merge.log",
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 2),
        runtime=runtime(10),
    shell:
        "python -m lingscope.parse.merge {input.shards} --out {output.tokens} > {log} 2>&1"


rule parse_accuracy:
    input:
        gold=raw("coco", "gold.conllu"),
        tokens=coco_gold_tokens(),
        code=code("lingscope.parse.accuracy"),
    output:
        table=f"{RESULTS}/parse/accuracy.parquet",
        csv=report(
            f"{RESULTS}/parse/accuracy.csv",
            caption="../report/parse_accuracy.rst",
            category="Parsing",
        ),
    log:
        f"{RESULTS}/logs/parse/accuracy.log",
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 4),
        runtime=runtime(10),
    params:
        splits=parse_splits("coco"),
        backend=lookup(dpath="parse/backend", within=config),
        model=parse_model_name(),
    shell:
        "python -m lingscope.parse.accuracy --gold {input.gold} --tokens {input.tokens} --splits {params.splits}"
        " --backend {params.backend} --model {params.model}"
        " --out {output.table} --csv {output.csv} > {log} 2>&1"
