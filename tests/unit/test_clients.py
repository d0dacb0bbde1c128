"""The clients a Lambda function builds: botocore's, from a loader that skips its service scan."""

from __future__ import annotations

from collections.abc import Iterator

import botocore.loaders
import botocore.session
import pytest
from botocore.exceptions import UnknownServiceError

from imgpipe_core import clients


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[botocore.session.Session]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    clients._session.cache_clear()
    yield clients._session()
    clients._session.cache_clear()


def test_the_loader_knows_the_services_botocore_knows(session: botocore.session.Session) -> None:
    # GIVEN botocore's own loader, which scans every service directory for the model type
    stock = botocore.loaders.create_loader()

    # THEN ours names the same services, for each model type a client reads
    ours = session.get_component("data_loader")
    for type_name in ("service-2", "endpoint-rule-set-1"):
        assert ours.list_available_services(type_name) == stock.list_available_services(type_name)


@pytest.mark.parametrize("service", ["s3", "dynamodb", "stepfunctions", "events", "sns", "ssm"])
def test_a_client_is_botocores_client(session: botocore.session.Session, service: str) -> None:
    # WHEN a function builds a client
    ours = session.create_client(service)
    stock = botocore.session.get_session().create_client(service)

    # THEN it has botocore's model and endpoint
    assert ours.meta.service_model.api_version == stock.meta.service_model.api_version
    assert ours.meta.service_model.operation_names == stock.meta.service_model.operation_names
    assert ours.meta.endpoint_url == stock.meta.endpoint_url


def test_an_unknown_service_is_still_refused(session: botocore.session.Session) -> None:
    with pytest.raises(UnknownServiceError):
        session.create_client("no-such-service")
