"""Stack updates resolve parameters as CloudFormation does (adapters/cfn_parameters.py): an
omitted parameter takes its Default, ``UsePreviousValue`` keeps the stack's value."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.engine


def _ssm(logical_id: str, value: Any) -> dict[str, Any]:
    name = {"Fn::Sub": f"/${{AWS::StackName}}/{logical_id}"}
    return {
        "Type": "AWS::SSM::Parameter",
        "Properties": {"Name": name, "Type": "String", "Value": value},
    }


# Level reaches Direct by a Ref, Sub by a Fn::Sub, Conditioned only through a condition.
TEMPLATE = {
    "Parameters": {
        "Level": {"Type": "String", "Default": "ALL"},
        "Origins": {"Type": "CommaDelimitedList", "Default": "*"},
    },
    "Conditions": {"Quiet": {"Fn::Equals": [{"Ref": "Level"}, "ERROR"]}},
    "Resources": {
        "Direct": _ssm("Direct", {"Ref": "Level"}),
        "Sub": _ssm("Sub", {"Fn::Sub": "level-${Level}"}),
        "Conditioned": _ssm("Conditioned", {"Fn::If": ["Quiet", "quiet", "loud"]}),
        "Joined": _ssm("Joined", {"Fn::Join": [";", {"Ref": "Origins"}]}),
    },
}


def _stack(engine: Any, **parameters: str) -> str:
    name = f"params-{uuid.uuid4().hex[:8]}"
    engine.client("cloudformation").create_stack(
        StackName=name, TemplateBody=json.dumps(TEMPLATE), Parameters=_given(parameters)
    )
    return name


def _given(parameters: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]


def _update(engine: Any, name: str, parameters: list[dict[str, Any]], template: dict = TEMPLATE):
    engine.client("cloudformation").update_stack(
        StackName=name, TemplateBody=json.dumps(template), Parameters=parameters
    )


def _state(engine: Any, name: str) -> tuple[dict[str, str], dict[str, str]]:
    """The stack's parameters and each SSM parameter's value, by logical id."""
    cfn, ssm = engine.client("cloudformation"), engine.client("ssm")
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    resources = cfn.describe_stack_resources(StackName=name)["StackResources"]
    values = {
        r["LogicalResourceId"]: ssm.get_parameter(Name=r["PhysicalResourceId"])["Parameter"][
            "Value"
        ]
        for r in resources
    }
    return parameters, values


def test_an_update_that_omits_a_parameter_reverts_it_to_its_default(engine):
    # GIVEN a stack created with Level=ERROR and two origins
    name = _stack(engine, Level="ERROR", Origins="a,b")
    assert _state(engine, name)[1] == {
        "Direct": "ERROR",
        "Sub": "level-ERROR",
        "Conditioned": "quiet",
        "Joined": "a;b",
    }
    # WHEN it is updated naming only Origins (the same template)
    _update(engine, name, _given({"Origins": "c"}))
    # THEN Level is back at its Default, and every resource depending on it, by a Ref, a Sub
    # or only through a condition, was updated
    parameters, values = _state(engine, name)
    assert parameters == {"Level": "ALL", "Origins": "c"}
    assert values == {"Direct": "ALL", "Sub": "level-ALL", "Conditioned": "loud", "Joined": "c"}


def test_an_update_naming_no_parameter_reverts_all_of_them(engine):
    name = _stack(engine, Level="ERROR", Origins="a,b")
    _update(engine, name, [])
    parameters, values = _state(engine, name)
    assert parameters == {"Level": "ALL", "Origins": "*"}
    assert values["Direct"] == "ALL" and values["Joined"] == "*"


def test_use_previous_value_keeps_the_stacks_value_also_a_defaulted_one(engine):
    # GIVEN a stack whose Origins took its Default at creation
    name = _stack(engine, Level="ERROR")
    # WHEN an update keeps both by UsePreviousValue and changes nothing else
    keep = [{"ParameterKey": k, "UsePreviousValue": True} for k in ("Level", "Origins")]
    changed = json.loads(json.dumps(TEMPLATE))
    changed["Resources"]["Extra"] = _ssm("Extra", {"Ref": "Level"})
    _update(engine, name, keep, changed)
    # THEN both keep their values (a list parameter's too)
    parameters, values = _state(engine, name)
    assert parameters == {"Level": "ERROR", "Origins": "*"}
    assert values["Direct"] == "ERROR" and values["Extra"] == "ERROR"


def test_use_previous_value_for_a_parameter_the_stack_lacks_is_refused(engine):
    name = _stack(engine)
    grown = json.loads(json.dumps(TEMPLATE))
    grown["Parameters"]["New"] = {"Type": "String", "Default": "n"}
    with pytest.raises(ClientError) as refused:
        _update(engine, name, [{"ParameterKey": "New", "UsePreviousValue": True}], grown)
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert "New" in refused.value.response["Error"]["Message"]


def test_a_change_set_resolves_parameters_the_same_way(engine):
    cfn = engine.client("cloudformation")
    name = _stack(engine, Level="ERROR", Origins="a,b")
    cfn.create_change_set(
        StackName=name,
        ChangeSetName="omit-level",
        ChangeSetType="UPDATE",
        TemplateBody=json.dumps(TEMPLATE),
        Parameters=[{"ParameterKey": "Origins", "UsePreviousValue": True}],
    )
    cfn.execute_change_set(StackName=name, ChangeSetName="omit-level")
    parameters, values = _state(engine, name)
    assert parameters == {"Level": "ALL", "Origins": "a,b"}
    assert values["Conditioned"] == "loud" and values["Joined"] == "a;b"
