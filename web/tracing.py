"""Request tracing: a request id (the caller's X-Request-ID if sane, else a new one) and the time
taken, on every response and in one log line per request."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, g, request

request_log = logging.getLogger("channelpulse.request")

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
QUIET_PREFIXES = ("/_dash-component-suites/", "/assets/", "/_favicon.ico")


def init_request_tracing(server: Flask) -> None:
    """A request id (the caller's X-Request-ID if sane, else a new one) and the time taken, on
    every response and in one log line per request."""

    @server.before_request
    def start_timer() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @server.after_request
    def add_trace_headers(response):
        elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers["Server-Timing"] = f"app;dur={elapsed_ms:.1f}"
        level = logging.DEBUG if request.path.startswith(QUIET_PREFIXES) else logging.INFO
        request_log.log(
            level,
            "request method=%s path=%s status=%d duration_ms=%.1f request_id=%s",
            request.method,
            request.path,
            response.status_code,
            elapsed_ms,
            g.get("request_id"),
        )
        return response
