"""The simulator's GraphQL schema (`schema.graphql`, a subset of Shopify's Admin API) and how its
queries are read: parsed and validated once per text, and walked the way execution walks them,
which the query cost, the bulk query rules and the bulk file all need.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLIncludeDirective,
    GraphQLObjectType,
    GraphQLSkipDirective,
    InlineFragmentNode,
    SelectionSetNode,
    build_schema,
    get_directive_values,
    get_named_type,
    is_abstract_type,
    parse,
    validate,
)

SCHEMA = build_schema(Path(__file__).with_name("schema.graphql").read_text())


class RequestErrors(Exception):
    """A request GraphQL refuses before running it (syntax, validation, variables)."""

    def __init__(self, errors: list[GraphQLError]) -> None:
        super().__init__(errors[0].message if errors else "invalid request")
        self.errors = errors


@lru_cache(maxsize=256)
def parse_query(query: str) -> DocumentNode:
    """The parsed, validated query; once per distinct text, as clients repeat a few queries."""
    document = parse(query)
    errors = validate(SCHEMA, document)
    if errors:
        raise RequestErrors(errors)
    return document


class Selections:
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


def is_connection_type(type_: Any) -> bool:
    return type_.name.endswith("Connection")


def node_type(connection_type: GraphQLObjectType) -> Any:
    return get_named_type(connection_type.fields["nodes"].type)


def object_types(type_: Any) -> list[GraphQLObjectType]:
    """The object types a value of `type_` can have: itself, or an interface's implementations."""
    return list(SCHEMA.get_possible_types(type_)) if is_abstract_type(type_) else [type_]
