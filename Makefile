# Each target does its own set-up on a fresh machine: `make demo`, `make test`, `make lint`, `make docs`.
# Each installs what it needs into .venv: the core (torch, pinned to the CPU build by constraints.txt), then
# the extras of pyproject.toml: `all` for the demo, `docs` for the site, `dev` (all + test, lint and docs
# tools) for the rest.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP_FLAGS ?= -q -c constraints.txt
DEV_EXTRAS := dev,gpu,experimental

.PHONY: demo test lint bench gpu-check docs venv clean

define install
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install $(PIP_FLAGS) torch==2.13.0
	$(BIN)/python -m pip install $(PIP_FLAGS) -e ".[$(1)]"
	touch $@
endef

$(BIN)/.installed-all: pyproject.toml constraints.txt
	$(call install,all)

$(BIN)/.installed-dev: pyproject.toml constraints.txt
	$(call install,$(DEV_EXTRAS))

$(BIN)/.installed-docs: pyproject.toml constraints.txt
	$(call install,docs)

venv: $(BIN)/.installed-dev

demo: $(BIN)/.installed-all
	$(BIN)/mlattn demo

# The suite; then the CUDA test files' logic dry-run on the CPU (they skip in the suite without CUDA; see
# tests/_cuda_case.py), so that they cannot rot unseen between GPU runs.
test: $(BIN)/.installed-dev
	$(BIN)/python -m pytest tests/ -q -n 2 --dist loadfile
	MLATTN_TEST_DEVICE=cpu $(BIN)/python -m pytest -q -p no:cacheprovider $(wildcard tests/*/test_*_cuda.py)

lint: $(BIN)/.installed-dev
	$(BIN)/ruff check src tests benchmarks examples docs/_hooks
	$(BIN)/ruff format --check src tests benchmarks examples docs/_hooks
	$(BIN)/mypy

bench: $(BIN)/.installed-dev
	$(BIN)/python benchmarks/run_all.py

# On a machine with an NVIDIA GPU: the CUDA tests, the performance tests on CUDA and the GPU benchmarks.
gpu-check: $(BIN)/.installed-dev
	PYTHON=$(BIN)/python bash benchmarks/gpu_check.sh

# The documentation site into site/ (open site/index.html), strict: a broken link or anchor, a page left
# out of the navigation or a docstring the API pages cannot read fails the build. Offline: nothing fetched.
docs: $(BIN)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache htmlcov
