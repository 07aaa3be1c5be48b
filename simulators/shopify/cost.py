"""Shopify's calculated query cost and the leaky bucket it is paid from.

Every answer carries the query's requested and actual cost and the bucket's `throttleStatus`;
a query costing more than MAX_QUERY_COST is refused, and one the bucket cannot pay for now is
answered THROTTLED.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLObjectType,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_argument_values,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    get_variable_values,
    is_leaf_type,
    is_list_type,
)

from simulators.shopify.schema import (
    SCHEMA,
    RequestErrors,
    Selections,
    is_connection_type,
    node_type,
    object_types,
    parse_query,
)

MAX_PAGE_SIZE = 250
MAX_QUERY_COST = 1000
MUTATION_COST = 10
# The rate-limit fault empties the bucket this far (in seconds of restore) below the query's
# cost, so the THROTTLED answer is consistent: the client has to wait that long.
THROTTLE_FAULT_SECONDS = 0.25
_MAX_COST_MESSAGE = (
    "Query cost is {cost}, which exceeds the single query max cost limit ({limit}).\n\n"
    "See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n"
    "cost of a query is calculated.\n\n"
    "To query larger amounts of data with fewer limits, bulk operations should be used instead.\n"
    "See https://shopify.dev/api/usage/bulk-operations/queries for usage details.\n"
)


class QueryCost:
    """Shopify's calculated query cost for one operation.

    Scalars and enums cost 0, objects 1, a connection 2 plus its page size times the cost of
    one node, a mutation 10. The requested cost is computed from the query before it runs;
    the actual cost walks the response, counting the nodes really returned.
    """

    def __init__(self, document: DocumentNode, operation: OperationDefinitionNode, variables: Any) -> None:
        self.document = document
        self.operation = operation
        self.variables = variables
        self.selections = Selections(document, variables)

    @classmethod
    def of(cls, query: str, variables: Mapping[str, Any] | None, operation_name: str | None) -> QueryCost:
        """The cost of a request's operation; raises what GraphQL refuses before running it."""
        document = parse_query(query)
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            raise GraphQLError("Operation name is required when a document holds several operations.")
        coerced = get_variable_values(SCHEMA, operation.variable_definitions or (), dict(variables or {}))
        if isinstance(coerced, list):
            raise RequestErrors(coerced)
        return cls(document, operation, coerced)

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
            if is_connection_type(named):
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
        return max(self._selection(t, selection_set, data) for t in object_types(type_))

    def _connection(self, type_: GraphQLObjectType, node: FieldNode, args: Mapping, value: Mapping | None) -> int:
        item_type = node_type(type_)
        paths = list(self.selections.node_paths(type_, node.selection_set))
        if value is None:
            size = _page_size(node, args)
            return size + size * sum(self._object(item_type, selections, None) for _, selections in paths)
        returned = [_path_items(value, keys) for keys, _ in paths]
        count = max((len(items) for items in returned), default=0)
        return count + sum(
            self._object(item_type, selections, item)
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


class Bucket:
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


def max_cost_exceeded(requested: int) -> dict:
    """Shopify's answer to a query costing more than one query may."""
    message = _MAX_COST_MESSAGE.format(cost=requested, limit=MAX_QUERY_COST)
    extensions = {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": MAX_QUERY_COST}
    return {"errors": [{"message": message, "extensions": extensions}]}


def cost_extension(bucket: Bucket, requested: int, actual: int | None) -> dict:
    """What `extensions.cost` says of a query: its cost, and the bucket after it."""
    return {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": bucket.status()}


def throttled(bucket: Bucket, requested: int) -> dict:
    """Shopify's THROTTLED answer (HTTP 200) to a query the bucket cannot pay for now."""
    error = {
        "message": "Throttled",
        "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"},
    }
    return {"errors": [error], "extensions": {"cost": cost_extension(bucket, requested, None)}}
