"""Execution back-ends of sweeps, calibration and the claims lab: every one is a `concurrent.futures.Executor`.

The sweep loop (analysis/sweep/loop.py) only calls `submit`, waits on the futures it gets back and
asks the back-end how many runs to keep in flight, so any Executor plugs in:

- `SerialBackend`: runs in the calling process, one run at a time (`--workers 1`);
- `LocalBackend`: a `ProcessPoolExecutor` of N worker processes started by "forkserver"
  (or "spawn" where forkserver does not exist), never "fork", so that threads in the parent
  are safe; workers are forked from a server process that has already imported the model;
- `DaskBackend`: a Dask distributed cluster (`--scheduler ADDRESS` or `--scheduler-file F`),
  through `distributed.Client.get_executor()`;
- `ExecutorBackend`: any other `concurrent.futures.Executor` you construct yourself
  (`run_sweep(..., executor=my_executor)`);
- `SharedBackend`: one of the above lent to several sweeps in turn (`run_sweep(..., backend=...)`),
  closed by its owner: the claims lab runs all its sweeps on one pool of workers.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import re
import threading
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from model import footprint
from model.config import ScenarioError
from model.loading import read_text_file

# Modules the forkserver imports once, so that worker processes start with the model loaded: the
# worker side of a sweep (the model and the run's table), not the loop, which imports this module.
PRELOAD = ["analysis.sweep.task"]


class SerialExecutor(Executor):
    """Runs each submitted call at once, in the calling thread; returns a finished Future."""

    def __init__(self):
        self._shutdown = False

    def submit(self, fn, /, *args, **kwargs):
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        f: Future = Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as e:
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            f.set_exception(e)
        return f

    def shutdown(self, wait=True, *, cancel_futures=False):
        self._shutdown = True


def default_workers() -> int:
    """Cores this process may use (respects CPU affinity, e.g. under SLURM), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


WORKERS_PER_CORE = 4  # more local worker processes than this per core only queue for the cores


def max_workers(memory_limit: float | None = None) -> tuple[int, str]:
    """The most local worker processes this machine can hold, and why: WORKERS_PER_CORE x the cores this
    process may use, at most the memory limit (bytes; default model.footprint.default_limit()) over the
    memory of a worker process (model.footprint.BASE: the interpreter and the model, before any run),
    and at most half the user's process limit (RLIMIT_NPROC)."""
    cores = default_workers()
    cap = WORKERS_PER_CORE * cores
    why = f"{WORKERS_PER_CORE} x the {cores} core{'s' if cores != 1 else ''} this process may use"
    limit = footprint.default_limit() if memory_limit is None else float(memory_limit)
    by_memory = max(1, int(limit // footprint.BASE))
    if by_memory < cap:
        cap, why = by_memory, (f"{limit / 1e9:.1f} GB of memory for worker processes of about "
                               f"{footprint.BASE / 1e9:.2f} GB each before any run; see --memory-limit")
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NPROC)[0]
        if soft != resource.RLIM_INFINITY and soft // 2 < cap:
            cap, why = max(1, soft // 2), f"half the process limit of this user ({soft}, ulimit -u)"
    except (ImportError, AttributeError, OSError, ValueError):
        pass
    return cap, why


def check_workers(workers: int, flag: str = "--workers", memory_limit: float | None = None):
    """Refuse (a ScenarioError naming `flag`: exit code 2) more local worker processes than max_workers():
    checked before any process is started, so that too many never fork until the process limit."""
    cap, why = max_workers(memory_limit)
    if int(workers) > cap:
        raise ScenarioError(f"{flag} {workers}", "", f"more worker processes than this machine can hold: at most "
                                                     f"{cap} ({why}); expected a whole number from 1 to {cap}")


def _mp_context():
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


def single_threaded_blas():
    """Limit BLAS/OpenMP to one thread in this process (a worker process runs one model at a time:
    N workers on N cores would otherwise oversubscribe them). Returns the limiter (None without
    threadpoolctl); Dask's nanny sets OMP_NUM_THREADS=1 etc. for its workers by itself."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: only speed is affected
        return None
    return threadpool_limits(limits=1)


def _init_worker(parent_pid: int | None = None):
    """Runs once in each worker process: one BLAS thread, and a watchdog that ends the worker when
    the sweep process is gone (killed with SIGKILL or SIGTERM), so that no orphan keeps computing."""
    single_threaded_blas()
    if parent_pid:
        threading.Thread(target=_watch_parent, args=(parent_pid,), name="watch-parent", daemon=True).start()


def _parent_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed parent that nobody reaped yet is a zombie
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _watch_parent(pid: int, every: float = 1.0):
    while True:
        time.sleep(every)
        if not _parent_alive(pid):
            os._exit(0)


def _warm(delay: float) -> int:
    """Runs in a worker: import the model (already done under forkserver) and report the pid."""
    import analysis.sweep.task  # noqa: F401

    time.sleep(delay)
    return os.getpid()


class Backend:
    """An Executor plus what the sweep loop needs to know about it."""

    name = "executor"
    executor: Executor
    can_restart = False

    def capacity(self) -> int:
        """Runs to keep in flight (a little more than the number of worker slots)."""
        return 1

    def restart(self) -> None:  # only for back-ends with can_restart
        raise NotImplementedError

    def close(self, cancel: bool = False) -> None:
        self.executor.shutdown(wait=not cancel, cancel_futures=cancel)

    def describe(self) -> str:
        return self.name


class SerialBackend(Backend):
    name = "in-process"

    def __init__(self):
        self.executor = SerialExecutor()

    def describe(self) -> str:
        return "1 worker (in this process)"


class LocalBackend(Backend):
    """N local worker processes. `restart()` replaces a pool broken by a dying worker."""

    name = "local"
    can_restart = True

    def __init__(self, workers: int, warm: bool = True, memory_limit: float | None = None):
        check_workers(workers, memory_limit=memory_limit)  # before the first process is started
        self.workers = int(workers)
        self.startup_s = 0.0
        self.executor = self._make()
        if warm:
            self.warm()

    def _make(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=_mp_context(), initializer=_init_worker,
                                   initargs=(os.getpid(),))

    def warm(self):
        """Start every worker process now (not when the first runs arrive), so that rates are true."""
        t0 = time.perf_counter()
        fs = [self.executor.submit(_warm, 0.05) for _ in range(self.workers)]
        for f in fs:
            try:
                f.result()
            except BrokenProcessPool:
                break
        self.startup_s = time.perf_counter() - t0

    def capacity(self) -> int:
        return 2 * self.workers

    def close(self, cancel: bool = False) -> None:
        if cancel:  # interrupted: stop the runs in flight too, instead of waiting for them at exit
            procs = list(getattr(self.executor, "_processes", {}).values())
            self.executor.shutdown(wait=False, cancel_futures=True)
            for p in procs:
                with contextlib.suppress(Exception):
                    p.terminate()
            return
        self.executor.shutdown(wait=True)

    def restart(self):
        with contextlib.suppress(Exception):  # a broken pool may complain; it is replaced anyway
            self.executor.shutdown(wait=False, cancel_futures=True)
        self.executor = self._make()

    def describe(self) -> str:
        return f"{self.workers} local worker process{'es' if self.workers != 1 else ''}"


SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")
_ADDRESS = re.compile(r"(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)"
                      r":(?P<port>[0-9]{1,5})/?")
CONNECT_TIMEOUT = 10.0  # seconds (run.py sweep --connect-timeout)


def address_problem(address: str) -> str | None:
    """What is wrong with a Dask scheduler address (None when it has the form [tcp://]host:port)."""
    if not isinstance(address, str) or not address.strip():
        return "an empty address"
    if address.startswith("inproc://"):
        return None
    m = _ADDRESS.fullmatch(address.strip())
    if m is None:
        return f"{address!r} is not an address of the form tcp://host:port (e.g. tcp://10.0.0.5:8786)"
    scheme = (m.group("scheme") or "tcp").lower()
    if scheme not in SCHEMES:
        return f"unknown protocol {scheme!r}; expected one of {', '.join(SCHEMES)} (e.g. tcp://10.0.0.5:8786)"
    port = int(m.group("port"))
    if not 1 <= port <= 65535:
        return f"port {port} is not a port number (1 to 65535)"
    return None


def check_scheduler_args(address: str | None = None, scheduler_file: str | None = None) -> str | None:
    """Validate `--scheduler ADDRESS` or `--scheduler-file F` before connecting (a ScenarioError naming
    the flag: exit code 2); returns the address to connect to. A scheduler file is the JSON that
    `dask scheduler --scheduler-file F` writes: an object with an "address"."""
    if scheduler_file is not None:
        where = f"--scheduler-file {scheduler_file}"
        text = read_text_file(scheduler_file, "JSON", "the JSON file a Dask scheduler writes", limit=1_000_000)
        try:
            info = json.loads(text)
        except ValueError as e:
            raise ScenarioError(where, "", f"is not JSON ({e}); expected the file `dask scheduler --scheduler-file` "
                                           "writes, with an \"address\"") from None
        if not isinstance(info, dict) or "address" not in info:
            raise ScenarioError(where, "", "has no \"address\"; expected the file `dask scheduler --scheduler-file` "
                                           "writes, e.g. {\"address\": \"tcp://10.0.0.5:8786\", ...}")
        problem = address_problem(info["address"]) if isinstance(info["address"], str) else \
            f"{info['address']!r} is not text"
        if problem:
            raise ScenarioError(where, "address", problem)
        return info["address"]
    if address is not None:
        problem = address_problem(address)
        if problem:
            raise ScenarioError(f"--scheduler {address}", "", problem)
        return address
    return None


class _NoAnswer(Exception):
    """A call to the Dask scheduler did not return within its time."""


def _within(fn, seconds: float, name: str, on_late=None):
    """fn() in a daemon thread, waited for at most `seconds`: its value, its exception, or _NoAnswer (the
    thread is abandoned; `on_late(value)` runs if it returns after all, e.g. to close a late client).
    Dask's own timeouts do not cover every step (a port that accepts TCP but never answers blocks the
    Client constructor), so every step that talks to the scheduler goes through here."""
    box: dict = {}
    lock = threading.Lock()

    def target():
        try:
            value = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller, who re-raises it
            box["error"] = e
            return
        with lock:
            box["value"] = value
            late = box.get("abandoned", False)
        if late and on_late is not None:
            with contextlib.suppress(Exception):
                on_late(value)

    t = threading.Thread(target=target, name=name, daemon=True)
    t.start()
    t.join(seconds)
    with lock:
        if "value" not in box and "error" not in box:
            box["abandoned"] = True
            raise _NoAnswer
    if "error" in box:
        raise box["error"]
    return box["value"]


class DaskBackend(Backend):
    """A Dask distributed cluster, by scheduler address or scheduler file, or an existing Client. Every
    step that talks to the scheduler (connecting, asking for its workers, closing) is bounded by
    `timeout` seconds (--connect-timeout); a scheduler that does not answer in time is a ScenarioError
    naming the flag (exit code 2)."""

    name = "dask"

    def __init__(self, address: str | None = None, scheduler_file: str | None = None, client=None,
                 timeout: float = CONNECT_TIMEOUT):
        self._own = client is None
        self.timeout = float(timeout)
        self.where = f"--scheduler-file {scheduler_file}" if scheduler_file is not None else \
            f"--scheduler {address}" if address is not None else "the Dask client"
        if client is None:
            target = check_scheduler_args(address, scheduler_file)  # the address, validated, before connecting
            from distributed import Client

            try:  # Dask's timeout first (its message says why); ours a moment later, for what it does not bound
                client = _within(lambda: Client(target, timeout=timeout, set_as_default=False), timeout + 1.0,
                                 "dask-connect", on_late=lambda c: c.close())
            except _NoAnswer:
                raise ScenarioError(self.where, "", f"the Dask scheduler at {target} did not answer within "
                                                    f"{timeout:g} s (something accepts connections there but does not "
                                                    "answer as a Dask scheduler); expected a running scheduler (see "
                                                    "--connect-timeout)") from None
            except (OSError, TimeoutError, ValueError) as e:
                raise ScenarioError(self.where, "", f"cannot connect to the Dask scheduler at {target} within "
                                                    f"{timeout:g} s ({type(e).__name__}: {e}); expected a running "
                                                    "scheduler (see --connect-timeout)") from None
        self.client = client
        self.executor = client.get_executor(pure=False)
        self._threads = 0
        self._checked = 0.0
        self._silent = False

    def _ask(self, fn, what: str):
        try:
            return _within(fn, self.timeout, "dask-call")
        except _NoAnswer:
            self._silent = True
            address = getattr(getattr(self.client, "scheduler", None), "address", "?")
            raise ScenarioError(self.where, "", f"the Dask scheduler at {address} did not answer within "
                                                f"{self.timeout:g} s ({what}); expected a running scheduler (see "
                                                "--connect-timeout)") from None

    def threads(self) -> int:
        now = time.monotonic()
        if now - self._checked > 2.0:  # workers may join or leave (adaptive clusters)
            self._checked = now
            info = self._ask(lambda: self.client.scheduler_info(n_workers=-1), "asked for its workers")
            self._threads = sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values())
        return self._threads

    def capacity(self) -> int:
        return max(8, 2 * self.threads())

    def close(self, cancel: bool = False) -> None:
        wait = not cancel and not self._silent  # a scheduler that stopped answering is not waited for
        try:
            if wait:  # the runs in flight are waited for, as long as they take
                self.executor.shutdown(wait=True)
            else:
                with contextlib.suppress(_NoAnswer):
                    _within(lambda: self.executor.shutdown(wait=False), self.timeout, "dask-close")
        finally:
            if self._own:
                with contextlib.suppress(_NoAnswer):
                    _within(lambda: self.client.close(timeout=self.timeout), self.timeout + 1.0, "dask-close")

    def describe(self) -> str:
        n = self.threads()
        return f"Dask cluster at {self.client.scheduler.address} ({n} worker thread{'s' if n != 1 else ''} now)"


class ExecutorBackend(Backend):
    """Any concurrent.futures.Executor constructed by the caller (not shut down by the sweep)."""

    def __init__(self, executor: Executor, capacity: int = 8):
        self.executor = executor
        self._capacity = max(1, int(capacity))
        self.name = type(executor).__name__

    def capacity(self) -> int:
        return self._capacity

    def close(self, cancel: bool = False) -> None:
        pass


class SharedBackend(Backend):
    """A back-end lent to several sweeps in turn (the claims lab's sweeps share one pool of workers):
    runs, capacity and restarts go to it; `close` does nothing, its owner closes it at the end."""

    def __init__(self, inner: Backend):
        self.inner = inner
        self.name = inner.name

    @property
    def executor(self) -> Executor:
        return self.inner.executor

    @property
    def can_restart(self) -> bool:
        return self.inner.can_restart

    def capacity(self) -> int:
        return self.inner.capacity()

    def restart(self) -> None:
        self.inner.restart()

    def close(self, cancel: bool = False) -> None:
        pass

    def describe(self) -> str:
        return self.inner.describe()


def local_slots(backend: Backend) -> int:
    """How many runs `backend` executes at once on this machine (for the memory check): its worker
    processes for a local pool, 1 in this process, and 1 for a cluster or an executor (whose runs do
    not share this machine's memory with each other, or are the caller's concern)."""
    inner = backend.inner if isinstance(backend, SharedBackend) else backend
    return inner.workers if isinstance(inner, LocalBackend) else 1


def make_backend(workers: int | None = None, scheduler: str | None = None, scheduler_file: str | None = None,
                 executor: Executor | None = None, client=None, connect_timeout: float = CONNECT_TIMEOUT) -> Backend:
    if executor is not None:
        return ExecutorBackend(executor, capacity=2 * (workers or default_workers()))
    if client is not None or scheduler is not None or scheduler_file is not None:
        return DaskBackend(address=scheduler, scheduler_file=scheduler_file, client=client, timeout=connect_timeout)
    n = default_workers() if workers is None else int(workers)
    if n <= 1:
        return SerialBackend()
    return LocalBackend(n)
