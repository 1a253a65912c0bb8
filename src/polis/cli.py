"""The ``polis`` command line."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from polis.config import Settings, get_settings

app = typer.Typer(help="Digital Polis server.", no_args_is_help=True, add_completion=False)
migrate_app = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)
admin_app = typer.Typer(help="Administration.", no_args_is_help=True)
app.add_typer(migrate_app, name="migrate")
app.add_typer(admin_app, name="admin")
territories_app = typer.Typer(help="The territory map.", no_args_is_help=True)
app.add_typer(territories_app, name="territories")

console = Console()

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Folder of the embedded servers (default: POLIS_DATA_DIR or ./var)."
    ),
]


def _settings(data_dir: Path | None = None) -> Settings:
    if data_dir is not None:
        os.environ["POLIS_DATA_DIR"] = str(data_dir)
        get_settings.cache_clear()
    return get_settings()


@contextmanager
def _database(settings: Settings) -> Iterator[Settings]:
    """Settings with a database URL: the configured one, or the embedded server's."""
    if settings.database_url:
        yield settings
        return
    from polis.kit.embedded import EmbeddedServers

    servers = EmbeddedServers(settings.data_dir).start()
    try:
        yield settings.model_copy(
            update={"database_url": servers.database_url, "redis_url": servers.redis_url}
        )
    finally:
        servers.stop()


@app.command()
def dev(
    port: Annotated[int, typer.Option(help="API port.")] = 8000,
    host: Annotated[str, typer.Option(help="API host.")] = "127.0.0.1",
    data_dir: DataDir = None,
    seed: Annotated[bool, typer.Option("--seed/--no-seed", help="Seed demo data.")] = True,
) -> None:
    """Start everything: embedded PostgreSQL and Redis, migrations, demo data, API, worker, beat."""
    from polis.devserver import run_dev
    from polis.kit.logging import configure_logging

    settings = _settings(data_dir)
    configure_logging(settings.log_level, settings.log_json)
    raise typer.Exit(run_dev(settings, host=host, port=port, seed=seed, console=console))


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    host: Annotated[str, typer.Option(help="Host.")] = "127.0.0.1",
    workers: Annotated[int, typer.Option(help="Server processes.")] = 1,
) -> None:
    """Serve the API on the external servers named by POLIS_DATABASE_URL and POLIS_REDIS_URL."""
    import uvicorn

    settings = _settings()
    if not (settings.database_url and settings.redis_url):
        console.print("[red]Set POLIS_DATABASE_URL and POLIS_REDIS_URL (or use `polis dev`).[/red]")
        raise typer.Exit(2)
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Each process writes its metrics here and /metrics adds them up.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="polis-metrics-")
    uvicorn.run(
        "polis.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_config=None,
        access_log=False,
    )


def _celery_argv(*args: str) -> list[str]:
    return ["celery", "-A", "polis.worker:celery_app", *args]


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    queues: Annotated[str, typer.Option(help="Comma-separated queues.")] = "celery",
) -> None:
    """Run a Celery worker."""
    from polis.worker import celery_app

    celery_app.worker_main(
        _celery_argv("worker", f"--concurrency={concurrency}", f"--queues={queues}", "-l", "INFO")[
            3:
        ]
    )


@app.command()
def beat() -> None:
    """Run Celery beat (RedBeat: safe when started on several hosts)."""
    from polis.worker import celery_app

    celery_app.start(["beat", "-l", "INFO", "--scheduler", "redbeat.RedBeatScheduler"])


@migrate_app.command("upgrade")
def migrate_upgrade(
    revision: Annotated[str, typer.Argument()] = "head", data_dir: DataDir = None
) -> None:
    """Upgrade the schema (to the newest revision by default)."""
    from polis.kit import migrations

    with _database(_settings(data_dir)) as settings:
        assert settings.database_url
        migrations.upgrade(settings.database_url, revision)
    console.print(f"Upgraded to {revision}")


@migrate_app.command("downgrade")
def migrate_downgrade(revision: Annotated[str, typer.Argument()], data_dir: DataDir = None) -> None:
    """Downgrade the schema to REVISION (for example -1 or base)."""
    from polis.kit import migrations

    with _database(_settings(data_dir)) as settings:
        assert settings.database_url
        migrations.downgrade(settings.database_url, revision)
    console.print(f"Downgraded to {revision}")


@migrate_app.command("revision")
def migrate_revision(
    message: Annotated[str, typer.Option("-m", "--message")],
    autogenerate: Annotated[bool, typer.Option("--autogenerate/--empty")] = True,
    data_dir: DataDir = None,
) -> None:
    """Write a new migration, compared against the models unless --empty."""
    from polis.kit import migrations

    with _database(_settings(data_dir)) as settings:
        assert settings.database_url
        migrations.upgrade(settings.database_url)
        migrations.revision(settings.database_url, message, autogenerate)


@migrate_app.command("current")
def migrate_current(data_dir: DataDir = None) -> None:
    """Show the revision the database is at."""
    from polis.kit import migrations

    with _database(_settings(data_dir)) as settings:
        assert settings.database_url
        migrations.current(settings.database_url)


@app.command()
def seed(data_dir: DataDir = None) -> None:
    """Seed demo data (idempotent)."""
    from polis.cli_support import run_seed
    from polis.kit import migrations

    with _database(_settings(data_dir)) as settings:
        assert settings.database_url
        migrations.upgrade(settings.database_url)
        report = run_seed(settings)
    console.print(f"Seeded: {len(report.created)} created, {len(report.unchanged)} already there")


@admin_app.command("grant")
def admin_grant(phone: Annotated[str, typer.Argument()], data_dir: DataDir = None) -> None:
    """Make the member with PHONE an admin (registering the number if it is new)."""
    from polis.cli_support import run_grant_admin
    from polis.kit.errors import PolisError
    from polis.kit.phone import mask_phone, normalize_phone

    with _database(_settings(data_dir)) as settings:
        try:
            e164 = normalize_phone(phone, settings.default_phone_region)
            changed = run_grant_admin(settings, e164)
        except PolisError as exc:
            console.print(f"[red]{exc.message}[/red]")
            raise typer.Exit(2) from exc
    state = "is now an admin" if changed else "was already an admin"
    console.print(f"{mask_phone(e164)} {state}")


@territories_app.command("import")
def territories_import(
    file: Annotated[Path, typer.Argument(help="A GeoJSON FeatureCollection of territories.")],
    data_dir: DataDir = None,
) -> None:
    """Import (upsert by code) the territories of FILE; all or nothing."""
    import asyncio

    from rich.progress import Progress

    from polis.cli_support import in_transaction
    from polis.kit import migrations
    from polis.kit.redis import create_redis
    from polis.territories import service as territories
    from polis.territories.importer import TerritoryImportError

    with _database(_settings(data_dir)) as settings:
        assert settings.database_url
        migrations.upgrade(settings.database_url)
        try:
            with Progress(console=console, transient=False) as bar:
                task = bar.add_task("Importing territories", total=None)

                def advance(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                result = in_transaction(
                    settings,
                    lambda session: territories.import_file(session, file, progress=advance),
                )
        except TerritoryImportError as exc:
            console.print(f"[red]{exc.message}[/red]")
            for problem in exc.problems:
                where = "file" if problem.index is None else f"feature {problem.index}"
                code = f" ({problem.code})" if problem.code else ""
                console.print(f"  {where}{code}: {problem.message}", markup=False)
            raise typer.Exit(2) from exc
        # Always, even when nothing changed: a rerun repairs a cache a failed run left stale.
        if settings.redis_url:

            async def invalidate(url: str) -> None:
                redis = create_redis(url)
                try:
                    await territories.invalidate_cache(redis)
                finally:
                    await redis.aclose()

            asyncio.run(invalidate(settings.redis_url))
    console.print(
        f"Territories: {len(result.created)} created, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged"
    )


@app.command("verify-election")
def verify_election(
    source: Annotated[
        str, typer.Argument(help="The election's URL (…/api/v1/elections/ID) or a saved file.")
    ],
    receipt: Annotated[
        list[str] | None,
        typer.Option("--receipt", help="A vote_hash whose inclusion proof to check (repeatable)."),
    ] = None,
) -> None:
    """Recompute a completed election's tally and Merkle root from its published ballots and
    compare them with its published results (docs/verification.md). Exit code 1 on any
    mismatch, 2 when the publication cannot be read."""
    from rich.table import Table

    from polis.elections import verify

    try:
        publication = verify.load(source)
    except verify.PublicationError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    checks = verify.check(publication)
    checks += [verify.check_receipt(publication, vote_hash) for vote_hash in receipt or []]
    table = Table(title=f"Election {publication.results.election.id}")
    for column in ("check", "result", "detail"):
        table.add_column(column)
    for item in checks:
        verdict = "[green]ok[/green]" if item.ok else "[red]MISMATCH[/red]"
        table.add_row(item.name, verdict, item.detail)
    console.print(table)
    if not all(item.ok for item in checks):
        console.print("[red]The publication does not verify.[/red]")
        raise typer.Exit(1)
    console.print(f"[green]Verified: {len(publication.ballots.ballots)} ballots.[/green]")


def main() -> None:  # pragma: no cover - the console script
    app(prog_name="polis")


if __name__ == "__main__":  # pragma: no cover
    main()
