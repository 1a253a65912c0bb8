"""Phone numbers: parsing to E.164 (Georgia by default) and masking for public views."""

from __future__ import annotations

import phonenumbers

from polis.kit.errors import ErrorCode, ValidationFailed


def normalize_phone(raw: str, default_region: str = "GE") -> str:
    """``raw`` as E.164, or a 2002 validation error when it is not a valid number."""
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed(
            "phone_number is not a phone number",
            error=ErrorCode.BAD_FORMAT,
            details={"field": "phone_number"},
        ) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationFailed(
            "phone_number is not a valid number",
            error=ErrorCode.BAD_FORMAT,
            details={"field": "phone_number"},
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(e164: str) -> str:
    """``+995555123456`` → ``+995 555 ••• •56``: the country code, the first three and last two."""
    parsed = phonenumbers.parse(e164, None)
    national = str(parsed.national_number)
    head, tail = national[:3], national[-2:]
    hidden = "•" * max(0, len(national) - len(head) - len(tail))
    grouped = " ".join(hidden[i : i + 3] for i in range(0, len(hidden), 3))
    # Keep the last hidden group and the visible tail together, as people write them.
    if grouped:
        parts = grouped.rsplit(" ", 1)
        grouped = parts[0] + " " + parts[1] + tail if len(parts) == 2 else parts[0] + tail
    return f"+{parsed.country_code} {head} {grouped}".rstrip()
