"""Credentials the engine issued, so signatures can be verified the way AWS verifies them.

moto's server accepts any access key; AWS accepts only keys it issued. The engine issues three
kinds: its own fixed keys (registered here at start), IAM users' access keys and STS sessions
(AssumeRole, e.g. a worker's execution role), both looked up in moto's IAM/STS backends. Used by
the S3 POST-policy check and the local API server's SigV4 (``ApiAuth=IAM``) check.
"""

from __future__ import annotations

from dataclasses import dataclass

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.utils import utcnow

PARTITION = "aws"

# Access key id -> (secret, session token or None); the engine's fixed fake keys.
_FIXED: dict[str, tuple[str, str | None]] = {}


class CredentialError(Exception):
    """An access key AWS would not accept; ``code`` is the error code AWS answers with."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code  # InvalidAccessKeyId | InvalidToken | ExpiredToken


@dataclass(frozen=True)
class Issued:
    access_key_id: str
    secret_access_key: str
    principal_arn: str


def register(access_key_id: str, secret_access_key: str, session_token: str | None) -> None:
    """The engine's own keys (also accepted without their token, as the engine's env has none)."""
    _FIXED[access_key_id] = (secret_access_key, session_token)


def lookup(access_key_id: str, session_token: str | None) -> Issued:
    """The issued credential for this key and token; CredentialError when AWS would refuse."""
    fixed = _FIXED.get(access_key_id)
    if fixed is not None:
        secret, token = fixed
        if session_token not in (None, token):
            raise CredentialError("InvalidToken")
        return Issued(access_key_id, secret, f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:root")
    if session_token is not None:
        return _sts_session(access_key_id, session_token)
    return _iam_user_key(access_key_id)


def _sts_session(access_key_id: str, session_token: str) -> Issued:
    from moto.sts.models import sts_backends

    for role in sts_backends[DEFAULT_ACCOUNT_ID][PARTITION].assumed_roles:
        if role.access_key_id != access_key_id:
            continue
        if role.session_token != session_token:
            raise CredentialError("InvalidToken")
        if role.expiration <= utcnow():
            raise CredentialError("ExpiredToken")
        role_name = role.role_arn.split("/")[-1]
        arn = f"arn:aws:sts::{DEFAULT_ACCOUNT_ID}:assumed-role/{role_name}/{role.session_name}"
        return Issued(access_key_id, role.secret_access_key, arn)
    raise CredentialError("InvalidAccessKeyId")


def _iam_user_key(access_key_id: str) -> Issued:
    from moto.iam.models import iam_backends

    backend = iam_backends[DEFAULT_ACCOUNT_ID][PARTITION]
    for user in backend.users.values():
        for key in user.access_keys:
            if key.access_key_id == access_key_id and key.status == "Active":
                return Issued(access_key_id, key.secret_access_key, user.arn)
    raise CredentialError("InvalidAccessKeyId")
