# lingscope: what recurrent networks learn about language.
# Thin entry point: the rules live in workflow/rules/, the logic in src/lingscope/.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/parse.smk"


rule all:
    input:
        final_targets(),
    default_target: True
