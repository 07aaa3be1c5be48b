"""Bulk query operations: Shopify's rules for a bulk query, the JSONL file it produces, and the
root fields that start, find and list an app's operations, each built in the background.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLObjectType,
    OperationType,
    SelectionSetNode,
    get_argument_values,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
)

from records import cycle_collector_paused
from simulators.shopify.bulk_filter import bulk_filter
from simulators.shopify.paging import WHOLE, page_args, paginate
from simulators.shopify.rendering import iso
from simulators.shopify.schema import (
    SCHEMA,
    RequestErrors,
    Selections,
    is_connection_type,
    node_type,
    object_types,
    parse_query,
)
from simulators.shopify.search import Listings
from simulators.store import ChannelStore

log = logging.getLogger(__name__)

BULK_OPERATIONS_KEPT = 5
# Bulk query operations a shop may run at once: one before API version 2026-01, five from it.
CONCURRENT_BULK_QUERIES = 5
CONCURRENT_BULK_QUERIES_SINCE = "2026-01"
# Connections may nest two levels below the top-level one (products > variants > images is
# allowed, a third level is not: shopify.dev, bulk operations, "Operation restrictions").
MAX_BULK_NESTING = 2


def _bulk_document(query: str, node_connections_only: bool = False) -> DocumentNode:
    """Parse a bulk query and apply Shopify's rules for them; ValueError lists what breaks them."""
    try:
        document = parse_query(query)
    except GraphQLError as exc:
        raise ValueError(f"Invalid bulk query: {exc.message}") from None
    except RequestErrors as exc:
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
        self.selections = Selections(document)
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
        for object_type in object_types(type_):
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
        if not is_connection_type(named):
            inside_list = in_list or is_list_type(get_nullable_type(field_def.type))
            self._walk(named, node.selection_set, depth=depth, in_list=inside_list, holder_has_id=holder_has_id)
            return
        name = node.name.value
        self.connections.append(name)
        self.too_deep |= depth > MAX_BULK_NESTING
        self.in_list |= in_list
        if depth and not holder_has_id:
            self.without_id.append(name)
        nodes_type = node_type(named)
        if self.node_connections_only and not any(
            "Node" in {i.name for i in t.interfaces} for t in object_types(nodes_type)
        ):
            self.not_node.append(name)
        for keys, selection_set in self.selections.node_paths(named, node.selection_set):
            if len(keys) == 1:
                self.via_nodes.append(name)
            else:
                self._walk(nodes_type, selection_set, depth=depth + 1, in_list=False)


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
        self, selections: Selections, type_: GraphQLObjectType, selection_sets: Iterable[SelectionSetNode]
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
        selections = Selections(document)
        (root,) = selections.fields(SCHEMA.query_type, get_operation_ast(document).selection_set)
        return root, cls._nodes(selections, get_named_type(SCHEMA.query_type.fields[root.name.value].type), [root])

    @classmethod
    def _nodes(cls, selections: Selections, connection_type: Any, nodes: list[FieldNode]) -> _BulkPlan | _TypedPlans:
        """The plan for the nodes a connection selects through `edges { node }`."""
        node_sets = [
            selection_set
            for node in nodes
            for keys, selection_set in selections.node_paths(connection_type, node.selection_set)
            if len(keys) == 2
        ]
        return cls._of_type(selections, node_type(connection_type), node_sets)

    @classmethod
    def _of_type(
        cls, selections: Selections, type_: Any, selection_sets: list[SelectionSetNode]
    ) -> _BulkPlan | _TypedPlans:
        """The plan for an object type, or one for each object type of an interface."""
        if is_abstract_type(type_):
            return _TypedPlans({t.name: cls(selections, t, selection_sets) for t in object_types(type_)})
        return cls(selections, type_, selection_sets)

    @classmethod
    def _field(cls, selections: Selections, type_: GraphQLObjectType, key: str, nodes: list[FieldNode]) -> _BulkField:
        name = nodes[0].name.value
        if name == "__typename":
            return _BulkField(key, name, typename=type_.name)
        field_def = type_.fields[name]
        args = get_argument_values(field_def, nodes[0], selections.variables)
        named = get_named_type(field_def.type)
        if is_connection_type(named):
            return _BulkField(key, name, plan=cls._nodes(selections, named, nodes), page=page_args(args))
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
                if selected.page == WHOLE:  # a bulk query's nested connections are read whole
                    nested.append((own_id, selected.plan, value))
                else:
                    page = paginate(enumerate(value), **selected.page)
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
            "createdAt": iso(self.as_of),
            "completedAt": iso(self.completed_at),
            "objectCount": str(self.object_count),
            "rootObjectCount": str(self.root_object_count),
            "fileSize": str(len(self.body)) if has_file and self.body is not None else None,
            "url": f"{base_url}/bulk/{self.number}.jsonl" if has_file else None,
            "partialDataUrl": None,
        }


def _bulk_refused(errors: list[tuple[str, list[str] | None, str]]) -> dict:
    user_errors = [{"code": code, "field": field_path, "message": message} for code, field_path, message in errors]
    return {"bulkOperation": None, "userErrors": user_errors}


class BulkOperations:
    """The shop's bulk query operations, a part of ShopifySimulator: the root fields that start,
    find and list them, and the background runner that builds each one's file. Only the last
    BULK_OPERATIONS_KEPT are remembered."""

    store: ChannelStore
    listings: Listings

    def __init__(self, *, bulk_delay: float, bulk_node_connections_only: bool) -> None:
        self.bulk_delay = bulk_delay
        # Shopify's bulk guide says connections must implement Node, yet Sale does not; whether a
        # real shop refuses `sales` in a bulk query is unconfirmed, so both answers are simulated.
        self.bulk_node_connections_only = bulk_node_connections_only
        self._bulk_ops: dict[int, _BulkOperation] = {}
        self._bulk_numbers = itertools.count(1)
        self._bulk_lock = threading.Lock()
        self._building = threading.Lock()
        self.bulk_seconds = 0.0  # time spent building bulk files (not queued or writing): Shopify's work
        # Tests hold operations in a state, whatever the machine's speed: clear one to stop every
        # operation before that step, set it to let them go on.
        self.bulk_may_run = threading.Event()
        self.bulk_may_complete = threading.Event()
        self.bulk_may_run.set()
        self.bulk_may_complete.set()

    def _bulk_file(self, number: int) -> bytes | None:
        """The JSONL file of a completed operation, for `GET /bulk/<number>.jsonl`."""
        op = self._bulk_ops.get(number)
        return op.body if op is not None and op.status == "COMPLETED" else None

    def _bulk_operation(self, info: Any, number: int) -> dict | None:
        with self._bulk_lock:
            op = self._bulk_ops.get(number)
        return None if op is None else op.node(info.context.base_url)

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
        return paginate(listed, **page_args(args)).connection(lambda op: op.node(info.context.base_url))

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

    def _run_bulk(self, op: _BulkOperation, document: DocumentNode) -> None:
        """The bulk runner: reads the root connection whole, as of the moment the operation was
        created, and writes the JSONL file one node at a time."""
        began = time.perf_counter()
        try:
            time.sleep(self.bulk_delay)  # queued
            self.bulk_may_run.wait()
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
            self.bulk_may_complete.wait()
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
        whole = page_args({"reverse": args.get("reverse")})
        _, items, render = self.listings.source(root.name.value, args, as_of, whole)
        for _, item in paginate(items, **whole).items:
            yield render(item)
