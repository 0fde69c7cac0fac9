"""The volume tests share the engine tests' reference dockerd and clean temporary directory."""

from __future__ import annotations

from tests.engine.conftest import clean_tmp, ref_docker

__all__ = ["clean_tmp", "ref_docker"]
