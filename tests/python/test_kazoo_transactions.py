"""kazoo: transactions (multi) that commit and that roll back."""

from kazoo.exceptions import (
    BadVersionError,
    NodeExistsError,
    NoNodeError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import ZnodeStat


def test_commit(zk, base):
    t = zk.transaction()
    t.create(base + "/a", b"a")
    t.create(base + "/a/b")
    t.set_data(base, b"v1", version=0)
    t.check(base, 1)
    t.create(base + "/s-", sequence=True)
    t.delete(base + "/a/b")
    t.set_data(base, b"v2", version=1)
    results = t.commit()
    assert results[0] == base + "/a"
    assert results[1] == base + "/a/b"
    assert isinstance(results[2], ZnodeStat) and results[2].version == 1
    assert results[3] is True
    assert results[4] == base + "/s-0000000001"  # counts the create of /a earlier in the batch
    assert results[5] is True
    assert isinstance(results[6], ZnodeStat) and results[6].version == 2
    # one transaction, one zxid
    assert results[2].mzxid == results[6].mzxid
    a = zk.exists(base + "/a")
    assert a.czxid == results[2].mzxid
    assert a.cversion == 2 and a.numChildren == 0
    assert zk.exists(base + "/a/b") is None
    assert zk.get(base)[0] == b"v2"


def test_rollback_in_the_middle(zk, base):
    zk.create(base + "/keep")
    before = zk.exists(base)
    t = zk.transaction()
    t.create(base + "/x")
    t.set_data(base, b"no", version=5)
    t.create(base + "/y")
    t.delete(base + "/keep")
    results = t.commit()
    assert [type(r) for r in results] == [
        RolledBackError,
        BadVersionError,
        RuntimeInconsistency,
        RuntimeInconsistency,
    ]
    assert zk.exists(base + "/x") is None
    assert zk.exists(base + "/y") is None
    assert zk.exists(base + "/keep") is not None
    after = zk.exists(base)
    assert (after.version, after.cversion, after.numChildren) == (
        before.version,
        before.cversion,
        before.numChildren,
    )
    assert zk.get(base)[0] == b""


def test_rollback_at_the_first_op(zk, base):
    zk.create(base + "/exists")
    t = zk.transaction()
    t.create(base + "/exists")
    t.create(base + "/z")
    results = t.commit()
    assert [type(r) for r in results] == [NodeExistsError, RuntimeInconsistency]
    assert zk.exists(base + "/z") is None


def test_failed_check_rolls_back_a_sequential_create(zk, base):
    t = zk.transaction()
    t.create(base + "/s-", sequence=True)
    t.check(base + "/missing", 0)
    results = t.commit()
    assert [type(r) for r in results] == [RolledBackError, NoNodeError]
    assert zk.get_children(base) == []
    # the rolled-back create did not use up a sequence number
    assert zk.create(base + "/s-", sequence=True) == base + "/s-0000000000"


def test_context_manager_commits(zk, base):
    with zk.transaction() as t:
        t.create(base + "/c1", b"1")
        t.create(base + "/c2", b"2")
    assert sorted(zk.get_children(base)) == ["c1", "c2"]
    assert zk.get(base + "/c2")[0] == b"2"
