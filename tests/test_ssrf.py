"""Server-side request forgery: a platform URL typed by a tenant must never make the server call an
internal address. A real listener on 127.0.0.1 stands in for the internal service and counts
what reaches it; production's policy must let nothing through, development's only loopback
(the simulators), and no error may quote what an internal service answered."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from connectors.base import STRICT, BlockedURL, HttpClient, NetworkPolicy
from connectors.shopify import ShopifyConnector
from db.engine import transaction
from db.models import Platform
from jobs.sync import sync_platform
from tests.conftest import AuthActions
from tests.sims import BOX, DEV_NETWORK

SECRET_BODY = "internal-admin-secret-do-not-echo"
API_KEY = "tenant-api-key"


class _Listener(BaseHTTPRequestHandler):
    """Counts every request and answers with the server's canned (status, headers, body)."""

    def _answer(self) -> None:
        self.server.hits.append((self.command, self.path, dict(self.headers)))
        status, headers, body = self.server.reply
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format, *args) -> None:
        pass


@contextlib.contextmanager
def _listen(reply: tuple[int, dict, bytes]) -> Iterator[ThreadingHTTPServer]:
    """A server on 127.0.0.1 that counts requests (`hits`) and answers each with `reply`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Listener)
    server.hits, server.reply = [], reply
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def internal() -> Iterator[ThreadingHTTPServer]:
    """The internal service an attacker aims at: it answers 200 with a secret body."""
    with _listen((200, {"Content-Type": "application/json"}, f'{{"secret": "{SECRET_BODY}"}}'.encode())) as server:
        yield server


@pytest.fixture
def prod_client(settings):
    """A client of the app as deployed (APP_ENV=production), logged in as the admin."""
    from app import create_app

    app = create_app(replace(settings, app_env="production"))
    app.config.update(TESTING=True)
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"  # production's cookies are Secure
    AuthActions(client).login()
    return client


def _attack(kind: str, target: str, internal_url: str) -> dict:
    """A connect request whose `target` setting points at the internal service."""
    if kind == "bestbuy":
        config, credentials = {"base_url": f"{internal_url}/internal/admin?x="}, {"api_key": API_KEY}
    elif target == "shop_domain":
        config, credentials = {"shop_domain": internal_url.removeprefix("http://")}, {"access_token": API_KEY}
    else:
        config = {"shop_domain": "acme.myshopify.com", "base_url": f"{internal_url}/internal/admin?x="}
        credentials = {"access_token": API_KEY}
    return {"kind": kind, "display_name": "Attack", "config": config, "credentials": credentials}


# --- production: nothing internal is ever reached --------------------------------------------


@pytest.mark.usefixtures("company")
@pytest.mark.parametrize(
    ("kind", "target"), [("bestbuy", "base_url"), ("shopify", "shop_domain"), ("shopify", "base_url")]
)
def test_connect_to_an_internal_url_is_refused_in_production(prod_client, sessions, internal, kind, target):
    response = prod_client.post("/api/v1/platforms/connect", json=_attack(kind, target, _url(internal)))

    assert response.status_code == 400, response.json
    error = response.json["error"]
    assert error["field"] == f"config.{target}"
    assert error["message"].startswith(f"config.{target}: ") and "is not allowed" in error["message"]
    assert internal.hits == []  # not one request, so the key never left
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Platform)) == 0


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost/bulk.jsonl",  # a name that resolves to loopback
        "https://[::ffff:127.0.0.1]/bulk.jsonl",  # loopback dressed as IPv6
        "https://0x7f.1/bulk.jsonl",  # an encoded address
    ],
)
def test_bulk_file_urls_at_private_addresses_are_refused_in_production(url):
    """Shopify hands back the bulk file's URL; in production it must be https on a public address."""
    connector = ShopifyConnector({"shop_domain": "acme.myshopify.com"}, {"access_token": API_KEY}, network=STRICT)
    with pytest.raises(BlockedURL, match=r"private, loopback or reserved|not allowed"):
        connector.files.request_json("GET", url)


def test_a_name_that_resolves_to_a_private_address_is_refused_before_connecting(internal):
    """`localhost` passes every check on the name; the address it resolves to is what is refused.
    The listener is on another port, so this reads the refusal, not the listener."""
    with pytest.raises(BlockedURL, match="https://localhost leads to a private, loopback or reserved address"):
        HttpClient("https://localhost", hosts=None, network=STRICT).request_json("GET", "/api/account")


def test_bulk_file_at_the_internal_service_is_never_fetched(internal):
    connector = ShopifyConnector({"shop_domain": "acme.myshopify.com"}, {"access_token": API_KEY}, network=STRICT)
    with pytest.raises(BlockedURL, match="is not allowed"):
        connector.files.request_json("GET", f"{_url(internal)}/bulk.jsonl?signature=abc")
    assert internal.hits == []


@pytest.mark.parametrize("kind", ["bestbuy", "shopify"])
def test_a_platform_stored_before_with_a_refused_url_fails_its_sync(sessions, company, internal, kind):
    """The policy is applied at every request, not only at connect: a platform stored with an
    internal URL (before this check existed) fails its sync with a message that says why."""
    platform_id = _stored_platform(sessions, company, kind, _attack(kind, "base_url", _url(internal))["config"])

    result = sync_platform(sessions, platform_id, BOX)  # the default policy: production's

    assert result.status == "failed"
    assert "is not allowed: platforms are reached over https on port 443" in result.error
    with sessions() as session:
        assert session.get(Platform, platform_id).status_message == result.error
    assert internal.hits == []


# --- development: loopback for the simulators, and nothing told about what answered ------------


@pytest.fixture
def redirector(internal) -> Iterator[ThreadingHTTPServer]:
    """An allowed server (loopback, in development) that redirects to the internal service."""
    with _listen((302, {"Location": f"{_url(internal)}/internal/admin"}, b"")) as server:
        yield server


@pytest.mark.usefixtures("company")
def test_a_redirect_to_the_internal_service_is_not_followed(client, auth, redirector, internal):
    auth.login()
    body = {**_attack("bestbuy", "base_url", _url(redirector)), "config": {"base_url": _url(redirector)}}
    response = client.post("/api/v1/platforms/connect", json=body)

    assert response.status_code == 502 and response.json["error"]["code"] == "platform_unreachable"
    assert len(redirector.hits) == 1 and internal.hits == []


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.usefixtures("company")
@pytest.mark.parametrize("status", [200, 404, 500])
def test_connect_errors_never_echo_the_body_nor_tell_open_ports_from_closed(client, auth, caplog, status):
    """Whatever answers on an open port (200 that is not the API, 404, 500) reads exactly like a
    closed port: the message names the host and the field, never the body, status or port."""
    auth.login()

    def connect(url: str):
        body = {**_attack("bestbuy", "base_url", url), "config": {"base_url": url, "min_interval_seconds": "0"}}
        return client.post("/api/v1/platforms/connect", json=body)

    with _listen((status, {}, SECRET_BODY.encode())) as server:
        answers = {"open": connect(_url(server))}
        assert server.hits  # development reaches loopback: the port was open and answered
    answers["closed"] = connect(f"http://127.0.0.1:{_closed_port()}")

    for answer in answers.values():
        assert answer.status_code == 502 and SECRET_BODY not in answer.get_data(as_text=True)
    errors = [{k: v for k, v in a.json["error"].items() if k != "request_id"} for a in answers.values()]
    assert errors[0] == errors[1]
    assert answers["open"].json["error"]["message"] == (
        "Could not check the credentials with the platform at 127.0.0.1: check config.base_url and try again later."
    )
    assert SECRET_BODY not in caplog.text and API_KEY not in caplog.text


def _stored_platform(sessions, company, kind: str, config: dict) -> int:
    secrets = {"api_key": API_KEY} if kind == "bestbuy" else {"access_token": API_KEY}
    with transaction(sessions) as session:
        platform = Platform(
            company_id=company.id,
            kind=kind,
            display_name="Stored",
            currency="USD",
            config=config,
            credentials=BOX.seal(secrets),
        )
        session.add(platform)
        session.flush()
        return platform.id


def test_sync_errors_never_quote_the_body(sessions, company):
    with _listen((404, {}, SECRET_BODY.encode())) as server:
        platform_id = _stored_platform(sessions, company, "bestbuy", {"base_url": _url(server)})
        result = sync_platform(sessions, platform_id, BOX, network=DEV_NETWORK)
    assert result.status == "failed" and result.error == "request refused (HTTP 404)"
    assert len(server.hits) == 1


# --- the policy itself ---------------------------------------------------------------------


SHOPIFY, MIRAKL = ("*.myshopify.com",), ("marketplace.bestbuy.ca", "*.mirakl.net")


@pytest.mark.parametrize(
    ("url", "hosts"),
    [
        ("https://acme.myshopify.com/admin/api/2026-10/graphql.json", SHOPIFY),
        ("https://marketplace.bestbuy.ca/api/orders", MIRAKL),
        ("https://acme.mirakl.net:443/api/orders", MIRAKL),
        ("https://storage.googleapis.com/bulk/file.jsonl?sig=1", None),
    ],
)
def test_platform_urls_are_allowed_everywhere(url, hosts):
    for policy in (STRICT, DEV_NETWORK):
        policy.check_url(url, hosts)


@pytest.mark.parametrize(
    ("url", "hosts"),
    [
        ("http://acme.myshopify.com", SHOPIFY),  # not https
        ("https://acme.myshopify.com:8443", SHOPIFY),  # not 443
        ("https://evilmyshopify.com", SHOPIFY),  # not below myshopify.com
        ("https://myshopify.com.evil.example", SHOPIFY),
        ("https://myshopify.com", SHOPIFY),
        ("https://acme.myshopify.com@127.0.0.1", SHOPIFY),  # userinfo: the host is 127.0.0.1
        ("https://acme.myshopify.com\\@127.0.0.1", SHOPIFY),
        ("https://bestbuy.ca", MIRAKL),
        ("https://10.0.0.1/api", MIRAKL),
        ("https://169.254.169.254/latest/meta-data", None),
        ("http://10.0.0.1:8080/api", MIRAKL),  # private but not loopback: refused in development too
        ("file:///etc/passwd", None),
    ],
)
def test_other_urls_are_refused_in_every_environment(url, hosts):
    for policy in (STRICT, DEV_NETWORK):
        with pytest.raises(BlockedURL):
            policy.check_url(url, hosts)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8299/internal/admin?x=", "http://localhost:5000", "http://[::1]:8080/api"]
)
def test_loopback_is_allowed_only_in_development(url):
    DEV_NETWORK.check_url(url, SHOPIFY)
    for app_env in ("production", "staging"):
        with pytest.raises(BlockedURL):
            NetworkPolicy.for_app_env(app_env).check_url(url, SHOPIFY)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # the cloud metadata endpoint
        "100.64.0.1",  # CGNAT
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fd12::1",  # ULA
        "fe80::1",
        "::ffff:169.254.169.254",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata endpoint
    ],
)
def test_connections_to_private_and_reserved_addresses_are_refused(address):
    """What the connection-level guard permits once a name is resolved: nothing private in
    production, and only loopback in development."""
    assert not STRICT.session().policy.permits_address(address)
    loopback = address in ("127.0.0.1", "::1")
    assert DEV_NETWORK.session().policy.permits_address(address) is loopback
    assert STRICT.session().policy.permits_address("8.8.8.8")
