"""The OpenAPI document is valid OpenAPI 3.1, describes every /api/v1 route, and tells the truth:
real responses (errors included) validate against it, and a schemathesis run against the app
finds no server error and no response the document does not describe.

Both ways: every operation the document describes is served (method and path, Flask's
`<int:id>` read as OpenAPI's `{id}`), and every /api/v1 route the app serves is documented."""

from __future__ import annotations

import copy
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from api.openapi import document
from db import migrate
from db.engine import transaction
from db.models import ModelRun, Platform, Prediction, SyncRun, utcnow
from jobs.demo import DEMO_EMAIL, DEMO_PASSWORD, seed_demo
from simulators.business import Business

DOCUMENT = document()
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
OPERATIONS = sorted(
    (method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item if method in HTTP_METHODS
)
# Schemathesis may write into the document it is given: it gets its own copy.
SCHEMA = schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT))


def served_operations(app: Flask) -> set[tuple[str, str]]:
    """(METHOD, OpenAPI path template) of every /api/v1 route, e.g. /tokens/<int:token_id> -> /tokens/{token_id}."""
    return {
        (method, re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


# --- the document itself -----------------------------------------------------------------


def test_document_is_public_and_valid_openapi_31(client):
    response = client.get("/api/v1/openapi.json")  # no login
    assert response.status_code == 200 and response.json == DOCUMENT
    assert DOCUMENT["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(copy.deepcopy(response.json)).validate()


def test_a_broken_document_is_caught():
    broken = copy.deepcopy(DOCUMENT)
    broken["paths"]["/api/v1/status"]["get"]["responses"] = ["not", "a", "map"]
    with pytest.raises(jsonschema_rs.ValidationError):
        schemathesis.openapi.from_dict(broken).validate()


def _walk(node: Any, where: str = "#") -> Iterator[tuple[str, Any]]:
    yield where, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{where}/{i}")


def _resolve(pointer: str) -> Any:
    node = DOCUMENT
    for part in pointer.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_every_schema_is_valid_json_schema_and_every_ref_resolves_and_is_used():
    """The OpenAPI 3.1 meta-schema does not look inside schemas: check them as JSON Schema 2020-12."""
    schemas = [node for where, node in _walk(DOCUMENT) if where.endswith("/schema") and isinstance(node, dict)]
    schemas += DOCUMENT["components"]["schemas"].values()
    for schema in schemas:
        jsonschema_rs.meta.validate(schema)
    refs = {node["$ref"] for _, node in _walk(DOCUMENT) if isinstance(node, dict) and "$ref" in node}
    for ref in refs:
        assert ref.startswith("#/") and _resolve(ref) is not None, ref
    kinds = ("schemas", "parameters", "responses")
    components = {f"#/components/{kind}/{name}" for kind in kinds for name in DOCUMENT["components"][kind]}
    assert not components - refs, "unused components"


def test_every_api_route_is_documented(app):
    undocumented = served_operations(app) - set(OPERATIONS)
    assert not undocumented, f"add these to api/openapi.yaml: {sorted(undocumented)}"


def test_every_documented_operation_is_served(app):
    unserved = set(OPERATIONS) - served_operations(app)
    assert not unserved, f"documented in api/openapi.yaml but not served by the app: {sorted(unserved)}"


def test_path_parameters_are_mapped_to_openapi_templates():
    """The mapping the two tests above rely on: converters dropped, names kept, nothing else."""
    server = Flask(__name__)
    for rule in ("/api/v1/a/<int:a_id>/b/<name>", "/api/v1/files/<path:key>", "/health"):
        server.add_url_rule(rule, rule, lambda **_: "", methods=["GET", "DELETE"])
    assert served_operations(server) == {
        (method, path) for method in ("GET", "DELETE") for path in ("/api/v1/a/{a_id}/b/{name}", "/api/v1/files/{key}")
    }


def test_every_operation_documents_its_path_parameters():
    for method, path in OPERATIONS:
        declared = {p["name"] for p in DOCUMENT["paths"][path][method.lower()].get("parameters", []) if "name" in p}
        assert set(re.findall(r"{(\w+)}", path)) <= declared, (method, path)


@pytest.mark.usefixtures("company")
def test_docs_page_needs_login_and_works_offline(client, auth):
    assert client.get("/api/docs").headers["Location"].startswith("/login")  # a page: to the login, not a 401
    auth.login()
    page = client.get("/api/docs").get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/assets/vendor/swagger-ui/swagger-ui-bundle.js" in assets and "/api/v1/openapi.json" in page
    assert not [a for a in assets if "//" in a], "everything is served from here"
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    assert "swagger-ui" not in client.get("/").get_data(as_text=True)  # Dash pages do not load it


# --- real responses ----------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request to an operation and the status it must answer. `caller`: token (the demo
    company's API token), admin (its logged-in admin), anonymous, or bad_token."""

    status: int
    path: str | None = None  # default: the operation's own path
    caller: str = "token"
    query: dict[str, str] = field(default_factory=dict)
    json: Any = None
    upload: bytes | None = None  # sent as the multipart field `file`


RATES_CSV = b"day,base,quote,rate\n2026-11-20,CAD,USD,0.7150\n"
CALLS: dict[tuple[str, str], list[Call]] = {
    ("GET", "/api/v1/status"): [Call(200), Call(401, caller="anonymous")],
    ("GET", "/api/v1/openapi.json"): [Call(200, caller="anonymous")],
    ("GET", "/api/v1/company"): [Call(200)],
    ("PATCH", "/api/v1/company"): [
        Call(403, json={"refund_dating": "order"}),
        Call(400, caller="admin", json={"refund_dating": "never"}),
        Call(200, caller="admin", json={"refund_dating": "order"}),
    ],
    ("GET", "/api/v1/platforms"): [Call(200), Call(401, caller="bad_token")],
    ("POST", "/api/v1/platforms/connect"): [Call(403, json={}), Call(400, caller="admin", json={"kind": "ebay"})],
    ("POST", "/api/v1/sync/{target}"): [
        Call(403, "/api/v1/sync/shopify"),
        Call(202, "/api/v1/sync/shopify", caller="admin"),
        Call(409, "/api/v1/sync/bestbuy", caller="admin"),  # paused
        Call(404, "/api/v1/sync/999999", caller="admin"),
    ],
    ("GET", "/api/v1/sync/status"): [Call(200)],
    ("GET", "/api/v1/tokens"): [Call(200)],
    ("POST", "/api/v1/tokens"): [
        Call(201, caller="admin", json={"name": "Nightly export"}),
        Call(400, caller="admin", json={"name": ""}),
        Call(403, json={"name": "from a token"}),
    ],
    ("DELETE", "/api/v1/tokens/{token_id}"): [
        Call(403, "/api/v1/tokens/{spare}"),
        Call(404, "/api/v1/tokens/999999", caller="admin"),
        Call(200, "/api/v1/tokens/{spare}", caller="admin"),
    ],
    ("GET", "/api/v1/fx-rates"): [Call(200, query={"base": "CAD"}), Call(400, query={"quote": "dollars"})],
    ("POST", "/api/v1/fx-rates"): [
        Call(403, upload=RATES_CSV),
        Call(400, caller="admin", upload=b"day,base,quote,rate\n2026-13-01,CAD,USD,-1\n"),
        Call(200, caller="admin", upload=RATES_CSV),
    ],
    ("GET", "/api/v1/analytics/metrics"): [
        Call(200),
        Call(200, query={"platform": "bestbuy", "format": "csv"}),
        Call(400, query={"start_date": "2026-02-30"}),
        Call(404, query={"platform": "999999"}),
    ],
    ("GET", "/api/v1/analytics/sales-trend"): [
        Call(200, query={"granularity": "week"}),  # the default 30 days cut a week and a month: partial rows
        Call(200, query={"granularity": "month", "format": "csv"}),
        Call(400, query={"granularity": "hour"}),
    ],
    ("GET", "/api/v1/analytics/platform-comparison"): [
        Call(200),
        Call(400, query={"start_date": "2026-01-02", "end_date": "2026-01-01"}),
    ],
    ("GET", "/api/v1/analytics/top-products"): [
        Call(200, query={"limit": "5", "sort": "units"}),
        Call(400, query={"limit": "0"}),
    ],
    ("GET", "/api/v1/analytics/dashboard-summary"): [Call(200), Call(400, query={"end_date": "2026-11-31"})],
    ("GET", "/api/v1/analytics/reconciliation"): [
        Call(200, query={"platform": "shopify"}),
        Call(200, query={"platform": "bestbuy", "format": "csv"}),
        Call(400),
        Call(404, query={"platform": "csv"}),
    ],
    ("POST", "/api/v1/platforms/{platform_id}/sales-report"): [
        Call(403, "/api/v1/platforms/1/sales-report", upload=b""),
        Call(400, "/api/v1/platforms/1/sales-report", caller="admin", upload=b"Day,Orders\nnot a day,x\n"),
        Call(404, "/api/v1/platforms/999999/sales-report", caller="admin", upload=b""),
    ],
    ("GET", "/api/v1/ml/models"): [Call(200), Call(200, query={"format": "csv"}), Call(400, query={"format": "xls"})],
    ("GET", "/api/v1/ml/performance"): [Call(200), Call(200, query={"format": "csv"})],
    ("POST", "/api/v1/ml/predict"): [
        Call(200, json={"platform": "all", "metric": "orders", "horizon": 7}),
        Call(400, json={"metric": "profit"}),
        Call(400, json={"metric": "orders", "horizon": 31}),
        Call(404, json={"platform": 999999, "metric": "orders"}),
        Call(404, json={"metric": "orders", "model": "crystal_ball"}),
        Call(200, json={"metric": "orders", "model": "ets"}),
        Call(400, json={"metric": "orders", "model": 7}),
    ],
    ("POST", "/api/v1/ml/retrain"): [Call(403), Call(202, caller="admin")],
    ("POST", "/api/v1/platforms/{platform_id}/import"): [
        Call(403, "/api/v1/platforms/1/import", upload=b""),
        Call(400, "/api/v1/platforms/1/import", caller="admin", upload=b"order_id\n"),  # not a CSV platform
        Call(404, "/api/v1/platforms/999999/import", caller="admin", upload=b""),
    ],
}


def store_a_forecast(session, company_id: int) -> None:
    """A fit of the all-channels orders series as the training stores it, with 30 days ahead."""
    today = utcnow().date()
    member = {"alias": "ets", "weight": 1.0, "fit_s": 0.5, "mase": 0.8, "smape": 12.0, "dropped": None}
    member["backtest"] = {"14": {"mase": 0.8, "smape": 12.0}}
    run = ModelRun(company_id=company_id, metric="orders", model="ensemble", status="succeeded", finished_at=utcnow())
    run.train_start, run.train_end = today - timedelta(days=60), today - timedelta(days=1)
    run.params = {"members": [member], "arima": None}
    run.accuracy = {"scale": 2.0, "backtest": {"14": {"mase": 0.8, "smape": 12.0}}, "coverage": {"80": 0.8, "95": 0.95}}
    run.accuracy["baseline_backtest"] = {"14": {"mase": 1.0, "smape": 15.0}}
    session.add(run)
    session.flush()
    for n in range(30):
        for model, mean in (("ensemble", Decimal(20)), ("ets", Decimal(21))):  # the chosen forecast and its member's
            day = today + timedelta(days=n)
            session.add(
                Prediction(
                    model_run_id=run.id, model=model, day=day, mean=mean,
                    lo_80=mean - 3, hi_80=mean + 3, lo_95=mean - 6, hi_95=mean + 6,
                )
            )  # fmt: skip


class Demo:
    """The demo company with a few days of sales, sync history, its admin logged in on `client`,
    and an API token created over the API."""

    def __init__(self, app: Flask, client, auth, sessions) -> None:
        seed_demo(sessions, business=Business(scale=0.1), days=10)
        now = utcnow()
        with transaction(sessions) as session:
            first, second = session.scalars(select(Platform.id).order_by(Platform.id))
            running = SyncRun(platform_id=first, started_at=now, status="running", rows=40, expected_rows=100)
            done = SyncRun(platform_id=second, started_at=now - timedelta(hours=1), finished_at=now, status="succeeded")
            session.add_all([running, done])
            session.get(Platform, first).status = "active"  # the demo's channels come paused (no store)
            store_a_forecast(session, session.get(Platform, first).company_id)
        auth.login(DEMO_EMAIL, DEMO_PASSWORD)
        self.admin, self.anonymous = client, app.test_client()
        self.token = client.post("/api/v1/tokens", json={"name": "demo"}).json["token"]
        self.spare_token_id = client.post("/api/v1/tokens", json={"name": "spare"}).json["id"]

    def send(self, method: str, path: str, call: Call):
        clients = {"admin": self.admin, "token": self.anonymous, "anonymous": self.anonymous}
        headers = {
            "token": {"Authorization": f"Bearer {self.token}"},
            "bad_token": {"Authorization": "Bearer cp_not-a-token"},
        }.get(call.caller, {})
        data = {"file": (io.BytesIO(call.upload), "rates.csv")} if call.upload is not None else None
        return clients.get(call.caller, self.anonymous).open(
            call.path.format(spare=self.spare_token_id) if call.path else path,
            method=method,
            query_string=call.query,
            json=call.json,
            data=data,
            headers=headers,
        )


@pytest.fixture
def demo(app, client, auth, sessions) -> Demo:
    return Demo(app, client, auth, sessions)


def test_every_operation_has_calls_to_check_it():
    assert set(CALLS) == set(OPERATIONS)


def test_real_responses_match_the_document(app, demo, subtests):
    for method, path in OPERATIONS:  # all served: test_every_documented_operation_is_served
        with subtests.test(msg=f"{method} {path}"):
            for call in CALLS[(method, path)]:
                response = demo.send(method, path, call)
                what = f"{method} {response.request.path} as {call.caller}"
                assert response.status_code == call.status, f"{what}: {response.get_data(as_text=True)}"
                assert str(call.status) in DOCUMENT["paths"][path][method.lower()]["responses"], what
                SCHEMA[path][method].validate_response(response)


@pytest.mark.usefixtures("company")
def test_a_wrong_response_is_caught(client, auth):
    auth.login()
    response = client.get("/api/v1/platforms")
    assert SCHEMA["/api/v1/platforms"]["GET"].is_valid_response(response)
    response.set_data(b'{"platforms": [{"id": "1"}]}')
    assert not SCHEMA["/api/v1/platforms"]["GET"].is_valid_response(response)


@pytest.mark.usefixtures("company")
def test_status_with_the_database_down_matches_the_document(client, auth, monkeypatch):
    def unreachable(_engine):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    auth.login()
    monkeypatch.setattr(migrate, "current_revision", unreachable)
    response = client.get("/api/v1/status")
    assert response.status_code == 503
    SCHEMA["/api/v1/status"]["GET"].validate_response(response)


# Extremes a few generated examples rarely reach: ids beyond the INTEGER column, digits that are
# not ASCII, dates whose default or previous period would start before year 1.
EXTREMES = [
    ("POST", "/api/v1/sync/99999999999999999999"),
    ("POST", "/api/v1/sync/\u00b2"),
    ("GET", "/api/v1/analytics/metrics?platform=99999999999999999999"),
    ("GET", "/api/v1/analytics/metrics?platform=\u00b2"),
    ("GET", "/api/v1/analytics/reconciliation?platform=9999999999"),
    ("POST", "/api/v1/platforms/99999999999999999999/sales-report"),
    ("DELETE", "/api/v1/tokens/not-an-id"),
    ("GET", "/api/v1/analytics/metrics?start_date=0001-01-01&end_date=0001-01-02"),
    ("GET", "/api/v1/analytics/dashboard-summary?end_date=0001-01-01"),
    ("GET", "/api/v1/fx-rates?end_date=0001-01-01"),
]


@pytest.mark.usefixtures("company")
def test_bad_input_is_a_4xx_never_a_500(client, auth, subtests):
    """docs/api.md: "Bad input is always a 4xx naming the parameter, never a 500"."""
    auth.login()
    for method, url in EXTREMES:
        with subtests.test(msg=f"{method} {url}"):
            response = client.open(url, method=method)
            assert 400 <= response.status_code < 500 and response.json["error"]["code"], response.status_code
            assert response.status_code != 405, "an unknown API path is a 404, whatever the method"


# --- schemathesis ------------------------------------------------------------------------

FUZZ_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.mark.slow
def test_fuzzing_finds_no_server_error_and_no_undocumented_response(app, demo, subtests):
    """Schemathesis against the app as the token holder: valid and invalid input, a few examples
    per operation, the same ones every run (derandomized, no example database)."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    for method, path in OPERATIONS:
        with subtests.test(msg=f"{method} {path}"):
            operation = schema[path][method]
            cases = st.one_of(
                operation.as_strategy(mode, headers={"Authorization": f"Bearer {demo.token}"})
                for mode in GenerationMode
            )

            @given(case=cases)
            @settings(
                max_examples=25, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
            )
            def call_and_validate(case):
                case.call_and_validate(checks=FUZZ_CHECKS)

            call_and_validate()
