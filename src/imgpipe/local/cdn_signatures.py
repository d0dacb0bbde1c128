"""CloudFront's signed-URL check, for the local CDN stand-in (``/cdn/`` of the API server).

A distribution whose cache behaviour trusts key groups serves a request only with a valid
canned-policy signature: ``Expires``, ``Signature`` and ``Key-Pair-Id`` query parameters, the
signature RSA-SHA1 (PKCS#1 v1.5) over the policy CloudFront rebuilds from the URL without those
three parameters, by a public key of a trusted group, and ``Expires`` still in the future.
Anything else is 403, as CloudFront answers. Custom policies (``Policy=``) are refused: imgpipe
never makes them, and a check the engine cannot do must not pass.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIGNED_PARAMETERS = ("Expires", "Signature", "Key-Pair-Id")
# CloudFront's URL-safe base64: these replace "+", "=" and "/".
_UNSAFE = str.maketrans({"-": "+", "_": "=", "~": "/"})


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str


def canned_policy(resource: str, expires: int) -> bytes:
    """The policy CloudFront signs for a canned-policy URL (no whitespace, this key order)."""
    statement = {"Resource": resource, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}
    return json.dumps({"Statement": [statement]}, separators=(",", ":")).encode()


def check(
    base_url: str,
    query: str,
    public_keys: Mapping[str, str],
    *,
    now: float | None = None,
) -> Refusal | None:
    """None if ``base_url`` (scheme, host, path) with ``query`` is a valid signed request.

    ``public_keys`` maps the Key-Pair-Id (public key id) of every key in the trusted groups
    to its PEM.
    """
    pairs = parse_qsl(query, keep_blank_values=True)
    given = dict(pairs)
    if "Policy" in given:
        return Refusal("AccessDenied", "custom policies are not emulated locally")
    key_id = given.get("Key-Pair-Id")
    if not key_id:
        return Refusal("MissingKey", "Missing Key-Pair-Id query parameter or cookie value")
    if "Signature" not in given or "Expires" not in given:
        return Refusal("MissingSignature", "Missing Signature or Expires query parameter")
    pem = public_keys.get(key_id)
    if pem is None:
        return Refusal("InvalidKey", "Unknown Key")
    try:
        expires = int(given["Expires"])
        signature = base64.b64decode(given["Signature"].translate(_UNSAFE), validate=True)
    except (ValueError, binascii.Error):
        return Refusal("MalformedSignature", "Could not unencode Signature")
    # The signed resource is the URL as it was before the signer appended its parameters.
    rest = [part for part in query.split("&") if part.split("=", 1)[0] not in SIGNED_PARAMETERS]
    resource = f"{base_url}?{'&'.join(rest)}" if rest else base_url
    try:
        public_key = serialization.load_pem_public_key(pem.encode())
        if not isinstance(public_key, rsa.RSAPublicKey):
            return Refusal("InvalidKey", "Unknown Key")
        # PKCS#1 v1.5 with SHA-1 only: what CloudFront verifies.
        policy = canned_policy(resource, expires)
        public_key.verify(signature, policy, padding.PKCS1v15(), hashes.SHA1())
    except (InvalidSignature, ValueError):
        return Refusal("AccessDenied", "Access denied")
    if (time.time() if now is None else now) >= expires:
        return Refusal("AccessDenied", "Access denied")
    return None
