"""Wire protocol version shared by client and daemon (checked in Hello)."""

PROTOCOL_VERSION = 1
VERSION = "0.1.0"
