package zoetest;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.zookeeper.AsyncCallback;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.KeeperException.Code;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.Watcher.Event.EventType;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Stat;

/**
 * Client scenarios driven by the real Apache ZooKeeper Java client.
 *
 * <p>Usage: {@code java zoetest.Scenarios <scenario> <connectString>}. Prints {@code PASS
 * <scenario>} and exits 0 when every expectation holds; prints {@code MISMATCH: ...} and exits 1
 * on the first wrong observation; exits 2 on an unexpected exception and 3 on the watchdog.
 *
 * <p>Every scenario expects a fresh server (the Rust tests start one per scenario).
 */
public final class Scenarios {
  static final List<ACL> OPEN = ZooDefs.Ids.OPEN_ACL_UNSAFE;
  static final int SESSION_TIMEOUT_MS = 4000;
  static final long WAIT_MS = 15_000;
  static final long WATCHDOG_MS = 120_000;

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: zoetest.Scenarios <scenario> <connectString>");
      System.exit(64);
    }
    String scenario = args[0];
    String connect = args[1];
    Thread watchdog =
        new Thread(
            () -> {
              try {
                Thread.sleep(WATCHDOG_MS);
              } catch (InterruptedException e) {
                return;
              }
              System.err.println("WATCHDOG: scenario " + scenario + " still running after "
                  + WATCHDOG_MS + " ms");
              dumpThreads();
              Runtime.getRuntime().halt(3);
            });
    watchdog.setDaemon(true);
    watchdog.start();
    try {
      switch (scenario) {
        case "crud": crud(connect); break;
        case "sequential": sequential(connect); break;
        case "errors": errors(connect); break;
        case "special": special(connect); break;
        case "watches": watches(connect); break;
        case "multi": multi(connect); break;
        case "session_expiry": sessionExpiry(connect); break;
        case "failover": failover(connect); break;
        default:
          System.err.println("unknown scenario " + scenario);
          System.exit(64);
      }
    } catch (Mismatch m) {
      System.out.flush();
      System.err.println("MISMATCH in scenario " + scenario + ": " + m.getMessage());
      m.printStackTrace();
      System.err.flush();
      Runtime.getRuntime().halt(1);
    } catch (Throwable t) {
      System.out.flush();
      System.err.println("UNEXPECTED EXCEPTION in scenario " + scenario + ": " + t);
      t.printStackTrace();
      System.err.flush();
      Runtime.getRuntime().halt(2);
    }
    System.out.println("PASS " + scenario);
    System.out.flush();
    // Do not wait for lingering client threads.
    Runtime.getRuntime().halt(0);
  }

  // ------------------------------------------------------------------ scenarios

  /** create/getData/setData/getChildren/delete with exact Stat fields. */
  static void crud(String cs) throws Exception {
    Client zk = Client.connect(cs, SESSION_TIMEOUT_MS);
    long before = System.currentTimeMillis();

    Stat created = new Stat();
    eq("/crud", zk.create("/crud", bytes("hello"), OPEN, CreateMode.PERSISTENT, created),
        "create2 returns the path");
    long after = System.currentTimeMillis();
    eq(0, created.getVersion(), "new node version");
    eq(0, created.getCversion(), "new node cversion");
    eq(0, created.getAversion(), "new node aversion");
    eq(0, created.getNumChildren(), "new node numChildren");
    eq(5, created.getDataLength(), "new node dataLength");
    eq(0L, created.getEphemeralOwner(), "persistent node ephemeralOwner");
    check(created.getCzxid() > 0, "czxid must be positive: %s", s(created));
    eq(created.getCzxid(), created.getMzxid(), "czxid == mzxid on create");
    eq(created.getCzxid(), created.getPzxid(), "czxid == pzxid on create");
    eq(created.getCtime(), created.getMtime(), "ctime == mtime on create");
    check(created.getCtime() >= before - 5000 && created.getCtime() <= after + 5000,
        "ctime %d not within [%d, %d] (ms since epoch)", created.getCtime(), before, after);

    Stat got = new Stat();
    eq("hello", str(zk.getData("/crud", false, got)), "getData returns what was created");
    eqStat(created, got, "getData stat equals create stat");
    eqStat(created, zk.exists("/crud", false), "exists stat equals create stat");

    // a plain create (opcode 1, no stat in the reply)
    eq("/crud/plain", zk.create("/crud/plain", bytes("p"), OPEN, CreateMode.PERSISTENT),
        "create returns the path");
    Stat plain = zk.exists("/crud/plain", false);
    check(plain != null, "exists(/crud/plain) after create");
    check(plain.getCzxid() > created.getCzxid(), "zxids increase: %s then %s", s(created), s(plain));
    zk.delete("/crud/plain", 0);

    Stat set1 = zk.setData("/crud", bytes("world!"), 0);
    eq(1, set1.getVersion(), "version after first setData");
    eq(created.getCzxid(), set1.getCzxid(), "czxid unchanged by setData");
    check(set1.getMzxid() > created.getMzxid(), "mzxid increases on setData: %s", s(set1));
    eq(6, set1.getDataLength(), "dataLength after setData");
    eq(created.getCtime(), set1.getCtime(), "ctime unchanged by setData");
    check(set1.getMtime() >= created.getMtime(), "mtime does not go back: %s", s(set1));
    eq(0, set1.getNumChildren(), "numChildren after setData");

    Stat set2 = zk.setData("/crud", bytes("world!"), -1);
    eq(2, set2.getVersion(), "setData with the same bytes and version -1 still bumps version");
    check(set2.getMzxid() > set1.getMzxid(), "mzxid increases again");
    eq("world!", str(zk.getData("/crud", false, null)), "data after setData");

    // null versus empty data
    zk.create("/crud/null", null, OPEN, CreateMode.PERSISTENT);
    Stat nullStat = new Stat();
    byte[] nullData = zk.getData("/crud/null", false, nullStat);
    check(nullData == null, "node created with null data must read back null, got %s",
        Arrays.toString(nullData));
    eq(0, nullStat.getDataLength(), "dataLength of null data");

    Stat emptyCreated = new Stat();
    zk.create("/crud/empty", new byte[0], OPEN, CreateMode.PERSISTENT, emptyCreated);
    byte[] emptyData = zk.getData("/crud/empty", false, null);
    check(emptyData != null && emptyData.length == 0,
        "node created with empty data must read back empty (not null), got %s",
        Arrays.toString(emptyData));

    // setData(null) on a node: data becomes null
    zk.setData("/crud/empty", null, -1);
    check(zk.getData("/crud/empty", false, null) == null, "setData(null) reads back null");
    zk.setData("/crud/empty", new byte[0], -1);
    byte[] again = zk.getData("/crud/empty", false, null);
    check(again != null && again.length == 0, "setData(empty) reads back empty");

    // parent bookkeeping: created plain (and deleted it), null, empty => 3 creates + 1 delete
    Stat parent = zk.exists("/crud", false);
    eq(2, parent.getNumChildren(), "parent numChildren");
    eq(4, parent.getCversion(), "parent cversion counts 3 child creates + 1 child delete");
    eq(2, parent.getVersion(), "parent version not changed by child changes");
    eq(set2.getMzxid(), parent.getMzxid(), "parent mzxid not changed by child changes");
    eq(emptyCreated.getCzxid(), parent.getPzxid(), "parent pzxid = zxid of last child create");

    eq(list("empty", "null"), sorted(zk.getChildren("/crud", false)), "getChildren");
    Stat childrenStat = new Stat();
    eq(list("empty", "null"), sorted(zk.getChildren("/crud", false, childrenStat)),
        "getChildren2 children");
    eqStat(parent, childrenStat, "getChildren2 stat equals exists stat");
    eq(Collections.emptyList(), zk.getChildren("/crud/null", false), "leaf has no children");

    zk.delete("/crud/null", 0);
    Stat afterDelete = zk.exists("/crud", false);
    eq(1, afterDelete.getNumChildren(), "numChildren after child delete");
    eq(5, afterDelete.getCversion(), "cversion after child delete");
    check(afterDelete.getPzxid() > parent.getPzxid(), "pzxid increases on child delete: %s",
        s(afterDelete));
    eq(parent.getMzxid(), afterDelete.getMzxid(), "mzxid unchanged by child delete");
    check(zk.exists("/crud/null", false) == null, "deleted node is gone");
    eq(list("empty"), zk.getChildren("/crud", false), "children after delete");

    // binary data with every byte value, and a 100 KiB value
    byte[] all = new byte[256];
    for (int i = 0; i < 256; i++) {
      all[i] = (byte) i;
    }
    zk.create("/crud/binary", all, OPEN, CreateMode.PERSISTENT);
    check(Arrays.equals(all, zk.getData("/crud/binary", false, null)), "binary data round trip");
    byte[] big = new byte[100 * 1024];
    for (int i = 0; i < big.length; i++) {
      big[i] = (byte) (i * 31 + 7);
    }
    Stat bigStat = zk.setData("/crud/binary", big, 0);
    eq(big.length, bigStat.getDataLength(), "dataLength of 100 KiB data");
    check(Arrays.equals(big, zk.getData("/crud/binary", false, null)), "100 KiB round trip");

    // non-ASCII path
    String uni = "/crud/\u00fcn\u00efc\u00f8d\u00e9-\u4e2d\u6587";
    eq(uni, zk.create(uni, bytes("u"), OPEN, CreateMode.PERSISTENT), "unicode create");
    check(zk.getChildren("/crud", false).contains(uni.substring("/crud/".length())),
        "unicode child listed");
    zk.delete(uni, -1);
    zk.delete("/crud/binary", -1);

    zk.delete("/crud/empty", -1);
    zk.delete("/crud", 2);
    check(zk.exists("/crud", false) == null, "/crud deleted");
    zk.close();
  }

  /** ephemeral and sequential nodes. */
  static void sequential(String cs) throws Exception {
    Client zk = Client.connect(cs, SESSION_TIMEOUT_MS);
    Client other = Client.connect(cs, SESSION_TIMEOUT_MS);
    zk.create("/seq", null, OPEN, CreateMode.PERSISTENT);

    // The suffix counts every child ever created under the parent,
    // sequential or not, including deleted ones.
    zk.create("/seq/a", null, OPEN, CreateMode.PERSISTENT);
    String s1 = zk.create("/seq/s-", bytes("one"), OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
    eq("/seq/s-0000000001", s1, "first sequential after one plain child");
    zk.delete("/seq/a", -1);
    String s2 = zk.create("/seq/s-", bytes("two"), OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
    eq("/seq/s-0000000002", s2, "sequential after a delete (counter counts creates only)");
    eq("two", str(zk.getData(s2, false, null)), "data of a sequential node");
    Stat seqParent = zk.exists("/seq", false);
    eq(4, seqParent.getCversion(), "parent cversion counts 3 creates + 1 delete");
    eq(2, seqParent.getNumChildren(), "parent numChildren");
    zk.delete(s1, -1);
    zk.delete(s2, -1);

    // Different prefixes share the parent's counter.
    String x = zk.create("/seq/x-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
    String y = zk.create("/seq/y-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
    eq("/seq/x-0000000003", x, "counter is per parent, not per prefix");
    eq("/seq/y-0000000004", y, "counter is per parent, not per prefix");
    // A sequential name made only of the suffix (trailing slash is allowed when sequential).
    eq("/seq/0000000005", zk.create("/seq/", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL),
        "sequential with a trailing slash");
    // A fresh parent starts at 0.
    zk.create("/seq/fresh", null, OPEN, CreateMode.PERSISTENT);
    eq("/seq/fresh/n0000000000",
        zk.create("/seq/fresh/n", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL),
        "a new parent starts at 0000000000");

    // Ephemerals.
    Stat eph = new Stat();
    zk.create("/seq/eph", bytes("e"), OPEN, CreateMode.EPHEMERAL, eph);
    eq(zk.getSessionId(), eph.getEphemeralOwner(), "ephemeralOwner is the session id");
    eq(zk.getSessionId(), other.exists("/seq/eph", false).getEphemeralOwner(),
        "ephemeralOwner as seen by another session");
    String es = zk.create("/seq/es-", null, OPEN, CreateMode.EPHEMERAL_SEQUENTIAL);
    eq("/seq/es-0000000008", es, "ephemeral sequential name");
    eq(zk.getSessionId(), other.exists(es, false).getEphemeralOwner(),
        "ephemeral sequential owner");
    // ephemeral created by the other session
    other.create("/seq/other-eph", null, OPEN, CreateMode.EPHEMERAL);
    eq(other.getSessionId(), zk.exists("/seq/other-eph", false).getEphemeralOwner(),
        "other session's ephemeral owner");

    Stat before = other.exists("/seq", false);
    long sid = zk.getSessionId();
    zk.close();
    // Closing the session removes its ephemerals, immediately (close is synchronous).
    check(other.exists("/seq/eph", false) == null, "ephemeral removed when its session closed");
    check(other.exists(es, false) == null, "ephemeral sequential removed when session closed");
    check(other.exists("/seq/other-eph", false) != null,
        "the other session's ephemeral survives");
    Stat afterClose = other.exists("/seq", false);
    eq(before.getNumChildren() - 2, afterClose.getNumChildren(),
        "numChildren after session close");
    eq(before.getCversion() + 2, afterClose.getCversion(),
        "cversion after the two ephemerals of session 0x" + Long.toHexString(sid) + " went away");
    check(afterClose.getPzxid() > before.getPzxid(), "pzxid increased by the session close");
    other.close();
  }

  /** error codes and client-side path validation. */
  static void errors(String cs) throws Exception {
    Client zk = Client.connect(cs, SESSION_TIMEOUT_MS);
    zk.create("/err", bytes("x"), OPEN, CreateMode.PERSISTENT);
    zk.create("/err/child", null, OPEN, CreateMode.PERSISTENT);

    KeeperException e = expectCode(Code.NODEEXISTS,
        () -> zk.create("/err", null, OPEN, CreateMode.PERSISTENT), "create existing");
    eq("/err", e.getPath(), "NodeExists path");
    expectCode(Code.NODEEXISTS, () -> zk.create("/err/child", null, OPEN, CreateMode.EPHEMERAL),
        "create existing as ephemeral");
    expectCode(Code.NONODE,
        () -> zk.create("/err/missing/child", null, OPEN, CreateMode.PERSISTENT),
        "create with missing parent");
    expectCode(Code.NONODE, () -> zk.getData("/err/missing", false, null), "getData missing");
    expectCode(Code.NONODE, () -> zk.setData("/err/missing", null, -1), "setData missing");
    expectCode(Code.NONODE, () -> zk.getChildren("/err/missing", false), "getChildren missing");
    expectCode(Code.NONODE, () -> {
      zk.delete("/err/missing", -1);
      return null;
    }, "delete missing");
    expectCode(Code.NONODE, () -> {
      zk.delete("/err/missing/deeper", -1);
      return null;
    }, "delete with missing parent");
    check(zk.exists("/err/missing", false) == null, "exists on a missing node is null");
    check(zk.exists("/err/missing/deeper", false) == null, "exists on a missing parent is null");

    expectCode(Code.NOTEMPTY, () -> {
      zk.delete("/err", -1);
      return null;
    }, "delete non-empty");
    expectCode(Code.BADVERSION, () -> zk.setData("/err", bytes("y"), 5), "setData bad version");
    expectCode(Code.BADVERSION, () -> {
      zk.delete("/err/child", 3);
      return null;
    }, "delete bad version");
    eq(0, zk.exists("/err", false).getVersion(), "failed setData changed nothing");
    // BADVERSION is checked before NOTEMPTY
    expectCode(Code.BADVERSION, () -> {
      zk.delete("/err", 7);
      return null;
    }, "delete non-empty with bad version");

    zk.create("/err/eph", null, OPEN, CreateMode.EPHEMERAL);
    expectCode(Code.NOCHILDRENFOREPHEMERALS,
        () -> zk.create("/err/eph/kid", null, OPEN, CreateMode.PERSISTENT),
        "child of an ephemeral");
    expectCode(Code.NOCHILDRENFOREPHEMERALS,
        () -> zk.create("/err/eph/kid", null, OPEN, CreateMode.EPHEMERAL_SEQUENTIAL),
        "ephemeral sequential child of an ephemeral");
    // NODEEXISTS is checked before NOCHILDRENFOREPHEMERALS
    expectCode(Code.NODEEXISTS,
        () -> zk.create("/err/eph", null, OPEN, CreateMode.PERSISTENT), "re-create ephemeral");

    // Invalid paths are rejected by the Java client before sending anything.
    String[] invalid = {"", "noslash", "/trailing/", "/a//b", "/a/./b", "/a/../b", "/.",
        "/..", "/a\u0000b", "/a\u0001b", "/a\u007fb", "/a\ud800b", "/a\uffffb"};
    for (String p : invalid) {
      expectIllegalArgument(() -> zk.create(p, null, OPEN, CreateMode.PERSISTENT),
          "create " + printable(p));
      expectIllegalArgument(() -> zk.getData(p, false, null), "getData " + printable(p));
    }
    // '.' inside a name is fine
    eq("/err/a.b", zk.create("/err/a.b", null, OPEN, CreateMode.PERSISTENT), "dot in name");
    eq("/err/..x", zk.create("/err/..x", null, OPEN, CreateMode.PERSISTENT), "dots in name");

    // Server-side BADARGUMENTS: deleting the root or the reserved nodes.
    for (String p : new String[] {"/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"}) {
      expectCode(Code.BADARGUMENTS, () -> {
        zk.delete(p, -1);
        return null;
      }, "delete " + p);
    }
    expectCode(Code.NODEEXISTS, () -> zk.create("/", null, OPEN, CreateMode.PERSISTENT),
        "create /");

    // The connection is still usable after all those errors.
    eq("x", str(zk.getData("/err", false, null)), "session usable after errors");
    zk.close();
  }

  /** the root and the /zookeeper subtree on a fresh server. */
  static void special(String cs) throws Exception {
    Client zk = Client.connect(cs, SESSION_TIMEOUT_MS);
    eq(list("zookeeper"), zk.getChildren("/", false), "children of / on a fresh server");
    Stat root = zk.exists("/", false);
    check(root != null, "exists(/)");
    eq(0L, root.getCzxid(), "root czxid");
    eq(0L, root.getMzxid(), "root mzxid");
    eq(0L, root.getCtime(), "root ctime");
    eq(0, root.getVersion(), "root version");
    eq(0, root.getAversion(), "root aversion");
    eq(-1, root.getCversion(), "root cversion on a fresh server");
    eq(1, root.getNumChildren(), "root numChildren");
    eq(0L, root.getEphemeralOwner(), "root ephemeralOwner");
    eq(0, root.getDataLength(), "root dataLength");
    byte[] rootData = zk.getData("/", false, null);
    check(rootData != null && rootData.length == 0, "root data is empty, not null: %s",
        Arrays.toString(rootData));

    eq(list("config", "quota"), sorted(zk.getChildren("/zookeeper", false)),
        "children of /zookeeper");
    Stat zkStat = zk.exists("/zookeeper", false);
    eq(-2, zkStat.getCversion(), "/zookeeper cversion");
    eq(2, zkStat.getNumChildren(), "/zookeeper numChildren");
    Stat config = zk.exists("/zookeeper/config", false);
    check(config != null, "/zookeeper/config exists");
    check(zk.exists("/zookeeper/quota", false) != null, "/zookeeper/quota exists");
    eq(3, zk.getAllChildrenNumber("/"), "getAllChildrenNumber(/) on a fresh server");
    byte[] zkData = zk.getData("/zookeeper", false, null);
    check(zkData != null && zkData.length == 0, "/zookeeper data is empty, not null");

    // /zookeeper/config is world-readable only
    List<ACL> configAcl = zk.getACL("/zookeeper/config", new Stat());
    eq(1, configAcl.size(), "/zookeeper/config ACL entries");
    eq(ZooDefs.Perms.READ, configAcl.get(0).getPerms(), "/zookeeper/config ACL perms");
    eq("world", configAcl.get(0).getId().getScheme(), "/zookeeper/config ACL scheme");
    eq("anyone", configAcl.get(0).getId().getId(), "/zookeeper/config ACL id");
    expectCode(Code.NOAUTH, () -> zk.setData("/zookeeper/config", bytes("x"), -1),
        "setData /zookeeper/config");
    eq(ZooDefs.Ids.OPEN_ACL_UNSAFE, zk.getACL("/", new Stat()), "root ACL");

    for (String p : new String[] {"/zookeeper", "/zookeeper/config", "/zookeeper/quota"}) {
      expectCode(Code.BADARGUMENTS, () -> {
        zk.delete(p, -1);
        return null;
      }, "delete " + p);
    }
    check(zk.exists("/zookeeper", false) != null, "/zookeeper survives delete attempts");

    // User nodes next to /zookeeper; root bookkeeping.
    Stat sp = new Stat();
    zk.create("/sp", null, OPEN, CreateMode.PERSISTENT, sp);
    Stat root2 = zk.exists("/", false);
    eq(0, root2.getCversion(), "root cversion after one create");
    eq(2, root2.getNumChildren(), "root numChildren after one create");
    eq(sp.getCzxid(), root2.getPzxid(), "root pzxid after one create");
    eq(list("sp", "zookeeper"), sorted(zk.getChildren("/", false)), "children of /");
    // The first sequential child of / gets the root's create counter (1 after /sp).
    String rs = zk.create("/rs-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
    eq("/rs-0000000001", rs, "sequential child of /");
    eq(5, zk.getAllChildrenNumber("/"), "getAllChildrenNumber(/) after two creates");
    zk.close();
  }

  /** one-shot data/exists/child watches and their ordering. */
  static void watches(String cs) throws Exception {
    Client a = Client.connect(cs, SESSION_TIMEOUT_MS);
    Client b = Client.connect(cs, SESSION_TIMEOUT_MS);
    a.create("/w", bytes("0"), OPEN, CreateMode.PERSISTENT);
    Recorder rec = new Recorder("a");

    // data watch
    a.getData("/w", rec, null);
    b.setData("/w", bytes("1"), -1);
    rec.expect(EventType.NodeDataChanged, "/w");
    b.setData("/w", bytes("2"), -1); // the watch was one-shot: no event for this
    barrier(a, b, rec, "/w-barrier-1");

    // exists watch on a missing node fires NodeCreated
    check(a.exists("/w/new", rec) == null, "exists(/w/new) before create");
    b.create("/w/new", bytes("n"), OPEN, CreateMode.PERSISTENT);
    rec.expect(EventType.NodeCreated, "/w/new");

    // exists watch on an existing node fires NodeDataChanged, then nothing more
    check(a.exists("/w/new", rec) != null, "exists(/w/new) after create");
    b.setData("/w/new", bytes("m"), -1);
    rec.expect(EventType.NodeDataChanged, "/w/new");

    // child watch: created child
    eq(list("new"), a.getChildren("/w", rec), "children with watch");
    b.create("/w/c2", null, OPEN, CreateMode.PERSISTENT);
    rec.expect(EventType.NodeChildrenChanged, "/w");
    b.create("/w/c3", null, OPEN, CreateMode.PERSISTENT); // one-shot
    b.setData("/w", bytes("3"), -1); // a data change does not fire a child watch
    barrier(a, b, rec, "/w-barrier-2");

    // child watch: deleted child
    a.getChildren("/w", rec);
    b.delete("/w/c3", -1);
    rec.expect(EventType.NodeChildrenChanged, "/w");

    // data watch fires NodeDeleted
    a.getData("/w/new", rec, null);
    b.delete("/w/new", -1);
    rec.expect(EventType.NodeDeleted, "/w/new");

    // child watch on a node that gets deleted: NodeDeleted for that node
    a.create("/w/gone", null, OPEN, CreateMode.PERSISTENT);
    a.getChildren("/w/gone", rec);
    b.delete("/w/gone", -1);
    rec.expect(EventType.NodeDeleted, "/w/gone");
    barrier(a, b, rec, "/w-barrier-3");

    // a failed write fires nothing
    a.getData("/w", rec, null);
    try {
      b.setData("/w", bytes("bad"), 999);
      throw new Mismatch("setData with a bad version succeeded");
    } catch (KeeperException.BadVersionException expected) {
      // fine
    }
    barrier(a, b, rec, "/w-barrier-4");
    // ... and the data watch is still armed
    b.setData("/w", bytes("4"), -1);
    rec.expect(EventType.NodeDataChanged, "/w");

    // two watcher objects on the same node both get the event
    Recorder second = new Recorder("a2");
    a.getData("/w", rec, null);
    a.exists("/w", second);
    b.setData("/w", bytes("5"), -1);
    rec.expect(EventType.NodeDataChanged, "/w");
    second.expect(EventType.NodeDataChanged, "/w");

    // the notification for a change reaches the client before the reply of its own write
    List<String> order = Collections.synchronizedList(new ArrayList<>());
    Watcher ordered = ev -> order.add("event " + ev.getType() + " " + ev.getPath());
    a.getData("/w", ordered, null);
    CountDownLatch done = new CountDownLatch(1);
    a.setData("/w", bytes("self"), -1,
        (AsyncCallback.StatCallback) (rc, path, ctx, stat) -> {
          order.add("reply " + rc);
          done.countDown();
        },
        null);
    check(done.await(WAIT_MS, TimeUnit.MILLISECONDS), "async setData reply");
    eq(list("event NodeDataChanged /w", "reply 0"), new ArrayList<>(order),
        "event before the reply of the same client's setData");

    order.clear();
    a.exists("/w/self", ordered);
    CountDownLatch created = new CountDownLatch(1);
    a.create("/w/self", null, OPEN, CreateMode.PERSISTENT,
        (AsyncCallback.StringCallback) (rc, path, ctx, name) -> {
          order.add("reply " + rc + " " + name);
          created.countDown();
        },
        null);
    check(created.await(WAIT_MS, TimeUnit.MILLISECONDS), "async create reply");
    eq(list("event NodeCreated /w/self", "reply 0 /w/self"), new ArrayList<>(order),
        "event before the reply of the same client's create");

    // a multi fires the watches of its sub-ops
    a.getData("/w", rec, null);
    a.getChildren("/w", rec);
    b.multi(Arrays.asList(
        Op.setData("/w", bytes("6"), -1),
        Op.create("/w/m", null, OPEN, CreateMode.PERSISTENT)));
    rec.expect(EventType.NodeDataChanged, "/w");
    rec.expect(EventType.NodeChildrenChanged, "/w");
    barrier(a, b, rec, "/w-barrier-5");
    a.close();
    b.close();
  }

  /** multi success and atomic failure. */
  static void multi(String cs) throws Exception {
    Client zk = Client.connect(cs, SESSION_TIMEOUT_MS);
    zk.create("/m", bytes("v0"), OPEN, CreateMode.PERSISTENT);

    List<OpResult> results = zk.multi(Arrays.asList(
        Op.create("/m/a", bytes("a"), OPEN, CreateMode.PERSISTENT),
        Op.create("/m/a/b", null, OPEN, CreateMode.PERSISTENT),
        Op.setData("/m", bytes("v1"), 0),
        Op.check("/m", 1),
        Op.create("/m/s-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL),
        Op.delete("/m/a/b", 0),
        Op.setData("/m", bytes("v2"), 1)));
    eq(7, results.size(), "number of multi results");
    eq("/m/a", ((OpResult.CreateResult) results.get(0)).getPath(), "result 0 path");
    eq("/m/a/b", ((OpResult.CreateResult) results.get(1)).getPath(), "result 1 path");
    Stat setStat = ((OpResult.SetDataResult) results.get(2)).getStat();
    eq(1, setStat.getVersion(), "result 2 version");
    check(results.get(3) instanceof OpResult.CheckResult, "result 3 is a CheckResult: %s",
        results.get(3));
    eq("/m/s-0000000001", ((OpResult.CreateResult) results.get(4)).getPath(),
        "sequential inside multi counts the earlier create of the same multi");
    check(results.get(5) instanceof OpResult.DeleteResult, "result 5 is a DeleteResult");
    Stat setStat2 = ((OpResult.SetDataResult) results.get(6)).getStat();
    eq(2, setStat2.getVersion(), "second setData in the same multi sees the first");
    eq(setStat.getMzxid(), setStat2.getMzxid(), "all ops of a multi share one zxid");

    Stat a = zk.exists("/m/a", false);
    check(a != null, "/m/a exists after multi");
    eq(setStat.getMzxid(), a.getCzxid(), "created node's czxid is the multi's zxid");
    check(zk.exists("/m/a/b", false) == null, "/m/a/b was created and deleted by the multi");
    eq("v2", str(zk.getData("/m", false, null)), "data after multi");
    Stat m = zk.exists("/m", false);
    eq(2, m.getNumChildren(), "/m children after multi");
    eq(2, m.getCversion(), "/m cversion after multi");
    eq(2, a.getCversion(), "/m/a cversion (1 create + 1 delete)");

    // a single-op multi
    List<OpResult> r2 = zk.multi(Arrays.asList(
        Op.create("/m/c2", bytes("xy"), OPEN, CreateMode.PERSISTENT)));
    eq("/m/c2", ((OpResult.CreateResult) r2.get(0)).getPath(), "single-op multi");

    // failure in the middle: nothing applied, per-op results
    try {
      zk.multi(Arrays.asList(
          Op.create("/m/x", null, OPEN, CreateMode.PERSISTENT),
          Op.setData("/m", bytes("nope"), 0),
          Op.create("/m/y", null, OPEN, CreateMode.PERSISTENT),
          Op.delete("/m/a", -1)));
      throw new Mismatch("multi with a bad version succeeded");
    } catch (KeeperException e) {
      eq(Code.BADVERSION, e.code(), "multi failure code");
      List<OpResult> rs = e.getResults();
      check(rs != null, "KeeperException.getResults() is set");
      eq(4, rs.size(), "number of results of a failed multi");
      eq(Code.OK.intValue(), err(rs.get(0)), "op before the failure: OK error result");
      eq(Code.BADVERSION.intValue(), err(rs.get(1)), "failing op");
      eq(Code.RUNTIMEINCONSISTENCY.intValue(), err(rs.get(2)), "op after the failure");
      eq(Code.RUNTIMEINCONSISTENCY.intValue(), err(rs.get(3)), "last op after the failure");
    }
    check(zk.exists("/m/x", false) == null, "/m/x not created by the failed multi");
    check(zk.exists("/m/y", false) == null, "/m/y not created by the failed multi");
    check(zk.exists("/m/a", false) != null, "/m/a not deleted by the failed multi");
    Stat after = zk.exists("/m", false);
    eq(2, after.getVersion(), "/m version unchanged by the failed multi");
    eq(m.getCversion() + 1, after.getCversion(), "/m cversion: only the /m/c2 create counted");

    // failure at the first op
    try {
      zk.multi(Arrays.asList(
          Op.create("/m/a", null, OPEN, CreateMode.PERSISTENT),
          Op.create("/m/z", null, OPEN, CreateMode.PERSISTENT)));
      throw new Mismatch("multi creating an existing node succeeded");
    } catch (KeeperException e) {
      eq(Code.NODEEXISTS, e.code(), "multi NodeExists code");
      eq(Code.NODEEXISTS.intValue(), err(e.getResults().get(0)), "first op error");
      eq(Code.RUNTIMEINCONSISTENCY.intValue(), err(e.getResults().get(1)), "second op error");
    }
    check(zk.exists("/m/z", false) == null, "/m/z not created");

    // failing check op, and a sequential create rolled back does not consume the counter
    try {
      zk.multi(Arrays.asList(
          Op.create("/m/s-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL),
          Op.check("/m/missing", -1)));
      throw new Mismatch("multi with a check on a missing node succeeded");
    } catch (KeeperException e) {
      eq(Code.NONODE, e.code(), "check on a missing node");
      eq(Code.OK.intValue(), err(e.getResults().get(0)), "rolled back create");
    }
    String next = zk.create("/m/s-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
    eq("/m/s-0000000003", next, "rolled back sequential create did not consume a number");

    // transaction() builder
    List<OpResult> tr = zk.transaction()
        .create("/m/t", bytes("t"), OPEN, CreateMode.PERSISTENT)
        .setData("/m/t", bytes("t2"), 0)
        .commit();
    eq(2, tr.size(), "transaction results");
    eq("t2", str(zk.getData("/m/t", false, null)), "transaction applied");
    zk.close();
  }

  /**
   * A second handle on the same session closes it: the first handle sees Expired, its
   * ephemerals are gone, the parent's cversion moved and another session's child watch fired.
   */
  static void sessionExpiry(String cs) throws Exception {
    Client victim = Client.connect(cs, SESSION_TIMEOUT_MS);
    Client observer = Client.connect(cs, SESSION_TIMEOUT_MS);
    victim.create("/exp", null, OPEN, CreateMode.PERSISTENT);
    victim.create("/exp/e1", bytes("1"), OPEN, CreateMode.EPHEMERAL);
    String es = victim.create("/exp/e-", null, OPEN, CreateMode.EPHEMERAL_SEQUENTIAL);
    observer.create("/exp/keep", null, OPEN, CreateMode.EPHEMERAL);

    Recorder childWatch = new Recorder("observer");
    Stat before = new Stat();
    eq(list("e-0000000001", "e1", "keep"), sorted(observer.getChildren("/exp", childWatch, before)),
        "children before expiry");
    Recorder dataWatch = new Recorder("observer-data");
    observer.getData("/exp/e1", dataWatch, null);

    long sid = victim.getSessionId();
    byte[] passwd = victim.getSessionPasswd();
    EventLog hijackLog = new EventLog("hijacker");
    ZooKeeper hijacker = new ZooKeeper(cs, SESSION_TIMEOUT_MS, hijackLog, sid, passwd);
    hijackLog.awaitState(KeeperState.SyncConnected);
    eq(sid, hijacker.getSessionId(), "second handle attached to the same session");
    hijacker.close();

    victim.log.awaitState(KeeperState.Expired);
    try {
      victim.exists("/exp", false);
      throw new Mismatch("operation on an expired handle succeeded");
    } catch (KeeperException.SessionExpiredException expected) {
      // fine
    }

    // The observer: one NodeChildrenChanged for /exp and NodeDeleted for /exp/e1.
    childWatch.expect(EventType.NodeChildrenChanged, "/exp");
    dataWatch.expect(EventType.NodeDeleted, "/exp/e1");
    Stat after = new Stat();
    eq(list("keep"), observer.getChildren("/exp", false, after), "children after expiry");
    check(observer.exists("/exp/e1", false) == null, "ephemeral gone after expiry");
    check(observer.exists(es, false) == null, "ephemeral sequential gone after expiry");
    eq(before.getCversion() + 2, after.getCversion(), "parent cversion after 2 ephemerals went");
    eq(1, after.getNumChildren(), "parent numChildren after expiry");
    check(after.getPzxid() > before.getPzxid(), "parent pzxid after expiry");

    // A new session can re-create the name.
    observer.create("/exp/e1", null, OPEN, CreateMode.EPHEMERAL);
    observer.close();
  }

  /**
   * Session resume on another server. The Rust side kills the server the client is connected
   * to when it reads READY_TO_KILL and answers KILLED on stdin.
   */
  static void failover(String cs) throws Exception {
    int timeout = 8000;
    Client zk = Client.connect(cs, timeout);
    long sid = zk.getSessionId();
    zk.create("/fo", bytes("v0"), OPEN, CreateMode.PERSISTENT);
    zk.create("/fo/eph", bytes("e"), OPEN, CreateMode.EPHEMERAL);
    Recorder dataWatch = new Recorder("data");
    Recorder childWatch = new Recorder("child");
    Recorder existWatch = new Recorder("exist");
    eq("v0", str(zk.getData("/fo", dataWatch, null)), "data before failover");
    eq(list("eph"), zk.getChildren("/fo", childWatch), "children before failover");
    check(zk.exists("/fo/later", existWatch) == null, "exists(/fo/later) before failover");
    String first = zk.remote();
    System.out.println("READY_TO_KILL " + first);
    System.out.flush();

    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line = in.readLine();
    eq("KILLED", line, "line from the test driver");
    long killedAt = System.currentTimeMillis();

    zk.log.awaitState(KeeperState.Disconnected);
    zk.log.awaitState(KeeperState.SyncConnected);
    long reconnectMs = System.currentTimeMillis() - killedAt;
    check(reconnectMs < timeout, "reconnected after %d ms, session timeout %d", reconnectMs,
        timeout);
    eq(sid, zk.getSessionId(), "same session id after reconnect");
    String second = zk.remote();
    check(!first.equals(second), "client moved to another server (%s -> %s)", first, second);
    System.out.println("RECONNECTED " + second + " after " + reconnectMs + " ms");

    Stat eph = zk.exists("/fo/eph", false);
    check(eph != null, "ephemeral survived the move");
    eq(sid, eph.getEphemeralOwner(), "ephemeral owner after move");

    // Another client changes things; the watches set before the move fire.
    Client other = Client.connect(cs, timeout);
    other.setData("/fo", bytes("v1"), -1);
    dataWatch.expect(EventType.NodeDataChanged, "/fo");
    other.create("/fo/later", null, OPEN, CreateMode.PERSISTENT);
    existWatch.expect(EventType.NodeCreated, "/fo/later");
    childWatch.expect(EventType.NodeChildrenChanged, "/fo");
    eq("v1", str(zk.getData("/fo", false, null)), "data after move");
    zk.create("/fo/eph2", null, OPEN, CreateMode.EPHEMERAL);
    zk.close();
    check(other.exists("/fo/eph", false) == null, "ephemeral removed when the moved session closed");
    check(other.exists("/fo/eph2", false) == null, "second ephemeral removed too");
    other.close();
  }

  // ------------------------------------------------------------------ helpers

  static final class Mismatch extends RuntimeException {
    Mismatch(String msg) {
      super(msg);
    }
  }

  interface Call {
    Object call() throws Exception;
  }

  static void check(boolean cond, String fmt, Object... args) {
    if (!cond) {
      throw new Mismatch(String.format(fmt, args));
    }
  }

  static void eq(Object expected, Object actual, String what) {
    if (!Objects.equals(expected, actual)) {
      throw new Mismatch(what + ": expected <" + expected + "> but got <" + actual + ">");
    }
  }

  static void eqStat(Stat expected, Stat actual, String what) {
    if (actual == null || !expected.equals(actual)) {
      throw new Mismatch(what + ": expected " + s(expected) + " but got " + s(actual));
    }
  }

  static KeeperException expectCode(Code code, Call call, String what) throws Exception {
    try {
      Object r = call.call();
      throw new Mismatch(what + ": expected " + code + " but the call returned " + r);
    } catch (KeeperException e) {
      if (e.code() != code) {
        throw new Mismatch(what + ": expected " + code + " but got " + e.code() + " (" + e + ")");
      }
      return e;
    }
  }

  static void expectIllegalArgument(Call call, String what) throws Exception {
    try {
      Object r = call.call();
      throw new Mismatch(what + ": expected IllegalArgumentException but got " + r);
    } catch (IllegalArgumentException expected) {
      // fine
    } catch (KeeperException e) {
      throw new Mismatch(what + ": expected client-side IllegalArgumentException but the server"
          + " answered " + e.code());
    }
  }

  static int err(OpResult r) {
    if (!(r instanceof OpResult.ErrorResult)) {
      throw new Mismatch("expected an ErrorResult, got " + r.getClass().getSimpleName());
    }
    return ((OpResult.ErrorResult) r).getErr();
  }

  /**
   * Proves that {@code rec} has no pending event: it arms an exists watch on {@code path} with
   * the same recorder, {@code other} creates the node, and the next event must be that creation
   * (one connection delivers notifications in order).
   */
  static void barrier(Client watcherSide, Client other, Recorder rec, String path)
      throws Exception {
    check(watcherSide.exists(path, rec) == null, "barrier %s must not exist yet", path);
    other.create(path, null, OPEN, CreateMode.PERSISTENT);
    rec.expect(EventType.NodeCreated, path);
  }

  static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  static String str(byte[] b) {
    return b == null ? null : new String(b, StandardCharsets.UTF_8);
  }

  @SafeVarargs
  static <T> List<T> list(T... items) {
    return new ArrayList<>(Arrays.asList(items));
  }

  static List<String> sorted(List<String> l) {
    List<String> c = new ArrayList<>(l);
    Collections.sort(c);
    return c;
  }

  static String s(Stat st) {
    if (st == null) {
      return "null";
    }
    return String.format(
        "Stat{czxid=0x%x mzxid=0x%x pzxid=0x%x ctime=%d mtime=%d version=%d cversion=%d"
            + " aversion=%d ephemeralOwner=0x%x dataLength=%d numChildren=%d}",
        st.getCzxid(), st.getMzxid(), st.getPzxid(), st.getCtime(), st.getMtime(),
        st.getVersion(), st.getCversion(), st.getAversion(), st.getEphemeralOwner(),
        st.getDataLength(), st.getNumChildren());
  }

  static String printable(String p) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : p.toCharArray()) {
      if (c < 0x20 || c > 0x7e) {
        b.append(String.format("\\u%04x", (int) c));
      } else {
        b.append(c);
      }
    }
    return b.append('"').toString();
  }

  static void dumpThreads() {
    for (java.util.Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
      System.err.println("thread " + e.getKey().getName());
      for (StackTraceElement el : e.getValue()) {
        System.err.println("    at " + el);
      }
    }
  }

  /** Records every event it is given, for one-shot watches. */
  static final class Recorder implements Watcher {
    final String name;
    final BlockingQueue<WatchedEvent> events = new LinkedBlockingQueue<>();

    Recorder(String name) {
      this.name = name;
    }

    @Override
    public void process(WatchedEvent event) {
      // The Java client also hands connection-state changes (type None) to
      // every registered watcher; only node events matter here.
      if (event.getType() != EventType.None) {
        events.add(event);
      }
    }

    WatchedEvent expect(EventType type, String path) throws InterruptedException {
      WatchedEvent ev = events.poll(WAIT_MS, TimeUnit.MILLISECONDS);
      if (ev == null) {
        throw new Mismatch("watcher " + name + ": no event within " + WAIT_MS + " ms, expected "
            + type + " " + path);
      }
      if (ev.getType() != type || !path.equals(ev.getPath())
          || ev.getState() != KeeperState.SyncConnected) {
        throw new Mismatch("watcher " + name + ": expected " + type + " " + path
            + " (SyncConnected) but got " + ev.getType() + " " + ev.getPath() + " ("
            + ev.getState() + ")");
      }
      return ev;
    }
  }

  /** Connection-state events of one handle. */
  static final class EventLog implements Watcher {
    final String name;
    final BlockingQueue<WatchedEvent> events = new LinkedBlockingQueue<>();
    final List<String> seen = Collections.synchronizedList(new ArrayList<>());

    EventLog(String name) {
      this.name = name;
    }

    @Override
    public void process(WatchedEvent event) {
      seen.add(event.getState() + "/" + event.getType() + "/" + event.getPath());
      if (event.getType() == EventType.None) {
        events.add(event);
      }
    }

    void awaitState(KeeperState state) throws InterruptedException {
      long deadline = System.currentTimeMillis() + WAIT_MS;
      while (true) {
        long left = deadline - System.currentTimeMillis();
        WatchedEvent ev = left > 0 ? events.poll(left, TimeUnit.MILLISECONDS) : null;
        if (ev == null) {
          throw new Mismatch(name + ": no " + state + " event within " + WAIT_MS + " ms; saw "
              + seen);
        }
        if (ev.getState() == state) {
          return;
        }
      }
    }
  }

  /** A ZooKeeper handle that can tell which server it is connected to. */
  static final class Client extends ZooKeeper {
    final EventLog log;

    private Client(String cs, int timeout, EventLog log) throws java.io.IOException {
      super(cs, timeout, log);
      this.log = log;
    }

    static Client connect(String cs, int timeout) throws Exception {
      Client c = new Client(cs, timeout, new EventLog("client"));
      c.log.awaitState(KeeperState.SyncConnected);
      return c;
    }

    String remote() {
      SocketAddress a = testableRemoteSocketAddress();
      if (a instanceof InetSocketAddress) {
        InetSocketAddress i = (InetSocketAddress) a;
        return i.getAddress().getHostAddress() + ":" + i.getPort();
      }
      throw new Mismatch("not connected (remote address " + a + ")");
    }
  }

  private Scenarios() {}
}
