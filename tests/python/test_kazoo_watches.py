"""kazoo: one-shot watches and the DataWatch/ChildrenWatch recipes."""

from kazoo.protocol.states import EventType, KeeperState

from conftest import Calls


def expect_event(calls, index, type_, path):
    ev = calls.wait_count(index + 1)[index]
    assert (ev.type, ev.state, ev.path) == (type_, KeeperState.CONNECTED, path), ev


def barrier(watcher_side, other, calls, index, path):
    """The next event on this connection must be the barrier's creation,
    which proves no other event was pending before it."""
    assert watcher_side.exists(path, watch=calls) is None
    other.create(path)
    expect_event(calls, index, EventType.CREATED, path)


def test_data_watch_recipe(zk, other, base):
    path = base + "/d"
    zk.create(path, b"v0")
    calls = Calls()

    @zk.DataWatch(path)
    def _watch(data, stat):
        calls((data, stat.version if stat else None))

    assert calls.wait_count(1) == [(b"v0", 0)]
    other.set(path, b"v1")
    assert calls.wait_count(2)[1] == (b"v1", 1)
    other.set(path, b"v2")
    assert calls.wait_count(3)[2] == (b"v2", 2)
    other.delete(path)
    assert calls.wait_count(4)[3] == (None, None)
    other.create(path, b"again")
    assert calls.wait_count(5)[4] == (b"again", 0)


def test_children_watch_recipe(zk, other, base):
    calls = Calls()
    zk.ChildrenWatch(base, lambda children: calls(sorted(children)))
    assert calls.wait_count(1) == [[]]
    other.create(base + "/a")
    assert calls.wait_count(2)[1] == ["a"]
    other.create(base + "/b", ephemeral=True)
    assert calls.wait_count(3)[2] == ["a", "b"]
    other.delete(base + "/a")
    assert calls.wait_count(4)[3] == ["b"]
    other.set(base, b"data change is not a child change")
    other.create(base + "/c")
    assert calls.wait_count(5)[4] == ["b", "c"]


def test_one_shot_data_watch(zk, other, base):
    events = Calls()
    zk.get(base, watch=events)
    other.set(base, b"1")
    expect_event(events, 0, EventType.CHANGED, base)
    other.set(base, b"2")  # the watch was consumed
    barrier(zk, other, events, 1, base + "/barrier-1")


def test_exists_watch_on_missing_node(zk, other, base):
    events = Calls()
    assert zk.exists(base + "/new", watch=events) is None
    other.create(base + "/new", b"n")
    expect_event(events, 0, EventType.CREATED, base + "/new")
    assert zk.exists(base + "/new", watch=events) is not None
    other.set(base + "/new", b"m")
    expect_event(events, 1, EventType.CHANGED, base + "/new")


def test_child_watch(zk, other, base):
    events = Calls()
    assert zk.get_children(base, watch=events) == []
    other.create(base + "/c")
    expect_event(events, 0, EventType.CHILD, base)
    other.create(base + "/c2")  # consumed
    other.set(base, b"x")  # data changes never fire child watches
    barrier(zk, other, events, 1, base + "/barrier-1")
    zk.get_children(base, watch=events)
    other.delete(base + "/c")
    expect_event(events, 2, EventType.CHILD, base)


def test_delete_fires_deleted(zk, other, base):
    events = Calls()
    zk.create(base + "/x")
    zk.create(base + "/y")
    zk.get(base + "/x", watch=events)
    zk.get_children(base + "/y", watch=events)
    other.delete(base + "/x")
    expect_event(events, 0, EventType.DELETED, base + "/x")
    other.delete(base + "/y")
    expect_event(events, 1, EventType.DELETED, base + "/y")


def test_failed_write_fires_nothing(zk, other, base):
    events = Calls()
    zk.get(base, watch=events)
    try:
        other.set(base, b"bad", version=42)
    except Exception:  # noqa: BLE001 - BadVersionError expected
        pass
    barrier(zk, other, events, 0, base + "/barrier-1")
    # the data watch is still armed
    other.set(base, b"good")
    expect_event(events, 1, EventType.CHANGED, base)


def test_transaction_fires_watches(zk, other, base):
    events = Calls()
    zk.get(base, watch=events)
    zk.get_children(base, watch=events)
    t = other.transaction()
    t.set_data(base, b"v")
    t.create(base + "/m")
    results = t.commit()
    assert results[0].version == 1
    assert results[1] == base + "/m"
    got = events.wait_count(2)
    assert sorted((e.type, e.path) for e in got) == sorted(
        [(EventType.CHANGED, base), (EventType.CHILD, base)]
    )
    # in op order: setData first, then the create's child event
    assert [e.type for e in got] == [EventType.CHANGED, EventType.CHILD]
