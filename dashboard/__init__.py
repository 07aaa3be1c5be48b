"""The Dash app, mounted on the Flask server behind the login."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from dash import Dash, ctx
from dash.exceptions import CallbackException, InvalidCallbackReturnValue, PreventUpdate
from flask import Flask
from werkzeug.exceptions import BadRequest

from dashboard import shell
from dashboard.pages import channels, forecasts, not_found_404, overview, reconciliation, settings
from settings import PROJECT_ROOT
from web.security import trust_inline_scripts

log = logging.getLogger(__name__)

PAGES = (overview, forecasts, channels, reconciliation, settings, not_found_404)
DISPATCH = "/_dash-update-component"


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
        on_error=callback_failed,
    )
    for page in PAGES:
        page.register(app)
    shell.register(app)
    app.layout = shell.shell
    # Dash's index page runs a few inline scripts (the renderer, the pages router): allow exactly those.
    trust_inline_scripts(server, app.csp_hashes)
    server.view_functions[DISPATCH] = refuse_malformed(server.view_functions[DISPATCH])
    return app


def callback_failed(error: Exception) -> None:
    """The last resort when a callback raises (our callbacks check their inputs first, but Dash's
    own page routing trusts the pathname it is sent): log it and leave the page as it is (no
    update) instead of answering 500."""
    outputs = ",".join(f"{o['id']}.{o['property']}" for o in _flat(ctx.outputs_list))
    log.error("callback failed outputs=%s error=%s", outputs, type(error).__name__, exc_info=error)


def _flat(items: list | dict) -> list[dict]:
    if isinstance(items, dict):
        return [items]
    return [leaf for item in items for leaf in _flat(item)]


def refuse_malformed(dispatch: Callable) -> Callable:
    """Dash raises on a callback request it cannot match (an unknown output, inputs that do not fit
    the callback, a body that is not an object): that is the client's error, a 400, not a 500.
    Errors inside callbacks never get here (callback_failed handles them)."""

    @functools.wraps(dispatch)  # keeps the view's name: CSRF exemptions key on dash.dash.dispatch
    def guarded(*args, **kwargs):
        try:
            return dispatch(*args, **kwargs)
        except (PreventUpdate, InvalidCallbackReturnValue):
            raise
        except (LookupError, TypeError, AttributeError, ValueError, CallbackException) as exc:
            log.warning("malformed callback request error=%s", type(exc).__name__)
            raise BadRequest("Malformed Dash callback request.") from None

    return guarded
