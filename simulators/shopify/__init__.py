"""A local Shopify store that speaks the GraphQL Admin API, backed by the synthetic business.

Clients talk to it exactly as to a real shop: `POST /admin/api/{YYYY-MM|unstable}/graphql.json`
with `X-Shopify-Access-Token`. Queries run on a real schema (`schema.graphql`, a subset of
the Admin API) with graphql-core, so variables, aliases and fragments work; every answer carries
Shopify's calculated query cost and leaky-bucket `throttleStatus`. Bulk operations (checked
against Shopify's rules for bulk queries) run in the background and are downloaded from
`GET /bulk/<n>.jsonl`. With a webhook URL, every change made on demand (the server's `/_sim/`
endpoints) is POSTed there, REST-shaped and HMAC-signed.

Conventions for development and tests:

- shop domain `northwind-audio.myshopify.com`, the demo company's (see jobs/demo.py DEMO_PLATFORMS);
- access token `shpat_simulator_dev_token` unless another is configured;
- connector config `{"shop_domain": SHOP_DOMAIN, "base_url": server.url}`,
  secrets `{"access_token": DEV_ACCESS_TOKEN}`.

The package, by concept: `simulator` (HTTP routes, request execution, root fields), `schema`
(the SDL and how queries are read), `cost` (query cost, leaky bucket), `paging` (cursors and
connections), `search` (what the root connections list, the `query:` syntax), `bulk_filter`
(the `bulkOperations` filter), `bulk` (bulk query rules, files, operations), `rendering` (the
GraphQL objects) and `webhooks` (REST-shaped, signed deliveries).
"""

from __future__ import annotations

from simulators.shopify.rendering import SHOP_NAME
from simulators.shopify.schema import SCHEMA
from simulators.shopify.simulator import DEV_ACCESS_TOKEN, SHOP_DOMAIN, ShopifySimulator, build_shopify
from simulators.shopify.webhooks import webhook_hmac

__all__ = [
    "DEV_ACCESS_TOKEN",
    "SCHEMA",
    "SHOP_DOMAIN",
    "SHOP_NAME",
    "ShopifySimulator",
    "build_shopify",
    "webhook_hmac",
]
