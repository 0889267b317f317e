"""Running independent tasks: inline, on a local process pool, or on a Ray cluster.

Every runner yields results as tasks finish (order may vary); callers never depend on that
order, so the output bytes do not depend on the runner or on the number of workers.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from degrade.errors import ConfigError

DISTRIBUTORS = ("local", "ray")


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


_tick: Callable[[], None] | None = None  # set by run_local; forked pool workers inherit it


def tick() -> None:
    """Called by a task after each unit of work (a sample) so a progress bar can move between
    task completions; a no-op where no local runner listens (Ray workers, spawned processes)."""
    if _tick is not None:
        _tick()


def run_local(fn: Callable, items: Iterable, workers: int,
              on_ticks: Callable[[int], None] | None = None) -> Iterator:
    """fn over items: inline when workers == 1, else on a process pool; yields as tasks finish.

    on_ticks(total) is called with the number of tick()s so far: after each tick inline, or
    about twice a second from the pool's shared counter."""
    global _tick
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        count = [0]

        def inline_tick():
            count[0] += 1
            if on_ticks is not None:
                on_ticks(count[0])

        _tick = inline_tick
        try:
            yield from (fn(item) for item in items)
        finally:
            _tick = None
        return
    # fork (Linux) starts workers in milliseconds and shares already-compiled numba code.
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    counter = context.Value("q", 0)
    _tick = lambda: _increment(counter)  # noqa: E731 - inherited through fork by the workers
    try:
        with ProcessPoolExecutor(max_workers=min(workers, len(items)), mp_context=context,
                                 initializer=exit_with_parent, initargs=(os.getpid(),)) as pool:
            pending = {pool.submit(fn, item) for item in items}
            try:
                while pending:
                    done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    if on_ticks is not None:
                        on_ticks(counter.value)
                    for future in done:
                        yield future.result()
            finally:
                for future in pending:
                    future.cancel()
    finally:
        _tick = None


def exit_with_parent(parent_pid: int, poll_seconds: float = 0.5) -> None:
    """Make this pool worker exit when the process that started it dies (killed builds must
    not leave workers behind): the kernel's parent-death signal on Linux, and a watchdog thread
    that polls the parent everywhere (and covers a parent thread that ends before the process)."""
    import signal
    import threading
    import time

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_seconds)
        os._exit(1)

    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _increment(counter) -> None:
    with counter.get_lock():
        counter.value += 1


def run_ray(fn: Callable, items: Iterable, workers: int) -> Iterator:
    """fn over items as Ray tasks (1 CPU each): connects to RAY_ADDRESS, or starts a local Ray."""
    try:
        import ray
    except ImportError:
        raise ConfigError("distributor", "ray needs Ray: pip install 'colora-kit[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        address = os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        remote_fn = ray.remote(num_cpus=1, max_retries=2)(fn)
        pending = [remote_fn.remote(item) for item in items]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started_here:
            ray.shutdown()


def run_tasks(fn: Callable, items: Iterable, workers: int, distributor: str = "local",
              on_ticks: Callable[[int], None] | None = None) -> Iterator:
    if distributor == "local":
        return run_local(fn, items, workers, on_ticks)
    if distributor == "ray":
        return run_ray(fn, items, workers)
    raise ConfigError("distributor", f"unknown distributor {distributor!r}; choose from {', '.join(DISTRIBUTORS)}")
