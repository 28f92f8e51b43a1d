"""Key material: CSPRNG keys, hashing without sk-, masking, ids, One API's pinned-channel form."""

from __future__ import annotations

from relaygate.core.keys import (
    generate_key,
    key_hash,
    key_id_for,
    mask_key,
    mask_secret,
    split_presented_key,
)
from relaygate.core.redact import redact


def test_generated_keys_are_long_unique_and_alphanumeric() -> None:
    keys = {generate_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert key.startswith("sk-") and len(key) == 51 and key[3:].isalnum()


def test_hash_ignores_the_sk_prefix_and_is_case_sensitive() -> None:
    assert key_hash("sk-AbCdEf123") == key_hash("AbCdEf123")
    assert key_hash("sk-abcdef123") != key_hash("sk-ABCDEF123")


def test_mask_and_id_never_reveal_the_key() -> None:
    key = "sk-" + "A1b2C3d4" * 6
    masked = mask_key(key)
    assert masked == "sk-A1b2…C3d4"
    kid = key_id_for(key_hash(key))
    assert kid.startswith("key_") and kid == key_id_for(key_hash(key)) and key[3:11] not in kid
    assert mask_secret("sk-proj-abcdefghijklmnop") == "sk-…mnop"


def test_split_pinned_channel_form() -> None:
    body = "a" * 48
    assert split_presented_key(f"sk-{body}-12") == (body, 12)
    assert split_presented_key(f"sk-{body}") == (f"sk-{body}", None)


def test_redact_removes_secrets_from_upstream_text() -> None:
    text = ("Incorrect API key provided: sk-proj-abcdefghijklmnopqrstuvwx. Bearer abcdefghijklmnopqrstu "
            "AIzaSyA1234567890abcdefghijklmn " + "Z" * 48)
    out = redact(text)
    assert "abcdefghijklmnopqrstuvwx" not in out and "abcdefghijklmnopqrstu" not in out
    assert "AIzaSyA1234567890abcdefghijklmn" not in out and "Z" * 48 not in out
    assert out.startswith("Incorrect API key provided: ")


def test_request_ids_sort_by_time_and_are_unique() -> None:
    import time

    from relaygate.core.ids import request_id

    first = request_id()
    time.sleep(0.002)
    ids = [request_id() for _ in range(1000)]
    assert len(set(ids)) == 1000 and all(first < i for i in ids)
    assert all(len(i) == 25 and i.startswith("req_") for i in ids)
