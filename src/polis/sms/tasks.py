"""The Celery task that sends one SMS."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from cryptography.exceptions import InvalidTag

from polis.config import get_settings
from polis.kit.logging import get_logger
from polis.sms.adapter import sms_sender
from polis.sms.service import SEND_TASK, unseal

log = get_logger(__name__)


@shared_task(
    name=SEND_TASK,
    bind=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=5,
    acks_late=True,
)
def send_sms(self: Task[Any, Any], phone_ciphertext: str, text_ciphertext: str) -> None:
    """Decrypt the number and the text (sealed by ``queue_sms``) and send them.

    Any failure to send raises, and Celery retries with exponential backoff. A message this
    installation's keys cannot open is dropped instead: no retry would ever open it. Delivery is
    at least once (late acks), so a provider may rarely get the same message twice.
    """
    settings = get_settings()
    try:
        phone = unseal(settings, "phone", phone_ciphertext)
        text = unseal(settings, "sms", text_ciphertext)
    except (InvalidTag, ValueError):
        log.error("sms.undecipherable", task_id=self.request.id)
        return
    sms_sender(settings).send(phone, text)
    # The phone and the text stay out of the log: the task id is enough to follow a message.
    log.info("sms.sent", provider=settings.sms_provider, task_id=self.request.id)
