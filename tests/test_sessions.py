"""Server-side login sessions: logout and a password change end logins, replayed cookies included."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from db import accounts, migrate
from db.engine import make_engine, make_session_factory, transaction
from db.models import Company, LoginSession, User, utcnow
from tests.conftest import TEST_PASSWORD, AuthActions

NEW_PASSWORD = "a brand new passphrase"


def log_in(client, remember: bool = False, password: str = TEST_PASSWORD):
    data = {"email": "admin@example.com", "password": password, "csrf_token": AuthActions(client).csrf_token()}
    if remember:
        data["remember"] = "y"
    return client.post("/login", data=data)


def cookie(client, name: str) -> str:
    found = client.get_cookie(name)
    assert found is not None, f"no {name} cookie"
    return found.value


def replay(app, name: str, value: str):
    """A fresh browser holding only this one cookie: what a thief who copied it would send."""
    thief = app.test_client()
    thief.set_cookie(name, value)
    return thief


def is_logged_in(client) -> bool:
    return client.get("/api/v1/status").status_code == 200


def change_password(client, current: str = TEST_PASSWORD, new: str = NEW_PASSWORD):
    page = client.get("/account/password").get_data(as_text=True)
    marker = 'name="csrf_token" type="hidden" value="'
    start = page.index(marker) + len(marker)
    token = page[start : page.index('"', start)]
    data = {"current_password": current, "new_password": new, "confirm": new, "csrf_token": token}
    return client.post("/account/password", data=data)


@pytest.mark.usefixtures("company")
def test_session_cookie_replayed_after_logout_is_refused(app, client):
    log_in(client)
    session_cookie = cookie(client, "session")
    assert is_logged_in(replay(app, "session", session_cookie))  # the copy works while the login lives

    client.post("/logout")
    thief = replay(app, "session", session_cookie)
    assert thief.get("/api/v1/status").status_code == 401
    response = thief.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


@pytest.mark.usefixtures("company")
def test_remember_cookie_replayed_after_logout_is_refused(app, client):
    log_in(client, remember=True)
    remember = cookie(client, "remember_token")
    assert is_logged_in(replay(app, "remember_token", remember))

    client.post("/logout")
    thief = replay(app, "remember_token", remember)
    assert thief.get("/api/v1/status").status_code == 401
    assert thief.get("/").status_code == 302


@pytest.mark.usefixtures("company")
def test_each_login_gets_a_new_remember_token(app):
    first, second = app.test_client(), app.test_client()
    log_in(first, remember=True)
    log_in(second, remember=True)
    assert cookie(first, "remember_token") != cookie(second, "remember_token")
    assert is_logged_in(first) and is_logged_in(second)


@pytest.mark.usefixtures("company")
def test_remember_cookie_is_samesite_lax(client):
    response = log_in(client, remember=True)
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token="))
    assert "SameSite=Lax" in header and "HttpOnly" in header


@pytest.mark.usefixtures("company")
def test_a_password_change_ends_the_other_logins(app, client):
    other = app.test_client()
    log_in(other, remember=True)
    other_remember = cookie(other, "remember_token")
    log_in(client, remember=True)

    response = change_password(client)
    assert response.status_code == 302
    assert is_logged_in(client)  # the browser that changed it continues, on a fresh login
    assert not is_logged_in(other)
    assert not is_logged_in(replay(app, "remember_token", other_remember))
    assert log_in(app.test_client()).status_code == 200  # the old password is refused
    assert log_in(app.test_client(), password=NEW_PASSWORD).status_code == 302


@pytest.mark.usefixtures("company")
def test_a_password_change_needs_the_current_password(app, client, sessions):
    log_in(client)
    with sessions() as session:
        before = session.scalar(select(User.password_hash).where(User.email == "admin@example.com"))
    response = change_password(client, current="not my password")
    assert response.status_code == 400 and b"The current password is wrong." in response.data
    assert change_password(client, new="short").status_code == 400
    no_csrf = {"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    assert client.post("/account/password", data=no_csrf).status_code == 400
    with sessions() as session:
        assert session.scalar(select(User.password_hash).where(User.email == "admin@example.com")) == before
    assert is_logged_in(client)


@pytest.mark.usefixtures("company")
def test_the_password_page_needs_a_login_and_is_in_the_navbar(client):
    assert client.get("/account/password").status_code == 302
    log_in(client)
    assert client.get("/account/password").status_code == 200
    assert "/account/password" in str(client.get("/_dash-layout").json)


@pytest.mark.usefixtures("company")
def test_set_password_command_ends_every_login(app, client):
    log_in(client, remember=True)
    remember = cookie(client, "remember_token")
    result = app.test_cli_runner().invoke(
        args=["set-password", "--email", "Admin@Example.com"], input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert "password set for admin@example.com; 1 sign-ins ended" in result.output
    assert not is_logged_in(client)
    assert not is_logged_in(replay(app, "remember_token", remember))
    assert log_in(app.test_client(), password=NEW_PASSWORD).status_code == 302


@pytest.mark.usefixtures("company")
def test_set_password_command_refuses_unknown_users_and_short_passwords(app):
    runner = app.test_cli_runner()
    unknown = runner.invoke(args=["set-password", "--email", "nobody@example.com"], input="long enough\n" * 2)
    assert unknown.exit_code == 1 and "no user with the email nobody@example.com" in unknown.output
    short = runner.invoke(args=["set-password", "--email", "admin@example.com"], input="short\nshort\n")
    assert short.exit_code == 1 and "at least 8 characters" in short.output


@pytest.mark.usefixtures("company")
@pytest.mark.calendar
def test_an_idle_login_expires(app, client, sessions):
    log_in(client)
    idle = app.config["REMEMBER_COOKIE_DURATION"] + timedelta(minutes=1)
    with transaction(sessions) as session:
        session.execute(update(LoginSession).values(last_seen_at=utcnow() - idle))
    assert not is_logged_in(client)


@pytest.mark.usefixtures("company")
def test_a_cookie_naming_a_user_id_is_no_login(client):
    """Cookies from before server-side sessions held the user id: they log nobody in now."""
    with client.session_transaction() as session:
        session["_user_id"] = "1"
    assert not is_logged_in(client)


@pytest.mark.browser
def test_changing_the_password_in_the_browser_signs_out_the_other_browser(live_server, chromium):
    engine = make_engine(live_server.database_url)
    migrate.upgrade(engine)
    with transaction(make_session_factory(engine)) as session:
        company = Company(name="Acme Audio", timezone="UTC", currency="USD")
        accounts.create_user(session, company, "admin@example.com", TEST_PASSWORD, role="admin")
    engine.dispose()
    url = live_server.start("--no-demo")
    mine, other = (chromium.new_context().new_page() for _ in range(2))
    for page in (mine, other):
        page.goto(url + "/login")
        page.fill("#email", "admin@example.com")
        page.fill("#password", TEST_PASSWORD)
        page.check("#remember")
        page.click("button[type=submit]")
        expect(page.locator("#nav-company")).to_have_text("Acme Audio", timeout=20_000)

    mine.click("#nav-account")  # the account menu
    mine.click("text=Change password")
    mine.fill("#current_password", TEST_PASSWORD)
    mine.fill("#new_password", NEW_PASSWORD)
    mine.fill("#confirm", NEW_PASSWORD)
    mine.click("button[type=submit]")
    expect(mine.locator(".alert-success")).to_contain_text("Password changed")
    mine.goto(url + "/")
    expect(mine.locator("#nav-company")).to_have_text("Acme Audio", timeout=20_000)
    other.goto(url + "/")  # its session and remember-me cookies name a revoked login
    expect(other).to_have_url(f"{url}/login?next=/")
    for page in (mine, other):
        page.context.close()
