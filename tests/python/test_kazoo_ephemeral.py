"""kazoo: ephemeral and sequential nodes, session close and session expiry."""

import pytest
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import NoChildrenForEphemeralsError
from kazoo.protocol.states import EventType

from conftest import SESSION_TIMEOUT_S, WAIT_S, Calls, connect_string, wait_until


def test_ephemeral_owner(zk, other, base):
    path, stat = zk.create(base + "/e", b"x", ephemeral=True, include_data=True)
    session_id = zk.client_id[0]
    assert stat.ephemeralOwner == session_id
    assert other.exists(path).ephemeralOwner == session_id
    other.create(base + "/o", ephemeral=True)
    assert zk.exists(base + "/o").ephemeralOwner == other.client_id[0]
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(path + "/kid")


def test_sequential_numbering_counts_every_create(zk, base):
    zk.create(base + "/a")
    assert zk.create(base + "/s-", b"1", sequence=True) == base + "/s-0000000001"
    zk.delete(base + "/a")
    # The counter counts child creates (deletes do not give numbers back).
    s2 = zk.create(base + "/s-", b"2", sequence=True)
    assert s2 == base + "/s-0000000002"
    assert zk.get(s2)[0] == b"2"
    # one counter per parent, shared by all prefixes
    assert zk.create(base + "/t-", sequence=True) == base + "/t-0000000003"
    es = zk.create(base + "/es-", ephemeral=True, sequence=True)
    assert es == base + "/es-0000000004"
    assert zk.exists(es).ephemeralOwner == zk.client_id[0]
    zk.create(base + "/fresh")
    assert zk.create(base + "/fresh/n", sequence=True) == base + "/fresh/n0000000000"
    stat = zk.exists(base)
    assert stat.numChildren == 5  # s-1, s-2, t-3, es-4, fresh
    assert stat.cversion == 7  # 6 creates + 1 delete


def test_session_close_removes_ephemerals(client_factory, other, base):
    owner = client_factory()
    owner.create(base + "/e1", ephemeral=True)
    es = owner.create(base + "/e-", ephemeral=True, sequence=True)
    before = other.exists(base)
    owner.stop()
    owner.close()
    assert other.exists(base + "/e1") is None
    assert other.exists(es) is None
    after = other.exists(base)
    assert after.numChildren == before.numChildren - 2
    assert after.cversion == before.cversion + 2
    assert after.pzxid > before.pzxid


def test_session_expiry_via_second_client(client_factory, base):
    victim = client_factory()
    observer = client_factory()
    states = Calls()
    victim.add_listener(states)
    victim.create(base + "/e1", b"1", ephemeral=True)
    es = victim.create(base + "/e-", ephemeral=True, sequence=True)
    observer.create(base + "/keep", ephemeral=True)

    child_events = Calls()
    data_events = Calls()
    assert sorted(observer.get_children(base, watch=child_events)) == [
        "e-0000000001",
        "e1",
        "keep",
    ]
    observer.get(base + "/e1", watch=data_events)
    before = observer.exists(base)

    session_id, password = victim.client_id
    hijacker = KazooClient(
        hosts=connect_string(),
        timeout=SESSION_TIMEOUT_S,
        client_id=(session_id, password),
    )
    hijacker.start(timeout=WAIT_S)
    try:
        assert hijacker.client_id[0] == session_id
    finally:
        hijacker.stop()
        hijacker.close()

    wait_until(lambda: KazooState.LOST in states.items, "the victim to see LOST")

    ev = child_events.wait_count(1)[0]
    assert ev.type == EventType.CHILD and ev.path == base
    ev = data_events.wait_count(1)[0]
    assert ev.type == EventType.DELETED and ev.path == base + "/e1"
    assert observer.get_children(base) == ["keep"]
    assert observer.exists(base + "/e1") is None
    assert observer.exists(es) is None
    after = observer.exists(base)
    assert after.numChildren == 1
    assert after.cversion == before.cversion + 2
    assert after.pzxid > before.pzxid

    # kazoo opens a new session by itself after LOST
    wait_until(
        lambda: victim.connected and victim.client_id and victim.client_id[0] != session_id,
        "the victim to reconnect with a new session",
    )
    assert victim.exists(base + "/e1") is None
    # The old session id can no longer be attached to: kazoo is told the
    # session expired and falls back to a brand-new session.
    old = KazooClient(
        hosts=connect_string(), timeout=SESSION_TIMEOUT_S, client_id=(session_id, password)
    )
    try:
        old.start(timeout=WAIT_S)
        assert old.client_id[0] != session_id
    finally:
        old.stop()
        old.close()
