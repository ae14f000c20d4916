"""kazoo: create/get/set/delete with exact stats, errors, special nodes, recipes."""

import time

import pytest
from kazoo.exceptions import (
    BadArgumentsError,
    BadVersionError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
)
from kazoo.security import OPEN_ACL_UNSAFE


def test_create_get_set_with_stats(zk, base):
    now_ms = time.time() * 1000
    path, stat = zk.create(base + "/a", b"hello", include_data=True)
    assert path == base + "/a"
    assert stat.version == 0
    assert stat.cversion == 0
    assert stat.aversion == 0
    assert stat.numChildren == 0
    assert stat.dataLength == 5
    assert stat.ephemeralOwner == 0
    assert stat.czxid > 0
    assert stat.czxid == stat.mzxid == stat.pzxid
    assert stat.ctime == stat.mtime
    assert abs(stat.ctime - now_ms) < 10_000

    data, got = zk.get(path)
    assert data == b"hello"
    assert got == stat
    assert zk.exists(path) == stat

    s1 = zk.set(path, b"world!", version=0)
    assert s1.version == 1
    assert s1.czxid == stat.czxid
    assert s1.mzxid > stat.mzxid
    assert s1.pzxid == stat.pzxid
    assert s1.dataLength == 6
    assert s1.ctime == stat.ctime
    assert s1.mtime >= stat.mtime

    s2 = zk.set(path, b"world!")  # same bytes still bump the version
    assert s2.version == 2
    assert s2.mzxid > s1.mzxid
    assert zk.get(path) == (b"world!", s2)


def test_children_and_parent_stat(zk, base):
    assert zk.create(base + "/x") == base + "/x"
    path, y = zk.create(base + "/y", b"", include_data=True)
    data, ystat = zk.get(base + "/y")
    assert data == b""
    assert ystat.dataLength == 0

    assert sorted(zk.get_children(base)) == ["x", "y"]
    children, parent = zk.get_children(base, include_data=True)
    assert sorted(children) == ["x", "y"]
    assert parent.numChildren == 2
    assert parent.cversion == 2
    assert parent.version == 0
    assert parent.pzxid == y.czxid
    assert parent.mzxid == parent.czxid  # child changes do not touch mzxid

    zk.delete(base + "/x", version=0)
    assert zk.exists(base + "/x") is None
    after = zk.exists(base)
    assert after.numChildren == 1
    assert after.cversion == 3  # creates + deletes
    assert after.pzxid > parent.pzxid
    assert after.mzxid == parent.mzxid
    assert zk.get_children(base) == ["y"]
    assert zk.get_children(base + "/y") == []


def test_error_codes(zk, base):
    zk.create(base + "/child")
    with pytest.raises(NodeExistsError):
        zk.create(base)
    with pytest.raises(NoNodeError):
        zk.create(base + "/missing/child")
    with pytest.raises(NoNodeError):
        zk.get(base + "/missing")
    with pytest.raises(NoNodeError):
        zk.set(base + "/missing", b"x")
    with pytest.raises(NoNodeError):
        zk.delete(base + "/missing")
    with pytest.raises(NoNodeError):
        zk.get_children(base + "/missing")
    assert zk.exists(base + "/missing") is None
    assert zk.exists(base + "/missing/deeper") is None
    with pytest.raises(NotEmptyError):
        zk.delete(base)
    with pytest.raises(BadVersionError):
        zk.set(base, b"x", version=9)
    with pytest.raises(BadVersionError):
        zk.delete(base + "/child", version=9)
    assert zk.exists(base).version == 0

    zk.create(base + "/eph", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(base + "/eph/kid")
    with pytest.raises(NodeExistsError):
        zk.create(base + "/eph")

    # The root and the reserved nodes cannot be deleted.
    for p in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"]:
        with pytest.raises(BadArgumentsError):
            zk.delete(p)
    with pytest.raises(NodeExistsError):
        zk.create("/")

    # kazoo does not check characters; the server rejects them.
    for bad in ["/bad\x01", "/bad\x1f", "/bad\x7f", "/bad\x9f", "/bad\ue000", "/bad\ufff0"]:
        with pytest.raises(BadArgumentsError):
            zk.create(base + bad)
        with pytest.raises(BadArgumentsError):
            zk.set(base + bad, b"x")
    # ...but does reject relative components itself.
    for rel in [base + "/.", base + "/..", base + "/a/../b"]:
        with pytest.raises(ValueError):
            zk.create(rel)
    # dots inside a name are fine
    assert zk.create(base + "/a.b") == base + "/a.b"
    assert zk.create(base + "/..x") == base + "/..x"

    # the session survived all of that
    assert zk.get(base)[0] == b""


def test_special_nodes(zk):
    assert "zookeeper" in zk.get_children("/")
    assert sorted(zk.get_children("/zookeeper")) == ["config", "quota"]
    zstat = zk.exists("/zookeeper")
    assert zstat.numChildren == 2
    assert zstat.cversion == -2
    assert zk.exists("/zookeeper/config") is not None
    assert zk.exists("/zookeeper/quota") is not None
    data, root = zk.get("/")
    assert data == b""
    assert root.czxid == 0
    assert root.ephemeralOwner == 0
    acl, _ = zk.get_acls("/zookeeper/config")
    assert len(acl) == 1
    assert acl[0].perms == 1  # READ only
    assert acl[0].id.scheme == "world" and acl[0].id.id == "anyone"


def test_ensure_path_and_recursive_delete(zk, base):
    zk.ensure_path(base + "/a/b/c")
    for p in ["/a", "/a/b", "/a/b/c"]:
        assert zk.exists(base + p) is not None, p
    zk.ensure_path(base + "/a/b/c")  # idempotent
    assert zk.create(base + "/a/b/c/d/e", b"deep", makepath=True) == base + "/a/b/c/d/e"
    assert zk.get(base + "/a/b/c/d/e")[0] == b"deep"
    zk.create(base + "/a/x", b"1")
    zk.create(base + "/a/b/s-", sequence=True)
    zk.delete(base + "/a", recursive=True)
    assert zk.exists(base + "/a") is None
    assert zk.get_children(base) == []
    # recursive delete of a missing node is a no-op in kazoo
    zk.delete(base + "/a", recursive=True)


def test_binary_and_large_values(zk, base):
    every_byte = bytes(range(256))
    zk.create(base + "/bin", every_byte)
    assert zk.get(base + "/bin")[0] == every_byte
    big = bytes((i * 31 + 7) % 256 for i in range(200 * 1024))
    stat = zk.set(base + "/bin", big)
    assert stat.dataLength == len(big)
    assert zk.get(base + "/bin")[0] == big


def test_sync_and_acls(zk, base):
    assert zk.sync(base) == base
    acl, stat = zk.get_acls(base)
    assert list(acl) == list(OPEN_ACL_UNSAFE)
    assert stat == zk.exists(base)
    # setData on the root is allowed
    s = zk.set("/", b"root-data")
    assert s.version >= 1
    assert zk.get("/")[0] == b"root-data"
    zk.set("/", b"")
