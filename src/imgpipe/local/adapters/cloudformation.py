"""CloudFormation resources that moto creates incompletely.

* ``AWS::StepFunctions::StateMachine``: moto creates it in its non-executing backend and
  ignores ``DefinitionS3Location``, ``Definition`` and ``DefinitionSubstitutions``. Here the
  definition is resolved the way CloudFormation does and the machine lands in the executing
  (LocalStack-derived) backend that the Step Functions API serves.
* ``AWS::S3::Bucket``: moto applies only encryption (without ``BucketKeyEnabled``) and tags.
  Versioning, Block Public Access, lifecycle, CORS, ``BucketKeyEnabled`` and
  ``NotificationConfiguration.EventBridgeConfiguration`` are applied too.
* ``AWS::DynamoDB::Table``: ``SSESpecification`` as the API spells it, so DescribeTable shows it;
  an update adds or removes a global secondary index as CloudFormation does (one per update;
  an index's key schema or projection cannot change), where moto ignored table updates.
* ``AWS::KMS::Key``: ``KeyPolicy`` stored as JSON text.
* Resources whose ``Condition`` is false are left out of DescribeStackResources.
* An update re-applies a resource that uses a condition (``Fn::If``, ``Condition``) whose
  parameters changed, as it does one that refers to a changed parameter (moto did only that).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.s3.models import FakeBucket, s3_backends
from moto.stepfunctions.models import StateMachine
from moto.utilities.utils import get_partition

_installed = False
_SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")


def install() -> None:
    global _installed
    if _installed:
        return
    StateMachine.create_from_cloudformation_json = classmethod(_sm_create)  # type: ignore[assignment,method-assign]
    StateMachine.update_from_cloudformation_json = classmethod(_sm_update)  # type: ignore[assignment,method-assign]
    StateMachine.delete_from_cloudformation_json = classmethod(_sm_delete)  # type: ignore[assignment,method-assign]
    original_create = FakeBucket.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    original_update = FakeBucket.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def bucket_create(
        cls: Any, resource_name: str, cfn: Any, account: str, region: str, **kw: Any
    ) -> Any:
        bucket = original_create(cls, resource_name, cfn, account, region, **kw)
        apply_bucket_properties(bucket, cfn.get("Properties", {}), account, region)
        return bucket

    # moto passes every argument of an update by keyword (parsing.parse_and_update_resource).
    def bucket_update(cls: Any, **kw: Any) -> Any:
        bucket = original_update(cls, **kw)
        properties = kw["cloudformation_json"].get("Properties", {})
        apply_bucket_properties(bucket, properties, kw["account_id"], kw["region_name"])
        return bucket

    FakeBucket.create_from_cloudformation_json = classmethod(bucket_create)  # type: ignore[assignment,method-assign]
    FakeBucket.update_from_cloudformation_json = classmethod(bucket_update)  # type: ignore[assignment,method-assign]
    _register_models()
    _table_encryption()
    _table_index_updates()
    _key_policy_text()
    _conditional_resources()
    _layer_version_ref()
    _function_properties()
    _drop_no_value_items()
    _log_group_arn()
    _role_policies_on_update()
    _installed = True


def _role_policies_on_update() -> None:
    """A stack update applies an ``AWS::IAM::Role``'s changed inline ``Policies`` (a grant on a
    replaced resource's new ARN, say); moto's update only touches the description."""
    from moto.iam.models import Role

    original = Role.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def update(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:  # moto's keyword names: it calls updates by keyword
        role = original(
            cls,
            original_resource=original_resource,
            new_resource_name=new_resource_name,
            cloudformation_json=cloudformation_json,
            account_id=account_id,
            region_name=region_name,
        )
        wanted = {
            str(policy["PolicyName"]): policy["PolicyDocument"]
            for policy in cloudformation_json.get("Properties", {}).get("Policies", [])
        }
        for name in set(role.policies) - set(wanted):
            role.delete_policy(name)
        for name, document in wanted.items():
            role.put_policy(name, document)
        return role

    Role.update_from_cloudformation_json = classmethod(update)  # type: ignore[assignment,method-assign]


def _log_group_arn() -> None:
    """``Fn::GetAtt LogGroup.Arn`` ends in ``:*`` on AWS (the form IAM evaluates log-group
    actions such as FilterLogEvents against); moto's lacks it."""
    from moto.logs.models import LogGroup

    original = LogGroup.get_cfn_attribute

    def get_cfn_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name == "Arn":
            return f"{self.arn}:*"
        return original(self, attribute_name)

    LogGroup.get_cfn_attribute = get_cfn_attribute  # type: ignore[method-assign]


def _drop_no_value_items() -> None:
    """CloudFormation removes a list item that resolves to ``AWS::NoValue`` (an ``Fn::If``
    branch, say); moto keeps it as ``null``, which e.g. IAM would refuse as a statement."""
    from moto.cloudformation import parsing

    original = parsing.clean_json

    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        if not isinstance(resource_json, list):
            return original(resource_json, resources_map)
        cleaned = [(item, original(item, resources_map)) for item in resource_json]
        # Only an intrinsic (a dict) can resolve to NoValue; a literal null stays.
        return [value for item, value in cleaned if value is not None or not isinstance(item, dict)]

    parsing.clean_json = clean_json


# -- state machines ------------------------------------------------------------------------


def _backend(account_id: str, region_name: str) -> Any:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    return stepfunctions_parser_backends[account_id][region_name]


def resolve_definition(properties: dict[str, Any], account_id: str, region_name: str) -> str:
    """The definition string CloudFormation would hand to Step Functions."""
    if "DefinitionString" in properties:
        definition = str(properties["DefinitionString"])
    elif "Definition" in properties:
        definition = json.dumps(properties["Definition"])
    elif "DefinitionS3Location" in properties:
        location = properties["DefinitionS3Location"]
        backend = s3_backends[account_id][get_partition(region_name)]
        key = backend.get_object(location["Bucket"], location["Key"], location.get("Version"))
        if key is None:
            raise ValueError(f"DefinitionS3Location not found: {location}")
        definition = key.value.decode()
    else:
        raise ValueError("state machine has no Definition, DefinitionString or S3 location")
    substitutions = {
        k: _as_text(v) for k, v in (properties.get("DefinitionSubstitutions") or {}).items()
    }
    return _SUBSTITUTION.sub(lambda m: substitutions.get(m.group(1), m.group(0)), definition)


def _camel(value: Any) -> Any:
    """CloudFormation's PascalCase property keys as the Step Functions API spells them."""
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _sm_create(
    cls: Any, resource_name: str, cfn: Any, account_id: str, region_name: str, **_: Any
) -> Any:
    from moto.stepfunctions.utils import cfn_to_api_tags

    properties = cfn["Properties"]
    return _backend(account_id, region_name).create_state_machine(
        name=properties.get("StateMachineName", resource_name),
        definition=resolve_definition(properties, account_id, region_name),
        roleArn=properties.get("RoleArn", ""),
        tags=cfn_to_api_tags(properties.get("Tags", [])),
        loggingConfiguration=_camel(properties.get("LoggingConfiguration")),
        tracingConfiguration=properties.get("TracingConfiguration"),
        sm_type=properties.get("StateMachineType", "STANDARD"),
    )


def _sm_update(
    cls: Any,
    original_resource: Any,
    new_resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
) -> Any:  # moto's keyword names: it calls updates by keyword
    original, cfn = original_resource, cloudformation_json
    properties = cfn.get("Properties", {})
    name = properties.get("StateMachineName", original.name)
    if name != original.name:
        created = _sm_create(cls, name, cfn, account_id, region_name)
        _sm_delete(cls, original.arn, cfn, account_id, region_name)
        return created
    # A LoggingConfiguration left out of the template is CloudFormation's default: OFF.
    logging = _camel(properties.get("LoggingConfiguration")) or {"level": "OFF"}
    return _backend(account_id, region_name).update_state_machine(
        original.arn,
        definition=resolve_definition(properties, account_id, region_name),
        role_arn=properties.get("RoleArn"),
        logging_configuration=logging,
    )


def _sm_delete(cls: Any, resource_name: str, cfn: Any, account_id: str, region_name: str) -> None:
    backend = _backend(account_id, region_name)
    arn = resource_name
    if not arn.startswith("arn:"):
        match = [sm.arn for sm in backend.state_machines if sm.name == resource_name]
        if not match:
            return
        arn = match[0]
    backend.delete_state_machine(arn)


# -- buckets ---------------------------------------------------------------------------------


def apply_bucket_properties(
    bucket: FakeBucket, properties: dict[str, Any], account_id: str, region_name: str
) -> None:
    backend = s3_backends[account_id][get_partition(region_name)]
    versioning = properties.get("VersioningConfiguration")
    if versioning:
        backend.put_bucket_versioning(bucket.name, versioning.get("Status", "Enabled"))
    block = properties.get("PublicAccessBlockConfiguration")
    if block:
        backend.put_public_access_block(bucket.name, {k: bool(v) for k, v in block.items()})
    lifecycle = properties.get("LifecycleConfiguration", {}).get("Rules")
    if lifecycle:
        backend.put_bucket_lifecycle(bucket.name, [_lifecycle_rule(r) for r in lifecycle])
    cors = properties.get("CorsConfiguration", {}).get("CorsRules")
    if cors:
        backend.put_bucket_cors(bucket.name, [_cors_rule(r) for r in cors])
    rules = (properties.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration")
    if bucket.encryption and rules and _truthy(rules[0].get("BucketKeyEnabled")):
        bucket.encryption["Rule"]["BucketKeyEnabled"] = True  # moto drops it; objects report it
    notification = properties.get("NotificationConfiguration") or {}
    event_bridge = notification.get("EventBridgeConfiguration", {})
    if _truthy(event_bridge.get("EventBridgeEnabled", bool(event_bridge))):
        bucket.set_notification_configuration({"EventBridgeConfiguration": {}})


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    api: dict[str, Any] = {"ID": rule.get("Id", ""), "Status": rule.get("Status", "Enabled")}
    tags = rule.get("TagFilters") or []
    if tags:
        api["Filter"] = {"Tag": {"Key": tags[0]["Key"], "Value": tags[0]["Value"]}}
    else:
        api["Filter"] = {"Prefix": rule.get("Prefix") or ""}
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": str(rule["ExpirationInDays"])}
    elif _truthy(rule.get("ExpiredObjectDeleteMarker")):
        api["Expiration"] = {"ExpiredObjectDeleteMarker": "true"}
    if "NoncurrentVersionExpiration" in rule:
        days = rule["NoncurrentVersionExpiration"].get("NoncurrentDays")
        api["NoncurrentVersionExpiration"] = {"NoncurrentDays": str(days)}
    if "AbortIncompleteMultipartUpload" in rule:
        days = rule["AbortIncompleteMultipartUpload"].get("DaysAfterInitiation")
        api["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": str(days)}
    return api


def _cors_rule(rule: dict[str, Any]) -> dict[str, Any]:
    api: dict[str, Any] = {
        "AllowedMethod": rule.get("AllowedMethods", []),
        "AllowedOrigin": rule.get("AllowedOrigins", []),
    }
    if rule.get("AllowedHeaders"):
        api["AllowedHeader"] = rule["AllowedHeaders"]
    if rule.get("ExposedHeaders"):
        api["ExposeHeader"] = rule["ExposedHeaders"]
    if rule.get("MaxAge") is not None:
        api["MaxAgeSeconds"] = str(rule["MaxAge"])
    return api


# -- resource types moto's CloudFormation does not know -----------------------------------------


class _Resource:
    """A created-but-inert resource: a physical id and the attributes templates ask for.

    Concrete types list CloudFormationModel directly: moto only scans its direct subclasses.
    """

    TYPE = ""
    ATTRIBUTES: dict[str, str] = {}

    def __init__(self, name: str, attributes: dict[str, str]) -> None:
        self.name = name
        self.attributes = attributes

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def cloudformation_type(cls) -> str:  # type: ignore[override]
        return cls.TYPE

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.attributes[attribute_name]

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
        **kwargs: Any,
    ) -> _Resource:  # fmt: skip
        ident = uuid.uuid4().hex[:10].lower()
        values = {k: v.format(id=ident, region=region_name) for k, v in cls.ATTRIBUTES.items()}
        return cls(ident, values)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: Any,
        account_id: str, region_name: str,
    ) -> Any:  # fmt: skip
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        return None


class _OriginAccessControl(_Resource, CloudFormationModel):
    """CloudFront's rules for the name: at most 64 characters, unique in the account."""

    TYPE = "AWS::CloudFront::OriginAccessControl"
    ATTRIBUTES = {"Id": "{id}"}
    NAME_MAX = 64
    names: dict[str, set[str]] = {}  # account → names; OACs are global, not per region

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
        **kwargs: Any,
    ) -> _Resource:  # fmt: skip
        from moto.cloudformation.exceptions import ValidationError

        config = cloudformation_json["Properties"]["OriginAccessControlConfig"]
        name = str(config["Name"])
        taken = cls.names.setdefault(account_id, set())
        if len(name) > cls.NAME_MAX:
            raise ValidationError(message=f"OriginAccessControl name over 64 characters: {name}")
        if name in taken:
            raise ValidationError(message=f"OriginAccessControlAlreadyExists: {name}")
        taken.add(name)
        created = super().create_from_cloudformation_json(
            resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        created.attributes["Name"] = name
        return created

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        name = cloudformation_json.get("Properties", {}).get("OriginAccessControlConfig", {})
        cls.names.get(account_id, set()).discard(str(name.get("Name")))


class _CachePolicy(_Resource, CloudFormationModel):
    TYPE = "AWS::CloudFront::CachePolicy"
    ATTRIBUTES = {"Id": "{id}"}


class _ResponseHeadersPolicy(_Resource, CloudFormationModel):
    TYPE = "AWS::CloudFront::ResponseHeadersPolicy"
    ATTRIBUTES = {"Id": "{id}"}


class _PublicKey(_Resource, CloudFormationModel):
    """A real public key in moto's CloudFront, which the local CDN verifies signatures with."""

    TYPE = "AWS::CloudFront::PublicKey"
    ATTRIBUTES = {"Id": "{id}"}

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
        **kwargs: Any,
    ) -> _Resource:  # fmt: skip
        from moto.cloudfront.models import cloudfront_backends

        config = cloudformation_json["Properties"]["PublicKeyConfig"]
        backend = cloudfront_backends[account_id][get_partition(region_name)]
        key = backend.create_public_key(
            caller_ref=str(config["CallerReference"]),
            name=str(config["Name"]),
            encoded_key=str(config["EncodedKey"]),
        )
        return cls(key.id, {"Id": key.id})


class _KeyGroup(_Resource, CloudFormationModel):
    TYPE = "AWS::CloudFront::KeyGroup"
    ATTRIBUTES = {"Id": "{id}"}

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
        **kwargs: Any,
    ) -> _Resource:  # fmt: skip
        from moto.cloudfront.models import cloudfront_backends

        config = cloudformation_json["Properties"]["KeyGroupConfig"]
        backend = cloudfront_backends[account_id][get_partition(region_name)]
        group = backend.create_key_group(name=str(config["Name"]), items=list(config["Items"]))
        return cls(group.id, {"Id": group.id})


class _HttpApi(_Resource, CloudFormationModel):
    # Recorded, not served: locally the API runs behind imgpipe's own HTTP adapter.
    TYPE = "AWS::ApiGatewayV2::Api"
    ATTRIBUTES = {"ApiId": "{id}", "ApiEndpoint": "https://{id}.execute-api.{region}.amazonaws.com"}


class _HttpApiStage(_Resource, CloudFormationModel):
    TYPE = "AWS::ApiGatewayV2::Stage"


class _Distribution(_Resource, CloudFormationModel):
    """Registered in moto's CloudFront backend, so invalidations and listings work."""

    TYPE = "AWS::CloudFront::Distribution"
    ATTRIBUTES = {"Id": "{id}", "DomainName": "{id}.cloudfront.net"}

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
        **kwargs: Any,
    ) -> _Resource:  # fmt: skip
        from moto.cloudfront.models import cloudfront_backends

        config = cloudformation_json["Properties"]["DistributionConfig"]
        if len(str(config.get("Comment", ""))) > 128:
            from moto.cloudformation.exceptions import ValidationError

            raise ValidationError(message="Distribution Comment over 128 characters")
        api_config: dict[str, Any] = {
            "CallerReference": uuid.uuid4().hex,
            "Comment": config.get("Comment", ""),
            "Enabled": config.get("Enabled", True),
            "Origins": {
                "Quantity": len(config["Origins"]),
                "Items": [
                    {
                        "Id": origin["Id"],
                        "DomainName": origin["DomainName"],
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                    for origin in config["Origins"]
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": config["DefaultCacheBehavior"]["TargetOriginId"],
                "ViewerProtocolPolicy": config["DefaultCacheBehavior"].get(
                    "ViewerProtocolPolicy", "redirect-to-https"
                ),
                # The local CDN serves only URLs signed by these groups' keys, as CloudFront.
                "TrustedKeyGroups": {
                    "Items": list(config["DefaultCacheBehavior"].get("TrustedKeyGroups") or [])
                },
            },
        }
        backend = cloudfront_backends[account_id][get_partition(region_name)]
        distribution, _, _ = backend.create_distribution(api_config, [])
        ident = distribution.distribution_id
        return cls(ident, {"Id": ident, "DomainName": distribution.domain_name})


def _table_encryption() -> None:
    """SSESpecification as DescribeTable reports it: moto keeps the template's spelling
    (SSEEnabled), which its DescribeTable does not read, so a KMS table looked unencrypted."""
    from moto.dynamodb.models.table import Table

    original = Table.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create(cls: Any, resource_name: str, cfn: Any, account: str, region: str, **kw: Any) -> Any:
        table = original(cls, resource_name, cfn, account, region, **kw)
        spec = table.sse_specification
        if spec and "SSEEnabled" in spec:
            spec["Enabled"] = _truthy(spec.pop("SSEEnabled"))
        return table

    Table.create_from_cloudformation_json = classmethod(create)  # type: ignore[assignment,method-assign]


def _table_index_updates() -> None:
    """A stack update that changes the table's global secondary indexes: CloudFormation adds
    or deletes one per update (both at once fails), and refuses to change an existing index's
    key schema or projection (that needs a new index name). Other properties: as moto (kept)."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.table import Table

    def update(cls: Any, **kw: Any) -> Any:
        table = kw["original_resource"]
        properties = kw["cloudformation_json"].get("Properties", {})
        wanted = {
            index["IndexName"]: index
            for index in properties.get("GlobalSecondaryIndexes", [])
            if isinstance(index, dict) and "IndexName" in index
        }
        current = {index.name: index for index in table.global_indexes}
        for name in wanted.keys() & current.keys():
            old = current[name]
            if (old.schema, old.projection) != (
                wanted[name]["KeySchema"],
                wanted[name]["Projection"],
            ):
                raise ValidationError(
                    message=f"Cannot update GSI's properties other than Provisioned Throughput "
                    f"and Contributor Insights Specification ({name}). You can create a new GSI "
                    "with a different name."
                )
        added, removed = wanted.keys() - current.keys(), current.keys() - wanted.keys()
        if len(added) + len(removed) > 1:
            raise ValidationError(
                message="Cannot perform more than one GSI creation or deletion in a single "
                f"update (adding {sorted(added)}, deleting {sorted(removed)})"
            )
        changes = [{"Delete": {"IndexName": name}} for name in removed] + [
            {
                "Create": {
                    k: v for k, v in wanted[name].items() if k != "ContributorInsightsSpecification"
                }
            }
            for name in added
        ]
        if changes:
            dynamodb_backends[kw["account_id"]][kw["region_name"]].update_table(
                name=table.name,
                attr_definitions=properties.get("AttributeDefinitions", []),
                global_index=changes,
                throughput={},
                billing_mode="",
                stream_spec={},
                deletion_protection_enabled=None,
                warm_throughput=None,
            )
        return table

    Table.update_from_cloudformation_json = classmethod(update)  # type: ignore[assignment,method-assign]


def _key_policy_text() -> None:
    """A KeyPolicy given as an object is stored as JSON text, as KMS returns it (moto keeps the
    object, and its own DescribeKey then fails parsing it)."""
    from moto.kms.models import Key

    original = Key.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create(cls: Any, resource_name: str, cfn: Any, account: str, region: str, **kw: Any) -> Any:
        key = original(cls, resource_name, cfn, account, region, **kw)
        if not isinstance(key.policy, str):
            key.policy = json.dumps(key.policy)
        return key

    Key.create_from_cloudformation_json = classmethod(create)  # type: ignore[assignment,method-assign]


def _conditional_resources() -> None:
    """A resource whose Condition is false is not part of the stack: moto lists it in
    DescribeStackResources as an entry without a logical or physical id."""
    from moto.cloudformation.models import Stack

    original = Stack.stack_resources.fget  # type: ignore[attr-defined]

    def stack_resources(self: Any) -> Any:
        return [resource for resource in original(self) if resource is not None]

    Stack.stack_resources = property(stack_resources)  # type: ignore[method-assign,assignment]


def _register_models() -> None:
    from moto.cloudformation import parsing

    for cache in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cache.cache_clear()


class _BucketPolicy(_Resource, CloudFormationModel):
    """Applied to the bucket, so `get-bucket-policy` shows what the template granted.

    moto ignores conditions, so a "deny unless TLS" statement would deny everything; the
    engine speaks plain HTTP on loopback only, so such statements are dropped here.
    """

    TYPE = "AWS::S3::BucketPolicy"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
        **kwargs: Any,
    ) -> _Resource:  # fmt: skip
        properties = cloudformation_json["Properties"]
        backend = s3_backends[account_id][get_partition(region_name)]
        policy = dict(properties["PolicyDocument"])
        policy["Statement"] = [s for s in policy.get("Statement", []) if not _tls_only(s)]
        document = json.dumps(policy).encode()
        backend.put_bucket_policy(properties["Bucket"], document)
        return cls(f"{properties['Bucket']}-policy", {})


def _tls_only(statement: dict[str, Any]) -> bool:
    condition = statement.get("Condition") or {}
    return statement.get("Effect") == "Deny" and condition == {
        "Bool": {"aws:SecureTransport": "false"}
    }


class _QueuePolicy(_Resource, CloudFormationModel):
    TYPE = "AWS::SQS::QueuePolicy"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
        **kwargs: Any,
    ) -> _Resource:  # fmt: skip
        from moto.sqs.models import sqs_backends

        properties = cloudformation_json["Properties"]
        document = json.dumps(properties["PolicyDocument"])
        backend = sqs_backends[account_id][region_name]
        for url in properties.get("Queues", []):
            backend.set_queue_attributes(url.rstrip("/").rsplit("/", 1)[-1], {"Policy": document})
        return cls(uuid.uuid4().hex, {})


class _Alarm(_Resource, CloudFormationModel):
    """A real alarm in moto's CloudWatch (`describe-alarms` lists it); nothing evaluates it,
    since the engine publishes no AWS/* metrics."""

    TYPE = "AWS::CloudWatch::Alarm"
    ATTRIBUTES = {"Arn": ""}  # the real ARN, set at creation

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
        **kwargs: Any,
    ) -> _Resource:  # fmt: skip
        from moto.cloudwatch.models import cloudwatch_backends

        properties = cloudformation_json["Properties"]
        name = properties.get("AlarmName") or resource_name
        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=name,
            namespace=properties.get("Namespace", ""),
            metric_name=properties.get("MetricName", ""),
            comparison_operator=properties["ComparisonOperator"],
            evaluation_periods=int(properties["EvaluationPeriods"]),
            period=int(properties.get("Period", 60)),
            threshold=float(properties.get("Threshold", 0)),
            statistic=properties.get("Statistic", ""),
            description=properties.get("AlarmDescription", ""),
            dimensions=properties.get("Dimensions", []),
            alarm_actions=properties.get("AlarmActions", []),
            ok_actions=properties.get("OKActions", []),
            treat_missing_data=properties.get("TreatMissingData"),
        )
        return cls(name, {"Arn": alarm.alarm_arn})


def _layer_version_ref() -> None:
    # CloudFormation's Ref of a layer version is its ARN; moto returns the object's repr.
    from moto.awslambda.models import LayerVersion

    LayerVersion.physical_resource_id = property(lambda self: self.arn)  # type: ignore[attr-defined]


def _function_properties() -> None:
    # moto's CloudFormation drops these AWS::Lambda::Function properties; the runtime needs
    # Layers (the shared code lives there) and the rest shows up in get-function-configuration.
    from moto.awslambda.models import LambdaFunction

    original_create = LambdaFunction.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    original_update = LambdaFunction.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def apply(fn: Any, properties: dict[str, Any]) -> Any:
        if "Layers" in properties:
            fn.layers = fn._get_layers_data(properties["Layers"])
        if "TracingConfig" in properties:
            fn.tracing_config = properties["TracingConfig"]
        if "EphemeralStorage" in properties:
            fn.ephemeral_storage = properties["EphemeralStorage"]["Size"]
        if "Architectures" in properties:
            fn.architectures = properties["Architectures"]
        return fn

    def create(cls: Any, name: str, cfn: Any, account: str, region: str, **kw: Any) -> Any:
        return apply(original_create(cls, name, cfn, account, region, **kw), cfn["Properties"])

    def update(cls: Any, **kw: Any) -> Any:  # by keyword, as bucket_update
        updated = original_update(cls, **kw)
        return apply(updated, kw["cloudformation_json"].get("Properties", {}))

    LambdaFunction.create_from_cloudformation_json = classmethod(create)  # type: ignore[assignment,method-assign]
    LambdaFunction.update_from_cloudformation_json = classmethod(update)  # type: ignore[assignment,method-assign]
