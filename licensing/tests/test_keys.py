"""License keys: visible prefix, enough randomness, tolerant parsing, keyed hash only."""

import hashlib
import hmac
import re

from licensing import license_keys

KEY_RE = re.compile(r"^FMUL(-[0-9A-HJKMNP-TV-Z]{4}){6}$")


def test_key_has_a_visible_prefix_and_120_random_bits():
    key = license_keys.generate_key()

    assert KEY_RE.match(key), key
    assert license_keys.BODY_LENGTH * 5 >= 100  # 24 base32 characters: 120 bits


def test_keys_do_not_repeat():
    assert len({license_keys.generate_key() for _ in range(2000)}) == 2000


def test_parsing_tolerates_case_spaces_and_look_alikes(settings):
    key = "FMUL-0000-1111-ABCD-EFGH-JKMN-PQRS"
    retyped = " fmul-oooo-iiil-abcd efgh-jkmn-pqrs "

    assert license_keys.hash_key(retyped) == license_keys.hash_key(key)


def test_hash_is_an_hmac_with_the_key_hash_secret(settings):
    settings.KEY_HASH_SECRET = "secret-one"
    key = license_keys.generate_key()
    expected = hmac.new(b"secret-one", key.replace("-", "").encode(), hashlib.sha256).hexdigest()

    assert license_keys.hash_key(key) == expected
    settings.KEY_HASH_SECRET = "secret-two"
    assert license_keys.hash_key(key) != expected


def test_malformed_keys_have_no_hash():
    for raw in ["", "FMUL", "FMUL-XXXX", "ABCD-0000-0000-0000-0000-0000-0000", "FMUL-" + "U" * 24]:
        assert license_keys.hash_key(raw) is None


def test_hint_shows_only_the_last_group():
    key = "FMUL-0000-1111-ABCD-EFGH-JKMN-PQRS"

    assert license_keys.key_hint(key) == "FMUL-…-PQRS"
