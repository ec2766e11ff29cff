"""`stratos-executor probe`: what `stratosctl doctor` starts on each node.

It shows that the executor command starts on the node (this module runs) and that the node
reaches the daemon's executor listener over TLS, as every real task must: it calls the
ExecutorHub's Probe with the one-time secret the daemon gave it ($STRATOS_PROBE_SECRET,
for $STRATOS_PROBE_ID only), and says its version, Python and host.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import time

import grpc

from stratos_wire import VERSION
from stratos_wire import stratos_pb2 as pb
from stratos_wire import stratos_pb2_grpc as pb_grpc

from .remote import CHANNEL_OPTIONS, EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, check_target

#: printed before the reason when the daemon cannot be reached (the daemon's doctor looks for it).
UNREACHABLE = "cannot reach the daemon at"


def probe(target: str, tls_ca: str | None, timeout: float) -> int:
    """Call Probe, retrying while the daemon is unreachable for up to ``timeout`` s; the exit code."""
    probe_id = os.environ.get("STRATOS_PROBE_ID", "")
    secret = os.environ.get("STRATOS_PROBE_SECRET", "")
    try:
        target = check_target(target)
    except ValueError as exc:
        print(f"stratos-executor probe: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not probe_id or not secret:
        print("stratos-executor probe: needs STRATOS_PROBE_ID and STRATOS_PROBE_SECRET in the environment "
              "(stratosctl doctor sets them)", file=sys.stderr)
        return EXIT_USAGE
    ca_pem = os.environ.get("STRATOS_TLS_CA_PEM", "").encode()
    if tls_ca:
        with open(tls_ca, "rb") as handle:
            ca_pem = handle.read()
    if ca_pem:
        channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=ca_pem),
                                      options=CHANNEL_OPTIONS)
    else:
        channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
    stub = pb_grpc.ExecutorHubStub(channel)  # type: ignore[no-untyped-call]
    request = pb.ProbeRequest(probe_id=probe_id, version=VERSION, python=platform.python_version(),
                              host=socket.gethostname())
    deadline = time.monotonic() + max(timeout, 1.0)
    problem = ""
    try:
        for _ in range(100):  # bounded: at most 100 tries, each at most 5 s, within the deadline
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                stub.Probe(request, metadata=(("authorization", f"Probe {secret}"),), timeout=min(5.0, left))
            except grpc.RpcError as err:
                code = err.code()
                problem = f"{code.name}: {err.details()}"
                if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED,
                            grpc.StatusCode.UNIMPLEMENTED):
                    print(f"stratos-executor probe: the daemon at {target} refused the probe: {problem}",
                          file=sys.stderr)
                    return EXIT_REFUSED
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
                continue
            print(f"stratos-executor {VERSION} (Python {request.python}) on {request.host} reached the daemon "
                  f"at {target}")
            return EXIT_OK
    finally:
        channel.close()
    print(f"stratos-executor probe: {UNREACHABLE} {target} within {timeout:g} s ({problem or 'no answer'})",
          file=sys.stderr)
    return EXIT_UNREACHABLE
