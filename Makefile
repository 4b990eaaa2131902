# relu-course: two commands set everything up.
#   make book   builds the site into _build/html (creates .venv first if needed)
#   make test   runs every test, in parallel (creates .venv first if needed)
#   make check  the inner loop: lint and the fast tests (not marked slow)
# Other targets: make bench, make demo, make assignments, make release, make lint, make clean.

PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed
# nbgrader calls the `alembic` executable, and jupyter-book starts kernels: the venv's
# bin/ must come first on PATH for every command below.
export PATH := $(BIN):$(PATH)
export PYTHONDONTWRITEBYTECODE := 1
export MPLBACKEND := Agg
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: book test check bench demo assignments release lint clean venv notebooks system-packages

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "relu-course needs Python >= 3.11 (nbgrader 0.9.6 does); set PYTHON=python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . -W --keep-going

# bubblewrap, chromium, fonts-dejavu-core: installed as root or with passwordless sudo;
# otherwise the script prints the command and the tests that need them skip.
system-packages:
	bash scripts/install_system_packages.sh

# pytest-xdist workers. Most slow tests wait on subprocesses (nbgrader, kernels, sandboxes),
# so one more worker than cores keeps the cores busy (two more measured no faster on 2
# cores: 25:17 either way under load, and raised the load average to 10). tests/conftest.py
# keeps the tests that share an expensive fixture on one worker and runs the book build
# once, early.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 2) + 1 )))

test: $(STAMP) system-packages
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

check: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 -q -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python scripts/bench.py

demo: $(STAMP)
	$(BIN)/relu-course demo

# Write solutions/<id>/<id>.ipynb from the assignments/<id>.md sources (docs/INSTRUCTORS.md),
# then generate exercises/ from them with nbgrader.
assignments: $(STAMP)
	$(BIN)/relu-course build

release: assignments
	$(BIN)/relu-course release

# Regenerate the output-free notebook twins of the chapters (Colab/Binder launch targets).
notebooks: $(STAMP)
	$(BIN)/python _ext/notebook_twins.py

lint: $(STAMP)
	$(BIN)/ruff check relu_course tests scripts
	$(BIN)/ruff format --check relu_course tests scripts

clean:
	rm -rf _build .pytest_cache .hypothesis
