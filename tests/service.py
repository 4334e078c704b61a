"""Test helpers: run the real service (`search-service serve`, gunicorn) and the CLI in subprocesses.

``Service`` starts gunicorn on a free loopback port in its own process group and always kills the
whole group when it stops (also when a test fails). ``get`` is a small HTTP client that never
raises on an error status. ``run_cli`` runs `search-service` with a timeout.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample-vntc.jsonl.gz"
START_TIMEOUT = 60.0  # seconds for gunicorn to answer at all
HTTP_TIMEOUT = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli_command() -> list[str]:
    """How to run `search-service` from this interpreter's environment."""
    script = Path(sys.executable).with_name("search-service")
    if script.exists():
        return [str(script)]
    found = shutil.which("search-service")
    return [found] if found else [sys.executable, "-m", "search_service.cli"]


def run_cli(*args: str, timeout: float = 600.0, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `search-service ARGS` to the end (killed after ``timeout`` seconds); output captured as text."""
    return subprocess.run(
        [*cli_command(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def start_cli(*args: str, log: Path) -> subprocess.Popen:
    """Start `search-service ARGS` in its own process group, output to ``log``; stop it with kill_group."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [*cli_command(), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL, timeout: float = 15.0) -> None:
    """Send ``sig`` to the process group of ``proc`` (its workers too) and reap ``proc``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def group_members(pgid: int) -> list[int]:
    """Pids of the live (not zombie) processes in process group ``pgid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(entry.name))
    return pids


def children(pid: int) -> list[int]:
    """Pids of the live child processes of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Response:
    """An HTTP answer: status, headers (lower-case names), body."""

    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float = 0.0

    def json(self) -> dict:
        """The body as JSON."""
        return json.loads(self.body)

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode("utf-8", "replace")


def request(
    base: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 20.0
) -> Response:
    """Send one request with the path exactly as given (no normalisation, no quoting)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    started = time.monotonic()
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data, time.monotonic() - started)
    finally:
        conn.close()


def get(base: str, path: str, params: dict | list | None = None, timeout: float = HTTP_TIMEOUT) -> Response:
    """GET ``path`` with ``params`` url-encoded (a list of pairs repeats a parameter)."""
    query = urlencode(params, doseq=True) if params else ""
    return request(base, "GET", path + ("?" + query if query else ""), timeout=timeout)


@dataclass
class Service:
    """`search-service serve` on a free loopback port; stop() kills it and its workers."""

    index_dir: Path
    log_path: Path
    workers: int = 2
    timeout: int = 30
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        """Base URL, e.g. http://127.0.0.1:8123."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Service:
        """Start gunicorn and wait until it answers (any status: an index may be missing on purpose)."""
        self.port = free_port()
        cmd = [*cli_command(), "serve", "--index-dir", str(self.index_dir), "--host", "127.0.0.1",
               "--port", str(self.port), "--workers", str(self.workers), "--timeout", str(self.timeout)]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"search-service serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                get(self.base, "/healthz", timeout=5)
                break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"search-service serve did not answer in {START_TIMEOUT} s:\n{self.log_tail()}")
            time.sleep(0.1)
        self.wait_workers(self.workers)
        return self

    def stop(self) -> None:
        """Stop gunicorn and its workers (its own process group): TERM, then KILL."""
        if self.proc is not None and self.proc.poll() is None:
            kill_group(self.proc, signal.SIGTERM, timeout=15)
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def worker_pids(self) -> list[int]:
        """Pids of the gunicorn workers."""
        return children(self.proc.pid) if self.proc else []

    def wait_workers(
        self, count: int, exclude: set[int] | frozenset[int] = frozenset(), limit: float = 30
    ) -> list[int]:
        """Wait until ``count`` workers not in ``exclude`` run; their pids."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            pids = [p for p in self.worker_pids() if p not in exclude]
            if len(pids) >= count:
                return pids
            time.sleep(0.05)
        raise RuntimeError(f"gunicorn workers did not come up:\n{self.log_tail()}")

    def restart_workers(self, graceful: bool = True) -> None:
        """Fresh workers: SIGHUP (gunicorn replaces each one gracefully) or SIGKILL each (the master respawns)."""
        assert self.proc is not None
        old = set(self.worker_pids())
        if graceful:
            os.kill(self.proc.pid, signal.SIGHUP)
        else:
            for pid in old:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.wait_workers(self.workers, exclude=old)
        deadline = time.monotonic() + 30
        while set(self.worker_pids()) & old and time.monotonic() < deadline:
            time.sleep(0.05)

    def log_tail(self, chars: int = 4000) -> str:
        """The end of gunicorn's log."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""

    def log_size(self) -> int:
        """Bytes in gunicorn's log so far (for log_since)."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int) -> str:
        """What gunicorn logged after ``offset`` bytes."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(offset)
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def get(self, path: str, params: dict | list | None = None, timeout: float = HTTP_TIMEOUT) -> Response:
        """GET from this service."""
        return get(self.base, path, params, timeout)


@contextlib.contextmanager
def serving(index_dir: Path, log_path: Path, **options: object) -> Iterator[Service]:
    """A running service for the ``with`` block; always stopped afterwards."""
    service = Service(Path(index_dir), Path(log_path), **options)  # type: ignore[arg-type]
    try:
        yield service.start()
    finally:
        service.stop()


def sample_records(n: int, body_chars: int | None = None, start: int = 0) -> list[dict]:
    """Articles of the bundled VNTC sample, from ``start``; bodies cut to ``body_chars`` (cheaper to segment)."""
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in itertools.islice(fh, start, start + n)]
    records = [r for r in records if (r.get("title") or "").strip()]
    if body_chars is not None:
        for r in records:
            body = r.get("body") or ""
            if len(body) > body_chars:
                cut = body.rfind(" ", 0, body_chars)
                r["body"] = body[: cut if cut > 0 else body_chars]
    return records


def write_jsonl(path: Path, records: list[dict]) -> Path:
    """Write records as JSON Lines."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def index_ids(index_dir: Path) -> list[str]:
    """Every article id in the live index, in document order (repeats kept: callers check there are none)."""
    from search_service.store import IndexStore

    ix = IndexStore(index_dir).open()
    try:
        with ix.searcher() as s:
            return [d["id"] for d in s.all_stored_fields()]
    finally:
        ix.close()


def wait_until(predicate, limit: float, step: float = 0.05) -> float | None:
    """Poll ``predicate`` until true; seconds it took, or None when ``limit`` passed."""
    started = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started > limit:
            return None
        time.sleep(step)
