"""Login, logout, and the guard in front of every route."""

from __future__ import annotations

import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from cryptography.fernet import Fernet

from app import create_app
from settings import Settings
from tests.conftest import TEST_PASSWORD


class FormReader(HTMLParser):
    """The login page as a browser sees it: each form's fields (name -> attributes), the labels'
    targets, the submit buttons, and the page's visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.labels: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self.forms.append({"attrs": found, "fields": {}, "submit": []})
        elif tag == "input" and self.forms:
            self.forms[-1]["fields"][found.get("name")] = found
        elif tag == "button" and self.forms and found.get("type") == "submit":
            self.forms[-1]["submit"].append(found)
        elif tag == "label" and found.get("for"):
            self.labels.add(found["for"])

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(" ".join(data.split()))


def read_login_page(client, **request) -> FormReader:
    response = client.get("/login", **request)
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = FormReader()
    page.feed(response.get_data(as_text=True))
    return page


def assert_login_form(page: FormReader) -> dict:
    """One POST form back to /login with exactly the fields a user fills in (each labelled, each
    with the autocomplete a password manager needs) plus its CSRF token; returns its fields."""
    [form] = page.forms
    assert form["attrs"]["method"] == "post" and "action" not in form["attrs"]
    fields = form["fields"]
    assert set(fields) == {"csrf_token", "email", "password", "remember"}
    assert fields["csrf_token"]["type"] == "hidden" and len(fields["csrf_token"]["value"]) > 40
    assert (fields["email"]["type"], fields["email"]["autocomplete"]) == ("email", "username")
    assert (fields["password"]["type"], fields["password"]["autocomplete"]) == ("password", "current-password")
    assert not fields["password"].get("value")  # a password is never served back
    assert fields["remember"]["type"] == "checkbox"
    assert page.labels >= {"email", "password", "remember"} and len(form["submit"]) == 1
    return fields


def submit_login(client, fields: dict, email: str, **request):
    """Send the form as the browser would: its hidden fields as served, the user's typing added."""
    form = {name: attrs.get("value", "") for name, attrs in fields.items() if attrs["type"] == "hidden"}
    return client.post("/login", data={**form, "email": email, "password": TEST_PASSWORD}, **request)


@pytest.mark.usefixtures("company")
def test_the_development_login_page_shows_its_form_and_the_demo_account(client):
    page = read_login_page(client)
    fields = assert_login_form(page)
    assert "Demo account: demo@example.com / demo" in " ".join(page.text)
    response = submit_login(client, fields, "admin@example.com")
    assert response.status_code == 302 and response.headers["Location"] == "/"


@pytest.mark.usefixtures("company")
def test_the_production_login_page_hides_the_demo_hint(db_url, tmp_path):
    """APP_ENV=production, started from the environment as gunicorn starts it: same form, no
    demo account named anywhere in the page (there is none in production)."""
    environment = {
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "CREDENTIALS_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": db_url,
        "CACHE_DIR": str(tmp_path / "cache"),
        "LOG_LEVEL": "WARNING",
    }
    server = create_app(Settings.from_env(environment))
    assert server.extensions["channelpulse"].settings.is_production
    client = server.test_client()
    https = {"base_url": "https://localhost"}  # production cookies are Secure: https only
    page = read_login_page(client, **https)
    fields = assert_login_form(page)
    text = " ".join(page.text)
    assert "Demo" not in text and "demo@example.com" not in text
    assert "demo" not in client.get("/login", **https).get_data(as_text=True).lower()
    response = submit_login(client, fields, "admin@example.com", **https)
    assert response.status_code == 302 and response.headers["Location"] == "/"


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
