"""A small HTTP server for the platform simulators, with fault injection on the wire.

Built on the standard library's http.server so a fault can do what real networks do: stall,
time out, cut a body off after its headers promised more, or send something that is not JSON.
Each simulator supplies the platform's own routes and its own way of saying "slow down";
the server adds the `/_sim/` admin endpoints (faults, on-demand orders), which never fail.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from simulators.store import ChannelStore

log = logging.getLogger(__name__)

FAULT_KINDS = ("rate_limit", "error", "slow", "timeout", "drop", "malformed")
# Answers a client cannot ride out by retrying: a 200 whose JSON envelope is right but whose
# records name their fields differently (as after an API version change). Kept apart from
# FAULT_KINDS, which a sync must come through unharmed.
PAYLOAD_FAULTS = ("renamed_fields",)
# A queue entry that lets one request through untouched, so a test can fault the n-th request.
NO_FAULT = "none"


@dataclass
class SimRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


@dataclass
class SimResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> SimResponse:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return cls(status, body, {"Content-Type": "application/json", **(headers or {})})


class Simulator(Protocol):
    """What a platform simulator provides to the server."""

    name: str
    store: ChannelStore

    def handle(self, request: SimRequest) -> SimResponse: ...

    def rate_limited(self, request: SimRequest) -> SimResponse:
        """The platform's own "slow down" answer (Shopify: 200 THROTTLED; Mirakl: 429)."""
        ...

    def describe(self, order_id: int) -> dict:
        """The admin endpoints' view of an order."""
        ...


class FaultPlan:
    """What goes wrong and how often: a queue of faults for the next requests (deterministic,
    for tests) and per-kind probabilities (for soak runs), drawn from a seeded generator."""

    def __init__(self, seed: int = 0, slow_seconds: float = 1.5, timeout_seconds: float = 20.0) -> None:
        self.queue: deque[str] = deque()
        self.rates: dict[str, float] = {}
        self.slow_seconds, self.timeout_seconds = slow_seconds, timeout_seconds
        self.served: dict[str, int] = {}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def configure(self, spec: Mapping[str, Any]) -> None:
        """Apply {"queue": [...], "rates": {...}, "slow_seconds": s, "timeout_seconds": s}."""
        queue = list(spec.get("queue", []))
        rates = dict(spec.get("rates", {}))
        known = (*FAULT_KINDS, *PAYLOAD_FAULTS)
        unknown = sorted(({*queue} - {NO_FAULT} | {*rates}) - set(known))
        if unknown:
            raise ValueError(f"unknown fault kind(s) {', '.join(unknown)}; known: {', '.join(known)}")
        if any(not 0 <= float(p) <= 1 for p in rates.values()):
            raise ValueError("fault rates are probabilities between 0 and 1")
        with self._lock:
            if "queue" in spec:
                self.queue = deque(queue)
            if "rates" in spec:
                self.rates = {k: float(v) for k, v in rates.items() if float(v) > 0}
            self.slow_seconds = float(spec.get("slow_seconds", self.slow_seconds))
            self.timeout_seconds = float(spec.get("timeout_seconds", self.timeout_seconds))

    @classmethod
    def from_text(cls, text: str | None, seed: int = 0) -> FaultPlan:
        """Parse an env-var spec such as "error=0.05,drop=0.01,rate_limit=0.1"."""
        plan = cls(seed)
        if text:
            rates = {}
            for part in text.split(","):
                kind, _, value = part.partition("=")
                rates[kind.strip()] = float(value or 0)
            plan.configure({"rates": rates})
        return plan

    def draw(self) -> str | None:
        with self._lock:
            fault = self.queue.popleft() if self.queue else None
            if fault == NO_FAULT:
                return None
            if fault is None:
                for kind, probability in self.rates.items():
                    if self._rng.random() < probability:
                        fault = kind
                        break
            if fault:
                self.served[fault] = self.served.get(fault, 0) + 1
            return fault

    def state(self) -> dict:
        with self._lock:
            return {
                "queue": list(self.queue),
                "rates": dict(self.rates),
                "served": dict(self.served),
                "slow_seconds": self.slow_seconds,
                "timeout_seconds": self.timeout_seconds,
            }


_ORDER_ACTION = re.compile(r"^/_sim/orders/(\d+)/(refund|cancel|edit)$")


class SimulatorServer:
    """Serves one simulator on 127.0.0.1:`port` (0 = any free port) in background threads."""

    def __init__(
        self, simulator: Simulator, port: int = 0, host: str = "127.0.0.1", faults: FaultPlan | None = None
    ) -> None:
        self.simulator = simulator
        self.faults = faults or FaultPlan()
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SimulatorServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long stop() waits for the loop to notice
            name=f"sim-{self.simulator.name}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

    # --- admin endpoints -----------------------------------------------------------------

    def admin(self, request: SimRequest) -> SimResponse:
        store = self.simulator.store
        try:
            if request.path == "/_sim/faults":
                if request.method == "POST":
                    self.faults.configure(request.json())
                return SimResponse.json(200, self.faults.state())
            if request.path == "/_sim/orders" and request.method == "POST":
                order = store.create_order()
                return SimResponse.json(201, self.simulator.describe(order.order_id))
            match = _ORDER_ACTION.match(request.path)
            if match and request.method == "POST":
                order_id, action = int(match.group(1)), match.group(2)
                args = request.json()
                if action == "refund":
                    store.refund(order_id, args.get("line_id"), args.get("quantity"))
                elif action == "cancel":
                    store.cancel(order_id)
                else:
                    store.edit(order_id)
                return SimResponse.json(200, self.simulator.describe(order_id))
            if request.path == "/_sim/state":
                now = store.advance()
                return SimResponse.json(200, {"now": now.isoformat(), "orders": len(store.by_created(now))})
        except KeyError as exc:
            return SimResponse.json(404, {"error": str(exc.args[0])})
        except (ValueError, TypeError) as exc:
            return SimResponse.json(400, {"error": str(exc)})
        return SimResponse.json(404, {"error": f"no admin endpoint {request.method} {request.path}"})

    def respond(self, request: SimRequest) -> tuple[SimResponse, str | None]:
        """The response and the wire fault to apply while sending it (drop/malformed)."""
        if request.path.startswith("/_sim/"):
            return self.admin(request), None
        fault = self.faults.draw()
        if fault == "rate_limit":
            return self.simulator.rate_limited(request), None
        if fault == "error":
            status = random.choice((500, 502, 503))
            return SimResponse.json(status, {"errors": HTTPStatus(status).phrase}), None
        if fault == "slow":
            time.sleep(self.faults.slow_seconds)
        if fault == "timeout":
            time.sleep(self.faults.timeout_seconds)
        self.simulator.store.advance()
        return self.simulator.handle(request), fault if fault in ("drop", "malformed", *PAYLOAD_FAULTS) else None


def renamed_fields(body: bytes) -> bytes:
    """The JSON body with every key below the top level renamed (`id` -> `id_v2`): the envelope
    a client checks first is intact, the records inside are not what it knows."""

    def rename(value: Any, depth: int) -> Any:
        if isinstance(value, dict):
            return {(k if depth == 0 else f"{k}_v2"): rename(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [rename(v, depth) for v in value]
        return value

    try:
        document = json.loads(body)
    except ValueError:
        return body
    return json.dumps(rename(document, 0), separators=(",", ":")).encode()


def _handler_for(server: SimulatorServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without TCP_NODELAY, keep-alive clients wait
        # ~40 ms for a delayed ACK on every response.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = SimRequest(
                self.command,
                parts.path,
                parse_qs(parts.query, keep_blank_values=True),
                self.headers,
                self.rfile.read(length) if length else b"",
            )
            try:
                response, wire_fault = server.respond(request)
            except Exception:  # a simulator bug must show up as a 500, not a hung client
                log.exception("simulator error path=%s", request.path)
                response, wire_fault = SimResponse.json(500, {"errors": "simulator error"}), None
            body = response.body
            if wire_fault == "malformed":
                body = body[: max(1, len(body) // 2)]  # valid length, invalid JSON
            elif wire_fault == "renamed_fields":
                body = renamed_fields(body)
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                if wire_fault == "drop":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)  # the promised rest of the body never comes
                    return
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout fault)
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("sim %s %s", server.simulator.name, format % args)

    return Handler
