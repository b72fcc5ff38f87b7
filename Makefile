# Two entry points, each working on a fresh machine:  `make demo`  and  `make test`.
# torch is installed first as the pinned CPU build, so pip never pulls the multi-GB CUDA one.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-packaging lint setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev,models,russian,packaging,cluster,postgres]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/alapp demo

lint: $(STAMP)
	$(BIN)/ruff check alapp tests bench packaging
	$(BIN)/mypy alapp
	$(BIN)/lint-imports

# Two pytest processes: everything but the UI with PySide6 unimportable (ALAPP_BLOCK_QT, see
# tests/conftest.py: the core is headless), then the GUI tests. The packaging test runs only in
# test-packaging (CI runs both targets). pytest exits 5 when it collects no test; make treats that
# like any failure. ALAPP_REQUIRE_POSTGRES: the PostgreSQL store's tests fail, not skip, when
# their server cannot start. Extra pytest options: make test PYTEST_ARGS="--durations=30".
PYTEST = QT_QPA_PLATFORM=offscreen ALAPP_REQUIRE_POSTGRES=1 $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The store-level suites once more with every project on the PostgreSQL server the session
# starts (ALAPP_TEST_STORE, tests/conftest.py): the server store answers as the file does.
SERVER_SUITE = tests/test_workflow.py tests/test_engine.py tests/test_export.py \
	tests/test_flags.py tests/test_budget.py tests/test_stream.py tests/test_team_store.py \
	tests/test_team.py tests/test_multilabel_store.py tests/test_spans_store.py

test: lint
	ALAPP_BLOCK_QT=1 $(PYTEST) -m "not gui"
	ALAPP_BLOCK_QT=1 ALAPP_TEST_STORE=postgresql $(PYTEST) -m "not gui and not slow" $(SERVER_SUITE)
	$(PYTEST) -m gui

test-packaging: $(STAMP)
	$(PYTEST) -m packaging

clean:
	rm -rf $(VENV) build dist *.egg-info
