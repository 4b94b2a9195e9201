"""pytest fixtures for the fake Cerebras server (registered as the `cerebras_magic` pytest11 plugin).

Loaded into every pytest run, so it imports only the standard library and this package, and starts no
server until a test asks for one.
"""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def _fake_server_session():
    from cerebras_magic.testing import FakeServer

    with FakeServer(api_key="test-key", tokens_per_second=None, ttft=0) as server:
        yield server


@pytest.fixture
def fake_server(_fake_server_session):
    """A running FakeServer (key "test-key", no pacing), reset before and after each test."""
    _fake_server_session.reset()
    yield _fake_server_session
    _fake_server_session.reset()


@pytest.fixture
def fake_server_paced():
    """A fresh FakeServer with the default Cerebras-like pace (2000 tok/s, ttft 0.1 s)."""
    from cerebras_magic.testing import FakeServer

    with FakeServer(api_key="test-key") as server:
        yield server
