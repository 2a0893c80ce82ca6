# The two commands of README.md: `make demo` (set up, run the main job on the embedded model) and
# `make test` (set up, run the tests). Everything else is a step of those two.
SHELL := /bin/bash
VENV ?= .venv
NATIVA := $(VENV)/bin/nativa
PYTEST := $(VENV)/bin/pytest

.PHONY: setup demo test unit integration bench lint clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(NATIVA) code --fix examples/broken.py
	$(NATIVA) code "print the first 10 prime numbers, one per line"

test:
	@NATIVA_SETUP_TESTS=1 bash scripts/setup.sh
	$(PYTEST) -q

unit: setup
	$(PYTEST) -q -m "not integration"

integration:
	@NATIVA_SETUP_TESTS=1 bash scripts/setup.sh
	$(PYTEST) -q -m integration

bench: setup
	$(NATIVA) bench model

lint:
	$(VENV)/bin/ruff check src tests

clean:
	rm -rf $(VENV) build *.egg-info
