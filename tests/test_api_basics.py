"""The API's contract for every answer: JSON (errors too), a request id, and timing."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app import create_app
from db import migrate
from settings import Settings


@pytest.mark.usefixtures("company")
def test_status_reports_database_revision_and_platforms(client, auth):
    auth.login()
    body = client.get("/api/v1/status").json
    assert body["database"]["reachable"] is True
    assert body["database"]["revision"] == migrate.head_revision() == body["database"]["head"]
    assert body["version"] and body["platforms"] == []


@pytest.mark.parametrize("backend", ["postgres-port-closed", "sqlite-file-is-a-directory"])
def test_health_needs_no_database(backend, tmp_path):
    """Liveness answers as documented (docs/deploy.md) while the database cannot be reached at all:
    a load balancer must not kill web instances for a database outage."""
    closed_port = "postgresql+psycopg://postgres@127.0.0.1:1/x"  # nothing listens on port 1
    unreachable = make_url(closed_port if backend.startswith("postgres") else f"sqlite:///{tmp_path}")
    settings = replace(Settings(), database_url=unreachable, cache_dir=tmp_path / "cache", log_level="WARNING")
    server = create_app(settings)
    with pytest.raises(OperationalError):  # the database really is out of reach
        server.extensions["channelpulse"].engine.connect().close()
    response = server.test_client().get("/health", headers={"X-Request-ID": "health-check-1"})
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.json == {"status": "ok"}
    assert response.headers["X-Request-ID"] == "health-check-1"


@pytest.mark.usefixtures("company")
def test_unknown_api_route_and_wrong_method_answer_json(client, auth):
    auth.login()
    missing = client.get("/api/v1/does-not-exist")
    assert missing.status_code == 404 and missing.is_json
    assert missing.json["error"]["code"] == "not_found"
    wrong = client.post("/api/v1/status")
    assert wrong.status_code == 405 and wrong.json["error"]["status"] == 405


@pytest.mark.usefixtures("company")
def test_unexpected_errors_answer_json_500_with_the_request_id(app, client, auth):
    def broken():
        raise RuntimeError("boom")

    app.add_url_rule("/api/v1/_broken", "broken", broken)
    auth.login()
    response = client.get("/api/v1/_broken", headers={"X-Request-ID": "req-12345678"})
    assert response.status_code == 500
    assert response.json["error"] == {
        "status": 500,
        "code": "internal_error",
        "message": "Something went wrong on our side.",
        "request_id": "req-12345678",
    }
    assert "boom" not in response.get_data(as_text=True)


def test_every_response_carries_request_id_and_timing(client):
    response = client.get("/health", headers={"X-Request-ID": "abcDEF12-3456"})
    assert response.headers["X-Request-ID"] == "abcDEF12-3456"
    assert response.headers["Server-Timing"].startswith("app;dur=")
    generated = client.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert len(generated.headers["X-Request-ID"]) == 32


def test_request_log_line(client, caplog):
    with caplog.at_level("INFO", logger="channelpulse.request"):
        response = client.get("/health")
    line = next(r.getMessage() for r in caplog.records if r.name == "channelpulse.request")
    assert line.startswith("request method=GET path=/health status=200 duration_ms=")
    assert f"request_id={response.headers['X-Request-ID']}" in line
