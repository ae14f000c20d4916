"""kazoo against a zoe started with --max-watches 3 (tests/hostile_input.rs):
the watch limit surfaces as kazoo's QuotaExceededError, nothing else breaks.

Not named test_*.py: it needs that zoe-only setting, so the pytest runs that
collect this directory against any server (zoe or ZooKeeper) skip it; the
Rust test names it explicitly.
"""

import pytest
from kazoo.exceptions import QuotaExceededError

from conftest import Calls


def test_watch_limit_is_quota_exceeded(zk, other, base):
    calls = Calls()
    # `base` itself is not watched; three watched paths fit.
    for name in ("a", "b", "c"):
        assert zk.exists(base + "/" + name, watch=calls) is None
    with pytest.raises(QuotaExceededError):
        zk.exists(base + "/d", watch=calls)
    with pytest.raises(QuotaExceededError):
        zk.get_children(base, watch=calls)
    # Reads without a watch, and other sessions, are unaffected.
    assert zk.exists(base + "/d") is None
    other.create(base + "/a")
    assert other.exists(base + "/a", watch=Calls()) is not None
    # The creation fires /a's watch, which frees a place.
    calls.wait_count(1)
    assert zk.exists(base + "/d", watch=calls) is None
