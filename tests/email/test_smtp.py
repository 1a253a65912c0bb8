"""Email: the SMTP sender against a real SMTP server (aiosmtpd), and ``polis.email.send``
through a real worker with its dedupe key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from polis.config import Settings
from polis.email.adapter import (
    EmailDeliveryError,
    EmailRejected,
    LogEmailSender,
    SmtpEmailSender,
    email_sender,
)
from polis.email.tasks import SEND_TASK, dedupe_redis_key
from polis.worker import create_celery
from tests.conftest import process_env, running_worker
from tests.support.smtp_server import PASSWORD, USERNAME, SmtpServer, running_smtp_server

TO = "tamar@example.ge"
SUBJECT = "ახალი შესვლა"
BODY = "ვიღაც შევიდა თქვენს ანგარიშზე.\nNew login."
QUEUE = "polis-test-email"


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def smtp(smtp_server: SmtpServer) -> SmtpServer:
    smtp_server.reset()
    return smtp_server


def _sender(server: SmtpServer, **options: object) -> SmtpEmailSender:
    return SmtpEmailSender(
        server.host,
        server.port,
        "Polis <noreply@polis.test>",
        tls="none",
        **options,  # type: ignore[arg-type]
    )


def test_a_message_arrives_in_utf8_with_its_stable_message_id(smtp: SmtpServer) -> None:
    _sender(smtp).send(TO, SUBJECT, BODY, message_id="delivery-1")
    [message] = smtp.wait_for(1)
    assert message["To"] == TO
    assert message["From"] == "Polis <noreply@polis.test>"
    assert message["Subject"] == SUBJECT
    assert message["Message-ID"] == "<delivery-1@polis>"
    assert message.get_content() == BODY + "\n"
    assert smtp.envelopes == [("noreply@polis.test", [TO])]


def test_the_sender_logs_in_when_given_credentials(smtp: SmtpServer) -> None:
    _sender(smtp, username=USERNAME, password=PASSWORD).send(TO, SUBJECT, BODY)
    smtp.wait_for(1)
    assert smtp.logins == [USERNAME]


def test_a_wrong_password_is_a_retryable_failure(smtp: SmtpServer) -> None:
    with pytest.raises(EmailDeliveryError, match="SMTP") as caught:
        _sender(smtp, username=USERNAME, password="wrong").send(TO, SUBJECT, BODY)
    assert not isinstance(caught.value, EmailRejected)


def test_a_refused_recipient_is_permanent_and_a_deferred_one_retryable(smtp: SmtpServer) -> None:
    smtp.refuse[TO] = ["550 No such user"]
    with pytest.raises(EmailRejected, match="550") as rejected:
        _sender(smtp).send(TO, SUBJECT, BODY)
    assert TO not in str(rejected.value)
    smtp.refuse[TO] = ["451 Try again later"]
    with pytest.raises(EmailDeliveryError, match="451") as deferred:
        _sender(smtp).send(TO, SUBJECT, BODY)
    assert not isinstance(deferred.value, EmailRejected)
    assert smtp.messages == []


def test_an_unreachable_server_is_retryable() -> None:
    sender = SmtpEmailSender("127.0.0.1", 9, "p@polis.test", tls="none", timeout_seconds=2)
    with pytest.raises(EmailDeliveryError, match="unreachable"):
        sender.send(TO, SUBJECT, BODY)


def test_factory_picks_log_or_smtp(settings: Settings) -> None:
    assert isinstance(email_sender(settings), LogEmailSender)
    smtp_settings = settings.model_copy(update={"email_provider": "smtp"})
    assert isinstance(email_sender(smtp_settings), SmtpEmailSender)


# --- polis.email.send through a real worker -----------------------------------------------------


@pytest.fixture(scope="module")
def email_worker(
    settings: Settings, smtp_server: SmtpServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    log = tmp_path_factory.mktemp("email-worker") / "worker.log"
    env = process_env(
        settings,
        POLIS_EMAIL_PROVIDER="smtp",
        POLIS_SMTP_HOST=smtp_server.host,
        POLIS_SMTP_PORT=str(smtp_server.port),
        POLIS_SMTP_TLS="none",
        POLIS_SMTP_FROM="Polis <noreply@polis.test>",
        POLIS_DELIVERY_BACKOFF_BASE_SECONDS="0.2",
        POLIS_LOG_LEVEL="INFO",
    )
    with (
        log.open("wb") as out,
        running_worker(env, "--concurrency", "1", "--queues", QUEUE, output=out),
    ):
        yield log


@pytest.mark.slow
async def test_the_task_sends_once_per_dedupe_key(
    settings: Settings, smtp: SmtpServer, email_worker: Path, redis: Redis
) -> None:
    celery = create_celery(settings)
    kwargs = {"to": TO, "subject": SUBJECT, "body": BODY, "dedupe_key": "media:sos-1:contact-1"}
    first = celery.send_task(SEND_TASK, kwargs=kwargs, queue=QUEUE)
    assert first.get(timeout=60) == "sent"
    second = celery.send_task(SEND_TASK, kwargs=kwargs, queue=QUEUE)
    assert second.get(timeout=60) == "duplicate"
    # Without a key, every call sends.
    plain = celery.send_task(SEND_TASK, kwargs={"to": TO, "subject": "x", "body": "y"}, queue=QUEUE)
    assert plain.get(timeout=60) == "sent"
    messages = smtp.wait_for(2)
    assert [m["Subject"] for m in messages] == [SUBJECT, "x"]
    assert await redis.get(dedupe_redis_key("media:sos-1:contact-1")) == b"sent"
    log = await asyncio.to_thread(email_worker.read_text)
    assert "email.sent" in log and "email.duplicate" in log
    # The worker's log never holds the address or the text.
    assert TO not in log and BODY not in log
    for line in log.splitlines():
        if line.startswith("{"):
            assert "media:sos-1" not in json.loads(line).get("dedupe_key", "")


@pytest.mark.slow
def test_a_failing_server_is_retried_until_it_accepts(
    settings: Settings, smtp: SmtpServer, email_worker: Path
) -> None:
    # Deferred twice, then accepted: two retries, 0.2 s and 0.4 s apart (backoff settings).
    smtp.refuse["retry@example.ge"] = ["451 Try again later", "451 Try again later"]
    celery = create_celery(settings)
    result = celery.send_task(
        SEND_TASK,
        kwargs={"to": "retry@example.ge", "subject": "s", "body": "b", "dedupe_key": "k-retry"},
        queue=QUEUE,
    )
    assert result.get(timeout=60) == "sent"
    assert smtp.envelopes == [("noreply@polis.test", ["retry@example.ge"])]
    assert email_worker.read_text().count("email.failed") >= 2
