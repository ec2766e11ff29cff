"""Typed views of the generated gRPC stubs, so tests that call the daemon directly are type-checked.

grpcio-tools writes the stub classes without annotations (every call would be Any); these
protocols name each RPC's request and reply types once, and tests call the untyped generated code
through the functions below (tests/client/fake_daemon.py, also run as a script, registers its own).
tests/test_repository.py checks the protocols against the proto.
"""

from __future__ import annotations

from typing import Protocol, cast

import grpc

from stratos_wire import stratos_pb2 as pb
from stratos_wire import stratos_pb2_grpc as pb_grpc


class StratosApi(Protocol):
    """The `Stratos` service as the client side sees it."""

    Hello: grpc.UnaryUnaryMultiCallable[pb.HelloRequest, pb.HelloReply]
    CreateJob: grpc.UnaryUnaryMultiCallable[pb.CreateJobRequest, pb.JobInfo]
    GetJob: grpc.UnaryUnaryMultiCallable[pb.JobRef, pb.JobInfo]
    ListJobs: grpc.UnaryUnaryMultiCallable[pb.ListJobsRequest, pb.ListJobsReply]
    Submit: grpc.StreamUnaryMultiCallable[pb.SubmitChunk, pb.SubmitReply]
    Wait: grpc.UnaryStreamMultiCallable[pb.WaitRequest, pb.WaitProgress]
    Results: grpc.StreamStreamMultiCallable[pb.ResultsClientMessage, pb.ResultsServerMessage]
    GetStatus: grpc.UnaryUnaryMultiCallable[pb.JobRef, pb.JobStatus]
    ListTasks: grpc.UnaryStreamMultiCallable[pb.ListTasksRequest, pb.TaskPage]
    GetTask: grpc.UnaryUnaryMultiCallable[pb.TaskRef, pb.TaskDetail]
    Kill: grpc.UnaryUnaryMultiCallable[pb.KillRequest, pb.KillReply]
    Retry: grpc.UnaryUnaryMultiCallable[pb.RetryRequest, pb.RetryReply]
    Cancel: grpc.UnaryUnaryMultiCallable[pb.CancelRequest, pb.KillReply]
    CloseStream: grpc.UnaryUnaryMultiCallable[pb.JobRef, pb.JobInfo]
    CloseJob: grpc.UnaryUnaryMultiCallable[pb.JobRef, pb.JobInfo]
    Remove: grpc.UnaryUnaryMultiCallable[pb.JobRef, pb.RemoveReply]
    Shutdown: grpc.UnaryUnaryMultiCallable[pb.ShutdownRequest, pb.ShutdownReply]
    GetJobToken: grpc.UnaryUnaryMultiCallable[pb.JobRef, pb.JobToken]
    GetPoolCredential: grpc.UnaryUnaryMultiCallable[pb.PoolCredentialRequest, pb.PoolCredential]
    RemoveJobs: grpc.UnaryUnaryMultiCallable[pb.RemoveJobsRequest, pb.RemoveJobsReply]
    GetStateUsage: grpc.UnaryUnaryMultiCallable[pb.StateUsageRequest, pb.StateUsage]
    Doctor: grpc.UnaryUnaryMultiCallable[pb.DoctorRequest, pb.DoctorReply]
    GetTaskStory: grpc.UnaryUnaryMultiCallable[pb.TaskRef, pb.TaskStory]
    StopFollowing: grpc.UnaryUnaryMultiCallable[pb.StopFollowingRequest, pb.StopFollowingReply]


class ExecutorHubApi(Protocol):
    """The `ExecutorHub` service as an executor sees it."""

    Register: grpc.UnaryUnaryMultiCallable[pb.RegisterRequest, pb.RegisterReply]
    Fetch: grpc.UnaryUnaryMultiCallable[pb.FetchRequest, pb.FetchReply]
    Report: grpc.UnaryUnaryMultiCallable[pb.ReportRequest, pb.ReportReply]
    Enroll: grpc.UnaryUnaryMultiCallable[pb.EnrollRequest, pb.EnrollReply]
    Probe: grpc.UnaryUnaryMultiCallable[pb.ProbeRequest, pb.ProbeReply]


def stratos_stub(channel: grpc.Channel) -> StratosApi:
    """A `Stratos` stub on `channel`, typed."""
    return cast(StratosApi, pb_grpc.StratosStub(channel))  # type: ignore[no-untyped-call]


def hub_stub(channel: grpc.Channel) -> ExecutorHubApi:
    """An `ExecutorHub` stub on `channel`, typed."""
    return cast(ExecutorHubApi, pb_grpc.ExecutorHubStub(channel))  # type: ignore[no-untyped-call]


def add_hub_servicer(servicer: pb_grpc.ExecutorHubServicer, server: grpc.aio.Server) -> None:
    """Serve a (fake) `ExecutorHub` implementation on an asyncio `server`."""
    pb_grpc.add_ExecutorHubServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
