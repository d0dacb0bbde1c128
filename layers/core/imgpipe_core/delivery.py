"""Delivery=private: CloudFront signed URLs (canned policy, RSA-SHA1) for published variants.

The stack has a CDN, so its URLs are signed for CloudFront rather than presigned for S3: the
public bucket stays reachable only through the distribution (OAC), caching keeps working (the
cache key ignores the signature), and a URL names the CDN, not the bucket. ``cryptography``
(OpenSSL) signs: about 1 ms a URL, where pure-Python RSA took 80.
"""

from __future__ import annotations

import datetime
from functools import lru_cache
from typing import Any

from botocore.signers import CloudFrontSigner

from imgpipe_core import cdn, keys, records
from imgpipe_core.config import Settings
from imgpipe_core.models import dump
from imgpipe_core.records import ProcessingRecord


class UrlSigner:
    """Signs URLs with one key pair for ``expires_seconds`` from the moment of signing."""

    def __init__(self, key_pair_id: str, private_key_pem: str, expires_seconds: int) -> None:
        # Imported here: only Delivery=private pays for loading OpenSSL at cold start.
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the CDN signing key must be an RSA private key")

        def sign(message: bytes) -> bytes:
            return key.sign(message, padding.PKCS1v15(), hashes.SHA1())  # CloudFront's RSA-SHA1

        self._signer = CloudFrontSigner(key_pair_id, sign)
        self.expires_seconds = expires_seconds

    def sign(self, url: str, moment: datetime.datetime | None = None) -> str:
        expires = (moment or records.now()) + datetime.timedelta(seconds=self.expires_seconds)
        return str(self._signer.generate_presigned_url(url, date_less_than=expires))


def delivered(record: ProcessingRecord, base_url: str, signer: UrlSigner | None) -> dict[str, Any]:
    """The record as readers are shown it (the API, ``imgpipe status``): each variant with the
    URL it is read at, and the manifest's, derived from their keys and ``base_url``
    (PublicBaseUrl); signed in Delivery=private. The record itself stores no URL."""
    shown = record.plain()
    if not record.variants:
        return shown
    moment = records.now()  # one expiry for every URL of one answer

    def url(key: str) -> str:
        plain = keys.public_url(base_url, key)
        return signer.sign(plain, moment) if signer else plain

    shown["variants"] = [{**dump(v), "url": url(v.key)} for v in record.variants]
    shown["manifestUrl"] = url(keys.manifest_key(record.processing_id))
    return shown


def signer_for(settings: Settings) -> UrlSigner | None:
    """The function's signer (None for Delivery=public); the key is read once per cold start."""
    if settings.delivery != "private":
        return None
    return _signer(
        settings.cdn_key_pair_id, settings.cdn_signing_key_parameter, settings.signed_url_expires
    )


@lru_cache(maxsize=2)
def _signer(key_pair_id: str, parameter: str, expires_seconds: int) -> UrlSigner:
    return UrlSigner(key_pair_id, cdn.signing_key(parameter), expires_seconds)
