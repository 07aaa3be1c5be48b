"""Login, logout, and the guard in front of every route."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_PASSWORD


def test_login_page_has_csrf_and_no_demo_hint_leak(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert b'name="csrf_token"' in page.data


@pytest.mark.usefixtures("company")
def test_login_then_overview_then_logout(client, auth):
    response = auth.login()
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    auth.logout()
    assert client.get("/").status_code == 302


@pytest.mark.usefixtures("company")
@pytest.mark.parametrize(
    ("email", "password"),
    [("admin@example.com", "wrong password"), ("nobody@example.com", TEST_PASSWORD)],
    ids=["wrong-password", "unknown-email"],
)
def test_bad_credentials_get_the_same_answer(client, auth, email, password):
    response = auth.login(email, password)
    assert response.status_code == 200
    assert b"Invalid email or password." in response.data
    assert client.get("/").status_code == 302


@pytest.mark.usefixtures("company")
def test_login_without_csrf_token_is_refused(client):
    response = client.post("/login", data={"email": "admin@example.com", "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


@pytest.mark.usefixtures("company")
def test_email_is_case_insensitive(auth):
    assert auth.login("Admin@Example.COM").status_code == 302


@pytest.mark.usefixtures("company")
def test_repeated_failures_are_throttled(auth, monkeypatch):
    from dashboard import auth as auth_module

    monkeypatch.setattr(auth_module, "throttle", auth_module.LoginThrottle(limit=3, window=60))
    for _ in range(3):
        assert b"Invalid email or password." in auth.login(password="nope").data
    blocked = auth.login()  # even the right password waits out the window
    assert blocked.status_code == 429
    assert b"Too many failed attempts" in blocked.data


@pytest.mark.parametrize("path", ["/", "/_dash-layout", "/_dash-dependencies", "/api/v1/status", "/api/v1/unknown"])
def test_every_route_needs_login(client, path):
    response = client.get(path)
    if path.startswith(("/api/", "/_dash")):
        assert response.status_code == 401
        assert response.is_json and response.json["error"]["code"] == "unauthorized"
    else:
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_dash_callbacks_need_login(client):
    response = client.post("/_dash-update-component", json={"output": "x.children", "inputs": []})
    assert response.status_code == 401


def test_login_redirect_stays_on_site(client, auth, company):
    token = auth.csrf_token()
    response = client.post(
        "/login?next=https://evil.example/steal",
        data={"email": "admin@example.com", "password": TEST_PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/"


def test_public_paths_need_no_login(client):
    assert client.get("/health").json == {"status": "ok"}
    assert client.get("/assets/channelpulse.css").status_code == 200
