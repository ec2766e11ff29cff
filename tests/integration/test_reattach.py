"""Several handles on one job: other processes reattaching, sharing or splitting its cursor.

Also what a blocking call does when interrupted (Ctrl-C in a batch), cancelling a whole
job, and a result stream that breaks before it is acknowledged. Child processes are real
Python interpreters talking to the same real daemon; nothing is mocked.
"""

from __future__ import annotations

import json
import queue
import signal
import socket
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from stratos import JobNotFound, Processor
from stratos_wire import stratos_pb2 as pb
from tests.daemon import Daemon
from tests.integration.ctl_helpers import finish, job_pids, poll, reap, start_python, unique_id
from tests.rpc import stratos_stub

pytestmark = pytest.mark.timeout(60)

ATTACH_AND_WAIT = """
    import json, sys
    from stratos import Processor

    job = Processor.attach(sys.argv[1])
    returned = job.wait()
    results = job.get_results()
    s = job.stream
    print(json.dumps({
        "wait": returned, "results": results, "total": s.count_total_tasks(),
        "unfinished": s.count_unfinished_tasks(), "running": s.count_running_tasks(),
        "closed": s.closed(), "command_5": s.get_command(5), "status_5": s.get_status(5),
    }))
"""

CONSUME_UNTIL_DONE = """
    import json, sys, time
    from stratos import Processor

    job = Processor.attach(sys.argv[1])
    expected = int(sys.argv[2])
    print("ready", flush=True)
    got, calls = [], 0
    deadline = time.monotonic() + 30
    while True:
        if time.monotonic() > deadline:
            sys.exit(f"timed out; got {len(got)}")
        report = job.status()
        done = report.total >= expected and report.unfinished == 0
        batch = job.get_results(details=True)  # after `done`: the last call sees every result
        calls += 1
        got += [[r.task_id, r.stdout] for r in batch]
        if done:
            break
    print(json.dumps({"got": got, "calls": calls}))
"""

BATCH_OF_SLEEPS = """
    import sys
    from stratos import Processor

    job = Processor(job_id=sys.argv[1])
    job.stream(["sleep 30"])          # call 0: not part of the batch below
    job.batch(["sleep 30"] * 3)       # call 1: Ctrl-C cancels these three only
    print("the batch returned")
"""


def _last_json(stdout: str) -> Any:
    return json.loads(stdout.strip().splitlines()[-1])


# -- (a) reattach from another process ----------------------------------------------------------


def test_second_process_reattaches_and_shares_the_cursor(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("reattach"))
    job.stream([f"echo first{i}" for i in range(5)])
    job.wait_for_tasks()
    assert sorted(job.get_results()) == [f"first{i}\n" for i in range(5)]
    job.stream([f"sleep 0.3; echo second{i}" for i in range(4)])  # tasks 5..8, still running

    child = start_python(daemon, ATTACH_AND_WAIT, job.job_id)
    try:
        status, out, err = finish(child)
    finally:
        reap(child)
    assert status == 0, err
    seen = _last_json(out)
    assert seen["wait"] is True
    # Only what the parent had not consumed: the cursor lives in the daemon, one per job.
    assert sorted(seen["results"]) == [f"second{i}\n" for i in range(4)]
    assert (seen["total"], seen["unfinished"], seen["running"]) == (9, 0, 0)
    assert seen["closed"] is True
    assert (seen["command_5"], seen["status_5"]) == ("sleep 0.3; echo second0", "finished")

    # ... and the child's consumption moved the parent's cursor too.
    assert job.get_results() == []
    report = job.status()
    assert report.cursor == 9 and report.results_available == 0
    assert job.stream.closed() is True


# -- (b) two consumers split the results -------------------------------------------------------------


def test_two_attached_processes_never_receive_the_same_result(daemon: Daemon) -> None:
    total = 200
    job = Processor(job_id=unique_id("split"))
    children = [start_python(daemon, CONSUME_UNTIL_DONE, job.job_id, str(total)) for _ in range(2)]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready", "the consumer did not start"
        # Both consumers are polling while the tasks run and their results arrive.
        for start in range(0, total, 50):
            job.stream([f"echo {i}" for i in range(start, start + 50)])
        outcomes = [finish(child) for child in children]
    finally:
        for child in children:
            reap(child)
    received: list[list[tuple[int, str]]] = []
    for status, out, err in outcomes:
        assert status == 0, err
        received.append([(task_id, stdout) for task_id, stdout in _last_json(out)["got"]])
    first, second = ({task_id for task_id, _ in got} for got in received)
    assert not first & second, f"both consumers received tasks {sorted(first & second)[:10]}"
    every = Counter(task_id for got in received for task_id, _ in got)
    assert sorted(every) == list(range(total)), "some result was never delivered"
    assert max(every.values()) == 1, "a consumer received a result twice"
    assert all(stdout == f"{task_id}\n" for got in received for task_id, stdout in got)
    assert job.get_results() == []
    assert job.status().cursor == total


# -- (c) named consumers: tests/harness/test_results.py (no subprocess needed) ---------------------------


# -- (d) details -------------------------------------------------------------------------------------


def test_result_details(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("details"))
    job.stream(["echo hello", "sh -c 'echo partial; exit 4'", "sleep 0.3; echo slow", "sleep 30"])
    poll(lambda: job.stream.get_status(3) == "running", 15, "sleep 30 runs")
    job.stream.kill(3)
    job.wait_for_tasks()
    records = job.get_results(details=True)
    by_id = {r.task_id: r for r in records}
    assert sorted(by_id) == [0, 1, 2], "three results; a killed task gives none"
    assert sorted(r.seq for r in records) == [1, 2, 3]
    host = socket.gethostname()

    hello, failed, slow = by_id[0], by_id[1], by_id[2]
    assert (hello.command, hello.status, hello.exit_code, hello.signal) == ("echo hello", "finished", 0, None)
    assert (hello.stdout, hello.host, hello.truncated) == ("hello\n", host, False)
    assert 0 <= hello.duration < 10
    assert (failed.command, failed.status, failed.exit_code) == ("sh -c 'echo partial; exit 4'", "failed", 4)
    assert (failed.stdout, failed.host) == ("partial\n", host)
    assert (slow.status, slow.stdout, slow.exit_code) == ("finished", "slow\n", 0)
    assert 0.25 <= slow.duration < 10, slow.duration
    assert job.stream.get_status(3) == "killed"


# -- (e) Ctrl-C in a batch -------------------------------------------------------------------------------


def _attached(job_id: str) -> Processor | None:
    try:
        return Processor.attach(job_id)
    except JobNotFound:
        return None


def test_ctrl_c_in_a_batch_cancels_the_tasks_of_that_call(daemon: Daemon) -> None:
    job_id = unique_id("ctrlc")
    child = start_python(daemon, BATCH_OF_SLEEPS, job_id)
    try:
        job = poll(lambda: _attached(job_id), 15, "the child created the job")
        # 2 cores: the stream's task and one of the batch run, two batch tasks wait.
        poll(lambda: job.stream.count_total_tasks() == 4 and job.stream.count_running_tasks() == 2,
             15, "two tasks run")
        poll(lambda: len(job_pids(job_id)) == 2, 15, "the two sleep processes exist")
        child.send_signal(signal.SIGINT)
        status, out, err = finish(child, timeout=15)
    finally:
        reap(child)

    assert status != 0, out
    assert "the batch returned" not in out
    assert "KeyboardInterrupt" in err, err
    assert "cancelled 3 tasks of this call" in err, err

    poll(lambda: job.status().counts["killed"] == 3, 15, "the batch's three tasks are killed")
    assert [job.stream.get_status(i) for i in range(4)] == ["running", "killed", "killed", "killed"]
    # Only the stream call's task is left: no sleep of the batch survives.
    survivors = poll(lambda: (pids := job_pids(job_id)) and len(pids) == 1 and pids, 15,
                     "only one sleep process is left")
    job.cancel()
    poll(lambda: not job_pids(job_id), 15, f"the last sleep ({survivors}) ends after cancel")


# -- (f) Processor.cancel() ------------------------------------------------------------------------------


def test_cancel_stops_every_task_of_every_call(daemon: Daemon) -> None:
    job = Processor(job_id=unique_id("cancel"))
    job.stream(["sleep 30", "sleep 30"])
    job.stream(["sleep 30", "echo never"])
    poll(lambda: len(job_pids(job.job_id)) == 2, 15, "two sleep processes run")
    assert job.cancel() == 4
    poll(lambda: job.status().unfinished == 0, 15, "no task is pending or running")
    report = job.status()
    assert report.state == "cancelled"
    assert report.counts["killed"] == 4
    started = time.monotonic()
    assert job.wait() is True
    assert time.monotonic() - started < 2
    assert poll(lambda: not job_pids(job.job_id), 15, "no process of the job is left")
    assert job.get_results() == [], "killed tasks give no result"
    assert job.cancel() == 0  # nothing left to stop


# -- (g) a result stream broken before the ack ---------------------------------------------------------


def _requests(pending: queue.Queue[pb.ResultsClientMessage | None]) -> Iterator[pb.ResultsClientMessage]:
    while (message := pending.get()) is not None:
        yield message


@pytest.mark.parametrize("how", ["cancel-after-batch", "cancel-after-end", "half-close-without-ack", "ack"])
def test_results_stream_broken_before_the_ack_loses_nothing(daemon: Daemon, how: str) -> None:
    job = Processor(job_id=unique_id("broken"))
    job.stream([f"echo b{i}" for i in range(6)])
    job.wait_for_tasks()

    pending: queue.Queue[pb.ResultsClientMessage | None] = queue.Queue()
    pending.put(pb.ResultsClientMessage(open=pb.ResultsOpen(job_id=job.job_id, consume=True)))
    with grpc.insecure_channel("unix:" + str(daemon.socket)) as channel:
        call = stratos_stub(channel).Results(_requests(pending), timeout=20)
        replies = iter(call)  # the call itself: its stubs declare __iter__ but not __next__
        try:
            first = next(replies)
            assert first.HasField("batch") and len(first.batch.records) == 6
            if how == "cancel-after-batch":
                call.cancel()
            else:
                end = next(replies)
                assert end.HasField("end") and end.end.upto_seq == 6
                if how == "cancel-after-end":
                    call.cancel()
                elif how == "half-close-without-ack":
                    pending.put(None)
                    assert [m for m in call if m.HasField("committed")] == []
                else:  # the full protocol, as a control: this one does consume
                    pending.put(pb.ResultsClientMessage(ack=pb.ResultsAck(upto_seq=6)))
                    committed = next(replies)
                    assert committed.HasField("committed") and committed.committed.cursor == 6
                    pending.put(None)
        finally:
            pending.put(None)  # lets gRPC's request thread finish
            call.cancel()

    if how == "ack":
        assert job.get_results() == []
        assert job.status().cursor == 6
    else:
        assert sorted(job.get_results()) == [f"b{i}\n" for i in range(6)]
        assert job.status().cursor == 6


# -- blocking calls return when their tasks end -------------------------------------------------------


def test_batch_returns_promptly_once_its_tasks_end(daemon: Daemon) -> None:
    """A batch of two `echo` tasks takes milliseconds; its call must not lag seconds behind.

    The batch call follows the daemon's Wait stream with progress messages; a task that
    ends while the first progress message is being sent must still end the wait.
    """
    job = Processor(job_id=unique_id("prompt"))
    for attempt in range(40):
        started = time.monotonic()
        counts = job.batch([f"echo {attempt}a", f"echo {attempt}b"])
        elapsed = time.monotonic() - started
        assert counts["finished"] == 2, counts
        assert elapsed < 2.0, f"batch call #{attempt} of two echo tasks returned after {elapsed:.1f} s"
    assert len(job.get_results()) == 80
