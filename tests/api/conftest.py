"""A dockyardd per test module (tests that crash or restart the daemon make their own)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.helpers.dockyardd import Dockyardd, running_dockyardd


@pytest.fixture(scope="module")
def dockyardd() -> Iterator[Dockyardd]:
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    with running_dockyardd() as d:
        yield d
