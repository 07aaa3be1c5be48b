"""The connector interface: the error types and the HTTP client every connector shares
(timeouts, retries with backoff and jitter, Retry-After, one status table, and the network policy
that keeps a tenant's URL from reaching an internal address).

Platform JSON stops at this boundary: connectors turn it into the frozen records of `records`,
and the rest of the system (ingest, analytics, tests) only ever sees records.
"""

from __future__ import annotations

import json
import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from ipaddress import ip_address
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
import ssrfguard
import ssrfguard.requests

from records import Order, Product, ReportDay

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """What one cheap credentials check tells us about the store."""

    name: str
    currency: str
    extra: Mapping[str, Any] = field(default_factory=dict)


# --- errors --------------------------------------------------------------------------------


class ConnectorError(Exception):
    """A platform call failed in a way retrying will not fix."""


class AuthError(ConnectorError):
    """The credentials were refused: stop, and flag the platform as needing attention. `status`
    is the HTTP status that refused them (401, 403), None when the answer said so in its body."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientError(ConnectorError):
    """Worth retrying: timeouts, dropped connections, 5xx, malformed bodies."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(TransientError):
    """The platform asked us to slow down (HTTP 429, Shopify THROTTLED)."""


class BlockedURL(ConnectorError):
    """A URL the network policy never sends a request to (the message says which rule refused it)."""


# --- HTTP ----------------------------------------------------------------------------------


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (only the delta-seconds form is used by these APIs)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


BodyCheck = Callable[[requests.Response, Any], None]

LOOPBACK = ("127.0.0.0/8", "::1/128")
# ssrfguard's policies: which schemes, ports and (resolved) addresses a connection may use.
_GUARD = ssrfguard.Policy(allowed_schemes=frozenset({"https"}), allowed_ports=frozenset({443}))
_LOOPBACK_GUARD = ssrfguard.Policy(allowed_ports=frozenset(range(1, 65536)), allowed_networks=LOOPBACK)


@dataclass(frozen=True)
class NetworkPolicy:
    """Where connectors may send requests. A platform's URL is typed by a tenant, so it is
    hostile: without this, `base_url` could point the server, with the platform's key in its
    headers, at an internal service or the cloud metadata address (SSRF).

    Every request goes over https, on port 443, to a host matching the platform's own patterns
    (`Connector.api_hosts`, e.g. *.myshopify.com), checked before anything is sent. Every
    connection goes to an address checked to be public: ssrfguard resolves the name once, refuses
    it if any answer is private or reserved (loopback, RFC 1918, link-local and 169.254.169.254,
    CGNAT, ULA, 0.0.0.0, multicast, IPv4-mapped and NAT64 forms of those, ...), and opens the
    socket to the address it checked, so a DNS answer that changes in between (rebinding)
    reaches nothing. Redirects are never followed. Proxies and .netrc from the environment are
    ignored: a proxy would resolve the name itself, past the check.

    `allow_loopback` (APP_ENV=development only: `make run` and the tests reach the simulators on
    127.0.0.1) also lets through a URL whose host is a loopback address or `localhost`, over
    http and on any port; other private addresses stay refused. The default is the strict
    policy, so a caller that forgets to pass one fails safe.
    """

    allow_loopback: bool = False

    @classmethod
    def for_app_env(cls, app_env: str) -> NetworkPolicy:
        """The policy for an APP_ENV: loopback only in development (staging is like production)."""
        return cls(allow_loopback=app_env == "development")

    def check_url(self, url: str, hosts: tuple[str, ...] | None) -> None:
        """Refuse, before any lookup, a URL this policy never sends to (BlockedURL says why).
        `hosts` are the allowed host patterns (`*.example.com`: any name below example.com), or
        None for any host (a file location the platform handed back)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise BlockedURL("the platform URL is not a valid URL") from None
        host = (parts.hostname or "").rstrip(".")
        if not host or "@" in parts.netloc or parts.fragment or any(c in url for c in "\\ \t\r\n"):
            raise BlockedURL(f"{shown_url(url)} is not a plain http(s) URL (no credentials, spaces or fragment)")
        if not (self.allow_loopback and _is_loopback(host) and parts.scheme in ("http", "https")):
            refused_here = f"{shown_url(url)} is not allowed: "
            local = " (or, in development, a loopback address)" if self.allow_loopback else ""
            if parts.scheme != "https" or port not in (None, 443):
                raise BlockedURL(f"{refused_here}platforms are reached over https on port 443{local}")
            if hosts is not None and not any(_host_matches(host, pattern) for pattern in hosts):
                raise BlockedURL(f"{refused_here}this platform's API is on {' or '.join(hosts)}{local}")
        try:
            self.guard.check_url(url)  # a literal address, or an encoded one (0x7f.1)
        except ssrfguard.SSRFGuardError as exc:
            raise refused(url, exc) from None

    @property
    def guard(self) -> ssrfguard.Policy:
        """The ssrfguard policy that checks each connection's address."""
        return _LOOPBACK_GUARD if self.allow_loopback else _GUARD

    def session(self) -> requests.Session:
        """A requests session that connects only to addresses this policy allows."""
        session = ssrfguard.requests.Session(policy=self.guard)
        session.trust_env = False
        return session


STRICT = NetworkPolicy()  # production's policy, and every caller's default


def shown_url(url: str) -> str:
    """The scheme, host and port of a URL: what messages and logs may show of it (a path or query
    can hold a signed token, userinfo a password)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "the URL"
    host = parts.hostname or ""
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}{port}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _host_matches(host: str, pattern: str) -> bool:
    """Whether a host matches a pattern, on label boundaries (evilmyshopify.com is not below myshopify.com)."""
    if pattern.startswith("*."):
        suffix = pattern[1:]  # ".myshopify.com"
        return host.endswith(suffix) and len(host) > len(suffix)
    return host == pattern


class HttpClient:
    """A requests session with a timeout on every call, one retry policy and a network policy.

    Every URL is checked against the network policy (`hosts`: the allowed host patterns, None for
    any host) before each request, and every connection by the session the policy makes.
    Transient failures (connection errors, timeouts, bodies cut short or not JSON, 5xx, 429)
    are retried with exponential backoff and full jitter, honouring Retry-After; 401/403 raise
    AuthError at once; redirects and other 4xx raise ConnectorError. Messages never quote a
    response body, and headers are never logged: they hold keys.
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        *,
        hosts: tuple[str, ...] | None,
        network: NetworkPolicy = STRICT,
        timeout: tuple[float, float] = (5.0, 60.0),
        max_attempts: int = 6,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.hosts = hosts
        self.network = network
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.sleep = sleep
        self.session = network.session()
        self.session.headers.update(headers or {})
        self.session.headers.setdefault("Accept", "application/json")

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff: spreads retries of many clients apart."""
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))

    def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        check: BodyCheck | None = None,
        parse: Callable[[bytes], Any] | None = None,
    ) -> tuple[Any, requests.Response]:
        """Send a request and return (parsed JSON body, response), retrying transient failures.

        `check` may inspect a 200 body and raise TransientError/RateLimited (for platforms that
        report throttling inside a successful response) to have it retried the same way.
        `parse` decodes bodies that are not one JSON document (Shopify's JSONL bulk files); a
        ValueError from it is retried like any malformed body.
        """
        url = path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"
        self.network.check_url(url, self.hosts)
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self._attempt(method, url, params, json_body, check, parse)
            except TransientError as exc:
                if attempt == self.max_attempts:
                    raise
                delay = exc.retry_after if exc.retry_after is not None else self.backoff(attempt)
                log.warning(
                    "http retry method=%s url=%s attempt=%d delay_s=%.2f reason=%s",
                    method,
                    shown_url(url),
                    attempt,
                    delay,
                    exc,
                )
                self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(
        self,
        method: str,
        url: str,
        params: Any,
        json_body: Any,
        check: BodyCheck | None,
        parse: Callable[[bytes], Any] | None,
    ) -> tuple[Any, requests.Response]:
        try:
            response = self.session.request(
                method, url, params=params, json=json_body, timeout=self.timeout, allow_redirects=False
            )
            body = response.content  # read it all now, so a body cut short fails here
        except ssrfguard.SSRFGuardError as exc:
            raise refused(url, exc) from None
        except requests.Timeout as exc:
            raise TransientError(f"timeout ({type(exc).__name__})") from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise TransientError(f"connection failed ({type(exc).__name__})") from exc
        except requests.RequestException as exc:
            raise ConnectorError(f"request failed ({type(exc).__name__})") from exc

        status = response.status_code
        if status in (401, 403):
            raise AuthError(f"the platform refused the credentials (HTTP {status})", status)
        if status == 429:
            raise RateLimited("rate limited (HTTP 429)", parse_retry_after(response.headers.get("Retry-After")))
        if status >= 500 or status == 408:
            raise TransientError(
                f"server error (HTTP {status})", parse_retry_after(response.headers.get("Retry-After"))
            )
        if 300 <= status < 400:
            raise ConnectorError(f"the platform answered with a redirect (HTTP {status}), which is not followed")
        if status >= 400:
            raise ConnectorError(f"request refused (HTTP {status})")
        try:
            data = parse(body) if parse else json.loads(body)
        except ValueError as exc:
            raise TransientError("response body is not valid JSON") from exc
        if check is not None:
            check(response, data)
        return data, response


def refused(url: str, exc: ssrfguard.SSRFGuardError) -> BlockedURL:
    """The BlockedURL for a refusal by ssrfguard, logged with the address and the rule that
    refused it (never the whole URL: its query may be signed)."""
    if isinstance(exc, ssrfguard.BlockedAddressError):
        log.warning("network policy refused url=%s address=%s reason=%s", shown_url(url), exc.address, exc.reason)
        return BlockedURL(f"{shown_url(url)} leads to a private, loopback or reserved address, which is never reached")
    log.warning("network policy refused url=%s reason=%s", shown_url(url), getattr(exc, "reason", type(exc).__name__))
    return BlockedURL(f"{shown_url(url)} is not allowed by the network policy")


# --- the interface -------------------------------------------------------------------------


class Connector(ABC):
    """One platform account. Pure: HTTP in, records out, no database.

    `config` holds the non-secret settings (shop domain, base URL, ...), `secrets` the
    credentials; the class lists the names of both so the API can validate a connect request.
    """

    kind: ClassVar[str]
    config_fields: ClassVar[tuple[str, ...]] = ()
    secret_fields: ClassVar[tuple[str, ...]] = ()
    # Host patterns of the platform's API (`*.example.com`: any name below example.com), the only
    # hosts the network policy lets its requests reach; empty for a connector that calls no API.
    api_hosts: ClassVar[tuple[str, ...]] = ()
    # Whether fetch_daily_report works for this platform (reconciliation fetches it when it does).
    has_daily_report: ClassVar[bool] = False
    # Whether the scheduler syncs it (an API to read), or its orders arrive as uploaded files.
    syncs_on_schedule: ClassVar[bool] = True
    imports_files: ClassVar[bool] = False
    # How many orders the running fetch_orders will yield, once the platform has said (for
    # progress bars); None while unknown.
    expected_total: int | None = None
    # Told what a long fetch is doing before its first page (the sync shows it to the user).
    on_activity: Callable[[str], None] | None = None

    def __init__(self, config: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
        missing = [f for f in self.config_fields if not config.get(f)]
        missing += [f for f in self.secret_fields if not secrets.get(f)]
        if missing:
            raise ConnectorError(f"missing {', '.join(missing)}")
        self.config = dict(config)
        self.secrets = dict(secrets)

    @property
    def endpoint(self) -> tuple[str, str] | None:
        """The config field that says where the platform's API is, and the URL it makes (for
        messages that name the field); None for a connector that calls no API."""
        return None

    def report_activity(self, text: str) -> None:
        if self.on_activity is not None:
            self.on_activity(text)

    @abstractmethod
    def check(self) -> AccountInfo:
        """Validate the credentials with one cheap call."""

    @abstractmethod
    def fetch_orders(self, since: datetime | None) -> Iterator[list[Order]]:
        """Yield pages of orders updated at or after `since`, in ascending updated_at."""

    @abstractmethod
    def fetch_products(self) -> Iterator[list[Product]]:
        """Yield pages of the store's products."""

    def fetch_daily_report(self, start: date, end: date) -> list[ReportDay]:
        """The platform's own daily sales totals for its days start..end, one ReportDay each."""
        raise NotImplementedError(f"{self.kind} offers no daily sales report")
