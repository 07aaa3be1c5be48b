"""The frame around every page: navbar from the page registry, the page, the refresh timer."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html
from flask_login import current_user

from db.models import Company
from web.context import db_session

REFRESH = "refresh-interval"
REFRESH_MS = 30_000


def navbar() -> dbc.Navbar:
    company = db_session().get(Company, current_user.company_id) if current_user.is_authenticated else None
    links = [
        dbc.NavItem(dbc.NavLink(page["name"], href=page["relative_path"], active="exact"))
        for page in dash.page_registry.values()
    ]
    account = [
        html.Span(company.name if company else "", className="navbar-text text-light me-3", id="nav-company"),
        html.Span(current_user.email if current_user.is_authenticated else "", className="navbar-text me-3"),
        html.A("Change password", href="/account/password", className="nav-link text-light me-3"),
        html.Form(  # a POST (see auth.logout), sent by the browser itself: no callback, allowed by form-action 'self'
            dbc.Button("Sign out", type="submit", size="sm", color="light", outline=True),
            action="/logout",
            method="post",
            className="m-0",
        ),
    ]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand([html.Img(src="/assets/logo.svg", height="28"), "ChannelPulse"], href="/"),
                dbc.Nav(links, navbar=True, className="me-auto"),
                html.Div(account, className="d-flex align-items-center"),
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        className="mb-3",
    )


def shell() -> html.Div:
    """Called for every page load, inside the request, so it can show who is logged in."""
    return html.Div(
        [
            navbar(),
            dbc.Container(dash.page_container, fluid=True, className="pb-4"),
            dcc.Interval(id=REFRESH, interval=REFRESH_MS),
        ]
    )
