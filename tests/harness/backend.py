"""A backend that runs nothing: it records what the core asks of it and reports what the test scripts.

It stands in for the local backend (hosts that stand) and, as :class:`RecordingOfferBackend`, for
Mesos (offers that come and go), with the same reports those backends send: a launch is answered
by TaskStarted then TaskEnded (or TaskLost); a kill of a live attempt by TaskEnded("killed",
SIGTERM); ``close()`` (daemon stop) by TaskEnded("daemon-stop") for every live attempt, as
LocalBackend does. What an attempt does is scripted per command (:meth:`RecordingBackend.script`)
or read from the command by :func:`fake_shell`; an attempt with neither stays running until the
test ends it (:meth:`finish`, :meth:`lose`, :meth:`lose_host`).

Kept small on purpose: it is the one place the harness tier knows the backend interface.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from stratos_executor.spec import Relaunch, StopReason, TaskRecord, TaskSpec
from stratosd.core.actions import PoolGrant
from stratosd.core.events import Event, HostAdded, HostRemoved, TaskEnded, TaskLost, TaskStarted
from stratosd.core.model import Offer
from stratosd.core.types import AttemptRef, PoolKind


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt does once launched: exit (or die of a signal) with this output, or be lost."""

    exit_code: int | None = 0
    signal: int | None = None
    stdout: str = ""
    stderr: str = ""
    #: a StopReason word ("timeout", "relaunch", ...) when the executor stopped it.
    reason: str = ""
    relaunch: Relaunch = Relaunch.NOT_ASKED
    replacements: tuple[str, ...] = ()
    relaunch_error: str = ""
    #: not "" : the executor reports the attempt lost with this reason (no TaskEnded).
    lost: str = ""


#: an attempt that keeps running until the test ends it.
RUNS = None


def fake_shell(command: str) -> Outcome | None:
    """The outcome of the few shell commands the moved tests use, without a shell.

    ``echo WORDS`` prints them, ``true``/``false``/``exit N`` exit so, ``kill -9 $$`` dies of
    SIGKILL, ``sleep N`` runs until the test ends it. Anything else: None (runs until ended).
    """
    if command.startswith("echo "):
        return Outcome(stdout=" ".join(command[5:].split()) + "\n")
    if command == "true":
        return Outcome()
    if command == "false":
        return Outcome(exit_code=1)
    if m := re.fullmatch(r"exit (\d+)", command):
        return Outcome(exit_code=int(m[1]))
    if command == "kill -9 $$":
        return Outcome(exit_code=None, signal=signal.SIGKILL)
    return RUNS


@dataclass(frozen=True, slots=True)
class Launched:
    job_key: int
    host_id: str
    spec: TaskSpec

    @property
    def ref(self) -> AttemptRef:
        return AttemptRef(self.job_key, self.spec.task_id, self.spec.attempt)


@dataclass(frozen=True, slots=True)
class Killed:
    ref: AttemptRef
    host_hint: str


@dataclass(frozen=True, slots=True)
class Closed:
    pass


@dataclass(frozen=True, slots=True)
class OfferCall:
    """accept / decline / revive / suppress / release, with its arguments (offer backends)."""

    name: str
    pool: str
    detail: tuple[object, ...] = ()


Recorded = Launched | Killed | Closed | OfferCall


@dataclass(slots=True)
class _Live:
    host_id: str
    spec: TaskSpec
    started: float


@dataclass
class RecordingBackend:
    """Standing hosts (the local backend's interface of stratosd/backends/base.py)."""

    emit: Callable[[Event], None]
    clock: Callable[[], float]
    #: host id -> (cpus, mem MB), announced by initial_events().
    hosts: dict[str, tuple[float, float]] = field(default_factory=lambda: {"h1": (2.0, 4096.0)})
    pool: PoolKind = PoolKind.LOCAL
    #: every call the core's actions made, in order.
    actions: list[Recorded] = field(default_factory=list)
    #: answer launches on their own (fake_shell, scripts); False: every attempt runs until ended.
    auto: bool = True
    live: dict[AttemptRef, _Live] = field(default_factory=dict)
    _scripts: dict[str, list[Outcome | None]] = field(default_factory=dict)
    _pids: int = 1000

    # -- the test's side ---------------------------------------------------------------------------

    def script(self, command: str, *outcomes: Outcome | None) -> None:
        """The next attempts of ``command`` do these, in order (None: runs until ended); then fake_shell."""
        self._scripts.setdefault(command, []).extend(outcomes)

    def adopt_scripts(self, before: RecordingBackend) -> None:
        """Take over the outcomes still scripted on the backend a restart replaced."""
        self._scripts = before._scripts
        self.auto = before.auto

    def launched(self, job_key: int | None = None) -> list[Launched]:
        return [a for a in self.actions if isinstance(a, Launched) and job_key in (None, a.job_key)]

    def killed(self) -> list[Killed]:
        return [a for a in self.actions if isinstance(a, Killed)]

    def running(self, command: str | None = None) -> list[AttemptRef]:
        return [ref for ref, live in self.live.items() if command in (None, live.spec.command)]

    def finish(self, ref: AttemptRef, outcome: Outcome = Outcome()) -> None:
        """The attempt ends (or is lost) as ``outcome`` says."""
        live = self.live.pop(ref)
        if outcome.lost:
            self.emit(TaskLost(*ref, outcome.lost, self.clock()))
            return
        record = TaskRecord(
            pid=0, started=live.started, ended=self.clock(), exit_code=outcome.exit_code, signal=outcome.signal,
            reason=outcome.reason, stdout=outcome.stdout.encode(), stderr_tail=outcome.stderr.encode(),
            relaunch=outcome.relaunch, replacements=list(outcome.replacements),
            relaunch_error=outcome.relaunch_error)
        self.emit(TaskEnded(*ref, record))

    def lose(self, ref: AttemptRef, reason: str = "executor lost") -> None:
        self.finish(ref, Outcome(lost=reason))

    def lose_host(self, host_id: str, reason: str = "host lost") -> None:
        """The host leaves: the core decides what its attempts become; they are gone from here."""
        for ref in [r for r, live in self.live.items() if live.host_id == host_id]:
            del self.live[ref]
        self.emit(HostRemoved(host_id, reason, self.clock()))

    # -- the runtime's side (Backend) ----------------------------------------------------------------

    def initial_events(self) -> list[Event]:
        return [HostAdded(host, self.pool, cpus, mem) for host, (cpus, mem) in self.hosts.items()]

    def launch(self, job_key: int, host_id: str, spec: TaskSpec) -> None:
        self.actions.append(Launched(job_key, host_id, spec))
        self._start(job_key, host_id, spec)

    def _start(self, job_key: int, host_id: str, spec: TaskSpec) -> None:
        ref = AttemptRef(job_key, spec.task_id, spec.attempt)
        self._pids += 1
        now = self.clock()
        self.live[ref] = _Live(host_id, spec, now)
        self.emit(TaskStarted(*ref, self._pids, now))
        if not self.auto:
            return
        queued = self._scripts.get(spec.command)
        outcome = queued.pop(0) if queued else fake_shell(spec.command)
        if outcome is not None:
            self.finish(ref, outcome)

    def kill(self, job_key: int, task_id: int, attempt: int, host_hint: str = "") -> None:
        ref = AttemptRef(job_key, task_id, attempt)
        self.actions.append(Killed(ref, host_hint))
        if ref in self.live:  # as a supervised process: SIGTERM, reported as killed
            self.finish(ref, Outcome(exit_code=None, signal=signal.SIGTERM, reason=StopReason.KILLED))

    def live_attempts(self) -> dict[AttemptRef, str]:
        return {ref: live.host_id for ref, live in self.live.items()}

    async def close(self) -> None:
        self.actions.append(Closed())
        for ref in list(self.live):
            self.finish(ref, Outcome(exit_code=None, signal=signal.SIGTERM, reason=StopReason.DAEMON_STOP))


@dataclass
class RecordingOfferBackend(RecordingBackend):
    """Offers that come and go (the Mesos backend's interface): the test sends OffersReceived."""

    hosts: dict[str, tuple[float, float]] = field(default_factory=dict)
    pool: PoolKind = PoolKind.MESOS

    def offer_calls(self, name: str | None = None) -> list[OfferCall]:
        return [a for a in self.actions if isinstance(a, OfferCall) and name in (None, a.name)]

    def accept(self, pool: str, offer: Offer, launches: list[tuple[int, TaskSpec, float]]) -> None:
        self.actions.append(OfferCall("accept", pool, (offer.offer_id, len(launches))))
        for job_key, spec, _cpus in launches:
            self.actions.append(Launched(job_key, offer.agent_id, spec))
            self._start(job_key, offer.agent_id, spec)

    def launch_executor(self, pool: str, offer: Offer, executor_id: str, cpus: float, mem: float,
                        disk: float) -> None:
        """Coarse mode: recorded only; the test registers the executor (HostAdded) when it wants it up."""
        self.actions.append(OfferCall("executor", pool, (offer.offer_id, executor_id, cpus, mem, disk)))

    def grow_executor(self, pool: str, offer: Offer, executor_id: str, room_id: str, cpus: float, mem: float,
                      disk: float) -> None:
        self.actions.append(OfferCall("grow", pool, (offer.offer_id, executor_id, room_id, cpus, mem, disk)))

    def shrink_executor(self, pool: str, executor_id: str, room_id: str) -> None:
        self.actions.append(OfferCall("shrink", pool, (executor_id, room_id)))

    def decline(self, pool: str, offer_ids: tuple[str, ...], refuse_seconds: float) -> None:
        self.actions.append(OfferCall("decline", pool, (offer_ids, refuse_seconds)))

    def revive(self, pool: str, grant: PoolGrant | None = None) -> None:
        self.actions.append(OfferCall("revive", pool))

    def suppress(self, pool: str) -> None:
        self.actions.append(OfferCall("suppress", pool))

    def release(self, pool: str, now: bool = False) -> None:
        self.actions.append(OfferCall("release", pool, (now,)))
