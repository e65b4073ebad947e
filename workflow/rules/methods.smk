# Methods on every network they apply to (lingscope.core.catalog): per-token states to
# Parquet, omission scores, and the retrieval examples behind Fig. 1 (Kadar et al. 2017, sec. 4).


rule activations:
    input:
        unpack(model_corpus),
        model=model_file("{model}"),
        code=model_code("lingscope.methods.activations"),
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
        settings=settings_args(ActivationSettings, "activations"),
        runtime=runtime_args(),
    shell:
        "OMP_NUM_THREADS={threads} python -m lingscope.methods.activations --model {input.model}"
        " --pathway {wildcards.pathway} --sentences {input.sentences} --vocab {input.vocab}"
        " {params.settings} {params.runtime} --threads {threads}"
        " --tokens-dir {output.tokens} --h-end-dir {output.h_end} > {log} 2>&1"


rule omission:
    input:
        unpack(model_corpus),
        model=model_file("{model}"),
        code=model_code("lingscope.methods.omission"),
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
        split=analysis_split(),
        settings=settings_args(OmissionSettings, "omission"),
        runtime=runtime_args(),
    shell:
        "OMP_NUM_THREADS={threads} python -m lingscope.methods.omission --model {input.model}"
        " --pathway {wildcards.pathway} --sentences {input.sentences} --vocab {input.vocab}"
        " --split {params.split} {params.settings} {params.runtime} --threads {threads}"
        " --out {output.table} > {log} 2>&1"


rule retrieval_examples:
    input:
        unpack(retrieval_inputs),
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
        network=retrieval_network()[1],
        split=analysis_split(),
        settings=settings_args(ExampleSettings, "analysis/examples"),
    shell:
        "python -m lingscope.methods.retrieval_examples --model {input.model} --pathway {params.network}"
        " --omission {input.omission} --sentences {input.sentences} --vocab {input.vocab}"
        " --image-features {input.image_features} --split {params.split} {params.settings}"
        " --device cpu --out {output.table} > {log} 2>&1"


# Li et al. 2016 on every network with a class readout: saliency of every token of a split and
# of the example sentences (Figs. 5-8), representations and states of the example phrases
# (Figs. 1-4).


rule saliency:
    input:
        unpack(model_corpus),
        model=model_file("{model}"),
        code=model_code("lingscope.methods.saliency"),
    output:
        split=saliency_path("split", "{model}", "{pathway}"),
        examples=saliency_path("examples", "{model}", "{pathway}"),
    log:
        f"{RESULTS}/logs/saliency/{{model}}-{{pathway}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/saliency/{{model}}-{{pathway}}.tsv"
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(4000, 2),
        runtime=runtime(120),
        gpu=gpus(),
    params:
        settings=settings_args(SaliencySettings, "saliency"),
        examples=sentiment_examples_args(),
        runtime=runtime_args(),
    shell:
        "OMP_NUM_THREADS={threads} python -m lingscope.methods.saliency --model {input.model}"
        " --pathway {wildcards.pathway} --sentences {input.sentences} --vocab {input.vocab}"
        " {params.settings} {params.examples} {params.runtime} --threads {threads}"
        " --out {output.split} --examples-out {output.examples} > {log} 2>&1"


rule representations:
    input:
        unpack(model_corpus),
        model=model_file("{model}"),
        code=model_code("lingscope.methods.representations"),
    output:
        representations=representations_path("representations", "{model}", "{pathway}"),
        states=representations_path("states", "{model}", "{pathway}"),
    log:
        f"{RESULTS}/logs/representations/{{model}}-{{pathway}}.log",
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(2000, 2),
        runtime=runtime(30),
        gpu=gpus(),
    params:
        examples=sentiment_examples_args(),
        runtime=runtime_args(),
    shell:
        "OMP_NUM_THREADS={threads} python -m lingscope.methods.representations --model {input.model}"
        " --pathway {wildcards.pathway} --vocab {input.vocab} {params.examples} {params.runtime}"
        " --threads {threads} --out-representations {output.representations}"
        " --out-states {output.states} > {log} 2>&1"


# Poerner et al. 2018 on the networks of input_optimisation.networks: one job per network and
# method, so a method's settings rerun that method only.


rule input_optimisation:
    input:
        unpack(model_corpus),
        model=model_file("{model}"),
        code=model_code("lingscope.methods.input_optimisation"),
    output:
        table=io_path("{model}", "{pathway}", "{io_method}"),
    log:
        f"{RESULTS}/logs/input_optimisation/{{model}}-{{pathway}}-{{io_method}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/input_optimisation/{{model}}-{{pathway}}-{{io_method}}.tsv"
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(3000, 4),
        runtime=runtime(720),
        gpu=gpus(),
    params:
        settings=io_args(),
        method=io_method_args,
        runtime=runtime_args(),
    shell:
        "OMP_NUM_THREADS={threads} python -m lingscope.methods.input_optimisation --model {input.model}"
        " --pathway {wildcards.pathway} --sentences {input.sentences} --vocab {input.vocab}"
        " --method {wildcards.io_method} {params.settings} {params.runtime} --threads {threads}"
        " --out {output.table} {params.method} > {log} 2>&1"


# Li et al. 2016's autoencoder: saliency per decoding step (Fig. 9) on every network with a
# sequence readout.


rule step_saliency:
    input:
        unpack(model_corpus),
        model=model_file("{model}"),
        code=model_code("lingscope.methods.step_saliency"),
    output:
        table=step_saliency_path("{model}", "{pathway}"),
    log:
        f"{RESULTS}/logs/step_saliency/{{model}}-{{pathway}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/step_saliency/{{model}}-{{pathway}}.tsv"
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(3000, 2),
        runtime=runtime(120),
        gpu=gpus(),
    params:
        settings=settings_args(StepSaliencySettings, "step_saliency"),
        runtime=runtime_args(),
    shell:
        "OMP_NUM_THREADS={threads} python -m lingscope.methods.step_saliency --model {input.model}"
        " --pathway {wildcards.pathway} --sentences {input.sentences} --vocab {input.vocab}"
        " {params.settings} {params.runtime} --threads {threads} --out {output.table} > {log} 2>&1"


rule attribution:
    input:
        unpack(model_corpus),
        model=model_file("{model}"),
        code=model_code("lingscope.methods.attribution"),
    output:
        table=attribution_path("{model}", "{pathway}"),
    log:
        f"{RESULTS}/logs/attribution/{{model}}-{{pathway}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/attribution/{{model}}-{{pathway}}.tsv"
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(3000, 2),
        runtime=runtime(120),
        gpu=gpus(),
    params:
        settings=settings_args(AttributionSettings, "attribution"),
        runtime=runtime_args(),
    shell:
        "OMP_NUM_THREADS={threads} python -m lingscope.methods.attribution --model {input.model}"
        " --pathway {wildcards.pathway} --sentences {input.sentences} --vocab {input.vocab}"
        " {params.settings} {params.runtime} --threads {threads} --out {output.table} > {log} 2>&1"
