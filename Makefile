# The two commands of the README. Both work on a fresh clone: they build .venv first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP_FLAGS := --disable-pip-version-check --quiet

.PHONY: run test test-on test-calendar lint clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install $(PIP_FLAGS) -r requirements-dev.txt
	touch $@

# The suite runs on two pytest-xdist workers (this machine's two cores: about 40% less wall time
# than one); tests that share a resource run in one group (tests/conftest.py). TEST_WORKERS=0
# runs it in one process.
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadgroup

run: $(VENV)/.runtime
	EMBEDDED=1 $(PY) app.py

test: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m pytest $(XDIST)

# The suite on another date: `make test-on DATE='2028-02-29 12:00:00' [PYTEST_ARGS=...]` runs pytest
# (and every process it starts) with the system clock moved there (UTC) and running: one offset
# for every process, so a server started later agrees with the test on the time. The libfaketime
# built by the `libfaketime` package (a dev requirement) is used with the monotonic clock left
# real: Debian's libfaketime 0.9.10 fakes that one too, and Python's timed waits then never end.
# Postgres, Redis and Chromium keep the real clock.
FAKETIME_LIB = $(shell $(PY) -c "import libfaketime, pathlib; print(pathlib.Path(libfaketime.__file__).parent / 'vendor/libfaketime/src/libfaketime.so.1')")

test-on: $(VENV)/.dev
	@test -n "$(DATE)" || { echo "usage: make test-on DATE='YYYY-MM-DD hh:mm:ss' [PYTEST_ARGS=...]"; exit 2; }
	offset=$$(printf '%+d' $$(( $$(date -u -d '$(DATE)' +%s) - $$(date -u +%s) ))) && \
	LD_PRELOAD="$(FAKETIME_LIB)" FAKETIME="$$offset" FAKETIME_DONT_FAKE_MONOTONIC=1 $(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

# The tests marked `calendar` (their data or expectations involve dates) a year ahead: a test
# that only passes on today's date fails here first.
test-calendar: $(VENV)/.dev
	$(MAKE) --no-print-directory test-on DATE="$$(date -u -d '+1 year' '+%Y-%m-%d %H:%M:%S')" PYTEST_ARGS="-m calendar -q"

lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
