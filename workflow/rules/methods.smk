# Methods on every network they apply to (lingscope.core.catalog). Every network method is one
# job per (model, network): it reads the model and its corpus's tables through the model
# contract and writes Parquet. `omission` is the template the others reuse with `use rule`: a
# new method gives its inputs' code, its outputs (each named after its flag), its log and its
# settings; the command line is the template's.


rule omission:
    input:
        unpack(method_inputs("lingscope.methods.omission")),
    output:
        out=P.network_table("omission", "{model}", "{pathway}"),
    log:
        P.log("omission/{model}-{pathway}"),
    benchmark:
        P.benchmark("omission/{model}-{pathway}")
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(4000, 2),
        runtime=runtime(240),
        gpu=gpus(),
    params:
        module="lingscope.methods.omission",
        settings=f"--split {PLAN.analysis_split} {settings_args('omission')}",
        corpus=corpus_flags,
        runtime=runtime_args(),
        outputs=output_flags,
    shell:
        "OMP_NUM_THREADS={threads} python -m {params.module} --model {input.model}"
        " --pathway {wildcards.pathway} {params.corpus} {params.settings} {params.runtime}"
        " --threads {threads} {params.outputs} > {log} 2>&1"


use rule omission as activations with:
    input:
        unpack(method_inputs("lingscope.methods.activations")),
    output:
        tokens_dir=directory(P.activations("tokens", "{model}", "{pathway}")),
        h_end_dir=directory(P.activations("h_end", "{model}", "{pathway}")),
    log:
        P.log("activations/{model}-{pathway}"),
    benchmark:
        P.benchmark("activations/{model}-{pathway}")
    resources:
        mem_mb=mem_mb(4000, 2),
        runtime=runtime(120),
        gpu=gpus(),
    params:
        module="lingscope.methods.activations",
        settings=settings_args("activations"),


use rule omission as attribution with:
    input:
        unpack(method_inputs("lingscope.methods.attribution")),
    output:
        out=P.network_table("attribution", "{model}", "{pathway}"),
    log:
        P.log("attribution/{model}-{pathway}"),
    benchmark:
        P.benchmark("attribution/{model}-{pathway}")
    resources:
        mem_mb=mem_mb(3000, 2),
        runtime=runtime(120),
        gpu=gpus(),
    params:
        module="lingscope.methods.attribution",
        settings=settings_args("attribution"),


# Li et al. 2016 on every network with a class readout: saliency of every token of a split and
# of the example sentences (Figs. 5-8), representations and states of the example phrases
# (Figs. 1-4); on every network with a sequence readout, saliency per decoding step (Fig. 9).
use rule omission as saliency with:
    input:
        unpack(method_inputs("lingscope.methods.saliency")),
    output:
        out=P.network_table("saliency", "{model}", "{pathway}", "split"),
        examples_out=P.network_table("saliency", "{model}", "{pathway}", "examples"),
    log:
        P.log("saliency/{model}-{pathway}"),
    benchmark:
        P.benchmark("saliency/{model}-{pathway}")
    resources:
        mem_mb=mem_mb(4000, 2),
        runtime=runtime(120),
        gpu=gpus(),
    params:
        module="lingscope.methods.saliency",
        settings=f"{settings_args('saliency')} {settings_args('li_figures.examples')}",


use rule omission as representations with:
    input:
        unpack(method_inputs("lingscope.methods.representations", ("vocab",))),
    output:
        out_representations=P.network_table(
            "representations", "{model}", "{pathway}", "representations"
        ),
        out_states=P.network_table("representations", "{model}", "{pathway}", "states"),
    log:
        P.log("representations/{model}-{pathway}"),
    benchmark:
        P.benchmark("representations/{model}-{pathway}")
    resources:
        mem_mb=mem_mb(2000, 2),
        runtime=runtime(30),
        gpu=gpus(),
    params:
        module="lingscope.methods.representations",
        settings=settings_args("li_figures.examples"),


use rule omission as step_saliency with:
    input:
        unpack(method_inputs("lingscope.methods.step_saliency")),
    output:
        out=P.network_table("step_saliency", "{model}", "{pathway}"),
    log:
        P.log("step_saliency/{model}-{pathway}"),
    benchmark:
        P.benchmark("step_saliency/{model}-{pathway}")
    resources:
        mem_mb=mem_mb(3000, 2),
        runtime=runtime(120),
        gpu=gpus(),
    params:
        module="lingscope.methods.step_saliency",
        settings=settings_args("step_saliency"),


# Poerner et al. 2018: one job per network and method, so a method's settings rerun that
# method only (its section input_optimisation.<method>).
use rule omission as input_optimisation with:
    input:
        unpack(method_inputs("lingscope.methods.input_optimisation")),
    output:
        out=P.io("{model}", "{pathway}", "{io_method}"),
    log:
        P.log("input_optimisation/{model}-{pathway}-{io_method}"),
    benchmark:
        P.benchmark("input_optimisation/{model}-{pathway}-{io_method}")
    resources:
        mem_mb=mem_mb(3000, 4),
        runtime=runtime(720),
        gpu=gpus(),
    params:
        module="lingscope.methods.input_optimisation",
        settings=io_settings,


# The images behind Kadar et al.'s Fig. 1: retrieved with and without a caption's most
# important word, by the one network with an image readout the figure uses (Visual).
rule retrieval_examples:
    input:
        unpack(retrieval_inputs),
    output:
        table=P.analysis("retrieval_examples.parquet", "kadar2017"),
    log:
        P.log("analysis/retrieval_examples"),
    conda:
        env("lingscope")
    threads: 1
    resources:
        mem_mb=mem_mb(3000, 3),
        runtime=runtime(30),
    params:
        network=lambda wildcards: PLAN.retrieval_network()[1],
        split=PLAN.analysis_split,
        settings=settings_args("analysis.examples"),
    shell:
        "python -m lingscope.methods.retrieval_examples --model {input.model} --pathway {params.network}"
        " --omission {input.omission} --sentences {input.sentences} --vocab {input.vocab}"
        " --image-features {input.image_features} --split {params.split} {params.settings}"
        " --device cpu --out {output.table} > {log} 2>&1"
