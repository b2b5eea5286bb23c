"""Plain values read from ``schema.json`` entries of a skops file, as JSON, without skops:
what the audit of :mod:`medfuse.persist.skops_audit` compares with its pins."""

from __future__ import annotations

import json


def plain(state, leaf=(str, int, float, type(None)), depth: int = 0) -> bool:
    """Whether an entry is a plain JSON value of the ``leaf`` types (or, for object arrays
    of more dimensions, a list of such entries)."""
    if not isinstance(state, dict) or depth > 32:
        return False
    if state.get("__loader__") == "JsonNode" and isinstance(state.get("content"), str):
        try:
            value = json.loads(state["content"])
        except (ValueError, RecursionError):
            return False
        return isinstance(value, leaf) and not (leaf is int and isinstance(value, bool))
    if state.get("__loader__") == "ListNode" and isinstance(state.get("content"), list):
        return all(plain(s, leaf, depth + 1) for s in state["content"])
    return False


def json_value(state) -> tuple[object, bool]:
    """The plain value of a JSON entry (text, number, bool or None) and whether it is one."""
    if not (isinstance(state, dict) and state.get("__loader__") == "JsonNode"
            and isinstance(state.get("content"), str)):
        return None, False
    try:
        value = json.loads(state["content"])
    except (ValueError, RecursionError):
        return None, False
    return value, isinstance(value, str | int | float | bool | type(None))


def whole_numbers(state, depth: int = 0):
    """The whole numbers of a JSON entry and of the lists, tuples and dicts under it."""
    if not isinstance(state, dict) or depth > 8:
        return
    loader = state.get("__loader__")
    if loader == "JsonNode":
        value, ok = json_value(state)
        if ok and isinstance(value, int) and not isinstance(value, bool):
            yield value
    elif loader in ("ListNode", "TupleNode") and isinstance(state.get("content"), list):
        for item in state["content"]:
            yield from whole_numbers(item, depth + 1)
    elif loader == "DictNode" and isinstance(state.get("content"), dict):
        for item in state["content"].values():
            yield from whole_numbers(item, depth + 1)
