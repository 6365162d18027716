"""Run the four services as real processes (`python -m services.<name>`) for the demo,
end-to-end tests and benchmarks; wait for readiness; stop or kill exactly what was started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from shared.devinfra.launcher import free_port

SERVICES = ("intake", "router", "sla", "notifier")
PORT_ATTEMPTS = 3
"""How often a service that lost its HTTP port gets a new one. `free_port` can only find a
port that is free now: another process (an outgoing connection's ephemeral port, another
test's server) may take it before the service binds it."""
BIND_CLASH = "address already in use"


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class ServiceProcess:
    name: str
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_start: int = 0  # where this start's lines begin in the log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, **self.env, "LAPOR_HTTP_PORT": str(self.port),
               "LAPOR_HTTP_HOST": "127.0.0.1",
               "PYTHONUNBUFFERED": "1"}  # the log shows where a process stands, even stuck
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.log_start = log.tell()
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", f"services.{self.name}"], env=env, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()

    def ready(self) -> bool:
        try:
            status, _ = http_get(f"{self.url}/health/ready", timeout=1.0)
            return status == 200
        except OSError:
            return False

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the service answers ready. If it exits because its port was taken in the
        meantime, it is started again on another one (at most PORT_ATTEMPTS times)."""
        deadline = time.monotonic() + timeout
        new_ports = 0
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                if new_ports < PORT_ATTEMPTS and self.lost_its_port():
                    new_ports += 1
                    self.port = free_port()
                    self.start()
                    continue
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; "
                                   f"log: {self.log_path}\n{self.tail()}")
            if self.ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout}s\n{self.tail()}")

    def lost_its_port(self) -> bool:
        """Whether the last start's log says that the HTTP port was taken."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self.log_start)
                return BIND_CLASH in log.read().decode(errors="replace")
        except OSError:
            return False

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def metrics(self) -> str:
        return http_get(f"{self.url}/metrics")[1].decode()

    def get_json(self, path: str) -> tuple[int, object]:
        status, body = http_get(self.url + path)
        return status, json.loads(body) if body else None

    def __enter__(self) -> ServiceProcess:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kill(self) -> None:
        """SIGKILL: a crash, no clean-up."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        code = self.process.returncode
        self.process = None
        return code


@dataclass
class ServiceGroup:
    """The four services started together against the same servers."""

    env: dict[str, str]
    logdir: Path
    names: tuple[str, ...] = SERVICES
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    def start(self, timeout: float = 90.0) -> ServiceGroup:
        self.logdir.mkdir(parents=True, exist_ok=True)
        for name in self.names:
            self.processes[name] = ServiceProcess(name, self.env, self.logdir / f"{name}.log")
            self.processes[name].start()
        for process in self.processes.values():
            process.wait_ready(timeout)
        return self

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.processes[name]

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()

    def __enter__(self) -> ServiceGroup:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
