from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

STACK_TEMPLATE = Path(__file__).parent / "stack" / "template.yaml"


@pytest.fixture(scope="session")
def test_stack(engine: Any) -> dict[str, str]:
    """The small engine test app, deployed once per test process."""
    return dict(engine.deploy(STACK_TEMPLATE, "enginetest").outputs)
