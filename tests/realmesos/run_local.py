# Python 2.7 (run by start_master.sh with the interpreter setup.sh found): keep it 2.7-compatible.
# ruff: noqa: UP031  (printf-style formatting: f-strings do not exist in Python 2.7)
# Type hints are comments (PEP 484's Python 2 form), so mypy checks it like the rest of tests/.
#
# Starts an in-process Apache Mesos 1.11 "local" cluster (master + MESOS_NUM_SLAVES agents) through
# the old Python scheduler driver (mesos.scheduler 1.11.0, patched for Debian 12 by setup.sh).
# HTTP is served on LIBPROCESS_IP:LIBPROCESS_PORT: /master/api/v1/scheduler,
# /api/v1/scheduler (via the libprocess delegate "master"), /master/state, ...
# Prints "[run_local] READY" on stderr once the master is up; SIGTERM/SIGINT stop it.
import ctypes
import os
import signal
import site
import sys
import threading
import time

site.addsitedir(os.path.join(os.environ["REALMESOS_DIR"], "py2site"))

import mesos.scheduler._scheduler as _so
from mesos.interface import Scheduler, mesos_pb2
from mesos.scheduler import MesosSchedulerDriver


def log(msg):
    # type: (str) -> None
    sys.stderr.write("[run_local] %s\n" % msg)
    sys.stderr.flush()


# --- Make libprocess delegate unprefixed paths (/api/v1/...) to the "master"
# process, as mesos-master/mesos-local do: call
# process::initialize(Option<string>("master"), realm_rw, realm_ro) before the
# driver's own process::initialize(schedulerId) (which then becomes a no-op).
class StdString(ctypes.Structure):  # libstdc++ cxx11 std::string
    _fields_ = [("p", ctypes.c_void_p), ("n", ctypes.c_size_t), ("buf", ctypes.c_char * 16)]


class OptString(ctypes.Structure):  # stout Option<std::string>: {enum state; string t;}
    _fields_ = [("state", ctypes.c_int), ("s", StdString)]


def opt(value):
    # type: (str | None) -> OptString
    o = OptString()
    if value is None:
        o.state = 1  # NONE
    else:
        assert len(value) < 16
        o.state = 0  # SOME
        o.s.buf = value
        o.s.n = len(value)
        o.s.p = ctypes.addressof(o) + OptString.s.offset + StdString.buf.offset
    return o


if os.environ.get("RUN_LOCAL_NO_DELEGATE") != "1":
    lib = ctypes.CDLL(_so.__file__)
    # process::initialize(const Option<std::string>&, const Option<std::string>&, const Option<std::string>&)
    symbol = "_ZN7process10initializeERK6OptionINSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEES9_S9_"
    init = getattr(lib, symbol)
    init.restype = ctypes.c_bool
    args = [opt("master"), opt(None), opt(None)]
    ok = init(*[ctypes.byref(a) for a in args])
    log('process::initialize(delegate="master") -> %s' % ok)


class Dummy(Scheduler):  # type: ignore[misc]  # mesos.interface has no types: Scheduler is Any
    def __init__(self):
        # type: () -> None
        self.registered_ev = threading.Event()

    def registered(self, driver, fid, master):
        # type: (MesosSchedulerDriver, mesos_pb2.FrameworkID, mesos_pb2.MasterInfo) -> None
        log("dummy framework registered %s master=%s:%s" % (fid.value, master.hostname, master.port))
        driver.suppressOffers()
        self.registered_ev.set()

    def resourceOffers(self, driver, offers):
        # type: (MesosSchedulerDriver, list[mesos_pb2.Offer]) -> None
        for o in offers:
            f = mesos_pb2.Filters()
            f.refuse_seconds = 3600
            driver.declineOffer(o.id, f)

    def error(self, driver, message):
        # type: (MesosSchedulerDriver, str) -> None
        log("error: %s" % message)


fw = mesos_pb2.FrameworkInfo()
fw.user = "root"
fw.name = "run_local_dummy"
sched = Dummy()
driver = MesosSchedulerDriver(sched, fw, "local")  # 'local' => local::launch(master + agents)


def stop(*_):
    # type: (*object) -> None
    log("stopping")
    os._exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
log("driver.start() -> %s" % driver.start())
if sched.registered_ev.wait(30) and os.environ.get("KEEP_DUMMY_FRAMEWORK") != "1":
    # Unregister the dummy framework; the local cluster stays up as long as
    # the driver object is alive (local::shutdown() runs only in its destructor).
    status = driver.stop(False)
    log("driver.stop(failover=False) -> %s  (dummy framework torn down; master+agents keep running)" % status)
log("READY")
while True:
    time.sleep(1)
