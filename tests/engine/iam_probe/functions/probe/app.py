"""IAM probe: makes the one AWS call the event names and reports AWS's answer as data."""

import boto3
from botocore.exceptions import ClientError


def handler(event, context):
    client = boto3.client(event["service"])
    try:
        response = getattr(client, event["call"])(**event.get("params", {}))
    except ClientError as error:
        return {
            "ok": False,
            "code": error.response["Error"]["Code"],
            "message": error.response["Error"].get("Message", ""),
            "status": error.response["ResponseMetadata"]["HTTPStatusCode"],
        }
    response.pop("ResponseMetadata", None)
    return {"ok": True, "errors": response.get("Errors", []), "keys": sorted(response)}
