"""Apache Mesos: one framework per job, spoken natively over the v1 scheduler HTTP API.

No pymesos: its last release depends on http-parser, which does not build on
CPython 3.11, and its drivers are thread-based. The v1 API is HTTP + JSON + RecordIO.
"""
