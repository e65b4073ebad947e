# Parse stage: each corpus split is parsed in shards (separate jobs), merged, and scored
# against the gold trees where they exist.


localrules:
    parse_merge,
    parse_accuracy,


rule parse_shard:
    input:
        sentences=P.data("{corpus}", "sentences"),
        code=code("lingscope.parse.shard"),
    output:
        tokens=temp(P.parse_shard("{corpus}", "{split}", "{shard}", "{n_shards}")),
    log:
        P.log("parse/{corpus}-{split}-{shard}-of-{n_shards}"),
    benchmark:
        P.benchmark("parse/{corpus}-{split}-{shard}-of-{n_shards}")
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
        tokens=P.tokens("{corpus}", "{split}"),
    log:
        P.log("parse/{corpus}-{split}-merge"),
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
        gold=rules.synth_coco.output.gold,
        tokens=[P.tokens("coco", s) for s in PLAN.parse_splits("coco")],
        code=code("lingscope.parse.accuracy"),
    output:
        table=P.parse("accuracy.parquet"),
        csv=report(
            P.parse("accuracy.csv"),
            caption="../report/parse_accuracy.rst",
            category="Parsing",
        ),
    log:
        P.log("parse/accuracy"),
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 4),
        runtime=runtime(10),
    params:
        splits=PLAN.parse_splits("coco"),
        backend=lookup(dpath="parse/backend", within=config),
        model=PLAN.parse_model_name(),
    shell:
        "python -m lingscope.parse.accuracy --gold {input.gold} --tokens {input.tokens} --splits {params.splits}"
        " --backend {params.backend} --model {params.model}"
        " --out {output.table} --csv {output.csv} > {log} 2>&1"
