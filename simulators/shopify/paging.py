"""Relay paging as Shopify does it: opaque cursors, `first`/`last`/`after`/`before`/`reverse`,
and the connection shape (`edges`, `nodes`, `pageInfo`) a page is answered in."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import GraphQLError

from simulators.shopify.rendering import iso

# A sort key: (sort value, id) for orders, the position for lists. Cursors carry it opaquely.
Key = Any


def _encode_cursor(key: Key) -> str:
    if isinstance(key, tuple):
        value, last_id = key
        payload = {"last_id": last_id, "last_value": iso(value) if isinstance(value, datetime) else value}
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
class Page:
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


def paginate(
    items: Iterable[tuple[Key, Any]],
    *,
    first: int | None = None,
    last: int | None = None,
    after: Key = None,
    before: Key = None,
    reverse: bool = False,
) -> Page:
    """Relay pagination over items in ascending key order. The common case (forward from a
    cursor) stays lazy, so a page of a large store costs one page of work."""
    if not reverse and last is None and before is None:
        remaining = (pair for pair in items if after is None or pair[0] > after)
        if first is None:
            return Page(list(remaining), False, after is not None)
        taken = list(itertools.islice(remaining, first + 1))
        return Page(taken[:first], len(taken) > first, after is not None)

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
    return Page(ordered, has_next, has_previous)


def page_args(args: Mapping[str, Any]) -> dict:
    """A field's paging arguments, cursors decoded, as `paginate` takes them."""
    return {
        "first": args.get("first"),
        "last": args.get("last"),
        "after": _decode_cursor(args.get("after")),
        "before": _decode_cursor(args.get("before")),
        "reverse": bool(args.get("reverse")),
    }


WHOLE = page_args({})  # no paging arguments: the whole connection
