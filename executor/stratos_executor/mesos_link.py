"""A pilot started by a Mesos agent as a custom executor (coarse mode) speaks Mesos's v1 executor API.

The daemon gives the pilot its tasks; Mesos only sees the executor's *rooms*: the task it was
launched with and each task the daemon launched later with the same ExecutorInfo to grow it
(Mesos grows the executor's container by that task's resources). This link subscribes to the
agent, reports each room TASK_RUNNING when it arrives and TASK_KILLED when Mesos kills it (the
daemon gave it back), stops the pilot on SHUTDOWN or when the agent goes away, and when the
pilot exits reports its rooms TASK_FINISHED, so Mesos frees their resources at once.

Blocking HTTP in one thread (the pilot's event loop is never blocked): the stream is long-lived
and the calls are few.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger("stratos_executor.mesos")

#: how long the pilot's exit waits for the agent to acknowledge its rooms' last updates.
FINISH_WAIT = 3.0


def launched_by_mesos(env: Mapping[str, str]) -> bool:
    """Whether this process is a custom executor an agent started (it then has to subscribe)."""
    return bool(env.get("MESOS_EXECUTOR_ID") and env.get("MESOS_SLAVE_PID") and env.get("MESOS_FRAMEWORK_ID"))


class MesosExecutorLink:
    """The executor side of one custom executor's life. ``start()`` subscribes in a thread;
    ``finish()`` reports the live rooms finished and closes."""

    def __init__(self, on_shutdown: Callable[[str], None], env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        pid_id, _, address = env["MESOS_SLAVE_PID"].partition("@")  # slave(1)@10.0.0.5:5051
        self._host, _, port = address.rpartition(":")
        self._port = int(port)
        self._path = f"/{pid_id}/api/v1/executor"
        self._framework = {"value": env["MESOS_FRAMEWORK_ID"]}
        self._executor = {"value": env["MESOS_EXECUTOR_ID"]}
        self._agent = env.get("MESOS_SLAVE_ID", "")
        self._on_shutdown = on_shutdown
        self._lock = threading.Lock()
        #: rooms (task id values) reported running and not yet ended.
        self._rooms: set[str] = set()
        self._unacked: dict[bytes, dict[str, Any]] = {}
        self._acked = threading.Condition(self._lock)
        self._finishing = False
        self._stream: http.client.HTTPConnection | None = None
        self._thread = threading.Thread(target=self._run, name="mesos-executor-link", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def rooms(self) -> set[str]:
        with self._lock:
            return set(self._rooms)

    # -- calls ---------------------------------------------------------------------------------

    def _post(self, body: dict[str, Any], stream: bool = False) -> http.client.HTTPResponse | None:
        connection = http.client.HTTPConnection(self._host, self._port, timeout=None if stream else 10)
        try:
            connection.request("POST", self._path, json.dumps(body),
                               {"Content-Type": "application/json", "Accept": "application/json"})
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as err:
            log.warning("Mesos executor call %s failed: %s", body["type"], err)
            connection.close()
            return None
        if stream:
            self._stream = connection
            return response
        response.read()
        connection.close()
        if response.status not in (200, 202):
            log.warning("Mesos executor call %s: HTTP %d", body["type"], response.status)
        return None

    def _update(self, task_id: str, state: str, message: str = "") -> None:
        token = uuid.uuid4().bytes
        status: dict[str, Any] = {"task_id": {"value": task_id}, "state": state, "source": "SOURCE_EXECUTOR",
                                  "executor_id": self._executor, "uuid": base64.b64encode(token).decode(),
                                  "timestamp": time.time()}
        if self._agent:
            status["agent_id"] = {"value": self._agent}
        if message:
            status["message"] = message
        with self._lock:
            self._unacked[token] = status
            if state == "TASK_RUNNING":
                self._rooms.add(task_id)
            else:
                self._rooms.discard(task_id)
        self._post({"type": "UPDATE", "framework_id": self._framework, "executor_id": self._executor,
                    "update": {"status": status}})

    # -- the event stream ----------------------------------------------------------------------

    def _run(self) -> None:
        response = self._post({"type": "SUBSCRIBE", "framework_id": self._framework, "executor_id": self._executor,
                               "subscribe": {"unacknowledged_tasks": [], "unacknowledged_updates": []}},
                              stream=True)
        if response is None or response.status != 200:
            self._on_shutdown("the Mesos agent refused the executor's subscription")
            return
        while True:
            event = _read_record(response)
            if event is None:
                if not self._finishing:
                    self._on_shutdown("the Mesos agent closed the executor's connection")
                return
            kind = event.get("type")
            if kind == "LAUNCH":
                task = event["launch"]["task"]
                self._update(task["task_id"]["value"], "TASK_RUNNING")
            elif kind == "KILL":
                self._update(event["kill"]["task_id"]["value"], "TASK_KILLED", "given back to Mesos")
            elif kind == "ACKNOWLEDGED":
                with self._acked:
                    self._unacked.pop(base64.b64decode(event["acknowledged"]["uuid"]), None)
                    self._acked.notify_all()
            elif kind == "SHUTDOWN":
                self._on_shutdown("Mesos shut the executor down")
            elif kind == "ERROR":
                log.error("Mesos executor API error: %s", event.get("error", {}).get("message", event))

    def finish(self, message: str = "the executor exited") -> None:
        """The pilot is done: report its rooms finished (their resources go back) and wait briefly
        for the agent to acknowledge them."""
        self._finishing = True
        for task_id in sorted(self.rooms()):
            self._update(task_id, "TASK_FINISHED", message)
        deadline = time.monotonic() + FINISH_WAIT
        with self._acked:
            while self._unacked and time.monotonic() < deadline:
                self._acked.wait(max(0.0, deadline - time.monotonic()))
        if self._stream is not None:
            self._stream.close()


def _read_record(response: http.client.HTTPResponse) -> dict[str, Any] | None:
    """One RecordIO record ("<length>\\n<json>") of the executor event stream; None at its end."""
    try:
        size = response.readline()
        if not size:
            return None
        data = response.read(int(size))
        event: dict[str, Any] = json.loads(data)
        return event
    except (OSError, ValueError, http.client.HTTPException):
        return None
