"""Signed URLs (Delivery=private) against the local CDN's CloudFront check, and retention dates."""

from __future__ import annotations

import datetime
from functools import cache

import pytest

from imgpipe.commands.cdnkey import new_key_pair
from imgpipe.local import cdn_signatures
from imgpipe.local.adapters.cfn_rules import failed_assertions
from imgpipe_core.delivery import UrlSigner
from imgpipe_core.retention import lifecycle_expiry
from tests.unit.test_template import transformed

BASE = "https://d111111abcdef8.cloudfront.net/images/abc/thumb.webp"
KEY_ID = "K2JCJMDEHXQW5F"
NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)


@cache
def _pair() -> tuple[str, str]:
    return new_key_pair()


def _signed(url: str = BASE, moment: datetime.datetime = NOW, seconds: int = 300) -> str:
    return UrlSigner(KEY_ID, _pair()[0], seconds).sign(url, moment)


def _check(url: str, *, keys: dict[str, str] | None = None, at: datetime.datetime = NOW):
    base, _, query = url.partition("?")
    trusted = {KEY_ID: _pair()[1]} if keys is None else keys
    return cdn_signatures.check(base, query, trusted, now=at.timestamp())


def test_a_signed_url_is_a_canned_policy_url_the_cdn_accepts_until_it_expires() -> None:
    url = _signed()
    assert url.startswith(BASE + "?Expires=")
    assert f"&Key-Pair-Id={KEY_ID}" in url and "&Signature=" in url
    assert _check(url) is None
    assert _check(url, at=NOW + datetime.timedelta(seconds=299)) is None
    refused = _check(url, at=NOW + datetime.timedelta(seconds=300))
    assert refused is not None and refused.code == "AccessDenied"


@pytest.mark.parametrize(
    ("mangle", "code"),
    [
        (lambda url: url.split("?")[0], "MissingKey"),
        (lambda url: url.replace("&Signature=", "&Unsigned="), "MissingSignature"),
        (lambda url: url.replace("Expires=", "Expires=1"), "AccessDenied"),
        (lambda url: url.replace("thumb.webp", "large.webp"), "AccessDenied"),
        (lambda url: url.replace(KEY_ID, "KOTHERKEY12345"), "InvalidKey"),
        (lambda url: url.replace("Signature=", "Signature=%%%"), "MalformedSignature"),
        (lambda url: url + "&Policy=e30_", "AccessDenied"),
    ],
    ids=["stripped", "no-signature", "expiry-changed", "other-path", "unknown-key", "garbled",
         "custom-policy"],
)  # fmt: skip
def test_an_altered_signed_url_is_refused(mangle, code: str) -> None:
    refused = _check(mangle(_signed()))
    assert refused is not None and refused.code == code


def test_a_signature_by_another_key_is_refused() -> None:
    other_public = new_key_pair()[1]
    refused = _check(_signed(), keys={KEY_ID: other_public})
    assert refused is not None and refused.code == "AccessDenied"


def test_query_parameters_of_the_url_are_part_of_what_is_signed() -> None:
    url = _signed(BASE + "?v=2")
    assert _check(url) is None
    assert _check(url.replace("?v=2", "?v=3")) is not None


def test_lifecycle_expiry_rounds_up_to_the_next_midnight_utc() -> None:
    created = datetime.datetime(2026, 3, 1, 15, 30, tzinfo=datetime.UTC)
    assert lifecycle_expiry(created, 30) == datetime.datetime(2026, 4, 1, tzinfo=datetime.UTC)
    midnight = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
    assert lifecycle_expiry(midnight, 1) == datetime.datetime(2026, 3, 2, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("overrides", "refused"),
    [
        ({"Delivery": "private"}, True),
        ({"Delivery": "private", "CdnPublicKeyPem": "-----BEGIN PUBLIC KEY-----"}, False),
        ({"Delivery": "public"}, False),
    ],
)
def test_rules_refuse_private_delivery_without_a_public_key(
    overrides: dict[str, str], refused: bool
) -> None:
    failed = failed_assertions(transformed(), overrides)
    assert any("CdnPublicKeyPem" in f for f in failed) == refused, failed


def test_only_private_delivery_makes_the_cdn_trust_a_key_group() -> None:
    template = transformed()
    behaviour = template["Resources"]["Cdn"]["Properties"]["DistributionConfig"][
        "DefaultCacheBehavior"
    ]
    assert behaviour["TrustedKeyGroups"] == {
        "Fn::If": ["DeliveryPrivate", [{"Ref": "CdnKeyGroup"}], {"Ref": "AWS::NoValue"}]
    }
    for name in ("CdnPublicKey", "CdnKeyGroup"):
        assert template["Resources"][name]["Condition"] == "DeliveryPrivate"


def test_expiring_originals_also_expires_their_noncurrent_versions() -> None:
    rules = transformed()["Resources"]["PrivateBucket"]["Properties"]["LifecycleConfiguration"]
    conditional = [r["Fn::If"] for r in rules["Rules"] if "Fn::If" in r]
    assert len(conditional) == 1 and conditional[0][0] == "OriginalsExpire"
    rule = conditional[0][1]
    assert rule["Prefix"] == "uploads/"
    assert rule["ExpirationInDays"] == {"Ref": "OriginalExpireDays"}
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1
