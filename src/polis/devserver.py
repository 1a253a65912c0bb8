"""``polis dev``: the whole system on one machine, as child processes of one command.

Starts the embedded servers (unless external URLs are set), migrates, seeds, then runs the API,
a Celery worker and Celery beat. SIGINT or SIGTERM stops every child (and each child's own
children), then the embedded servers. Nothing is left running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from rich.console import Console

from polis.config import Settings
from polis.kit.embedded import EmbeddedServers

STOP_TIMEOUT_SECONDS = 15.0


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


@dataclass
class Supervisor:
    """Runs children in their own process groups so each can be stopped as a whole."""

    env: dict[str, str]
    console: Console
    children: list[Child] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def spawn(self, name: str, args: list[str]) -> None:
        process = subprocess.Popen(args, env=self.env, start_new_session=True)  # noqa: S603
        self.children.append(Child(name, process))

    def wait(self) -> int:
        """Block until a signal asks us to stop or a child dies; the exit code to return."""
        while not self.stopping.wait(0.5):
            for child in self.children:
                code = child.process.poll()
                if code is not None:
                    self.console.print(f"[red]{child.name} exited with code {code}; stopping[/red]")
                    return 1
        return 0

    def stop(self) -> None:
        for child in self.children:
            _signal_group(child.process, signal.SIGTERM)
        for child in self.children:
            try:
                child.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.console.print(f"[yellow]{child.name} did not stop; killing it[/yellow]")
                _signal_group(child.process, signal.SIGKILL)
                child.process.wait()
            # A worker's pool processes live in the child's group; make sure none outlive it.
            _signal_group(child.process, signal.SIGKILL)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def run_dev(settings: Settings, *, host: str, port: int, seed: bool, console: Console) -> int:
    servers: EmbeddedServers | None = None
    env, settings = _dev_environment(settings)
    supervisor = Supervisor(env=env, console=console)

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        supervisor.stopping.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if settings.database_url and settings.redis_url:
            database_url, redis_url = settings.database_url, settings.redis_url
            console.print("Using external PostgreSQL and Redis from POLIS_DATABASE_URL/REDIS_URL")
        else:
            console.print(f"Starting embedded PostgreSQL and Redis in {env['POLIS_DATA_DIR']}")
            servers = EmbeddedServers(Path(settings.data_dir)).start()
            database_url, redis_url = servers.database_url, servers.redis_url
        env["POLIS_DATABASE_URL"] = database_url
        env["POLIS_REDIS_URL"] = redis_url
        _prepare_database(settings, database_url, seed=seed, console=console)
        _spawn_system(supervisor, host=host, port=port)
        _print_welcome(console, settings, host=host, port=port)
        return supervisor.wait()
    finally:
        console.print("Stopping")
        supervisor.stop()
        if servers is not None:
            servers.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        console.print("Stopped")


def _dev_environment(settings: Settings) -> tuple[dict[str, str], Settings]:
    """The children's environment, and the settings with the demo admin as bootstrap admin."""
    env = dict(os.environ)
    env["POLIS_DATA_DIR"] = str(Path(settings.data_dir).resolve())
    # The demo admin becomes an admin when they log in, as any bootstrap admin does.
    if not settings.bootstrap_admin_phones:
        env["POLIS_BOOTSTRAP_ADMIN_PHONES"] = settings.demo_admin_phone
        settings = settings.model_copy(
            update={"bootstrap_admin_phones": [settings.demo_admin_phone]}
        )
    return env, settings


def _prepare_database(
    settings: Settings, database_url: str, *, seed: bool, console: Console
) -> None:
    from polis.kit import migrations

    console.print("Applying migrations")
    migrations.upgrade(database_url)
    if seed:
        from polis.cli_support import run_seed

        report = run_seed(settings.model_copy(update={"database_url": database_url}))
        console.print(
            f"Seeded: {len(report.created)} created, {len(report.unchanged)} already there"
        )


def _spawn_system(supervisor: Supervisor, *, host: str, port: int) -> None:
    """The API, a worker and beat, each a child process of ``polis dev``."""
    python = sys.executable
    supervisor.spawn(
        "api",
        [python, "-m", "polis", "serve", "--host", host, "--port", str(port)],
    )
    supervisor.spawn("worker", [python, "-m", "polis", "worker", "--concurrency", "2"])
    supervisor.spawn("beat", [python, "-m", "polis", "beat"])


def _print_welcome(console: Console, settings: Settings, *, host: str, port: int) -> None:
    base = f"http://{host}:{port}"
    console.rule("[bold green]Polis is running")
    console.print(f"API           {base}/api/v1")
    console.print(f"Swagger UI    {base}/api/v1/docs")
    console.print(f"ReDoc         {base}/api/v1/redoc")
    console.print(f"Health        {base}/health")
    console.print(f"Demo admin    {settings.demo_admin_phone}")
    console.print("Press Ctrl-C to stop everything.")
