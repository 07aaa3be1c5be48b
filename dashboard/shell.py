"""The frame around every page: the navbar (from the page registry; it collapses behind a toggler
on a phone), the filter bar on the pages that use it, the page, the refresh timer with its pause
button, and the light or dark theme."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, dcc, html
from flask_login import current_user

from dashboard import filters
from db.models import Company, User
from db.preferences import set_preferences
from web.context import db_session, state

REFRESH = "refresh-interval"
PAUSE = "refresh-pause"
NAV_TOGGLE = "nav-toggle"
NAV_COLLAPSE = "nav-collapse"
NAV_LINK = "nav-link"
THEME = "theme"
THEME_SWITCH = "theme-switch"
THEME_APPLIED = "theme-applied"
FILTERED_PATHS = ("/",)  # pages that read the filter bar
HIDDEN_PAGES = ("/404",)


def nav_pages() -> list[dict]:
    return [page for page in dash.page_registry.values() if page["path"] not in HIDDEN_PAGES]


def navbar(dark: bool, paused: bool) -> dbc.Navbar:
    company = db_session().get(Company, current_user.company_id) if current_user.is_authenticated else None
    links = [
        dbc.NavItem(dbc.NavLink(page["name"], href=page["relative_path"], id={"type": NAV_LINK, "index": page["path"]}))
        for page in nav_pages()
    ]
    email = current_user.email if current_user.is_authenticated else ""
    menu = dbc.DropdownMenu(
        [
            dbc.DropdownMenuItem("Change password", href="/account/password", external_link=True),
            dbc.DropdownMenuItem(divider=True),
            html.Form(  # a POST (see auth.logout), sent by the browser itself, allowed by form-action 'self'
                html.Button("Sign out", type="submit", className="dropdown-item"),
                action="/logout",
                method="post",
                className="m-0",
            ),
        ],
        label=email,
        nav=True,
        align_end=True,
        id="nav-account",
    )
    account = [
        html.Span(company.name if company else "", className="navbar-text text-light me-2", id="nav-company"),
        dbc.Switch(id=THEME_SWITCH, label="Dark", value=dark, className="navbar-text text-light mb-0 me-2"),
        dbc.Button(
            "Resume refresh" if paused else "Pause refresh",
            id=PAUSE,
            size="sm",
            color="light",
            outline=True,
            className="me-2",
        ),
        dbc.Nav(menu, navbar=True),
    ]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand([html.Img(src="/assets/logo.svg", height="28"), "ChannelPulse"], href="/"),
                dbc.NavbarToggler(id=NAV_TOGGLE, n_clicks=0),
                dbc.Collapse(
                    [
                        dbc.Nav(links, navbar=True, className="me-auto"),
                        html.Div(
                            account, className="d-flex flex-wrap align-items-lg-center gap-2 gap-lg-0 py-2 py-lg-0"
                        ),
                    ],
                    id=NAV_COLLAPSE,
                    is_open=False,
                    navbar=True,
                ),
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        expand="lg",
        className="mb-3",
    )


def shell() -> html.Div:
    """Called for every page load, inside the request, so it can show who is logged in and use
    their preferences (theme, refresh interval; REFRESH_SECONDS overrides the interval)."""
    prefs = filters.own_preferences()
    seconds = state().settings.refresh_seconds or prefs.refresh_seconds
    return html.Div(
        [
            navbar(prefs.theme == "dark", paused=not seconds),
            dbc.Container([filters.filter_bar(), dash.page_container], fluid=True, className="pb-4"),
            dcc.Interval(id=REFRESH, interval=(seconds or 30) * 1000, disabled=not seconds),
            dcc.Store(id=THEME, data=prefs.theme),
            dcc.Store(id=THEME_APPLIED),
        ]
    )


def save_theme(dark: object) -> str:
    """The navbar's switch: the theme is the user's preference, kept for their next visit."""
    theme = "dark" if dark is True else "light"
    session = db_session()
    user = session.get(User, current_user.id)
    if user is not None and user.theme != theme:
        set_preferences(session, user, theme=theme)
        session.commit()
    return theme


def nav_state(pathname: object, search: object, ids: list[dict]) -> tuple[list, list, dict]:
    """Links carry the filters to the next page; the current page's link is active; the filter
    bar shows only on the pages that read it."""
    query = search if isinstance(search, str) and len(search) <= 2_000 else ""
    here = pathname if isinstance(pathname, str) else "/"
    hrefs = [f"{i['index']}{query}" for i in ids]
    active = [i["index"] == here for i in ids]
    return hrefs, active, {} if here in FILTERED_PATHS else {"display": "none"}


def register(app: Dash) -> None:
    filters.register(app)
    app.callback(
        Output({"type": NAV_LINK, "index": ALL}, "href"),
        Output({"type": NAV_LINK, "index": ALL}, "active"),
        Output(filters.BAR, "style"),
        Input(filters.FILTER_URL, "pathname"),
        Input(filters.FILTER_URL, "search"),
        State({"type": NAV_LINK, "index": ALL}, "id"),
    )(nav_state)
    app.clientside_callback(
        "function (n, open) { return n ? !open : open; }",
        Output(NAV_COLLAPSE, "is_open"),
        Input(NAV_TOGGLE, "n_clicks"),
        State(NAV_COLLAPSE, "is_open"),
    )
    app.clientside_callback(
        """function (n, disabled) {
            if (!n) { return [disabled, disabled ? "Resume refresh" : "Pause refresh"]; }
            return [!disabled, disabled ? "Pause refresh" : "Resume refresh"];
        }""",
        Output(REFRESH, "disabled"),
        Output(PAUSE, "children"),
        Input(PAUSE, "n_clicks"),
        State(REFRESH, "disabled"),
    )
    app.callback(Output(THEME, "data"), Input(THEME_SWITCH, "value"), prevent_initial_call=True)(save_theme)
    app.clientside_callback(
        """function (theme) {
            document.documentElement.setAttribute("data-bs-theme", theme === "dark" ? "dark" : "light");
            return window.dash_clientside.no_update;
        }""",
        Output(THEME_APPLIED, "data"),  # a callback needs an output; the work is the attribute on <html>
        Input(THEME, "data"),
    )
