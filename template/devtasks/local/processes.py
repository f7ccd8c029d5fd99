"""The task processes `invoke ci` starts, each the leader of its own process group.

Stopping one stops everything it started (nox, pytest, docker builds); Ctrl-C stops them all.
"""

import os
import signal
import subprocess
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

Process = subprocess.Popen[bytes]
GRACE_SECONDS = 5.0


class Interrupted(Exception):  # noqa: N818 - it is the event, not an error
    """Ctrl-C or SIGTERM reached `invoke ci`."""


def stop_group(process: Process) -> None:
    """SIGTERM the process's whole group, then SIGKILL whatever is left after a grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            continue
        return


class Processes:
    """The running task processes, and which of them were cancelled rather than failed."""

    def __init__(self) -> None:
        """No processes yet."""
        self._lock = threading.Lock()
        self._running: dict[int, Process] = {}
        self._cancelled: set[int] = set()

    def start(
        self, argv: Sequence[str], *, cwd: Path, env: dict[str, str], output: int | None
    ) -> Process:
        """Start a process in a new session (its own group), stdin closed, output as given."""
        with self._lock:
            process = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if output is not None else None,
                start_new_session=True,
            )
            self._running[process.pid] = process
            return process

    def finished(self, process: Process) -> None:
        """Forget a process that has exited."""
        with self._lock:
            self._running.pop(process.pid, None)

    def was_cancelled(self, process: Process) -> bool:
        """Whether `cancel` stopped this process."""
        return process.pid in self._cancelled

    def cancel(self, pids: Collection[int] | None = None) -> None:
        """Stop these processes (all running ones by default), side by side, and wait."""
        with self._lock:
            chosen = [p for pid, p in self._running.items() if pids is None or pid in pids]
            self._cancelled.update(p.pid for p in chosen)
        threads = [threading.Thread(target=stop_group, args=(p,)) for p in chosen]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops `invoke ci` the way Ctrl-C does (a CI system or `timeout` sends it)."""

    def interrupt(_signal: int, _frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
