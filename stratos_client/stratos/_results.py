"""Reading results over the Results stream: reassembling stdout and acknowledging.

The daemon moves a result cursor only when the client acknowledges what it received,
so ``consume`` acknowledges after it holds every record, and a stream that breaks
earlier loses nothing: the next call gets the same results again.

A stream that loses its daemon (a crash, a restart) is opened again after the connection
recovers and resumes from what was acknowledged: results already held (by sequence number)
are skipped, so each is returned exactly once whether or not the lost daemon had committed
the acknowledgement.
"""

from __future__ import annotations

import queue
from collections.abc import Iterable, Iterator, Sequence

from stratos_wire import stratos_pb2 as pb

from ._connection import MAX_ATTEMPTS, Connection, ConnectionLost
from .errors import StratosError
from .records import TaskResult

__all__ = ["ResultAssembler", "consume", "consume_stdout", "read", "read_stdout"]

_Requests = queue.Queue[pb.ResultsClientMessage | None]


class ResultAssembler:
    """Joins the pieces of each task's stdout: a record with ``more`` continues in the next."""

    def __init__(self) -> None:
        self._pieces: list[pb.ResultRecord] = []

    @property
    def incomplete(self) -> bool:
        """A task's stdout has started but its last piece has not arrived."""
        return bool(self._pieces)

    def feed(self, records: Iterable[pb.ResultRecord]) -> list[TaskResult]:
        """Take records in arrival order; return the results they complete.

        Args:
            records: the records of one ResultBatch (a task may span batches).

        Returns:
            The results whose last piece was among ``records``.
        """
        done = []
        for record in records:
            if not record.more and not self._pieces:
                done.append(_whole(record))  # the usual case: the whole result in one record
                continue
            self._pieces.append(record)
            if not record.more:
                done.append(_merge(self._pieces))
                self._pieces = []
        return done

    def feed_stdout(self, records: Sequence[pb.ResultRecord], after: int = 0) -> tuple[list[str], int]:
        """As ``feed``, but only each result's stdout, and only of results past sequence ``after``.

        What ``get_results()`` returns: no TaskResult is built, which for small results was
        most of the client's time.

        Args:
            records: the records of one ResultBatch, in sequence order (as the daemon sends them).
            after: results up to this sequence number are already held (a resumed stream).

        Returns:
            The stdout of the results past ``after`` whose last piece was among ``records``, and
            the sequence number of the last of them (``after`` if none).
        """
        if not self._pieces and records and records[0].seq > after and not any(r.more for r in records):
            # the usual case: whole results, all new
            return [r.stdout.decode("utf-8", errors="replace") for r in records], records[-1].seq
        done = [r for r in self.feed(records) if r.seq > after]
        return [r.stdout for r in done], done[-1].seq if done else after


def _whole(record: pb.ResultRecord) -> TaskResult:
    """A result that arrived in one record: what ``_merge([record])`` gives, without the joining."""
    return TaskResult(
        task_id=record.task_id,
        command=record.command,
        status=record.status,
        exit_code=record.exit_code if record.has_exit_code else None,
        signal=record.signal or None,
        host=record.host,
        duration=record.duration,
        stdout=record.stdout.decode("utf-8", errors="replace"),
        truncated=record.truncated,
        seq=record.seq,
        stdout_path=record.stdout_path or None,
        stderr_path=record.stderr_path or None,
        call_id=record.call_id,
        file=record.input_file or None,
        params=tuple(record.input_params) if record.input_params else None,
    )


def _merge(pieces: list[pb.ResultRecord]) -> TaskResult:
    first = pieces[0]

    def text(name: str) -> str:
        return next((str(getattr(p, name)) for p in pieces if getattr(p, name)), "")

    coded = next((p for p in pieces if p.has_exit_code), None)
    return TaskResult(
        task_id=first.task_id,
        command=text("command"),
        status=text("status"),
        exit_code=coded.exit_code if coded is not None else None,
        signal=next((p.signal for p in pieces if p.signal), None),
        host=text("host"),
        duration=max(p.duration for p in pieces),
        stdout=b"".join(p.stdout for p in pieces).decode("utf-8", errors="replace"),
        truncated=any(p.truncated for p in pieces),
        seq=first.seq,
        stdout_path=text("stdout_path") or None,
        stderr_path=text("stderr_path") or None,
        call_id=first.call_id,
        file=first.input_file or None,
        params=tuple(first.input_params) if first.input_params else None,
    )


def _requests(pending: _Requests) -> Iterator[pb.ResultsClientMessage]:
    """The client side of the stream: blocks until a message (or None, the end) is queued."""
    while True:
        message = pending.get()
        if message is None:
            return
        yield message


class _Held:
    """What one consume call holds so far, across the streams it opens: results, or only their
    stdout, and the sequence number of the last (each result is held once)."""

    def __init__(self, details: bool, stdout_only: bool) -> None:
        self.details, self.stdout_only = details, stdout_only
        self.results: list[TaskResult] = []
        self.texts: list[str] = []
        self.seq = 0

    def take(self, assembler: ResultAssembler, records: Sequence[pb.ResultRecord]) -> None:
        if self.stdout_only:
            texts, self.seq = assembler.feed_stdout(records, self.seq)
            self.texts += texts
            return
        results = [r for r in assembler.feed(records) if r.seq > self.seq]
        if results:
            self.results += results
            self.seq = results[-1].seq


def consume(
    conn: Connection, job_id: str, consumer: str = "", details: bool = False
) -> list[TaskResult]:
    """Every result past the cursor, then acknowledge them so the cursor moves.

    Args:
        conn: the daemon.
        job_id: the job.
        consumer: a named cursor; empty: the job's shared cursor.
        details: ask for command, status, host, ... with each result.

    Returns:
        The results, in sequence order.

    Raises:
        StratosError: the daemon broke the protocol or the stream (nothing was consumed).
        JobNotFound: the job does not exist.
    """
    return _consume(conn, job_id, consumer, _Held(details, stdout_only=False)).results


def consume_stdout(conn: Connection, job_id: str, consumer: str = "") -> list[str]:
    """As ``consume`` without details, but only each result's stdout: ``get_results()``.

    Raises:
        StratosError: the daemon broke the protocol or the stream (nothing was consumed).
        JobNotFound: the job does not exist.
    """
    return _consume(conn, job_id, consumer, _Held(False, stdout_only=True)).texts


def _consume(conn: Connection, job_id: str, consumer: str, held: _Held) -> _Held:
    for attempt in range(MAX_ATTEMPTS):
        generation = conn.generation
        try:
            if _consume_once(conn, job_id, consumer, held):
                return held
        except ConnectionLost:
            if attempt == MAX_ATTEMPTS - 1:
                raise
        conn.recover(job_id, generation)
    raise StratosError(
        "stratosd closed the results stream before committing the cursor; nothing was "
        "consumed, call get_results() again"
    )


def _consume_once(conn: Connection, job_id: str, consumer: str, held: _Held) -> bool:
    """One Results stream: adds to ``held`` the results past the last one it holds.

    Returns:
        Whether the daemon committed the cursor (False: it closed the stream without).
    """
    pending: _Requests = queue.Queue()
    pending.put(pb.ResultsClientMessage(
        open=pb.ResultsOpen(job_id=job_id, consumer=consumer, consume=True, details=held.details)
    ))
    assembler = ResultAssembler()
    committed = False
    responses = conn.results(_requests(pending), job_id)
    try:
        for message in responses:
            if message.HasField("batch"):
                if committed:
                    raise StratosError("stratosd sent results after committing the cursor")
                held.take(assembler, message.batch.records)
            elif message.HasField("end"):
                if assembler.incomplete:
                    raise StratosError(
                        "stratosd ended the results in the middle of a task's output; "
                        "nothing was consumed, call get_results() again"
                    )
                pending.put(pb.ResultsClientMessage(ack=pb.ResultsAck(upto_seq=message.end.upto_seq)))
            elif message.HasField("committed"):
                committed = True
                pending.put(None)  # half-close; the daemon then ends the call
    finally:
        pending.put(None)
        responses.close()
    if not committed:
        raise StratosError(
            "stratosd closed the results stream before committing the cursor; nothing was "
            "consumed, call get_results() again"
        )
    return committed


def read(
    conn: Connection,
    job_id: str,
    from_seq: int = 0,
    follow: bool = False,
    details: bool = True,
) -> Iterator[TaskResult]:
    """Results from ``from_seq`` on, without moving any cursor.

    Args:
        conn: the daemon.
        job_id: the job.
        from_seq: the first sequence number to read.
        follow: keep waiting for new results instead of stopping at the end.
        details: ask for command, status, host, ... with each result.

    Yields:
        Results as they complete (after a lost daemon, from the one after the last yielded).

    Raises:
        JobNotFound: the job does not exist.
    """
    last = from_seq - 1
    for attempt in range(MAX_ATTEMPTS):
        generation = conn.generation
        try:
            for result in _read_once(conn, job_id, last + 1, follow, details):
                if result.seq > last:
                    last = result.seq
                    yield result
            return
        except ConnectionLost:
            if attempt == MAX_ATTEMPTS - 1:
                raise
        conn.recover(job_id, generation)


def read_stdout(conn: Connection, job_id: str) -> list[str]:
    """Every result's stdout so far, in sequence order, without moving any cursor:
    ``get_results(all=True)``, with no TaskResult built.

    Raises:
        JobNotFound: the job does not exist.
    """
    texts: list[str] = []
    last = 0
    for attempt in range(MAX_ATTEMPTS):
        generation = conn.generation
        assembler = ResultAssembler()
        try:
            for records in _read_batches(conn, job_id, last + 1, False, False):
                got, last = assembler.feed_stdout(records, last)
                texts += got
            return texts
        except ConnectionLost:
            if attempt == MAX_ATTEMPTS - 1:
                raise
        conn.recover(job_id, generation)
    return texts


def _read_once(conn: Connection, job_id: str, from_seq: int, follow: bool, details: bool) -> Iterator[TaskResult]:
    assembler = ResultAssembler()
    for records in _read_batches(conn, job_id, from_seq, follow, details):
        yield from assembler.feed(records)


def _read_batches(
    conn: Connection, job_id: str, from_seq: int, follow: bool, details: bool
) -> Iterator[Sequence[pb.ResultRecord]]:
    """One Results stream that moves no cursor: the records of each batch as it arrives."""
    pending: _Requests = queue.Queue()
    pending.put(pb.ResultsClientMessage(
        open=pb.ResultsOpen(
            job_id=job_id, consume=False, from_seq=from_seq, details=details, follow=follow
        )
    ))
    responses = conn.results(_requests(pending), job_id)
    try:
        for message in responses:
            if message.HasField("batch"):
                yield message.batch.records
            elif message.HasField("end") and not follow:
                pending.put(None)
    finally:
        pending.put(None)
        responses.close()
