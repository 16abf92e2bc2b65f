# Entry points: `make demo` runs the main job, `make test` runs the test suite, `make test-fast` its quick tier.
# Each creates the virtual environment it needs on first use and does its own set-up.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.climax_nb-installed
# The CPU build of torch; set TORCH_SPEC to your hardware's build on a GPU machine.
TORCH_SPEC ?= torch==2.13.0
JCM_SPEC ?= jcm==3.0.0
DEMO_ARGS ?=
# The slow groups (markers in pyproject.toml) that `make test-fast` leaves out.
FAST_MARKERS := not gcm and not notebooks and not browser and not ddp

.PHONY: env demo test test-fast lint chromium clean-env

env: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
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
	$(PY) -m pytest -n 2 --dist loadfile --durations=15

test-fast: env
	$(PY) -m ruff check .
	$(PY) -m pytest -n 2 --dist loadfile -m "$(FAST_MARKERS)"

lint: env
	$(PY) -m ruff check .

clean-env:
	rm -rf $(VENV)
