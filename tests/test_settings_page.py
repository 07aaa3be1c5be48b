"""The Settings page's callbacks, posted as the browser (or someone replaying its requests) posts
them: each admin action works, bad input of any type is a message and changes nothing, another
company's ids are never touched, and a viewer is refused even when posting by hand."""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from db import companies, preferences
from db.accounts import hash_token
from db.engine import transaction
from db.models import AnalyticsDaily, ApiToken, Company, LoginSession, Order, Platform, User
from records import ValidationError
from tests.conftest import TEST_PASSWORD, AuthActions
from tests.dash_client import dash_post, find, text
from tests.hand_orders import Line, sale, write

COMPANY_OUT = [
    ("settings-company-preview", "children"),
    ("settings-company-save", "disabled"),
    ("settings-company-save-why", "children"),
]
USERS_OUT = [
    ("settings-users", "children"),
    ("settings-users-status", "children"),
    ("settings-user-confirm", "is_open"),
    ("settings-user-confirm-text", "children"),
    ("settings-user-pending", "data"),
]
TOKENS_OUT = [
    ("settings-tokens", "children"),
    ("settings-tokens-status", "children"),
    ("settings-token-confirm", "is_open"),
    ("settings-token-confirm-text", "children"),
    ("settings-token-pending", "data"),
]
BAD_VALUES = [None, 123, -1, 1.5, True, "", ["x"], {"a": 1}, "9" * 5000]


def entry(component: object, prop: str, value: object) -> dict:
    return {"id": component, "property": prop, "value": value}


def changed_id(component: object, prop: str) -> str:
    key = json.dumps(component, sort_keys=True, separators=(",", ":")) if isinstance(component, dict) else component
    return f"{key}.{prop}"


# --- posting each callback -------------------------------------------------------------------


def post_company(client, timezone: object, currency: object, dating: object, save: bool = False) -> dict:
    values = [("settings-timezone", timezone), ("settings-currency", currency), ("settings-refund-dating", dating)]
    inputs = [entry(i, "value", v) for i, v in values] + [
        entry("settings-company-save", "n_clicks", 1 if save else None)
    ]
    changed = "settings-company-save.n_clicks" if save else "settings-timezone.value"
    return dash_post(client, COMPANY_OUT, inputs, [changed])


def post_preferences(client, default_range: object, refresh: object, theme: object) -> str:
    state = [
        entry("settings-default-range", "value", default_range),
        entry("settings-refresh", "value", refresh),
        entry("settings-theme", "value", theme),
    ]
    inputs = [entry("settings-preferences-save", "n_clicks", 1)]
    answer = dash_post(
        client, [("settings-preferences-status", "children")], inputs, ["settings-preferences-save.n_clicks"], state
    )
    return text(answer["settings-preferences-status"]["children"])


def post_users(
    client, clicked: tuple[object, str], email: object = None, role: object = "viewer", pending=None
) -> dict:
    """The users card's callback after a click on `clicked` (component id, property)."""
    role_buttons, remove_buttons = [], []
    if isinstance(clicked[0], dict) and clicked[0]["type"] == "settings-user-role":
        role_buttons = [entry(clicked[0], "n_clicks", 1)]
    if isinstance(clicked[0], dict) and clicked[0]["type"] == "settings-user-remove":
        remove_buttons = [entry(clicked[0], "n_clicks", 1)]
    plain = {
        i: 1 if clicked[0] == i else None
        for i in ("settings-invite", "settings-user-confirm-yes", "settings-user-confirm-no")
    }
    inputs = [
        entry("settings-invite", "n_clicks", plain["settings-invite"]),
        role_buttons,
        remove_buttons,
        entry("settings-user-confirm-yes", "n_clicks", plain["settings-user-confirm-yes"]),
        entry("settings-user-confirm-no", "n_clicks", plain["settings-user-confirm-no"]),
    ]
    state = [
        entry("settings-invite-email", "value", email),
        entry("settings-invite-role", "value", role),
        entry("settings-user-pending", "data", pending),
    ]
    return dash_post(client, USERS_OUT, inputs, [changed_id(*clicked)], state)


def post_tokens(client, clicked: tuple[object, str], name: object = None, pending=None) -> dict:
    revoke = [entry(clicked[0], "n_clicks", 1)] if isinstance(clicked[0], dict) else []
    plain = {
        i: 1 if clicked[0] == i else None
        for i in ("settings-token-create", "settings-token-confirm-yes", "settings-token-confirm-no")
    }
    inputs = [
        entry("settings-token-create", "n_clicks", plain["settings-token-create"]),
        revoke,
        entry("settings-token-confirm-yes", "n_clicks", plain["settings-token-confirm-yes"]),
        entry("settings-token-confirm-no", "n_clicks", plain["settings-token-confirm-no"]),
    ]
    state = [entry("settings-token-name", "value", name), entry("settings-token-pending", "data", pending)]
    return dash_post(client, TOKENS_OUT, inputs, [changed_id(*clicked)], state)


def status(answer: dict, card: str) -> str:
    return text(answer[f"settings-{card}-status"]["children"])


def page(client, path: str = "/settings") -> list:
    client.get("/")  # Dash registers its page-routing callback on the first page load
    inputs = [entry("_pages_location", "pathname", path), entry("_pages_location", "search", "")]
    return dash_post(
        client, [("_pages_content", "children"), ("_pages_store", "data")], inputs, ["_pages_location.pathname"]
    )["_pages_content"]["children"]


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def shop(sessions, company) -> int:
    """Our Shopify store with two orders at noon New York time (5 pm UTC), one returned later."""
    with transaction(sessions) as session:
        platform = Platform(company_id=company.id, kind="shopify", display_name="Web store", currency="USD", config={})
        session.add(platform)
        session.flush()
        orders = [
            sale("1", date(2026, 3, 2), [Line("A", "Amp", 1, "100.00")], returned=(date(2026, 3, 5), 1)),
            sale("2", date(2026, 3, 3), [Line("B", "Box", 2, "10.00")]),
        ]
        write(session, platform, orders, "America/New_York")
        return platform.id


@pytest.fixture
def other(sessions, company) -> dict[str, int]:
    """Another company with its own admin and API token."""
    with transaction(sessions) as session:
        theirs = Company(name="Other Co", timezone="UTC", currency="EUR")
        user = User(email="boss@other.example", password_hash="x", company=theirs, role="admin")
        session.add_all([theirs, user])
        session.flush()
        token = ApiToken(
            company_id=theirs.id, name="theirs", prefix="cp_other", token_hash=hash_token("cp_other-token")
        )
        session.add(token)
        session.flush()
        return {"company": theirs.id, "user": user.id, "token": token.id}


def company_row(sessions, company_id: int) -> tuple:
    with sessions() as session:
        c = session.get(Company, company_id)
        return c.timezone, c.currency, c.refund_dating, c.data_version


def daily(sessions, company_id: int) -> dict[date, tuple]:
    with sessions() as session:
        rows = session.scalars(select(AnalyticsDaily).where(AnalyticsDaily.company_id == company_id))
        return {r.day: (r.orders, r.gross_sales, r.returns, r.currency) for r in rows}


def users(sessions, company_id: int) -> dict[str, tuple]:
    with sessions() as session:
        return {
            u.email: (u.role, u.must_change_password)
            for u in session.scalars(select(User).where(User.company_id == company_id))
        }


def user_id(sessions, email: str) -> int:
    with sessions() as session:
        return session.scalar(select(User.id).where(User.email == email))


# --- company settings -----------------------------------------------------------------------


def test_the_form_says_what_a_change_does_before_saving_it(client, auth, sessions, company, shop):
    auth.login()
    before = company_row(sessions, company.id)
    answer = post_company(client, "America/New_York", "USD", "order")
    preview = text(answer["settings-company-preview"]["children"])
    assert "Returns are booked on the order's day." in preview
    assert "Saving recomputes 3 days of figures" in preview  # 2 sale days and the return's day
    assert answer["settings-company-save"]["disabled"] is False
    assert company_row(sessions, company.id) == before  # a preview writes nothing

    moved = text(post_company(client, "Asia/Tokyo", "USD", "processed")["settings-company-preview"]["children"])
    assert "Time zone America/New_York → Asia/Tokyo: 2 orders and their returns move" in moved

    same = post_company(client, "America/New_York", "USD", "processed")
    assert same["settings-company-save"]["disabled"] is True
    assert (
        text(same["settings-company-save-why"]["children"])
        == "Nothing to save: no setting differs from the saved ones."
    )


def test_saving_refund_dating_recomputes_the_rollups(client, auth, sessions, company, shop):
    auth.login()
    assert daily(sessions, company.id)[date(2026, 3, 5)][2] == 100  # the return on its own day
    answer = post_company(client, "America/New_York", "USD", "order", save=True)
    assert "Saved (refund dating)" in text(answer["settings-company-preview"]["children"])
    assert answer["settings-company-save"]["disabled"] is True
    after = daily(sessions, company.id)
    assert after[date(2026, 3, 2)][2] == 100 and date(2026, 3, 5) not in after
    assert company_row(sessions, company.id)[2] == "order"
    assert client.get("/api/v1/company").json["refund_dating"] == "order"  # the API reads the same row


def test_a_new_time_zone_moves_orders_to_its_days(client, auth, sessions, company, shop):
    """Noon in New York is 2 am the next day in Tokyo: every order, return and rollup moves a day."""
    auth.login()
    version = company_row(sessions, company.id)[3]
    post_company(client, "Asia/Tokyo", "USD", "processed", save=True)
    timezone, _, _, new_version = company_row(sessions, company.id)
    assert timezone == "Asia/Tokyo" and new_version > version
    with sessions() as session:
        assert sorted(session.scalars(select(Order.order_day))) == [date(2026, 3, 3), date(2026, 3, 4)]
    after = daily(sessions, company.id)
    assert sorted(after) == [date(2026, 3, 3), date(2026, 3, 4), date(2026, 3, 6)]
    assert after[date(2026, 3, 3)][:2] == (1, 100) and after[date(2026, 3, 6)][2] == 100


@pytest.mark.parametrize(
    ("timezone", "currency", "dating", "message"),
    [
        ("Mars/Olympus_Mons", "USD", "processed", "timezone must be an IANA time zone"),
        (
            "America",
            "USD",
            "processed",
            "timezone must be an IANA time zone",
        ),  # a folder: ZoneInfo raised IsADirectoryError
        ("localtime", "USD", "processed", "timezone must be an IANA time zone"),
        ("../../etc/passwd", "USD", "processed", "timezone must be an IANA time zone"),
        ("America/New_York", "EURO", "processed", "currency must be a 3-letter currency code"),
        ("America/New_York", "US$", "processed", "currency must be a 3-letter currency code"),
        ("America/New_York", "USD", "whenever", "refund_dating must be one of processed, order"),
    ]
    + [(bad, "USD", "order", "timezone must be") for bad in BAD_VALUES]
    + [("UTC", bad, "order", "currency must be") for bad in BAD_VALUES]
    + [("UTC", "EUR", bad, "refund_dating must be") for bad in BAD_VALUES],
)
def test_bad_company_settings_are_a_message_and_change_nothing(
    client, auth, sessions, company, shop, timezone, currency, dating, message
):
    auth.login()
    before, rollups = company_row(sessions, company.id), daily(sessions, company.id)
    for save in (False, True):
        answer = post_company(client, timezone, currency, dating, save=save)
        assert message in text(answer["settings-company-preview"]["children"])
        assert answer["settings-company-save"]["disabled"] is True
        assert text(answer["settings-company-save-why"]["children"]) == "Correct the setting above to save."
    assert company_row(sessions, company.id) == before and daily(sessions, company.id) == rollups


def test_a_currency_without_rates_is_refused_and_nothing_changes(client, auth, sessions, company, shop):
    auth.login()
    before, rollups = company_row(sessions, company.id), daily(sessions, company.id)
    answer = post_company(client, "Asia/Tokyo", "EUR", "order", save=True)
    message = text(answer["settings-company-preview"]["children"])
    assert message.startswith("Cannot report in EUR: no USD->EUR exchange rate on or before")
    assert "Upload exchange rates first." in message
    assert company_row(sessions, company.id) == before and daily(sessions, company.id) == rollups
    with sessions() as session:  # the time zone's re-dating went back too
        assert sorted(session.scalars(select(Order.order_day))) == [date(2026, 3, 2), date(2026, 3, 3)]


def test_a_viewer_cannot_change_company_settings_even_by_posting(client, auth, sessions, company, shop):
    auth.login("viewer@example.com")
    before = company_row(sessions, company.id)
    answer = post_company(client, "Asia/Tokyo", "EUR", "order", save=True)
    assert text(answer["settings-company-preview"]["children"]) == "Only an admin can change company settings."
    assert answer["settings-company-save"]["disabled"] is True
    assert company_row(sessions, company.id) == before


def test_the_api_takes_the_same_settings_through_the_same_checks(client, auth, sessions, company, shop):
    auth.login()
    refused = client.patch("/api/v1/company", json={"timezone": "America"})
    assert refused.status_code == 400 and refused.json["error"]["field"] == "timezone"
    assert client.patch("/api/v1/company", json={"currency": "EUR"}).status_code == 400  # no rates
    assert client.patch("/api/v1/company", json={}).status_code == 400
    assert client.patch("/api/v1/company", json={"name": "Evil"}).status_code == 400
    assert company_row(sessions, company.id)[:3] == ("America/New_York", "USD", "processed")
    changed = client.patch("/api/v1/company", json={"timezone": "Asia/Tokyo", "currency": "usd"})
    assert changed.status_code == 200 and changed.json["timezone"] == "Asia/Tokyo" and changed.json["currency"] == "USD"
    assert sorted(daily(sessions, company.id)) == [date(2026, 3, 3), date(2026, 3, 4), date(2026, 3, 6)]


# --- preferences ------------------------------------------------------------------------------


def test_preferences_are_the_users_own_and_persist(client, auth, sessions, company):
    viewer = user_id(sessions, "viewer@example.com")
    with sessions() as session:
        assert preferences.preferences_of(session, viewer) == preferences.Preferences("30d", 30, "light")
    auth.login("viewer@example.com")  # any user sets their own
    message = post_preferences(client, "ytd", 0, "dark")
    assert message == "Saved: year to date, refresh paused, dark theme. They apply from your next page load."
    with sessions() as session:
        assert preferences.preferences_of(session, viewer) == preferences.Preferences("ytd", 0, "dark")
        admin = session.scalar(select(User).where(User.email == "admin@example.com"))
        assert preferences.preferences(admin) == preferences.DEFAULTS  # nobody else's changed


@pytest.mark.parametrize(
    ("default_range", "refresh", "theme", "message"),
    [
        ("2y", 30, "light", "default date range"),
        ("7d", 45, "light", "refresh interval"),
        ("7d", "30", "light", "refresh interval"),
    ]
    + [
        ("7d", 30.0, "light", "refresh interval"),
        ("7d", True, "light", "refresh interval"),
        ("7d", 30, "blue", "theme"),
    ]
    + [(bad, 30, "light", "default date range") for bad in BAD_VALUES]
    + [("7d", bad, "light", "refresh interval") for bad in BAD_VALUES]
    + [("7d", 30, bad, "theme") for bad in BAD_VALUES],
)
def test_bad_preferences_are_a_message_and_change_nothing(
    client, auth, sessions, company, default_range, refresh, theme, message
):
    auth.login("viewer@example.com")
    assert message in post_preferences(client, default_range, refresh, theme)
    with sessions() as session:
        assert preferences.preferences_of(session, user_id(sessions, "viewer@example.com")) == preferences.DEFAULTS


def test_set_preferences_checks_every_value_before_setting_any(sessions, company):
    with sessions() as session:
        user = session.scalar(select(User).where(User.email == "viewer@example.com"))
        with pytest.raises(ValidationError, match="theme"):
            preferences.set_preferences(session, user, default_range="7d", theme="neon")
        assert preferences.preferences(user) == preferences.DEFAULTS
        with pytest.raises(ValidationError, match="not a preference"):
            preferences.set_preferences(session, user, font="Comic Sans")
        assert preferences.set_preferences(session, user, refresh_seconds=300).refresh_seconds == 300


# --- users ------------------------------------------------------------------------------------


def test_an_admin_invites_a_user_who_must_choose_a_password_first(app, client, auth, sessions, company, caplog):
    caplog.set_level(logging.DEBUG)
    auth.login()
    answer = post_users(client, ("settings-invite", "n_clicks"), email=" New.Person@Example.com ", role="viewer")
    password = text(find(answer["settings-users-status"]["children"], "settings-invite-password"))
    assert len(password) >= 16 and "it is not shown again" in status(answer, "users")
    assert users(sessions, company.id)["new.person@example.com"] == ("viewer", True)
    assert "new.person@example.com" in text(answer["settings-users"]["children"])
    assert not [r for r in caplog.records if password in r.getMessage()]

    newcomer = app.test_client()
    AuthActions(newcomer).login("new.person@example.com", password)
    assert newcomer.get("/settings").headers["Location"].endswith("/account/password")
    blocked = newcomer.get("/api/v1/company")
    assert blocked.status_code == 403 and blocked.json["error"]["code"] == "password_change_required"
    page_text = newcomer.get("/account/password").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page_text).group(1)
    assert "one-time password" in page_text
    form = {"current_password": password, "new_password": TEST_PASSWORD, "confirm": TEST_PASSWORD, "csrf_token": token}
    assert newcomer.post("/account/password", data=form).status_code == 302
    assert newcomer.get("/api/v1/company").status_code == 200
    assert users(sessions, company.id)["new.person@example.com"] == ("viewer", False)


@pytest.mark.parametrize(
    ("email", "role", "message"),
    [
        ("not-an-email", "viewer", "Enter an email address"),
        ("a" * 250 + "@example.com", "viewer", "Enter an email address"),
        ("viewer@example.com", "viewer", "viewer@example.com already has an account."),
        ("boss@other.example", "admin", "boss@other.example already has an account."),
        ("new@example.com", "owner", "The role must be one of admin, viewer."),
    ]
    + [(bad, "viewer", "Enter an email address") for bad in BAD_VALUES]
    + [("new@example.com", bad, "The role must be one of") for bad in BAD_VALUES],
)
def test_a_bad_invitation_is_a_message_and_adds_nobody(client, auth, sessions, company, other, email, role, message):
    auth.login()
    before = users(sessions, company.id)
    answer = post_users(client, ("settings-invite", "n_clicks"), email=email, role=role)
    assert message in status(answer, "users")
    assert users(sessions, company.id) == before


def role_button(user: int, role: str) -> tuple[dict, str]:
    return {"type": "settings-user-role", "index": user, "role": role}, "n_clicks"


def remove_button(user: int) -> tuple[dict, str]:
    return {"type": "settings-user-remove", "index": user}, "n_clicks"


def test_roles_change_but_the_last_admin_stays(client, auth, sessions, company):
    auth.login()
    admin, viewer = user_id(sessions, "admin@example.com"), user_id(sessions, "viewer@example.com")
    table = page(client)
    assert find(table, role_button(admin, "viewer")[0])["props"]["disabled"] is True  # and says why:
    assert "The only admin: make another user an admin" in text(find(table, f"settings-user-{admin}"))

    refused = post_users(client, role_button(admin, "viewer"))
    assert status(refused, "users") == "admin@example.com is the only admin: make another user an admin first."
    assert users(sessions, company.id)["admin@example.com"] == ("admin", False)

    promoted = post_users(client, role_button(viewer, "admin"))
    assert status(promoted, "users") == "viewer@example.com is now an admin."
    assert find(promoted["settings-users"]["children"], role_button(admin, "viewer")[0])["props"]["disabled"] is False
    demoted = post_users(client, role_button(admin, "viewer"))  # now there is another admin
    assert status(demoted, "users") == "admin@example.com is now a viewer."
    assert users(sessions, company.id) == {
        "admin@example.com": ("viewer", False),
        "viewer@example.com": ("admin", False),
    }
    # Roles are read at every request: the demoted admin's next click is refused.
    assert status(post_users(client, role_button(admin, "admin")), "users") == "Only an admin can manage users."


@pytest.mark.parametrize("index", [None, "1", 1.0, True, -1, 2**40, ["x"]])
def test_crafted_user_ids_are_a_message(client, auth, sessions, company, index):
    auth.login()
    before = users(sessions, company.id)
    for button in (role_button(index, "admin"), remove_button(index)):
        assert status(post_users(client, button), "users") == "No such user in your company."
    confirm = post_users(client, ("settings-user-confirm-yes", "n_clicks"), pending=index)
    assert status(confirm, "users") == "No such user in your company."
    assert users(sessions, company.id) == before


def test_another_companys_user_is_never_shown_or_touched(client, auth, sessions, company, other):
    auth.login()
    assert "boss@other.example" not in text(page(client))
    for button in (role_button(other["user"], "viewer"), remove_button(other["user"])):
        answer = post_users(client, button)
        assert status(answer, "users") == "No such user in your company."
        assert "boss@other.example" not in json.dumps(answer)
    confirm = post_users(client, ("settings-user-confirm-yes", "n_clicks"), pending=other["user"])
    assert status(confirm, "users") == "No such user in your company."
    assert users(sessions, other["company"]) == {"boss@other.example": ("admin", False)}


def test_removing_a_user_asks_first_and_signs_them_out(app, client, auth, sessions, company):
    viewer_client = app.test_client()
    AuthActions(viewer_client).login("viewer@example.com")
    assert viewer_client.get("/api/v1/company").status_code == 200
    auth.login()
    viewer, admin = user_id(sessions, "viewer@example.com"), user_id(sessions, "admin@example.com")

    asked = post_users(client, remove_button(viewer))
    assert asked["settings-user-confirm"]["is_open"] is True and asked["settings-user-pending"]["data"] == viewer
    assert "Remove viewer@example.com?" in text(asked["settings-user-confirm-text"]["children"])
    assert "viewer@example.com" in users(sessions, company.id)  # asking removes nothing

    cancelled = post_users(client, ("settings-user-confirm-no", "n_clicks"), pending=viewer)
    assert cancelled["settings-user-confirm"]["is_open"] is False and "viewer@example.com" in users(
        sessions, company.id
    )

    done = post_users(client, ("settings-user-confirm-yes", "n_clicks"), pending=viewer)
    assert status(done, "users") == "Removed viewer@example.com: they are signed out."
    assert done["settings-user-confirm"]["is_open"] is False
    assert set(users(sessions, company.id)) == {"admin@example.com"}
    assert viewer_client.get("/api/v1/company").status_code == 401
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(LoginSession).where(LoginSession.user_id == viewer)) == 0

    last = post_users(client, remove_button(admin))
    assert status(last, "users") == "admin@example.com is the only admin: make another user an admin first."
    again = post_users(client, ("settings-user-confirm-yes", "n_clicks"), pending=admin)  # a crafted confirmation
    assert status(again, "users") == "admin@example.com is the only admin: make another user an admin first."
    assert set(users(sessions, company.id)) == {"admin@example.com"}


def test_a_viewer_is_refused_every_user_action_even_by_posting(client, auth, sessions, company):
    auth.login("viewer@example.com")
    viewer, admin = user_id(sessions, "viewer@example.com"), user_id(sessions, "admin@example.com")
    before = users(sessions, company.id)
    for clicked, pending in [
        (("settings-invite", "n_clicks"), None),
        (role_button(viewer, "admin"), None),  # promoting themself
        (role_button(admin, "viewer"), None),
        (remove_button(admin), None),
        (("settings-user-confirm-yes", "n_clicks"), admin),
    ]:
        answer = post_users(client, clicked, email="friend@example.com", role="admin", pending=pending)
        assert status(answer, "users") == "Only an admin can manage users."
        assert answer["settings-user-confirm"]["is_open"] is False
    assert users(sessions, company.id) == before


# --- API tokens -------------------------------------------------------------------------------


def tokens(sessions, company_id: int) -> dict[str, tuple]:
    with sessions() as session:
        rows = session.scalars(select(ApiToken).where(ApiToken.company_id == company_id))
        return {t.name: (t.prefix, t.token_hash, t.revoked_at is not None) for t in rows}


def test_a_token_is_shown_once_and_works(app, client, auth, sessions, company, caplog):
    caplog.set_level(logging.DEBUG)
    auth.login()
    answer = post_tokens(client, ("settings-token-create", "n_clicks"), name="  Weekly report ")
    secret = text(find(answer["settings-tokens-status"]["children"], "settings-token-secret"))
    assert secret.startswith("cp_") and "it is not shown again" in status(answer, "tokens")
    assert tokens(sessions, company.id) == {"Weekly report": (secret[:8], hash_token(secret), False)}
    listed = text(answer["settings-tokens"]["children"])
    assert f"{secret[:8]}…" in listed and secret not in listed
    assert secret not in json.dumps(page(client))  # never again, not in the page either
    assert not [r for r in caplog.records if secret in r.getMessage()]
    reader = app.test_client()
    assert reader.get("/api/v1/company", headers={"Authorization": f"Bearer {secret}"}).json["name"] == "Acme Audio"


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, *BAD_VALUES])
def test_a_bad_token_name_is_a_message_and_creates_nothing(client, auth, sessions, company, name):
    auth.login()
    answer = post_tokens(client, ("settings-token-create", "n_clicks"), name=name)
    assert status(answer, "tokens") == "name must be 1-200 characters"
    assert tokens(sessions, company.id) == {}


def revoke_button(token: object) -> tuple[dict, str]:
    return {"type": "settings-token-revoke", "index": token}, "n_clicks"


def test_revoking_asks_first_and_the_token_stops_working(app, client, auth, sessions, company):
    auth.login()
    created = post_tokens(client, ("settings-token-create", "n_clicks"), name="Script")
    secret = text(find(created["settings-tokens-status"]["children"], "settings-token-secret"))
    with sessions() as session:
        token = session.scalar(select(ApiToken.id))
    asked = post_tokens(client, revoke_button(token))
    assert asked["settings-token-confirm"]["is_open"] is True and asked["settings-token-pending"]["data"] == token
    assert "Revoke Script" in text(asked["settings-token-confirm-text"]["children"])
    assert tokens(sessions, company.id)["Script"][2] is False
    done = post_tokens(client, ("settings-token-confirm-yes", "n_clicks"), pending=token)
    assert status(done, "tokens") == "Revoked Script." and done["settings-token-confirm"]["is_open"] is False
    assert tokens(sessions, company.id)["Script"][2] is True
    assert "Revoked" in text(find(done["settings-tokens"]["children"], f"settings-token-{token}"))
    assert app.test_client().get("/api/v1/company", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


@pytest.mark.parametrize("index", ["other", None, "1", True, -1, 2**40, ["x"]])
def test_another_companys_or_crafted_token_ids_are_a_message(client, auth, sessions, company, other, index):
    auth.login()
    token = other["token"] if index == "other" else index
    for clicked, pending in ((revoke_button(token), None), (("settings-token-confirm-yes", "n_clicks"), token)):
        answer = post_tokens(client, clicked, pending=pending)
        assert status(answer, "tokens") == "No such API token in your company."
        assert "theirs" not in json.dumps(answer)
    assert tokens(sessions, other["company"])["theirs"][2] is False


def test_a_viewer_is_refused_every_token_action_even_by_posting(client, auth, sessions, company, other):
    auth.login("viewer@example.com")
    for clicked, pending in (
        (("settings-token-create", "n_clicks"), None),
        (revoke_button(other["token"]), None),
        (("settings-token-confirm-yes", "n_clicks"), other["token"]),
    ):
        assert (
            status(post_tokens(client, clicked, name="mine", pending=pending), "tokens")
            == "Only an admin can manage API tokens."
        )
    assert tokens(sessions, company.id) == {} and tokens(sessions, other["company"])["theirs"][2] is False


# --- what each role sees ------------------------------------------------------------------------


def test_a_viewer_sees_the_settings_read_only_and_no_admin_controls(client, auth, company):
    auth.login("viewer@example.com")
    shown = page(client)
    assert "America/New_York" in text(find(shown, "settings-company-view"))
    for admin_only in (
        "settings-timezone",
        "settings-company-save",
        "settings-users",
        "settings-tokens",
        "settings-invite",
    ):
        assert find(shown, admin_only) is None, admin_only
    assert find(shown, "settings-preferences-save") is not None


def test_an_admin_sees_every_card(client, auth, company):
    auth.login()
    shown = page(client)
    for control in (
        "settings-timezone",
        "settings-company-save",
        "settings-users",
        "settings-tokens",
        "settings-preferences-save",
    ):
        assert find(shown, control) is not None, control
    assert find(shown, "settings-timezone")["props"]["value"] == "America/New_York"


def test_the_timezone_list_is_iana_zones_only():
    zones = companies.timezones()
    assert "America/New_York" in zones and "UTC" in zones
    assert not {"localtime", "posixrules", "Factory"} & set(zones)


@pytest.mark.parametrize("zone", ["America", "localtime", "Mars/Olympus"])
def test_every_route_taking_a_time_zone_refuses_a_folder_or_unknown_name_with_a_400(
    client, auth, sessions, company, zone
):
    """ZoneInfo("America") raises IsADirectoryError, which the CSV import and sales-report routes
    did not catch (a 500): they check zones with db/companies.py as PATCH /company does."""
    auth.login()
    with transaction(sessions) as session:
        shopify = Platform(company_id=company.id, kind="shopify", display_name="Store", currency="USD", config={})
        files = Platform(
            company_id=company.id, kind="csv", display_name="Files", currency="USD", config={"currency": "USD"}
        )
        session.add_all([shopify, files])
        session.flush()
        shopify_id, files_id = shopify.id, files.id
    for path in (f"/api/v1/platforms/{files_id}/import", f"/api/v1/platforms/{shopify_id}/sales-report"):
        data = {"file": (io.BytesIO(b"Day,Net sales\n"), "report.csv"), "timezone": zone}
        answer = client.post(path, data=data, content_type="multipart/form-data")
        assert answer.status_code == 400 and answer.json["error"]["field"] == "timezone", (path, answer.json)
    assert client.patch("/api/v1/company", json={"timezone": zone}).status_code == 400
