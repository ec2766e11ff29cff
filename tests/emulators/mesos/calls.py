"""Turning a request body into a scheduler Call the way the master does, with its 400 texts.

Two steps, as in ``Master::Http::scheduler``: JSON -> protobuf conversion (unknown keys are
ignored, unknown enum strings dropped, proto2 ``required`` fields enforced: "Failed to convert
JSON into Call protobuf: ...") and then ``validation::scheduler::call::validate`` ("Failed to
validate scheduler::Call: ..."). Only the messages the emulator reads are described; fields
outside this schema pass through unchecked.
"""

from __future__ import annotations

import base64
from typing import Any

CALL_TYPES = frozenset(
    {
        "UNKNOWN",
        "SUBSCRIBE",
        "TEARDOWN",
        "ACCEPT",
        "DECLINE",
        "ACCEPT_INVERSE_OFFERS",
        "DECLINE_INVERSE_OFFERS",
        "REVIVE",
        "KILL",
        "SHUTDOWN",
        "ACKNOWLEDGE",
        "ACKNOWLEDGE_OPERATION_STATUS",
        "RECONCILE",
        "RECONCILE_OPERATIONS",
        "MESSAGE",
        "REQUEST",
        "SUPPRESS",
        "UPDATE_FRAMEWORK",
    }
)
OPERATION_TYPES = frozenset(
    {
        "UNKNOWN",
        "LAUNCH",
        "LAUNCH_GROUP",
        "RESERVE",
        "UNRESERVE",
        "CREATE",
        "DESTROY",
        "GROW_VOLUME",
        "SHRINK_VOLUME",
        "CREATE_DISK",
        "DESTROY_DISK",
    }
)
#: the sub-object each call type must carry (``Expecting 'x' to be present``).
BODY_KEYS = {
    "SUBSCRIBE": "subscribe",
    "ACCEPT": "accept",
    "DECLINE": "decline",
    "ACCEPT_INVERSE_OFFERS": "accept_inverse_offers",
    "DECLINE_INVERSE_OFFERS": "decline_inverse_offers",
    "KILL": "kill",
    "SHUTDOWN": "shutdown",
    "ACKNOWLEDGE": "acknowledge",
    "ACKNOWLEDGE_OPERATION_STATUS": "acknowledge_operation_status",
    "RECONCILE": "reconcile",
    "RECONCILE_OPERATIONS": "reconcile_operations",
    "MESSAGE": "message",
    "REQUEST": "request",
    "UPDATE_FRAMEWORK": "update_framework",
}


CONVERT = "Failed to convert JSON into Call protobuf: "


class CallError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


# A schema is a dict: field -> (required, spec). A spec is a dict (message), a one-element
# list (repeated), or one of "str", "num", "int", "bool", "bytes", "call_type", "op_type".
_ID = {"value": (True, "str")}
_DURATION = {"nanoseconds": (True, "int")}
_LABELS = {"labels": (False, [{"key": (True, "str"), "value": (False, "str")}])}
_RESOURCE = {
    "name": (True, "str"),
    "type": (True, "str"),
    "scalar": (False, {"value": (True, "num")}),
    "ranges": (False, {"range": (False, [{"begin": (True, "int"), "end": (True, "int")}])}),
}
_COMMAND = {
    "value": (False, "str"),
    "shell": (False, "bool"),
    "arguments": (False, ["str"]),
    "user": (False, "str"),
    "uris": (False, [{"value": (True, "str"), "executable": (False, "bool"), "extract": (False, "bool")}]),
    "environment": (False, {"variables": (False, [{"name": (True, "str"), "value": (False, "str")}])}),
}
_TASK_INFO = {
    "name": (True, "str"),
    "task_id": (True, _ID),
    "agent_id": (True, _ID),
    "resources": (False, [_RESOURCE]),
    "command": (False, _COMMAND),
    "labels": (False, _LABELS),
    "kill_policy": (False, {"grace_period": (False, _DURATION)}),
    "max_completion_time": (False, _DURATION),
    "data": (False, "bytes"),
}
_FRAMEWORK_INFO = {
    "user": (True, "str"),
    "name": (True, "str"),
    "id": (False, _ID),
    "failover_timeout": (False, "num"),
    "checkpoint": (False, "bool"),
    "role": (False, "str"),
    "roles": (False, ["str"]),
    "hostname": (False, "str"),
    "principal": (False, "str"),
    "webui_url": (False, "str"),
    "labels": (False, _LABELS),
}
_FILTERS = {"refuse_seconds": (False, "num")}
_CALL = {
    "framework_id": (False, _ID),
    "type": (False, "call_type"),
    "subscribe": (False, {"framework_info": (True, _FRAMEWORK_INFO), "suppressed_roles": (False, ["str"])}),
    "accept": (
        False,
        {
            "offer_ids": (False, [_ID]),
            "operations": (
                False,
                [
                    {
                        "type": (False, "op_type"),
                        "launch": (False, {"task_infos": (False, [_TASK_INFO])}),
                    }
                ],
            ),
            "filters": (False, _FILTERS),
        },
    ),
    "decline": (False, {"offer_ids": (False, [_ID]), "filters": (False, _FILTERS)}),
    "revive": (False, {"roles": (False, ["str"])}),
    "suppress": (False, {"roles": (False, ["str"])}),
    "kill": (
        False,
        {
            "task_id": (True, _ID),
            "agent_id": (False, _ID),
            "kill_policy": (False, {"grace_period": (False, _DURATION)}),
        },
    ),
    "shutdown": (False, {"executor_id": (True, _ID), "agent_id": (True, _ID)}),
    "acknowledge": (False, {"agent_id": (True, _ID), "task_id": (True, _ID), "uuid": (True, "bytes")}),
    "reconcile": (False, {"tasks": (False, [{"task_id": (True, _ID), "agent_id": (False, _ID)}])}),
    "message": (False, {"agent_id": (True, _ID), "executor_id": (True, _ID), "data": (True, "bytes")}),
    "update_framework": (
        False,
        {"framework_info": (True, _FRAMEWORK_INFO), "suppressed_roles": (False, ["str"])},
    ),
}

_JSON_KIND = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return _JSON_KIND.get(type(value), "value")


def _not_expecting(value: Any, name: str) -> CallError:
    return CallError(400, f"{CONVERT}Not expecting a JSON {_kind(value)} for field '{name}'")


def _convert_scalar(value: Any, spec: str, name: str) -> tuple[bool, Any]:
    """(keep, value) for a scalar field; raises CallError on a type mismatch."""
    bad = _not_expecting(value, name)
    if spec in ("call_type", "op_type"):
        if not isinstance(value, str):
            raise bad
        return value in (CALL_TYPES if spec == "call_type" else OPERATION_TYPES), value
    if spec == "str":
        if not isinstance(value, str):
            raise bad
    elif spec == "bool":
        if not isinstance(value, bool):
            raise bad
    elif spec in ("num", "int"):
        if isinstance(value, str):  # stout also takes numbers written as strings
            try:
                value = int(value) if spec == "int" else float(value)
            except ValueError:
                raise bad from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if spec == "int" and isinstance(value, float):
            if not value.is_integer():
                raise bad
            value = int(value)
    elif spec == "bytes":
        if not isinstance(value, str):
            raise bad
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            char = next((c for c in value if not (c.isalnum() or c in "+/=" or c.isspace())), " ")
            raise CallError(
                400,
                f"{CONVERT}Failed to base64 decode bytes field '{name}': Invalid character '{char}'",
            ) from None
    return True, value


def _walk(obj: dict[str, Any], schema: dict[str, Any], path: str, missing: list[str]) -> dict[str, Any]:
    out = dict(obj)
    for name, (required, spec) in schema.items():
        here = f"{path}.{name}" if path else name
        if name not in obj or obj[name] is None:
            out.pop(name, None)
            if required:
                missing.append(here)
            continue
        value = obj[name]
        if isinstance(spec, list):
            if not isinstance(value, list):
                raise _not_expecting(value, name)
            items = []
            for i, item in enumerate(value):
                if isinstance(spec[0], dict):
                    if not isinstance(item, dict):
                        raise CallError(400, CONVERT + "Expecting a JSON object")
                    items.append(_walk(item, spec[0], f"{here}[{i}]", missing))
                else:
                    keep, converted = _convert_scalar(item, spec[0], name)
                    if keep:
                        items.append(converted)
            out[name] = items
        elif isinstance(spec, dict):
            if not isinstance(value, dict):
                raise _not_expecting(value, name)
            out[name] = _walk(value, spec, here, missing)
        else:
            keep, converted = _convert_scalar(value, spec, name)
            if keep:
                out[name] = converted
            else:
                out.pop(name)
                if required:
                    missing.append(here)
    return out


def convert(data: Any) -> dict[str, Any]:
    """JSON value -> Call (a dict with only well-formed known fields checked)."""
    if not isinstance(data, dict):
        raise CallError(400, CONVERT + "Expecting a JSON object")
    missing: list[str] = []
    call = _walk(data, _CALL, "", missing)
    if missing:
        raise CallError(400, CONVERT + "Missing required fields: " + ", ".join(missing))
    return call


def validate(call: dict[str, Any]) -> None:
    """``validation::scheduler::call::validate``."""

    def fail(message: str) -> CallError:
        return CallError(400, f"Failed to validate scheduler::Call: {message}")

    kind = call.get("type")
    if kind is None:
        raise fail("Expecting 'type' to be present")
    if kind == "SUBSCRIBE":
        if "subscribe" not in call:
            raise fail("Expecting 'subscribe' to be present")
        info_id = (call["subscribe"]["framework_info"].get("id") or {}).get("value")
        top_id = (call.get("framework_id") or {}).get("value")
        if info_id != top_id:
            raise fail("'framework_id' differs from 'subscribe.framework_info.id'")
        return
    if "framework_id" not in call:
        raise fail("Expecting 'framework_id' to be present")
    key = BODY_KEYS.get(kind)
    if key is not None and key not in call:
        raise fail(f"Expecting '{key}' to be present")
    if kind == "ACKNOWLEDGE":
        raw = base64.b64decode(call["acknowledge"]["uuid"])
        if len(raw) != 16 or raw == bytes(16):
            raise fail("Not a valid UUID")
