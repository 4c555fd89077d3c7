# Every target creates .venv and installs the locked stack when missing or when the inputs changed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=
PYTEST_ARGS ?=
# The suite runs in two pytest-xdist workers; tests sharing an expensive session fixture, and the tests of one
# module, stay in one worker (tests/conftest.py). TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2
PARALLEL = -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder
# The Keras choice is made by the Python packages themselves (data/keras_choice.py).

.PHONY: install run test test-fast bench serve data clean

install: $(STAMP)

$(STAMP): setup.py constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing the locked TFX 1.16 stack into $(VENV) (TFX declares Python <3.11: --ignore-requires-python)"
	set -o pipefail; $(PY) -m pip install -q --disable-pip-version-check --ignore-requires-python \
	    -c constraints.txt -e '.[test,data]' 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	$(PY) -m pip check
	$(PY) -c "import tfx, pipeline, components, serving, data"
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m pipeline run $(ARGS)

test: $(STAMP)
	bash .ci/system-deps.sh
	$(PY) -m pytest $(PARALLEL) $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest $(PARALLEL) -m "not e2e" $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m pipeline.tools.bench $(ARGS)

serve: $(STAMP)
	$(PY) -m serving serve $(ARGS)

data: $(STAMP)
	$(PY) -m data.build_dataset $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
