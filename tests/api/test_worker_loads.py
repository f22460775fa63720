"""Workers compare their loads through shared memory and the crowded one sheds connections.

Under the bench's mixed load the 12 kept-alive clients sat 1–3 on one worker and 10–12 on
the other most of the time; with the shedding they sat 6 and 7 (BENCHMARKS.md, "Design
measurements"). These tests drive the gunicorn hooks as the master and the workers call them.
"""

from __future__ import annotations

import copy
import io
import multiprocessing
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from backend.serve import SlowClientGuard
from backend.worker_loads import SHED_MARGIN, WorkerLoads, bounded_keepalive


def _workers(loads: WorkerLoads, n: int) -> list[tuple[SimpleNamespace, WorkerLoads]]:
    """``n`` workers forked by the master, each with its own view (what fork gives it)."""
    out = []
    for _ in range(n):
        worker = SimpleNamespace()
        loads.pre_fork(None, worker)
        view = copy.copy(loads)  # the arrays are shared memory; the rest is the worker's own copy
        view._taken = set(loads._taken)
        out.append((worker, view))
    return out


def _ready_workers(loads: WorkerLoads, n: int) -> list[tuple[SimpleNamespace, WorkerLoads]]:
    """``n`` forked workers that have loaded their models (``post_worker_init``): places to shed to."""
    out = _workers(loads, n)
    for worker, view in out:
        view.post_worker_init(worker)
    return out


def test_a_worker_sheds_once_it_holds_the_margin_beyond_the_least_loaded() -> None:
    loads = WorkerLoads(slots=4)
    (w1, a), (w2, b) = _ready_workers(loads, 2)
    for _ in range(SHED_MARGIN - 1):
        a.enter()
    assert not a.should_shed() and not b.should_shed()
    a.enter()
    assert a.should_shed()  # SHED_MARGIN more than b
    assert not b.should_shed()  # the least loaded never sheds
    b.enter()
    assert not a.should_shed()  # the difference is back under the margin
    a.leave()
    a.leave()
    assert a.load() == SHED_MARGIN - 2 and b.load() == 1


def test_a_worker_still_loading_its_models_is_not_a_place_to_shed_to() -> None:
    loads = WorkerLoads(slots=4)
    (w1, a), (_w2, _b) = _workers(loads, 2)  # the second is forked but not ready yet
    a.post_worker_init(w1)
    for _ in range(10):
        a.enter()
    assert not a.should_shed()


def test_a_lone_worker_never_sheds() -> None:
    loads = WorkerLoads(slots=4)
    ((w1, a),) = _workers(loads, 1)
    a.post_worker_init(w1)
    for _ in range(10):
        a.enter()
    assert not a.should_shed()


def test_an_exited_worker_leaves_no_load_behind_and_its_slot_is_reused() -> None:
    loads = WorkerLoads(slots=2)
    (w1, a), (w2, b) = _ready_workers(loads, 2)
    for _ in range(5):
        a.enter()
    assert a.should_shed()
    loads.child_exit(None, w2)  # the master reaps the killed worker
    assert not a.should_shed()  # no ready peer: nowhere to shed to
    ((w3, c),) = _workers(loads, 1)
    assert w3.artsnap_slot == w2.artsnap_slot  # the freed slot, in an array of two
    c.post_worker_init(w3)
    assert c.load() == 0 and a.should_shed()


def test_more_workers_than_slots_serve_without_shedding() -> None:
    loads = WorkerLoads(slots=1)
    (w1, a), (w2, b) = _workers(loads, 2)
    assert w2.artsnap_slot is None
    a.post_worker_init(w1)
    b.post_worker_init(w2)
    b.enter()
    assert not b.should_shed() and b.load() == 0


def _child(view: WorkerLoads, worker: SimpleNamespace, done: multiprocessing.synchronize.Event) -> None:
    view.post_worker_init(worker)
    for _ in range(3):
        view.enter()
    done.set()


def test_loads_are_shared_between_forked_processes() -> None:
    """What a worker writes after the fork, the others read: the array is shared memory."""
    loads = WorkerLoads(slots=4)
    (w1, a), (w2, b) = _workers(loads, 2)
    a.post_worker_init(w1)
    ctx = multiprocessing.get_context("fork")
    done = ctx.Event()
    proc = ctx.Process(target=_child, args=(b, w2, done))
    proc.start()
    proc.join(timeout=30)
    assert done.is_set() and proc.exitcode == 0
    b.slot = w2.artsnap_slot  # read the child's slot from this process
    assert b.load() == 3
    a.enter()
    assert not a.should_shed()
    for _ in range(4):
        a.enter()
    assert a.should_shed()  # 5 against the child's 3


def test_the_hook_closes_the_connection_of_a_request_reaching_a_crowded_worker() -> None:
    loads = WorkerLoads(slots=4)
    (w1, a), (w2, b) = _ready_workers(loads, 2)
    hook = bounded_keepalive(50, a)
    log = SimpleNamespace(debug=lambda *args: None)
    worker = SimpleNamespace(log=log)
    first = SimpleNamespace(method="GET", path="/healthz", req_number=1, must_close=False)
    hook(worker, first)
    assert not first.must_close
    for _ in range(SHED_MARGIN):
        a.enter()
    crowded = SimpleNamespace(method="GET", path="/healthz", req_number=1, must_close=False)
    hook(worker, crowded)
    assert crowded.must_close
    last = SimpleNamespace(method="GET", path="/healthz", req_number=50, must_close=False)
    bounded_keepalive(50)(worker, last)
    assert last.must_close


def test_the_guard_counts_a_request_while_it_waits_or_computes_and_not_health_checks() -> None:
    loads = WorkerLoads(slots=2)
    ((w1, view),) = _workers(loads, 1)
    view.post_worker_init(w1)
    seen: list[int] = []

    def app(environ: dict, start_response: Any) -> list[bytes]:
        seen.append(view.load())
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    guard = SlowClientGuard(app, body_timeout_s=5, max_body_bytes=1024, loads=view)
    for path in ("/v1/collections/demo/search", "/healthz"):
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "wsgi.input": io.BytesIO(b"")}
        assert b"".join(guard(environ, lambda status, headers, exc_info=None: None)) == b"ok"
    assert seen == [1, 0]  # the search counted while it ran; the probe skips the queue, uncounted
    assert view.load() == 0

    def failing(environ: dict, start_response: Any) -> list[bytes]:
        raise RuntimeError("boom")

    broken = SlowClientGuard(failing, body_timeout_s=5, max_body_bytes=1024, loads=view)
    with pytest.raises(RuntimeError):
        broken({"REQUEST_METHOD": "GET", "PATH_INFO": "/v1/items/1", "wsgi.input": io.BytesIO(b"")}, None)
    assert view.load() == 0  # an exception does not leave the request counted


def test_a_draining_worker_withdraws_so_others_stop_shedding_towards_it() -> None:
    loads = WorkerLoads(slots=4)
    (w1, a), (w2, b) = _ready_workers(loads, 2)
    for _ in range(3):
        a.enter()
    assert a.should_shed()
    draining = SimpleNamespace(alive=False, log=SimpleNamespace(debug=lambda *args: None))
    request = SimpleNamespace(method="GET", path="/healthz", req_number=1, must_close=False)
    bounded_keepalive(0, b)(draining, request)  # b got SIGTERM and stopped accepting
    assert not a.should_shed()
    b.post_worker_init(w2)
    assert a.should_shed()
    b.worker_exit(None, w2)  # gunicorn's hook as the worker exits, before the master reaps it
    assert not a.should_shed()


def test_serve_wires_one_shared_table_into_the_hooks_and_the_guard(
    monkeypatch: pytest.MonkeyPatch, demo_data_dir: Path
) -> None:
    """What ``artsnap serve`` hands gunicorn: the hooks and the request guard share one table,
    and gunicorn's own validation (arity, callables) accepts them."""
    from gunicorn.app.base import BaseApplication

    from backend.config import Settings
    from backend.serve import serve_gunicorn

    started: list[BaseApplication] = []
    monkeypatch.setattr(BaseApplication, "run", lambda self: started.append(self))
    serve_gunicorn(Settings(data_dir=demo_data_dir), "127.0.0.1", 0, workers=2)
    cfg = started[0].cfg
    loads = cfg.pre_fork.__self__
    assert isinstance(loads, WorkerLoads)
    assert cfg.post_worker_init.__self__ is loads and cfg.child_exit.__self__ is loads
    assert cfg.worker_exit.__self__ is loads
    guard = started[0].load()
    assert isinstance(guard, SlowClientGuard) and guard.loads is loads

    # the pre_request hook sheds by that table
    (w1, a), (w2, b) = _ready_workers(loads, 2)
    for _ in range(SHED_MARGIN):
        loads.slot = a.slot
        loads.enter()
    loads.slot = a.slot
    request = SimpleNamespace(method="GET", path="/healthz", req_number=1, must_close=False)
    cfg.pre_request(SimpleNamespace(alive=True, log=SimpleNamespace(debug=lambda *args: None)), request)
    assert request.must_close

    started.clear()
    serve_gunicorn(Settings(data_dir=demo_data_dir, shed_connections=False), "127.0.0.1", 0, workers=2)
    off = started[0].cfg
    for hook in (off.pre_fork, off.post_worker_init, off.worker_exit, off.child_exit):
        assert not isinstance(getattr(hook, "__self__", None), WorkerLoads)  # gunicorn's defaults
