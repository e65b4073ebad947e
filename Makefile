# Two commands on a fresh machine:  make run   (install + default workflow)
#                                   make test  (install dev tools + whole test suite)
PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
CORES  ?= all
# make run CONFIG=my.yaml TARGETS="results/analysis/fig2_xpos.png": your config files, checked
# first (YAML syntax with file and line, then the schema), and targets placed before
# --configfile, which would read them as config files.
CONFIG  ?=
TARGETS ?=
# Every pip install goes through the constraints file: stanza asks for torch unpinned,
# which would otherwise pull a multi-GB CUDA build.
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PATH := $(BIN):$(PATH)

.PHONY: run test bench gpu-check schema clean

$(VENV)/.runtime: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

run: $(VENV)/.runtime
	$(if $(CONFIG),python -m lingscope.core.config $(CONFIG))
	snakemake --workflow-profile workflow/profiles/local --cores $(CORES) $(TARGETS) $(if $(CONFIG),--configfile $(CONFIG))

test: $(VENV)/.dev
	pytest -q

# After changing an option or a table: regenerate the config schema from the settings classes
# and the tables' JSON Schemas from lingscope.core.schemas (tests fail while either is stale).
schema: $(VENV)/.runtime
	python -m lingscope.core.config_schema --write
	python -m lingscope.core.schemas --out workflow/schemas/tables

$(VENV)/.bench: $(VENV)/.runtime
	$(BIN)/pip install -q -c constraints.txt -e '.[bench]'
	touch $@

# Benchmarks: each writes benchmarks/results/<name>.json (committed; docs/benchmarks renders them).
# make bench       the CPU benchmarks at their defaults, one after another (long; probe_scale.py,
#                  at the paper's 260k tokens x 1024 units, is left to run by hand)
# make gpu-check   every CUDA check and GPU benchmark, under 8 minutes on one GPU, into
#                  benchmarks/results/gpu_check.json; stops at once where there is no CUDA device
bench: $(VENV)/.bench
	python benchmarks/parse_throughput.py
	python benchmarks/training_throughput.py
	python benchmarks/sentiment_training_throughput.py
	python benchmarks/dump_throughput.py
	python benchmarks/omission_speed.py
	python benchmarks/saliency_speed.py
	python benchmarks/step_saliency_speed.py
	python benchmarks/attribution_speed.py
	python benchmarks/autoencoder_training_throughput.py
	python benchmarks/memory_flat.py
	python benchmarks/paper_step.py
	python benchmarks/input_optimisation_speed.py
	python benchmarks/mutual_information_speed.py
	python benchmarks/top_contexts_memory.py

gpu-check: $(VENV)/.bench
	python benchmarks/gpu_check.py

clean:
	rm -rf results .snakemake
