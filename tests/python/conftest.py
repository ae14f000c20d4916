"""Shared fixtures for the kazoo client tests.

The Rust integration test (tests/kazoo_client.rs) starts a fresh server and
passes its connect string in ZOE_TEST_CONNECT; nothing here starts servers.
"""

import os
import threading
import time

import pytest
from kazoo.client import KazooClient

SESSION_TIMEOUT_S = 4.0
WAIT_S = 15.0


def connect_string():
    hosts = os.environ.get("ZOE_TEST_CONNECT")
    if not hosts:
        raise RuntimeError(
            "ZOE_TEST_CONNECT is not set: run these tests through "
            "`cargo test --test kazoo_client`, which starts the server"
        )
    return hosts


def new_client(**kwargs):
    kwargs.setdefault("timeout", SESSION_TIMEOUT_S)
    client = KazooClient(hosts=connect_string(), **kwargs)
    client.start(timeout=WAIT_S)
    return client


@pytest.fixture
def client_factory():
    """Make started KazooClients; all are stopped and closed at teardown."""
    made = []

    def make(**kwargs):
        c = new_client(**kwargs)
        made.append(c)
        return c

    yield make
    for c in made:
        try:
            c.stop()
            c.close()
        except Exception:  # noqa: BLE001 - teardown must not mask the test result
            pass


@pytest.fixture
def zk(client_factory):
    return client_factory()


@pytest.fixture
def other(client_factory):
    """A second, independent session."""
    return client_factory()


@pytest.fixture
def base(zk, request):
    """A fresh persistent node named after the test, removed afterwards."""
    path = "/" + request.node.name.replace("[", "_").replace("]", "_")
    zk.create(path)
    yield path
    try:
        if zk.connected:
            zk.delete(path, recursive=True)
    except Exception:  # noqa: BLE001
        pass


def wait_until(predicate, what, timeout=WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


class Calls:
    """Thread-safe record of callback invocations."""

    def __init__(self):
        self.items = []
        self.cond = threading.Condition()

    def __call__(self, *args):
        with self.cond:
            self.items.append(args[0] if len(args) == 1 else args)
            self.cond.notify_all()

    def wait_count(self, n, timeout=WAIT_S):
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.items) >= n, timeout)
            if not ok:
                raise AssertionError(
                    "expected %d calls within %.1fs, got %r" % (n, timeout, self.items)
                )
            return list(self.items)
