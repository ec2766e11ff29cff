"""Emulated agents: run command tasks for real and deliver their status updates reliably.

Each agent plays three parts of a real Mesos agent for command tasks (TaskInfo with
``command``, no ``executor``):

* the containerizer: a sandbox per task under the work dir, the URI fetcher (local paths,
  ``file://`` and ``http(s)://``), the task's own process group, killed as a whole when the
  command exits;
* the built-in command executor: ``/bin/sh -c value`` (or ``value`` + ``arguments`` when
  ``shell`` is false), TASK_STARTING, TASK_RUNNING, then TASK_FINISHED / TASK_FAILED /
  TASK_KILLED with the executor's messages, SIGTERM then SIGKILL after the kill grace period;
* the task status update manager: one ordered queue per task; only the head is forwarded;
  it is re-sent with exponential backoff until acknowledged, then the next one goes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import tarfile
import time
import uuid
import zipfile
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from .process import TaskProcess
from .resources import Resources, parse_ranges

if TYPE_CHECKING:
    from .master import Master

TERMINAL_STATES = frozenset(
    {
        "TASK_FINISHED",
        "TASK_FAILED",
        "TASK_KILLED",
        "TASK_ERROR",
        "TASK_LOST",
        "TASK_DROPPED",
        "TASK_GONE",
        "TASK_GONE_BY_OPERATOR",
    }
)
#: what the containerizer's launch helper puts on PATH when the agent passed none.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: the command executor's default kill grace period (kill_policy absent).
DEFAULT_KILL_GRACE = 3.0
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip")


def new_uuid() -> str:
    """A status update uuid as the JSON API carries it: base64 of 16 random bytes."""
    return base64.b64encode(uuid.uuid4().bytes).decode()


def is_terminal(state: str) -> bool:
    return state in TERMINAL_STATES


@dataclass
class AgentSpec:
    """A named agent: its hostname and total (unreserved) resources.

    ``attributes`` become offer attributes (TEXT, or SCALAR when numeric).
    """

    name: str
    cpus: float = 4.0
    mem: float = 4096.0
    disk: float = 10000.0
    ports: str = "[31000-32000]"
    ip: str = "127.0.0.1"
    attributes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> AgentSpec:
        """``agent1:cpus=4:mem=4096:disk=10000:ports=31000-32000:rack=r1`` (unknown keys are attributes)."""
        name, *pairs = text.strip().split(":")
        if not name:
            raise ValueError(f"agent spec {text!r} has no name")
        spec = cls(name)
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise ValueError(f"agent spec {text!r}: expected key=value, got {pair!r}")
            if key in ("cpus", "mem", "disk"):
                setattr(spec, key, float(value))
            elif key == "ports":
                spec.ports = value if value.startswith("[") else f"[{value}]"
            elif key == "ip":
                spec.ip = value
            else:
                spec.attributes[key] = value
        return spec

    def resources(self) -> Resources:
        ports = parse_ranges(self.ports) if self.ports else []
        return Resources.of(cpus=self.cpus, mem=self.mem, disk=self.disk, ports=ports)


class Task:
    """One task as both the master and its agent know it."""

    def __init__(
        self,
        *,
        framework_id: str,
        info: dict[str, Any],
        agent: Agent,
        resources: Resources,
        role: str,
    ) -> None:
        self.framework_id = framework_id
        self.task_id: str = info["task_id"]["value"]
        self.name: str = info.get("name", "")
        self.info = info
        self.agent = agent
        self.resources = resources
        self.role = role
        #: the master's view: latest state the agent reported (``Task.state`` in /master/state).
        self.state = "TASK_STAGING"
        #: forwarded statuses, for /master/state.
        self.statuses: list[dict[str, Any]] = []
        #: last status the master forwarded (what reconciliation answers with).
        self.last_forwarded: dict[str, Any] | None = None
        self.resources_released = False
        self.removed = False
        # agent side
        self.container_id = str(uuid.uuid4())
        self.sandbox: Path | None = None
        self.process: TaskProcess | None = None
        self.pending: deque[dict[str, Any]] = deque()
        self.retry_handle: asyncio.TimerHandle | None = None
        self.retry_delay = 0.0
        self.kill_requested = False
        self.timed_out = False
        self.executor_done = False  # the executor sent its terminal update
        self.discarded = False  # agent lost or framework removed: no more updates
        self.escalate_handle: asyncio.TimerHandle | None = None
        self.deadline_handle: asyncio.TimerHandle | None = None
        self.fetcher: asyncio.Task[None] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.framework_id, self.task_id)

    def kill_grace(self, override_ns: int | None = None) -> float:
        if override_ns is not None:
            return max(0.0, override_ns / 1e9)
        policy = self.info.get("kill_policy") or {}
        ns = (policy.get("grace_period") or {}).get("nanoseconds")
        return DEFAULT_KILL_GRACE if ns is None else max(0.0, int(ns) / 1e9)


class Agent:
    """One emulated agent (``hostname`` = its name) and the tasks it runs."""

    def __init__(self, master: Master, spec: AgentSpec, agent_id: str, index: int) -> None:
        self.master = master
        self.spec = spec
        self.id = agent_id
        self.hostname = spec.name
        self.ip = spec.ip
        self.pid_name = f"slave({index})"
        self.total = spec.resources()
        self.used = Resources()
        self.offered = Resources()
        self.registered_time = time.time()
        self.tasks: dict[tuple[str, str], Task] = {}
        self.removed = False
        self._executor_dirs: dict[str, Path] = {}
        #: tasks whose process has not been reaped yet (discarded ones included).
        self.running: set[Task] = set()

    # -- accounting ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self.master.port

    @property
    def pid(self) -> str:
        return f"{self.pid_name}@{self.ip}:{self.port}"

    def free(self) -> Resources:
        return self.total - self.used - self.offered

    def attributes_json(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name, value in self.spec.attributes.items():
            try:
                out.append({"name": name, "type": "SCALAR", "scalar": {"value": float(value)}})
            except ValueError:
                out.append({"name": name, "type": "TEXT", "text": {"value": value}})
        return out

    def url_json(self) -> dict[str, Any]:
        return {
            "scheme": "http",
            "address": {"hostname": self.hostname, "ip": self.ip, "port": self.port},
            "path": f"/{self.pid_name}",
        }

    # -- launching ----------------------------------------------------------------------------

    def _executors_dir(self, framework_id: str) -> Path:
        path = self._executor_dirs.get(framework_id)
        if path is None:
            path = Path(self.master.config.work_dir) / self.hostname / "slaves" / self.id / "frameworks"
            path = path / framework_id / "executors"
            path.mkdir(parents=True, exist_ok=True)
            self._executor_dirs[framework_id] = path
        return path

    def launch(self, task: Task, framework_info: dict[str, Any]) -> None:
        self.tasks[task.key] = task
        eid = task.task_id
        executors = self._executors_dir(task.framework_id)
        run_dir = executors / eid / "runs"
        try:
            os.mkdir(executors / eid)
            os.mkdir(run_dir)
        except FileExistsError:  # a task id used again after the first one ended
            run_dir.mkdir(parents=True, exist_ok=True)
        sandbox = run_dir / task.container_id
        os.mkdir(sandbox)
        latest = run_dir / "latest"
        with contextlib.suppress(FileNotFoundError):
            latest.unlink()
        latest.symlink_to(task.container_id)
        task.sandbox = sandbox
        self.master.register_sandbox(task)
        command = task.info.get("command") or {}
        uris = [u for u in command.get("uris") or [] if isinstance(u, dict) and u.get("value")]
        if uris:
            task.fetcher = asyncio.get_running_loop().create_task(self._fetch_then_start(task, uris, framework_info))
        else:
            self._start(task, framework_info)

    async def _fetch_then_start(self, task: Task, uris: list[dict[str, Any]], framework_info: dict[str, Any]) -> None:
        assert task.sandbox is not None
        try:
            for uri in uris:
                await _fetch(uri, task.sandbox)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            with (task.sandbox / "stderr").open("a") as err:
                err.write(f"Failed to fetch URIs: {exc}\n")
            self.status_update(
                task,
                self._status(
                    task,
                    "TASK_FAILED",
                    source="SOURCE_AGENT",
                    reason="REASON_CONTAINER_LAUNCH_FAILED",
                    message=f"Failed to launch container: Failed to fetch all URIs for container "
                    f"'{task.container_id}': exited with status 1",
                    executor=True,
                    container=False,
                ),
            )
            task.executor_done = True
            return
        finally:
            task.fetcher = None
        if not task.discarded and not task.executor_done:
            self._start(task, framework_info)

    def _environment(self, task: Task, framework_info: dict[str, Any]) -> dict[str, str]:
        config = self.master.config
        assert task.sandbox is not None
        env = dict(config.executor_environment) if config.executor_environment is not None else {}
        env["LIBPROCESS_IP"] = self.ip
        env["LIBPROCESS_PORT"] = "0"
        checkpoint = bool(framework_info.get("checkpoint"))
        env.update(
            {
                "MESOS_FRAMEWORK_ID": task.framework_id,
                "MESOS_EXECUTOR_ID": task.task_id,
                "MESOS_DIRECTORY": str(task.sandbox),
                "MESOS_SLAVE_ID": self.id,
                "MESOS_SLAVE_PID": self.pid,
                "MESOS_AGENT_ENDPOINT": f"{self.ip}:{self.port}",
                "MESOS_CHECKPOINT": "1" if checkpoint else "0",
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": "5secs",
                "MESOS_SANDBOX": str(task.sandbox),
                "MESOS_HTTP_COMMAND_EXECUTOR": "1",
            }
        )
        if checkpoint:
            env["MESOS_RECOVERY_TIMEOUT"] = "15mins"
            env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] = "2secs"
        env.setdefault("PATH", DEFAULT_PATH)
        command = task.info.get("command") or {}
        for var in (command.get("environment") or {}).get("variables") or []:
            if isinstance(var, dict) and var.get("name") and var.get("type", "VALUE") == "VALUE":
                env[var["name"]] = str(var.get("value", ""))
        env["MESOS_ALLOCATION_ROLE"] = task.role
        return env

    def _start(self, task: Task, framework_info: dict[str, Any]) -> None:
        assert task.sandbox is not None
        command = task.info.get("command") or {}
        if command.get("shell", True):
            argv, executable = ["/bin/sh", "-c", str(command.get("value", ""))], None
        else:
            arguments = [str(a) for a in command.get("arguments") or []]
            executable = str(command.get("value", ""))
            argv = arguments or [executable]
        env = self._environment(task, framework_info)
        loop = asyncio.get_running_loop()
        try:
            task.process = TaskProcess(
                loop,
                argv,
                executable=executable,
                cwd=str(task.sandbox),
                env=env,
                stdout_path=str(task.sandbox / "stdout"),
                stderr_path=str(task.sandbox / "stderr"),
                on_exit=lambda rc: self._on_exit(task, rc),
            )
        except OSError as exc:
            # The launch helper's exec failed: it reports and exits 1 after the executor said RUNNING.
            with (task.sandbox / "stderr").open("a") as err:
                err.write(f"Failed to execute command: {exc}\n")
            self.status_update(task, self._status(task, "TASK_STARTING"))
            self.status_update(task, self._status(task, "TASK_RUNNING"))
            self._on_exit(task, 1)
            return
        # The real executor says STARTING before it forks the command; nothing can be seen in
        # between here, and this way the update carries the pid as a real one does.
        self.running.add(task)
        self.master.stats["tasks_started"] += 1
        self.status_update(task, self._status(task, "TASK_STARTING"))
        self.status_update(task, self._status(task, "TASK_RUNNING"))
        ns = (task.info.get("max_completion_time") or {}).get("nanoseconds")
        if ns is not None:
            task.deadline_handle = loop.call_later(max(0.0, int(ns) / 1e9), self._deadline, task)

    def _deadline(self, task: Task) -> None:
        task.deadline_handle = None
        if task.process is not None and not task.process.exited:
            task.timed_out = True
            self._terminate(task, task.kill_grace())

    def _on_exit(self, task: Task, returncode: int) -> None:
        self.master.stats["tasks_exited"] += 1
        self.running.discard(task)
        for handle in (task.escalate_handle, task.deadline_handle):
            if handle is not None:
                handle.cancel()
        task.escalate_handle = task.deadline_handle = None
        if task.discarded:
            return
        how = (
            f"exited with status {returncode}"
            if returncode >= 0
            else f"terminated with signal {signal.strsignal(-returncode) or -returncode}"
        )
        reason = None
        if task.timed_out:
            state, message, reason = (
                "TASK_FAILED",
                "Task has reached its maximum completion time",
                "REASON_MAX_COMPLETION_TIME_REACHED",
            )
        elif task.kill_requested:
            state, message = "TASK_KILLED", f"Command {how}"
        elif returncode == 0:
            state, message = "TASK_FINISHED", f"Command {how}"
        else:
            state, message = "TASK_FAILED", f"Command {how}"
        task.executor_done = True
        self.status_update(task, self._status(task, state, message=message, reason=reason))

    # -- killing ------------------------------------------------------------------------------

    def kill_task(self, task: Task, grace_ns: int | None, killing_state: bool) -> None:
        """KILL from the framework, as the command executor handles it."""
        if task.executor_done or task.discarded or task.kill_requested:
            return
        task.kill_requested = True
        if task.process is None:  # still fetching: the executor never got the task
            if task.fetcher is not None:
                task.fetcher.cancel()
            task.executor_done = True
            self.status_update(
                task,
                self._status(
                    task,
                    "TASK_KILLED",
                    source="SOURCE_AGENT",
                    reason="REASON_TASK_KILLED_DURING_LAUNCH",
                    message="Task killed before it was launched",
                    executor=True,
                    container=False,
                ),
            )
            return
        if killing_state:
            self.status_update(task, self._status(task, "TASK_KILLING"))
        self._terminate(task, task.kill_grace(grace_ns))

    def _terminate(self, task: Task, grace: float) -> None:
        process = task.process
        if process is None or process.exited:
            return
        process.signal_group(signal.SIGTERM)
        if task.escalate_handle is None:
            task.escalate_handle = asyncio.get_running_loop().call_later(grace, process.signal_group, signal.SIGKILL)

    def discard_task(self, task: Task, *, grace: float | None) -> None:
        """Framework removed or agent lost: stop the task; it sends nothing more.

        ``grace`` None means SIGKILL at once (the agent itself is gone).
        """
        task.discarded = True
        self._cancel_retry(task)
        task.pending.clear()
        if task.fetcher is not None:
            task.fetcher.cancel()
        if task.deadline_handle is not None:
            task.deadline_handle.cancel()
            task.deadline_handle = None
        process = task.process
        if process is not None and not process.exited:
            if grace is None:
                process.signal_group(signal.SIGKILL)
            else:
                self._terminate(task, grace)
        self.tasks.pop(task.key, None)

    # -- status updates -----------------------------------------------------------------------

    def _status(
        self,
        task: Task,
        state: str,
        *,
        message: str | None = None,
        source: str = "SOURCE_EXECUTOR",
        reason: str | None = None,
        executor: bool = True,
        container: bool = True,
    ) -> dict[str, Any]:
        status: dict[str, Any] = {"task_id": {"value": task.task_id}, "state": state}
        if message is not None:
            status["message"] = message
        status["source"] = source
        if reason is not None:
            status["reason"] = reason
        status["agent_id"] = {"value": self.id}
        if executor:
            status["executor_id"] = {"value": task.task_id}
        status["timestamp"] = time.time()
        status["uuid"] = new_uuid()
        if container:
            cs: dict[str, Any] = {
                "container_id": {"value": task.container_id},
                "network_infos": [{"ip_addresses": [{"protocol": "IPv4", "ip_address": self.ip}]}],
            }
            if task.process is not None:
                cs["executor_pid"] = task.process.pid
            status["container_status"] = cs
        return status

    def status_update(self, task: Task, status: dict[str, Any]) -> None:
        if task.discarded or self.removed:
            return
        task.pending.append(status)
        self.master.stats["updates_generated"] += 1
        if len(task.pending) == 1:
            self._forward_head(task, reset=True)

    def _forward_head(self, task: Task, *, reset: bool) -> None:
        if not task.pending or task.discarded:
            return
        config = self.master.config
        if reset:
            task.retry_delay = config.status_update_retry_min
        else:
            task.retry_delay = min(task.retry_delay * 2, config.status_update_retry_max)
        self._cancel_retry(task)
        task.retry_handle = asyncio.get_running_loop().call_later(task.retry_delay, self._retry, task)
        self.master.forward_update(task, task.pending[0], latest_state=task.pending[-1]["state"])

    def _retry(self, task: Task) -> None:
        task.retry_handle = None
        if task.pending and not task.discarded:
            self.master.stats["updates_retried"] += 1
            self._forward_head(task, reset=False)

    def _cancel_retry(self, task: Task) -> None:
        if task.retry_handle is not None:
            task.retry_handle.cancel()
            task.retry_handle = None

    def acknowledge(self, task: Task, uuid_b64: str) -> bool:
        """An ACK reached the agent; False when it does not match the queue head (ignored)."""
        if not task.pending or task.pending[0].get("uuid") != uuid_b64:
            return False
        acked = task.pending.popleft()
        self._cancel_retry(task)
        if is_terminal(acked["state"]):
            task.pending.clear()
            self.master.terminal_update_acknowledged(task)
            self.tasks.pop(task.key, None)
        elif task.pending:
            self._forward_head(task, reset=True)
        return True

    def resend_pending(self, framework_id: str) -> None:
        """The framework (re-)subscribed: the agent is told and resends pending updates now."""
        for task in list(self.tasks.values()):
            if task.framework_id == framework_id and task.pending:
                self._forward_head(task, reset=True)

    def shutdown(self) -> None:
        """Emulator shutdown: SIGKILL every task group and reap, synchronously."""
        for task in {*self.tasks.values(), *self.running}:
            task.discarded = True
            self._cancel_retry(task)
            for handle in (task.escalate_handle, task.deadline_handle):
                if handle is not None:
                    handle.cancel()
            if task.fetcher is not None:
                task.fetcher.cancel()
            if task.process is not None:
                task.process.kill_and_reap()


async def _fetch(uri: dict[str, Any], sandbox: Path) -> None:
    """The fetcher for one CommandInfo.URI: local path, file:// or http(s)://."""
    value = str(uri["value"])
    parsed = urlparse(value)
    name = uri.get("output_file") or os.path.basename(parsed.path.rstrip("/")) or "download"
    target = sandbox / name
    if parsed.scheme in ("http", "https"):
        import aiohttp

        async with (
            aiohttp.ClientSession() as session,
            session.get(value, timeout=aiohttp.ClientTimeout(total=60)) as resp,
        ):
            if resp.status != 200:
                raise OSError(f"HTTP {resp.status}")
            target.write_bytes(await resp.read())
    elif parsed.scheme in ("", "file"):
        source = Path(parsed.path if parsed.scheme == "file" else value)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, target)
    else:
        raise OSError(f"unsupported URI scheme {parsed.scheme!r}")
    if uri.get("executable"):
        target.chmod(0o755)
    elif uri.get("extract", True) and target.name.endswith(_ARCHIVE_SUFFIXES):
        if zipfile.is_zipfile(target):
            with zipfile.ZipFile(target) as archive:
                archive.extractall(sandbox)
        else:
            with tarfile.open(target) as archive:
                archive.extractall(sandbox, filter="data")
