# The two commands of the README. Both work on a fresh clone: they build .venv first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP_FLAGS := --disable-pip-version-check --quiet

.PHONY: run test test-calendar lint clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install $(PIP_FLAGS) -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	EMBEDDED=1 $(PY) app.py

test: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m pytest

# The tests marked `calendar` (their data or expectations involve dates) with the system clock a
# year ahead: a test that only passes on today's date fails here first. Needs libfaketime (0.9.10
# fakes the monotonic clock too, and Python's timed thread waits then never time out: no test here
# runs a background scheduler).
test-calendar: $(VENV)/.dev
	faketime "$$(date -u -d '+1 year' '+%Y-%m-%d %H:%M:%S')" $(PY) -m pytest -m calendar -q

lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
