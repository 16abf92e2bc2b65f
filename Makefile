# Entry points: `make demo` runs the main job; `make test` runs everything CI runs (lint, the whole
# test suite, the book built from the notebooks the suite executed); `make test-fast` the quick tier;
# `make book` renders the executed notebooks. Each creates the virtual environment it needs on first use
# and does its own set-up.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.climax_nb-installed
# torch goes in first, so that pip keeps that build. TORCH_SPEC names the release, TORCH_INDEX the
# package index it comes from (empty: pip's own configuration). PyPI's torch for Linux is the CUDA
# build; the CPU build anywhere:
#   make env TORCH_INDEX=https://download.pytorch.org/whl/cpu
# (on a GPU machine, the index of your CUDA build: https://download.pytorch.org/whl/cu<version>).
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
JCM_SPEC ?= jcm==3.0.0
DEMO_ARGS ?=
XDIST ?= -n 2 --dist loadfile
# The slow groups (markers in pyproject.toml) that `make test-fast` leaves out.
FAST_MARKERS := not gcm and not notebooks and not browser and not ddp
# Executed notebooks the book is built from; the notebook test writes them (tests/conftest.py).
BOOK_NOTEBOOKS := book/notebooks

.PHONY: env demo test test-fast lint chromium book book-html clean-env

env: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url "$(TORCH_INDEX)")
	$(PY) -m pip install --quiet -e ".[all]"
	$(PY) -m pip install --quiet --no-deps "$(JCM_SPEC)"
	touch $(STAMP)

demo: env
	$(VENV)/bin/climax-nb demo $(DEMO_ARGS)

# Debian's chromium for the dashboard's browser test (installed with apt-get when run as root).
chromium:
	bash tools/ensure-chromium.sh

test: env chromium
	$(PY) -m ruff check .
	rm -rf $(BOOK_NOTEBOOKS)
	CLIMAX_NB_KEEP_EXECUTED=$(BOOK_NOTEBOOKS) $(PY) -m pytest $(XDIST) --durations=15
	$(PY) book/build.py

test-fast: env
	$(PY) -m ruff check .
	$(PY) -m pytest $(XDIST) -m "$(FAST_MARKERS)"

lint: env
	$(PY) -m ruff check .

# Executes every notebook in the fast setting (the notebook test), then builds book/_build/html.
# Set CLIMAX_NB_CACHE to reuse a cache of simulated data and tutorial models.
book: env
	rm -rf $(BOOK_NOTEBOOKS)
	CLIMAX_NB_KEEP_EXECUTED=$(BOOK_NOTEBOOKS) $(PY) -m pytest -q -p no:cacheprovider tests/test_notebooks.py -k runs_in_fast_setting
	$(PY) book/build.py

# The book from the notebooks executed last (by `make test` or `make book`), without executing anything.
book-html: env
	$(PY) book/build.py

clean-env:
	rm -rf $(VENV)
