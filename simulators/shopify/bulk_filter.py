"""The `query:` filter of Shopify's `bulkOperations` connection, in Shopify's search syntax:
`field:value` terms on `status` and `operation_type`, joined by AND (explicit or implied) and
OR, negated by NOT or `-`, grouped by parentheses; e.g. what a client asks for the operations
still in progress, `operation_type:query AND (status:created OR status:running)`. Anything else
(another field, free text, a comparison) is refused rather than silently answered wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from graphql import GraphQLError

Predicate = Callable[[Mapping[str, str]], bool]
FIELDS = {
    "status": {"canceled", "canceling", "completed", "created", "expired", "failed", "running"},
    "operation_type": {"query", "mutation"},
}
_TOKEN = re.compile(r"\s*(\(|\)|-|[^\s()]+)")


def bulk_filter(text: str | None) -> Predicate:
    """A predicate on an operation's lower-case `status` and `operation_type`."""
    tokens = [match.group(1) for match in _TOKEN.finditer(text or "")]
    if not tokens:
        return lambda _: True
    predicate, rest = _any(tokens)
    if rest:
        raise GraphQLError(f"The simulator cannot read the bulk operations filter {text!r} from {rest[0]!r}.")
    return predicate


def _any(tokens: list[str]) -> tuple[Predicate, list[str]]:
    """Terms joined by OR."""
    choices = []
    while True:
        predicate, tokens = _all(tokens)
        choices.append(predicate)
        if not tokens or tokens[0] != "OR":
            return (lambda values: any(p(values) for p in choices)), tokens
        tokens = tokens[1:]


def _all(tokens: list[str]) -> tuple[Predicate, list[str]]:
    """Terms joined by AND, or by nothing (AND is implied)."""
    terms = []
    while tokens and tokens[0] not in ("OR", ")"):
        if tokens[0] == "AND":
            tokens = tokens[1:]
        predicate, tokens = _term(tokens)
        terms.append(predicate)
    if not terms:
        raise GraphQLError("The bulk operations filter has an empty term.")
    return (lambda values: all(p(values) for p in terms)), tokens


def _term(tokens: list[str]) -> tuple[Predicate, list[str]]:
    """A comparison, a negated term or a parenthesised group."""
    if not tokens:
        raise GraphQLError("The bulk operations filter ends where a term was expected.")
    head, tokens = tokens[0], tokens[1:]
    if head in ("NOT", "-"):
        predicate, tokens = _term(tokens)
        return (lambda values: not predicate(values)), tokens
    if head == "(":
        predicate, tokens = _any(tokens)
        if not tokens or tokens[0] != ")":
            raise GraphQLError("The bulk operations filter has an unclosed parenthesis.")
        return predicate, tokens[1:]
    name, _, value = head.partition(":")
    if value.lower() not in FIELDS.get(name, ()):
        raise GraphQLError(f"The simulator cannot filter bulk operations by {head!r}.")
    return (lambda values: values[name] == value.lower()), tokens
