"""The API's description: GET /api/v1/openapi.json (public, so tools can read it) and the
browsable page at /api/docs (Swagger UI served from assets/, so it works offline).

The document is written by hand in api/openapi.yaml: YAML keeps a long contract readable, takes
comments, and is what OpenAPI editors and linters open directly. tests/test_openapi.py checks it
against the OpenAPI 3.1 schema and checks real responses against it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from flask import Blueprint, Response, jsonify, render_template

from api import bp

DOCUMENT_PATH = Path(__file__).with_name("openapi.yaml")

# Its script is a file (api/static/api_docs.js), not inline: the page runs under the app's CSP.
docs_bp = Blueprint(
    "api_docs", __name__, template_folder="templates", static_folder="static", static_url_path="/api/docs/static"
)


@cache
def document() -> dict:
    """The parsed document, read once per process (it only changes with a deploy)."""
    return yaml.safe_load(DOCUMENT_PATH.read_text(encoding="utf-8"))


@bp.get("/openapi.json")
def openapi_document() -> Response:
    return jsonify(document())


@docs_bp.get("/api/docs")
def api_docs() -> str:
    return render_template("api_docs.html")
