"""Mesos v1 scheduler JSON, both ways, as pure functions (no I/O).

Calls are built as dicts ready for `json.dumps`; events are read into small frozen
records. Field names and shapes follow `scheduler.proto`/`mesos.proto` as the JSON
encoding of stout renders them (snake_case, enums as names, ids as {"value": ...}).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stratos_executor.spec import StopReason

#: states after which a Mesos task is gone (TASK_LOST is terminal for non-partition-aware frameworks).
TERMINAL_STATES = frozenset(
    {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE",
     "TASK_GONE_BY_OPERATOR"}
)
TASK_PREFIX = "stratos"
#: Mesos reasons that mean the task itself went over its limits (the cluster killed it).
LIMIT_REASONS = frozenset({"REASON_CONTAINER_LIMITATION", "REASON_CONTAINER_LIMITATION_MEMORY",
                           "REASON_CONTAINER_LIMITATION_DISK", "REASON_MAX_COMPLETION_TIME_REACHED"})


@dataclass(frozen=True, slots=True)
class MesosOffer:
    offer_id: str
    agent_id: str
    hostname: str
    cpus: float
    mem: float
    disk: float
    #: the role each offered resource belongs to ("*" when unreserved).
    roles: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class TaskUpdate:
    task_id: str
    state: str
    agent_id: str
    uuid: str | None
    reason: str
    message: str
    source: str


# -- ids -------------------------------------------------------------------------------------


def task_id(job_key: int, task: int, attempt: int) -> str:
    return f"{TASK_PREFIX}.{job_key}.{task}.{attempt}"


def executor_of(mesos_task_id: str) -> str:
    """The coarse executor a room's task id belongs to (``<executor id>-room-N``); its first room's
    task id is the executor's own."""
    head, sep, tail = mesos_task_id.rpartition("-room-")
    return head if sep and tail.isdigit() else mesos_task_id


def executor_job_key(value: str) -> int | None:
    """The job key of a coarse executor's id (``stratos-KEY-executor-...``, made by the core); None otherwise."""
    parts = value.split("-")
    if len(parts) >= 3 and parts[0] == TASK_PREFIX and parts[1].isdigit() and parts[2] == "executor":
        return int(parts[1])
    return None


def parse_task_id(value: str) -> tuple[int, int, int] | None:
    """(job key, task id, attempt) of one of our task ids; None for anything else."""
    parts = value.split(".")
    if len(parts) != 4 or parts[0] != TASK_PREFIX or not all(p.isdigit() for p in parts[1:]):
        return None
    return int(parts[1]), int(parts[2]), int(parts[3])


# -- calls -----------------------------------------------------------------------------------


def subscribe(*, name: str, user: str, role: str, failover_timeout: float, framework_id: str | None,
              hostname: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "user": user,
        "name": name,
        "role": role,
        "failover_timeout": failover_timeout,
        "checkpoint": True,
        "hostname": hostname,
        "capabilities": [{"type": "TASK_KILLING_STATE"}],
    }
    call: dict[str, Any] = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
    if framework_id:
        info["id"] = {"value": framework_id}
        call["framework_id"] = {"value": framework_id}
    return call


def _call(framework_id: str, kind: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"framework_id": {"value": framework_id}, "type": kind}
    if body is not None:
        call[kind.lower()] = body
    return call


def command_info(command: str, environment: Mapping[str, str]) -> dict[str, Any]:
    return {
        "shell": True,
        "value": command,
        "environment": {"variables": [{"name": k, "value": v} for k, v in sorted(environment.items())]},
    }


def executor_info(*, executor_id: str, framework_id: str, name: str, command: str,
                  environment: Mapping[str, str]) -> dict[str, Any]:
    """A custom executor (coarse mode): every task launched with this same ExecutorInfo on an agent
    goes to the one executor process there, whose container grows by the task's resources."""
    return {"type": "CUSTOM", "executor_id": {"value": executor_id}, "framework_id": {"value": framework_id},
            "name": name, "command": command_info(command, environment)}


def task_info(*, mesos_task_id: str, name: str, offer: MesosOffer, cpus: float, mem: float, disk: float,
              command: str = "", environment: Mapping[str, str] | None = None,
              executor: dict[str, Any] | None = None) -> dict[str, Any]:
    """A TaskInfo run by Mesos's command executor (``command``) or by our own ``executor``."""
    def scalar(resource: str, value: float) -> dict[str, Any]:
        return {"name": resource, "type": "SCALAR", "scalar": {"value": value},
                "role": offer.roles.get(resource, "*")}

    resources = [scalar("cpus", cpus), scalar("mem", mem)]
    if disk > 0 and offer.disk >= disk:
        resources.append(scalar("disk", disk))
    info: dict[str, Any] = {
        "name": name,
        "task_id": {"value": mesos_task_id},
        "agent_id": {"value": offer.agent_id},
        "resources": resources,
    }
    if executor is not None:
        info["executor"] = executor
    else:
        info["command"] = command_info(command, environment or {})
    return info


def accept(framework_id: str, offer_ids: list[str], task_infos: list[dict[str, Any]],
           refuse_seconds: float = 5.0) -> dict[str, Any]:
    return _call(framework_id, "ACCEPT", {
        "offer_ids": [{"value": o} for o in offer_ids],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": task_infos}}],
        "filters": {"refuse_seconds": refuse_seconds},
    })


def decline(framework_id: str, offer_ids: list[str], refuse_seconds: float) -> dict[str, Any]:
    return _call(framework_id, "DECLINE", {
        "offer_ids": [{"value": o} for o in offer_ids], "filters": {"refuse_seconds": refuse_seconds}})


def kill(framework_id: str, mesos_task_id: str, agent_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"task_id": {"value": mesos_task_id}}
    if agent_id:
        body["agent_id"] = {"value": agent_id}
    return _call(framework_id, "KILL", body)


def acknowledge(framework_id: str, update: TaskUpdate) -> dict[str, Any]:
    return _call(framework_id, "ACKNOWLEDGE", {
        "agent_id": {"value": update.agent_id}, "task_id": {"value": update.task_id}, "uuid": update.uuid})


def reconcile(framework_id: str, tasks: list[tuple[str, str | None]]) -> dict[str, Any]:
    items = []
    for mesos_task_id, agent_id in tasks:
        item: dict[str, Any] = {"task_id": {"value": mesos_task_id}}
        if agent_id:
            item["agent_id"] = {"value": agent_id}
        items.append(item)
    return _call(framework_id, "RECONCILE", {"tasks": items})


def revive(framework_id: str) -> dict[str, Any]:
    return _call(framework_id, "REVIVE", {})


def suppress(framework_id: str) -> dict[str, Any]:
    return _call(framework_id, "SUPPRESS", {})


def teardown(framework_id: str) -> dict[str, Any]:
    return _call(framework_id, "TEARDOWN")


# -- events ----------------------------------------------------------------------------------


def _scalar(resources: list[dict[str, Any]], name: str) -> tuple[float, str]:
    total, role = 0.0, "*"
    for r in resources:
        if r.get("name") == name and r.get("type", "SCALAR") == "SCALAR":
            total += float(r.get("scalar", {}).get("value", 0.0))
            role = str(r.get("role", role))
    return total, role


def offers(event: Mapping[str, Any]) -> list[MesosOffer]:
    out = []
    for o in event.get("offers", {}).get("offers", []):
        resources = o.get("resources", [])
        cpus, cpus_role = _scalar(resources, "cpus")
        mem, mem_role = _scalar(resources, "mem")
        disk, disk_role = _scalar(resources, "disk")
        out.append(MesosOffer(
            offer_id=o["id"]["value"], agent_id=o["agent_id"]["value"], hostname=o.get("hostname", ""),
            cpus=cpus, mem=mem, disk=disk, roles={"cpus": cpus_role, "mem": mem_role, "disk": disk_role},
        ))
    return out


def rescinded_offer(event: Mapping[str, Any]) -> str:
    return str(event.get("rescind", {}).get("offer_id", {}).get("value", ""))


def update(event: Mapping[str, Any]) -> TaskUpdate:
    status = event.get("update", {}).get("status", {})
    return TaskUpdate(
        task_id=status.get("task_id", {}).get("value", ""),
        state=status.get("state", ""),
        agent_id=status.get("agent_id", {}).get("value", ""),
        uuid=status.get("uuid"),
        reason=status.get("reason", ""),
        message=status.get("message", ""),
        source=status.get("source", ""),
    )


#: exit statuses of `sh -c COMMAND` when COMMAND's program cannot be run at all.
_SHELL_CANNOT_RUN = {126: "found but not executable (exit status 126)", 127: "not found (exit status 127)"}


def executor_missing(update: TaskUpdate) -> str:
    """Why the Mesos task's command (our executor) could not even start, or "".

    The command executor reports "Command exited with status N"; the shell exits 127 when the
    program is not there and 126 when it cannot be executed. The executor itself never exits
    so before its report reached the daemon, so such an end means the host cannot run it.
    """
    if update.state != "TASK_FAILED":
        return ""
    words = update.message.rsplit(" ", 1)
    if len(words) == 2 and words[0].endswith("exited with status") and words[1].isdigit():
        return _SHELL_CANNOT_RUN.get(int(words[1]), "")
    return ""


def end_cause(update: TaskUpdate) -> StopReason | None:
    """The task's own end a terminal update reports (the cluster killed it over its limits), or None:
    the Mesos task ended for a reason that is not the task's (an infrastructure failure)."""
    if update.state == "TASK_FAILED" and update.reason in LIMIT_REASONS:
        return StopReason.CLUSTER_LIMIT
    return None


def error_message(event: Mapping[str, Any]) -> str:
    """ERROR events: the proto nests `message` in `error`; the docs show it at the top level."""
    nested = event.get("error", {})
    return str(nested.get("message") or event.get("message") or "unknown error")


def decode_uuid(value: str) -> bytes:
    return base64.b64decode(value)
