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
        dataset=P.raw("coco", "dataset_coco.json"),
        features=P.raw("coco", "features.npy"),
        gold=P.raw("coco", "gold.conllu"),
        planted=P.raw("coco", "planted_weights.json"),
    log:
        P.log("synth_coco"),
    benchmark:
        P.benchmark("synth_coco")
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
        train=P.raw("sst", "trees/train.txt"),
        dev=P.raw("sst", "trees/dev.txt"),
        test=P.raw("sst", "trees/test.txt"),
    log:
        P.log("synth_sst"),
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
        train=P.raw("wmt", "train.txt.gz"),
        val=P.raw("wmt", "val.txt"),
        test=P.raw("wmt", "test.txt"),
    log:
        P.log("synth_wmt"),
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
        unpack(raw_inputs("coco")),
        code=code("lingscope.data.coco"),
    output:
        sentences=P.data("coco", "sentences"),
        image_features=P.data("coco", "image_features"),
    log:
        P.log("data_coco"),
    benchmark:
        P.benchmark("data_coco")
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1500, 2.5),
        runtime=runtime(30),
    params:
        args=lambda w, input: PLAN.coco_ingest_args(input),
    shell:
        "python -m lingscope.data.coco {params.args} --features {input.features}"
        " --sentences {output.sentences} --image-features {output.image_features} > {log} 2>&1"


rule data_sst:
    input:
        unpack(raw_inputs("sst")),
        code=code("lingscope.data.sst"),
    output:
        sentences=P.data("sst", "sentences"),
        phrases=P.data("sst", "phrases"),
    log:
        P.log("data_sst"),
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1000, 20),
        runtime=runtime(10),
    params:
        trees_dir=PLAN.sst_trees_dir(),
    shell:
        "python -m lingscope.data.sst --trees-dir {params.trees_dir}"
        " --sentences {output.sentences} --phrases {output.phrases} > {log} 2>&1"


rule data_wmt:
    input:
        unpack(raw_inputs("wmt")),
        code=code("lingscope.data.wmt"),
    output:
        sentences=P.data("wmt", "sentences"),
    log:
        P.log("data_wmt"),
    benchmark:
        P.benchmark("data_wmt")
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(2000, 6),
        runtime=runtime(60),
    params:
        max_lines=PLAN.wmt_max_lines(),
    shell:
        "python -m lingscope.data.wmt --train {input.train} --val {input.val} --test {input.test}"
        " --max-lines {params.max_lines} --sentences {output.sentences} > {log} 2>&1"


# A corpus of the user's own (corpora.<name> with a format; lingscope.core.corpora): labelled
# sentences get a class-labels table and a one-phrase-per-sentence targets table beside them.
rule data_labelled:
    input:
        unpack(lambda w: PLAN.user_corpus(w.corpus).inputs()),
        code=code("lingscope.data.labelled"),
    output:
        sentences=P.data("{corpus}", "sentences"),
        phrases=P.data("{corpus}", "phrases"),
        labels=P.data("{corpus}", "labels"),
        report=P.ingest_report("{corpus}"),
    log:
        P.log("data_{corpus}"),
    benchmark:
        P.benchmark("data_{corpus}")
    wildcard_constraints:
        corpus=user_corpora_pattern("labelled"),
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1500, 20),
        runtime=runtime(60),
    params:
        args=lambda w: PLAN.user_corpus(w.corpus).ingest_args(),
    shell:
        "python -m lingscope.data.labelled {params.args} --sentences {output.sentences}"
        " --phrases {output.phrases}"
        " --labels {output.labels} --report {output.report} > {log} 2>&1"


rule data_text:
    input:
        unpack(lambda w: PLAN.user_corpus(w.corpus).inputs()),
        code=code("lingscope.data.text"),
    output:
        sentences=P.data("{corpus}", "sentences"),
        report=P.ingest_report("{corpus}"),
    log:
        P.log("data_{corpus}"),
    benchmark:
        P.benchmark("data_{corpus}")
    wildcard_constraints:
        corpus=user_corpora_pattern("text"),
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime(120),
    params:
        args=lambda w: PLAN.user_corpus(w.corpus).ingest_args(),
    shell:
        "python -m lingscope.data.text {params.args} --sentences {output.sentences}"
        " --report {output.report} > {log} 2>&1"


rule vocab:
    input:
        sentences=P.data("{corpus}", "sentences"),
        code=code("lingscope.data.vocab"),
    output:
        vocab=P.data("{corpus}", "vocab"),
    log:
        P.log("vocab_{corpus}"),
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(1500, 10),
        runtime=runtime(30),
    params:
        settings=lambda w: PLAN.vocab_settings(w.corpus).command_line(),
    shell:
        "python -m lingscope.data.vocab --sentences {input.sentences} --out {output.vocab}"
        " {params.settings} > {log} 2>&1"
