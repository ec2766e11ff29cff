"""Generated hostile input (hypothesis) against one real daemon and the public Python API.

test_bad_input.py holds the hand-picked bad inputs; this module generates them. All
properties share one daemon started for the module, with a control job (finished tasks,
published results) that no property may change; after every example the daemon must still
answer Hello and the control job's status must be as it was (and at the end of a property
its tasks and results too). See hostile_support for the harness and the strategies.

1. The gRPC service, through the raw stub on the daemon's Unix socket. Every call either
   succeeds or is refused with INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS,
   FAILED_PRECONDITION or UNAVAILABLE (BackendUnavailable only), with the error's class in
   the ``stratos-error`` trailer: never UNKNOWN or INTERNAL, never untyped. No call creates
   a path a hostile name could reach, nor anything under the directory the module owns.
   Also the ExecutorHub on the same socket, as a pilot holding its job's token could call it.
2. The public Python API: Processor / Settings with generated bad values raise a typed
   StratosError subclass with a message (never ValueError, TypeError, OverflowError,
   OSError, ... nor the untyped StratosError the client falls back to for a daemon failure);
   template params make one task per row or a typed error.
3. Path traversal with output="disk": logs land only in log_directory/<job_id>/, for
   accepted ids only, and removing a job deletes only what it wrote.

A property that fails has found a product bug. Its explicit @example is the minimal input
found, kept so the test fails until the bug is fixed (see each test's docstring).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, assume, event, example, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from stratos import Processor, Settings
from stratos.errors import InvalidJobSpec, StratosError
from stratos.settings import backend_of
from stratos_executor.spec import DEFAULT_RESULT_LIMIT
from stratos_wire import stratos_pb2 as pb
from tests.integration.hostile_support import (
    CHARS,
    OWNED,
    TIMEOUT,
    Hostile,
    absent_names,
    any_float,
    attempt,
    build_spec,
    check_refusal,
    enum_value,
    exists,
    fill_template,
    hostile_text,
    huge_text,
    int64,
    is_safe_job_id,
    job_names,
    mesos_masters,
    offline_masters,
    open_enum,
    safe_ids,
    short,
    spec_fields,
    tree,
    uint32,
)

pytestmark = pytest.mark.timeout(300)


def properties(max_examples: int) -> hyp_settings:
    return hyp_settings(
        max_examples=max_examples, deadline=None, database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                               HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


@pytest.fixture(scope="module")
def hx() -> Iterator[Hostile]:
    """The module's daemon; the client in this process points at it and never starts one."""
    hostile = Hostile.start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            for key in [k for k in os.environ if k.startswith("STRATOS_")]:
                mp.delenv(key)
            for key, value in hostile.daemon.env.items():  # STRATOS_NO_AUTOSTART=1 among them
                mp.setenv(key, value)
            mp.setenv("XDG_CONFIG_HOME", str(hostile.owned / "config"))  # no user config file
            yield hostile
            hostile.assert_control_intact()
    finally:
        hostile.close()


def _ref(hx: Hostile, name: str) -> str:
    return {"@CONTROL@": hx.control, "@SINK@": hx.sink}.get(name, name)


def _wait_done(hx: Hostile, job: str) -> pb.WaitProgress:
    last = None
    for last in hx.stub.Wait(pb.WaitRequest(job_id=job), timeout=60):
        if last.done:
            return last
    raise AssertionError(f"Wait({job}) ended without done: {last}")


# == 1. the gRPC service ============================================================================


def _assert_sane_spec(spec: pb.JobSpec) -> None:
    """What an accepted job's spec must hold, whatever was sent."""
    for name in ("threads_per_task", "mem_per_task", "disk_per_task", "update_interval"):
        value = getattr(spec, name)
        assert math.isfinite(value) and value > 0, f"accepted {name}={value}"
    assert math.isfinite(spec.task_timeout) and spec.task_timeout >= 0, spec.task_timeout
    assert math.isfinite(spec.locality_wait) and spec.locality_wait >= 0, spec.locality_wait
    assert spec.output in ("scheduler", "disk", "mesos", "none"), short(spec.output)
    assert spec.output != "disk" or spec.log_directory, "disk output without a log_directory"
    if spec.log_directory:
        assert os.path.isabs(spec.log_directory), short(spec.log_directory)
        assert os.path.normpath(spec.log_directory) == spec.log_directory, short(spec.log_directory)
    assert spec.hdfs_mount.startswith("/") and ".." not in spec.hdfs_mount.split("/"), short(spec.hdfs_mount)
    for name in ("monitor", "relauncher"):
        path = getattr(spec, name)
        assert not path or (os.path.isfile(path) and os.access(path, os.X_OK)), f"accepted {name} {short(path)}"


@properties(120)
@given(job_id=job_names, fields=spec_fields())
def test_create_job_with_hostile_ids_and_specs(hx: Hostile, job_id: str, fields: dict[str, Any]) -> None:
    """CreateJob with any id and spec: a sane job with a safe name, or a typed refusal; no file made."""
    assume(job_id not in hx.protected)
    spec = build_spec(hx, fields)
    bases = [spec.log_directory] if os.path.isabs(spec.log_directory) else []
    before = hx.watch(job_id, bases=bases)
    outcome = attempt(f"CreateJob({short(job_id)})",
                      lambda: hx.stub.CreateJob(pb.CreateJobRequest(job_id=job_id, spec=spec), timeout=TIMEOUT))
    if outcome.ok:
        info = outcome.reply
        if job_id:
            assert info.job_id == job_id
        else:
            assert re.fullmatch(r"job-\d+x*", info.job_id), info.job_id
        assert is_safe_job_id(info.job_id), f"the daemon accepted the job id {short(info.job_id)}"
        _assert_sane_spec(info.spec)
    elif job_id and not is_safe_job_id(job_id):
        looked_up = attempt("GetJob", lambda: hx.stub.GetJob(pb.JobRef(job_id=job_id), timeout=TIMEOUT))
        assert looked_up.error == "JobNotFound", f"refused id {short(job_id)} names a job"
    hx.assert_untouched(before, f"CreateJob({short(job_id)})")
    hx.assert_serves()


@properties(40)
@example(master="..:1")
@example(master="a..b.invalid:5050")
@example(master="http://" + "a" * 64 + ".invalid:5050")
@given(master=mesos_masters)
def test_create_job_naming_an_unreachable_mesos_master(hx: Hostile, master: str) -> None:
    """A Mesos master no resolver knows is refused with a typed error (BackendUnavailable).

    BUG: a host name with an empty label ("..", "a..b") or a label over 63 characters makes
    the probe's resolver raise UnicodeError (idna), which MesosBackend.probe does not catch:
    the client gets UNKNOWN "Unexpected <class 'UnicodeError'>" instead of BackendUnavailable.
    """
    spec = Settings().to_proto(cwd=str(hx.owned))
    spec.master = master
    outcome = attempt(f"CreateJob(master={short(master)})",
                      lambda: hx.stub.CreateJob(pb.CreateJobRequest(spec=spec), timeout=30))
    assert not outcome.ok, f"a job was created for the unreachable master {master!r}"
    hx.assert_serves()


submit_targets = st.one_of(st.just("@SINK@"), st.just("@SINK@"), absent_names)
templates = st.one_of(st.lists(hostile_text(40), min_size=1, max_size=4).map("%c%".join), hostile_text(80))
plain_cwds = st.one_of(
    st.sampled_from([f"{OWNED}/work", "/"]),
    st.sampled_from(["", "/", "relative", f"{OWNED}/work", "/nonexistent", "/tmp\0x", ".", f"{OWNED}/files\0"]),
    hostile_text(60),
)
submit_kinds = st.one_of(st.sampled_from([pb.PLAIN, pb.TEMPLATE]), st.sampled_from([pb.SUBMIT_KIND_UNSPECIFIED, 4]),
                         enum_value).filter(lambda k: k != pb.GLOB)


@st.composite
def template_rows(draw: st.DrawFn, template: str) -> list[list[str]]:
    """Rows that fit the template's %c% count, or any rows."""
    wanted = template.count("%c%")
    if draw(st.booleans()):
        return draw(st.lists(st.lists(hostile_text(30), min_size=wanted, max_size=wanted), max_size=5))
    return draw(st.lists(st.lists(hostile_text(30), max_size=4), max_size=5))


LAYOUTS = ["normal", "normal", "split", "no-header", "header-only", "empty", "second-header"]


def _chunks(layout: str, header: pb.SubmitHeader, items: list[str], rows: list[list[str]]) -> list[pb.SubmitChunk]:
    param_rows = [pb.ParamRow(values=r) for r in rows]
    if layout == "no-header":
        return [pb.SubmitChunk(items=items, rows=param_rows)]
    if layout == "header-only":
        return [pb.SubmitChunk(header=header)]
    if layout == "empty":
        return []
    if layout == "split":
        return [pb.SubmitChunk(header=header, items=items[:1]), pb.SubmitChunk(items=items[1:]),
                pb.SubmitChunk(rows=param_rows)]
    if layout == "second-header":  # a header after the first message is ignored
        other = pb.SubmitHeader(job_id="hx-absent-other", kind=pb.GLOB, mode=pb.STREAM, cwd="relative")
        return [pb.SubmitChunk(header=header), pb.SubmitChunk(header=other, items=items, rows=param_rows)]
    return [pb.SubmitChunk(header=header), pb.SubmitChunk(items=items, rows=param_rows)]


@properties(120)
@given(
    job=submit_targets,
    kind=submit_kinds,
    mode=enum_value,
    template=templates,
    cwd=plain_cwds,
    env=st.dictionaries(hostile_text(20), hostile_text(20), max_size=3),
    items=st.lists(hostile_text(60), max_size=5),
    layout=st.sampled_from(LAYOUTS),
    well_formed=st.booleans(),
    data=st.data(),
)
def test_submit_plain_and_template_streams(
    hx: Hostile, job: str, kind: int, mode: int, template: str, cwd: str, env: dict[str, str],
    items: list[str], layout: str, well_formed: bool, data: st.DataObject,
) -> None:
    """Submit with any header, items and rows: the right tasks, or a typed refusal.

    Submissions go to a pilots job without pilots (its tasks never start) or to no job. Half
    of them are well-formed (the sink, PLAIN or TEMPLATE, an absolute cwd, a header first)
    with hostile commands, templates and rows.
    """
    event("well-formed header" if well_formed else "any header")
    if well_formed:
        job, kind = "@SINK@", data.draw(st.sampled_from([pb.PLAIN, pb.TEMPLATE]), label="kind")
        cwd = data.draw(st.sampled_from([f"{OWNED}/work", "/", "/nonexistent"]), label="cwd")
        layout = data.draw(st.sampled_from(["normal", "split", "second-header"]), label="layout")
        items = data.draw(st.lists(hostile_text(60), min_size=1, max_size=5), label="items")
        template = data.draw(st.lists(hostile_text(40), min_size=2, max_size=4).map("%c%".join), label="template")
        wanted = template.count("%c%")
        rows = data.draw(st.lists(st.lists(hostile_text(30), min_size=wanted, max_size=wanted), min_size=1,
                                  max_size=5), label="rows")
    else:
        rows = data.draw(template_rows(template), label="rows")
    job, cwd = _ref(hx, job), hx.resolve(cwd)
    header = pb.SubmitHeader(job_id=job, kind=open_enum(pb.SubmitKind, kind), mode=open_enum(pb.SubmitMode, mode),
                             template=template, cwd=cwd, env=env)
    chunks = _chunks(layout, header, items, rows)
    before = hx.watch(job)
    outcome = attempt("Submit", lambda: hx.stub.Submit(iter(chunks), timeout=TIMEOUT))
    if outcome.ok:
        assert job == hx.sink and layout not in ("no-header", "empty"), (job, layout)
        assert kind in (pb.PLAIN, pb.TEMPLATE) and os.path.isabs(cwd or "/"), (kind, short(cwd))
        sent_items, sent_rows = ([], []) if layout == "header-only" else (items, rows)
        commands = sent_items if kind == pb.PLAIN else fill_template(template, sent_rows)
        assert commands is not None, f"accepted template {short(template)} with rows {short(sent_rows)}"
        expected = [c for c in commands if c.strip()]
        assert not any("\0" in c for c in expected), "accepted a command holding NUL"
        reply = outcome.reply
        assert reply.count == len(expected), (reply.count, short(expected))
        for i, command in enumerate(expected):
            task = hx.stub.GetTask(pb.TaskRef(job_id=job, task_id=reply.first_task_id + i), timeout=TIMEOUT)
            assert task.summary.command == command and task.summary.status == "pending"
    hx.assert_untouched(before, "Submit")
    hx.assert_serves()


def _bounded_glob(pattern: str) -> bool:
    """Keep the daemon's glob small: no recursion, at most two wildcards and two '..'."""
    return "**" not in pattern and sum(pattern.count(c) for c in "*?[") <= 2 and pattern.count("..") <= 2


glob_patterns = st.one_of(
    st.sampled_from(["*", "*.txt", "sub/*", "../files/*", "*\0", "a.txt", "[", "[!a]*", "?", "{a,b}", "~", "~/x",
                     "/nonexistent/*", f"{OWNED}/files/*", f"{OWNED}/files/../files/?.txt", "hdfs://x/*", "",
                     "-rf", "with space.txt", "é.txt", "semi;colon.txt"]),
    hostile_text(40),
).filter(_bounded_glob)
glob_cwds = st.one_of(
    st.sampled_from([f"{OWNED}/files", f"{OWNED}/files/sub", f"{OWNED}/missing", "relative", f"{OWNED}/files\0",
                     "/tmp\0x", f"{OWNED}/files/a.txt"]),
    hostile_text(40).map(lambda s: f"{OWNED}/files/{s}"),
)
glob_templates = st.one_of(st.just("cat %f%"), hostile_text(40).map(lambda s: s + " %f%"), hostile_text(40))


@properties(80)
@example(job="@SINK@", template="cat %f%", cwd=f"{OWNED}/files\0", patterns=["*"], mode=pb.STREAM)
@given(job=submit_targets, template=glob_templates, cwd=glob_cwds,
       patterns=st.lists(glob_patterns, max_size=4), mode=enum_value)
def test_submit_glob_streams(hx: Hostile, job: str, template: str, cwd: str, patterns: list[str], mode: int) -> None:
    """GLOB submissions with any template, working directory and patterns: tasks or a typed refusal.

    BUG: a working directory holding a NUL byte makes glob.glob raise ValueError ("embedded
    null byte") inside expand.expand_glob; Submit does not catch it and answers UNKNOWN.
    """
    job, cwd = _ref(hx, job), hx.resolve(cwd)
    patterns = [hx.resolve(p) for p in patterns]
    header = pb.SubmitHeader(job_id=job, kind=pb.GLOB, mode=open_enum(pb.SubmitMode, mode), template=template, cwd=cwd)
    before = hx.watch(job)
    outcome = attempt(f"Submit(GLOB, cwd={short(cwd)})", lambda: hx.stub.Submit(
        iter([pb.SubmitChunk(header=header), pb.SubmitChunk(items=patterns)]), timeout=TIMEOUT))
    if outcome.ok:
        assert job == hx.sink and "%f%" in template and patterns and outcome.reply.count >= 1
        task = hx.stub.GetTask(pb.TaskRef(job_id=job, task_id=outcome.reply.first_task_id), timeout=TIMEOUT)
        assert "\0" not in task.summary.command
    hx.assert_untouched(before, "Submit(GLOB)")
    hx.assert_serves()


any_ref = st.one_of(st.just("@CONTROL@"), st.just("@SINK@"), absent_names)
control_or_absent = st.one_of(st.just("@CONTROL@"), st.just("@CONTROL@"), absent_names)
sink_or_absent = st.one_of(st.just("@SINK@"), absent_names)
task_states = st.one_of(
    st.sampled_from(["", "pending", "running", "finished", "failed", "killed", "relaunched", "lost", "FINISHED"]),
    hostile_text(40),
)


@st.composite
def raw_results_messages(draw: st.DrawFn) -> pb.ResultsClientMessage:
    """A Results client message, well-formed or not (Open only on jobs whose cursors may move)."""
    message = pb.ResultsClientMessage()
    if draw(st.booleans()):
        message.open.CopyFrom(pb.ResultsOpen(
            job_id=draw(sink_or_absent), consumer=draw(hostile_text(40)), consume=draw(st.booleans()),
            from_seq=draw(int64), details=draw(st.booleans()), follow=False))
    if draw(st.booleans()):
        message.ack.upto_seq = draw(int64)
    return message


small_int64 = st.one_of(st.integers(-2, 5), int64)
small_uint32 = st.one_of(st.integers(0, 3), uint32)
ref_calls = st.one_of(
    st.tuples(st.just("Kill"), any_ref, st.lists(small_int64, max_size=5)),
    st.tuples(st.just("GetTask"), any_ref, small_int64),
    st.tuples(st.just("Cancel"), sink_or_absent, st.booleans(), small_uint32),
    st.tuples(st.just("Cancel"), st.just("@CONTROL@"), st.just(True), small_uint32),  # a call of the control: no-op
    st.tuples(st.just("Wait"), control_or_absent, st.booleans(), small_uint32),
    st.tuples(st.just("ListTasks"), control_or_absent, task_states),
    st.tuples(st.just("Read"), any_ref, small_int64, st.booleans(), st.booleans()),
    st.tuples(st.just("Consume"), sink_or_absent, hostile_text(60), st.one_of(st.none(), small_int64)),
    st.tuples(st.just("RawResults"), st.lists(raw_results_messages(), max_size=3)),
)


@properties(150)
@given(call=ref_calls)
def test_task_call_and_result_references(hx: Hostile, call: tuple[Any, ...]) -> None:
    """Kill/GetTask/Cancel/Wait/ListTasks/Results with any job, task id, call id, seq, consumer.

    On the control job the answers are the snapshot's: what it has, or nothing and a typed error.
    """
    name, args = call[0], call[1:]
    stub, control = hx.stub, hx.control
    tasks, results = hx.control_view[1], hx.control_view[2]
    job = _ref(hx, args[0]) if name != "RawResults" else ""
    what = f"{name}{short(args, 160)}"
    if name == "Kill":
        out = attempt(what, lambda: stub.Kill(pb.KillRequest(job_id=job, task_ids=args[1]), timeout=TIMEOUT))
        if out.ok and job == control:
            assert out.reply.killed == 0 and all(0 <= t < len(tasks) for t in args[1])
    elif name == "GetTask":
        out = attempt(what, lambda: stub.GetTask(pb.TaskRef(job_id=job, task_id=args[1]), timeout=TIMEOUT))
        if job == control:
            assert out.ok == (0 <= args[1] < len(tasks)), what
            if out.ok:
                s = out.reply.summary
                assert (s.task_id, s.status, s.command) == tasks[args[1]][:3]
    elif name == "Cancel":
        cancel = pb.CancelRequest(job_id=job, has_call=args[1], call_id=args[2])
        out = attempt(what, lambda: stub.Cancel(cancel, timeout=TIMEOUT))
        if out.ok and job == control:
            assert out.reply.killed == 0
    elif name == "Wait":
        wait = pb.WaitRequest(job_id=job, has_call=args[1], call_id=args[2])
        out = attempt(what, lambda: list(stub.Wait(wait, timeout=TIMEOUT)))
        if job == control:
            calls = {0: 2, 1: 1}  # the control's calls and their task counts
            assert out.ok == (not args[1] or args[2] in calls), what
            if out.ok:
                assert out.reply[-1].done and out.reply[-1].total == (calls[args[2]] if args[1] else len(tasks))
    elif name == "ListTasks":
        listing = pb.ListTasksRequest(job_id=job, state=args[1])
        out = attempt(what, lambda: [t for page in stub.ListTasks(listing, timeout=TIMEOUT) for t in page.tasks])
        if out.ok and job == control:
            assert [t.task_id for t in out.reply] == [t[0] for t in tasks if not args[1] or t[1] == args[1]]
    elif name == "Read":
        from_seq, details, follow = args[1], args[2], args[3] and job != hx.sink  # the sink never ends
        opened = pb.ResultsOpen(job_id=job, consume=False, from_seq=from_seq, details=details, follow=follow)
        out = attempt(what, lambda: list(stub.Results(iter([pb.ResultsClientMessage(open=opened)]), timeout=TIMEOUT)))
        if out.ok:
            assert out.reply and out.reply[-1].HasField("end")
            if job == control:
                got = [(r.seq, r.task_id, r.stdout, r.more) + ((r.command, r.status) if details else ("", ""))
                       for m in out.reply if m.HasField("batch") for r in m.batch.records]
                want = [r[:4] + (r[4:] if details else ("", "")) for r in results if r[0] >= from_seq]
                assert got == want
    elif name == "Consume":
        messages = [pb.ResultsClientMessage(open=pb.ResultsOpen(job_id=job, consumer=args[1], consume=True))]
        if args[2] is not None:
            messages.append(pb.ResultsClientMessage(ack=pb.ResultsAck(upto_seq=args[2])))
        attempt(what, lambda: list(stub.Results(iter(messages), timeout=TIMEOUT)))
    else:
        messages = args[0]
        out = attempt(what, lambda: list(stub.Results(iter(messages), timeout=TIMEOUT)))
        if out.ok:
            assert messages and messages[0].HasField("open"), "a Results stream without Open was served"
    hx.assert_serves()


@properties(30)
@example(interval=math.nan)
@given(interval=any_float)
def test_wait_with_any_progress_interval(hx: Hostile, interval: float) -> None:
    """Wait on a job with a pending task, with any progress_interval: progress, or a typed refusal.

    BUG: NaN makes Servicer.Wait pass `timeout=nan` to asyncio.wait_for (runtime.changed); uvloop's
    call_later raises ValueError "cannot convert float NaN to integer": UNKNOWN.
    """
    try:
        for _ in hx.stub.Wait(pb.WaitRequest(job_id=hx.waiter, progress_interval=interval), timeout=0.2):
            pass
    except grpc.RpcError as err:
        if err.code() is not grpc.StatusCode.DEADLINE_EXCEEDED:  # ours: the job never ends
            check_refusal(err, f"Wait(progress_interval={interval})")
    hx.assert_serves()


#: the most progress messages a second one Wait may make the daemon send (an interval floor of 50 ms).
MAX_PROGRESS_RATE = 20


@properties(12)
@example(interval=-1.0)
@example(interval=1e-300)
@given(interval=any_float.filter(lambda f: not math.isnan(f)))
def test_wait_progress_rate_is_bounded(hx: Hostile, interval: float) -> None:
    """A Wait stream cannot make the daemon send progress faster than MAX_PROGRESS_RATE a second.

    BUG (hardening): a negative or tiny progress_interval is used as given: `now - last >= interval`
    always holds and runtime.changed(timeout<=0) returns at once, so Servicer.Wait spins, sending
    some 7,000-20,000 messages a second for as long as the client listens (one core busy).
    """
    window = 0.5
    count = 0
    try:
        for _ in hx.stub.Wait(pb.WaitRequest(job_id=hx.waiter, progress_interval=interval), timeout=window):
            count += 1
    except grpc.RpcError as err:
        if err.code() is not grpc.StatusCode.DEADLINE_EXCEEDED:
            check_refusal(err, f"Wait(progress_interval={interval})")
    limit = 2 + window * MAX_PROGRESS_RATE
    assert count <= limit, f"progress_interval={interval}: {count} messages in {window} s"
    hx.assert_serves()


job_ref_calls = st.one_of(
    st.tuples(st.sampled_from(["GetStatus", "GetJob", "GetJobToken", "ListTasks"]), job_names),
    st.tuples(st.sampled_from(["Remove", "CloseStream", "CloseJob", "Cancel", "Kill"]), absent_names),
)


@properties(120)
@given(call=job_ref_calls)
def test_job_references(hx: Hostile, call: tuple[str, str]) -> None:
    """Job-level calls with any job name: an answer or a typed refusal; on an absent name JobNotFound."""
    name, job = call
    assume(job not in hx.protected)
    stub = hx.stub
    ref = pb.JobRef(job_id=job)
    calls: dict[str, Callable[[], Any]] = {
        "GetStatus": lambda: stub.GetStatus(ref, timeout=TIMEOUT),
        "GetJob": lambda: stub.GetJob(ref, timeout=TIMEOUT),
        "GetJobToken": lambda: stub.GetJobToken(ref, timeout=TIMEOUT),
        "ListTasks": lambda: list(stub.ListTasks(pb.ListTasksRequest(job_id=job), timeout=TIMEOUT)),
        "Remove": lambda: stub.Remove(ref, timeout=TIMEOUT),
        "CloseStream": lambda: stub.CloseStream(ref, timeout=TIMEOUT),
        "CloseJob": lambda: stub.CloseJob(ref, timeout=TIMEOUT),
        "Cancel": lambda: stub.Cancel(pb.CancelRequest(job_id=job), timeout=TIMEOUT),
        "Kill": lambda: stub.Kill(pb.KillRequest(job_id=job), timeout=TIMEOUT),
    }
    before = hx.watch(job)
    out = attempt(f"{name}({short(job)})", calls[name])
    if name in ("Remove", "CloseStream", "CloseJob", "Cancel", "Kill") or not is_safe_job_id(job):
        assert out.error == "JobNotFound", f"{name}({short(job)}) on a name no job has: {out.error or 'ok'}"
    hx.assert_untouched(before, f"{name}({short(job)})")
    hx.assert_serves()


HUGE_CALLS = ["CreateJob.job_id", "CreateJob.output", "CreateJob.master", "CreateJob.log_directory", "GetStatus",
              "GetJob", "Remove", "Submit.job_id", "Submit.template", "ListTasks.state", "Results.job_id",
              "Processor.attach"]


@properties(24)
@example(call="GetStatus", value="a" * 20_000)
@example(call="Processor.attach", value="a" * 20_000)
@given(call=st.sampled_from(HUGE_CALLS), value=huge_text())
def test_huge_strings_get_typed_errors(hx: Hostile, call: str, value: str) -> None:
    """A 10 KB - 1 MB string in any field: a typed refusal that reaches the client.

    BUG: error messages quote the offending value in full (check_job_id, JobNotFound, output,
    master, log_directory, template, ...). Past gRPC's 8 KB metadata limit the client drops the
    trailers: it gets RESOURCE_EXHAUSTED "received metadata size exceeds soft/hard limit" and
    no stratos-error class, so the Python client raises the untyped StratosError.
    """
    stub = hx.stub
    good = Settings().to_proto(cwd=str(hx.owned))
    if call == "Processor.attach":
        base = Settings(socket=str(hx.daemon.socket), state_dir=str(hx.daemon.state_dir))
        _api(f"Processor.attach({short(value)})", lambda: Processor.attach(value, settings=base))
        hx.assert_serves()
        return
    if call.startswith("CreateJob."):
        field = call.partition(".")[2]
        job_id = value if field == "job_id" else ""
        if field != "job_id":
            setattr(good, field, value)
        request: Any = pb.CreateJobRequest(job_id=job_id, spec=good)
        run: Callable[[], Any] = lambda: stub.CreateJob(request, timeout=TIMEOUT)  # noqa: E731
    elif call in ("GetStatus", "GetJob", "Remove"):
        run = lambda: getattr(stub, call)(pb.JobRef(job_id=value), timeout=TIMEOUT)  # noqa: E731
    elif call.startswith("Submit."):
        on_sink = call == "Submit.template"
        header = pb.SubmitHeader(job_id=hx.sink if on_sink else value, kind=pb.TEMPLATE, mode=pb.STREAM,
                                 template=value if on_sink else "echo %c%", cwd="/")
        chunks = [pb.SubmitChunk(header=header), pb.SubmitChunk(rows=[pb.ParamRow(values=["x"])])]
        run = lambda: stub.Submit(iter(chunks), timeout=TIMEOUT)  # noqa: E731
    elif call == "ListTasks.state":
        run = lambda: list(stub.ListTasks(pb.ListTasksRequest(job_id=hx.sink, state=value), timeout=TIMEOUT))  # noqa: E731
    else:
        opened = pb.ResultsOpen(job_id=value)
        run = lambda: list(stub.Results(iter([pb.ResultsClientMessage(open=opened)]), timeout=TIMEOUT))  # noqa: E731
    out = attempt(f"{call}({short(value, 40)})", run)
    assert not out.ok or call == "Submit.template", f"{call} accepted {short(value, 40)}"
    hx.assert_serves()


@st.composite
def hub_calls(draw: st.DrawFn) -> tuple[Any, ...]:
    executor = draw(st.one_of(st.just("hx-pilot"), hostile_text(40)))
    token_ok = draw(st.booleans()) or draw(st.booleans())  # mostly the job's own token
    kind = draw(st.sampled_from(["Register", "Fetch", "Started", "Output", "Ended"]))
    if kind == "Register":
        return kind, token_ok, executor, draw(hostile_text(40)), draw(any_float), draw(any_float)
    if kind == "Fetch":
        return kind, token_ok, executor, draw(any_float)
    task, attempt_no = draw(st.one_of(st.integers(-1, 4), int64)), draw(st.one_of(st.integers(0, 3), uint32))
    if kind == "Started":
        return kind, token_ok, executor, task, attempt_no, draw(int64), draw(any_float)
    if kind == "Output":
        return kind, token_ok, executor, task, attempt_no, draw(int64), draw(st.binary(max_size=64))
    return (kind, token_ok, executor, task, attempt_no, draw(int64), draw(st.booleans()),
            draw(st.one_of(st.just(""), hostile_text(20))))


HUB_CODES = frozenset({"PERMISSION_DENIED", "FAILED_PRECONDITION", "INVALID_ARGUMENT", "ABORTED", "NOT_FOUND"})


@properties(80)
@example(call=("Register", True, "hx-nan", "h", math.nan, math.nan))
@example(call=("Fetch", True, "hx-pilot", math.nan))
@example(call=("Output", True, "hx-pilot", 0, 1, -1, b"x"))
@example(call=("Output", True, "hx-pilot", 0, 1, 1 << 40, b"x"))
@example(call=("Ended", True, "hx-pilot", 1, 1, 1 << 62, False, ""))
@given(call=hub_calls())
def test_executor_hub_reports(hx: Hostile, call: tuple[Any, ...]) -> None:
    """ExecutorHub calls (same socket; what a hostile pilot holding its job's token can send).

    Every call succeeds or is refused with a hub status (PERMISSION_DENIED, FAILED_PRECONDITION,
    INVALID_ARGUMENT, ABORTED); Fetch may also run into our short deadline. A registered host has
    finite positive resources, and no spool file grows past the executor's result limit (64 MiB).

    BUGS: Register accepts cpus/mem NaN (`NaN <= 0` is false); Fetch with wait=NaN reaches
    asyncio.wait_for(nan) (UNKNOWN) when no order is queued; Report(output) passes any offset to
    os.pwrite: a negative one or one past the file size limit is OSError (UNKNOWN), 2**40 makes a
    1 TB sparse spool file; Report(ended) truncates the spool to any stdout_size (2**62: OSError).
    """
    stub, hub = hx.stub, hx.hub
    token = stub.GetJobToken(pb.JobRef(job_id=hx.hub_job), timeout=TIMEOUT).token
    good = (("authorization", f"Bearer {token}"),)
    hub.Register(pb.RegisterRequest(job_id=hx.hub_job, executor_id="hx-pilot", host="h", cpus=2, mem=1024),
                 metadata=good, timeout=TIMEOUT)
    kind, token_ok, executor = call[:3]
    metadata = good if token_ok else (("authorization", "Bearer not-the-token"),)
    job = hx.hub_job
    fetch_timeout = 0.3
    if kind == "Register":
        request: Any = pb.RegisterRequest(job_id=job, executor_id=executor, host=call[3], cpus=call[4], mem=call[5])
        run: Callable[[], Any] = lambda: hub.Register(request, metadata=metadata, timeout=TIMEOUT)  # noqa: E731
    elif kind == "Fetch":
        # take what is queued first, so that this Fetch has to wait (wait=0: no waiting)
        hub.Fetch(pb.FetchRequest(job_id=job, executor_id="hx-pilot", wait=0.0), metadata=good, timeout=TIMEOUT)
        request = pb.FetchRequest(job_id=job, executor_id=executor, wait=call[3])
        run = lambda: hub.Fetch(request, metadata=metadata, timeout=fetch_timeout)  # noqa: E731
    else:
        request = pb.ReportRequest(job_id=job, executor_id=executor, report_id=uuid.uuid4().hex,
                                   task_id=call[3], attempt=call[4])
        if kind == "Started":
            request.started.CopyFrom(pb.TaskStartedReport(pid=call[5], started=call[6]))
        elif kind == "Output":
            request.output.CopyFrom(pb.TaskOutputReport(offset=call[5], data=call[6]))
        else:
            # as a pilot does: stdout in pieces first (this one may be refused), then the end
            piece = pb.ReportRequest(job_id=job, executor_id=executor, report_id=uuid.uuid4().hex, task_id=call[3],
                                     attempt=call[4], output=pb.TaskOutputReport(offset=0, data=b"x"))
            with contextlib.suppress(grpc.RpcError):
                hub.Report(piece, metadata=metadata, timeout=TIMEOUT)
            request.ended.CopyFrom(pb.TaskEndedReport(has_exit_code=True, exit_code=0, stdout_size=call[5],
                                                      stdout_inline=call[6], reason=call[7]))
        run = lambda: hub.Report(request, metadata=metadata, timeout=TIMEOUT)  # noqa: E731
    what = f"ExecutorHub.{kind}{short(call[3:], 120)}"
    sizes = _spool_sizes(hx)
    try:
        run()
    except grpc.RpcError as err:
        assert isinstance(err, grpc.Call)
        code = err.code().name
        assert code in HUB_CODES or (kind == "Fetch" and code == "DEADLINE_EXCEEDED"), (
            f"{what}: {code}: {short(err.details())}")
    else:
        if kind == "Register":
            assert all(math.isfinite(v) and v > 0 for v in call[4:6]), f"{what}: registered a host with {call[4:6]}"
    grown = {p: n for p, n in _spool_sizes(hx).items() if n > DEFAULT_RESULT_LIMIT and n != sizes.get(p)}
    assert not grown, f"{what}: spool files past the {DEFAULT_RESULT_LIMIT}-byte result limit: {grown}"
    hx.assert_serves()


def _spool_sizes(hx: Hostile) -> dict[str, int]:
    """The (apparent) size of every file in the daemon's sandboxes."""
    sandboxes = hx.daemon.state_dir / "sandboxes"
    return {str(p): p.stat().st_size for p in sandboxes.rglob("*") if p.is_file()} if sandboxes.exists() else {}


# == 2. the public Python API =======================================================================


def _api(what: str, make: Callable[[], Any]) -> tuple[Any, StratosError | None]:
    """Run a client call: its result, or its typed StratosError; anything else fails the property."""
    try:
        result = make()
    except StratosError as err:
        assert type(err) is not StratosError, f"{what}: the untyped fallback StratosError: {short(str(err))}"
        assert str(err).strip(), f"{what}: {type(err).__name__} with an empty message"
        event(f"{what.partition('(')[0]}: {type(err).__name__}")
        return None, err
    except Exception as err:
        raise AssertionError(f"{what} raised {type(err).__name__}: {short(str(err))}") from err
    event(f"{what.partition('(')[0]}: accepted")
    return result, None


def _base(hx: Hostile) -> Settings:
    return Settings(socket=str(hx.daemon.socket), state_dir=str(hx.daemon.state_dir))


NUMERIC_SETTINGS = ["threads_per_task", "mem_per_task", "disk_per_task", "update_interval", "task_timeout",
                    "timeout_retries", "max_retries", "locality_wait"]
numeric_values = st.one_of(
    any_float, st.integers(-(10**400), 10**400), st.integers(-(2**70), 2**70), st.booleans(), st.text(max_size=10),
    st.complex_numbers(), st.fractions(), st.decimals(), st.lists(st.integers(), max_size=2),
)


def _valid_number(name: str, value: Any) -> bool:
    """The rule an accepted value of a numeric setting must follow."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if name in ("timeout_retries", "max_retries"):
        return isinstance(value, int) and 0 <= value < 2**32
    if name == "threads_per_task":
        return isinstance(value, int) and value > 0
    if name in ("task_timeout", "locality_wait"):
        return math.isfinite(value) and value >= 0
    return math.isfinite(value) and value > 0


@properties(150)
@example(name="threads_per_task", value=10**400)
@example(name="timeout_retries", value=2**32)
@given(name=st.sampled_from(NUMERIC_SETTINGS), value=numeric_values)
def test_processor_numeric_settings(hx: Hostile, name: str, value: Any) -> None:
    """Processor(<numeric setting>=anything): a job with a valid value, or a typed error.

    BUGS: Settings._value_problems calls math.isfinite on ints, which raises OverflowError for an
    int beyond float range (threads_per_task=10**400, also task_timeout, mem_per_task, ...);
    timeout_retries / max_retries >= 2**32 pass validate() and then Settings.to_proto raises
    ValueError "Value out of range" (uint32 fields).
    """
    job, _ = _api(f"Processor({name}={short(value, 60)})", lambda: Processor(settings=_base(hx), **{name: value}))
    if job is not None:
        assert _valid_number(name, value), f"Processor accepted {name}={short(value, 60)}"
    hx.assert_serves()


PATH_SETTINGS = ["monitor", "relauncher", "log_directory", "socket", "state_dir"]
path_values = st.one_of(
    st.sampled_from(["~nouser/x", "~nouser", "~", "~/x", "", "\0", "/", ".", "..", "/etc/passwd", "/bin/true",
                     "true", "relative/x", "/nonexistent/x", "x" * 300, "/" + "x/" * 2100, "?", "a#b", "%2F"]),
    hostile_text(120),
)


@properties(100)
@example(name="log_directory", value="~nouser/logs")
@example(name="log_directory", value="~\x00")  # a NUL byte: ValueError in expanduser
@example(name="monitor", value="~nouser/monitor.sh")
@example(name="socket", value="~nouser/stratosd.sock")
@example(name="socket", value="~\x00")  # the same ValueError in _connection.connect's expanduser
@example(name="state_dir", value="~\x00")
@example(name="monitor", value="x" * 300)
@example(name="socket", value="?")
@given(name=st.sampled_from(PATH_SETTINGS), value=path_values)
def test_processor_path_settings(hx: Hostile, name: str, value: str) -> None:
    """Processor(<path setting>=anything): a job or a typed error; nothing is created under our directory.

    BUGS: "~nouser/..." (an unknown user's home) makes Path.expanduser raise RuntimeError "Could
    not determine home directory." in resolve_program (monitor, relauncher: Settings.validate),
    Settings.to_proto (log_directory) and _connection.connect (socket, state_dir); a name longer
    than NAME_MAX (or a path past PATH_MAX) makes Path.is_file raise OSError ENAMETOOLONG in
    resolve_program (validate); a socket path with "?" (or "#") is not a valid gRPC target
    ("unix:/.../?"): the channel fails with UNKNOWN and the client raises the untyped StratosError
    instead of DaemonUnavailable.
    """
    before = tree(hx.owned, hx.skip)
    setting: dict[str, Any] = {name: value}  # any text, whatever type the setting declares
    _api(f"Processor({name}={short(value, 60)})", lambda: Processor(settings=_base(hx), **setting))
    assert tree(hx.owned, hx.skip) == before, f"Processor({name}={short(value, 60)}) wrote under {hx.owned}"
    hx.assert_serves()


def _client_mesos(master: Any) -> bool:
    try:
        return isinstance(master, str) and backend_of(master) == "mesos"
    except InvalidJobSpec:
        return False


STRING_SETTINGS = ["output", "role", "job_id", "hdfs", "hdfs_mount", "master"]
string_values = st.one_of(hostile_text(120), offline_masters, safe_ids, st.integers(), st.binary(max_size=10),
                          st.lists(st.text(max_size=3), max_size=2))


@properties(150)
@given(name=st.sampled_from(STRING_SETTINGS), value=string_values, attach=st.booleans())
def test_processor_string_settings_and_attach(hx: Hostile, name: str, value: Any, attach: bool) -> None:
    """Processor(<string setting>=anything), Processor.attach(anything): a job or a typed error."""
    assume(not _client_mesos(value))  # Mesos masters: the property below
    assume(not (isinstance(value, str) and value in hx.protected))
    if attach and isinstance(value, str):
        job, err = _api(f"Processor.attach({short(value)})", lambda: Processor.attach(value, settings=_base(hx)))
        assert job is not None or type(err).__name__ == "JobNotFound", f"attach: {type(err).__name__}"
    else:
        job, _ = _api(f"Processor({name}={short(value, 60)})", lambda: Processor(settings=_base(hx), **{name: value}))
        if job is not None:
            assert isinstance(value, str) and "\0" not in job.settings.job_id
            assert job.settings.output in ("scheduler", "disk", "mesos", "none") and job.settings.role
            assert is_safe_job_id(job.job_id) and job.settings.hdfs_mount.startswith("/")
    hx.assert_serves()


@properties(30)
@example(master="a..b:1")
@example(master="a" * 64 + ".invalid:5050")
@given(master=mesos_masters)
def test_processor_with_an_unreachable_mesos_master(hx: Hostile, master: str) -> None:
    """Processor(master=<a Mesos master no resolver knows>): a typed error (not the untyped fallback).

    BUG: the daemon's UNKNOWN answer (UnicodeError in MesosBackend.probe, see the raw property
    above) reaches the script as the untyped StratosError("stratosd failed: StatusCode.UNKNOWN").
    """
    job, _ = _api(f"Processor(master={master!r})", lambda: Processor(settings=_base(hx), master=master))
    assert job is None, f"a job was created for the unreachable master {master!r}"
    hx.assert_serves()


SETTING_NAMES = ["master", "role", "threads_per_task", "mem_per_task", "disk_per_task", "monitor", "relauncher",
                 "update_interval", "output", "log_directory", "job_id", "task_timeout", "timeout_retries",
                 "max_retries", "hdfs", "hdfs_mount", "locality_wait"]
env_values = st.one_of(
    st.sampled_from(["9" * 400, "-" + "9" * 400, "1e400", "nan", "inf", "-1", "0", "4294967296", "99999", "0x10",
                     "1_000", " 7 ", "~nouser/x", "true"]),
    hostile_text(40).filter(lambda s: "\0" not in s),
)
toml_scalars = st.one_of(st.integers(-(2**63), 2**63 - 1), st.floats(), st.booleans(), st.text(CHARS, max_size=20))
toml_values = st.recursive(toml_scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=4)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else {math.inf: "inf", -math.inf: "-inf"}.get(value, repr(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return "[" + ", ".join(_toml(v) for v in value) + "]"


@properties(100)
@example(env={"threads_per_task": "9" * 400}, config={})
@example(env={}, config={"max_retries": 2**32})
@example(env={}, config={"monitor": "~nouser/monitor"})
@given(env=st.dictionaries(st.sampled_from(SETTING_NAMES), env_values, max_size=3),
       config=st.dictionaries(st.one_of(st.sampled_from(SETTING_NAMES), hostile_text(20)), toml_values, max_size=4))
def test_settings_from_environment_and_file(hx: Hostile, env: dict[str, str], config: dict[str, Any]) -> None:
    """Settings.load() from any STRATOS_* variables and TOML file, validated and made a spec:
    InvalidJobSpec or a spec, never another exception.

    BUGS: the OverflowError, uint32 ValueError and expanduser RuntimeError of the properties
    above, reached from the environment (STRATOS_THREADS_PER_TASK=999...9) or the config file.
    """
    path = hx.owned / "config" / f"{uuid.uuid4().hex}.toml"
    path.write_text("".join(f"{json.dumps(k, ensure_ascii=False)} = {_toml(v)}\n" for k, v in config.items()))
    saved = {name: os.environ.get(f"STRATOS_{name.upper()}") for name in env}
    try:
        for name, value in env.items():
            os.environ[f"STRATOS_{name.upper()}"] = value
        what = f"Settings.load(env={short(env, 100)}, file={short(config, 100)})"
        _api(what, lambda: Settings.load(path).validate().to_proto(cwd=str(hx.owned)))
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(f"STRATOS_{name.upper()}", None)
            else:
                os.environ[f"STRATOS_{name.upper()}"] = old
        path.unlink()


@pytest.fixture(scope="module")
def api_sink(hx: Hostile) -> Processor:
    """A pilots job through the Python API: submissions are counted, their tasks never start."""
    return Processor(settings=_base(hx), master="pilots", job_id=f"hx-api-sink-{uuid.uuid4().hex[:8]}")


param_values = st.one_of(hostile_text(30), st.integers(), st.floats(), st.booleans(), st.none(),
                         st.binary(max_size=5), st.lists(st.integers(), max_size=2))
param_rows = st.one_of(hostile_text(40), st.lists(param_values, max_size=4), st.tuples(param_values, param_values),
                       st.integers(), st.none(), st.binary(max_size=5))
params_values = st.one_of(st.lists(param_rows, max_size=6), hostile_text(20), st.binary(max_size=5),
                          st.dictionaries(hostile_text(10), st.integers(), max_size=2), st.integers(), st.none())
template_values = st.one_of(st.lists(hostile_text(30), min_size=1, max_size=4).map("%c%".join), hostile_text(40),
                            st.none(), st.integers())


@properties(100)
@example(template="%c%", params=[["echo a"], [" "], ["echo b"]])
@example(template="echo %c%", params=None)
@given(template=template_values, params=params_values)
def test_template_params_make_one_task_per_row(hx: Hostile, api_sink: Processor, template: Any, params: Any) -> None:
    """template_stream(template, params): one task per row of params, or a typed error.

    BUGS: a row whose filled command is blank (template "%c%", row [" "]) is dropped silently
    by SchedulerState._on_submit, so a call makes fewer tasks than rows and every later row's
    task (and batch result) is shifted; params=None (not iterable) raises TypeError from
    normalize_params instead of InvalidSubmission.
    """
    before = api_sink.status().total
    stream, _ = _api(f"template_stream({short(template, 60)}, {short(params, 100)})",
                     lambda: api_sink.template_stream(template, params))
    made = api_sink.status().total - before
    if stream is None:
        assert made == 0, f"a refused submission made {made} tasks"
    else:
        assert made == len(params), f"{len(params)} rows made {made} tasks: {short(params, 100)}"
    hx.assert_serves()


# == 3. path traversal with output="disk" ============================================================


def _fresh_logs(hx: Hostile) -> Path:
    logs = Path(tempfile.mkdtemp(prefix="L", dir=hx.owned / "logs"))
    (logs / "keep").write_text("the user's file beside the job directories")
    return logs


def _disk_spec(logs: Path, cwd: Path) -> pb.JobSpec:
    return Settings(output="disk", log_directory=str(logs)).to_proto(cwd=str(cwd))


@properties(60)
@given(job_id=st.one_of(safe_ids, job_names))
def test_disk_logs_stay_in_log_directory_job_id(hx: Hostile, job_id: str) -> None:
    """output="disk": for an accepted id, files appear only as log_directory/<id>/<task>.std*;
    a refused id writes nothing; RemoveJobs with delete_outputs deletes exactly the job's directory
    (a plain removal keeps the user's output files: issue 12)."""
    assume(job_id not in hx.protected)
    logs = _fresh_logs(hx)
    outside = tree(hx.owned, [*hx.skip, hx.owned / "logs"])
    before = hx.watch(job_id, bases=[str(logs)])
    try:
        created = attempt(f"CreateJob({short(job_id)})", lambda: hx.stub.CreateJob(
            pb.CreateJobRequest(job_id=job_id, spec=_disk_spec(logs, hx.owned)), timeout=TIMEOUT))
        if created.ok:
            name = created.reply.job_id
            assert is_safe_job_id(name) and (logs / name).resolve().parent == logs.resolve(), short(name)
            hx.submit(name, pb.PLAIN, pb.STREAM, items=["echo out-0; echo err-0 >&2", "echo out-1"])
            assert _wait_done(hx, name).counts.finished == 2
            files = {f"{name}/{t}.{s}" for t in (0, 1) for s in ("stdout", "stderr")}
            assert tree(logs) == {"keep", name, *files}
            assert (logs / name / "0.stdout").read_text() == "out-0\n"
            assert (logs / name / "0.stderr").read_text() == "err-0\n"
            removed = hx.stub.RemoveJobs(pb.RemoveJobsRequest(job_ids=[name], delete_outputs=True), timeout=TIMEOUT)
            assert [job.job_id for job in removed.jobs] == [name]
        assert tree(logs) == {"keep"}, f"left behind: {sorted(tree(logs))}"
        created_elsewhere = [p for p, existed in before.paths.items() if not existed and exists(p)]
        assert not created_elsewhere, f"CreateJob({short(job_id)}) made {short(created_elsewhere)}"
        assert tree(hx.owned, [*hx.skip, hx.owned / "logs"]) == outside
    finally:
        shutil.rmtree(logs, ignore_errors=True)
    hx.assert_serves()


user_files = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True).filter(
    lambda s: ".." not in s and not re.fullmatch(r"\d+\.std(out|err)", s))


@properties(12)
@example(job_id="Documents", filename="precious.txt", run_tasks=False)
@given(job_id=safe_ids, filename=user_files, run_tasks=st.booleans())
def test_remove_deletes_only_what_the_job_wrote(hx: Hostile, job_id: str, filename: str, run_tasks: bool) -> None:
    """A file the user keeps in log_directory/<job_id>/ survives removing the job.

    BUG (data loss): Runtime.remove_job runs shutil.rmtree(os.path.join(log_directory, name)), so
    Remove (and the retention purge, purge_expired) deletes a directory the job never made, and
    everything in it, even when no task ever ran. With log_directory="/" and job_id="home" (both
    accepted) that is rmtree("/home"). Remove only <task_id>.stdout/.stderr files the job wrote,
    then the directory if it is empty.
    """
    logs = _fresh_logs(hx)
    name = f"hx-rm-{job_id}"
    try:
        mine = logs / name / filename
        mine.parent.mkdir()
        mine.write_text("not the job's")
        hx.stub.CreateJob(pb.CreateJobRequest(job_id=name, spec=_disk_spec(logs, hx.owned)), timeout=TIMEOUT)
        if run_tasks:
            hx.submit(name, pb.PLAIN, pb.STREAM, items=["echo log"])
            _wait_done(hx, name)
        removed = hx.stub.RemoveJobs(pb.RemoveJobsRequest(job_ids=[name], delete_outputs=True), timeout=TIMEOUT)
        assert [job.job_id for job in removed.jobs] == [name]
        assert mine.exists(), f"RemoveJobs({name}, delete_outputs) deleted the user's {mine.relative_to(logs)}"
        assert (logs / "keep").exists()
    finally:
        shutil.rmtree(logs, ignore_errors=True)
    hx.assert_serves()


@properties(8)
@example(job_id="demo")
@given(job_id=safe_ids)
def test_reusing_a_job_id_keeps_the_earlier_runs_logs(hx: Hostile, job_id: str) -> None:
    """Reusing a finished job's id (the earlier run becomes <id>.1) keeps the earlier run's logs.

    BUG: Runtime.task_spec writes to log_directory/<current name>/<task>.stdout. The renamed run
    keeps no directory of its own: the new run overwrites its files (0.stdout now holds the new
    run's output), removing the new run deletes the old run's logs, and removing "<id>.1"
    deletes log_directory/<id>.1, which is not its directory.
    """
    logs = _fresh_logs(hx)
    name, marker = f"hx-reuse-{job_id}", f"first-run-{uuid.uuid4().hex}"
    try:
        for command in (f"echo {marker}", "echo second-run"):
            hx.stub.CreateJob(pb.CreateJobRequest(job_id=name, spec=_disk_spec(logs, hx.owned)), timeout=TIMEOUT)
            hx.submit(name, pb.PLAIN, pb.STREAM, items=[command])
            _wait_done(hx, name)
        texts = [p.read_text() for p in logs.rglob("*.stdout")]
        assert any(marker in t for t in texts), f"the first run's log is gone: {sorted(tree(logs))}"
    finally:
        for job in (name, f"{name}.1"):
            attempt("Remove", partial(hx.stub.Remove, pb.JobRef(job_id=job), timeout=TIMEOUT))
        shutil.rmtree(logs, ignore_errors=True)
    hx.assert_serves()


def test_control_job_is_unaffected(hx: Hostile) -> None:
    """After every property above: the control job's status, tasks and results are as they were."""
    hx.assert_control_intact()
