"""Shopify's wire formats held to Shopify's own published Admin API schema, not only to our
simulator: every GraphQL document the connector sends validates against the real schema of the
API version it targets and uses nothing deprecated, and the simulator's hand-written SDL
declares every type, field and argument exactly as Shopify does (tests/fixtures/shopify/
ADMIN_SCHEMA.md says where the vendored introspection comes from)."""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from graphql import (
    FieldNode,
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    GraphQLUnionType,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    build_client_schema,
    is_required_argument,
    parse,
    print_ast,
    specified_rules,
    validate,
    validate_schema,
)
from graphql.validation import NoDeprecatedCustomRule

from connectors import shopify
from connectors.shopify import bulk as shopify_bulk
from connectors.shopify import report as shopify_report
from simulators.business import Business
from simulators.server import SimRequest, SimResponse
from simulators.shopify import DEV_ACCESS_TOKEN, SHOP_DOMAIN, ShopifySimulator, build_shopify
from simulators.shopify import SCHEMA as SIMULATOR_SCHEMA
from simulators.store import ManualClock
from tests.sims import DEV_NETWORK

FIXTURES = Path(__file__).with_name("fixtures") / "shopify"
CONNECTOR_MODULES = (shopify, shopify_report)


# The one rule of the GraphQL spec's schema validation that Shopify's own schema breaks: a few
# types deprecate a field their interface does not (graphql-core 3.3 checks it; Shopify serves
# it). Documents are validated against the schema as Shopify serves it, so this is tolerated.
TOLERATED_SCHEMA_ERROR = re.compile(
    r"^Interface field \S+ is not deprecated, so implementation field \S+ must not be deprecated\.$"
)


def load_admin_schema(version: str) -> GraphQLSchema:
    """Shopify's Admin API schema of `version`, from its introspection result as Shopify ships it."""
    with gzip.open(FIXTURES / f"admin_{version}.json.gz", "rt", encoding="utf-8") as file:
        schema = build_client_schema(json.load(file)["data"])
    errors = [error.message for error in validate_schema(schema)]
    assert errors and all(TOLERATED_SCHEMA_ERROR.match(message) for message in errors), errors
    schema._validation_errors = []
    return schema


@pytest.fixture(scope="module")
def admin_schema() -> GraphQLSchema:
    """The schema of the version the connector targets: moving API_VERSION needs its schema here."""
    return load_admin_schema(shopify.API_VERSION)


def module_documents(module: ModuleType) -> dict[str, str]:
    """The module's constant GraphQL documents: every string that parses as one, and every
    `*_QUERY` / `*_MUTATION` string even if it does not (validation then reports why)."""
    documents = {}
    for name, value in vars(module).items():
        if not isinstance(value, str) or name.startswith("__"):
            continue
        if not name.endswith(("_QUERY", "_MUTATION")):
            try:
                parse(value)
            except GraphQLSyntaxError:
                continue  # a fragment of a document, a ShopifyQL query, a version string...
        documents[f"{module.__name__}.{name}"] = value
    return documents


def connector_documents() -> dict[str, str]:
    """Every GraphQL document the Shopify connector sends, by name: its modules' constants and
    the documents it builds at run time (bulk queries, follow-up pages)."""
    documents = {name: text for module in CONNECTOR_MODULES for name, text in module_documents(module).items()}
    documents.update(shopify.built_documents())
    return documents


def schema_problems(schema: GraphQLSchema, text: str) -> list[str]:
    """Why Shopify would refuse `text`, or warn about it: a syntax error, any of GraphQL's
    validation rules, or a deprecated field, argument, input field or enum value (graphql-core's
    NoDeprecatedCustomRule walks the document with TypeInfo)."""
    try:
        document = parse(text)
    except GraphQLSyntaxError as exc:
        return [exc.message]
    return [error.message for error in validate(schema, document, [*specified_rules, NoDeprecatedCustomRule])]


DOCUMENTS = connector_documents()


def test_every_kind_of_document_the_connector_sends_is_collected():
    """The collection itself can fail: it finds the constants, the bulk queries (sent as a
    variable of bulkOperationRunQuery) and the follow-up queries."""
    names = set(DOCUMENTS)
    assert {"connectors.shopify.ORDERS_QUERY", "connectors.shopify.BULK_RUN_MUTATION"} <= names
    assert {"connectors.shopify.BULK_IN_PROGRESS_QUERY", "connectors.shopify.SALES_REPORT_QUERY"} <= names
    assert sum(name.startswith("bulk_orders_query(") for name in names) == 4
    assert sum(name.startswith("follow_up_query(") for name in names) == 3
    assert "mutation" in DOCUMENTS["connectors.shopify.BULK_RUN_MUTATION"]


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_the_document_is_valid_against_shopifys_schema_and_uses_nothing_deprecated(admin_schema, name):
    assert schema_problems(admin_schema, DOCUMENTS[name]) == []


def test_a_misspelled_field_and_a_deprecated_one_are_caught(admin_schema):
    """The check is not vacuous: Shopify's schema refuses what it does not define and flags
    what it deprecates."""
    misspelled = DOCUMENTS["connectors.shopify.SHOP_QUERY"].replace("ianaTimezone", "ianaTimeZone")
    assert any("ianaTimeZone" in problem for problem in schema_problems(admin_schema, misspelled))
    deprecated = "{ currentBulkOperation { id } }"
    assert any("deprecated" in problem for problem in schema_problems(admin_schema, deprecated))


# --- the simulator's SDL --------------------------------------------------------------------


def _default(argument: GraphQLArgument) -> str | None:
    """An argument's default as a GraphQL literal (SDL and introspection keep it as one)."""
    default = argument.default
    if default is None:
        return None
    return print_ast(default.literal) if default.literal is not None else repr(default.value)


def _arguments_differences(where: str, simulated: dict, real: dict) -> list[str]:
    """Each argument the simulator declares is Shopify's, of the same type and default; each
    argument Shopify requires is declared."""
    differences = []
    for name, argument in simulated.items():
        actual = real.get(name)
        if actual is None:
            differences.append(f"{where}({name}:): not an argument on Shopify")
        elif (str(argument.type), _default(argument)) != (str(actual.type), _default(actual)):
            differences.append(
                f"{where}({name}:): {argument.type} = {_default(argument)},"
                f" Shopify has {actual.type} = {_default(actual)}"
            )
    differences += [
        f"{where}({name}:): required on Shopify"
        for name, a in real.items()
        if name not in simulated and is_required_argument(a)
    ]
    return differences


def _fields_differences(simulated: GraphQLNamedType, real: GraphQLNamedType) -> list[str]:
    """Fields (of an object, interface or input object) as Shopify declares them: same type,
    with its nullability, same arguments, and deprecated where Shopify deprecates them."""
    differences = []
    for name, field in simulated.fields.items():
        where, actual = f"{simulated.name}.{name}", real.fields.get(name)
        if actual is None:
            differences.append(f"{where}: not a field on Shopify")
            continue
        if str(field.type) != str(actual.type):
            differences.append(f"{where}: {field.type}, Shopify has {actual.type}")
        if field.deprecation_reason != actual.deprecation_reason:
            differences.append(
                f"{where}: deprecated {field.deprecation_reason!r}, on Shopify {actual.deprecation_reason!r}"
            )
        differences += _arguments_differences(where, getattr(field, "args", {}), getattr(actual, "args", {}))
    return differences


def _type_differences(simulated: GraphQLNamedType, real: GraphQLNamedType | None) -> list[str]:
    """How one of the simulator's named types differs from Shopify's type of the same name."""
    if real is None:
        return [f"{simulated.name}: not a type on Shopify"]
    if type(simulated) is not type(real):
        return [f"{simulated.name}: a {type(simulated).__name__}, on Shopify a {type(real).__name__}"]
    if isinstance(simulated, GraphQLEnumType):
        return [
            f"{simulated.name}.{value}: not a value on Shopify" for value in set(simulated.values) - set(real.values)
        ]
    if isinstance(simulated, GraphQLUnionType):
        members = {t.name for t in simulated.types} - {t.name for t in real.types}
        return [f"{simulated.name}: {member} is not a member on Shopify" for member in sorted(members)]
    differences = []
    if isinstance(simulated, GraphQLObjectType | GraphQLInterfaceType):
        interfaces = {i.name for i in simulated.interfaces} - {i.name for i in real.interfaces}
        differences += [f"{simulated.name}: implements {name}, not on Shopify" for name in sorted(interfaces)]
    if isinstance(simulated, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
        differences += _fields_differences(simulated, real)
    return differences


def schema_differences(simulated: GraphQLSchema, real: GraphQLSchema) -> list[str]:
    """Everything the simulator's schema declares that Shopify's does not declare the same way."""
    differences = [
        f"{kind} root: {getattr(simulated, kind).name}, Shopify has {getattr(real, kind).name}"
        for kind in ("query_type", "mutation_type")
        if getattr(simulated, kind).name != getattr(real, kind).name
    ]
    for name, named in sorted(simulated.type_map.items()):
        if not name.startswith("__"):
            differences += _type_differences(named, real.type_map.get(name))
    return differences


def test_the_simulators_schema_declares_what_shopify_declares(admin_schema):
    assert schema_differences(SIMULATOR_SCHEMA, admin_schema) == []


# --- what the connector really sends ----------------------------------------------------------


class Recorder:
    """The simulator, unchanged, keeping every GraphQL document a client sent it: each request's
    document, and the bulk query a bulkOperationRunQuery carries (a variable or a literal)."""

    def __init__(self, simulator: ShopifySimulator) -> None:
        self.simulator, self.documents = simulator, set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.simulator, name)

    def handle(self, request: SimRequest) -> SimResponse:
        if request.method == "POST" and request.path.endswith("/graphql.json"):
            payload = json.loads(request.body)
            self.documents.add(payload["query"])
            self.documents.update(self._bulk_queries(payload["query"], payload.get("variables") or {}))
        return self.simulator.handle(request)

    @staticmethod
    def _bulk_queries(text: str, variables: dict) -> list[str]:
        arguments = [
            argument.value
            for definition in parse(text).definitions
            if isinstance(definition, OperationDefinitionNode) and definition.operation == OperationType.MUTATION
            for selection in definition.selection_set.selections
            if isinstance(selection, FieldNode) and selection.name.value == "bulkOperationRunQuery"
            for argument in selection.arguments
            if argument.name.value == "query"
        ]
        return [variables[v.name.value] if isinstance(v, VariableNode) else v.value for v in arguments]


def test_every_document_sent_in_a_sync_is_valid_against_shopifys_schema(admin_schema, monkeypatch):
    """What the connector really sends, whichever function built it: a windowed bulk backfill,
    an incremental sync by pages, products and the sales report."""
    now = datetime(2025, 3, 15, 18, 0, tzinfo=UTC)
    server = build_shopify(Business(scale=0.2), history_days=20, clock=ManualClock(now), bulk_delay=0.02)
    recorder = server.simulator = Recorder(server.simulator)
    config = {"shop_domain": SHOP_DOMAIN, "base_url": server.url, "api_version": shopify.API_VERSION}
    connector = shopify.ShopifyConnector(config, {"access_token": DEV_ACCESS_TOKEN}, network=DEV_NETWORK)
    monkeypatch.setattr(shopify_bulk, "BULK_WINDOW_ORDERS", 100)  # a backfill of several windows
    with server.start():
        connector.check()
        assert sum(len(page) for page in connector.fetch_orders(None)) > 200
        assert list(connector.fetch_orders(now - timedelta(days=2)))
        assert list(connector.fetch_products())
        assert connector.fetch_daily_report(now.date() - timedelta(days=7), now.date())
    problems = {text: schema_problems(admin_schema, text) for text in recorder.documents}
    assert {text: found for text, found in problems.items() if found} == {}
    constants = {text: name for name, text in DOCUMENTS.items() if name.startswith("connectors.")}
    sent = {constants.get(text, text) for text in recorder.documents}
    expected = {"SHOP_QUERY", "SPAN_QUERY", "BULK_RUN_MUTATION", "BULK_NODE_QUERY", "ORDERS_QUERY", "REFUNDS_QUERY"}
    expected |= {"VARIANTS_QUERY", "SALES_REPORT_QUERY"}
    assert {f"connectors.shopify.{name}" for name in expected} <= sent
    assert sum(text.startswith("{ orders(sortKey: UPDATED_AT, query:") for text in sent) >= 3  # the windows
