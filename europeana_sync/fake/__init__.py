"""A local fake of the Europeana Search/Record and Annotations APIs and of WITH.

Tests start one per test (``FakeServer``) and point the real clients at it; the demo runs
it with ``python -m europeana_sync.fake``. Flask is imported only inside this subpackage.
"""

from .app import create_fake_app
from .auth import FakeAccounts, FakeClientApp, FakeUser
from .faults import UNLIMITED, FaultConfig
from .server import FakeEndpoints, FakeServer

__all__ = [
    "create_fake_app",
    "FakeAccounts",
    "FakeClientApp",
    "FakeUser",
    "FaultConfig",
    "UNLIMITED",
    "FakeEndpoints",
    "FakeServer",
]
