"""A scripted stand-in for stratosd, to test the client's side of the protocol.

It records every request and answers from canned data, so tests can check what the
client sends (chunking, headers, acks, cancels) without the real daemon. Run as a
script (``python fake_daemon.py --socket PATH``) it serves Hello until killed, which is
what the auto-start tests launch in place of ``stratosd run``.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc

from stratos.errors import ERROR_METADATA_KEY
from stratos_wire import PROTOCOL_VERSION
from stratos_wire import stratos_pb2 as pb
from stratos_wire import stratos_pb2_grpc as pb_grpc


@dataclass
class Submission:
    header: pb.SubmitHeader
    items: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    chunk_sizes: list[int] = field(default_factory=list)
    chunk_bytes: list[int] = field(default_factory=list)


class FakeStratos(pb_grpc.StratosServicer):
    """Answers from the attributes below; records requests in the lists."""

    def __init__(self) -> None:
        self.protocol_version = PROTOCOL_VERSION
        #: method name -> (error class name, status code, message) to fail with.
        self.fail: dict[str, tuple[str, grpc.StatusCode, str]] = {}
        self.jobs: dict[str, pb.JobInfo] = {}
        self.created: list[pb.CreateJobRequest] = []
        self.submissions: list[Submission] = []
        self.submit_reply = pb.SubmitReply(call_id=7, first_task_id=1, count=0)
        #: messages the Wait stream sends; None means "block until cancelled".
        self.wait_messages: list[pb.WaitProgress | None] = [
            pb.WaitProgress(done=True, total=0)
        ]
        self.waits: list[pb.WaitRequest] = []
        #: server messages of the Results stream; "ack" waits for the client's Ack, then
        #: sends Committed.
        self.results_script: list[pb.ResultsServerMessage | str] = []
        self.results_opens: list[pb.ResultsOpen] = []
        self.acks: list[int] = []
        self.status = pb.JobStatus()
        self.tasks: list[pb.TaskSummary] = []
        self.task_detail = pb.TaskDetail()
        self.task_story = pb.TaskStory()
        self.kills: list[pb.KillRequest] = []
        self.cancels: list[pb.CancelRequest] = []
        self.closed_streams: list[str] = []
        self.removed: list[str] = []
        self.lock = threading.Lock()

    def _check(self, method: str, context: grpc.ServicerContext) -> None:
        if method in self.fail:
            name, code, message = self.fail[method]
            context.set_trailing_metadata(((ERROR_METADATA_KEY, name),))
            context.abort(code, message)

    def Hello(self, request: pb.HelloRequest, context: grpc.ServicerContext) -> pb.HelloReply:
        self._check("Hello", context)
        return pb.HelloReply(
            protocol_version=self.protocol_version, daemon_version="fake", backends=["local"]
        )

    def CreateJob(self, request: pb.CreateJobRequest, context: grpc.ServicerContext) -> pb.JobInfo:
        self._check("CreateJob", context)
        self.created.append(request)
        job_id = request.job_id or f"job-{len(self.created)}"
        info = pb.JobInfo(job_id=job_id, spec=request.spec, state="active")
        self.jobs[job_id] = info
        return info

    def GetJob(self, request: pb.JobRef, context: grpc.ServicerContext) -> pb.JobInfo:
        self._check("GetJob", context)
        if request.job_id not in self.jobs:
            context.set_trailing_metadata(((ERROR_METADATA_KEY, "JobNotFound"),))
            context.abort(grpc.StatusCode.NOT_FOUND, f"no job {request.job_id!r}")
        return self.jobs[request.job_id]

    def ListJobs(self, request: pb.ListJobsRequest, context: grpc.ServicerContext
                 ) -> pb.ListJobsReply:
        return pb.ListJobsReply(jobs=[self.status])

    def Submit(self, request_iterator: Iterator[pb.SubmitChunk],
               context: grpc.ServicerContext) -> pb.SubmitReply:
        self._check("Submit", context)
        chunks = iter(request_iterator)
        first = next(chunks)
        submission = Submission(header=first.header)
        assert not first.items and not first.rows, "the first chunk carries only the header"
        for chunk in chunks:
            assert not chunk.HasField("header")
            submission.items += chunk.items
            submission.rows += [list(row.values) for row in chunk.rows]
            submission.chunk_sizes.append(len(chunk.items) + len(chunk.rows))
            submission.chunk_bytes.append(chunk.ByteSize())
        self.submissions.append(submission)
        return self.submit_reply

    def Wait(self, request: pb.WaitRequest, context: grpc.ServicerContext
             ) -> Iterator[pb.WaitProgress]:
        self._check("Wait", context)
        self.waits.append(request)
        for message in self.wait_messages:
            if message is None:
                while context.is_active():
                    time.sleep(0.01)
                return
            yield message

    def Results(self, request_iterator: Iterator[pb.ResultsClientMessage],
                context: grpc.ServicerContext) -> Iterator[pb.ResultsServerMessage]:
        requests = iter(request_iterator)
        opening = next(requests)
        self.results_opens.append(opening.open)
        self._check("Results", context)
        for step in self.results_script:
            if step == "ack":
                message = next(requests)
                self.acks.append(message.ack.upto_seq)
                yield pb.ResultsServerMessage(
                    committed=pb.ResultsCommitted(cursor=message.ack.upto_seq)
                )
            elif step == "break":
                context.abort(grpc.StatusCode.UNAVAILABLE, "connection lost")
            else:
                assert isinstance(step, pb.ResultsServerMessage)
                yield step
        for _ in requests:  # until the client half-closes
            pass

    def GetStatus(self, request: pb.JobRef, context: grpc.ServicerContext) -> pb.JobStatus:
        self._check("GetStatus", context)
        return self.status

    def ListTasks(self, request: pb.ListTasksRequest, context: grpc.ServicerContext
                  ) -> Iterator[pb.TaskPage]:
        tasks = [t for t in self.tasks if not request.state or t.status == request.state]
        for start in range(0, len(tasks), 2):
            yield pb.TaskPage(tasks=tasks[start:start + 2])

    def GetTask(self, request: pb.TaskRef, context: grpc.ServicerContext) -> pb.TaskDetail:
        self._check("GetTask", context)
        return self.task_detail

    def GetTaskStory(self, request: pb.TaskRef, context: grpc.ServicerContext) -> pb.TaskStory:
        self._check("GetTaskStory", context)
        return self.task_story

    def Kill(self, request: pb.KillRequest, context: grpc.ServicerContext) -> pb.KillReply:
        self.kills.append(request)
        return pb.KillReply(killed=len(request.task_ids) or 5)

    def Cancel(self, request: pb.CancelRequest, context: grpc.ServicerContext) -> pb.KillReply:
        self.cancels.append(request)
        return pb.KillReply(killed=3)

    def CloseStream(self, request: pb.JobRef, context: grpc.ServicerContext) -> pb.JobInfo:
        self.closed_streams.append(request.job_id)
        return pb.JobInfo(job_id=request.job_id)

    def Remove(self, request: pb.JobRef, context: grpc.ServicerContext) -> pb.RemoveReply:
        self.removed.append(request.job_id)
        return pb.RemoveReply(removed=True)

    def RemoveJobs(self, request: pb.RemoveJobsRequest, context: grpc.ServicerContext) -> pb.RemoveJobsReply:
        if not request.dry_run:
            self.removed.extend(request.job_ids)
        return pb.RemoveJobsReply(jobs=[pb.RemovedJob(job_id=name, tasks=2, results=2) for name in request.job_ids],
                                  dry_run=request.dry_run)


def serve(socket: str, servicer: Any = None) -> tuple[grpc.Server, FakeStratos]:
    """Start a fake daemon on a Unix socket; the caller stops the server."""
    fake = servicer or FakeStratos()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    pb_grpc.add_StratosServicer_to_server(fake, server)  # type: ignore[no-untyped-call]
    server.add_insecure_port("unix:" + socket)
    server.start()
    return server, fake


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    time.sleep(args.delay)
    print("fake stratosd serving", args.socket, flush=True)
    serve(args.socket)[0].wait_for_termination()
