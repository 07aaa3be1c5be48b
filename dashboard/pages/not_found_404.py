"""The page for a path no page has: says so and offers the way home (Dash's page router shows
the page registered from a module named not_found_404)."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Dash, html


def layout(**_query) -> html.Div:
    return html.Div(
        [
            html.H1("Page not found", className="h3"),
            html.P("There is no page at this address. It may have moved, or the link may be mistyped."),
            dbc.Button("Go to the Overview", href="/", color="primary"),
        ],
        className="py-5 text-center",
        id="not-found",
    )


def register(app: Dash) -> None:
    del app  # no callbacks
    dash.register_page(__name__, path="/404", name="Not found", title="Not found · ChannelPulse", layout=layout)
