"""The FCM HTTP v1 sender against the local stand-in: OAuth, the message, every error answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from polis.config import Settings
from polis.push.adapter import (
    FcmPushSender,
    LogPushSender,
    PushMessage,
    PushRetryable,
    PushTokenRejected,
    ServiceAccount,
    push_sender,
)
from tests.support.fcm_standin import FcmStandIn, running_fcm_standin

TOKEN = "fcm-device-token-" + "x" * 140
MESSAGE = PushMessage(
    token=TOKEN,
    title="New login",
    body="Someone logged in",
    collapse_key="6f1c3a52-0000-4000-8000-000000000001",
    data={"delivery_id": "d-1", "notification_id": "n-1", "type": "new_device_login"},
)


@pytest.fixture(scope="module")
def standin() -> Iterator[FcmStandIn]:
    with running_fcm_standin() as server:
        yield server


@pytest.fixture
def fcm(standin: FcmStandIn) -> FcmPushSender:
    standin.reset()
    standin.token_lifetime = 3600
    assert standin.account is not None
    return FcmPushSender(ServiceAccount.from_json(standin.account.json), base_url=standin.url)


def test_a_message_goes_out_with_a_fresh_access_token_and_the_collapse_keys(
    fcm: FcmPushSender, standin: FcmStandIn
) -> None:
    before = standin.token_requests
    fcm.send(MESSAGE)
    [message] = standin.messages
    assert message.status == 200
    assert message.token == TOKEN
    assert message.title == "New login"
    assert message.data == MESSAGE.data
    assert message.collapse_key == MESSAGE.collapse_key
    assert standin.token_requests == before + 1


def test_the_access_token_is_cached_until_it_nearly_expires(
    fcm: FcmPushSender, standin: FcmStandIn
) -> None:
    before = standin.token_requests
    for _ in range(3):
        fcm.send(MESSAGE)
    assert standin.token_requests == before + 1
    # A token that expires within the refresh margin is replaced before use.
    standin.token_lifetime = 30
    fcm.access_token(refresh=True)
    fcm.send(MESSAGE)
    assert standin.token_requests == before + 3


def test_a_401_refreshes_the_token_once_and_sends_again(
    fcm: FcmPushSender, standin: FcmStandIn
) -> None:
    fcm.send(MESSAGE)
    standin.revoke_tokens()
    fcm.send(MESSAGE)
    assert [m.status for m in standin.messages] == [200, 401, 200]


def test_a_second_401_is_retryable_not_a_loop(fcm: FcmPushSender, standin: FcmStandIn) -> None:
    standin.reset("unauthenticated", "unauthenticated")
    fcm.access_token()
    # The script answers 401 even to a fresh token: two requests, then an error.
    with pytest.raises(PushRetryable, match="401"):
        fcm.send(MESSAGE)
    assert len(standin.messages) == 2


@pytest.mark.parametrize("reply", ["unregistered", "invalid"])
def test_a_dead_token_is_rejected_for_good(
    fcm: FcmPushSender, standin: FcmStandIn, reply: str
) -> None:
    standin.reset(reply)
    with pytest.raises(PushTokenRejected) as caught:
        fcm.send(MESSAGE)
    assert caught.value.reason in {"UNREGISTERED", "INVALID_ARGUMENT"}
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("reply", "retry_after"), [(500, None), (503, None), ((503, "7"), 7.0), ((429, "30"), 30.0)]
)
def test_overload_and_server_errors_are_retryable_with_retry_after(
    fcm: FcmPushSender,
    standin: FcmStandIn,
    reply: int | tuple[int, str],
    retry_after: float | None,
) -> None:
    standin.reset(reply)
    with pytest.raises(PushRetryable) as caught:
        fcm.send(MESSAGE)
    assert caught.value.retry_after == retry_after
    assert TOKEN not in str(caught.value)


def test_an_unreachable_fcm_is_retryable(standin: FcmStandIn) -> None:
    assert standin.account is not None
    sender = FcmPushSender(
        ServiceAccount.from_json(standin.account.json),
        base_url="http://127.0.0.1:9",
        timeout_seconds=2,
    )
    sender.access_token()
    with pytest.raises(PushRetryable, match="unreachable"):
        sender.send(MESSAGE)


def test_a_refused_grant_is_retryable(standin: FcmStandIn) -> None:
    assert standin.account is not None
    forged = json.loads(standin.account.json)
    # A key the stand-in does not know signs the assertion.
    from tests.support.fcm_standin import make_service_account

    forged["private_key"] = json.loads(make_service_account(standin.token_uri).json)["private_key"]
    sender = FcmPushSender(ServiceAccount.from_json(json.dumps(forged)), base_url=standin.url)
    with pytest.raises(PushRetryable, match="oauth answered 400"):
        sender.send(MESSAGE)


def test_service_account_needs_its_fields() -> None:
    with pytest.raises(ValueError, match="project_id, client_email, private_key"):
        ServiceAccount.from_json("{}")
    with pytest.raises(ValueError, match="not JSON"):
        ServiceAccount.from_json("nope")


def test_factory_picks_log_or_fcm_from_a_file_or_json(
    settings: Settings, standin: FcmStandIn, tmp_path: Path
) -> None:
    assert isinstance(push_sender(settings), LogPushSender)
    assert standin.account is not None
    path = tmp_path / "service-account.json"
    path.write_text(standin.account.json)
    from_file = settings.model_copy(update={"push_provider": "fcm", "fcm_credentials_file": path})
    assert isinstance(push_sender(from_file), FcmPushSender)
    from_json = settings.model_copy(
        update={"push_provider": "fcm", "fcm_credentials_json": SecretStr(standin.account.json)}
    )
    assert isinstance(push_sender(from_json), FcmPushSender)
    with pytest.raises(ValueError, match="POLIS_FCM_CREDENTIALS_FILE"):
        push_sender(settings.model_copy(update={"push_provider": "fcm"}))


def test_settings_refuse_fcm_without_credentials(settings: Settings) -> None:
    values = settings.model_dump() | {"push_provider": "fcm"}
    with pytest.raises(ValueError, match="POLIS_FCM_CREDENTIALS_FILE"):
        Settings(**values, _env_file=None)
