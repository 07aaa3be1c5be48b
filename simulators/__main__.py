"""Run both store simulators standalone:

python -m simulators --shopify-port 8061 --mirakl-port 8062 [--faults error=0.05,drop=0.01]
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from logs import configure_logging
from simulators.demo import MIRAKL_PORT, SHOPIFY_PORT, build_demo_stores
from simulators.server import FaultPlan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators", description="Local Shopify and Mirakl stores")
    parser.add_argument("--shopify-port", type=int, default=SHOPIFY_PORT)
    parser.add_argument("--mirakl-port", type=int, default=MIRAKL_PORT)
    parser.add_argument("--history-days", type=int, default=730)
    parser.add_argument("--live-interval", type=float, default=5.0, help="seconds between new orders (0: none)")
    parser.add_argument("--webhook-url", help="where the Shopify store POSTs its webhooks")
    parser.add_argument("--faults", help="fault rates for both stores, e.g. error=0.05,drop=0.01,rate_limit=0.1")
    args = parser.parse_args(argv)
    configure_logging("INFO")
    try:
        faults = FaultPlan.from_text(args.faults)
    except ValueError as exc:
        parser.error(f"--faults: {exc}")
    print("generating the business's history...", flush=True)
    stores = build_demo_stores(
        shopify_port=args.shopify_port,
        mirakl_port=args.mirakl_port,
        webhook_url=args.webhook_url,
        live_interval=args.live_interval or None,
        history_days=args.history_days,
    )
    for server in (stores.shopify, stores.bestbuy):
        server.faults.configure(faults.state())
    stores.start()
    for kind, (config, secrets) in stores.connections().items():
        print(f"{kind}: config {config} credentials {secrets}")
    print("admin endpoints: POST <store>/_sim/orders, /_sim/orders/<id>/refund|cancel|edit, /_sim/faults", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    stores.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
