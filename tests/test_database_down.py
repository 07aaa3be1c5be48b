"""Issue #9, finding 9: with the database down, /api/v1/status answered 500 (the login lookup
failed first) and `python app.py` printed a 116-line traceback. Now: a 503 that says why, one
warning in the log, and one line from app.py."""

from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from db.accounts import hash_token
from db.engine import transaction
from db.models import ApiToken
from tests.test_openapi import SCHEMA

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/x"  # nothing listens on port 1


@pytest.fixture
def down_client(settings):
    """A client of the same app (same secret key) whose database does not answer."""
    from app import create_app

    server = create_app(replace(settings, database_url=make_url(UNREACHABLE)))
    server.config.update(TESTING=True)
    return server.test_client()


@pytest.mark.usefixtures("company")
def test_a_logged_in_user_gets_503_not_500(client, auth, down_client, caplog):
    auth.login()
    down_client.set_cookie("session", client.get_cookie("session").value)

    status = down_client.get("/api/v1/status")
    assert status.status_code == 503
    assert status.json["error"]["code"] == "database_unavailable"
    assert "database" in status.json["error"]["message"] and status.json["error"]["request_id"]
    SCHEMA["/api/v1/status"]["GET"].validate_response(status)  # as documented in openapi.yaml
    warnings = [r for r in caplog.records if r.name == "web.errors" and r.levelno >= logging.WARNING]
    assert [r.levelname for r in warnings] == ["WARNING"] and warnings[0].exc_info is None
    assert "postgres@" not in caplog.text  # no connection string in the log

    page = down_client.get("/")  # a page, not the API: an HTML error page
    assert page.status_code == 503 and page.mimetype == "text/html"


def test_an_api_token_gets_503_not_500(sessions, company, down_client):
    token = "cp_down-test-token"
    with transaction(sessions) as session:
        session.add(ApiToken(company_id=company.id, name="script", prefix=token[:8], token_hash=hash_token(token)))
    status = down_client.get("/api/v1/status", headers={"Authorization": f"Bearer {token}"})
    assert status.status_code == 503 and status.json["error"]["code"] == "database_unavailable"


def test_app_py_says_in_one_line_that_the_database_is_unreachable(tmp_path):
    finished = subprocess.run(
        [sys.executable, "app.py", "--no-demo", "--port", "1"],
        cwd=Path(__file__).resolve().parents[1],
        env={"DATABASE_URL": UNREACHABLE, "PATH": "/usr/bin:/bin", "CACHE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 1
    assert finished.stdout == ""
    assert finished.stderr.count("\n") == 1, finished.stderr
    assert "cannot use the database at postgresql+psycopg://postgres@127.0.0.1:1/x" in finished.stderr
    assert "Connection refused" in finished.stderr
