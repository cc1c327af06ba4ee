# The two commands of the README. Each creates the virtual environment when it is missing.
#   make demo   the factory on the toy world, from nothing, with a report (out/demo/report.md)
#   make test   the default test suite (slow tests: make test-slow)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= out/demo
export HF_HUB_OFFLINE := 1

.PHONY: demo test test-slow lint bench venv describe-env

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The describe stage's own environment (vLLM's CPU build pins its own torch; ARCHITECTURE.md).
DESCRIBE_VENV ?= .venv-describe
DESCRIBE_STAMP := $(DESCRIBE_VENV)/.installed

describe-env: $(DESCRIBE_STAMP)

$(DESCRIBE_STAMP): requirements-describe.txt
	test -x $(DESCRIBE_VENV)/bin/python || $(PYTHON) -m venv $(DESCRIBE_VENV)
	$(DESCRIBE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DESCRIBE_VENV)/bin/python -m pip install --quiet -r requirements-describe.txt
	$(DESCRIBE_VENV)/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	touch $(DESCRIBE_STAMP)

demo: $(STAMP)
	$(BIN)/factory demo --out $(DEMO_OUT) $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

# describe-env: the describe stage's vLLM tests run in the default suite.
test: lint describe-env
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/run_all.py