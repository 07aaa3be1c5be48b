"""A local Shopify store that speaks the GraphQL Admin API, backed by the synthetic business.

Clients talk to it exactly as to a real shop: `POST /admin/api/{YYYY-MM|unstable}/graphql.json`
with `X-Shopify-Access-Token`. Queries run on a real schema (`schema.graphql`, a subset of
the Admin API) with graphql-core, so variables, aliases and fragments work; every answer carries
Shopify's calculated query cost and leaky-bucket `throttleStatus`. Bulk operations (checked
against Shopify's rules for bulk queries) run in the background and are downloaded from
`GET /bulk/<n>.jsonl`. With a webhook URL, every change made on demand (the server's `/_sim/`
endpoints) is POSTed there, REST-shaped and HMAC-signed.

Conventions for development and tests:

- shop domain `northwind-audio.myshopify.com`, the demo company's (see jobs.DEMO_PLATFORMS);
- access token `shpat_simulator_dev_token` unless another is configured;
- connector config `{"shop_domain": SHOP_DOMAIN, "base_url": server.url}`,
  secrets `{"access_token": DEV_ACCESS_TOKEN}`.

Money is rendered from the SimOrder to the cent, so a correct connector reproduces
`SimOrder.to_record(as_of)` exactly. A cancellation is rendered as a normal refund whose
createdAt equals the order's cancelledAt. The sales ledger (`Order.agreements`) holds the
order's agreement and one per refund, whose sales give back the refund's lines and shipping,
booked negative.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cached_property, lru_cache, partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLIncludeDirective,
    GraphQLObjectType,
    GraphQLSkipDirective,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    build_schema,
    default_field_resolver,
    execute,
    get_argument_values,
    get_directive_values,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    get_variable_values,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    parse,
    validate,
)

from records import CENT, ZERO, cycle_collector_paused
from simulators import shopifyql
from simulators.business import (
    CURRENCY,
    GIFT_CARD,
    SHOPIFY,
    Business,
    CatalogItem,
    SimLine,
    SimOrder,
    SimRefund,
    product_external_id,
    product_record,
)
from simulators.server import FaultPlan, SimRequest, SimResponse, SimulatorServer
from simulators.shopify.bulk_filter import bulk_filter
from simulators.store import ChannelStore, Clock, system_clock

log = logging.getLogger(__name__)

SHOP_DOMAIN = "northwind-audio.myshopify.com"
SHOP_NAME = "Northwind Audio"
DEV_ACCESS_TOKEN = "shpat_simulator_dev_token"
WEBHOOK_API_VERSION = "2025-10"

MAX_PAGE_SIZE = 250
MAX_QUERY_COST = 1000
MUTATION_COST = 10
VISIBLE_WITHOUT_READ_ALL_ORDERS = timedelta(days=60)
# The rate-limit fault empties the bucket this far (in seconds of restore) below the query's
# cost, so the THROTTLED answer is consistent: the client has to wait that long.
THROTTLE_FAULT_SECONDS = 0.25
BULK_OPERATIONS_KEPT = 5
# Bulk query operations a shop may run at once: one before API version 2026-01, five from it.
CONCURRENT_BULK_QUERIES = 5
CONCURRENT_BULK_QUERIES_SINCE = "2026-01"
# Connections may nest two levels below the top-level one (products > variants > images is
# allowed, a third level is not: shopify.dev, bulk operations, "Operation restrictions").
MAX_BULK_NESTING = 2
# Catalog sort keys the simulator implements, and the node field each sorts by (ties by id).
_CATALOG_SORT = {
    "ID": "legacyResourceId",
    "TITLE": "title",
    "SKU": "sku",
    "CREATED_AT": "createdAt",
    "UPDATED_AT": "updatedAt",
}

SCHEMA = build_schema(Path(__file__).with_name("schema.graphql").read_text())

_GRAPHQL_PATH = re.compile(r"^/admin/api/(\d{4}-\d{2}|unstable)/graphql\.json$")
_BULK_PATH = re.compile(r"^/bulk/(\d+)\.jsonl$")
_GID = re.compile(r"^gid://shopify/(\w+)/(\d+)$")
_INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
_MAX_COST_MESSAGE = (
    "Query cost is {cost}, which exceeds the single query max cost limit ({limit}).\n\n"
    "See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n"
    "cost of a query is calculated.\n\n"
    "To query larger amounts of data with fewer limits, bulk operations should be used instead.\n"
    "See https://shopify.dev/api/usage/bulk-operations/queries for usage details.\n"
)


# --- rendering helpers ---------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    """Shopify's DateTime: UTC with a Z."""
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _amount(value: Decimal) -> str:
    return str(value.quantize(CENT))


def _bag(value: Decimal, currency: str) -> dict:
    """A MoneyBag: this shop sells in its own currency only, so both monies are the same."""
    money = {"amount": _amount(value), "currencyCode": currency}
    return {"shopMoney": money, "presentmentMoney": money}


def _rest_bag(value: Decimal, currency: str) -> dict:
    money = {"amount": _amount(value), "currency_code": currency}
    return {"shop_money": money, "presentment_money": money}


def webhook_hmac(secret: str, body: bytes) -> str:
    """X-Shopify-Hmac-Sha256: base64 of the HMAC-SHA256 of the raw body, keyed by the app secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


# --- cursors and pages ---------------------------------------------------------------------

# A sort key: (sort value, id) for orders, the position for lists. Cursors carry it opaquely.
Key = Any


def _encode_cursor(key: Key) -> str:
    if isinstance(key, tuple):
        value, last_id = key
        payload = {"last_id": last_id, "last_value": _iso(value) if isinstance(value, datetime) else value}
    else:
        payload = {"last_id": key}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def _decode_cursor(cursor: str | None) -> Key:
    if cursor is None:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if "last_value" not in payload:
            return int(payload["last_id"])
        value = payload["last_value"]
        return (datetime.fromisoformat(value) if isinstance(value, str) else int(value), int(payload["last_id"]))
    except (ValueError, TypeError, KeyError):
        raise GraphQLError(f"Invalid cursor {cursor!r}.") from None


@dataclass
class _Page:
    items: list[tuple[Key, Any]]
    has_next: bool
    has_previous: bool

    def connection(self, render: Callable[[Any], dict] = lambda node: node) -> dict:
        edges = [{"cursor": _encode_cursor(key), "node": render(item)} for key, item in self.items]
        return {
            "edges": edges,
            "nodes": [edge["node"] for edge in edges],
            "pageInfo": {
                "hasNextPage": self.has_next,
                "hasPreviousPage": self.has_previous,
                "startCursor": edges[0]["cursor"] if edges else None,
                "endCursor": edges[-1]["cursor"] if edges else None,
            },
        }


def _paginate(
    items: Iterable[tuple[Key, Any]],
    *,
    first: int | None = None,
    last: int | None = None,
    after: Key = None,
    before: Key = None,
    reverse: bool = False,
) -> _Page:
    """Relay pagination over items in ascending key order. The common case (forward from a
    cursor) stays lazy, so a page of a large store costs one page of work."""
    if not reverse and last is None and before is None:
        remaining = (pair for pair in items if after is None or pair[0] > after)
        if first is None:
            return _Page(list(remaining), False, after is not None)
        taken = list(itertools.islice(remaining, first + 1))
        return _Page(taken[:first], len(taken) > first, after is not None)

    ordered = list(items)[::-1] if reverse else list(items)

    def beyond(key: Key, cursor: Key) -> bool:
        return key < cursor if reverse else key > cursor

    if after is not None:
        ordered = [pair for pair in ordered if beyond(pair[0], after)]
    if before is not None:
        ordered = [pair for pair in ordered if beyond(before, pair[0])]
    has_next, has_previous = before is not None, after is not None
    if first is not None:
        has_next = has_next or len(ordered) > first
        ordered = ordered[:first]
    if last is not None:
        has_previous = has_previous or len(ordered) > last
        ordered = ordered[len(ordered) - last :] if last else []
    return _Page(ordered, has_next, has_previous)


def _page_args(args: Mapping[str, Any]) -> dict:
    return {
        "first": args.get("first"),
        "last": args.get("last"),
        "after": _decode_cursor(args.get("after")),
        "before": _decode_cursor(args.get("before")),
        "reverse": bool(args.get("reverse")),
    }


_WHOLE = _page_args({})  # no paging arguments: the whole connection


# --- search syntax -------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<connective>AND|OR)(?=\s|$)
      | (?P<negate>-|NOT\s+)?(?P<field>\w+):(?P<op><=|>=|<|>)?(?P<value>'[^']*'|"[^"]*"|[^\s()]+)
      | (?P<other>\S+)
    )""",
    re.VERBOSE,
)
_COMPARE: dict[str, Callable[[datetime, datetime], bool]] = {
    "": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


@dataclass(frozen=True)
class _Term:
    field: str
    op: str
    value: datetime
    negate: bool

    def matches(self, values: Mapping[str, datetime]) -> bool:
        return _COMPARE[self.op](values[self.field], self.value) != self.negate


@dataclass
class _Search:
    """A parsed `query:` argument: date comparisons joined by AND (explicit or implied).

    As on Shopify, a term on a field the resource cannot be searched by is ignored and
    reported under `extensions.search`. Syntax the simulator does not implement (OR,
    parentheses, free text) is refused rather than silently answered wrong.
    """

    text: str | None
    terms: list[_Term] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | None, fields: Collection[str], tz: ZoneInfo) -> _Search:
        search = cls(text)
        for match in _TOKEN.finditer(text or ""):
            if match["connective"] == "AND":
                continue
            if match["connective"] or match["other"]:
                unsupported = match.group(0).strip()
                raise GraphQLError(
                    f"The simulator's search takes field comparisons joined by AND, not {unsupported!r}."
                )
            name = match["field"]
            if name not in fields:
                search.warnings.append({"field": name, "message": "Invalid search field for this query."})
                continue
            search.terms.append(_Term(name, match["op"] or "", _search_date(match["value"], tz), bool(match["negate"])))
        return search

    def matches(self, values: Mapping[str, datetime]) -> bool:
        return all(term.matches(values) for term in self.terms)

    def lower_bound(self, name: str) -> datetime | None:
        """The latest `name >= x` (or `> x`) bound: where an index walk may start."""
        bounds = [t.value for t in self.terms if t.field == name and t.op in (">", ">=") and not t.negate]
        return max(bounds, default=None)

    def upper_bound(self, name: str) -> datetime | None:
        """The earliest `name <= x` (or `< x`) bound: past it, an index walk may stop."""
        bounds = [t.value for t in self.terms if t.field == name and t.op in ("<", "<=") and not t.negate]
        return min(bounds, default=None)


def _search_date(raw: str, tz: ZoneInfo) -> datetime:
    """A quoted or bare ISO date or time; a date or time without an offset is the shop's local time."""
    text = raw.strip("'\"")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise GraphQLError(f"Invalid date {text!r} in search query.") from None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


# --- reading queries -----------------------------------------------------------------------


class _Selections:
    """Walks a query's selections the way execution does: through the fragments that apply
    to a type, minus what @skip/@include leave out."""

    def __init__(self, document: DocumentNode, variables: Any = None) -> None:
        self.variables = variables
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}

    def fields(self, type_: GraphQLObjectType, selection_set: SelectionSetNode) -> Iterator[FieldNode]:
        """The fields selected on an object of `type_`."""
        for selection in selection_set.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                yield selection
                continue
            fragment = selection if isinstance(selection, InlineFragmentNode) else self.fragments[selection.name.value]
            condition = fragment.type_condition and SCHEMA.get_type(fragment.type_condition.name.value)
            if (
                not condition
                or condition is type_
                or (is_abstract_type(condition) and SCHEMA.is_sub_type(condition, type_))
            ):
                yield from self.fields(type_, fragment.selection_set)

    def node_paths(
        self, connection_type: GraphQLObjectType, selection_set: SelectionSetNode
    ) -> Iterator[tuple[tuple[str, ...], SelectionSetNode]]:
        """Where a connection's nodes are selected: `nodes {…}` and `edges { node {…} }`, with
        the response keys leading there."""
        edge_type = get_named_type(connection_type.fields["edges"].type)
        for node in self.fields(connection_type, selection_set):
            key = node.alias.value if node.alias else node.name.value
            if node.name.value == "nodes":
                yield (key,), node.selection_set
            elif node.name.value == "edges":
                for inner in self.fields(edge_type, node.selection_set):
                    if inner.name.value == "node":
                        yield (key, inner.alias.value if inner.alias else "node"), inner.selection_set

    def _included(self, node: Any) -> bool:
        skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
        include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
        return not (skip and skip["if"]) and not (include and not include["if"])


def _is_connection_type(type_: Any) -> bool:
    return type_.name.endswith("Connection")


def _node_type(connection_type: GraphQLObjectType) -> Any:
    return get_named_type(connection_type.fields["nodes"].type)


def _object_types(type_: Any) -> list[GraphQLObjectType]:
    """The object types a value of `type_` can have: itself, or an interface's implementations."""
    return list(SCHEMA.get_possible_types(type_)) if is_abstract_type(type_) else [type_]


# --- calculated query cost -----------------------------------------------------------------


class _QueryCost:
    """Shopify's calculated query cost for one operation.

    Scalars and enums cost 0, objects 1, a connection 2 plus its page size times the cost of
    one node, a mutation 10. The requested cost is computed from the query before it runs;
    the actual cost walks the response, counting the nodes really returned.
    """

    def __init__(self, document: DocumentNode, operation: OperationDefinitionNode, variables: Any) -> None:
        self.operation = operation
        self.variables = variables
        self.selections = _Selections(document, variables)

    def requested(self) -> int:
        """Also enforces the page-size rules (first or last given, at most 250)."""
        if self.operation.operation == OperationType.MUTATION:
            return MUTATION_COST * sum(
                1 for _ in self.selections.fields(SCHEMA.mutation_type, self.operation.selection_set)
            )
        return self._selection(SCHEMA.query_type, self.operation.selection_set, None)

    def actual(self, data: Mapping[str, Any] | None) -> int:
        if self.operation.operation == OperationType.MUTATION:
            return self.requested()
        return self._selection(SCHEMA.query_type, self.operation.selection_set, data or {})

    def _selection(self, type_: GraphQLObjectType, selection_set: SelectionSetNode, data: Mapping | None) -> int:
        total = 0
        for node in self.selections.fields(type_, selection_set):
            name = node.name.value
            if name.startswith("__"):
                continue
            field_def = type_.fields[name]
            named = get_named_type(field_def.type)
            if is_leaf_type(named):
                continue
            value = None if data is None else data.get(node.alias.value if node.alias else name)
            if data is not None and value is None:
                continue
            args = get_argument_values(field_def, node, self.variables) if data is None else {}
            if _is_connection_type(named):
                total += 2 + self._connection(named, node, args, value)
            elif not is_list_type(get_nullable_type(field_def.type)):
                total += 1 + self._object(named, node.selection_set, value)
            elif value is None:  # a list is sized by `first`, or by the ids it reads
                size = args.get("first") or len(args.get("ids") or ()) or 1
                total += size * (1 + self._object(named, node.selection_set, None))
            else:
                total += sum(1 + self._object(named, node.selection_set, item) for item in value if item)
        return total

    def _object(self, type_: Any, selection_set: SelectionSetNode, data: Mapping | None) -> int:
        return max(self._selection(t, selection_set, data) for t in _object_types(type_))

    def _connection(self, type_: GraphQLObjectType, node: FieldNode, args: Mapping, value: Mapping | None) -> int:
        node_type = _node_type(type_)
        paths = list(self.selections.node_paths(type_, node.selection_set))
        if value is None:
            size = _page_size(node, args)
            return size + size * sum(self._object(node_type, selections, None) for _, selections in paths)
        returned = [_path_items(value, keys) for keys, _ in paths]
        count = max((len(items) for items in returned), default=0)
        return count + sum(
            self._object(node_type, selections, item)
            for (_, selections), items in zip(paths, returned, strict=True)
            for item in items
        )


def _page_size(node: FieldNode, args: Mapping[str, Any]) -> int:
    size = args.get("first") if args.get("first") is not None else args.get("last")
    if size is None:
        raise GraphQLError("you must provide one of first or last", node)
    if not 0 <= size <= MAX_PAGE_SIZE:
        raise GraphQLError(
            f"The page size of {node.name.value} must be between 0 and {MAX_PAGE_SIZE}, not {size}.", node
        )
    return size


def _path_items(value: Mapping, keys: tuple) -> list:
    outer = value.get(keys[0]) or []
    return [item for item in outer if item] if len(keys) == 1 else [e[keys[1]] for e in outer if e and e.get(keys[1])]


class _Bucket:
    """The leaky bucket of one (app, shop): a query needs its requested cost up front and is
    refunded the difference to its actual cost afterwards. Real time (`seconds`, monotonic by
    default; tests pass a clock of their own), not the store clock."""

    def __init__(self, size: float, restore_rate: float, seconds: Callable[[], float] = time.monotonic) -> None:
        self.size, self.restore_rate = float(size), float(restore_rate)
        self._seconds = seconds
        self._level = self.size
        self._at = seconds()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._seconds()
        self._level = min(self.size, self._level + (now - self._at) * self.restore_rate)
        self._at = now

    def take(self, cost: int) -> bool:
        with self._lock:
            self._refill()
            if cost > self._level:
                return False
            self._level -= cost
            return True

    def give_back(self, points: int) -> None:
        with self._lock:
            self._level = min(self.size, self._level + points)

    def drain_below(self, cost: int) -> None:
        with self._lock:
            self._refill()
            self._level = min(self._level, max(0.0, cost - self.restore_rate * THROTTLE_FAULT_SECONDS))

    def status(self) -> dict:
        with self._lock:
            self._refill()
            return {
                "maximumAvailable": self.size,
                "currentlyAvailable": int(self._level),
                "restoreRate": self.restore_rate,
            }


# --- bulk operations -----------------------------------------------------------------------


@dataclass
class _BulkOperation:
    number: int
    query: str
    as_of: datetime
    status: str = "CREATED"
    error_code: str | None = None
    completed_at: datetime | None = None
    object_count: int = 0
    root_object_count: int = 0
    body: bytes | None = None

    @property
    def gid(self) -> str:
        return f"gid://shopify/BulkOperation/{self.number}"

    @property
    def running(self) -> bool:
        return self.status in ("CREATED", "RUNNING")

    def node(self, base_url: str) -> dict:
        has_file = self.status == "COMPLETED" and self.object_count > 0
        return {
            "__typename": "BulkOperation",
            "id": self.gid,
            "type": "QUERY",
            "status": self.status,
            "errorCode": self.error_code,
            "query": self.query,
            "createdAt": _iso(self.as_of),
            "completedAt": _iso(self.completed_at),
            "objectCount": str(self.object_count),
            "rootObjectCount": str(self.root_object_count),
            "fileSize": str(len(self.body)) if has_file and self.body is not None else None,
            "url": f"{base_url}/bulk/{self.number}.jsonl" if has_file else None,
            "partialDataUrl": None,
        }


_LINE = json.JSONEncoder(separators=(",", ":")).encode  # json.dumps(..., separators=...) without an encoder a call


@dataclass
class _BulkField:
    """One response key of a bulk plan: what it reads from the node dict, and how."""

    key: str
    name: str
    typename: str | None = None  # for __typename
    serialize: Callable[[Any], Any] | None = None  # for a leaf
    plan: _BulkPlan | _TypedPlans | None = None  # for an object, or a connection's nodes
    listed: bool = False
    first: int | None = None  # a list field cut short
    page: dict | None = None  # a connection's paging arguments

    def one(self, value: Any, owner_id: Any, nested: list) -> Any:
        """One value of the field: a leaf serialized by its type, an object projected by its plan."""
        if value is None:
            return None
        if self.plan is None:
            return self.serialize(value)
        return self.plan.line(value, owner_id, nested)


class _BulkPlan:
    """A bulk query's selection on one object type, compiled once per operation, so the file is
    projected straight from the node dicts (order_node and friends) rather than resolved field by
    field by graphql-core, which is far too slow for 100,000 orders. It answers what execution
    would (aliases, fragments, __typename, `first` on lists, paging arguments on connections,
    leaves serialized by their type) and lays it out as Shopify's bulk files do: a nested
    connection's nodes become lines of their own after their holder's, pointing back by
    `__parentId` to the id of the object holding the connection. Only `edges { node }` of a
    connection is read: cursors and pageInfo never appear in a bulk file.
    """

    def __init__(
        self, selections: _Selections, type_: GraphQLObjectType, selection_sets: Iterable[SelectionSetNode]
    ) -> None:
        grouped: dict[str, list[FieldNode]] = {}  # as execution merges the fields of one response key
        for selection_set in selection_sets:
            for node in selections.fields(type_, selection_set):
                grouped.setdefault(node.alias.value if node.alias else node.name.value, []).append(node)
        self.fields = [self._field(selections, type_, key, nodes) for key, nodes in grouped.items()]
        self.id = next((f for f in self.fields if f.key == "id" and f.serialize and not f.listed), None)

    @classmethod
    def of(cls, document: DocumentNode) -> tuple[FieldNode, _BulkPlan | _TypedPlans]:
        """The root connection field of a (valid) bulk query, and the plan for its nodes."""
        selections = _Selections(document)
        (root,) = selections.fields(SCHEMA.query_type, get_operation_ast(document).selection_set)
        return root, cls._nodes(selections, get_named_type(SCHEMA.query_type.fields[root.name.value].type), [root])

    @classmethod
    def _nodes(cls, selections: _Selections, connection_type: Any, nodes: list[FieldNode]) -> _BulkPlan | _TypedPlans:
        """The plan for the nodes a connection selects through `edges { node }`."""
        node_sets = [
            selection_set
            for node in nodes
            for keys, selection_set in selections.node_paths(connection_type, node.selection_set)
            if len(keys) == 2
        ]
        return cls._of_type(selections, _node_type(connection_type), node_sets)

    @classmethod
    def _of_type(
        cls, selections: _Selections, type_: Any, selection_sets: list[SelectionSetNode]
    ) -> _BulkPlan | _TypedPlans:
        """The plan for an object type, or one for each object type of an interface."""
        if is_abstract_type(type_):
            return _TypedPlans({t.name: cls(selections, t, selection_sets) for t in _object_types(type_)})
        return cls(selections, type_, selection_sets)

    @classmethod
    def _field(cls, selections: _Selections, type_: GraphQLObjectType, key: str, nodes: list[FieldNode]) -> _BulkField:
        name = nodes[0].name.value
        if name == "__typename":
            return _BulkField(key, name, typename=type_.name)
        field_def = type_.fields[name]
        args = get_argument_values(field_def, nodes[0], selections.variables)
        named = get_named_type(field_def.type)
        if _is_connection_type(named):
            return _BulkField(key, name, plan=cls._nodes(selections, named, nodes), page=_page_args(args))
        field = _BulkField(key, name, listed=is_list_type(get_nullable_type(field_def.type)), first=args.get("first"))
        if is_leaf_type(named):
            field.serialize = named.serialize
        else:
            field.plan = cls._of_type(selections, named, [node.selection_set for node in nodes])
        return field

    def lines(self, node: Mapping, parent_id: str | None = None) -> Iterator[dict]:
        """The node's line, then the lines of its nested connections' nodes."""
        nested: list[tuple[Any, _BulkPlan | _TypedPlans, list]] = []
        line = self.line(node, None, nested)
        if parent_id is not None:
            line["__parentId"] = parent_id
        yield line
        for owner_id, plan, children in nested:
            for child in children:
                yield from plan.lines(child, owner_id)

    def line(self, node: Mapping, owner_id: Any, nested: list) -> dict:
        """The node projected on the selection, less its nested connections, which are queued
        on `nested` with the id they belong to: this object's `id`, else its holder's. (Written
        for speed: it runs for every field of every object of a bulk file.)"""
        get = node.get
        own_id = owner_id if self.id is None else self.id.one(get(self.id.name), None, nested)
        line = {}
        for selected in self.fields:
            if selected.typename:
                line[selected.key] = selected.typename
                continue
            value = get(selected.name)
            if selected.serialize is not None and not selected.listed:
                line[selected.key] = None if value is None else selected.serialize(value)
            elif selected.page is not None:
                if selected.page == _WHOLE:  # a bulk query's nested connections are read whole
                    nested.append((own_id, selected.plan, value))
                else:
                    page = _paginate(enumerate(value), **selected.page)
                    nested.append((own_id, selected.plan, [child for _, child in page.items]))
            elif selected.listed and value is not None:
                items = value if selected.first is None else value[: selected.first]
                line[selected.key] = [selected.one(item, own_id, nested) for item in items]
            else:
                line[selected.key] = selected.one(value, own_id, nested)
        return line


class _TypedPlans:
    """The plans for an interface's object types (a sales agreement, a sale): each node is
    projected by the plan of its own `__typename`, as execution resolves an abstract type."""

    def __init__(self, plans: Mapping[str, _BulkPlan]) -> None:
        self.plans = plans

    def lines(self, node: Mapping, parent_id: str | None = None) -> Iterator[dict]:
        return self.plans[node["__typename"]].lines(node, parent_id)

    def line(self, node: Mapping, owner_id: Any, nested: list) -> dict:
        return self.plans[node["__typename"]].line(node, owner_id, nested)


# --- webhooks ------------------------------------------------------------------------------


class _WebhookSender:
    """Delivers webhooks from a background thread, so a change never waits on the receiver.
    A failed delivery is retried a few times, then dropped (Shopify retries for hours)."""

    attempts = 3

    def __init__(self, url: str, secret: str, shop_domain: str, api_version: str) -> None:
        self.url, self.secret = url, secret
        self.shop_domain, self.api_version = shop_domain, api_version
        self._queue: queue.Queue[tuple[dict, bytes]] = queue.Queue()
        threading.Thread(target=self._deliver_forever, name="sim-shopify-webhooks", daemon=True).start()

    def send(self, topic: str, payload: dict) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": webhook_hmac(self.secret, body),
            "X-Shopify-Shop-Domain": self.shop_domain,
            "X-Shopify-API-Version": self.api_version,
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        self._queue.put((headers, body))

    def _deliver_forever(self) -> None:
        while True:
            headers, body = self._queue.get()
            for attempt in range(1, self.attempts + 1):
                failure = self._post(headers, body)
                if failure is None:
                    break
                log.warning(
                    "webhook failed topic=%s attempt=%d reason=%s", headers["X-Shopify-Topic"], attempt, failure
                )
                if attempt < self.attempts:
                    time.sleep(attempt)

    def _post(self, headers: dict, body: bytes) -> str | None:
        """None once delivered, else why not."""
        try:
            response = requests.post(self.url, data=body, headers=headers, timeout=5)
        except requests.RequestException as exc:
            return type(exc).__name__
        return None if response.ok else f"HTTP {response.status_code}"


# --- the simulator -------------------------------------------------------------------------


@dataclass
class _Context:
    """Per execution: the moment the store is read at, and the search warnings to report."""

    as_of: datetime
    base_url: str
    api_version: str = "unstable"
    searches: list[dict] = field(default_factory=list)


def _resolve_field(source: Any, info: Any, **args: Any) -> Any:
    """Nodes hold their children as plain lists; a connection field pages them, a list field
    with `first` cuts them short."""
    value = default_field_resolver(source, info, **args)
    if isinstance(value, list):
        if get_named_type(info.return_type).name.endswith("Connection"):
            return _paginate(enumerate(value), **_page_args(args)).connection()
        if args.get("first") is not None:
            return value[: args["first"]]
    return value


class ShopifySimulator:
    """One Shopify shop over a ChannelStore; plug it into a SimulatorServer."""

    name = "shopify"

    def __init__(
        self,
        store: ChannelStore,
        *,
        access_token: str = DEV_ACCESS_TOKEN,
        read_all_orders: bool = True,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        bucket_size: float = 2000.0,
        restore_rate: float = 100.0,
        shop_domain: str = SHOP_DOMAIN,
        bulk_delay: float = 0.2,
        bulk_node_connections_only: bool = False,
        bucket_seconds: Callable[[], float] = time.monotonic,
    ) -> None:
        if webhook_url and not webhook_secret:
            raise ValueError("a webhook URL needs a webhook secret to sign deliveries")
        self.store = store
        self.access_token = access_token
        self.read_all_orders = read_all_orders
        self.shop_domain = shop_domain
        self.bulk_delay = bulk_delay
        # Shopify's bulk guide says connections must implement Node, yet Sale does not; whether a
        # real shop refuses `sales` in a bulk query is unconfirmed, so both answers are simulated.
        self.bulk_node_connections_only = bulk_node_connections_only
        self.bucket = _Bucket(bucket_size, restore_rate, bucket_seconds)  # refills on bucket_seconds' time
        self.currency = CURRENCY[SHOPIFY]
        self._products = [self._product_node(item) for item in store.business.catalog]
        self._products_by_id = {p["legacyResourceId"]: p for p in self._products}
        gift_card = self._product_node(GIFT_CARD)
        self._products_by_id.setdefault(gift_card["legacyResourceId"], gift_card)
        self._bulk_ops: dict[int, _BulkOperation] = {}
        self._bulk_numbers = itertools.count(1)
        self._bulk_lock = threading.Lock()
        self._building = threading.Lock()
        self.bulk_seconds = 0.0  # time spent building bulk files (not queued or writing): Shopify's work
        self._webhooks = None
        if webhook_url:
            self._webhooks = _WebhookSender(webhook_url, webhook_secret, shop_domain, WEBHOOK_API_VERSION)
            store.on_change = self._order_changed
        self._root = {
            "shop": self._shop,
            "order": self._order,
            "orders": partial(self._connection, "orders"),
            "ordersCount": self._orders_count,
            "product": self._product,
            "products": partial(self._connection, "products"),
            "productVariants": partial(self._connection, "productVariants"),
            "refund": self._refund,
            "node": self._node,
            "nodes": self._nodes,
            "currentBulkOperation": self._current_bulk_operation,
            "bulkOperations": self._bulk_operations,
            "bulkOperationRunQuery": self._run_bulk_query,
            "shopifyqlQuery": self._shopifyql_query,
        }

    # --- HTTP ----------------------------------------------------------------------------

    def handle(self, request: SimRequest) -> SimResponse:
        graphql_path = _GRAPHQL_PATH.match(request.path)
        if request.method == "POST" and graphql_path:
            if not self._authorized(request):
                return SimResponse.json(401, {"errors": _INVALID_TOKEN})
            try:
                query, variables, operation_name = self._graphql_request(request)
            except ValueError:
                return SimResponse.json(400, {"errors": {"query": "Required parameter missing or invalid"}})
            answer = self.execute(
                query, variables, operation_name, base_url=_base_url(request), api_version=graphql_path.group(1)
            )
            return SimResponse.json(200, answer)
        match = _BULK_PATH.match(request.path)
        if match and request.method == "GET":
            op = self._bulk_ops.get(int(match.group(1)))
            if op is not None and op.status == "COMPLETED" and op.body is not None:
                return SimResponse(200, op.body, {"Content-Type": "application/jsonl"})
        return SimResponse.json(404, {"errors": "Not Found"})

    def rate_limited(self, request: SimRequest) -> SimResponse:
        """Shopify's THROTTLED answer (HTTP 200), with a bucket that really is too low. What
        Shopify refuses before throttling (bad token, invalid or too costly query) is refused."""
        if not _GRAPHQL_PATH.match(request.path):
            return SimResponse.json(429, {"errors": "Too Many Requests"}, {"Retry-After": "1.0"})
        try:
            cost = self._prepare(*self._graphql_request(request))[0].requested()
        except (ValueError, GraphQLError, _RequestErrors):
            return self.handle(request)
        if not self._authorized(request) or cost > MAX_QUERY_COST:
            return self.handle(request)
        self.bucket.drain_below(cost)
        return SimResponse.json(200, self._throttled(cost))

    def describe(self, order_id: int) -> dict:
        """The order as webhooks carry it (REST-shaped)."""
        order = self.store.get(order_id)
        if order is None:
            raise KeyError(f"no order {order_id}")
        return self.rest_order(order, self.store.now())

    def _authorized(self, request: SimRequest) -> bool:
        token = request.headers.get("X-Shopify-Access-Token") or ""
        return hmac.compare_digest(token.encode(), self.access_token.encode())

    @staticmethod
    def _graphql_request(request: SimRequest) -> tuple[str, dict | None, str | None]:
        """The query, variables and operation name of a POST (JSON, or a bare application/graphql body)."""
        if (request.headers.get("Content-Type") or "").startswith("application/graphql"):
            return request.body.decode(), None, None
        payload = json.loads(request.body or b"null")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            raise ValueError("no query")
        if not isinstance(payload.get("variables") or {}, dict):
            raise ValueError("variables must be an object")
        return payload["query"], payload.get("variables"), payload.get("operationName")

    # --- GraphQL -------------------------------------------------------------------------

    def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        *,
        base_url: str = "",
        api_version: str = "unstable",
    ) -> dict:
        """Run one GraphQL request as Shopify would: validate, cost, throttle, execute, refund."""
        try:
            cost, document = self._prepare(query, variables, operation_name)
            requested = cost.requested()
        except GraphQLError as exc:
            return {"errors": [exc.formatted]}
        except _RequestErrors as exc:
            return {"errors": [error.formatted for error in exc.errors]}
        if requested > MAX_QUERY_COST:
            message = _MAX_COST_MESSAGE.format(cost=requested, limit=MAX_QUERY_COST)
            extensions = {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": MAX_QUERY_COST}
            return {"errors": [{"message": message, "extensions": extensions}]}
        if not self.bucket.take(requested):
            return self._throttled(requested)
        context = _Context(as_of=self.store.now(), base_url=base_url, api_version=api_version)
        result = execute(
            SCHEMA,
            document,
            root_value=self._root,
            context_value=context,
            variable_values=dict(variables or {}),
            operation_name=operation_name,
            field_resolver=_resolve_field,
        )
        actual = cost.actual(result.data)
        self.bucket.give_back(max(0, requested - actual))
        body = result.formatted
        body["extensions"] = {"cost": self._cost(requested, actual)}
        if context.searches:
            body["extensions"]["search"] = context.searches
        return body

    def _prepare(
        self, query: str, variables: Mapping[str, Any] | None, operation_name: str | None
    ) -> tuple[_QueryCost, Any]:
        document = _document(query)
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            raise GraphQLError("Operation name is required when a document holds several operations.")
        coerced = get_variable_values(SCHEMA, operation.variable_definitions or (), dict(variables or {}))
        if isinstance(coerced, list):
            raise _RequestErrors(coerced)
        return _QueryCost(document, operation, coerced), document

    def _cost(self, requested: int, actual: int | None) -> dict:
        return {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": self.bucket.status()}

    def _throttled(self, requested: int) -> dict:
        error = {
            "message": "Throttled",
            "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"},
        }
        return {"errors": [error], "extensions": {"cost": self._cost(requested, None)}}

    # --- root fields ---------------------------------------------------------------------

    def _shop(self, info: Any) -> dict:
        business = self.store.business
        return {
            "__typename": "Shop",
            "id": "gid://shopify/Shop/1",
            "name": SHOP_NAME,
            "email": f"owner@{self.shop_domain}",
            "myshopifyDomain": self.shop_domain,
            "currencyCode": self.currency,
            "ianaTimezone": business.timezone,
            "timezoneAbbreviation": info.context.as_of.astimezone(business.tz).tzname(),
        }

    def _connection(self, name: str, info: Any, **args: Any) -> dict:
        """A root connection (orders, products, productVariants), one page of it."""
        page_args = _page_args(args)
        search, items, render = self._source(name, args, info.context.as_of, page_args)
        self._note_search(info, search)
        return _paginate(items, **page_args).connection(render)

    def _orders_count(self, info: Any, query: str | None = None, limit: int | None = None) -> dict:
        """Shopify's Count: exact below `limit` (null for none), AT_LEAST once the limit is reached."""
        args = {"query": query, "sortKey": "UPDATED_AT"}
        search, orders, _ = self._source("orders", args, info.context.as_of, _page_args({}))
        self._note_search(info, search)
        count = sum(1 for _ in itertools.islice(orders, limit))
        return {"__typename": "Count", "count": count, "precision": "AT_LEAST" if count == limit else "EXACT"}

    def _order(self, info: Any, id: str) -> dict | None:
        order = self._find_order(id, info.context.as_of)
        return None if order is None else self.order_node(order, info.context.as_of)

    def _refund(self, info: Any, id: str) -> dict | None:
        match = _GID.match(id)
        if not match or match.group(1) != "Refund":
            return None
        # The business numbers an order's refunds order id x 10 + 1..9.
        order = self._find_order(f"gid://shopify/Order/{int(match.group(2)) // 10}", info.context.as_of)
        if order is None:
            return None
        node = self.order_node(order, info.context.as_of)
        return next((r for r in node["refunds"] if r["id"] == id), None)

    def _product(self, info: Any, id: str) -> dict | None:
        match = _GID.match(id)
        return self._products_by_id.get(int(match.group(2))) if match and match.group(1) == "Product" else None

    def _node(self, info: Any, id: str) -> dict | None:
        match = _GID.match(id)
        kind = match.group(1) if match else None
        if kind == "BulkOperation":
            with self._bulk_lock:
                op = self._bulk_ops.get(int(match.group(2)))
            return None if op is None else op.node(info.context.base_url)
        resolver = {"Order": self._order, "Refund": self._refund, "Product": self._product}.get(kind)
        return None if resolver is None else resolver(info, id)

    def _nodes(self, info: Any, ids: list[str]) -> list[dict | None]:
        return [self._node(info, node_id) for node_id in ids]

    def _current_bulk_operation(self, info: Any, **args: Any) -> dict | None:
        with self._bulk_lock:
            op = self._bulk_ops[max(self._bulk_ops)] if self._bulk_ops and args["type"] == "QUERY" else None
        return None if op is None else op.node(info.context.base_url)

    def _bulk_operations(self, info: Any, **args: Any) -> dict:
        """The app's bulk operations matching `query`, newest first (unless `reverse`), as
        Shopify lists them; only the last BULK_OPERATIONS_KEPT are remembered."""
        if args["sortKey"] != "CREATED_AT":
            raise GraphQLError(f"The simulator cannot sort bulk operations by {args['sortKey']}.")
        matches = bulk_filter(args.get("query"))
        with self._bulk_lock:
            listed = [
                (-op.number, op)  # newest first: a descending creation order, ascending keys
                for op in sorted(self._bulk_ops.values(), key=lambda op: -op.number)
                if matches({"status": op.status.lower(), "operation_type": "query"})
            ]
        return _paginate(listed, **_page_args(args)).connection(lambda op: op.node(info.context.base_url))

    def _run_bulk_query(self, info: Any, query: str, **_options: Any) -> dict:
        with self._bulk_lock:
            running = [op for op in self._bulk_ops.values() if op.running]
            if info.context.api_version < CONCURRENT_BULK_QUERIES_SINCE:  # "unstable" sorts after
                if running:
                    message = f"A bulk query operation for this app and shop is already in progress: {running[-1].gid}."
                    return _bulk_refused([("OPERATION_IN_PROGRESS", None, message)])
            elif len(running) >= CONCURRENT_BULK_QUERIES:
                message = f"A maximum of {CONCURRENT_BULK_QUERIES} bulk query operations can run at the same time."
                return _bulk_refused([("LIMIT_REACHED", None, message)])
            try:
                document = _bulk_document(query, self.bulk_node_connections_only)
            except ValueError as exc:
                return _bulk_refused([("INVALID", ["query"], message) for message in exc.args])
            op = _BulkOperation(next(self._bulk_numbers), query, info.context.as_of)
            self._bulk_ops[op.number] = op
            for number in sorted(self._bulk_ops)[:-BULK_OPERATIONS_KEPT]:
                del self._bulk_ops[number]
        threading.Thread(
            target=self._run_bulk, args=(op, document), name=f"sim-shopify-bulk-{op.number}", daemon=True
        ).start()
        log.info("bulk operation created id=%s", op.gid)
        return {"bulkOperation": op.node(info.context.base_url), "userErrors": []}

    # --- reading the store ---------------------------------------------------------------

    def _visible(self, order: SimOrder, as_of: datetime) -> bool:
        """Without read_all_orders, an app sees the last 60 days of orders only."""
        return self.read_all_orders or order.created_at >= as_of - VISIBLE_WITHOUT_READ_ALL_ORDERS

    def _find_order(self, gid: str, as_of: datetime) -> SimOrder | None:
        match = _GID.match(gid)
        order = self.store.get(int(match.group(2))) if match and match.group(1) == "Order" else None
        if order is None or order.created_at > as_of or not self._visible(order, as_of):
            return None
        return order

    def _matching_orders(
        self, as_of: datetime, sort_key: str, search: _Search, page_args: Mapping[str, Any]
    ) -> Iterator[tuple[Key, SimOrder]]:
        """Visible orders matching the search, ascending by (sort value, id)."""
        if sort_key == "UPDATED_AT":
            start = page_args["after"] if not page_args["reverse"] and page_args["last"] is None else None
            since, until = search.lower_bound("updated_at"), search.upper_bound("updated_at")
            walk = self.store.iter_updated(as_of, since=since, after=start)
            keyed = (
                ((m, o.order_id), o)
                for m, o in itertools.takewhile(lambda pair: until is None or pair[0] <= until, walk)
            )
        elif sort_key in ("CREATED_AT", "PROCESSED_AT"):
            keyed = (((o.created_at, o.order_id), o) for o in self.store.by_created(as_of))
        elif sort_key == "ID":
            keyed = iter(sorted((((o.order_id, o.order_id), o) for o in self.store.by_created(as_of)), key=_first))
        else:
            raise GraphQLError(f"The simulator cannot sort orders by {sort_key}.")
        updated_at = self.store.updated_at  # from the store's index: SimOrder's recomputes its events
        for key, order in keyed:
            dates = {"created_at": order.created_at, "processed_at": order.created_at}
            dates["updated_at"] = key[0] if sort_key == "UPDATED_AT" else updated_at(order.order_id, as_of)
            if self._visible(order, as_of) and search.matches(dates):
                yield key, order

    def _source(
        self, name: str, args: Mapping[str, Any], as_of: datetime, page_args: Mapping[str, Any]
    ) -> tuple[_Search, Iterable[tuple[Key, Any]], Callable[[Any], dict]]:
        """A root connection's items matching its `query`, ascending by key, and how one is
        rendered as a node: what both a page and a bulk operation read."""
        tz = self.store.business.tz
        if name == "orders":
            search = _Search.parse(args.get("query"), ("created_at", "processed_at", "updated_at"), tz)
            orders = self._matching_orders(as_of, args["sortKey"], search, page_args)
            return search, orders, lambda order: self.order_node(order, as_of)
        nodes = self._products if name == "products" else [v for p in self._products for v in p["variants"]]
        search = _Search.parse(args.get("query"), ("created_at", "updated_at"), tz)
        return search, self._catalog_items(nodes, args["sortKey"], search), lambda node: node

    @staticmethod
    def _catalog_items(nodes: list[dict], sort_key: str, search: _Search) -> list[tuple[Key, dict]]:
        field_name = _CATALOG_SORT.get(sort_key)
        if field_name is None:
            raise GraphQLError(f"The simulator cannot sort the catalog by {sort_key}.")
        matching = (
            node
            for node in nodes
            if search.matches(
                {
                    "created_at": datetime.fromisoformat(node["createdAt"]),
                    "updated_at": datetime.fromisoformat(node["updatedAt"]),
                }
            )
        )
        return sorted((((node[field_name], node["legacyResourceId"]), node) for node in matching), key=_first)

    @staticmethod
    def _note_search(info: Any, search: _Search) -> None:
        if search.warnings:
            info.context.searches.append(
                {"path": info.path.as_list(), "query": search.text, "warnings": search.warnings}
            )

    def _run_bulk(self, op: _BulkOperation, document: DocumentNode) -> None:
        """The bulk runner: reads the root connection whole, as of the moment the operation was
        created, and writes the JSONL file one node at a time."""
        began = time.perf_counter()
        try:
            time.sleep(self.bulk_delay)  # queued
            op.status = "RUNNING"
            root, plan = _BulkPlan.of(document)
            # One file is built at a time: operations running at once share this process's one
            # core, and the client awaits the oldest first (the next one waits for its turn).
            with self._building, cycle_collector_paused():
                building = time.perf_counter()
                lines = []
                for node in self._bulk_nodes(root, op.as_of):
                    for line in plan.lines(node):
                        lines.append(_LINE(line))
                        op.object_count += 1
                    op.root_object_count += 1
                body = "".join(f"{line}\n" for line in lines).encode()
                with self._bulk_lock:
                    self.bulk_seconds += time.perf_counter() - building
            time.sleep(self.bulk_delay)  # real jobs take a while to write their file
            op.body = body
            op.completed_at = self.store.now()
            op.status = "COMPLETED"
            log.info(
                "bulk operation completed id=%s objects=%d seconds=%.1f",
                op.gid,
                op.object_count,
                time.perf_counter() - began,
            )
        except Exception:  # a background job must end in a state the client can see
            log.exception("bulk operation failed id=%s", op.gid)
            op.error_code, op.status = "INTERNAL_SERVER_ERROR", "FAILED"

    def _bulk_nodes(self, root: FieldNode, as_of: datetime) -> Iterator[dict]:
        """Every node of a bulk query's root connection, rendered one at a time: a bulk
        operation reads the connection whole, whatever paging arguments it was given."""
        args = get_argument_values(SCHEMA.query_type.fields[root.name.value], root)
        whole = _page_args({"reverse": args.get("reverse")})
        _, items, render = self._source(root.name.value, args, as_of, whole)
        for _, item in _paginate(items, **whole).items:
            yield render(item)

    # --- rendering -----------------------------------------------------------------------

    def order_node(self, order: SimOrder, as_of: datetime) -> Mapping[str, Any]:
        """The GraphQL Order, with its lines and refunds as plain lists (connections page them).
        Its fields are computed as they are read (see _Lazy)."""
        return _Lazy(_ORDER_FIELDS, _OrderView(self, order, as_of))

    def _line_node(self, order: SimOrder, line: SimLine, refunds: tuple[SimRefund, ...]) -> Mapping[str, Any]:
        return _Lazy(_LINE_FIELDS, _LineView(self, order, line, refunds))

    def _refund_node(self, order: SimOrder, refund: SimRefund, lines: Mapping[int, Mapping]) -> dict:
        cur = self.currency
        restock = "CANCEL" if refund.kind == "cancellation" else "RETURN"
        refund_lines = [
            {
                "__typename": "RefundLineItem",
                "id": f"gid://shopify/RefundLineItem/{refund.refund_id * 100 + n}",
                "quantity": rl.quantity,
                "restockType": restock,
                "lineItem": lines[rl.line_id],
                "priceSet": lines[rl.line_id]["originalUnitPriceSet"],
                "subtotalSet": _bag(rl.amount, cur),
                "totalTaxSet": _bag(rl.tax, cur),
            }
            for n, rl in enumerate(refund.lines, start=1)
        ]
        shipping_lines = []
        if refund.shipping or refund.shipping_tax:
            shipping_lines.append(
                {
                    "__typename": "RefundShippingLine",
                    "id": f"gid://shopify/RefundShippingLine/{refund.refund_id}",
                    "subtotalAmountSet": _bag(refund.shipping, cur),
                    "taxAmountSet": _bag(refund.shipping_tax, cur),
                }
            )
        return {
            "__typename": "Refund",
            "id": order.refund_external_id(refund),
            "createdAt": _iso(refund.at),
            "note": refund.reason,
            "totalRefundedSet": _bag(refund.returns + refund.shipping + refund.tax, cur),
            "refundLineItems": refund_lines,
            "refundShippingLines": shipping_lines,
        }

    # --- the sales ledger (Order.agreements) ---------------------------------------------------

    def _order_agreement(self, order: SimOrder, lines: Mapping[int, Mapping]) -> Mapping[str, Any]:
        """The agreement made as the order was placed: a sale for each line and one for shipping.
        The business numbers refunds order id x 10 + 1..9, so x 10 is free for this one."""

        def sales() -> list[dict]:
            made = [self._line_sale("ORDER", li, lines[li.line_id], li.quantity, li.net, li.tax) for li in order.lines]
            if order.shipping or order.shipping_tax:
                made.append(self._shipping_sale("ORDER", order.shipping, order.shipping_tax))
            return made

        return _Lazy(
            _AGREEMENT_FIELDS, _AgreementView("OrderAgreement", order.order_id * 10, "ORDER", order.created_at, sales)
        )

    def _refund_agreement(
        self, order: SimOrder, lines: Mapping[int, Mapping], refund: SimRefund, node: dict
    ) -> Mapping[str, Any]:
        """A refund's agreement: a return sale for each line refunded, and one for shipping if
        it was refunded. A cancellation's is made for a refund (reason REFUND), others for a return."""
        sold = {li.line_id: li for li in order.lines}

        def sales() -> list[dict]:
            made = [
                self._line_sale("RETURN", sold[rl.line_id], lines[rl.line_id], rl.quantity, rl.amount, rl.tax)
                for rl in refund.lines
            ]
            if refund.shipping or refund.shipping_tax:
                made.append(self._shipping_sale("RETURN", refund.shipping, refund.shipping_tax))
            return made

        reason = "REFUND" if refund.kind == "cancellation" else "RETURN"
        view = _AgreementView("RefundAgreement", refund.refund_id, reason, refund.at, sales, node)
        return _Lazy(_REFUND_AGREEMENT_FIELDS, view)

    def _line_sale(self, action: str, line: SimLine, node: dict, quantity: int, net: Decimal, tax: Decimal) -> dict:
        """The sale of `quantity` units of a line, worth `net` after discounts and before `tax`."""
        discount = line.unit_price * quantity - net
        typename, line_type = ("GiftCardSale", "GIFT_CARD") if line.is_gift_card else ("ProductSale", "PRODUCT")
        return {**self._sale(typename, action, line_type, quantity, net, tax, discount), "lineItem": node}

    def _shipping_sale(self, action: str, amount: Decimal, tax: Decimal) -> dict:
        """The sale of the order's one shipping line (a quantity does not apply to it)."""
        return self._sale("ShippingLineSale", action, "SHIPPING", None, amount, tax)

    def _sale(
        self,
        typename: str,
        action: str,
        line_type: str,
        quantity: int | None,
        net: Decimal,
        tax: Decimal,
        discount: Decimal = ZERO,
    ) -> dict:
        """One sale. A return reverses a sale, so its quantity and money are booked negative."""
        returned = action == "RETURN"

        def booked(value: Decimal) -> dict:
            return _bag(ZERO - value if returned else value, self.currency)

        return {
            "__typename": typename,
            "actionType": action,
            "lineType": line_type,
            "quantity": -quantity if returned and quantity is not None else quantity,
            "totalAmount": booked(net + tax),
            "totalTaxAmount": booked(tax),
            "totalDiscountAmountBeforeTaxes": booked(discount),
        }

    def _product_node(self, item: CatalogItem) -> dict:
        """A product with its one "Default Title" variant, rendered from the catalog truth
        (simulators.business.product_record), so a connector can reproduce it exactly."""
        record = product_record(SHOPIFY, item)
        moment = _iso(record.updated_at)
        product = {
            "__typename": "Product",
            "id": product_external_id(SHOPIFY, item),
            "legacyResourceId": item.product_id,
            "title": record.title,
            "handle": re.sub(r"[^a-z0-9]+", "-", record.title.lower()).strip("-"),
            "status": record.status,
            "vendor": SHOP_NAME,
            "productType": record.product_type,
            "tags": [],
            "createdAt": moment,
            "updatedAt": moment,
            "publishedAt": moment,
            "totalInventory": 20 + item.product_id % 37,
        }
        variant = {
            "__typename": "ProductVariant",
            "id": record.external_id,
            "legacyResourceId": item.product_id + 1000,
            "title": "Default Title",
            "displayName": f"{record.title} - Default Title",
            "sku": record.sku,
            "price": _amount(record.price),
            "compareAtPrice": None,
            "inventoryQuantity": product["totalInventory"],
            "barcode": None,
            "createdAt": moment,
            "updatedAt": moment,
            "product": product,
        }
        product["variants"] = [variant]
        return product

    def rest_order(self, order: SimOrder, as_of: datetime) -> dict:
        """The REST (and webhook) shape of the order: snake_case, shop-local timestamps,
        money as decimal strings."""
        cur = self.currency
        tz = self.store.business.tz

        def local(moment: datetime | None) -> str | None:
            return None if moment is None else moment.astimezone(tz).isoformat()

        node = self.order_node(order, as_of)
        nodes = {n["id"]: n for n in node["lineItems"]}
        refunds = order.refunds_as_of(as_of)
        line_items = []
        for li in order.lines:
            gql = nodes[order.line_external_id(li)]
            line_items.append(
                {
                    "id": li.line_id,
                    "admin_graphql_api_id": gql["id"],
                    "product_id": li.item.product_id,
                    "variant_id": li.item.product_id + 1000,
                    "sku": li.item.sku,
                    "title": li.item.title,
                    "name": li.item.title,
                    "variant_title": None,
                    "vendor": SHOP_NAME,
                    "quantity": li.quantity,
                    "current_quantity": gql["currentQuantity"],
                    "price": _amount(li.unit_price),
                    "price_set": _rest_bag(li.unit_price, cur),
                    "total_discount": _amount(li.discount),
                    "total_discount_set": _rest_bag(li.discount, cur),
                    "gift_card": li.is_gift_card,
                    "taxable": not li.is_gift_card,
                    "discount_allocations": [
                        {
                            "amount": _amount(li.discount),
                            "amount_set": _rest_bag(li.discount, cur),
                            "discount_application_index": 0,
                        }
                    ]
                    if li.discount
                    else [],
                    "tax_lines": [
                        {
                            "price": _amount(li.tax),
                            "price_set": _rest_bag(li.tax, cur),
                            "rate": t["rate"],
                            "title": t["title"],
                        }
                        for t in gql["taxLines"]
                    ],
                }
            )
        rest_refunds = []
        for refund in refunds:
            adjustments = []
            if refund.shipping or refund.shipping_tax:
                adjustments.append(
                    {
                        "id": refund.refund_id,
                        "order_id": order.order_id,
                        "refund_id": refund.refund_id,
                        "kind": "shipping_refund",
                        "reason": "Shipping refund",
                        "amount": _amount(-refund.shipping),
                        "amount_set": _rest_bag(-refund.shipping, cur),
                        "tax_amount": _amount(-refund.shipping_tax),
                        "tax_amount_set": _rest_bag(-refund.shipping_tax, cur),
                    }
                )
            rest_refunds.append(
                {
                    "id": refund.refund_id,
                    "admin_graphql_api_id": order.refund_external_id(refund),
                    "order_id": order.order_id,
                    "created_at": local(refund.at),
                    "processed_at": local(refund.at),
                    "note": refund.reason,
                    "restock": True,
                    "refund_line_items": [
                        {
                            "id": refund.refund_id * 100 + n,
                            "line_item_id": rl.line_id,
                            "quantity": rl.quantity,
                            "restock_type": "cancel" if refund.kind == "cancellation" else "return",
                            "subtotal_set": _rest_bag(rl.amount, cur),
                            "total_tax_set": _rest_bag(rl.tax, cur),
                        }
                        for n, rl in enumerate(refund.lines, start=1)
                    ],
                    "order_adjustments": adjustments,
                }
            )
        shipping_lines = []
        if order.shipping:
            shipping_lines.append(
                {
                    "title": "Standard Shipping",
                    "price": _amount(order.shipping),
                    "price_set": _rest_bag(order.shipping, cur),
                    "tax_lines": [{"price": _amount(order.shipping_tax), "title": f"{order.region} State Tax"}],
                }
            )
        return {
            "id": order.order_id,
            "admin_graphql_api_id": order.external_id,
            "name": order.name,
            "order_number": order.order_id,
            "created_at": local(order.created_at),
            "updated_at": local(order.updated_at(as_of)),
            "processed_at": local(order.created_at),
            "cancelled_at": local(order.cancelled_at) if node["cancelledAt"] else None,
            "cancel_reason": "customer" if node["cancelledAt"] else None,
            "closed_at": None,
            "test": order.test,
            "taxes_included": False,
            "financial_status": node["displayFinancialStatus"].lower(),
            "fulfillment_status": "fulfilled" if node["displayFulfillmentStatus"] == "FULFILLED" else None,
            "currency": cur,
            "presentment_currency": cur,
            "subtotal_price": node["subtotalPriceSet"]["shopMoney"]["amount"],
            "total_line_items_price": _amount(sum((li.unit_price * li.quantity for li in order.lines), ZERO)),
            "total_discounts": node["totalDiscountsSet"]["shopMoney"]["amount"],
            "total_tax": node["totalTaxSet"]["shopMoney"]["amount"],
            "total_price": node["totalPriceSet"]["shopMoney"]["amount"],
            "current_total_price": node["currentTotalPriceSet"]["shopMoney"]["amount"],
            "total_shipping_price_set": _rest_bag(order.shipping, cur),
            "discount_codes": [{"code": order.discount_code, "type": "percentage"}] if order.discount_code else [],
            "line_items": line_items,
            "shipping_lines": shipping_lines,
            "refunds": rest_refunds,
        }

    # --- webhooks ------------------------------------------------------------------------

    def _order_changed(self, order: SimOrder) -> None:
        now = self.store.now()
        updated_at = order.updated_at(now)
        if order.happened(order.cancelled_at, now) and order.cancelled_at == updated_at:
            topic = "orders/cancelled"
        elif updated_at == order.created_at:
            topic = "orders/create"
        else:
            topic = "orders/updated"
        self._webhooks.send(topic, self.rest_order(order, now))

    # --- ShopifyQL sales report (for reconciliation; the query language is in shopifyql.py) --

    def _shopifyql_query(self, info: Any, query: str) -> dict:
        """The shop's own daily sales report over every order, whatever the app's order scopes."""
        as_of = info.context.as_of
        return shopifyql.run(query, self.store.by_created(as_of), as_of, self.store.business.tz)

    # --- end of ShopifyQL ----------------------------------------------------------------


class _RequestErrors(Exception):
    """A request GraphQL refuses before running it (syntax, validation, variables)."""

    def __init__(self, errors: list[GraphQLError]) -> None:
        super().__init__(errors[0].message if errors else "invalid request")
        self.errors = errors


@lru_cache(maxsize=256)
def _document(query: str) -> DocumentNode:
    """The parsed, validated query; once per distinct text, as clients repeat a few queries."""
    document = parse(query)
    errors = validate(SCHEMA, document)
    if errors:
        raise _RequestErrors(errors)
    return document


def _bulk_document(query: str, node_connections_only: bool = False) -> DocumentNode:
    """Parse a bulk query and apply Shopify's rules for them; ValueError lists what breaks them."""
    try:
        document = _document(query)
    except GraphQLError as exc:
        raise ValueError(f"Invalid bulk query: {exc.message}") from None
    except _RequestErrors as exc:
        raise ValueError(f"Invalid bulk query: {exc.errors[0].message}") from None
    problems = _BulkRules(document, node_connections_only).problems()
    if problems:
        raise ValueError(*problems)
    return document


class _BulkRules:
    """What Shopify refuses in a bulk query: every connection read through `edges { node }`,
    at most 5 of them, nested at most two levels below the top-level one, none inside a list
    field, an `id` on each node that holds a nested connection, one top-level field (not
    `node`), and a query at all."""

    def __init__(self, document: DocumentNode, node_connections_only: bool = False) -> None:
        self.node_connections_only = node_connections_only
        self.not_node: list[str] = []
        self.operation = get_operation_ast(document)
        self.selections = _Selections(document)
        self.connections: list[str] = []
        self.via_nodes: list[str] = []
        self.without_id: list[str] = []
        self.too_deep = self.in_list = False

    def problems(self) -> list[str]:
        if self.operation is None or self.operation.operation != OperationType.QUERY:
            return ["Invalid operation type. Only `query` operations are supported."]
        roots = list(self.selections.fields(SCHEMA.query_type, self.operation.selection_set))
        if any(root.name.value in ("node", "nodes") for root in roots):
            return ["Bulk queries cannot contain a top level `node` field."]
        if len(roots) != 1:
            return ["Bulk queries must contain exactly one top-level field."]
        self._walk(SCHEMA.query_type, self.operation.selection_set, depth=0, in_list=False, holder_has_id=True)
        problems = []
        if self.via_nodes:
            listed = "', '".join(self.via_nodes)
            problems.append(
                "All connection fields in a bulk query must select their contents using 'edges' > 'node', e.g: "
                f"'{self.via_nodes[0]} {{ edges {{ node {{'. Selecting via 'nodes' is not supported. "
                f"Invalid connection fields: '{listed}'."
            )
        if self.too_deep:
            problems.append("Bulk queries cannot contain connections with a nesting depth greater than 2.")
        if len(self.connections) > 5:
            problems.append("Bulk queries cannot contain more than 5 connections.")
        if self.without_id:
            problems.append(
                "The parent 'node' field for a nested connection must select the 'id' field without an alias and "
                f"must be of 'ID' return type. Connection fields without 'id': {', '.join(self.without_id)}."
            )
        if self.in_list:
            problems.append("Queries that contain a connection field within a list field are not currently supported.")
        if self.not_node:
            problems.append(f"Connections must implement the Node interface: {', '.join(self.not_node)}.")
        if not self.connections and not problems:
            problems.append("Bulk queries must contain at least one connection.")
        return problems

    def _walk(
        self,
        type_: Any,
        selection_set: SelectionSetNode,
        *,
        depth: int,
        in_list: bool,
        holder_has_id: bool | None = None,
    ) -> None:
        """Check the connections selected on `type_` (on each of an interface's object types, a
        field counted once). `holder_has_id` None: this is a connection's node, which holds what
        it selects by its own `id`."""
        if selection_set is None:
            return
        seen: set[int] = set()
        for object_type in _object_types(type_):
            fields = list(self.selections.fields(object_type, selection_set))
            has_id = holder_has_id
            if has_id is None:
                has_id = any(f.name.value == "id" and not f.alias for f in fields)
            for node in fields:
                if id(node) in seen:
                    continue
                seen.add(id(node))
                self._field(object_type, node, depth=depth, in_list=in_list, holder_has_id=has_id)

    def _field(self, type_: Any, node: FieldNode, *, depth: int, in_list: bool, holder_has_id: bool) -> None:
        field_def = type_.fields.get(node.name.value)
        named = field_def and get_named_type(field_def.type)
        if named is None or is_leaf_type(named):
            return
        if not _is_connection_type(named):
            inside_list = in_list or is_list_type(get_nullable_type(field_def.type))
            self._walk(named, node.selection_set, depth=depth, in_list=inside_list, holder_has_id=holder_has_id)
            return
        name = node.name.value
        self.connections.append(name)
        self.too_deep |= depth > MAX_BULK_NESTING
        self.in_list |= in_list
        if depth and not holder_has_id:
            self.without_id.append(name)
        node_type = _node_type(named)
        if self.node_connections_only and not any(
            "Node" in {i.name for i in t.interfaces} for t in _object_types(node_type)
        ):
            self.not_node.append(name)
        for keys, selection_set in self.selections.node_paths(named, node.selection_set):
            if len(keys) == 1:
                self.via_nodes.append(name)
            else:
                self._walk(_node_type(named), selection_set, depth=depth + 1, in_list=False)


class _Lazy(Mapping):
    """A GraphQL object whose fields are computed as they are read, each by `fields[name](view)`
    (what several fields share, the view computes once). A query reads a few of an order's
    fields, and a bulk file does so for every order of the shop: computing all of them (a dozen
    money bags, the order's own agreement and its sales) was most of what a large export cost."""

    __slots__ = ("_fields", "_view")

    def __init__(self, fields: Mapping[str, Callable[[Any], Any]], view: Any) -> None:
        self._fields, self._view = fields, view

    def __getitem__(self, name: str) -> Any:
        return self._fields[name](self._view)

    def get(self, name: str, default: Any = None) -> Any:
        field = self._fields.get(name)
        return default if field is None else field(self._view)

    def __contains__(self, name: object) -> bool:
        return name in self._fields

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


@dataclass(eq=False)
class _OrderView:
    """What an Order's fields are computed from, and the parts several of them share."""

    sim: ShopifySimulator
    order: SimOrder
    as_of: datetime

    def bag(self, value: Decimal) -> dict:
        return _bag(value, self.sim.currency)

    @cached_property
    def refunds(self) -> tuple[SimRefund, ...]:
        return self.order.refunds_as_of(self.as_of)

    @cached_property
    def lines(self) -> dict[int, Mapping[str, Any]]:
        return {li.line_id: self.sim._line_node(self.order, li, self.refunds) for li in self.order.lines}

    @cached_property
    def refund_nodes(self) -> list[dict]:
        return [self.sim._refund_node(self.order, r, self.lines) for r in self.refunds]

    @cached_property
    def cancelled_at(self) -> datetime | None:
        return self.order.cancelled_at if self.order.happened(self.order.cancelled_at, self.as_of) else None

    @cached_property
    def refunded(self) -> Decimal:
        return sum((r.returns + r.shipping + r.tax for r in self.refunds), ZERO)

    def agreements(self) -> list[Mapping[str, Any]]:
        refunds = map(partial(self.sim._refund_agreement, self.order, self.lines), self.refunds, self.refund_nodes)
        return [self.sim._order_agreement(self.order, self.lines), *refunds]


_ORDER_FIELDS: dict[str, Callable[[_OrderView], Any]] = {
    "__typename": lambda v: "Order",
    "id": lambda v: v.order.external_id,
    "legacyResourceId": lambda v: str(v.order.order_id),
    "name": lambda v: v.order.name,
    "createdAt": lambda v: _iso(v.order.created_at),
    "updatedAt": lambda v: _iso(v.sim.store.updated_at(v.order.order_id, v.as_of)),
    "processedAt": lambda v: _iso(v.order.created_at),
    "cancelledAt": lambda v: _iso(v.cancelled_at),
    "cancelReason": lambda v: "CUSTOMER" if v.cancelled_at else None,
    "test": lambda v: v.order.test,
    "taxesIncluded": lambda v: False,
    "displayFinancialStatus": lambda v: v.order.status(v.as_of),
    "displayFulfillmentStatus": lambda v: (
        "FULFILLED" if v.order.happened(v.order.fulfilled_at, v.as_of) else "UNFULFILLED"
    ),
    "currencyCode": lambda v: v.sim.currency,
    "presentmentCurrencyCode": lambda v: v.sim.currency,
    "discountCodes": lambda v: [v.order.discount_code] if v.order.discount_code else [],
    "subtotalPriceSet": lambda v: v.bag(v.order.subtotal),
    "currentSubtotalPriceSet": lambda v: v.bag(v.order.subtotal - sum((r.returns for r in v.refunds), ZERO)),
    "totalPriceSet": lambda v: v.bag(v.order.total),
    "currentTotalPriceSet": lambda v: v.bag(v.order.total - v.refunded),
    "totalRefundedSet": lambda v: v.bag(v.refunded),
    "totalShippingPriceSet": lambda v: v.bag(v.order.shipping),
    "totalTaxSet": lambda v: v.bag(v.order.tax),
    "totalDiscountsSet": lambda v: v.bag(sum((li.discount for li in v.order.lines), ZERO)),
    "lineItems": lambda v: list(v.lines.values()),
    "refunds": lambda v: v.refund_nodes,
    "agreements": _OrderView.agreements,
}


@dataclass(eq=False)
class _LineView:
    sim: ShopifySimulator
    order: SimOrder
    line: SimLine
    refunds: tuple[SimRefund, ...]

    def bag(self, value: Decimal) -> dict:
        return _bag(value, self.sim.currency)

    @cached_property
    def product(self) -> dict:
        return self.sim._products_by_id[self.line.item.product_id]

    def returned(self) -> int:
        return sum(rl.quantity for r in self.refunds for rl in r.lines if rl.line_id == self.line.line_id)

    def tax_lines(self) -> list[dict]:
        line = self.line
        if not line.tax_rate:
            return []
        rate = float(line.tax_rate)
        title = f"{self.order.region} State Tax"
        return [{"priceSet": self.bag(line.tax), "rate": rate, "ratePercentage": rate * 100, "title": title}]


_LINE_FIELDS: dict[str, Callable[[_LineView], Any]] = {
    "__typename": lambda v: "LineItem",
    "id": lambda v: v.order.line_external_id(v.line),
    "name": lambda v: v.line.item.title,
    "title": lambda v: v.line.item.title,
    "sku": lambda v: v.line.item.sku,
    "vendor": lambda v: SHOP_NAME,
    "quantity": lambda v: v.line.quantity,
    "currentQuantity": lambda v: v.line.quantity - v.returned(),
    "isGiftCard": lambda v: v.line.is_gift_card,
    "originalUnitPriceSet": lambda v: v.bag(v.line.unit_price),
    "discountedUnitPriceSet": lambda v: v.bag(v.line.net / v.line.quantity),
    "originalTotalSet": lambda v: v.bag(v.line.unit_price * v.line.quantity),
    "discountedTotalSet": lambda v: v.bag(v.line.net),
    "totalDiscountSet": lambda v: v.bag(v.line.discount),
    "discountAllocations": lambda v: [{"allocatedAmountSet": v.bag(v.line.discount)}] if v.line.discount else [],
    "taxLines": _LineView.tax_lines,
    "product": lambda v: v.product,
    "variant": lambda v: v.product["variants"][0],
}


@dataclass(eq=False)
class _AgreementView:
    """A sales agreement; its sales, numbered after it, are made when first read."""

    typename: str
    number: int
    reason: str
    at: datetime
    make_sales: Callable[[], list[dict]]
    refund: dict | None = None

    def sales(self) -> list[dict]:
        sales = self.make_sales()
        for n, sale in enumerate(sales, start=1):
            sale["id"] = f"gid://shopify/Sale/{self.number * 100 + n}"
        return sales


_AGREEMENT_FIELDS: dict[str, Callable[[_AgreementView], Any]] = {
    "__typename": lambda a: a.typename,
    "id": lambda a: f"gid://shopify/SalesAgreement/{a.number}",
    "happenedAt": lambda a: _iso(a.at),
    "reason": lambda a: a.reason,
    "sales": _AgreementView.sales,
}
_REFUND_AGREEMENT_FIELDS = {**_AGREEMENT_FIELDS, "refund": lambda a: a.refund}


def _first(pair: tuple) -> Any:
    return pair[0]


def _bulk_refused(errors: list[tuple[str, list[str] | None, str]]) -> dict:
    user_errors = [{"code": code, "field": field_path, "message": message} for code, field_path, message in errors]
    return {"bulkOperation": None, "userErrors": user_errors}


def _base_url(request: SimRequest) -> str:
    """The scheme and host the client reached us by: bulk file URLs point back there."""
    return f"http://{request.headers.get('Host') or '127.0.0.1'}"


def build_shopify(
    business: Business,
    *,
    port: int = 0,
    history_days: int = 730,
    live_interval: float | None = None,
    clock: Clock = system_clock,
    faults: FaultPlan | None = None,
    **options: Any,
) -> SimulatorServer:
    """A Shopify shop for `business` on 127.0.0.1:`port`, not yet started. `options` are
    ShopifySimulator's keyword arguments (token, read_all_orders, webhooks, bucket)."""
    store = ChannelStore(business, SHOPIFY, history_days=history_days, clock=clock, live_interval=live_interval)
    return SimulatorServer(ShopifySimulator(store, **options), port=port, faults=faults)
