"""The connector registry: one explicit dict from platform kind to connector class."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.base import STRICT, Connector, ConnectorError, NetworkPolicy
from connectors.csv_import import CsvImportConnector
from connectors.mirakl import MiraklConnector
from connectors.shopify import ShopifyConnector

CONNECTORS: dict[str, type[Connector]] = {
    "shopify": ShopifyConnector,
    "bestbuy": MiraklConnector,
    "csv": CsvImportConnector,
}
# Kinds by capability, for code that filters platforms (queries, pages): never spelled as kinds.
SCHEDULED_KINDS = tuple(kind for kind, cls in CONNECTORS.items() if cls.syncs_on_schedule)
FILE_KINDS = tuple(kind for kind, cls in CONNECTORS.items() if cls.imports_files)


def make_connector(
    kind: str,
    config: Mapping[str, Any],
    secrets: Mapping[str, str],
    *,
    network: NetworkPolicy = STRICT,
    **http_options: Any,
) -> Connector:
    """The connector for a platform of this kind, with its settings and decrypted secrets. A
    connector that calls an API (it names the API's hosts) gets the network policy, which is
    strict unless the caller passes the one its settings allow, and the `http_options`."""
    try:
        cls = CONNECTORS[kind]
    except KeyError:
        raise ConnectorError(f"unknown platform kind {kind!r}; known: {', '.join(CONNECTORS)}") from None
    options = {"network": network, **http_options} if cls.api_hosts else {}
    try:
        return cls(config, secrets, **options)
    except (ValueError, TypeError) as exc:  # e.g. a number setting that is not a number
        raise ConnectorError(f"invalid {kind} settings: {exc}") from None
