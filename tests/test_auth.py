"""Login, logout, and the guard in front of every route."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from argon2 import PasswordHasher

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
def test_a_link_cannot_log_out(client, auth):
    """GET /logout (an old bookmark, a link or an <img> on any site) only shows the button."""
    auth.login()
    response = client.get("/logout")
    assert response.status_code == 200 and b'<form method="post" action="/logout">' in response.data
    assert client.get("/").status_code == 200


@pytest.mark.usefixtures("company")
def test_another_site_cannot_log_you_out(client, auth):
    """A form on another origin posting to /logout is refused by the cross-origin check."""
    auth.login()
    forged = client.post("/logout", headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert forged.status_code == 403
    assert client.get("/").status_code == 200
    ours = client.post("/logout", headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"})
    assert ours.status_code == 302 and ours.headers["Location"] == "/login"
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
@pytest.mark.parametrize("email", ["admin@example.com", "nobody@example.com"], ids=["wrong-password", "unknown-email"])
def test_unknown_emails_cost_a_password_check_too(auth, monkeypatch, email):
    """The dummy hash: an unknown email costs the one argon2 verification a wrong password does, so
    the answer's timing does not tell who has an account. Counted, not timed (timings flake)."""
    verify, calls = PasswordHasher.verify, []

    def counted(self, stored, password):
        calls.append(stored)
        return verify(self, stored, password)

    monkeypatch.setattr(PasswordHasher, "verify", counted)
    assert b"Invalid email or password." in auth.login(email, "wrong password").data
    assert len(calls) == 1


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


@pytest.mark.parametrize("target", ["/%0d%0aSet-Cookie:%20x=1", "/%0aX", "/\\evil.example", "/%5C%5Cevil.example"])
def test_login_next_with_control_characters_or_backslashes_goes_home(client, auth, company, target):
    assert client.get(f"/login?next={target}").status_code == 200
    token = auth.csrf_token()
    form = {"email": "admin@example.com", "password": TEST_PASSWORD, "csrf_token": token}
    response = client.post(f"/login?next={target}", data=form)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    logged_in = client.get(f"/login?next={target}")
    assert logged_in.status_code == 302 and logged_in.headers["Location"] == "/"


def test_create_user_with_a_taken_email_says_so_in_one_line(db_url, company, tmp_path):
    """Run as an operator would: the real `flask` command, its whole output checked."""
    command = ["create-user", "--email", "Admin@example.com", "--company", "Acme Audio", "--password", "another pw"]
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *command],
        cwd=Path(__file__).resolve().parents[1],
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": db_url, "CACHE_DIR": str(tmp_path), "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == "Error: a user with this email already exists"
