"""TaskRunner with real processes: spawn, records, output routing, kills, timeouts, under both loops."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import time
from pathlib import Path

import pytest

from stratos_executor import _proc
from stratos_executor.spec import INLINE_STDOUT_LIMIT, STDERR_TAIL_BYTES, TaskRecord
from stratos_executor.supervisor import TaskRunner
from tests.executor.executor_helpers import LOOPS, make_spec, pids_in_group, pids_with_arg, run_loop, run_task


@pytest.mark.parametrize("loop", LOOPS)
def test_simple_command_record(tmp_path: Path, loop: str) -> None:
    (tmp_path / "in put.txt").write_text("hello\n")
    started: list[tuple[int, float]] = []
    spec = make_spec(
        tmp_path,
        'cat "<[in put.txt]>"; printf "%s %s %s %s|" "$STRATOS_JOB_ID" "$STRATOS_TASK_ID" "$STRATOS_ATTEMPT"'
        ' "$OMP_NUM_THREADS$OPENBLAS_NUM_THREADS$MKL_NUM_THREADS$VECLIB_MAXIMUM_THREADS$NUMEXPR_NUM_THREADS";'
        " pwd; cat; echo oops >&2; exit 3",
        env={"PATH": os.environ["PATH"], "MINE": "x"},
    )
    before = time.time()
    record = run_task(spec, loop, on_started=lambda pid, t: started.append((pid, t)))
    assert record.stdout == f"hello\njob-1 7 2 33333|{tmp_path}\n".encode()
    assert record.exit_code == 3 and record.signal is None and record.reason == ""
    assert record.stderr_tail == b"oops\n"
    assert started == [(record.pid, record.started)]
    assert before <= record.started <= record.ended <= time.time()
    # The shell's own figure (a few MB at most), or 0 when it ended before the first sample; never the
    # test process's, which the spawn folds into wait4's ru_maxrss (issue 12).
    assert 0 <= record.peak_rss_kb < 16 * 1024
    assert record.cpu_seconds >= 0
    assert record.notes == [] and record.stdout_path is None and not record.stdout_truncated
    assert not (tmp_path / "sandbox").exists()  # small output: no file, no directory


def test_environment_is_exactly_spec_env_plus_ours(tmp_path: Path) -> None:
    record = run_task(make_spec(tmp_path, "env", env={"ONLY": "this"}))
    assert record.stdout is not None
    names = {line.split("=", 1)[0] for line in record.stdout.decode().splitlines()}
    names -= {"PWD"}  # dash exports it
    assert names == {
        "ONLY",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "STRATOS_JOB_ID",
        "STRATOS_TASK_ID",
        "STRATOS_ATTEMPT",
    }


@pytest.mark.parametrize("loop", LOOPS)
def test_pid_is_the_program_in_its_own_session(tmp_path: Path, loop: str) -> None:
    """dash execs the last simple command, so the pid is the user's program itself."""
    seen: dict[str, object] = {}

    async def main() -> TaskRecord:
        runner = TaskRunner(
            make_spec(tmp_path, "sleep 5", kill_grace=0.2), on_started=lambda pid, t: seen.update(pid=pid)
        )
        task = asyncio.ensure_future(runner.run())
        await asyncio.sleep(0)
        pid = runner.pid
        assert pid is not None and seen["pid"] == pid
        for _ in range(100):
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                seen["cmdline"] = f.read().split(b"\0")[0]
            if seen["cmdline"] == b"sleep":
                break
            await asyncio.sleep(0.01)
        seen["pgid"] = os.getpgid(pid)
        seen["sid"] = os.getsid(pid)
        seen["stdin"] = os.readlink(f"/proc/{pid}/fd/0")
        runner.kill()
        return await task

    record = run_loop(main, loop)
    assert seen["cmdline"] == b"sleep"
    assert seen["pgid"] == seen["sid"] == seen["pid"] == record.pid
    assert seen["stdin"] == "/dev/null"
    assert record.reason == "killed" and record.signal == signal.SIGTERM and record.exit_code is None


def test_signal_ends_task(tmp_path: Path) -> None:
    record = run_task(make_spec(tmp_path, "echo before; kill -9 $$"))
    assert record.signal == 9 and record.exit_code is None and record.reason == ""
    assert record.stdout == b"before\n"


def test_spawn_failure_is_a_record(tmp_path: Path) -> None:
    record = run_task(make_spec(tmp_path, "echo hi", cwd=str(tmp_path / "missing")))
    assert record.reason == "spawn-failed"
    assert record.exit_code is None and record.pid == 0 and record.reason == "spawn-failed"
    assert len(record.notes) == 1 and "missing" in record.notes[0]
    record = run_task(make_spec(tmp_path, "echo hi", output="disk"))
    assert record.reason == "spawn-failed" and "stdout_file" in record.notes[0]


def test_fd_hygiene(tmp_path: Path) -> None:
    """The child sees only 0, 1, 2; the runner leaks no descriptor."""
    before = set(os.listdir("/proc/self/fd"))
    record = run_task(make_spec(tmp_path, "ls /proc/self/fd"))
    assert record.stdout is not None
    assert sorted(record.stdout.split()) == [b"0", b"1", b"2", b"3"]  # 3: ls's own directory fd
    after = set(os.listdir("/proc/self/fd"))
    assert after - before <= {str(_shared_devnull())}


def _shared_devnull() -> int:
    from stratos_executor._spawn import devnull

    return devnull()


# -- output modes -------------------------------------------------------------------------------


def test_scheduler_spills_large_stdout(tmp_path: Path) -> None:
    size = INLINE_STDOUT_LIMIT * 2 + 5
    record = run_task(make_spec(tmp_path, f"head -c {size} /dev/zero"))
    assert record.stdout is None
    assert record.stdout_path == str(tmp_path / "sandbox" / "stdout")
    assert os.path.getsize(record.stdout_path) == size
    assert not record.stdout_truncated and record.notes == []


def test_scheduler_result_limit_truncates_and_drains(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "head -c 3000000 /dev/zero; echo done >&2", result_limit=INLINE_STDOUT_LIMIT + 7)
    record = run_task(spec)
    assert record.exit_code == 0
    assert record.stdout_truncated
    assert record.stdout_path is not None and os.path.getsize(record.stdout_path) == INLINE_STDOUT_LIMIT + 7
    assert any("truncated" in note and "3000000" in note for note in record.notes)
    assert record.stderr_tail == b"done\n"


def test_scheduler_small_result_limit_in_memory(tmp_path: Path) -> None:
    record = run_task(make_spec(tmp_path, "seq 100000", result_limit=6))
    assert record.stdout == b"1\n2\n3\n" and record.stdout_truncated and record.exit_code == 0
    assert not (tmp_path / "sandbox").exists()


def test_disk_mode(tmp_path: Path) -> None:
    out, err = tmp_path / "logs" / "job" / "t.out", tmp_path / "logs2" / "t.err"
    out.parent.mkdir(parents=True)
    out.write_text("stale content that must go")
    spec = make_spec(
        tmp_path, "echo to-out; echo to-err >&2", output="disk", stdout_file=str(out), stderr_file=str(err)
    )
    record = run_task(spec)
    assert out.read_text() == "to-out\n" and err.read_text() == "to-err\n"
    assert record.stdout is None and record.stdout_path is None
    assert record.stderr_tail == b"to-err\n"


def test_disk_mode_same_file_for_both(tmp_path: Path) -> None:
    log = tmp_path / "both.log"
    spec = make_spec(tmp_path, "echo a; echo b >&2; echo c", output="disk", stdout_file=str(log), stderr_file=str(log))
    record = run_task(spec)
    assert log.read_text() == "a\nb\nc\n"
    assert record.exit_code == 0


def test_mesos_mode(tmp_path: Path) -> None:
    record = run_task(make_spec(tmp_path, "echo o; echo e >&2", output="mesos"))
    assert (tmp_path / "sandbox" / "stdout").read_text() == "o\n"
    assert (tmp_path / "sandbox" / "stderr").read_text() == "e\n"
    assert record.stderr_tail == b"e\n" and record.stdout is None


def test_none_mode(tmp_path: Path) -> None:
    record = run_task(make_spec(tmp_path, "echo gone; echo kept >&2", output="none"))
    assert record.stdout is None and record.stdout_path is None
    assert record.stderr_tail == b"kept\n"
    assert not (tmp_path / "sandbox").exists()


@pytest.mark.parametrize("output", ["scheduler", "none", "mesos"])
def test_stderr_tail_is_the_last_bytes(tmp_path: Path, output: str) -> None:
    record = run_task(make_spec(tmp_path, "seq 100000 >&2", output=output))
    expected = b"".join(b"%d\n" % i for i in range(1, 100001))[-STDERR_TAIL_BYTES:]
    assert record.stderr_tail == expected


@pytest.mark.parametrize("loop", LOOPS)
def test_alternating_large_stdout_and_stderr_do_not_deadlock(tmp_path: Path, loop: str) -> None:
    command = "for i in 1 2 3 4 5 6 7 8 9 10; do head -c 1000000 /dev/zero; head -c 1000000 /dev/zero >&2; done"
    spec = make_spec(tmp_path, command, timeout=20)
    record = run_task(spec, loop)
    assert record.exit_code == 0 and record.reason == ""
    assert record.stdout_path is not None and os.path.getsize(record.stdout_path) == 10_000_000
    assert record.stderr_tail == b"\0" * STDERR_TAIL_BYTES


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _peak_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@pytest.mark.parametrize("loop", LOOPS)
def test_200mb_of_stdout_is_not_held_in_memory(tmp_path: Path, loop: str) -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak RSS (VmHWM) to the current RSS
    except OSError:
        pytest.skip("cannot reset the peak RSS here")
    base = _rss_kb()
    spec = make_spec(tmp_path, "head -c 200000000 /dev/zero; echo end >&2", timeout=60)
    record = run_task(spec, loop)
    growth_mb = (_peak_kb() - base) / 1024
    assert record.exit_code == 0
    assert record.stdout_truncated  # 64 MiB kept, the rest drained
    assert any("200000000" in note for note in record.notes)
    assert record.stdout_path is not None and os.path.getsize(record.stdout_path) == spec.result_limit
    assert record.stderr_tail == b"end\n"
    assert growth_mb < 20, f"peak RSS grew by {growth_mb:.1f} MB"


# -- stopping -----------------------------------------------------------------------------------


@pytest.mark.parametrize("loop", LOOPS)
def test_kill_leaves_no_orphans(tmp_path: Path, loop: str) -> None:
    marker = "301.2345"

    async def main() -> tuple[TaskRecord, list[int]]:
        runner = TaskRunner(make_spec(tmp_path, f"sleep {marker} & sleep {marker} & wait"))
        task = asyncio.ensure_future(runner.run())
        await asyncio.sleep(0)
        assert runner.pid is not None
        members: list[int] = []
        for _ in range(300):  # the shell and both sleeps
            await asyncio.sleep(0.01)
            members = pids_in_group(runner.pid)
            if len(members) >= 3 and len(pids_with_arg(marker)) >= 3:
                break
        runner.kill()
        runner.kill("again")  # idempotent
        return await task, members

    record, members = run_loop(main, loop)
    assert len(members) >= 3, members
    assert record.reason == "killed"
    assert pids_with_arg(marker) == []
    assert pids_in_group(record.pid) == []


def test_background_child_holding_the_pipe_does_not_hang(tmp_path: Path) -> None:
    marker = "302.5"
    start = time.monotonic()
    record = run_task(make_spec(tmp_path, f"sleep {marker} & echo done"))
    assert time.monotonic() - start < 1.5
    assert record.stdout == b"done\n" and record.exit_code == 0 and record.reason == ""
    assert pids_with_arg(marker) == []


def test_escaped_process_holding_the_pipe_is_abandoned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_proc, "DRAIN_TIMEOUT", 0.3)
    marker = "303.25"
    try:
        start = time.monotonic()
        record = run_task(make_spec(tmp_path, f"setsid sleep {marker} & sleep 0.2; echo done"))
        assert time.monotonic() - start < 2.5
        assert record.stdout == b"done\n" and record.exit_code == 0
        assert any("held open" in note for note in record.notes)
    finally:
        for pid in pids_with_arg(marker):
            os.kill(pid, signal.SIGKILL)


def test_sigkill_after_grace(tmp_path: Path) -> None:
    async def main() -> TaskRecord:
        runner = TaskRunner(make_spec(tmp_path, "trap '' TERM; sleep 30", kill_grace=0.3))
        task = asyncio.ensure_future(runner.run())
        await asyncio.sleep(0.2)
        runner.kill("stop please")
        return await task

    start = time.monotonic()
    record = run_loop(main)
    assert 0.45 < time.monotonic() - start < 3
    assert record.reason == "stop please" and record.signal == signal.SIGKILL


@pytest.mark.parametrize("loop", LOOPS)
def test_timeout(tmp_path: Path, loop: str) -> None:
    start = time.monotonic()
    record = run_task(make_spec(tmp_path, "echo started; sleep 30", timeout=0.3), loop)
    assert time.monotonic() - start < 2
    assert record.reason == "timeout" and record.signal == signal.SIGTERM
    assert record.stdout == b"started\n"


def test_kill_before_start_and_after_exit(tmp_path: Path) -> None:
    async def main() -> tuple[TaskRecord, TaskRecord]:
        early = TaskRunner(make_spec(tmp_path, "touch should-not-exist"))
        early.kill("cancelled by user")
        early_record = await early.run()
        late = TaskRunner(make_spec(tmp_path, "echo ok"))
        late_record = await late.run()
        late.kill()
        late.kill()
        return early_record, late_record

    early, late = run_loop(main)
    assert early.reason == "cancelled by user" and early.pid == 0 and early.exit_code is None
    assert not (tmp_path / "should-not-exist").exists()
    assert late.reason == "" and late.exit_code == 0


def test_run_twice_is_an_error(tmp_path: Path) -> None:
    async def main() -> None:
        runner = TaskRunner(make_spec(tmp_path, "true"))
        await runner.run()
        with pytest.raises(RuntimeError):
            await runner.run()

    run_loop(main)


def test_cancelling_run_kills_the_task(tmp_path: Path) -> None:
    marker = "304.75"

    async def main() -> None:
        runner = TaskRunner(make_spec(tmp_path, f"sleep {marker}", kill_grace=0.2))
        task = asyncio.ensure_future(runner.run())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.2)  # let the loop reap it

    run_loop(main)
    assert pids_with_arg(marker) == []


def test_without_pidfd_exit_is_polled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pidfd(pid: int, flags: int = 0) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    record = run_task(make_spec(tmp_path, "sleep 0.05; echo polled; exit 4"))
    assert record.stdout == b"polled\n" and record.exit_code == 4


def test_python_child_sees_default_sigpipe(tmp_path: Path) -> None:
    """Python ignores SIGPIPE; the task must not inherit that (``yes | head`` must end)."""
    record = run_task(make_spec(tmp_path, "yes | head -n 2", timeout=10))
    assert record.stdout == b"y\ny\n" and record.reason == ""


def test_stale_devnull_descriptor_is_reopened(tmp_path: Path) -> None:
    from stratos_executor import _spawn

    fd = _spawn.devnull()
    os.close(fd)
    decoy = os.open(tmp_path / "decoy", os.O_RDWR | os.O_CREAT)  # likely takes the same number
    try:
        (tmp_path / "decoy").write_text("not empty\n")
        record = run_task(make_spec(tmp_path, "cat; echo end"))
        assert record.stdout == b"end\n"
    finally:
        os.close(decoy)


def test_many_concurrent_tasks(tmp_path: Path) -> None:
    async def main() -> list[TaskRecord]:
        specs = [make_spec(tmp_path, f"echo {i}; echo e{i} >&2", task_id=i) for i in range(200)]
        return await asyncio.gather(*(TaskRunner(spec).run() for spec in specs))

    records = run_loop(main, "uvloop")
    assert [r.stdout for r in records] == [b"%d\n" % i for i in range(200)]
    assert [r.stderr_tail for r in records] == [b"e%d\n" % i for i in range(200)]


def test_on_started_error_kills_the_task_and_propagates(tmp_path: Path) -> None:
    marker = "307.5"

    def broken(pid: int, started: float) -> None:
        raise KeyError("journal full")

    async def main() -> None:
        with pytest.raises(KeyError):
            await TaskRunner(make_spec(tmp_path, f"sleep {marker}", kill_grace=0.2), on_started=broken).run()
        await asyncio.sleep(0.2)

    run_loop(main)
    assert pids_with_arg(marker) == []


def test_status_reaped_elsewhere_is_a_note(tmp_path: Path) -> None:
    """Another part of the program (a SIGCHLD handler, say) reaping the child must not hang us."""

    def reap_it(pid: int, started: float) -> None:
        os.waitpid(pid, 0)

    record = run_task(make_spec(tmp_path, "echo hi; exit 5"), on_started=reap_it)
    assert record.stdout == b"hi\n"
    assert record.exit_code is None and record.signal is None
    assert len(record.notes) == 1 and "exit status unknown" in record.notes[0]


def test_a_task_gets_descriptors_0_to_2_only_even_ones_this_process_inherited(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stratos_executor import _spawn

    monkeypatch.setattr(_spawn, "_descriptors_private", False)  # a process that has not started a task yet...
    inherited = os.open(os.devnull, os.O_RDONLY)  # ...whose parent left it this descriptor
    os.set_inheritable(inherited, True)
    try:
        record = run_task(make_spec(tmp_path, "ls /proc/self/fd"))
    finally:
        os.close(inherited)
    assert record.stdout is not None
    # ls itself holds one more: the directory it lists
    assert len(record.stdout.split()) == 4 and record.stdout.split()[:3] == [b"0", b"1", b"2"]


def test_the_working_directory_and_oldpwd_are_as_a_plain_start_leaves_them(tmp_path: Path) -> None:
    work = tmp_path / "it's here"
    work.mkdir()
    spec = make_spec(tmp_path, 'pwd; echo "${OLDPWD-unset}"; echo $PWD', env={"OLDPWD": "/before"}, cwd=str(work))
    assert run_task(spec).stdout == f"{work}\n/before\n{work}\n".encode()
    assert run_task(make_spec(tmp_path, 'echo "${OLDPWD-unset}"', cwd=str(work))).stdout == b"unset\n"


def test_a_missing_working_directory_fails_the_start(tmp_path: Path) -> None:
    record = run_task(make_spec(tmp_path, "echo never", cwd=str(tmp_path / "gone")))
    assert record.exit_code is None and record.pid == 0 and record.reason == "spawn-failed"
    assert any("could not start the task" in note and "gone" in note for note in record.notes), record.notes


def test_a_program_with_literal_words_starts_without_a_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One exec instead of the shell's two: the program is found in the task's own PATH (here a
    directory this process's PATH lacks, given relative to the task's directory), runs in the
    task's directory with PWD set to it, as it would under the shell."""
    from stratos_executor import _spawn, supervisor

    started: list[list[str]] = []
    real = _spawn.spawn

    def recording(argv: list[str], **kwargs: object) -> int:
        started.append(list(argv))
        return real(argv, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(supervisor, "spawn", recording)
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "where").write_text("#!/bin/sh\necho \"$PWD|$(pwd)|$*\"\n")
    (tools / "where").chmod(0o755)
    work = tmp_path / "work dir"
    work.mkdir()
    env = {"PATH": f"../tools:{os.environ['PATH']}", "PWD": "/elsewhere"}
    record = run_task(make_spec(tmp_path, "where a,b --n=1", cwd=str(work), env=env))
    assert record.stdout == f"{work}|{work}|a,b --n=1\n".encode() and record.exit_code == 0
    assert started == [["where", "a,b", "--n=1"]]


def test_a_direct_start_that_fails_falls_back_to_the_shell(tmp_path: Path) -> None:
    """No such program: the shell's message and 127, as before. A script without #!: the shell runs it."""
    record = run_task(make_spec(tmp_path, "no-such-program-here x"))
    assert record.exit_code == 127 and b"not found" in record.stderr_tail
    bare = tmp_path / "bare"
    bare.write_text("echo ran by the shell\n")
    bare.chmod(0o755)
    record = run_task(make_spec(tmp_path, "./bare"))
    assert (record.exit_code, record.stdout) == (0, b"ran by the shell\n")
