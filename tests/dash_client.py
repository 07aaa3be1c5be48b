"""Calling Dash callbacks as the browser's renderer does, and reading what they answer.

A callback's answer is the JSON of Dash components ({"type", "namespace", "props"}); tests look
components up by id and read the text a user would see, rather than grepping the JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

Slot = tuple[str, str]  # (component id, property)


def dash_post(client, outputs: list[Slot], inputs: list, changed: list[str], state: list | None = None) -> dict:
    """POST /_dash-update-component with these outputs, inputs (entries or, for an ALL pattern,
    lists of entries) and changed property ids; returns the answer's `response`, or {} for 204."""
    keys = ["{}.{}".format(*slot) for slot in outputs]
    described = [{"id": i, "property": p} for i, p in outputs]
    body = {
        "output": f"..{'...'.join(keys)}.." if len(keys) > 1 else keys[0],
        "outputs": described if len(described) > 1 else described[0],
        "inputs": inputs,
        "changedPropIds": changed,
        "state": state or [],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code in (200, 204), response.get_data(as_text=True)[:500]
    return json.loads(response.data)["response"] if response.status_code == 200 else {}


def components(tree: object) -> Iterator[dict]:
    """Every component in a callback's output, depth first."""
    if isinstance(tree, list):
        for item in tree:
            yield from components(item)
    elif isinstance(tree, dict) and "props" in tree:
        yield tree
        yield from components(tree["props"].get("children"))


def find(tree: object, component_id: object) -> dict | None:
    """The component with this id, or None."""
    return next((c for c in components(tree) if c["props"].get("id") == component_id), None)


def text(tree: object) -> str:
    """The text a user reads in this part of the page, pieces joined by single spaces."""
    if isinstance(tree, str | int | float) and not isinstance(tree, bool):
        return str(tree)
    if isinstance(tree, list):
        return " ".join(piece for piece in (text(item) for item in tree) if piece)
    if isinstance(tree, dict) and "props" in tree:
        return text(tree["props"].get("children"))
    return ""


def outputs_of(client, input_id: str, prop: str) -> list[Slot]:
    """The outputs of the callback triggered by `input_id`.`prop` (for a pattern id, its `type`),
    as the renderer names them: an output another callback also writes (allow_duplicate) carries
    its `@hash`, which dash_post must send back for Dash to find the callback."""
    for dependency in client.get("/_dash-dependencies").json:
        for given in dependency["inputs"]:
            given_id = given["id"]
            if given_id.startswith("{"):
                given_id = json.loads(given_id).get("type")
            if given_id == input_id and given["property"] == prop:
                keys = dependency["output"].strip(".").split("...")
                return [tuple(key.split(".", 1)) for key in keys]
    raise LookupError(f"no callback takes {input_id}.{prop}")
