"""Benchmarks: each prints its figures as one JSON object (--json) or one `key: value` a line."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def report(figures: Mapping[str, Any], as_json: bool) -> None:
    """Print a benchmark's figures: one JSON object, or one `key: value` a line."""
    print(json.dumps(figures) if as_json else "\n".join(f"{key}: {value}" for key, value in figures.items()))
