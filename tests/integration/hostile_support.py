"""Support for test_hostile: one real daemon with a control job, the checks, the strategies.

Everything the module writes lives under one directory it owns (``Hostile.owned``): the
daemon's socket and state, the log directories of the disk-output jobs and the files the
glob submissions match. Paths in the strategies name it ``@OWNED@``; ``Hostile.resolve``
puts the real directory in.

Safety: ``Remove`` deletes ``log_directory/<job_id>`` wholesale, and the generated specs may
put a log directory anywhere (``/`` included). So the properties remove only names that can
hold no job (``absent_names``) or the jobs they made themselves under ``owned``, and they
submit commands only to jobs whose tasks never start (a ``pilots`` job without pilots) or to
their own jobs with fixed commands.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import grpc
from hypothesis import event
from hypothesis import strategies as st

import stratos.errors as errors
from stratos import Settings
from stratos.errors import ERROR_METADATA_KEY, BackendUnavailable, InvalidJobSpec, StratosError
from stratos.settings import backend_of
from stratos_wire import PROTOCOL_VERSION
from stratos_wire import stratos_pb2 as pb
from tests.daemon import Daemon
from tests.rpc import ExecutorHubApi, StratosApi, hub_stub, stratos_stub

#: seconds any single RPC of the properties may take.
TIMEOUT = 10.0
OWNED = "@OWNED@"

# -- what a refusal must look like ---------------------------------------------------------------

#: the status codes of typed StratOS refusals; UNAVAILABLE only as BackendUnavailable.
ALLOWED_CODES = frozenset({"INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS", "FAILED_PRECONDITION", "UNAVAILABLE"})
ERROR_CLASSES: dict[str, type[StratosError]] = {name: getattr(errors, name) for name in errors.__all__}
_SAFE_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def short(value: object, limit: int = 240) -> str:
    """``repr(value)``, cut to ``limit`` characters (generated values can be a megabyte)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def is_safe_job_id(job_id: str) -> bool:
    return _SAFE_JOB_ID.fullmatch(job_id) is not None and ".." not in job_id


def error_class(err: grpc.Call) -> str:
    """The StratosError class the daemon named in the ``stratos-error`` trailer, or ""."""
    for key, value in err.trailing_metadata() or ():
        if key == ERROR_METADATA_KEY:
            return value if isinstance(value, str) else value.decode()
    return ""


def check_refusal(err: grpc.RpcError, what: str) -> str:
    """``err`` is a typed refusal: an allowed code whose class rides in the trailers. Returns the class name."""
    assert isinstance(err, grpc.Call), f"{what}: {err!r} is not a call outcome"
    code, details, name = err.code(), err.details() or "", error_class(err)
    assert code.name in ALLOWED_CODES, f"{what}: status {code.name} ({name or 'no stratos-error'}): {short(details)}"
    cls = ERROR_CLASSES.get(name)
    assert cls is not None and cls is not StratosError, (
        f"{what}: {code.name} without a typed stratos-error trailer ({name!r}): {short(details)}"
    )
    assert cls.status == code.name, f"{what}: {name} travelled as {code.name}, not {cls.status}"
    if code.name == "UNAVAILABLE":
        assert cls is BackendUnavailable, f"{what}: UNAVAILABLE as {name}: {short(details)}"
    assert details.strip(), f"{what}: {name} with an empty message"
    return name


@dataclass
class Outcome:
    reply: Any = None
    #: the StratosError class name of a refusal; "" on success.
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def attempt(what: str, call: Callable[[], Any]) -> Outcome:
    """Run one RPC (a streaming one through ``list``): its reply, or its checked refusal.

    The outcome is a hypothesis event: ``--hypothesis-show-statistics`` shows the mix.
    """
    try:
        outcome = Outcome(reply=call())
    except grpc.RpcError as err:
        outcome = Outcome(error=check_refusal(err, what))
    event(f"{what.partition('(')[0]}: {outcome.error or 'accepted'}")
    return outcome


# -- the files the daemon may touch ----------------------------------------------------------------


def exists(path: str) -> bool:
    try:
        return os.path.lexists(path)
    except (ValueError, OSError):
        return False


def tree(root: Path, skip: Iterable[Path] = ()) -> set[str]:
    """Every path under ``root`` (relative), without the ``skip`` subtrees."""
    skipped = {str(p) for p in skip}
    found: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skipped]
        for name in dirnames + filenames:
            found.add(os.path.relpath(os.path.join(dirpath, name), root))
    return found


@dataclass
class Watch:
    """What existed before a call, to show afterwards that the call created nothing."""

    paths: dict[str, bool]
    owned: set[str]


# -- the daemon and its control job ----------------------------------------------------------------


@dataclass(repr=False)
class Hostile:
    daemon: Daemon
    owned: Path
    channel: grpc.Channel
    stub: StratosApi
    hub: ExecutorHubApi
    #: a local job with finished tasks and results that no property may change.
    control: str = ""
    #: a pilots job without pilots: submissions are accepted and expanded, their tasks never start.
    sink: str = ""
    #: a pilots job with one pending task that nothing kills, for Wait streams that must stay open.
    waiter: str = ""
    #: a pilots job for the ExecutorHub property (its token lets a "pilot" register and report).
    hub_job: str = ""
    control_view: tuple[Any, ...] = ()
    protected: frozenset[str] = frozenset()
    skip: list[Path] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Hostile(socket={self.daemon.socket})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis prints examples with this
        printer.text(repr(self))

    @classmethod
    def start(cls) -> Hostile:
        owned = Path(tempfile.mkdtemp(prefix="hx-", dir="/tmp"))
        for sub in ("d", "logs", "files/sub", "work", "config"):
            (owned / sub).mkdir(parents=True)
        for name in ("a.txt", "b.dat", "sub/c.txt", "with space.txt", "-rf", "é.txt", "semi;colon.txt"):
            (owned / "files" / name).write_text(name)
        daemon = Daemon(root=owned / "d")
        try:
            daemon.start()
        except BaseException:
            shutil.rmtree(owned, ignore_errors=True)
            raise
        channel = grpc.insecure_channel(f"unix:{daemon.socket}")
        self = cls(daemon, owned, channel, stratos_stub(channel), hub_stub(channel))
        try:
            self._make_jobs()
        except BaseException:
            self.close()
            raise
        return self

    def _make_jobs(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.control, self.sink = f"hx-control-{tag}", f"hx-sink-{tag}"
        self.waiter, self.hub_job = f"hx-waiter-{tag}", f"hx-hub-{tag}"
        self.protected = frozenset({self.control, self.sink, self.waiter, self.hub_job})
        local = Settings().to_proto(cwd=str(self.owned))
        pilots = Settings(master="pilots").to_proto(cwd=str(self.owned))
        self.stub.CreateJob(pb.CreateJobRequest(job_id=self.control, spec=local), timeout=TIMEOUT)
        self.submit(self.control, pb.PLAIN, pb.BATCH, items=["echo control-0", "printf 'two\\nlines'"])
        self.submit(self.control, pb.PLAIN, pb.STREAM, items=["echo control-2; echo oops >&2; exit 3"])
        for page in self.stub.Wait(pb.WaitRequest(job_id=self.control), timeout=60):
            if page.done:
                break
        for job in (self.sink, self.waiter, self.hub_job):
            self.stub.CreateJob(pb.CreateJobRequest(job_id=job, spec=pilots), timeout=TIMEOUT)
        self.submit(self.sink, pb.PLAIN, pb.STREAM, items=["echo sink"])
        self.submit(self.waiter, pb.PLAIN, pb.STREAM, items=["echo never runs"])
        self.submit(self.hub_job, pb.PLAIN, pb.STREAM, items=["echo hub-0", "echo hub-1", "echo hub-2"])
        self.control_view = self.view()
        status = self.control_view[0]
        assert status[1] == "finished" and status[2] == 3 and status[4] >= 2, status  # the control is what we think
        self.skip = [self.daemon.state_dir]  # the journal and sandboxes change on their own

    def close(self) -> None:
        self.channel.close()
        self.daemon.cleanup()
        shutil.rmtree(self.owned, ignore_errors=True)

    def resolve(self, value: str) -> str:
        return value.replace(OWNED, str(self.owned))

    def submit(self, job: str, kind: pb.SubmitKind, mode: pb.SubmitMode, template: str = "", items: Iterable[str] = (),
               rows: Iterable[Iterable[str]] = (), cwd: str | None = None) -> pb.SubmitReply:
        header = pb.SubmitHeader(job_id=job, kind=kind, mode=mode, template=template, cwd=cwd or str(self.owned))
        chunks = [pb.SubmitChunk(header=header), pb.SubmitChunk(items=list(items),
                                                                rows=[pb.ParamRow(values=list(r)) for r in rows])]
        return self.stub.Submit(iter(chunks), timeout=TIMEOUT)

    # -- the control job ------------------------------------------------------------------------

    def status_key(self, job: str | None = None) -> tuple[Any, ...]:
        s = self.stub.GetStatus(pb.JobRef(job_id=job or self.control), timeout=TIMEOUT)
        counts = tuple(getattr(s.counts, f.name) for f in pb.StatusCounts.DESCRIPTOR.fields)
        return (s.job_id, s.state, s.total, counts, s.results_available, s.cursor, s.finished_at,
                s.stream_opened, s.stream_closed, tuple(s.warnings))

    def tasks(self, job: str | None = None) -> tuple[tuple[Any, ...], ...]:
        pages = self.stub.ListTasks(pb.ListTasksRequest(job_id=job or self.control), timeout=TIMEOUT)
        return tuple((t.task_id, t.status, t.command, t.attempts, t.has_exit_code, t.exit_code)
                     for page in pages for t in page.tasks)

    def results(self, job: str | None = None, from_seq: int = 0) -> tuple[tuple[Any, ...], ...]:
        opened = pb.ResultsOpen(job_id=job or self.control, consume=False, from_seq=from_seq, details=True)
        messages = self.stub.Results(iter([pb.ResultsClientMessage(open=opened)]), timeout=TIMEOUT)
        return tuple((r.seq, r.task_id, r.stdout, r.more, r.command, r.status)
                     for m in messages if m.HasField("batch") for r in m.batch.records)

    def view(self) -> tuple[Any, ...]:
        return (self.status_key(), self.tasks(), self.results())

    def assert_serves(self) -> None:
        """The daemon lives, answers Hello, and the control job's status is unchanged."""
        assert self.daemon.proc is not None and self.daemon.proc.poll() is None, "stratosd died:\n" + self.daemon.log()
        hello = self.stub.Hello(pb.HelloRequest(protocol_version=PROTOCOL_VERSION), timeout=TIMEOUT)
        assert hello.pid == self.daemon.proc.pid
        assert self.status_key() == self.control_view[0], "the control job's status changed"

    def assert_control_intact(self) -> None:
        self.assert_serves()
        assert self.view() == self.control_view, "the control job's tasks or results changed"

    # -- files ----------------------------------------------------------------------------------

    def watch(self, *names: str, bases: Iterable[str] = ()) -> Watch:
        """Note which of the places ``names`` could reach exist now, and everything under ``owned``."""
        roots = [str(self.daemon.state_dir), str(self.daemon.state_dir / "sandboxes"), str(self.daemon.root),
                 str(self.owned), str(self.owned / "logs"), *bases]
        paths = {}
        for name in names:
            for root in roots:
                try:
                    path = os.path.normpath(os.path.join(root, name))
                except ValueError:
                    continue
                paths[path] = exists(path)
        return Watch(paths, tree(self.owned, self.skip))

    def assert_untouched(self, before: Watch, what: str) -> None:
        """No place a name could reach appeared, and nothing under ``owned`` appeared or went."""
        created = [p for p, existed in before.paths.items() if not existed and exists(p)]
        assert not created, f"{what} created {short(created)}"
        now = tree(self.owned, self.skip)
        assert now == before.owned, f"{what} changed {short(sorted(now ^ before.owned))} under {self.owned}"


# -- strategies ----------------------------------------------------------------------------------

#: any code point a protobuf string can carry (lone surrogates cannot be UTF-8 encoded).
CHARS = st.characters(exclude_categories=["Cs"])

TRICKY: list[str] = [
    "", ".", "..", "../", "../..", "../../etc/passwd", "/", "/etc", "/tmp", "//", "a/b", "a/../../b", "./x", "x/.",
    "x/", "~", "~root/x", "%2e%2e%2f", "..\\..\\x", "\\", " ", "\t", "\n", "\r\n", "\0", "x\0y", "\0/..", "\x7f",
    "\x1b[2J", "\u202e", "\ufeff", "\u2028", "CON", "nul", "." * 300, "é", "ﬁ", "\U0001d518", "x" * 128, "x" * 129,
    "-x", "_x", "x..y", "x.", "$(id)", "`id`", "%s%n", "%c%", "%f%", "'", '"', "*", "?", "[", "hdfs://x/*",
]
PIECES = ["../", "..", "/", "\0", ".", "x", "é", "\n", "~", "%", "\\", "%c%", "*", " "]


def hostile_text(max_size: int = 300) -> st.SearchStrategy[str]:
    """Strings that make trouble: any code points, traversal pieces, controls, long runs.

    Bounded so that an error message echoing one stays under gRPC's 8 KB trailer limit;
    ``huge_text`` is for the megabyte ones.
    """
    return st.one_of(
        st.text(CHARS, max_size=max_size),
        st.sampled_from([t for t in TRICKY if len(t) <= max_size]),
        st.lists(st.sampled_from(PIECES), max_size=min(12, max_size // 3)).map("".join),
        st.tuples(st.sampled_from(["../", "\0", "é", "x/", "\u202e", "a"]), st.integers(1, max(1, max_size // 4)))
        .map(lambda pair: pair[0] * pair[1]),
    )


def huge_text() -> st.SearchStrategy[str]:
    """10 KB to 1 MB (UTF-8) of one repeated piece."""
    def repeated(piece: str) -> st.SearchStrategy[str]:
        size = len(piece.encode())
        return st.integers(10_000 // size + 1, 1_000_000 // size).map(lambda n: piece * n)

    return st.sampled_from(["a", "../", "\0", "é", "\U0001d518", "x/", "%c%"]).flatmap(repeated)


safe_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,30}", fullmatch=True).filter(lambda s: ".." not in s)
#: job names the daemon may or may not know (safe ones may have been created by another property).
job_names = st.one_of(hostile_text(), safe_ids)
#: names no job can have: unsafe ones, or safe ones with a prefix no property creates.
absent_names = st.one_of(hostile_text().filter(lambda s: not is_safe_job_id(s)), safe_ids.map("hx-absent-{}".format))

SPECIAL_FLOATS = [0.0, -0.0, 5e-324, -5e-324, 1e-300, 1e300, 1.7976931348623157e308, math.inf, -math.inf, math.nan,
                  1.0, 256.0, -1.0]
any_float = st.one_of(st.floats(), st.sampled_from(SPECIAL_FLOATS))
uint32 = st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 2, 3, 2**31, 2**32 - 1]))
int64 = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([-(2**63), -1, 0, 1, 2, 3, 4, 2**31, 2**63 - 1]))
#: a SubmitKind / SubmitMode value: the known ones and unknown ones (proto3 enums are open).
E = TypeVar("E", bound=int)


def open_enum(enum: type[E], value: int) -> E:
    """``value`` as an ``enum`` field's value: proto3 enums are open, so any int32 travels, though the
    generated stubs admit only the named values."""
    return cast(E, value)


enum_value = st.one_of(st.sampled_from([0, 1, 2, 3]), st.integers(-(2**31), 2**31 - 1))


def _not_mesos(master: str) -> bool:
    try:
        return backend_of(master) != "mesos"
    except InvalidJobSpec:
        return True


#: masters that never make the daemon contact a Mesos master or ZooKeeper.
offline_masters = st.one_of(
    st.sampled_from(["", "local", "pilots", "slurm", "slurm://", "slurm://p", "slurm://../x", "ftp://x", "zk://",
                     "http://", "https://", "local\0", "LOCAL", " local", "pilots/..", "local:", ":5050"]),
    hostile_text(60),
).filter(_not_mesos)

_label = st.text(alphabet="abcXYZ019_-", max_size=70)  # empty and over-long (> 63) labels included
#: "HOST:PORT" masters whose host no resolver knows (`.invalid`, RFC 6761), some with empty or long labels.
mesos_masters = st.builds(
    lambda prefix, labels, port, suffix: f"{prefix}{'.'.join(labels)}.invalid:{port}{suffix}",
    st.sampled_from(["", "http://", "https://"]),
    st.lists(_label, min_size=1, max_size=4),
    st.integers(0, 10**10),
    st.sampled_from(["", "/", "\n"]),
)

#: each JobSpec field's hostile values; a generated spec changes a few fields of a good one.
SPEC_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "master": offline_masters,
    "role": hostile_text(60),
    "threads_per_task": any_float,
    "mem_per_task": any_float,
    "disk_per_task": any_float,
    "update_interval": any_float,
    "task_timeout": any_float,
    "locality_wait": any_float,
    "has_locality_wait": st.booleans(),
    "timeout_retries": uint32,
    "max_retries": uint32,
    "output": st.one_of(st.sampled_from(["", "scheduler", "disk", "mesos", "none", "Disk", "disk\0", "stdout"]),
                        hostile_text(60)),
    "log_directory": st.one_of(
        st.sampled_from(["", "logs", ".", "..", "/", f"{OWNED}/logs", f"{OWNED}/logs/../../escape",
                         f"{OWNED}/logs/a\0b", f"{OWNED}/logs/" + "x" * 300, "/nonexistent/deep", "~", "~/x", "/./"]),
        hostile_text(),
    ),
    "monitor": st.one_of(st.sampled_from(["", "/bin/true", "/etc/passwd", "/nonexistent", "true", "/bin/true\0",
                                          OWNED, "../bin/true"]), hostile_text(60)),
    "relauncher": st.one_of(st.sampled_from(["", "/bin/true", "/etc/passwd", "/bin/true\0"]), hostile_text(60)),
    "hdfs": st.one_of(st.sampled_from(["", "http://127.0.0.1:9", "ftp://x", "x y", "\0"]), hostile_text(60)),
    "hdfs_mount": st.one_of(st.sampled_from(["", "/dfs", "dfs", "/dfs/../..", "/\0", "//"]), hostile_text(60)),
    "after": st.one_of(st.sampled_from(["", "no-such-job", "\0", "../x", "x" * 300]), hostile_text(60)),
}


@st.composite
def spec_fields(draw: st.DrawFn) -> dict[str, Any]:
    """A good spec (Settings' defaults, disk logs under ``owned``) with 0 to 3 fields made hostile."""
    fields: dict[str, Any] = {
        "master": "local", "role": "*", "threads_per_task": 1.0, "mem_per_task": 256.0, "disk_per_task": 256.0,
        "update_interval": 10.0, "output": "scheduler", "log_directory": f"{OWNED}/logs", "max_retries": 3,
        "has_locality_wait": True, "locality_wait": 3.0, "hdfs_mount": "/dfs",
    }
    for name in draw(st.lists(st.sampled_from(sorted(SPEC_FIELDS)), max_size=3, unique=True)):
        fields[name] = draw(SPEC_FIELDS[name])
    return fields


def build_spec(hostile: Hostile, fields: dict[str, Any]) -> pb.JobSpec:
    resolved: dict[str, Any] = {k: hostile.resolve(v) if isinstance(v, str) else v for k, v in fields.items()}
    return pb.JobSpec(**resolved)


def fill_template(template: str, rows: list[list[str]]) -> list[str] | None:
    """The commands a TEMPLATE submission makes, or None when it must be refused."""
    pieces = template.split("%c%")
    if len(pieces) == 1 or not rows or any(len(row) != len(pieces) - 1 for row in rows):
        return None
    out = []
    for row in rows:
        parts = [pieces[0]]
        for value, piece in zip(row, pieces[1:], strict=True):
            parts += [value, piece]
        out.append("".join(parts))
    return out
