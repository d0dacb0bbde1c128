"""``imgpipe cdn-key create``: the key pair of Delivery=private's signed URLs.

CloudFormation cannot generate an RSA key, so this makes one: the private key goes into the SSM
SecureString ``/imgpipe/<stack>/cdn-signing-key`` (which the API function may read), the public
key is printed for the stack parameter ``CdnPublicKeyPem``. Run it before deploying with
``Delivery=private``; the stack need not exist yet.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from imgpipe.aws import Stack
from imgpipe.cli import CliError
from imgpipe.commands.ops import stack_arguments

# CloudFront public keys must be 2048-bit RSA.
KEY_BITS = 2048


def parameter_name(stack_name: str) -> str:
    return f"/imgpipe/{stack_name}/cdn-signing-key"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = subparsers.add_parser("cdn-key", help="the key pair of signed URLs (Delivery=private)")
    actions = group.add_subparsers(dest="cdn_key_command", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create",
        parents=[stack_arguments()],
        help="store a new private key in SSM, print the public key for CdnPublicKeyPem",
    )
    create.add_argument(
        "--json", action="store_true", help='{"parameter": ..., "publicKeyPem": ...}'
    )
    create.add_argument(
        "--replace", action="store_true", help="overwrite an existing key (old URLs stop working)"
    )
    create.set_defaults(func=cmd_create)


def new_key_pair() -> tuple[str, str]:
    """(private key PEM, PKCS#1 as OpenSSL writes it; public key PEM for CloudFront)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private.decode(), public.decode()


def store_key_pair(ssm: Any, stack_name: str, *, replace: bool) -> tuple[str, str]:
    """A new pair: the private key into the stack's SSM SecureString; (parameter, public PEM)."""
    name = parameter_name(stack_name)
    private, public = new_key_pair()
    ssm.put_parameter(
        Name=name,
        Value=private,
        Type="SecureString",
        Overwrite=replace,
        Description="imgpipe: private key of the CDN's signed URLs (Delivery=private)",
    )
    return name, public


def cmd_create(args: argparse.Namespace) -> int:
    stack = Stack.connect(
        stack_name=args.stack_name,
        endpoint_url=args.endpoint_url,
        region=args.region,
        load_outputs=False,
    )
    ssm = stack.client("ssm")
    try:
        name, public = store_key_pair(ssm, stack.name, replace=args.replace)
    except ssm.exceptions.ParameterAlreadyExists as error:
        raise CliError(
            f"{parameter_name(stack.name)} exists; --replace makes a new key (redeploy with it)"
        ) from error
    if args.json:
        json.dump({"parameter": name, "publicKeyPem": public}, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(f"private key stored in SSM SecureString {name}", file=sys.stderr)
        print("deploy with Delivery=private and CdnPublicKeyPem set to:", file=sys.stderr)
        sys.stdout.write(public)
    return 0
