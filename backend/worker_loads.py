"""Kept-alive connections over gunicorn's workers: a bound per connection, and each worker's
load shared between the workers, so a busy one sheds connections.

gunicorn's workers share one listening socket, and a kept-alive connection stays with the
worker that accepted it. When a worker dies or is recycled, its clients reconnect at once,
before its replacement has loaded its models, so the survivor takes them all and keeps them:
under the bench's mixed load the replacement then served nothing and throughput halved for
the rest of the run. gunicorn ignores an application's ``Connection: close`` (a hop-by-hop
header), so :func:`bounded_keepalive` (its ``pre_request`` hook) marks the request
``must_close`` after ``Settings.keepalive_requests`` requests, the way nginx's
``keepalive_requests`` and Apache's ``MaxKeepAliveRequests`` do, and the client reconnects.

Even without restarts, which worker accepts is a race the kernel and the event loops decide,
and it does not even out: under the bench's mixed load (12 kept-alive clients, 2 workers) the
connections sat 1–3 on one worker and 10–12 on the other most of the time. The crowded
worker's clients then waited for ten requests ahead of theirs while the other worker's
waited for one or two, which is the tail of the latency.

Here each worker publishes how many requests it holds (waiting for their turn or computing)
in a small array of shared memory that the gunicorn master creates before it forks. When a
request arrives at a worker holding at least :data:`SHED_MARGIN` more than the least loaded
ready worker, its answer closes the connection (``Connection: close``); the client reconnects,
and the least loaded worker, which spends more of its time waiting in ``accept``, is the
likeliest to take it. This is "least outstanding requests", the policy load balancers such as
Envoy use, done by the workers themselves, since no balancer sits between gunicorn's workers.

The array has one slot per worker: the master hands a free slot to each worker it forks
(``pre_fork``), the worker marks it ready with its pid once its models are loaded
(``post_worker_init``), so a worker still loading is never "least loaded"; a draining worker
(SIGTERM, a reload) withdraws at its next request and as it exits (``worker_exit``), and the
master frees the slot when it reaps the worker (``child_exit``), so a killed worker leaves no
stale load behind. A worker draining without requests counts until it is reaped (at most
gunicorn's ``graceful_timeout``): a few pointless reconnects at worst.
Reads and writes are single aligned 32-bit words, needing no lock; a reading a moment old only
delays a shed by one request.
"""

from __future__ import annotations

import ctypes
import logging
import mmap
import os
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: Requests a worker must hold beyond the least loaded ready worker before it sheds a
#: connection. 1 would shed at every passing difference; 2 leaves a balanced pair alone.
SHED_MARGIN = 2

#: Workers the array has room for (a slot each, reused as workers are replaced).
MAX_WORKERS = 64


class WorkerLoads:
    """Shared per-worker request counts (create in the gunicorn master, before any fork)."""

    def __init__(self, slots: int = MAX_WORKERS) -> None:
        # Anonymous shared memory (MAP_SHARED | MAP_ANONYMOUS): inherited by forked workers,
        # needing no file, no /dev/shm and no clean-up.
        self._memory = mmap.mmap(-1, 2 * slots * ctypes.sizeof(ctypes.c_int32))
        # pids[i] != 0: slot i belongs to that worker, ready to serve; loads[i]: its requests
        self._pids = (ctypes.c_int32 * slots).from_buffer(self._memory)
        self._loads = (ctypes.c_int32 * slots).from_buffer(self._memory, slots * ctypes.sizeof(ctypes.c_int32))
        self._taken: set[int] = set()  # the master's book of handed-out slots
        self.slot: int | None = None  # this process's slot, once it is a worker

    # -- the master (gunicorn server hooks) ---------------------------------------------------
    def pre_fork(self, server: Any, worker: Any) -> None:
        """Hand the worker about to be forked a free slot (it inherits ``worker.artsnap_slot``)."""
        free = next((i for i in range(len(self._pids)) if i not in self._taken), None)
        worker.artsnap_slot = free  # None: more workers than slots; that worker never sheds
        if free is None:
            log.warning(
                "worker_loads: all %d slots taken; the new worker will not balance its connections", len(self._pids)
            )
        else:
            self._taken.add(free)
            self._pids[free] = 0
            self._loads[free] = 0

    def child_exit(self, server: Any, worker: Any) -> None:
        """Free a worker's slot when it has exited (killed, recycled or stopped)."""
        slot = getattr(worker, "artsnap_slot", None)
        if slot is not None:
            self._pids[slot] = 0
            self._loads[slot] = 0
            self._taken.discard(slot)

    # -- a worker -------------------------------------------------------------------------
    def post_worker_init(self, worker: Any) -> None:
        """The worker has loaded its models: it counts from now on."""
        self.slot = getattr(worker, "artsnap_slot", None)
        if self.slot is not None:
            self._loads[self.slot] = 0
            self._pids[self.slot] = os.getpid()

    def retire(self) -> None:
        """This worker is draining or exiting: others stop counting it as a place to shed to."""
        if self.slot is not None:
            self._pids[self.slot] = 0

    def worker_exit(self, server: Any, worker: Any) -> None:
        """gunicorn's hook in the worker as it exits (before the master reaps it)."""
        self.retire()

    def enter(self) -> None:
        """A request arrived at this worker (call :meth:`leave` when it is answered)."""
        if self.slot is not None:
            self._loads[self.slot] += 1

    def leave(self) -> None:
        if self.slot is not None:
            self._loads[self.slot] = max(0, self._loads[self.slot] - 1)

    def should_shed(self) -> bool:
        """Whether this worker holds :data:`SHED_MARGIN` or more requests beyond the least loaded
        other ready worker (never with no other ready worker)."""
        if self.slot is None:
            return False
        others = [self._loads[i] for i in self._taken_ready() if i != self.slot]
        return bool(others) and self._loads[self.slot] >= min(others) + SHED_MARGIN

    def load(self) -> int:
        """Requests this worker holds now."""
        return int(self._loads[self.slot]) if self.slot is not None else 0

    def _taken_ready(self) -> list[int]:
        # A worker's copy of ``_taken`` is the master's at fork time, so read the pids instead.
        return [i for i in range(len(self._pids)) if self._pids[i] != 0]


def bounded_keepalive(limit: int, loads: WorkerLoads | None = None) -> Callable[[Any, Any], None]:
    """gunicorn ``pre_request`` hook: the ``limit``-th request of a connection is its last, and so
    is a request reaching a worker that holds more than its share (``loads``, see
    :mod:`.worker_loads`).

    Its answer says ``Connection: close`` (so the client knows before it sends another) and
    the worker closes the connection after it; ``limit`` 0 leaves connections unbounded.
    """

    def pre_request(worker: Any, req: Any) -> None:
        worker.log.debug("%s %s", req.method, req.path)  # gunicorn's default hook
        if loads is not None and not getattr(worker, "alive", True):
            loads.retire()  # draining (SIGTERM, a reload): no longer a place to shed to
        if (limit > 0 and getattr(req, "req_number", 1) >= limit) or (loads is not None and loads.should_shed()):
            req.must_close = True

    return pre_request
