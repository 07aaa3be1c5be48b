"""The Dash app, mounted on the Flask server behind the login."""

from __future__ import annotations

from dash import Dash
from flask import Flask

from dashboard.pages import channels, overview, reconciliation
from dashboard.shell import shell
from settings import PROJECT_ROOT
from web_security import trust_inline_scripts

PAGES = (overview, channels, reconciliation)


def init_dashboard(server: Flask) -> Dash:
    app = Dash(
        __name__,
        server=server,
        use_pages=True,
        pages_folder="",
        assets_folder=str(PROJECT_ROOT / "assets"),
        # Served for /api/docs only; Dash would otherwise load Swagger UI into every page.
        assets_path_ignore=["^swagger-ui$"],
        title="ChannelPulse",
        update_title=None,
        suppress_callback_exceptions=True,
        serve_locally=True,
    )
    for page in PAGES:
        page.register(app)
    app.layout = shell
    # Dash's index page runs a few inline scripts (the renderer, the pages router): allow exactly those.
    trust_inline_scripts(server, app.csp_hashes)
    return app
