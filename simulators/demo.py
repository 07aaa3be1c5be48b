"""The demo company's two stores, served from this process: what `make run` connects the demo
company to, and what `python -m simulators` runs standalone."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass

from simulators.business import Business
from simulators.catalog import BESTBUY, SHOPIFY
from simulators.mirakl import build_mirakl
from simulators.server import SimulatorServer
from simulators.shopify import DEV_ACCESS_TOKEN, SHOP_DOMAIN, build_shopify

SHOPIFY_PORT = 8061
MIRAKL_PORT = 8062
MIRAKL_API_KEY = "demo-mirakl-api-key"
SHOPIFY_WEBHOOK_SECRET = "demo-shopify-webhook-secret"
LIVE_INTERVAL_SECONDS = 5.0  # a new order in each store every few seconds
# The demo stores answer like a Shopify Plus store and a Mirakl shop that allows fast polling,
# so a first two-year backfill takes a minute, not the quarter of an hour real limits impose.
SHOPIFY_PLUS_BUCKET = {"bucket_size": 20000.0, "restore_rate": 1000.0}
MIRAKL_MIN_INTERVAL = 0.2


def demo_connections(shopify_url: str, mirakl_url: str) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """For each platform kind, the (config, secrets) a platform needs to reach its demo store."""
    return {
        SHOPIFY: (
            {"shop_domain": SHOP_DOMAIN, "base_url": shopify_url},
            {"access_token": DEV_ACCESS_TOKEN, "webhook_secret": SHOPIFY_WEBHOOK_SECRET},
        ),
        BESTBUY: (
            {"base_url": mirakl_url, "shop_id": "2001", "min_interval_seconds": str(MIRAKL_MIN_INTERVAL)},
            {"api_key": MIRAKL_API_KEY},
        ),
    }


@dataclass
class DemoStores:
    shopify: SimulatorServer
    bestbuy: SimulatorServer

    def connections(self) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
        return demo_connections(self.shopify.url, self.bestbuy.url)

    def start(self) -> DemoStores:
        self.shopify.start()
        self.bestbuy.start()
        return self

    def stop(self) -> None:
        self.shopify.stop()
        self.bestbuy.stop()


def available_port(preferred: int) -> int:
    """`preferred` if a store could listen on it now, else a port the system says is free.

    Tested by binding and listening the way the store's server will (SO_REUSEADDR): a port can
    be taken without anything answering on it (a bound socket that does not listen, a listener
    that does not accept), so trying to connect says nothing."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", preferred))
            probe.listen()
        except OSError:
            pass
        else:
            return preferred
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        return spare.getsockname()[1]


def _listening(build: Callable[..., SimulatorServer], port: int, **options) -> SimulatorServer:
    """`build(port=port, ...)`; an OSError names the port that could not be had."""
    try:
        return build(port=port, **options)
    except OSError as exc:
        raise OSError(exc.errno, f"127.0.0.1:{port} is taken ({exc.strerror})") from exc


def build_demo_stores(
    business: Business | None = None,
    *,
    shopify_port: int = SHOPIFY_PORT,
    mirakl_port: int = MIRAKL_PORT,
    webhook_url: str | None = None,
    live_interval: float | None = LIVE_INTERVAL_SECONDS,
    history_days: int = 730,
) -> DemoStores:
    """Both stores over the same business, listening on exactly these ports (pick them with
    available_port) but not yet serving; building them generates the history. Raises OSError
    naming the port when one is taken."""
    business = business or Business()
    shopify = _listening(
        build_shopify,
        shopify_port,
        business=business,
        history_days=history_days,
        live_interval=live_interval,
        webhook_url=webhook_url,
        webhook_secret=SHOPIFY_WEBHOOK_SECRET,
        **SHOPIFY_PLUS_BUCKET,
    )
    bestbuy = _listening(
        build_mirakl,
        mirakl_port,
        business=business,
        api_key=MIRAKL_API_KEY,
        history_days=history_days,
        live_interval=live_interval,
        min_interval_seconds=MIRAKL_MIN_INTERVAL,
    )
    return DemoStores(shopify, bestbuy)
