"""The harness tier: the core and the runtime in this process, a recording backend, no sockets.

Nomad's scheduler Harness in spirit: the real :class:`~stratosd.runtime.Runtime` (its loop, group
commit into a real journal under ``tmp_path``, effects) drives a ``SchedulerState(validate=True)``,
so the core's invariants (stratosd/core/validate.py) are checked after every step it takes; the
harness checks them again after each of its own calls. Requests are the core events the servicer
sends; reads that the servicer itself implements (the result cursor) go through the real
:class:`~stratosd.servicer.Servicer`, called in process without a gRPC server.

Nothing here waits for time to pass: the fake backend answers in the same loop, so after
:meth:`Harness.settle` the daemon is idle and a test asserts on what it decided. Each await is
bounded (``bound`` seconds) only so that a bug fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from stratos._submit import split_commands
from stratos.errors import from_rpc_error
from stratos_wire import stratos_pb2 as pb
from stratosd.core import events as ev
from stratosd.core.model import CallMode, Job, JobSpec, Status, Task
from stratosd.core.replies import Submitted
from stratosd.core.state import SchedulerState
from stratosd.core.types import PoolKind
from stratosd.runtime import Removal, Runtime
from stratosd.servicer import Servicer
from stratosd.store import Store
from tests.harness.backend import Launched, RecordingBackend, RecordingOfferBackend

T = TypeVar("T")

#: settle() rounds before a scenario that never goes idle fails (backend reports causing more reports).
MAX_ROUNDS = 1000


class Clock:
    """The harness's time: every request and report tells the core this, and only tests move it."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class _Aborted:
    """What a servicer's ``context.abort`` was given, shaped as the client's gRPC error."""

    def __init__(self, code: Any, details: str, trailing: Sequence[tuple[str, str]]) -> None:
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> Any:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Sequence[tuple[str, str]]:
        return self._trailing


class _Context:
    """The servicer's context without gRPC: an abort raises the typed error the client would."""

    async def abort(self, code: Any, details: str = "", trailing_metadata: Sequence[tuple[str, str]] = ()) -> None:
        raise from_rpc_error(_Aborted(code, details, trailing_metadata))


class Harness:
    """One daemon's runtime, in process. Synchronous methods; each runs the loop until it is idle."""

    def __init__(self, root: Path, *, hosts: dict[str, tuple[float, float]] | None = None,
                 offers: bool = False, bound: float = 10.0) -> None:
        self.root = root
        self.state_dir = root / "state"
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.bound = bound
        self.clock = Clock()
        self._offers = offers
        self._hosts = hosts
        self._emitted = 0
        self._runner = asyncio.Runner()
        self._loop_task: asyncio.Task[None] | None = None
        #: every backend so far, the current one last (a restart makes a new one).
        self.backends: list[RecordingBackend] = []
        self.runtime: Runtime
        self._open()

    @property
    def backend(self) -> RecordingBackend:
        """The running daemon's backend."""
        return self.backends[-1]

    # -- building and stopping the daemon ---------------------------------------------------------

    def _report(self, event: ev.Event) -> None:
        """The backend's emit: counted, so settle() knows whether the last step caused more."""
        self._emitted += 1
        self.runtime.emit(event)

    def _open(self) -> None:
        self.state = SchedulerState(validate=True)
        self.store = Store(self.state_dir / "journal.sqlite")
        self.runtime = Runtime(self.state, self.store, self.state_dir)
        kind = RecordingOfferBackend if self._offers else RecordingBackend
        backend = kind(self._report, self.clock)
        if self._hosts is not None:
            backend.hosts = dict(self._hosts)
        if self.backends:  # what the test scripted outlives a restart, as the programs would
            backend.adopt_scripts(self.backends[-1])
        self.backends.append(backend)
        self.runtime.add_backend(backend)
        self.runtime.restore()  # as server.serve: the journal's jobs, then the loop
        self.servicer = Servicer(self.runtime, on_shutdown=self._no_shutdown)

        async def start() -> None:
            self._loop_task = asyncio.ensure_future(self.runtime.run())

        self._runner.run(start())
        self.settle()

    @staticmethod
    async def _no_shutdown() -> None:
        raise AssertionError("the harness has no Shutdown RPC")

    def restart(self) -> None:
        """Stop the daemon as SIGTERM does (its backend stops its tasks), then start a new one on the
        same journal: a new core, runtime and backend, restored from what was committed."""
        self.stop()
        self._open()

    def stop(self) -> None:
        if self._loop_task is None:
            return
        self._run(self.runtime.close())
        self.store.close()
        self._loop_task = None

    def close(self) -> None:
        """End of the test: stop the daemon and check the invariants once more."""
        try:
            loop_task = self._loop_task
            if loop_task is not None and not (loop_task.done() and loop_task.exception()):
                self.state.validate()  # (a loop that died has failed the test already)
            self.stop()
        finally:
            self._runner.close()

    # -- driving the loop ---------------------------------------------------------------------------

    def _run(self, aw: Awaitable[T]) -> T:
        """Run ``aw`` on the harness loop; fail if the runtime's loop dies (an invariant broken)
        or nothing answers within ``bound`` seconds."""

        async def guarded() -> T:
            task = asyncio.ensure_future(aw)
            loop_task = self._loop_task
            waiting: set[asyncio.Future[Any]] = {task} if loop_task is None else {task, loop_task}
            done, _ = await asyncio.wait(waiting, timeout=self.bound, return_when=asyncio.FIRST_COMPLETED)
            if task not in done and loop_task in done and loop_task.exception() is None:
                done, _ = await asyncio.wait({task}, timeout=self.bound)  # close() ended the loop: finish it
            if task in done:
                return task.result()
            task.cancel()
            if loop_task is not None and loop_task in done:
                error = loop_task.exception()
                raise AssertionError(f"the runtime's loop stopped: {error!r}") from error
            raise AssertionError(f"no answer within {self.bound} s; running: {self.backend.running()}")

        return self._runner.run(guarded())

    def settle(self) -> None:
        """Step the runtime until the backend's reports cause no more reports: the daemon is idle."""
        for _ in range(MAX_ROUNDS):
            before = self._emitted
            self._run(self.runtime.emit_committed())
            if self._emitted == before:
                self.state.validate()
                return
        raise AssertionError(f"not idle after {MAX_ROUNDS} steps")

    def emit(self, *events: ev.Event) -> None:
        """Feed facts as a backend would (host loss, offers, ticks), then settle."""
        for event in events:
            self._report(event)
        self.settle()

    def request(self, req: ev.Request[T]) -> T:
        """Send a request as the servicer does; its answer once committed, then settle."""
        answer = self._run(self.runtime.request(req))
        self.settle()
        return answer

    # -- requests, as the servicer makes them --------------------------------------------------------

    _names = itertools.count(1)

    def create(self, name: str = "", pool: PoolKind = PoolKind.LOCAL, **spec: Any) -> str:
        """CreateJob (the servicer's event; ``spec`` as JobSpec's fields); the job's name."""
        own = pool is not PoolKind.LOCAL
        created = self.request(ev.CreateJobRequested(ev.UNSENT, name, JobSpec(**spec), pool, self.clock(), own,
                                                     token=f"token-{next(self._names)}"))
        return created.job.name

    def submit(self, name: str, commands: Iterable[str], mode: CallMode = "batch", cwd: str = "/",
               env: dict[str, str] | None = None) -> Submitted:
        """Submit a PLAIN call (expansion is the servicer's and tested with it)."""
        return self.request(ev.SubmitRequested(ev.UNSENT, name, mode, cwd, dict(env or {}), list(commands),
                                               self.clock()))

    def batch(self, name: str, commands: Iterable[str] | str) -> dict[str, int]:
        """``Processor.batch``: submit, and once the call's tasks have ended, their counts by status word
        (the Wait reply's, convert.call_counts)."""
        submitted = self.submit(name, _commands(commands))
        job = self.job(name)
        call = job.calls[submitted.call_id]
        assert call.unended == 0, f"the call's tasks did not end: {self.backend.running()} still run"
        counts = dict.fromkeys(Status, 0)
        for task in job.tasks:
            if task.call_id == call.call_id:
                counts[task.status] += 1
        return {status.value: n for status, n in counts.items()}

    def stream(self, name: str, commands: Iterable[str] | str) -> Submitted:
        return self.submit(name, _commands(commands), mode="stream")

    def wait(self, name: str) -> bool:
        """``Processor.wait``: every task has ended (the harness is idle: they never will otherwise),
        then CloseStream. False when the job never had a stream."""
        self.wait_for_tasks(name)
        if not self.job(name).stream_opened:
            return False
        self.request(ev.CloseStreamRequested(ev.UNSENT, name))
        return True

    def wait_for_tasks(self, name: str) -> None:
        """``Processor.wait_for_tasks``: every task has ended (the harness is idle)."""
        job = self.job(name)
        assert not job.unended, f"job {name} still has {job.unended} unended tasks: {self.backend.running()}"

    def kill(self, name: str, task_ids: tuple[int, ...] | None = None) -> int:
        return self.request(ev.KillRequested(ev.UNSENT, name, task_ids))

    def cancel(self, name: str, call_id: int | None = None) -> int:
        return self.request(ev.CancelRequested(ev.UNSENT, name, call_id))

    def retry(self, name: str, task_ids: tuple[int, ...] | None = None) -> list[int]:
        retried = self.request(ev.RetryRequested(ev.UNSENT, name, task_ids, self.clock()))
        return list(retried)

    def remove(self, *names: str, delete_outputs: bool = False, dry_run: bool = False) -> list[Removal]:
        """The runtime's removal (RemoveJobs without the reply's byte counts)."""
        removed = self._run(self.runtime.remove_jobs(names, delete_outputs=delete_outputs, dry_run=dry_run))
        self.settle()
        return removed

    # -- reads ------------------------------------------------------------------------------------------

    @property
    def offers(self) -> RecordingOfferBackend:
        """The backend of a harness made with ``offers=True``."""
        assert isinstance(self.backend, RecordingOfferBackend)
        return self.backend

    def launched(self) -> list[Launched]:
        """Every launch, by every backend since the harness started (restarts included)."""
        return [launch for backend in self.backends for launch in backend.launched()]

    def job(self, name: str) -> Job:
        return self.state.job(name)

    def task(self, name: str, task_id: int) -> Task:
        return self.state.job(name).tasks[task_id]

    def counts(self, name: str) -> dict[str, int]:
        return {status.value: n for status, n in self.state.job(name).counts.items()}

    def names(self) -> set[str]:
        return set(self.state.jobs)

    def results(self, name: str, consumer: str = "", all: bool = False) -> list[str]:
        """``get_results``: the real servicer's Results call in process, acknowledged as the client
        does (``all``: from the first result, moving no cursor)."""
        return [stdout for _, stdout in self._run(self._results(name, consumer, all))]

    def result_seqs(self, name: str) -> list[int]:
        """``get_results(all=True, details=True)``'s sequence numbers."""
        return [seq for seq, _ in self._run(self._results(name, "", True, details=True))]

    async def _results(self, name: str, consumer: str, everything: bool,
                       details: bool = False) -> list[tuple[int, str]]:
        acks: asyncio.Queue[pb.ResultsClientMessage | None] = asyncio.Queue()

        async def requests() -> AsyncIterator[pb.ResultsClientMessage]:
            yield pb.ResultsClientMessage(open=pb.ResultsOpen(job_id=name, consumer=consumer,
                                                              consume=not everything, details=details))
            ack = await acks.get()
            if ack is not None:
                yield ack

        pieces: dict[int, bytes] = {}
        committed = everything
        async for message in self.servicer.Results(requests(), _Context()):
            if message.HasField("batch"):
                for record in message.batch.records:
                    pieces[record.seq] = pieces.get(record.seq, b"") + record.stdout
            elif message.HasField("end") and not everything:
                await acks.put(pb.ResultsClientMessage(ack=pb.ResultsAck(upto_seq=message.end.upto_seq)))
            elif message.HasField("committed"):
                committed = True
        await acks.put(None)
        assert committed, "the servicer did not commit the cursor"
        return [(seq, pieces[seq].decode()) for seq in sorted(pieces)]

    def call(self, method: Callable[[Any, Any], Awaitable[T]], request: Any) -> T:
        """A unary servicer method in process, e.g. ``h.call(h.servicer.GetTask, pb.TaskRef(...))``;
        a StratosError comes back typed, as the client raises it."""
        return self._run(method(request, _Context()))


def _commands(commands: Iterable[str] | str) -> list[str]:
    """The commands as the client sends them (a string splits at newlines and semicolons)."""
    return split_commands(commands)
