"""`stratos-executor pilot` against a recording fake ExecutorHub (a real grpc.aio server).

The pilot runs as a real subprocess and runs real task processes. The fake follows
the proto: the job's token on every call (PERMISSION_DENIED otherwise, also for
another job), Register before Fetch and Report, Fetch as a long poll that hands
each queued reply out once, Report idempotent by report_id with exactly one of
started/output/ended set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest

from stratos_executor import remote
from stratos_wire import PROTOCOL_HEADER, PROTOCOL_VERSION
from stratos_wire import stratos_pb2 as pb
from stratos_wire import stratos_pb2_grpc as pb_grpc
from tests.daemon import processes_with
from tests.rpc import add_hub_servicer

T = TypeVar("T")
TOKEN = "s3cret-token"
MIB = 1 << 20
FETCH_WAIT = 0.5


class FakeHub(pb_grpc.ExecutorHubServicer):
    """Records every call; answers like the daemon would, with failures on demand."""

    def __init__(self, job_id: str, *, token: str = TOKEN, fetch_wait: float = FETCH_WAIT) -> None:
        self.job_id = job_id
        self.token = token
        self.fetch_wait = fetch_wait
        #: (method, request, authorization metadata) of every call, in arrival order.
        self.calls: list[tuple[str, Any, str]] = []
        self.registrations: list[pb.RegisterRequest] = []
        self.executors: set[str] = set()
        #: every Report received, retries included; and the ones applied (first of each report_id).
        self.report_calls: list[pb.ReportRequest] = []
        self.applied: dict[str, pb.ReportRequest] = {}
        self.applied_at: dict[str, float] = {}
        self.fetches: list[pb.FetchRequest] = []
        #: answer every call with this status (the job is gone, ...).
        self.refuse: tuple[grpc.StatusCode, str] | None = None
        #: the stratos-protocol header of each call, in order
        self.protocols: list[str] = []
        #: answer the next N Reports UNAVAILABLE after applying them (a reply lost on the way).
        self.lose_report_replies = 0
        self._outbox: asyncio.Queue[pb.FetchReply] = asyncio.Queue()

    # -- test side --

    def send(self, *, tasks: list[pb.TaskAssignment] = (), kills: list[tuple[int, int]] = (),  # type: ignore[assignment]
             stop: bool = False) -> None:
        refs = [pb.AttemptRef(task_id=t, attempt=a) for t, a in kills]
        self._outbox.put_nowait(pb.FetchReply(tasks=tasks, kills=refs, stop=stop))

    def reports(self, task_id: int | None = None) -> list[pb.ReportRequest]:
        """Applied reports, in the order they were applied."""
        return [r for r in self.applied.values() if task_id is None or r.task_id == task_id]

    def kinds(self, task_id: int) -> list[str]:
        return [_kind(r) for r in self.reports(task_id)]

    def ended(self, task_id: int) -> pb.TaskEndedReport | None:
        for r in self.reports(task_id):
            if r.HasField("ended"):
                return r.ended
        return None

    # -- the service --

    async def _check(self, method: str, request: Any, context: Any) -> None:
        metadata = dict(context.invocation_metadata() or ())
        auth = str(metadata.get("authorization", ""))
        self.calls.append((method, request, auth))
        self.protocols.append(str(metadata.get(PROTOCOL_HEADER, "")))
        if self.refuse is not None:
            await context.abort(*self.refuse)
        if auth != f"Bearer {self.token}":
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "wrong token for this job")
        if request.job_id != self.job_id:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"the token is not for job {request.job_id}")
        if method != "Register" and request.executor_id not in self.executors:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"unknown executor {request.executor_id}")

    async def Register(self, request: pb.RegisterRequest, context: Any) -> pb.RegisterReply:
        await self._check("Register", request, context)
        self.registrations.append(request)
        self.executors.add(request.executor_id)
        return pb.RegisterReply(fetch_wait=self.fetch_wait, lost_after=10.0)

    async def Fetch(self, request: pb.FetchRequest, context: Any) -> pb.FetchReply:
        await self._check("Fetch", request, context)
        self.fetches.append(request)
        if not 0 <= request.wait <= self.fetch_wait:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"wait {request.wait} outside [0, fetch_wait]")
        try:
            return await asyncio.wait_for(self._outbox.get(), timeout=request.wait)
        except TimeoutError:
            return pb.FetchReply()

    async def Report(self, request: pb.ReportRequest, context: Any) -> pb.ReportReply:
        await self._check("Report", request, context)
        self.report_calls.append(request)
        parts = [name for name in ("started", "output", "ended") if request.HasField(name)]
        if len(parts) != 1 or not request.report_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"a report needs an id and one part: {parts}")
        if request.report_id not in self.applied:  # idempotent
            self.applied[request.report_id] = request
            self.applied_at[request.report_id] = time.monotonic()
        if self.lose_report_replies > 0:
            self.lose_report_replies -= 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "connection dropped (test)")
        return pb.ReportReply()


def _kind(report: pb.ReportRequest) -> str:
    return "started" if report.HasField("started") else "output" if report.HasField("output") else "ended"


async def start_server(hub: FakeHub, address: str) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    add_hub_servicer(hub, server)
    port = server.add_insecure_port(address)
    await server.start()
    return server, (address if address.startswith("unix:") else f"127.0.0.1:{port}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def task(task_id: int, command: str, tmp_path: Path, **fields: Any) -> pb.TaskAssignment:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    env.update(fields.pop("env", {}))
    fields.setdefault("attempt", 1)
    fields.setdefault("output", "scheduler")
    fields.setdefault("threads", 1)
    return pb.TaskAssignment(task_id=task_id, command=command, cwd=str(tmp_path), env=env, **fields)


def task_pids(job_id: str) -> list[int]:
    """Live processes whose environment has STRATOS_JOB_ID=<job_id> (a task of that job, or its child)."""
    return [p.pid for p in processes_with(f"STRATOS_JOB_ID={job_id}") if p.state != b"Z"]


class PilotProcess:
    """`stratos-executor pilot` as a subprocess; stderr goes to a file (read with .log())."""

    def __init__(self, tmp_path: Path, job_id: str) -> None:
        self.tmp_path = tmp_path
        self.job_id = job_id
        self.stderr_path = tmp_path / f"pilot-{uuid.uuid4().hex[:6]}.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, target: str, *args: str, token: str | None = TOKEN, token_file: bool = True) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "STRATOS_"))}
        argv = [sys.executable, "-m", "stratos_executor", "pilot", "--connect", target, "--job", self.job_id]
        if token is not None and token_file:
            path = self.tmp_path / "token"
            path.write_text(token + "\n")
            argv += ["--token-file", str(path)]
        elif token is not None:
            env["STRATOS_TOKEN"] = token
        with open(self.stderr_path, "wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                *argv, *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=err,
                env=env, cwd=str(self.tmp_path),
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    async def exit_code(self, timeout: float = 10.0) -> int:
        assert self.proc is not None
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"the pilot did not exit within {timeout} s; its log:\n{self.log()}") from None

    async def cleanup(self) -> None:
        """Kill the pilot (by pid) if it still runs, and any task process of this test's job."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        for pid in task_pids(self.job_id):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


async def until(condition: Callable[[], object], what: str, timeout: float = 10.0,
                pilot: PilotProcess | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}" + (f"; pilot log:\n{pilot.log()}" if pilot else ""))
        await asyncio.sleep(0.02)


def run(main: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(main(), timeout)

    return asyncio.run(bounded())


def new_job() -> str:
    return f"pilot-test-{uuid.uuid4().hex[:10]}"


async def with_pilot(tmp_path: Path, body: Callable[[FakeHub, PilotProcess, str], Coroutine[Any, Any, None]],
                     *, address: str = "127.0.0.1:0") -> None:
    """A fake hub on ``address`` and a pilot object (not started) for one test; cleans both up."""
    job = new_job()
    hub = FakeHub(job)
    server, target = await start_server(hub, address)
    pilot = PilotProcess(tmp_path, job)
    try:
        await body(hub, pilot, target)
    finally:
        await pilot.cleanup()
        await server.stop(0)


# -- registration ------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_registers_its_resources_with_the_jobs_token(tmp_path: Path, transport: str) -> None:
    address = "127.0.0.1:0" if transport == "tcp" else f"unix:{tmp_path}/hub.sock"

    async def body(hub: FakeHub, pilot: PilotProcess, target: str) -> None:
        await pilot.start(target, "--cpus", "3", "--mem", "1234", "--host", "node-7",
                          token_file=transport == "tcp")  # unix: the token from $STRATOS_TOKEN
        await until(lambda: hub.fetches, "a fetch", pilot=pilot)
        reg = hub.registrations[0]
        assert (reg.job_id, reg.host, reg.cpus, reg.mem) == (pilot.job_id, "node-7", 3.0, 1234.0)
        assert reg.executor_id.startswith(f"node-7-{pilot.pid}-") and len(reg.executor_id) > len(f"node-7-{pilot.pid}-")
        assert hub.calls[0][0] == "Register"
        assert {auth for _, _, auth in hub.calls} == {f"Bearer {TOKEN}"}
        fetch = hub.fetches[0]
        assert (fetch.job_id, fetch.executor_id) == (pilot.job_id, reg.executor_id)
        assert 0 < fetch.wait <= FETCH_WAIT
        hub.send(stop=True)
        assert await pilot.exit_code() == 0
        assert "registered" in pilot.log()
        assert len(hub.registrations) == 1

    run(lambda: with_pilot(tmp_path, body, address=address))


def test_default_resources_come_from_slurm_or_the_host() -> None:
    assert remote.default_resources({"SLURM_CPUS_ON_NODE": "6", "SLURM_MEM_PER_NODE": "4096"}) == (6.0, 4096.0)
    assert remote.default_resources({"SLURM_CPUS_PER_TASK": "2", "SLURM_MEM_PER_CPU": "1000"}) == (2.0, 2000.0)
    cpus, mem = remote.default_resources({})
    assert cpus == float(os.cpu_count() or 1) and mem == pytest.approx(remote.physical_memory_mb())


def test_addresses_and_tokens() -> None:
    assert remote.check_target("node1:7000") == "node1:7000"
    assert remote.check_target("unix:/run/s.sock") == "unix:/run/s.sock"
    assert remote.check_target("[::1]:7000") == "[::1]:7000"
    for bad in ("node1", "node1:", ":7000", "unix:"):
        with pytest.raises(ValueError):
            remote.check_target(bad)
    assert remote.read_token(None, {"STRATOS_TOKEN": " t1\n"}) == "t1"
    with pytest.raises(remote.PilotExit) as info:
        remote.read_token(None, {})
    assert info.value.code == remote.EXIT_USAGE


def test_without_a_token_it_exits_2(tmp_path: Path) -> None:
    async def body(hub: FakeHub, pilot: PilotProcess, target: str) -> None:
        await pilot.start(target, token=None)
        assert await pilot.exit_code() == 2
        assert "token" in pilot.log() and not hub.calls

    run(lambda: with_pilot(tmp_path, body))


# -- running and reporting ---------------------------------------------------------------------


def test_runs_assigned_tasks_concurrently_and_reports_them_in_order(tmp_path: Path) -> None:
    work = tmp_path / "work"

    async def body(hub: FakeHub, pilot: PilotProcess, target: str) -> None:
        await pilot.start(target, "--work-dir", str(work))
        await until(lambda: hub.fetches, "a fetch", pilot=pilot)
        job = pilot.job_id
        hub.send(tasks=[
            task(1, "echo $FOO $STRATOS_JOB_ID $STRATOS_TASK_ID $STRATOS_ATTEMPT $OMP_NUM_THREADS; pwd;"
                 " echo oops >&2; exit 3", tmp_path, env={"FOO": "bar"}, attempt=2, threads=2),
            task(2, "head -c 3000000 /dev/zero", tmp_path),
            task(3, "sleep 30", tmp_path, timeout=0.3),
            *(task(10 + i, "sleep 0.6", tmp_path) for i in range(3)),
        ])
        await until(lambda: all(hub.ended(t) for t in (1, 2, 3, 10, 11, 12)), "six ended reports", pilot=pilot)

        small = hub.ended(1)
        assert small is not None
        # a task that ends within STARTED_REPORT_DELAY is reported once (unless the machine is very slow)
        assert hub.kinds(1) in (["ended"], ["started", "ended"])
        assert small.stdout_inline and small.stdout == f"bar {job} 1 2 2\n{tmp_path}\n".encode()
        assert small.has_exit_code and small.exit_code == 3 and small.signal == 0 and small.reason == ""
        assert small.stderr_tail == b"oops\n" and small.stdout_size == 0
        assert hub.reports(1)[-1].attempt == 2 and small.pid > 0 and 0 < small.started <= small.ended
        for sleeper in (10, 11, 12):  # longer tasks: their start is reported while they run
            assert hub.kinds(sleeper) == ["started", "ended"]
            started, ended = hub.reports(sleeper)
            assert started.started.pid == ended.ended.pid > 0 and started.started.started == ended.ended.started
        # a task over within a millisecond can end before its first memory sample: 0, never the pilot's own
        assert small.cpu_seconds >= 0 and 0 <= small.peak_rss_kb < 4096

        big = hub.ended(2)
        assert big is not None and hub.kinds(2)[-4:] == ["output", "output", "output", "ended"]
        pieces = [r.output for r in hub.reports(2) if r.HasField("output")]
        assert [(p.offset, len(p.data)) for p in pieces] == [(0, MIB), (MIB, MIB), (2 * MIB, 3000000 - 2 * MIB)]
        assert b"".join(p.data for p in pieces) == bytes(3000000)
        assert not big.stdout_inline and big.stdout_size == 3000000 and big.stdout == b""
        assert big.has_exit_code and big.exit_code == 0 and not big.stdout_truncated

        timed_out = hub.ended(3)
        assert timed_out is not None and timed_out.reason == "timeout"
        assert not timed_out.has_exit_code and timed_out.signal == signal.SIGTERM

        sleepers = [hub.ended(t) for t in (10, 11, 12)]
        assert max(e.started for e in sleepers if e) < min(e.ended for e in sleepers if e)  # ran side by side

        report_ids = [r.report_id for r in hub.report_calls]
        executor_id = hub.registrations[0].executor_id
        assert len(set(report_ids)) == len(report_ids) and all(i.startswith(executor_id) for i in report_ids)
        hub.send(stop=True)
        assert await pilot.exit_code() == 0
        assert not os.path.exists(work / job / "2-1"), "the spill is removed once it is delivered"

    run(lambda: with_pilot(tmp_path, body))


def test_kills_what_the_daemon_names(tmp_path: Path) -> None:
    async def body(hub: FakeHub, pilot: PilotProcess, target: str) -> None:
        await pilot.start(target)
        await until(lambda: hub.fetches, "a fetch", pilot=pilot)
        hub.send(tasks=[task(1, "sleep 30", tmp_path), task(2, "sleep 30", tmp_path)])
        await until(lambda: len(hub.reports()) == 2, "two started reports", pilot=pilot)
        hub.send(kills=[(1, 1), (2, 7)])  # (2, 7): an attempt this pilot does not run
        await until(lambda: hub.ended(1), "the killed task's end", pilot=pilot)
        ended = hub.ended(1)
        assert ended is not None and ended.reason == "killed" and ended.signal == signal.SIGTERM
        await asyncio.sleep(0.3)
        assert hub.ended(2) is None
        hub.send(stop=True)
        assert await pilot.exit_code() == 0
        stopped = hub.ended(2)
        assert stopped is not None and stopped.reason == "killed" and hub.kinds(2) == ["started", "ended"]
        assert task_pids(pilot.job_id) == []

    run(lambda: with_pilot(tmp_path, body))


def test_stop_kills_running_tasks_reports_them_and_exits(tmp_path: Path) -> None:
    async def body(hub: FakeHub, pilot: PilotProcess, target: str) -> None:
        await pilot.start(target)
        await until(lambda: hub.fetches, "a fetch", pilot=pilot)
        hub.send(tasks=[task(1, "sleep 30", tmp_path)])
        await until(lambda: hub.reports(1), "the started report", pilot=pilot)
        assert len(task_pids(pilot.job_id)) == 1
        hub.send(stop=True)
        assert await pilot.exit_code() == 0
        ended = hub.ended(1)
        assert ended is not None and ended.reason == "killed"
        assert task_pids(pilot.job_id) == []

    run(lambda: with_pilot(tmp_path, body))


# -- idleness ----------------------------------------------------------------------------------


def test_exits_when_idle(tmp_path: Path) -> None:
    async def body(hub: FakeHub, pilot: PilotProcess, target: str) -> None:
        await pilot.start(target, "--idle-timeout", "0.3")
        assert await pilot.exit_code() == 0
        assert hub.registrations and "idle" in pilot.log()

    run(lambda: with_pilot(tmp_path, body))


def test_a_running_task_is_not_idleness(tmp_path: Path) -> None:
    async def body(hub: FakeHub, pilot: PilotProcess, target: str) -> None:
        await pilot.start(target, "--idle-timeout", "0.4")
        await until(lambda: hub.fetches, "a fetch", pilot=pilot)
        hub.send(tasks=[task(1, "sleep 1", tmp_path)])
        assert await pilot.exit_code() == 0
        exited = time.monotonic()
        ended = hub.ended(1)
        assert ended is not None and ended.exit_code == 0 and ended.has_exit_code
        ended_id = next(r.report_id for r in hub.reports(1) if r.HasField("ended"))
        assert exited - hub.applied_at[ended_id] >= 0.3, "idleness counts from the end of the last task"

    run(lambda: with_pilot(tmp_path, body))


# -- refusals and outages ----------------------------------------------------------------------


def test_a_wrong_token_exits_4_with_the_daemons_message(tmp_path: Path) -> None:
    async def body(hub: FakeHub, pilot: PilotProcess, target: str) -> None:
        await pilot.start(target, token="not-the-token")
        assert await pilot.exit_code() == 4
        assert "wrong token for this job" in pilot.log()
        assert [m for m, _, _ in hub.calls] == ["Register"]

    run(lambda: with_pilot(tmp_path, body))


def test_every_call_says_its_protocol_and_a_refusal_of_it_ends_the_pilot_with_the_daemons_words(
        tmp_path: Path) -> None:
    words = "ipv4:x speaks StratOS protocol 1, this stratosd speaks 2: install StratOS 9 on that node"

    async def body(hub: FakeHub, pilot: PilotProcess, target: str) -> None:
        await pilot.start(target)
        await until(lambda: hub.fetches, "a fetch", pilot=pilot)
        assert set(hub.protocols) == {str(PROTOCOL_VERSION)}
        hub.refuse = (grpc.StatusCode.FAILED_PRECONDITION, words)
        hub.send(tasks=[])  # end the long poll: the next call is refused
        assert await pilot.exit_code() not in (0, None)
        assert words in pilot.log()

    run(lambda: with_pilot(tmp_path, body))


def test_a_job_gone_mid_run_kills_the_tasks_and_exits_4(tmp_path: Path) -> None:
    async def body(hub: FakeHub, pilot: PilotProcess, target: str) -> None:
        await pilot.start(target)
        await until(lambda: hub.fetches, "a fetch", pilot=pilot)
        hub.send(tasks=[task(1, "sleep 30", tmp_path)])
        await until(lambda: hub.reports(1), "the started report", pilot=pilot)
        hub.refuse = (grpc.StatusCode.NOT_FOUND, f"no job {pilot.job_id}")
        assert await pilot.exit_code() == 4
        assert f"no job {pilot.job_id}" in pilot.log()
        assert task_pids(pilot.job_id) == []

    run(lambda: with_pilot(tmp_path, body))


def test_waits_for_a_daemon_that_comes_up_later(tmp_path: Path) -> None:
    async def main() -> None:
        job = new_job()
        hub = FakeHub(job)
        port = free_port()
        pilot = PilotProcess(tmp_path, job)
        server = None
        try:
            await pilot.start(f"127.0.0.1:{port}")
            await until(lambda: "retrying Register" in pilot.log(), "a Register refused", timeout=30, pilot=pilot)
            assert pilot.proc is not None and pilot.proc.returncode is None
            server, _ = await start_server(hub, f"127.0.0.1:{port}")
            await until(lambda: hub.fetches, "registration once the daemon is up", timeout=8, pilot=pilot)
            assert len(hub.registrations) == 1
            hub.send(stop=True)
            assert await pilot.exit_code() == 0
        finally:
            await pilot.cleanup()
            if server is not None:
                await server.stop(0)

    run(main)


def test_an_unreachable_daemon_gives_up_after_retry_for(tmp_path: Path) -> None:
    async def main() -> None:
        job = new_job()
        pilot = PilotProcess(tmp_path, job)
        try:
            began = time.monotonic()
            await pilot.start(f"127.0.0.1:{free_port()}", "--retry-for", "1")
            assert await pilot.exit_code() == 3
            assert 0.9 <= time.monotonic() - began < 6
            assert "unreachable for 1 s" in pilot.log()
        finally:
            await pilot.cleanup()

    run(main)


def test_an_idle_pilot_that_lost_its_daemon_exits_after_its_idle_time_not_retry_for(tmp_path: Path) -> None:
    """It would exit idle anyway: holding its host (a coarse Mesos executor holds the agent's cpus)
    for --retry-for while the daemon is gone starves everyone else."""
    async def main() -> None:
        job = new_job()
        hub = FakeHub(job)
        server, target = await start_server(hub, "127.0.0.1:0")
        pilot = PilotProcess(tmp_path, job)
        try:
            await pilot.start(target, "--retry-for", "120", "--idle-timeout", "2")
            await until(lambda: hub.fetches, "a fetch", pilot=pilot)
            hub.send(tasks=[task(1, "echo hi", tmp_path)])
            await until(lambda: hub.reports(1) and any(r.HasField("ended") for r in hub.reports(1)),
                        "the task's end report", pilot=pilot)
            await server.stop(0)
            began = time.monotonic()
            assert await pilot.exit_code() == 0
            assert time.monotonic() - began < 10  # its idle time, not the 120 s of --retry-for
            assert "unreachable" in pilot.log() and "exiting" in pilot.log()
        finally:
            await pilot.cleanup()
            await server.stop(0)

    run(main)


def test_losing_the_daemon_mid_run_kills_the_tasks_and_exits_3(tmp_path: Path) -> None:
    async def main() -> None:
        job = new_job()
        hub = FakeHub(job)
        server, target = await start_server(hub, "127.0.0.1:0")
        pilot = PilotProcess(tmp_path, job)
        try:
            await pilot.start(target, "--retry-for", "1")
            await until(lambda: hub.fetches, "a fetch", pilot=pilot)
            hub.send(tasks=[task(1, "sleep 30", tmp_path)])
            await until(lambda: hub.reports(1), "the started report", pilot=pilot)
            await server.stop(0)
            assert await pilot.exit_code() == 3
            assert task_pids(job) == []
        finally:
            await pilot.cleanup()
            await server.stop(0)

    run(main)


def test_a_retried_report_keeps_its_id(tmp_path: Path) -> None:
    async def body(hub: FakeHub, pilot: PilotProcess, target: str) -> None:
        await pilot.start(target)
        await until(lambda: hub.fetches, "a fetch", pilot=pilot)
        hub.lose_report_replies = 1
        hub.send(tasks=[task(1, "sleep 0.3; echo hi", tmp_path)])  # long enough for a started report
        await until(lambda: hub.ended(1), "the ended report", pilot=pilot)
        calls = [r.report_id for r in hub.report_calls]
        assert len(calls) == 3 and calls[0] == calls[1] != calls[2]
        assert hub.report_calls[0] == hub.report_calls[1]
        assert hub.kinds(1) == ["started", "ended"]
        hub.send(stop=True)
        assert await pilot.exit_code() == 0
        assert "retrying Report" in pilot.log()

    run(lambda: with_pilot(tmp_path, body))


def test_a_restarted_daemon_gets_a_new_registration_and_the_pending_reports(tmp_path: Path) -> None:
    async def main() -> None:
        job = new_job()
        first = FakeHub(job)
        port = free_port()
        server, target = await start_server(first, f"127.0.0.1:{port}")
        pilot = PilotProcess(tmp_path, job)
        second = FakeHub(job)
        try:
            await pilot.start(target)
            await until(lambda: first.fetches, "a fetch", pilot=pilot)
            first.send(tasks=[task(1, "sleep 1; echo done", tmp_path)])
            await until(lambda: first.reports(1), "the started report", pilot=pilot)
            await server.stop(0)
            await asyncio.sleep(0.3)
            server, _ = await start_server(second, f"127.0.0.1:{port}")
            await until(lambda: second.ended(1), "the ended report at the new daemon", pilot=pilot)
            ended = second.ended(1)
            assert ended is not None and ended.stdout == b"done\n"
            assert second.calls[0][0] == "Register"
            assert second.registrations[0].executor_id == first.registrations[0].executor_id
            second.send(stop=True)
            assert await pilot.exit_code() == 0
        finally:
            await pilot.cleanup()
            await server.stop(0)

    run(main)


# -- signals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_kills_and_reports_the_tasks_as_executor_stopped(tmp_path: Path, signum: int) -> None:
    async def body(hub: FakeHub, pilot: PilotProcess, target: str) -> None:
        await pilot.start(target)
        await until(lambda: hub.fetches, "a fetch", pilot=pilot)
        hub.send(tasks=[task(1, "sleep 30", tmp_path), task(2, "sh -c 'sleep 30 & sleep 30'", tmp_path)])
        await until(lambda: len(hub.reports()) == 2, "two started reports", pilot=pilot)
        await until(lambda: len(task_pids(pilot.job_id)) >= 3, "the tasks' processes", pilot=pilot)
        os.kill(pilot.pid, signum)
        assert await pilot.exit_code() == 0
        for task_id in (1, 2):
            ended = hub.ended(task_id)
            assert ended is not None and ended.reason == "executor-stopped"
        assert task_pids(pilot.job_id) == []
        assert "stopping" in pilot.log()

    run(lambda: with_pilot(tmp_path, body))


@pytest.mark.parametrize("pilot_too", [True, False])
def test_a_task_killed_by_the_clusters_sigterm_just_before_its_pilot_was_stopped_with_it(
        tmp_path: Path, pilot_too: bool) -> None:
    # Slurm's scancel signals every process of the job: here the task dies first, the pilot a moment later
    async def body(hub: FakeHub, pilot: PilotProcess, target: str) -> None:
        await pilot.start(target)
        await until(lambda: hub.fetches, "a fetch", pilot=pilot)
        hub.send(tasks=[task(1, "sleep 30", tmp_path)])
        await until(lambda: hub.reports(1), "the started report", pilot=pilot)
        (pid,) = task_pids(pilot.job_id)
        os.kill(pid, signal.SIGTERM)
        if pilot_too:
            await asyncio.sleep(0.2)
            os.kill(pilot.pid, signal.SIGTERM)
        await until(lambda: hub.ended(1), "the ended report", pilot=pilot)
        ended = hub.ended(1)
        assert ended is not None and ended.signal == signal.SIGTERM
        # stopped with its pilot: run again elsewhere; alone: the task's own end
        assert ended.reason == ("executor-stopped" if pilot_too else "")
        if not pilot_too:
            hub.send(stop=True)
        assert await pilot.exit_code() == 0

    run(lambda: with_pilot(tmp_path, body))
