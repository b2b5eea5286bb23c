# Two set-up commands on a fresh machine: `make demo` and `make test`; `make docs` builds the
# documentation site into docs/_build/html.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= demo-out

# Extra sphinx-build options (e.g. SPHINXOPTS=-q); GALLERY=<regex> runs only the gallery
# examples whose path matches it (the others are rendered without output).
SPHINXOPTS ?=
GALLERY ?=
DOCS_OUT := docs/_build/html
DOCS_STAMP := $(VENV)/.docs-extra

.PHONY: install demo test lint docs docs-clean clean

$(BIN)/medfuse: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU build of torch first, so that pip does not pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[test,explain,counts,imaging,serve,dask]"
	touch $@

install: $(BIN)/medfuse

demo: install
	$(BIN)/medfuse demo --out $(OUT)

test: install
	$(BIN)/python -m pytest -q -n 2 tests

lint: install
	$(BIN)/ruff check src tests benchmarks examples docs

# The documentation tools (the `docs` extra) are installed into the same virtual environment
# the first time, and again whenever pyproject.toml changes.
$(DOCS_STAMP): $(BIN)/medfuse pyproject.toml
	$(BIN)/python -m pip install -q -e ".[docs]"
	touch $@

# User guide, API reference and the executed example gallery; warnings are errors.
docs: $(DOCS_STAMP)
	MEDFUSE_GALLERY_PATTERN="$(GALLERY)" $(BIN)/python -m sphinx -b html -W --keep-going \
		$(SPHINXOPTS) docs $(DOCS_OUT)

docs-clean:
	rm -rf docs/_build docs/auto_examples docs/api/generated docs/api/backreferences \
		docs/sg_execution_times.rst

clean: docs-clean
	rm -rf $(VENV) $(OUT) .pytest_cache
