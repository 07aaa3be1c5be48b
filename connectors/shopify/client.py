"""One shop's GraphQL Admin API over HTTP. Every call is paced on the shop's leaky bucket
(`extensions.cost.throttleStatus`), a THROTTLED answer is retried after exactly the wait the
bucket asks for, and queries that read pages are sized to Shopify's single-query cost limit."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import requests

from connectors.base import AuthError, ConnectorError, HttpClient, RateLimited, TransientError

log = logging.getLogger(__name__)

PAGE_SIZE = 250  # Shopify's maximum page (and id list); queries shrink it to fit the cost limit
MAX_QUERY_COST = 1000


class QueryTooCostly(ConnectorError):
    """Shopify refused a query over the single-query cost limit (MAX_COST_EXCEEDED)."""

    def __init__(self, cost: int) -> None:
        super().__init__(f"query cost {cost} exceeds Shopify's limit of {MAX_QUERY_COST}")
        self.cost = cost


class ShopifyGraphQL:
    """GraphQL documents sent to one shop's endpoint through `http` (which carries the access
    token, the network policy and the retries). It remembers what each document cost, the
    bucket as last reported, and the size each sized document fits the cost limit at."""

    def __init__(self, http: HttpClient, endpoint: str, shop_domain: str) -> None:
        self.http = http
        self.endpoint = endpoint
        self.shop_domain = shop_domain
        self._sizes: dict[str, int] = {}  # the largest size each query fits Shopify's cost limit at
        self._throttle: Mapping[str, Any] | None = None
        self._throttle_seen = 0.0
        self._costs: dict[str, int] = {}

    def query(self, document: str, variables: Mapping[str, Any] | None = None) -> dict:
        """The `data` of the answer to `document`, sent once the bucket holds what it cost last time."""
        self._pace(document)
        try:
            body, _ = self.http.request_json(
                "POST",
                self.endpoint,
                json_body={"query": document, "variables": dict(variables or {})},
                check=self._check,
            )
        except AuthError as exc:
            raise AuthError(
                f"Shopify refused the access token for {self.shop_domain} ({exc}); check the Admin API access "
                "token and its read_orders, read_all_orders and read_products scopes",
                exc.status,
            ) from exc
        cost = ((body.get("extensions") or {}).get("cost") or {}).get("requestedQueryCost")
        if cost is not None:
            self._costs[document] = cost
        return body["data"]

    def sized_query(self, document: str, variables: Mapping[str, Any], ids: Sequence[str] | None = None) -> dict:
        """Run a query sized by `first` (or by how many of `ids` it reads) as large as Shopify's
        single-query cost limit allows: a refused size shrinks in proportion and is remembered."""
        while True:
            size = self._sizes.get(document, PAGE_SIZE)
            sized = {"first": size} if ids is None else {"ids": list(ids[:size])}
            try:
                return self.query(document, {**variables, **sized})
            except QueryTooCostly as exc:
                if size == 1:
                    raise ConnectorError("a single object costs more than Shopify allows one query") from exc
                self._sizes[document] = max(1, size * MAX_QUERY_COST // exc.cost)
                log.info("shopify query shrunk size=%d cost=%d", self._sizes[document], exc.cost)

    def _pace(self, document: str) -> None:
        """Sleep until the bucket holds what this query cost last time, instead of being throttled."""
        cost, status = self._costs.get(document), self._throttle
        if cost is None or status is None:
            return
        refilled = (time.monotonic() - self._throttle_seen) * status["restoreRate"]
        available = min(status["maximumAvailable"], status["currentlyAvailable"] + refilled)
        if available < cost:
            wait = (cost - available) / status["restoreRate"]
            log.debug("shopify pacing wait_s=%.2f cost=%d available=%.0f", wait, cost, available)
            self.http.sleep(wait)

    def _check(self, response: requests.Response, body: Any) -> None:
        """Read the cost report of every answer; turn GraphQL errors inside a 200 into ours."""
        if not isinstance(body, dict):
            raise TransientError("GraphQL answer is not a JSON object")
        cost = (body.get("extensions") or {}).get("cost") or {}
        if cost.get("throttleStatus"):
            self._throttle, self._throttle_seen = cost["throttleStatus"], time.monotonic()
        errors = body.get("errors")
        if not errors:
            if not isinstance(body.get("data"), dict):
                raise TransientError("GraphQL answer holds no data")
            return
        extensions = {(e.get("extensions") or {}).get("code"): e.get("extensions") for e in errors}
        if "THROTTLED" in extensions:
            raise RateLimited("throttled (THROTTLED)", self._throttle_wait(cost.get("requestedQueryCost")))
        if "MAX_COST_EXCEEDED" in extensions:
            raise QueryTooCostly(extensions["MAX_COST_EXCEEDED"]["cost"])
        if "INTERNAL_SERVER_ERROR" in extensions:
            raise TransientError("Shopify reported an internal error")
        if "ACCESS_DENIED" in extensions:
            raise AuthError("the access token lacks a scope this query needs")
        raise ConnectorError(f"Shopify refused the query: {'; '.join(str(e.get('message')) for e in errors)[:500]}")

    def _throttle_wait(self, requested: int | None) -> float | None:
        """Seconds until the bucket holds `requested` points: (cost - available) / restore rate."""
        status = self._throttle
        if requested is None or status is None:
            return None
        return max(0.0, (requested - status["currentlyAvailable"]) / status["restoreRate"])
