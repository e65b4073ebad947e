# Corpus stage: synthetic corpora in the published formats, then ingest into Parquet.


# The Stanford Sentiment Treebank has 11,855 sentences: generating or ingesting it takes a
# second at full size, less than a cluster job's start-up, so it runs on the submit host.
localrules:
    synth_sst,
    data_sst,


rule synth_coco:
    input:
        code=code("lingscope.synth.coco"),
    output:
        dataset=raw("coco", "dataset_coco.json"),
        features=raw("coco", "features.npy"),
        gold=raw("coco", "gold.conllu"),
        planted=raw("coco", "planted_weights.json"),
    log:
        f"{RESULTS}/logs/synth_coco.log",
    benchmark:
        f"{RESULTS}/benchmarks/synth_coco.tsv"
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=synth_coco_mem_mb,
        runtime=runtime(30),
    params:
        args=coco_synthetic_args(),
    shell:
        "python -m lingscope.synth.coco --out-dir $(dirname {output.dataset}) {params.args} > {log} 2>&1"


rule synth_sst:
    input:
        code=code("lingscope.synth.sst"),
    output:
        train=raw("sst", "trees/train.txt"),
        dev=raw("sst", "trees/dev.txt"),
        test=raw("sst", "trees/test.txt"),
    log:
        f"{RESULTS}/logs/synth_sst.log",
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000),
        runtime=runtime(10),
    params:
        args=synthetic_args("sst"),
    shell:
        "python -m lingscope.synth.sst --out-dir $(dirname {output.train}) {params.args} > {log} 2>&1"


rule synth_wmt:
    input:
        code=code("lingscope.synth.wmt"),
    output:
        train=raw("wmt", "train.txt.gz"),
        val=raw("wmt", "val.txt"),
        test=raw("wmt", "test.txt"),
    log:
        f"{RESULTS}/logs/synth_wmt.log",
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime(60),
    params:
        args=synthetic_args("wmt"),
    shell:
        "python -m lingscope.synth.wmt --out-dir $(dirname {output.train}) {params.args} > {log} 2>&1"


rule data_coco:
    input:
        unpack(coco_raw_inputs),
        code=code("lingscope.data.coco"),
    output:
        sentences=f"{RESULTS}/data/coco/sentences.parquet",
        image_features=f"{RESULTS}/data/coco/image_features.parquet",
    log:
        f"{RESULTS}/logs/data_coco.log",
    benchmark:
        f"{RESULTS}/benchmarks/data_coco.tsv"
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1500, 2.5),
        runtime=runtime(30),
    params:
        args=coco_ingest_args,
    shell:
        "python -m lingscope.data.coco {params.args} --features {input.features}"
        " --sentences {output.sentences} --image-features {output.image_features} > {log} 2>&1"


rule data_sst:
    input:
        unpack(sst_raw_inputs),
        code=code("lingscope.data.sst"),
    output:
        sentences=f"{RESULTS}/data/sst/sentences.parquet",
        phrases=f"{RESULTS}/data/sst/phrases.parquet",
    log:
        f"{RESULTS}/logs/data_sst.log",
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 20),
        runtime=runtime(10),
    params:
        trees_dir=sst_trees_dir(),
    shell:
        "python -m lingscope.data.sst --trees-dir {params.trees_dir}"
        " --sentences {output.sentences} --phrases {output.phrases} > {log} 2>&1"


rule data_wmt:
    input:
        unpack(wmt_raw_inputs),
        code=code("lingscope.data.wmt"),
    output:
        sentences=f"{RESULTS}/data/wmt/sentences.parquet",
    log:
        f"{RESULTS}/logs/data_wmt.log",
    benchmark:
        f"{RESULTS}/benchmarks/data_wmt.tsv"
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(2000, 6),
        runtime=runtime(60),
    params:
        max_lines=wmt_max_lines(),
    shell:
        "python -m lingscope.data.wmt --train {input.train} --val {input.val} --test {input.test}"
        " --max-lines {params.max_lines} --sentences {output.sentences} > {log} 2>&1"


rule vocab:
    input:
        sentences=f"{RESULTS}/data/{{corpus}}/sentences.parquet",
        code=code("lingscope.data.vocab"),
    output:
        vocab=f"{RESULTS}/data/{{corpus}}/vocab.parquet",
    log:
        f"{RESULTS}/logs/vocab_{{corpus}}.log",
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1500, 10),
        runtime=runtime(30),
    params:
        settings=vocab_args,
    shell:
        "python -m lingscope.data.vocab --sentences {input.sentences} --out {output.vocab}"
        " {params.settings} > {log} 2>&1"
