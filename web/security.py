"""Browser-facing defences for every route (API, Dash, Flask pages): cross-origin writes refused,
and the security headers on every response.

Cross-site request forgery. A write sent with our login cookie must come from our own origin.
The check is Go 1.25's `net/http.CrossOriginProtection` (Filippo Valsorda, "CSRF", 2025): safe
methods pass; a browser's `Sec-Fetch-Site` must say `same-origin` (or `none`: the user typed
it); without that header, a request with no `Origin` is not from a browser and passes; else the
Origin's host[:port] must be our Host. SameSite cookies cannot do this job: 127.0.0.1:9999 and
127.0.0.1:8050 are two origins but one site, as are two apps under one registrable domain.
A token in every form (Flask-WTF's CSRFProtect) would also work, but Dash's callbacks, the API
and Swagger UI's "Try it out" would each need the token threaded through; these headers come
from the browser itself, on every kind of request, so nothing needs threading. The login form
keeps its Flask-WTF token: it is posted before there is a login cookie to check.
A request carrying no cookie of ours (an API token, a webhook) cannot be forged by a browser
into acting as a user, so it is not checked.

Headers: a fixed policy set by one after_request hook rather than flask-talisman, whose
defaults fight this app (it forces HTTPS redirects and Secure session cookies, wrong for
`make run` on http://127.0.0.1) and whose CSP would be this same dict passed through.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, Request, Response, abort, current_app, jsonify, request
from flask_login.config import COOKIE_NAME as REMEMBER_COOKIE_DEFAULT

from web.errors import error_body

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CROSS_ORIGIN_MESSAGE = (
    "Cross-origin request refused: a change made with a login cookie must come from this site's own "
    "pages. Scripts and other sites use an API token (Authorization: Bearer) instead."
)

# script-src also gets the hashes of Dash's inline scripts (trust_inline_scripts).
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    # plotly.js adds its own <style> rules at run time (plotly.js#2355, #7543).
    "style-src": ["'self'", "'unsafe-inline'"],
    # Bootstrap's and Swagger UI's icons, and plotly's modebar logo, are data: URIs.
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
HEADERS = {
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # our URLs (ids, dates, filters) are nobody else's business
}
HSTS = "max-age=63072000; includeSubDomains"  # two years, the length hstspreload.org recommends
EXTENSION = "web_security"


@dataclass
class HeaderSettings:
    production: bool
    inline_scripts: Callable[[], Iterable[str]] = tuple


def init_web_security(app: Flask, *, production: bool) -> None:
    """Register the cross-origin check (first, before any login lookup) and the headers.
    HSTS only in production: on http://127.0.0.1 it would pin every local port to https."""
    app.extensions[EXTENSION] = HeaderSettings(production)
    app.before_request(refuse_cross_origin_writes)
    app.after_request(add_security_headers)


def trust_inline_scripts(app: Flask, sources: Callable[[], Iterable[str]]) -> None:
    """Allow the inline scripts whose CSP hash sources `sources()` returns, and no others. Asked
    on every response: Dash adds its pages router's script only when it serves its first request."""
    app.extensions[EXTENSION].inline_scripts = sources


def is_cross_origin(req: Request) -> bool:
    """Go's CrossOriginProtection.Check (net/http, Go 1.25): True when a browser sent this
    state-changing request from another origin. Host is compared without the scheme, as Go does."""
    if req.method in SAFE_METHODS:
        return False
    fetch_site = req.headers.get("Sec-Fetch-Site", "")
    if fetch_site:
        return fetch_site not in ("same-origin", "none")
    origin = req.headers.get("Origin", "")
    if not origin:
        return False  # neither header: not a browser, or a browser too old to say (fail open, like Go)
    return urlsplit(origin).netloc.lower() != req.host.lower()


def _carries_login_cookie(req: Request) -> bool:
    config = current_app.config
    names = (config["SESSION_COOKIE_NAME"], config.get("REMEMBER_COOKIE_NAME", REMEMBER_COOKIE_DEFAULT))
    return any(name in req.cookies for name in names)


def refuse_cross_origin_writes() -> Response | tuple[Response, int] | None:
    """Before every request: a cookie-authenticated write from another origin gets a 403."""
    if not is_cross_origin(request) or not _carries_login_cookie(request):
        return None
    log.warning(
        "cross-origin write refused method=%s path=%s origin=%s sec_fetch_site=%s",
        request.method,
        request.path,
        request.headers.get("Origin", "-"),
        request.headers.get("Sec-Fetch-Site", "-"),
    )
    if request.path.startswith(("/api/", "/_dash-")):
        return jsonify(error_body(403, "cross_origin_request", CROSS_ORIGIN_MESSAGE)), 403
    abort(403, description=CROSS_ORIGIN_MESSAGE)


def content_security_policy(script_sources: Iterable[str] = ()) -> str:
    policy = {**CONTENT_SECURITY_POLICY, "script-src": [*CONTENT_SECURITY_POLICY["script-src"], *script_sources]}
    return "; ".join(f"{directive} {' '.join(sources)}" for directive, sources in policy.items())


def add_security_headers(response: Response) -> Response:
    """After every request, errors included; a view that sets its own value keeps it."""
    settings: HeaderSettings = current_app.extensions[EXTENSION]
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy(settings.inline_scripts()))
    for name, value in HEADERS.items():
        headers.setdefault(name, value)
    if settings.production:
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response
