"""What the shop's root connections (orders, products, productVariants) list: the items the app
may see, filtered by the `query:` argument in Shopify's search syntax and ascending by the sort
key, for a page and a bulk operation alike.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from graphql import GraphQLError

from simulators.business import SimOrder
from simulators.shopify.paging import Key
from simulators.shopify.rendering import Renderer
from simulators.store import ChannelStore

VISIBLE_WITHOUT_READ_ALL_ORDERS = timedelta(days=60)
# Catalog sort keys the simulator implements, and the node field each sorts by (ties by id).
_CATALOG_SORT = {
    "ID": "legacyResourceId",
    "TITLE": "title",
    "SKU": "sku",
    "CREATED_AT": "createdAt",
    "UPDATED_AT": "updatedAt",
}
GID = re.compile(r"^gid://shopify/(\w+)/(\d+)$")


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
class Search:
    """A parsed `query:` argument: date comparisons joined by AND (explicit or implied).

    As on Shopify, a term on a field the resource cannot be searched by is ignored and
    reported under `extensions.search`. Syntax the simulator does not implement (OR,
    parentheses, free text) is refused rather than silently answered wrong.
    """

    text: str | None
    terms: list[_Term] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | None, fields: Collection[str], tz: ZoneInfo) -> Search:
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


class Listings:
    """The items of the shop's root connections, as the app sees them."""

    def __init__(self, store: ChannelStore, renderer: Renderer, read_all_orders: bool) -> None:
        self.store, self.renderer = store, renderer
        self.read_all_orders = read_all_orders

    def visible(self, order: SimOrder, as_of: datetime) -> bool:
        """Without read_all_orders, an app sees the last 60 days of orders only."""
        return self.read_all_orders or order.created_at >= as_of - VISIBLE_WITHOUT_READ_ALL_ORDERS

    def find_order(self, gid: str, as_of: datetime) -> SimOrder | None:
        match = GID.match(gid)
        order = self.store.get(int(match.group(2))) if match and match.group(1) == "Order" else None
        if order is None or order.created_at > as_of or not self.visible(order, as_of):
            return None
        return order

    def _matching_orders(
        self, as_of: datetime, sort_key: str, search: Search, page_args: Mapping[str, Any]
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
            if self.visible(order, as_of) and search.matches(dates):
                yield key, order

    def source(
        self, name: str, args: Mapping[str, Any], as_of: datetime, page_args: Mapping[str, Any]
    ) -> tuple[Search, Iterable[tuple[Key, Any]], Callable[[Any], dict]]:
        """A root connection's items matching its `query`, ascending by key, and how one is
        rendered as a node: what both a page and a bulk operation read."""
        tz = self.store.business.tz
        if name == "orders":
            search = Search.parse(args.get("query"), ("created_at", "processed_at", "updated_at"), tz)
            orders = self._matching_orders(as_of, args["sortKey"], search, page_args)
            return search, orders, lambda order: self.renderer.order_node(order, as_of)
        products = self.renderer.products
        nodes = products if name == "products" else [v for p in products for v in p["variants"]]
        search = Search.parse(args.get("query"), ("created_at", "updated_at"), tz)
        return search, self._catalog_items(nodes, args["sortKey"], search), lambda node: node

    @staticmethod
    def _catalog_items(nodes: list[dict], sort_key: str, search: Search) -> list[tuple[Key, dict]]:
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


def _first(pair: tuple) -> Any:
    return pair[0]
