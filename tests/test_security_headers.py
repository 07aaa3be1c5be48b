"""Issue #9, finding 9: security headers on every response, and a Content-Security-Policy the
app's own pages (Dash, plotly.js, Swagger UI) run under without a single violation."""

from __future__ import annotations

import hashlib
import re
from base64 import b64encode
from dataclasses import replace

import pytest
from playwright.sync_api import expect

from db import migrate
from db.engine import make_engine, make_session_factory
from jobs.demo import seed_demo
from simulators.business import Business

EXPECTED = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

# Executable inline scripts: no src, and not a data block such as Dash's application/json config.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>(.*?)</script>", re.S)


def directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    return {name: sources for name, *sources in (part.split() for part in policy.split(";"))}


@pytest.mark.usefixtures("company")
@pytest.mark.parametrize(
    "path",
    ["/login", "/health", "/api/v1/openapi.json", "/api/v1/nope", "/", "/api/v1/status", "/_dash-layout"],
)
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)  # pages, JSON, errors and redirects alike (not logged in)
    for name, value in EXPECTED.items():
        assert response.headers[name] == value, name
    policy = directives(response)
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"] and policy["default-src"] == ["'self'"]
    scripts = policy["script-src"]
    assert scripts[0] == "'self'" and all(s.startswith("'sha256-") for s in scripts[1:])
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert "Strict-Transport-Security" not in response.headers  # http://127.0.0.1 must stay usable


@pytest.mark.usefixtures("company")
def test_the_policy_allows_exactly_dash_inline_scripts(client, auth, app):
    """Each inline script Dash writes into its page has its hash in script-src, and nothing else does."""
    auth.login()
    page = client.get("/")
    html = re.sub(r"<!--.*?-->", "", page.text, flags=re.S)  # Dash's <!--[if IE]> warning never runs
    inline = INLINE_SCRIPT.findall(html)
    hashes = {f"'sha256-{b64encode(hashlib.sha256(script.encode()).digest()).decode()}'" for script in inline}
    assert len(inline) >= 2 and set(directives(page)["script-src"][1:]) == hashes


def test_hsts_only_in_production(settings):
    from app import create_app

    server = create_app(replace(settings, app_env="production"))
    response = server.test_client().get("/health")
    assert response.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"


CSP_VIOLATIONS = """
    window.cspViolations = [];
    document.addEventListener("securitypolicyviolation",
        (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


@pytest.mark.browser
def test_every_page_renders_under_the_csp_with_no_console_error(live_server, browser_page):
    engine = make_engine(live_server.database_url)
    migrate.upgrade(engine)
    seed_demo(make_session_factory(engine), business=Business(scale=0.1), days=10)
    engine.dispose()
    url = live_server.start("--no-demo")

    page = browser_page
    page.add_init_script(CSP_VIOLATIONS)
    page.goto(url + "/login")
    page.fill("#email", "demo@example.com")
    page.fill("#password", "demo")
    with page.expect_response(url + "/") as overview:
        page.click("button[type=submit]")
    assert "frame-ancestors 'none'" in overview.value.headers["content-security-policy"]
    expect(page.locator("#overview-trend .scatterlayer .trace")).to_have_count(2, timeout=20_000)
    assert page.evaluate("window.cspViolations") == []

    for path, ready in [
        ("/channels", "#csv-channel-add"),
        ("/reconciliation", "#recon-unexplained"),
        ("/api/docs", ".swagger-ui .info .title"),
    ]:
        page.goto(url + path)
        expect(page.locator(ready).first).to_be_visible(timeout=20_000)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.cspViolations") == [], path
    assert page.console_errors == []
