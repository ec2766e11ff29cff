"""Wire protocol version shared by client, daemon and executors (checked in Hello, and on every
executor call through the ``stratos-protocol`` metadata header)."""

PROTOCOL_VERSION = 1
VERSION = "0.1.0"
#: gRPC metadata an executor sends on each ExecutorHub call: its PROTOCOL_VERSION. Executors of
#: releases before the header speak protocol 1.
PROTOCOL_HEADER = "stratos-protocol"
