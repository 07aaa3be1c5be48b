"""The suite's own guards (tests/conftest.py): a missing resource fails under its REQUIRE_ flag,
waiting on a subprocess's output ends at its deadline, and a server reports the port it bound."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.conftest import ProcessOutput, require, wait_for


def silent_process(code: str) -> ProcessOutput:
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return ProcessOutput(process)


def test_a_missing_resource_fails_under_its_flag_and_skips_without(monkeypatch):
    outcomes = (pytest.fail.Exception, pytest.skip.Exception)  # caught both, or a skip would hide a skip
    monkeypatch.setenv("REQUIRE_SOMETHING", "1")
    with pytest.raises(outcomes) as required:
        require("REQUIRE_SOMETHING", "something is missing")
    assert required.type is pytest.fail.Exception and "REQUIRE_SOMETHING=1" in str(required.value)
    monkeypatch.delenv("REQUIRE_SOMETHING")
    with pytest.raises(outcomes) as optional:
        require("REQUIRE_SOMETHING", "something is missing")
    assert optional.type is pytest.skip.Exception


def test_waiting_for_a_line_a_process_never_prints_ends_at_the_deadline():
    output = silent_process("import time; print('starting', flush=True); time.sleep(60)")
    try:
        assert output.wait_for(r"^starting$", 30)
        started = time.monotonic()
        with pytest.raises(AssertionError, match=r"printed nothing matching it within 0\.5 s"):
            output.wait_for(r"ready", 0.5)
        assert time.monotonic() - started < 5
    finally:
        output.stop()


def test_a_process_that_exits_without_the_line_fails_at_once():
    output = silent_process("print('boom')")
    started = time.monotonic()
    with pytest.raises(AssertionError, match="exited:\nboom"):
        output.wait_for(r"ready", 60)
    assert time.monotonic() - started < 30


def test_wait_for_returns_the_value_or_names_what_it_waited_for():
    values = iter([None, 0, "done"])
    assert wait_for(lambda: next(values), 5, "a value", interval=0.01) == "done"
    with pytest.raises(AssertionError, match=r"timed out after 0\.1 s waiting for nothing"):
        wait_for(lambda: None, 0.1, "nothing", interval=0.01)
