"""TaskRunner: one attempt of one task, from spawn to its :class:`TaskRecord`.

It owns the attempt's policy: output routing, the monitor, the timeout,
kills, and turning whatever happened into a record. Task failures of any
kind end up in the record; ``run`` does not raise for them.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import time
from collections.abc import Callable

from ._cgroup import CgroupUnavailable, MemoryCgroup
from ._notes import Notes
from ._proc import Process
from ._routing import TaskOutputs
from ._spawn import direct_argv, exec_simple_command, spawn, strip_markers, task_environment
from ._usage import TreeMemory, disk_kb, inherited_bound_kb, session_pids, tree_pids
from .monitor import NEW_OUTPUT_WINDOW, monitor_loop, relaunch_commands
from .spec import Relaunch, StopReason, TaskRecord, TaskSpec

SHELL = "/bin/sh"
#: the first sample of the task's processes, then twice as long each time up to SAMPLE_MAX (seconds).
SAMPLE_FIRST = 0.02
SAMPLE_MAX = 0.5
#: seconds between measurements of the task's disk use.
DISK_INTERVAL = 2.0


class TaskRunner:
    """Runs ``spec`` once. Use from the event loop's thread only.

    ``on_started(pid, started)`` is called right after the spawn, so the
    caller can journal the pid (which is also the process group id) and the
    start time before anything else happens. An exception from it kills the
    task and propagates out of :meth:`run`.
    """

    def __init__(self, spec: TaskSpec, *, on_started: Callable[[int, float], None] | None = None) -> None:
        self.spec = spec
        self._on_started = on_started
        self._record = TaskRecord()
        self._notes = Notes(self._record.notes)
        self._ran = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._early_kill: str | None = None
        self._process: Process | None = None
        self._outputs: TaskOutputs | None = None
        self._stopping = False
        self._finished: asyncio.Future[None] | None = None
        self._timeout_timer: asyncio.TimerHandle | None = None
        self._kill_timer: asyncio.TimerHandle | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._relaunch_input: str | None = None
        self._memory = TreeMemory()
        self._cgroup: MemoryCgroup | None = None
        self._sample_timer: asyncio.TimerHandle | None = None
        self._sample_delay = SAMPLE_FIRST
        #: whether the task's processes have been looked at once (the first look is the child alone).
        self._sampled = False
        self._next_disk = 0.0

    @property
    def pid(self) -> int | None:
        """The task's pid (and process group id) once spawned, also after it exited; else None."""
        return self._process.pid if self._process is not None else None

    def kill(self, reason: str = StopReason.KILLED) -> None:
        """Stop the task: SIGTERM to its process group, SIGKILL after ``kill_grace``.

        Idempotent: the first stop (kill, timeout, relaunch) gives the
        reason. Before the spawn, the task will not be started at all;
        after it exited, nothing happens.
        """
        if self._process is None:
            if self._early_kill is None:
                self._early_kill = reason
            return
        self._stop(reason)

    async def run(self) -> TaskRecord:
        """Run the attempt to its end and return its record (once per runner)."""
        if self._ran:
            raise RuntimeError("TaskRunner.run() can be called only once")
        self._ran = True
        self._loop = loop = asyncio.get_running_loop()
        spec, record = self.spec, self._record
        if self._early_kill is not None:
            record.started = record.ended = time.time()
            record.set_reason(self._early_kill)
            self._notes.add("killed before it was started")
            return record
        watch = bool(spec.monitor)
        try:
            outputs = TaskOutputs(spec, watch=watch, window=NEW_OUTPUT_WINDOW)
        except (OSError, ValueError) as exc:
            return self._spawn_failed(f"could not set up the task's output: {exc}")
        env = task_environment(spec)
        command = strip_markers(spec.command)
        try:
            pid = self._start(command, env, outputs)
        except (OSError, ValueError) as exc:
            outputs.close()
            outputs.close_pipes()
            self._remove_cgroup()
            return self._spawn_failed(f"could not start the task: {exc}")
        record.started = time.time()
        record.pid = pid
        outputs.after_spawn()
        self._outputs = outputs
        self._finished = finished = loop.create_future()
        self._process = process = Process(loop, pid, outputs.pipes, on_exit=self._on_exit, on_done=self._on_done)
        # its sandbox is new: the first disk measurement is due after DISK_INTERVAL (and at its end)
        self._next_disk = time.monotonic() + DISK_INTERVAL
        self._sample()
        if spec.timeout is not None:
            self._timeout_timer = loop.call_later(max(0.0, spec.timeout), self._stop, StopReason.TIMEOUT)
        if watch:
            self._monitor = loop.create_task(self._watch(spec.monitor or "", process.pid, env))
        try:
            if self._on_started is not None:
                self._on_started(process.pid, record.started)
            await finished  # resolved by _on_done; the Process callbacks go on if this is cancelled
        except BaseException:
            self._stop(StopReason.KILLED)
            raise
        if self._monitor is not None:
            await self._reap_monitor(self._monitor)
        if record.stop is StopReason.RELAUNCH and self._relaunch_input is not None:
            if not spec.relauncher:
                record.relaunch = Relaunch.NO_RELAUNCHER
            else:
                record.relaunch, record.replacements, record.relaunch_error = await relaunch_commands(
                    spec.relauncher, self._relaunch_input, cwd=spec.cwd or None, env=env, notes=self._notes
                )
        return record

    # -- stopping -----------------------------------------------------------------------------

    def _stop(self, reason: str) -> None:
        process = self._process
        if process is None or process.exited or self._stopping:
            return
        self._stopping = True
        self._record.set_reason(reason)
        # A last look while its processes are alive: their high-water marks hold the peak so far,
        # which the periodic samples may have missed (a monitor stops a task that is growing).
        self._memory.sample(session_pids(process.pid))
        process.signal_group(signal.SIGTERM)
        if self.spec.kill_grace > 0 and self._loop is not None:
            self._kill_timer = self._loop.call_later(self.spec.kill_grace, process.signal_group, signal.SIGKILL)
        else:
            process.signal_group(signal.SIGKILL)

    # -- memory and disk ---------------------------------------------------------------------

    def _limit_memory(self, mb: float) -> str:
        """The kernel enforces the limit when a cgroup can be made: the shell joins it before the command."""
        spec = self.spec
        name = f"stratos-{os.getpid()}-{spec.job_id}-{spec.task_id}-{spec.attempt}"
        try:
            self._cgroup = MemoryCgroup.create(name, int(mb * (1 << 20)))
        except CgroupUnavailable as err:
            self._notes.add(f"memory limit {mb:g} MB enforced by the executor's watchdog (no cgroup: {err})")
            return ""
        self._notes.add(f"memory limit {mb:g} MB enforced by the kernel (cgroup v{self._cgroup.version})")
        return f"echo $$ > {shlex.quote(self._cgroup.procs_file)} || exit 125\n"

    def _sample(self) -> None:
        """Fold the task's processes into the peaks; stop the task when it broke a limit."""
        self._sample_timer = None
        process = self._process
        if process is None or process.exited or self._loop is None:
            return
        spec = self.spec
        # The first look, right after the spawn, reads the direct child alone; later ones its tree
        # (the children lists: a few reads); once the samples are SAMPLE_MAX apart, the whole session
        # (a scan of every process's stat, a millisecond or more, which every task of a few hundred
        # milliseconds would pay three times over), which also finds descendants whose parent exited.
        self._memory.sample(session_pids(process.pid) if self._sample_delay >= SAMPLE_MAX
                            else tree_pids(process.pid) if self._sampled else [process.pid])
        self._sampled = True
        if self._cgroup is not None and self._cgroup.oom_kills() > 0:
            self._over_limit(StopReason.MEMORY_LIMIT, max(self._cgroup.peak_kb(), self._memory.current_sum_kb))
        elif spec.mem_limit is not None and self._memory.current_sum_kb > spec.mem_limit * 1024:
            self._over_limit(StopReason.MEMORY_LIMIT, self._memory.current_sum_kb)
        now = time.monotonic()
        if now >= self._next_disk:
            self._next_disk = now + DISK_INTERVAL
            used = self._measure_disk()
            if spec.disk_limit is not None and used > spec.disk_limit * 1024:
                self._over_limit(StopReason.DISK_LIMIT, used)
        if not process.exited:
            self._sample_timer = self._loop.call_later(self._sample_delay, self._sample)
            self._sample_delay = min(self._sample_delay * 2, SAMPLE_MAX)

    def _over_limit(self, reason: StopReason, measured_kb: int) -> None:
        if self._running():
            self._record.limit_kb = measured_kb
            self._stop(reason)

    def _measure_disk(self) -> int:
        spec = self.spec
        used, complete = disk_kb([spec.sandbox, spec.stdout_file or "", spec.stderr_file or ""])
        self._record.disk_kb = max(self._record.disk_kb, used)
        if not complete:
            self._notes.add("the task's sandbox holds too many files to measure all of them", kind="disk-scan")
        return used

    def _remove_cgroup(self) -> None:
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None

    def _running(self) -> bool:
        return self._process is not None and not self._process.exited and not self._stopping

    # -- monitor ------------------------------------------------------------------------------

    async def _watch(self, program: str, pid: int, env: dict[str, str]) -> None:
        outputs = self._outputs
        assert outputs is not None
        record = self._record

        def on_output(text: str) -> None:
            record.monitor_output = text

        verdict = await monitor_loop(
            program,
            pid,
            interval=self.spec.update_interval,
            cwd=self.spec.cwd or None,
            env=env,
            take_new=outputs.take_new,
            running=self._running,
            notes=self._notes,
            on_output=on_output,
        )
        if verdict is not None and self._running():
            self._relaunch_input = verdict
            self._stop("relaunch")

    async def _reap_monitor(self, task: asyncio.Task[None]) -> None:
        await asyncio.wait([task])
        if not task.cancelled() and task.exception() is not None:
            self._notes.add(f"monitoring failed: {task.exception()!r}")

    # -- end ----------------------------------------------------------------------------------

    def _on_exit(self) -> None:
        """The main process was reaped (its group is gone): stop timers and the monitor, record status."""
        for timer in (self._timeout_timer, self._kill_timer, self._sample_timer):
            if timer is not None:
                timer.cancel()
        if self._monitor is not None:
            self._monitor.cancel()
        process, record = self._process, self._record
        assert process is not None
        record.ended = process.ended
        code = process.returncode
        if code is None:
            self._notes.add(f"exit status unknown: {process.wait_error}")
        elif code < 0:
            record.signal = -code
        else:
            record.exit_code = code
        maxrss = 0
        if process.rusage is not None:
            maxrss = process.rusage.ru_maxrss
            record.cpu_seconds = process.rusage.ru_utime + process.rusage.ru_stime
        record.peak_rss_kb, record.peak_rss_sum_kb = self._memory.finish(maxrss, inherited_bound_kb(maxrss))
        group = self._cgroup
        if group is not None:
            if group.oom_kills() > 0 and record.stop in (StopReason.NONE, StopReason.MEMORY_LIMIT):
                record.set_reason(StopReason.MEMORY_LIMIT)
                record.limit_kb = max(record.limit_kb, group.peak_kb())
            self._remove_cgroup()  # the process group was SIGKILLed before this callback

    def _on_done(self) -> None:
        """Exit seen and pipes drained: complete the record, even if nobody awaits ``run`` any more."""
        process, outputs = self._process, self._outputs
        assert process is not None and outputs is not None
        if process.pipes_abandoned:
            self._notes.add(
                "the task's output pipes were still held open after it exited, by a process outside"
                " its process group; output after that point was not read"
            )
        outputs.finish(self._record, self._notes)
        used = self._measure_disk()
        spec = self.spec
        if spec.disk_limit is not None and used > spec.disk_limit * 1024 and self._record.stop is StopReason.NONE:
            self._record.set_reason(StopReason.DISK_LIMIT)
            self._record.limit_kb = used
        self._check_output_space()
        if self._finished is not None and not self._finished.done():
            self._finished.set_result(None)

    def _check_output_space(self) -> None:
        """Output written to files on a full disk is cut short, and so is the stderr that would say
        so: the task fails with that reason instead (a task that exited 0 included)."""
        spec = self.spec
        if spec.output == "disk":
            files = [f for f in (spec.stdout_file, spec.stderr_file) if f]
        elif spec.output == "mesos":
            files = [os.path.join(spec.sandbox, "stdout")]
        else:
            return
        for path in files:
            try:
                stats = os.statvfs(os.path.dirname(path) or ".")
            except OSError:
                continue
            if stats.f_bavail == 0:
                directory = os.path.dirname(path)
                if self._record.stop is StopReason.NONE:
                    self._record.set_reason(f"disk full: no space left under {directory}")
                self._notes.add(f"the disk holding {directory} is full: the task's output there is incomplete")
                return

    def _start(self, command: str, env: dict[str, str], outputs: TaskOutputs) -> int:
        """Start the command: a program with literal words directly, anything else through the shell.
        A direct start that fails (no such program, not executable, a script without ``#!``)
        falls back to the shell, whose message and exit status (127, 126) the task then has."""
        spec = self.spec
        argv = direct_argv(command) if spec.mem_limit is None and "PATH" in env else None
        if argv is not None:
            try:
                return spawn(argv, cwd=spec.cwd, env=env, stdout=outputs.child_stdout, stderr=outputs.child_stderr)
            except OSError:
                pass
        script = exec_simple_command(command)
        if spec.mem_limit is not None:
            script = self._limit_memory(spec.mem_limit) + script
        return spawn([SHELL, "-c", script], cwd=spec.cwd, env=env, stdout=outputs.child_stdout,
                     stderr=outputs.child_stderr)

    def _spawn_failed(self, message: str) -> TaskRecord:
        record = self._record
        record.started = record.ended = time.time()
        record.set_reason(StopReason.SPAWN_FAILED)
        self._notes.add(message)
        return record
