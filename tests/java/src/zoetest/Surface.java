package zoetest;

import static zoetest.Scenarios.OPEN;
import static zoetest.Scenarios.SESSION_TIMEOUT_MS;
import static zoetest.Scenarios.WAIT_MS;
import static zoetest.Scenarios.bytes;
import static zoetest.Scenarios.check;
import static zoetest.Scenarios.eq;
import static zoetest.Scenarios.eqStat;
import static zoetest.Scenarios.expectCode;
import static zoetest.Scenarios.list;
import static zoetest.Scenarios.s;
import static zoetest.Scenarios.sorted;
import static zoetest.Scenarios.str;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.KeeperException.Code;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher.Event.EventType;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.Watcher.WatcherType;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooDefs.Perms;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.admin.ZooKeeperAdmin;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;
import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;
import zoetest.Scenarios.Client;
import zoetest.Scenarios.EventLog;
import zoetest.Scenarios.Mismatch;
import zoetest.Scenarios.Recorder;

/**
 * Scenarios for the less common parts of the ZooKeeper API surface: multiRead, persistent and
 * recursive watches, watch removal, containers and TTL nodes, getEphemerals,
 * getAllChildrenNumber, whoAmI, the config node, reconfig, ACLs of every scheme, authentication
 * failures and ACL-filtered notifications.
 *
 * <p>Usage and exit codes as in {@link Scenarios}: {@code java zoetest.Surface <scenario>
 * <connectString>} prints {@code PASS <scenario>} and exits 0. Several scenarios need server
 * settings (see tests/surface.rs, which starts a fresh server for each).
 */
public final class Surface {
  /** {@code bob:secret} as the digest provider stores it. */
  static final String BOB = "bob:fyVmFCwVbTJYrznoSu1koqYEYF0=";
  /** {@code super:admin}; the Rust side configures it as the super digest. */
  static final String SUPER = "super:xQJmxLMiHGwaqBvst5y6rkB6HQs=";
  static final List<ACL> BOB_ALL = acl(Perms.ALL, "digest", BOB);
  static final long WATCHDOG_MS = 120_000;

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: zoetest.Surface <scenario> <connectString>");
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
              Scenarios.dumpThreads();
              Runtime.getRuntime().halt(3);
            });
    watchdog.setDaemon(true);
    watchdog.start();
    try {
      switch (scenario) {
        case "multi_read": multiRead(connect); break;
        case "persistent_watches": persistentWatches(connect); break;
        case "remove_watches": removeWatches(connect); break;
        case "persistent_failover": persistentFailover(connect); break;
        case "containers": containers(connect); break;
        case "ttl": ttl(connect); break;
        case "ttl_disabled": ttlDisabled(connect); break;
        case "ephemerals_and_counts": ephemeralsAndCounts(connect); break;
        case "who_am_i": whoAmI(connect); break;
        case "config_and_reconfig": configAndReconfig(connect); break;
        case "acl": acls(connect); break;
        case "auth_failed": authFailed(connect); break;
        case "acl_filtered_watches": aclFilteredWatches(connect); break;
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
    Runtime.getRuntime().halt(0);
  }

  // ------------------------------------------------------------------ multiRead

  /**
   * multiRead: one result per op, evaluated independently (NONODE and NOAUTH per op, no abort),
   * and no watch left behind on the server.
   */
  static void multiRead(String cs) throws Exception {
    Client bob = bob(cs);
    Client anon = Client.connect(cs, SESSION_TIMEOUT_MS);
    bob.create("/mr", bytes("top"), OPEN, CreateMode.PERSISTENT);
    bob.create("/mr/a", bytes("A"), OPEN, CreateMode.PERSISTENT);
    bob.create("/mr/b", null, OPEN, CreateMode.PERSISTENT);
    bob.create("/mr/secret", bytes("s"), BOB_ALL, CreateMode.PERSISTENT);
    bob.create("/mr/secret/kid", null, OPEN, CreateMode.PERSISTENT);
    Stat top = anon.exists("/mr", false);
    Stat a = anon.exists("/mr/a", false);
    Stat b = anon.exists("/mr/b", false);

    List<OpResult> res = anon.multi(Arrays.asList(
        Op.getData("/mr"),
        Op.getChildren("/mr"),
        Op.getData("/mr/a"),
        Op.getData("/mr/missing"),
        Op.getChildren("/mr/missing"),
        Op.getData("/mr/secret"),
        Op.getChildren("/mr/secret"),
        Op.getData("/mr/b"),
        Op.getChildren("/mr/a")));
    eq(9, res.size(), "one multiRead result per op");
    OpResult.GetDataResult r0 = dataResult(res.get(0), "op 0 getData /mr");
    eq("top", str(r0.getData()), "multiRead getData /mr data");
    eqStat(top, r0.getStat(), "multiRead getData /mr stat");
    eq(list("a", "b", "secret"), sorted(childrenResult(res.get(1), "op 1").getChildren()),
        "multiRead getChildren /mr");
    OpResult.GetDataResult r2 = dataResult(res.get(2), "op 2 getData /mr/a");
    eq("A", str(r2.getData()), "multiRead getData /mr/a data");
    eqStat(a, r2.getStat(), "multiRead getData /mr/a stat");
    eq(Code.NONODE.intValue(), Scenarios.err(res.get(3)), "multiRead getData of a missing node");
    eq(Code.NONODE.intValue(), Scenarios.err(res.get(4)),
        "multiRead getChildren of a missing node");
    eq(Code.NOAUTH.intValue(), Scenarios.err(res.get(5)),
        "multiRead getData without READ");
    eq(Code.NOAUTH.intValue(), Scenarios.err(res.get(6)),
        "multiRead getChildren without READ");
    OpResult.GetDataResult r7 = dataResult(res.get(7), "op 7 getData /mr/b (after errors)");
    check(r7.getData() == null, "multiRead getData of a null-data node returns null");
    eqStat(b, r7.getStat(), "multiRead getData /mr/b stat");
    eq(Collections.emptyList(), childrenResult(res.get(8), "op 8").getChildren(),
        "multiRead getChildren of a leaf");

    // The same ops for the owner of /mr/secret succeed.
    List<OpResult> own = bob.multi(Arrays.asList(
        Op.getData("/mr/secret"), Op.getChildren("/mr/secret")));
    eq("s", str(dataResult(own.get(0), "bob getData").getData()), "owner reads /mr/secret");
    eq(list("kid"), childrenResult(own.get(1), "bob getChildren").getChildren(),
        "owner lists /mr/secret");

    // multiRead never sets watches. To observe a stray server-side watch with the Java client
    // (which drops notifications it has no local watcher for), make the client hold a local
    // watcher the server no longer has: a notification dropped by the ACL filter consumes the
    // server's standard watch but not the client's.
    Recorder dataRec = new Recorder("data");
    Recorder childRec = new Recorder("child");
    anon.getData("/mr/a", dataRec, null);
    anon.getChildren("/mr/a", childRec);
    bob.setACL("/mr/a", BOB_ALL, -1);
    bob.setData("/mr/a", bytes("A2"), -1); // filtered for anon: consumes its data watch
    bob.create("/mr/a/k1", null, OPEN, CreateMode.PERSISTENT); // filtered: consumes child watch
    bob.setACL("/mr/a", OPEN, -1);
    quiet(anon, bob, "/mr-barrier-1", dataRec, childRec);
    List<OpResult> again = anon.multi(Arrays.asList(
        Op.getData("/mr/a"), Op.getChildren("/mr/a")));
    eq("A2", str(dataResult(again.get(0), "getData /mr/a").getData()), "multiRead after setData");
    eq(list("k1"), childrenResult(again.get(1), "getChildren /mr/a").getChildren(),
        "multiRead children after create");
    bob.setData("/mr/a", bytes("A3"), -1);
    bob.create("/mr/a/k2", null, OPEN, CreateMode.PERSISTENT);
    quiet(anon, bob, "/mr-barrier-2", dataRec, childRec);
    anon.close();
    bob.close();
  }

  // ------------------------------------------------------------------ addWatch

  /** PERSISTENT and PERSISTENT_RECURSIVE watches: exact event sequences, never consumed. */
  static void persistentWatches(String cs) throws Exception {
    Client a = Client.connect(cs, SESSION_TIMEOUT_MS);
    Client b = Client.connect(cs, SESSION_TIMEOUT_MS);

    // PERSISTENT on a node that does not exist yet.
    Recorder p = new Recorder("persistent");
    a.addWatch("/pw", p, AddWatchMode.PERSISTENT);
    b.create("/pw", bytes("0"), OPEN, CreateMode.PERSISTENT);
    b.setData("/pw", bytes("1"), -1);
    b.setData("/pw", bytes("2"), -1);
    b.create("/pw/c", null, OPEN, CreateMode.PERSISTENT);
    b.create("/pw/c/gc", null, OPEN, CreateMode.PERSISTENT); // grandchild: not watched
    b.setData("/pw/c", bytes("x"), -1); // child data: not watched
    b.setACL("/pw", OPEN, -1); // setACL fires nothing
    b.delete("/pw/c/gc", -1);
    b.delete("/pw/c", -1);
    b.delete("/pw", -1);
    b.create("/pw", null, OPEN, CreateMode.PERSISTENT); // still armed after a delete
    expectSeq(p,
        "NodeCreated /pw",
        "NodeDataChanged /pw",
        "NodeDataChanged /pw",
        "NodeChildrenChanged /pw",
        "NodeChildrenChanged /pw",
        "NodeDeleted /pw",
        "NodeCreated /pw");
    quiet(a, b, "/barrier-1", p);

    // PERSISTENT_RECURSIVE: the node and all descendants, never NodeChildrenChanged.
    Recorder r = new Recorder("recursive");
    a.addWatch("/rw", r, AddWatchMode.PERSISTENT_RECURSIVE);
    b.create("/rw", bytes("0"), OPEN, CreateMode.PERSISTENT);
    b.create("/rw/a", null, OPEN, CreateMode.PERSISTENT);
    b.create("/rw/a/b", null, OPEN, CreateMode.PERSISTENT);
    b.setData("/rw/a/b", bytes("1"), -1);
    b.setData("/rw/a/b", bytes("2"), -1);
    b.setData("/rw", bytes("1"), -1);
    b.create("/rwx", null, OPEN, CreateMode.PERSISTENT); // same prefix, not a descendant
    b.setData("/rwx", bytes("x"), -1);
    b.create("/rw/e", null, OPEN, CreateMode.EPHEMERAL);
    b.delete("/rw/a/b", -1);
    b.delete("/rw/a", -1);
    expectSeq(r,
        "NodeCreated /rw",
        "NodeCreated /rw/a",
        "NodeCreated /rw/a/b",
        "NodeDataChanged /rw/a/b",
        "NodeDataChanged /rw/a/b",
        "NodeDataChanged /rw",
        "NodeCreated /rw/e",
        "NodeDeleted /rw/a/b",
        "NodeDeleted /rw/a");
    // A multi fires each sub-op's event, in op order.
    b.multi(Arrays.asList(
        Op.create("/rw/m", null, OPEN, CreateMode.PERSISTENT),
        Op.create("/rw/m/n", null, OPEN, CreateMode.PERSISTENT),
        Op.setData("/rw/m", bytes("m"), -1),
        Op.delete("/rw/m/n", -1)));
    expectSeq(r,
        "NodeCreated /rw/m",
        "NodeCreated /rw/m/n",
        "NodeDataChanged /rw/m",
        "NodeDeleted /rw/m/n");
    // A session close deletes its ephemeral: NodeDeleted through the recursive watch.
    Client c = Client.connect(cs, SESSION_TIMEOUT_MS);
    c.create("/rw/ce", null, OPEN, CreateMode.EPHEMERAL);
    c.close();
    expectSeq(r, "NodeCreated /rw/ce", "NodeDeleted /rw/ce");
    quiet(a, b, "/barrier-2", p, r);

    // One notification per connection: an exists watch on /rw/q plus the recursive watch on
    // /rw get one NodeCreated between them, fanned out by the client to both watchers; a
    // second notification would reach the recursive watcher twice.
    Recorder ex = new Recorder("exists");
    check(a.exists("/rw/q", ex) == null, "/rw/q absent");
    Recorder ch = new Recorder("children");
    eq(list("e", "m"), sorted(a.getChildren("/rw", ch)), "children of /rw");
    b.create("/rw/q", null, OPEN, CreateMode.PERSISTENT);
    expectSeq(ex, "NodeCreated /rw/q");
    expectSeq(ch, "NodeChildrenChanged /rw");
    expectSeq(r, "NodeCreated /rw/q");
    quiet(a, b, "/barrier-3", p, r, ex, ch);

    // A recursive and a persistent watch on the same path, plus the persistent one on /pw.
    Recorder both = new Recorder("both");
    a.addWatch("/rw/q", both, AddWatchMode.PERSISTENT);
    b.create("/rw/q/z", null, OPEN, CreateMode.PERSISTENT);
    b.setData("/rw/q", bytes("q"), -1);
    expectSeq(both, "NodeChildrenChanged /rw/q", "NodeDataChanged /rw/q");
    expectSeq(r, "NodeCreated /rw/q/z", "NodeDataChanged /rw/q");
    quiet(a, b, "/barrier-4", p, r, both);

    // Recursive watch on a node whose subtree is deleted bottom-up by a multi.
    b.multi(Arrays.asList(Op.delete("/rw/q/z", -1), Op.delete("/rw/q", -1)));
    expectSeq(r, "NodeDeleted /rw/q/z", "NodeDeleted /rw/q");
    expectSeq(both, "NodeChildrenChanged /rw/q", "NodeDeleted /rw/q");
    quiet(a, b, "/barrier-5", p, r, both);

    // A recursive watch never yields NodeChildrenChanged, even where the Java client would
    // deliver one: a child watcher the client still holds but the server has consumed (its
    // notification was dropped by the ACL filter) would receive a stray one.
    Client w = bob(cs);
    w.create("/rc", null, OPEN, CreateMode.PERSISTENT);
    Recorder rr = new Recorder("recursive-rc");
    a.addWatch("/rc", rr, AddWatchMode.PERSISTENT_RECURSIVE);
    Recorder stale = new Recorder("stale-child");
    a.getChildren("/rc", stale);
    w.setACL("/rc", BOB_ALL, -1);
    w.create("/rc/hidden", null, OPEN, CreateMode.PERSISTENT); // child event filtered
    expectSeq(rr, "NodeCreated /rc/hidden"); // the open child itself is visible
    w.setACL("/rc", OPEN, -1);
    w.create("/rc/x", null, OPEN, CreateMode.PERSISTENT);
    w.delete("/rc/x", -1);
    expectSeq(rr, "NodeCreated /rc/x", "NodeDeleted /rc/x");
    quiet(a, w, "/barrier-6", rr, stale);
    w.close();
    a.close();
    b.close();
  }

  /**
   * removeWatches (18) and checkWatches (17): removal events, server-side NOWATCHER, and what
   * removing one kind of watch leaves behind.
   */
  static void removeWatches(String cs) throws Exception {
    Client a = Client.connect(cs, SESSION_TIMEOUT_MS);
    Client b = bob(cs);
    a.create("/rm", bytes("0"), OPEN, CreateMode.PERSISTENT);

    // Nothing registered: NoWatcherException for every type, and the server answers
    // opcode 18 without dropping the connection.
    for (WatcherType t : WatcherType.values()) {
      expectCode(Code.NOWATCHER, () -> {
        a.removeAllWatches("/rm", t, false);
        return null;
      }, "removeAllWatches " + t + " with no watch");
    }
    a.exists("/rm", false);
    noDisconnect(a, "removeAllWatches with no watch");

    // A persistent watch and two standard data watchers on the same node.
    Recorder p = new Recorder("persistent");
    Recorder d1 = new Recorder("data1");
    Recorder d2 = new Recorder("data2");
    a.addWatch("/rm", p, AddWatchMode.PERSISTENT);
    a.getData("/rm", d1, null);
    a.getData("/rm", d2, null);
    // Removing the persistent watch (opcode 18) must leave the standard data watch on the
    // server: the checkWatches (17) for d1 that follows is answered by the server.
    a.removeAllWatches("/rm", WatcherType.Persistent, false);
    expectSeq(p, "PersistentWatchRemoved /rm");
    a.removeWatches("/rm", d1, WatcherType.Data, false);
    expectSeq(d1, "DataWatchRemoved /rm");
    b.setData("/rm", bytes("1"), -1);
    expectSeq(d2, "NodeDataChanged /rm");
    quiet(a, b, "/rm-barrier-1", p, d1, d2);
    b.setData("/rm", bytes("2"), -1); // d2 was one-shot; p and d1 removed
    quiet(a, b, "/rm-barrier-2", p, d1, d2);
    noServerWatch(a, b, "/rm", "/rm-probe-1"); // the persistent watch is gone on the server

    // Child watch: removed by type Children, with a ChildWatchRemoved event.
    Recorder c = new Recorder("child");
    a.getChildren("/rm", c);
    expectCode(Code.NOWATCHER, () -> {
      a.removeAllWatches("/rm", WatcherType.Data, false);
      return null;
    }, "removeAllWatches Data when only a child watch exists");
    a.removeAllWatches("/rm", WatcherType.Children, false);
    expectSeq(c, "ChildWatchRemoved /rm");
    b.create("/rm/k", null, OPEN, CreateMode.PERSISTENT);
    quiet(a, b, "/rm-barrier-3", c);

    // Recursive watch: removed with type PersistentRecursive; Any removes everything.
    Recorder r = new Recorder("recursive");
    a.addWatch("/rm", r, AddWatchMode.PERSISTENT_RECURSIVE);
    b.setData("/rm/k", bytes("k"), -1);
    expectSeq(r, "NodeDataChanged /rm/k");
    expectCode(Code.NOWATCHER, () -> {
      a.removeAllWatches("/rm", WatcherType.Persistent, false);
      return null;
    }, "removeAllWatches Persistent when only a recursive watch exists");
    Recorder d3 = new Recorder("data3");
    a.getData("/rm", d3, null);
    a.removeAllWatches("/rm", WatcherType.PersistentRecursive, false);
    expectSeq(r, "PersistentWatchRemoved /rm");
    b.setData("/rm/k", bytes("k2"), -1); // the recursive watch is gone
    b.setData("/rm", bytes("3"), -1); // the data watch is still there
    expectSeq(d3, "NodeDataChanged /rm");
    quiet(a, b, "/rm-barrier-4", r, d3);
    noServerWatch(a, b, "/rm", "/rm-probe-2"); // the recursive watch is gone on the server

    Recorder any1 = new Recorder("any-data");
    Recorder any2 = new Recorder("any-child");
    Recorder any3 = new Recorder("any-persistent");
    a.getData("/rm", any1, null);
    a.getChildren("/rm", any2);
    a.addWatch("/rm", any3, AddWatchMode.PERSISTENT);
    a.removeAllWatches("/rm", WatcherType.Any, false);
    expectSeq(any1, "DataWatchRemoved /rm");
    expectSeq(any2, "ChildWatchRemoved /rm");
    expectSeq(any3, "PersistentWatchRemoved /rm");
    b.setData("/rm", bytes("4"), -1);
    b.create("/rm/k2", null, OPEN, CreateMode.PERSISTENT);
    quiet(a, b, "/rm-barrier-5", any1, any2, any3);
    noServerWatch(a, b, "/rm", "/rm-probe-3");
    noDisconnect(a, "removeWatches/checkWatches");

    // A watch held by another session is not removed: b's watch still fires.
    Recorder theirs = new Recorder("b-data");
    b.getData("/rm", theirs, null);
    expectCode(Code.NOWATCHER, () -> {
      a.removeAllWatches("/rm", WatcherType.Any, false);
      return null;
    }, "removeAllWatches of a path watched only by another session");
    a.setData("/rm", bytes("5"), -1);
    expectSeq(theirs, "NodeDataChanged /rm");
    a.close();
    b.close();
  }

  /**
   * Persistent and recursive watches survive a move to another server (SetWatches2). The Rust
   * side kills the server the client uses when it reads READY_TO_KILL and answers KILLED.
   */
  static void persistentFailover(String cs) throws Exception {
    int timeout = 8000;
    Client zk = Client.connect(cs, timeout);
    zk.create("/sw", bytes("0"), OPEN, CreateMode.PERSISTENT);
    Recorder p = new Recorder("persistent");
    Recorder r = new Recorder("recursive");
    Recorder d = new Recorder("data");
    zk.addWatch("/sw", p, AddWatchMode.PERSISTENT);
    zk.addWatch("/sr", r, AddWatchMode.PERSISTENT_RECURSIVE);
    zk.getData("/sw", d, null);
    String first = zk.remote();
    System.out.println("READY_TO_KILL " + first);
    System.out.flush();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    eq("KILLED", in.readLine(), "line from the test driver");
    zk.log.awaitState(KeeperState.Disconnected);
    zk.log.awaitState(KeeperState.SyncConnected);
    String second = zk.remote();
    check(!first.equals(second), "client moved to another server (%s -> %s)", first, second);
    System.out.println("RECONNECTED " + second);

    Client other = Client.connect(cs, timeout);
    other.setData("/sw", bytes("1"), -1);
    expectSeq(d, "NodeDataChanged /sw");
    expectSeq(p, "NodeDataChanged /sw");
    other.setData("/sw", bytes("2"), -1);
    other.create("/sw/c", null, OPEN, CreateMode.PERSISTENT);
    expectSeq(p, "NodeDataChanged /sw", "NodeChildrenChanged /sw");
    other.create("/sr", null, OPEN, CreateMode.PERSISTENT);
    other.create("/sr/a", null, OPEN, CreateMode.PERSISTENT);
    other.create("/sr/a/b", null, OPEN, CreateMode.PERSISTENT);
    other.setData("/sr/a/b", bytes("x"), -1);
    other.delete("/sr/a/b", -1);
    expectSeq(r, "NodeCreated /sr", "NodeCreated /sr/a", "NodeCreated /sr/a/b",
        "NodeDataChanged /sr/a/b", "NodeDeleted /sr/a/b");
    quiet(zk, other, "/sw-barrier", p, r, d);
    // The re-registered watches can be removed on the new server.
    zk.removeAllWatches("/sr", WatcherType.PersistentRecursive, false);
    expectSeq(r, "PersistentWatchRemoved /sr");
    zk.removeAllWatches("/sw", WatcherType.Persistent, false);
    expectSeq(p, "PersistentWatchRemoved /sw");
    zk.close();
    other.close();
  }

  // ------------------------------------------------------------------ containers and TTL

  /** Needs a container check interval of 500 ms. */
  static void containers(String cs) throws Exception {
    Client zk = Client.connect(cs, SESSION_TIMEOUT_MS);
    Client other = Client.connect(cs, SESSION_TIMEOUT_MS);
    eq("/ctr", zk.create("/ctr", bytes("c"), OPEN, CreateMode.CONTAINER), "create container");
    Stat st = new Stat();
    eq("/unused", zk.create("/unused", null, OPEN, CreateMode.CONTAINER, st),
        "create container with stat");
    eq(0L, st.getEphemeralOwner(), "a container's ephemeralOwner as clients see it");
    eq(0, st.getVersion(), "container version");
    eqStat(st, zk.exists("/unused", false), "exists stat of a container");
    zk.create("/keep", null, OPEN, CreateMode.CONTAINER);
    zk.create("/keep/kid", null, OPEN, CreateMode.PERSISTENT);
    zk.create("/ctr/kid", null, OPEN, CreateMode.PERSISTENT);
    // A sequential child and a child container are fine under a container.
    eq("/ctr/s-0000000001", zk.create("/ctr/s-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL),
        "sequential child of a container");
    zk.create("/ctr/inner", null, OPEN, CreateMode.CONTAINER);
    zk.create("/ctr/inner/x", null, OPEN, CreateMode.PERSISTENT);

    // A container created in a multi, with its first child in the same transaction.
    zk.multi(Arrays.asList(
        Op.create("/mctr", null, OPEN, CreateMode.CONTAINER),
        Op.create("/mctr/k", null, OPEN, CreateMode.PERSISTENT)));
    eq(0L, zk.exists("/mctr", false).getEphemeralOwner(), "multi-created container's owner");

    Thread.sleep(1500); // three check intervals: containers with children stay
    check(zk.exists("/mctr", false) != null, "multi-created container with a child stays");
    Recorder mGone = new Recorder("mctr");
    zk.exists("/mctr", mGone);
    zk.delete("/mctr/k", -1);
    mGone.expect(EventType.NodeDeleted, "/mctr");
    check(zk.exists("/ctr", false) != null, "container with children survives the reaper");
    check(zk.exists("/keep", false) != null, "container with a child survives the reaper");

    Recorder gone = new Recorder("ctr");
    check(zk.exists("/ctr", gone) != null, "/ctr present");
    Recorder innerGone = new Recorder("inner");
    check(zk.exists("/ctr/inner", innerGone) != null, "/ctr/inner present");
    zk.delete("/ctr/kid", -1);
    zk.delete("/ctr/s-0000000001", -1);
    zk.delete("/ctr/inner/x", -1);
    long t0 = System.currentTimeMillis();
    // The inner container goes first; then /ctr has had children and is empty.
    innerGone.expect(EventType.NodeDeleted, "/ctr/inner");
    gone.expect(EventType.NodeDeleted, "/ctr");
    long took = System.currentTimeMillis() - t0;
    check(took < 10_000, "containers reaped %d ms after their last child went", took);
    check(zk.exists("/ctr", false) == null, "emptied container is gone");
    check(other.exists("/ctr", false) == null, "emptied container is gone for everyone");

    // A container emptied by a session close (its ephemeral child) goes too.
    Client owner = Client.connect(cs, SESSION_TIMEOUT_MS);
    owner.create("/eph-ctr", null, OPEN, CreateMode.CONTAINER);
    owner.create("/eph-ctr/e", null, OPEN, CreateMode.EPHEMERAL);
    Recorder ephGone = new Recorder("eph-ctr");
    check(zk.exists("/eph-ctr", ephGone) != null, "/eph-ctr present");
    owner.close();
    ephGone.expect(EventType.NodeDeleted, "/eph-ctr");

    // Never-used containers stay (maxNeverUsedIntervalMs is 0), containers with children stay.
    Thread.sleep(1500);
    check(zk.exists("/unused", false) != null, "a never-used container stays");
    check(zk.exists("/keep", false) != null, "a container with a child stays");
    // An explicit delete of a container works like any delete.
    zk.delete("/unused", 0);
    check(zk.exists("/unused", false) == null, "explicit delete of a container");
    // Recreating a child under /keep and deleting /keep/kid: /keep goes.
    Recorder keepGone = new Recorder("keep");
    zk.exists("/keep", keepGone);
    other.delete("/keep/kid", -1);
    keepGone.expect(EventType.NodeDeleted, "/keep");
    zk.close();
    other.close();
  }

  /** Needs extended types (TTL) enabled and a container check interval of 500 ms. */
  static void ttl(String cs) throws Exception {
    Client zk = Client.connect(cs, SESSION_TIMEOUT_MS);
    Stat st = new Stat();
    long t0 = System.currentTimeMillis();
    eq("/ttl", zk.create("/ttl", bytes("t"), OPEN, CreateMode.PERSISTENT_WITH_TTL, st, 1000),
        "createTTL");
    eq(0L, st.getEphemeralOwner(), "a TTL node's ephemeralOwner as clients see it");
    eq(1, st.getDataLength(), "TTL node dataLength");
    eqStat(st, zk.exists("/ttl", false), "exists stat of a TTL node");
    Recorder gone = new Recorder("ttl");
    check(zk.exists("/ttl", gone) != null, "/ttl present right after create");
    // setData refreshes mtime, which restarts the TTL.
    zk.create("/ttl-refresh", null, OPEN, CreateMode.PERSISTENT_WITH_TTL, new Stat(), 4000);
    // A TTL node created inside a multi.
    List<OpResult> mr = zk.multi(Arrays.asList(
        Op.create("/ttl-multi", null, OPEN, CreateMode.PERSISTENT_WITH_TTL, 1000)));
    eq("/ttl-multi", ((OpResult.CreateResult) mr.get(0)).getPath(), "multi createTTL path");
    Recorder multiGone = new Recorder("ttl-multi");
    check(zk.exists("/ttl-multi", multiGone) != null, "/ttl-multi present");
    zk.create("/ttl-kid", null, OPEN, CreateMode.PERSISTENT_WITH_TTL, new Stat(), 1000);
    zk.create("/ttl-kid/c", null, OPEN, CreateMode.PERSISTENT);
    zk.create("/ttl-long", null, OPEN, CreateMode.PERSISTENT_WITH_TTL, new Stat(), 600_000);
    String seq = zk.create("/ttls-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL,
        new Stat(), 1000);
    eq("/ttls-0000000005", seq, "sequential TTL node name");
    Recorder seqGone = new Recorder("ttl-seq");
    check(zk.exists(seq, seqGone) != null, "sequential TTL node present");

    gone.expect(EventType.NodeDeleted, "/ttl");
    long lived = System.currentTimeMillis() - t0;
    check(lived >= 900, "TTL node removed after %d ms, before its 1000 ms TTL", lived);
    check(lived < 10_000, "TTL node removed only after %d ms", lived);
    seqGone.expect(EventType.NodeDeleted, seq);
    multiGone.expect(EventType.NodeDeleted, "/ttl-multi");
    long untilRefresh = t0 + 2000 - System.currentTimeMillis();
    if (untilRefresh > 0) {
      Thread.sleep(untilRefresh);
    }
    Recorder refreshGone = new Recorder("ttl-refresh");
    long refreshedAt = System.currentTimeMillis();
    zk.setData("/ttl-refresh", bytes("r"), -1);
    check(zk.exists("/ttl-refresh", refreshGone) != null, "/ttl-refresh still there at 2 s");
    Thread.sleep(1000);
    check(zk.exists("/ttl-kid", false) != null, "an expired TTL node with a child stays");
    check(zk.exists("/ttl-long", false) != null, "a TTL node within its TTL stays");
    Recorder kidGone = new Recorder("ttl-kid");
    zk.exists("/ttl-kid", kidGone);
    zk.delete("/ttl-kid/c", -1);
    kidGone.expect(EventType.NodeDeleted, "/ttl-kid");
    check(zk.exists("/ttl-long", false) != null, "/ttl-long still there");
    refreshGone.expect(EventType.NodeDeleted, "/ttl-refresh");
    long sinceRefresh = System.currentTimeMillis() - refreshedAt;
    check(sinceRefresh >= 3950,
        "TTL node removed %d ms after a setData; its 4000 ms TTL counts from the last change",
        sinceRefresh);
    zk.close();
  }

  /** Default server: TTL nodes are disabled. */
  static void ttlDisabled(String cs) throws Exception {
    Client zk = Client.connect(cs, SESSION_TIMEOUT_MS);
    KeeperException e = expectCode(Code.UNIMPLEMENTED,
        () -> zk.create("/t", null, OPEN, CreateMode.PERSISTENT_WITH_TTL, new Stat(), 1000),
        "createTTL with extended types disabled");
    check(e instanceof KeeperException.UnimplementedException, "UnimplementedException, got %s",
        e.getClass().getName());
    expectCode(Code.UNIMPLEMENTED,
        () -> zk.create("/t-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, new Stat(),
            1000),
        "sequential createTTL with extended types disabled");
    expectCode(Code.UNIMPLEMENTED,
        () -> zk.multi(Arrays.asList(
            Op.create("/t-ok", null, OPEN, CreateMode.PERSISTENT),
            Op.create("/t", null, OPEN, CreateMode.PERSISTENT_WITH_TTL, 1000))),
        "createTTL inside a multi with extended types disabled");
    check(zk.exists("/t", false) == null, "no node created");
    check(zk.exists("/t-ok", false) == null, "the multi was rolled back");
    // The connection survives: an error reply, not a close.
    zk.create("/after", null, OPEN, CreateMode.PERSISTENT);
    check(zk.exists("/after", false) != null, "session usable after UNIMPLEMENTED");
    noDisconnect(zk, "createTTL answered UNIMPLEMENTED");
    zk.close();
  }

  // ------------------------------------------------------------------ session info

  static void ephemeralsAndCounts(String cs) throws Exception {
    Client a = Client.connect(cs, SESSION_TIMEOUT_MS);
    Client b = Client.connect(cs, SESSION_TIMEOUT_MS);
    eq(Collections.emptyList(), a.getEphemerals(), "no ephemerals yet");
    a.create("/eph", null, OPEN, CreateMode.PERSISTENT);
    a.create("/eph/a", null, OPEN, CreateMode.EPHEMERAL);
    a.create("/eph/b", null, OPEN, CreateMode.EPHEMERAL);
    String s = a.create("/eph/s-", null, OPEN, CreateMode.EPHEMERAL_SEQUENTIAL);
    a.create("/ephx", null, OPEN, CreateMode.EPHEMERAL);
    a.create("/other", null, OPEN, CreateMode.PERSISTENT);
    a.create("/other/p", null, OPEN, CreateMode.PERSISTENT);
    b.create("/eph/bb", null, OPEN, CreateMode.EPHEMERAL);
    b.create("/other/be", null, OPEN, CreateMode.EPHEMERAL);

    List<String> all = list("/eph/a", "/eph/b", s, "/ephx");
    Collections.sort(all);
    eq(all, sorted(a.getEphemerals()), "getEphemerals() of a");
    eq(all, sorted(a.getEphemerals("/")), "getEphemerals(/) of a");
    // A plain string prefix, not a path component: /eph also matches /ephx.
    eq(all, sorted(a.getEphemerals("/eph")), "getEphemerals(/eph) of a");
    eq(list("/eph/b"), a.getEphemerals("/eph/b"), "getEphemerals(/eph/b) of a");
    eq(list("/eph/bb"), b.getEphemerals("/eph/b"), "getEphemerals(/eph/b) of b");
    eq(list("/eph/s-0000000002"), a.getEphemerals("/eph/s"), "getEphemerals(/eph/s) of a");
    eq(Collections.emptyList(), a.getEphemerals("/other"), "a has no ephemerals under /other");
    eq(Collections.emptyList(), a.getEphemerals("/nothing"), "no match");
    eq(list("/eph/bb", "/other/be"), sorted(b.getEphemerals()), "getEphemerals() of b");
    eq(list("/other/be"), b.getEphemerals("/other"), "getEphemerals(/other) of b");
    a.delete("/eph/a", -1);
    eq(list("/eph/b", s, "/ephx"), sorted(a.getEphemerals("/eph")), "after deleting one");

    // getAllChildrenNumber counts every descendant.
    a.create("/gac", null, OPEN, CreateMode.PERSISTENT);
    a.create("/gac/a", null, OPEN, CreateMode.PERSISTENT);
    a.create("/gac/a/b", null, OPEN, CreateMode.PERSISTENT);
    a.create("/gac/a/b/c", null, OPEN, CreateMode.PERSISTENT);
    a.create("/gac/d", null, OPEN, CreateMode.PERSISTENT);
    b.create("/gac/d/e", null, OPEN, CreateMode.EPHEMERAL);
    eq(5, a.getAllChildrenNumber("/gac"), "getAllChildrenNumber(/gac)");
    eq(2, a.getAllChildrenNumber("/gac/a"), "getAllChildrenNumber(/gac/a)");
    eq(0, a.getAllChildrenNumber("/gac/a/b/c"), "getAllChildrenNumber of a leaf");
    eq(3, a.getAllChildrenNumber("/eph"), "getAllChildrenNumber(/eph)");
    eq(2, a.getAllChildrenNumber("/zookeeper"), "getAllChildrenNumber(/zookeeper)");
    // / : zookeeper, quota, config + eph(1+3) + ephx + other(1+2) + gac(1+5)
    eq(17, a.getAllChildrenNumber("/"), "getAllChildrenNumber(/)");
    expectCode(Code.NONODE, () -> a.getAllChildrenNumber("/missing"),
        "getAllChildrenNumber of a missing node");
    b.close();
    eq(14, a.getAllChildrenNumber("/"), "getAllChildrenNumber(/) after b's ephemerals went");
    eq(4, a.getAllChildrenNumber("/gac"), "getAllChildrenNumber(/gac) after b closed");
    a.close();
  }

  static void whoAmI(String cs) throws Exception {
    Client a = Client.connect(cs, SESSION_TIMEOUT_MS);
    eq(list("ip:127.0.0.1"), who(a), "whoAmI of a fresh session");
    a.addAuthInfo("digest", bytes("bob:secret"));
    eq(list("digest:bob", "ip:127.0.0.1"), who(a), "whoAmI after digest auth");
    a.addAuthInfo("digest", bytes("bob:secret"));
    eq(list("digest:bob", "ip:127.0.0.1"), who(a), "identities are a set");
    a.addAuthInfo("digest", bytes("alice:pw"));
    eq(list("digest:alice", "digest:bob", "ip:127.0.0.1"), who(a), "two digest identities");
    // No super digest configured: super:admin is just a digest identity.
    Client s = Client.connect(cs, SESSION_TIMEOUT_MS);
    s.addAuthInfo("digest", bytes("super:admin"));
    eq(list("digest:super", "ip:127.0.0.1"), who(s), "super:admin without a super digest");
    s.create("/bobs", null, BOB_ALL, CreateMode.PERSISTENT);
    expectCode(Code.NOAUTH, () -> s.getData("/bobs", false, null),
        "super:admin without a configured super digest has no special rights");
    // Other sessions are not affected.
    Client b = Client.connect(cs, SESSION_TIMEOUT_MS);
    eq(list("ip:127.0.0.1"), who(b), "another session's identities");
    a.close();
    b.close();
    s.close();
  }

  static void configAndReconfig(String cs) throws Exception {
    Client zk = Client.connect(cs, SESSION_TIMEOUT_MS);
    Stat st = new Stat();
    byte[] config = zk.getConfig(false, st);
    check(config != null && config.length == 0, "getConfig in standalone: empty data, got %s",
        config == null ? "null" : "'" + str(config) + "'");
    byte[] direct = zk.getData("/zookeeper/config", false, null);
    check(direct != null && direct.length == 0, "getData(/zookeeper/config) is empty");
    Stat aclStat = new Stat();
    eq(acl(Perms.READ, "world", "anyone"), zk.getACL("/zookeeper/config", aclStat),
        "ACL of /zookeeper/config");
    expectCode(Code.NOAUTH, () -> zk.setData("/zookeeper/config", bytes("x"), -1),
        "setData /zookeeper/config");
    expectCode(Code.NOAUTH,
        () -> zk.create("/zookeeper/config/x", null, OPEN, CreateMode.PERSISTENT),
        "create under /zookeeper/config");
    // A getConfig watch is accepted (the node never changes here).
    Recorder w = new Recorder("config");
    zk.getConfig(w, null);

    EventLog log = new EventLog("admin");
    ZooKeeperAdmin admin = new ZooKeeperAdmin(cs, SESSION_TIMEOUT_MS, log);
    log.awaitState(KeeperState.SyncConnected);
    expectCode(Code.RECONFIGDISABLED,
        () -> admin.reconfigure("server.5=127.0.0.1:2888:3888:participant;2181", null, null, -1,
            new Stat()),
        "incremental reconfig (join) on a standalone server");
    KeeperException e = expectCode(Code.RECONFIGDISABLED,
        () -> admin.reconfigure(null, "1", null, -1, new Stat()),
        "incremental reconfig (leave) on a standalone server");
    check(e instanceof KeeperException.ReconfigDisabledException,
        "ReconfigDisabledException, got %s", e.getClass().getName());
    expectCode(Code.RECONFIGDISABLED,
        () -> admin.reconfigure(null, null, "server.1=127.0.0.1:2888:3888:participant;2181", -1,
            new Stat()),
        "non-incremental reconfig on a standalone server");
    // Nothing changed, and the session is still usable.
    byte[] after = admin.getConfig(false, new Stat());
    check(after != null && after.length == 0, "config unchanged after failed reconfigs");
    admin.create("/after-reconfig", null, OPEN, CreateMode.PERSISTENT);
    admin.close();
    quiet(zk, zk, "/config-barrier", w);

    // ZooKeeper gives the node its READ-only ACL with setACL(version -1), which leaves
    // aversion at -1; everything else is zero. (Checked last so that a mismatch here does
    // not hide the results above.)
    Stat zero = new Stat();
    zero.setAversion(-1);
    eqStat(zero, st, "stat of /zookeeper/config");
    eqStat(zero, aclStat, "getACL stat of /zookeeper/config");
    zk.close();
  }

  // ------------------------------------------------------------------ ACLs

  /**
   * Every scheme and every permission. Needs the super digest {@link #SUPER} configured (so that
   * {@code super:admin} is the super user).
   */
  static void acls(String cs) throws Exception {
    Client bob = bob(cs);
    Client anon = Client.connect(cs, SESSION_TIMEOUT_MS);
    Client su = Client.connect(cs, SESSION_TIMEOUT_MS);
    su.addAuthInfo("digest", bytes("super:admin"));

    check(BOB.equals(DigestAuthenticationProvider.generateDigest("bob:secret")),
        "digest test vector");
    check(SUPER.equals(DigestAuthenticationProvider.generateDigest("super:admin")),
        "super digest test vector");

    // ---- one permission at a time, for world:anyone, exercised by anon
    int[] perms = {Perms.READ, Perms.WRITE, Perms.CREATE, Perms.DELETE, Perms.ADMIN};
    String[] names = {"read", "write", "create", "delete", "admin"};
    for (int i = 0; i < perms.length; i++) {
      int perm = perms[i];
      String path = "/perm-" + names[i];
      bob.create(path, bytes("v"), OPEN, CreateMode.PERSISTENT);
      bob.create(path + "/victim", null, OPEN, CreateMode.PERSISTENT);
      List<ACL> only = acl(perm, "world", "anyone");
      bob.setACL(path, only, -1);
      boolean read = perm == Perms.READ;
      String w = " with only " + names[i].toUpperCase();
      allowed(read, () -> anon.getData(path, false, null), "getData" + w);
      allowed(read, () -> anon.getChildren(path, false), "getChildren" + w);
      allowed(read, () -> anon.getChildren(path, false, new Stat()), "getChildren2" + w);
      allowed(read, () -> anon.exists(path, false), "exists" + w);
      allowed(read, () -> anon.getAllChildrenNumber(path), "getAllChildrenNumber" + w);
      allowed(read, () -> anon.multi(Arrays.asList(Op.check(path, -1))), "multi check" + w);
      allowed(read || perm == Perms.ADMIN, () -> anon.getACL(path, new Stat()), "getACL" + w);
      allowed(perm == Perms.WRITE, () -> anon.setData(path, bytes("x"), -1), "setData" + w);
      allowed(perm == Perms.WRITE,
          () -> anon.multi(Arrays.asList(Op.setData(path, bytes("y"), -1))), "multi setData" + w);
      allowed(perm == Perms.CREATE,
          () -> anon.multi(Arrays.asList(Op.create(path + "/m", null, OPEN,
              CreateMode.PERSISTENT))),
          "multi create child" + w);
      allowed(perm == Perms.CREATE,
          () -> anon.create(path + "/new", null, OPEN, CreateMode.PERSISTENT),
          "create child" + w);
      allowed(perm == Perms.CREATE,
          () -> anon.create(path + "/new2", null, OPEN, CreateMode.EPHEMERAL),
          "create ephemeral child" + w);
      allowed(perm == Perms.DELETE, () -> {
        anon.delete(path + "/victim", -1);
        return null;
      }, "delete child" + w);
      allowed(perm == Perms.ADMIN, () -> anon.setACL(path, only, -1), "setACL" + w);
      // Without READ, exists of a missing child is still answered (no ACL check on absence).
      check(anon.exists(path + "/nope", false) == null, "exists of a missing child" + w);
    }

    // ---- digest
    bob.create("/d", bytes("d"), BOB_ALL, CreateMode.PERSISTENT);
    bob.create("/d/kid", null, OPEN, CreateMode.PERSISTENT);
    expectCode(Code.NOAUTH, () -> anon.getData("/d", false, null), "digest: getData anon");
    expectCode(Code.NOAUTH, () -> anon.exists("/d", false), "digest: exists anon");
    expectCode(Code.NOAUTH, () -> anon.getChildren("/d", false), "digest: getChildren anon");
    expectCode(Code.NOAUTH, () -> anon.setData("/d", null, -1), "digest: setData anon");
    expectCode(Code.NOAUTH, () -> anon.getACL("/d", new Stat()), "digest: getACL anon");
    expectCode(Code.NOAUTH, () -> anon.setACL("/d", OPEN, -1), "digest: setACL anon");
    expectCode(Code.NOAUTH, () -> anon.create("/d/x", null, OPEN, CreateMode.PERSISTENT),
        "digest: create child anon");
    expectCode(Code.NOAUTH, () -> {
      anon.delete("/d/kid", -1);
      return null;
    }, "digest: delete child anon");
    // The child has its own (open) ACL.
    check(anon.getData("/d/kid", false, null) == null, "open child of a closed parent");
    Client wrong = Client.connect(cs, SESSION_TIMEOUT_MS);
    wrong.addAuthInfo("digest", bytes("bob:wrong"));
    expectCode(Code.NOAUTH, () -> wrong.getData("/d", false, null), "digest: wrong password");
    wrong.close();
    eq("d", str(bob.getData("/d", false, null)), "digest: bob reads");
    Stat dStat = bob.setData("/d", bytes("d2"), -1);
    eq(1, dStat.getVersion(), "digest: bob writes");
    eq(BOB_ALL, bob.getACL("/d", new Stat()), "digest: bob's getACL is unmasked");
    // Authenticating mid-session applies to the following requests.
    Client late = Client.connect(cs, SESSION_TIMEOUT_MS);
    expectCode(Code.NOAUTH, () -> late.getData("/d", false, null), "before addAuthInfo");
    late.addAuthInfo("digest", bytes("bob:secret"));
    eq("d2", str(late.getData("/d", false, null)), "after addAuthInfo");
    late.close();

    // ---- getACL masks digest ids without ADMIN
    List<ACL> mixed = new ArrayList<>(BOB_ALL);
    mixed.add(new ACL(Perms.READ, ZooDefs.Ids.ANYONE_ID_UNSAFE));
    bob.create("/mask", null, mixed, CreateMode.PERSISTENT);
    List<ACL> masked = new ArrayList<>(acl(Perms.ALL, "digest", "bob:x"));
    masked.add(new ACL(Perms.READ, ZooDefs.Ids.ANYONE_ID_UNSAFE));
    Stat maskStat = new Stat();
    eq(masked, anon.getACL("/mask", maskStat), "getACL with READ but not ADMIN is masked");
    eq(mixed, bob.getACL("/mask", new Stat()), "getACL with ADMIN is not masked");
    List<ACL> adminMixed = new ArrayList<>(BOB_ALL);
    adminMixed.add(new ACL(Perms.ADMIN, ZooDefs.Ids.ANYONE_ID_UNSAFE));
    bob.create("/mask-admin", null, adminMixed, CreateMode.PERSISTENT);
    eq(adminMixed, anon.getACL("/mask-admin", new Stat()), "getACL with ADMIN only: unmasked");

    // ---- auth scheme (CREATOR_ALL_ACL)
    expectCode(Code.INVALIDACL,
        () -> anon.create("/auth-anon", null, ZooDefs.Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT),
        "auth ACL without an authenticated identity (ip does not count)");
    check(anon.exists("/auth-anon", false) == null, "nothing created with an invalid ACL");
    bob.create("/auth-bob", null, ZooDefs.Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT);
    eq(BOB_ALL, bob.getACL("/auth-bob", new Stat()), "auth ACL expands to the digest identity");
    expectCode(Code.NOAUTH, () -> anon.getData("/auth-bob", false, null),
        "auth ACL shuts others out");
    Client two = Client.connect(cs, SESSION_TIMEOUT_MS);
    two.addAuthInfo("digest", bytes("bob:secret"));
    two.addAuthInfo("digest", bytes("alice:pw"));
    List<ACL> readAdmin = acl(Perms.READ | Perms.ADMIN, "auth", "");
    two.create("/auth-two", null, readAdmin, CreateMode.PERSISTENT);
    Set<String> got = aclSet(two.getACL("/auth-two", new Stat()));
    Set<String> want = new HashSet<>(Arrays.asList(
        "17 digest:" + BOB,
        "17 digest:" + DigestAuthenticationProvider.generateDigest("alice:pw")));
    eq(want, got, "auth ACL with two identities: one entry per identity, same perms");
    expectCode(Code.NOAUTH, () -> two.setData("/auth-two", null, -1),
        "READ|ADMIN auth ACL lacks WRITE");
    // setACL with the auth scheme too.
    bob.create("/auth-set", null, OPEN, CreateMode.PERSISTENT);
    Stat aset = bob.setACL("/auth-set", ZooDefs.Ids.CREATOR_ALL_ACL, -1);
    eq(1, aset.getAversion(), "aversion after setACL");
    eq(BOB_ALL, bob.getACL("/auth-set", new Stat()), "setACL with the auth scheme");
    expectCode(Code.INVALIDACL, () -> anon.setACL("/perm-admin", ZooDefs.Ids.CREATOR_ALL_ACL, -1),
        "setACL auth ACL without an authenticated identity");
    two.close();

    // ---- ip
    bob.create("/ip-local", bytes("l"), acl(Perms.ALL, "ip", "127.0.0.0/8"),
        CreateMode.PERSISTENT);
    bob.create("/ip-exact", bytes("e"), acl(Perms.ALL, "ip", "127.0.0.1"),
        CreateMode.PERSISTENT);
    bob.create("/ip-other", bytes("o"), acl(Perms.ALL, "ip", "10.0.0.0/8"),
        CreateMode.PERSISTENT);
    List<ACL> ipMixed = new ArrayList<>(acl(Perms.ALL, "ip", "10.0.0.0/8"));
    ipMixed.add(new ACL(Perms.READ, new Id("ip", "127.0.0.1/32")));
    bob.create("/ip-mixed", bytes("m"), ipMixed, CreateMode.PERSISTENT);
    eq("l", str(anon.getData("/ip-local", false, null)), "ip 127.0.0.0/8 matches 127.0.0.1");
    anon.setData("/ip-local", bytes("l2"), -1);
    eq("e", str(anon.getData("/ip-exact", false, null)), "ip 127.0.0.1 matches");
    expectCode(Code.NOAUTH, () -> anon.getData("/ip-other", false, null),
        "ip 10.0.0.0/8 does not match 127.0.0.1");
    expectCode(Code.NOAUTH, () -> bob.getData("/ip-other", false, null),
        "ip 10.0.0.0/8 does not match bob either");
    eq("m", str(anon.getData("/ip-mixed", false, null)), "ip READ entry");
    expectCode(Code.NOAUTH, () -> anon.setData("/ip-mixed", null, -1), "ip READ entry only");

    // ---- invalid ACLs
    Object[][] invalid = {
        {"world", "somebody"}, {"digest", "bob"}, {"nosuch", "x"}, {"ip", "not-an-address"},
        {"ip", "127.0.0.1/33"}, {"super", ""}};
    for (Object[] bad : invalid) {
      List<ACL> badAcl = acl(Perms.ALL, (String) bad[0], (String) bad[1]);
      expectCode(Code.INVALIDACL,
          () -> bob.create("/bad-acl", null, badAcl, CreateMode.PERSISTENT),
          "create with ACL " + bad[0] + ":" + bad[1]);
      expectCode(Code.INVALIDACL, () -> bob.setACL("/auth-set", badAcl, -1),
          "setACL with ACL " + bad[0] + ":" + bad[1]);
    }
    check(bob.exists("/bad-acl", false) == null, "nothing created with invalid ACLs");

    // ---- super
    eq("d2", str(su.getData("/d", false, null)), "super reads a digest-protected node");
    su.setData("/d", bytes("su"), -1);
    eq(BOB_ALL, su.getACL("/d", new Stat()), "super's getACL is unmasked");
    su.create("/d/su", null, OPEN, CreateMode.PERSISTENT);
    su.delete("/d/su", -1);
    eq("o", str(su.getData("/ip-other", false, null)), "super passes ip ACLs");
    su.create("/perm-read/su", null, OPEN, CreateMode.PERSISTENT);
    su.setACL("/auth-bob", OPEN, -1);
    eq(OPEN, anon.getACL("/auth-bob", new Stat()), "super's setACL took effect");
    eq(list("digest:super", "ip:127.0.0.1", "super:"), who(su), "whoAmI of the super user");
    Client notSuper = Client.connect(cs, SESSION_TIMEOUT_MS);
    notSuper.addAuthInfo("digest", bytes("super:wrong"));
    expectCode(Code.NOAUTH, () -> notSuper.getData("/d", false, null),
        "wrong super password");
    notSuper.close();
    su.close();
    anon.close();
    bob.close();
  }

  /** An auth packet with an unknown scheme: AUTHFAILED, AuthFailed state, a dead handle. */
  static void authFailed(String cs) throws Exception {
    Client ok = Client.connect(cs, SESSION_TIMEOUT_MS);
    ok.create("/af", bytes("x"), OPEN, CreateMode.PERSISTENT);
    for (String scheme : new String[] {"nosuch", "world"}) {
      EventLog log = new EventLog("auth-" + scheme);
      ZooKeeper bad = new ZooKeeper(cs, SESSION_TIMEOUT_MS, log);
      log.awaitState(KeeperState.SyncConnected);
      eq("x", str(bad.getData("/af", false, null)), "works before the auth packet");
      bad.addAuthInfo(scheme, bytes("whatever"));
      log.awaitState(KeeperState.AuthFailed);
      eq(ZooKeeper.States.AUTH_FAILED, bad.getState(), "state after auth with " + scheme);
      check(!bad.getState().isAlive(), "handle is dead after a failed auth");
      expectCode(Code.AUTHFAILED, () -> bad.exists("/af", false),
          "request after a failed auth with scheme " + scheme);
      bad.close();
    }
    // An ip auth packet is accepted and adds nothing new.
    Client ip = Client.connect(cs, SESSION_TIMEOUT_MS);
    ip.addAuthInfo("ip", bytes("10.1.2.3"));
    eq(list("ip:127.0.0.1"), who(ip), "ip auth packet uses the connection's address");
    ip.close();
    // Other sessions are unaffected.
    eq("x", str(ok.getData("/af", false, null)), "other session unaffected");
    ok.close();
  }

  /** Notifications are delivered only to connections with READ on the node (3.9.2+). */
  static void aclFilteredWatches(String cs) throws Exception {
    Client bob = bob(cs);
    Client anon = Client.connect(cs, SESSION_TIMEOUT_MS);
    bob.create("/fw", null, OPEN, CreateMode.PERSISTENT);
    Recorder rec = new Recorder("recursive");
    anon.addWatch("/fw", rec, AddWatchMode.PERSISTENT_RECURSIVE);
    Recorder ex = new Recorder("exists-secret");
    check(anon.exists("/fw/secret", ex) == null, "/fw/secret absent");
    Recorder kids = new Recorder("children-fw");
    anon.getChildren("/fw", kids);

    bob.create("/fw/open", null, OPEN, CreateMode.PERSISTENT);
    expectSeq(rec, "NodeCreated /fw/open");
    expectSeq(kids, "NodeChildrenChanged /fw");
    bob.create("/fw/secret", null, BOB_ALL, CreateMode.PERSISTENT); // NodeCreated filtered
    bob.setData("/fw/secret", bytes("s"), -1); // filtered
    bob.setData("/fw/open", bytes("o"), -1);
    expectSeq(rec, "NodeDataChanged /fw/open");
    quiet(anon, bob, "/fw-barrier-1", rec, ex, kids);

    // The filtered NodeCreated consumed the server's exists watch; the client still has it,
    // so removing it reaches the server, which answers NOWATCHER.
    Recorder ctl = new Recorder("control");
    check(anon.exists("/fw/ctl", ctl) == null, "/fw/ctl absent");
    anon.removeWatches("/fw/ctl", ctl, WatcherType.Data, false); // control: server has it
    expectCode(Code.NOWATCHER, () -> {
      anon.removeWatches("/fw/secret", ex, WatcherType.Data, false);
      return null;
    }, "checkWatches after the watch was consumed by a filtered notification");
    expectCode(Code.NOWATCHER, () -> {
      anon.removeAllWatches("/fw/secret", WatcherType.Data, false);
      return null;
    }, "removeWatches after the watch was consumed by a filtered notification");
    anon.removeAllWatches("/fw/secret", WatcherType.Data, true); // local removal always works

    // A persistent watch on a node anon cannot read (addWatch has no ACL check).
    bob.create("/fw/priv", null, BOB_ALL, CreateMode.PERSISTENT);
    Recorder pw = new Recorder("persistent-priv");
    anon.addWatch("/fw/priv", pw, AddWatchMode.PERSISTENT);
    bob.setData("/fw/priv", bytes("1"), -1); // filtered: node ACL
    bob.create("/fw/priv/k", null, OPEN, CreateMode.PERSISTENT); // NodeChildrenChanged filtered
    // ... but the child itself is open: its NodeCreated reaches the recursive watcher.
    expectSeq(rec, "NodeCreated /fw/priv/k");
    quiet(anon, bob, "/fw-barrier-2", rec, pw, kids);
    bob.setACL("/fw/priv", OPEN, -1); // setACL fires nothing
    bob.setData("/fw/priv", bytes("2"), -1);
    expectSeq(pw, "NodeDataChanged /fw/priv");
    expectSeq(rec, "NodeDataChanged /fw/priv");
    bob.delete("/fw/priv/k", -1);
    expectSeq(rec, "NodeDeleted /fw/priv/k");
    expectSeq(pw, "NodeChildrenChanged /fw/priv");

    // Deleting a private node: NodeDeleted is filtered (the node's ACL), NodeChildrenChanged
    // of the open parent is not.
    anon.getChildren("/fw", kids);
    bob.delete("/fw/secret", -1);
    expectSeq(kids, "NodeChildrenChanged /fw");
    quiet(anon, bob, "/fw-barrier-3", rec, pw, kids);

    // A standard data watch is consumed by a filtered notification (on a node outside /fw,
    // whose recursive watch would hand the client's local watcher a later event).
    bob.create("/fo", null, OPEN, CreateMode.PERSISTENT);
    Recorder data = new Recorder("data-fo");
    anon.getData("/fo", data, null);
    bob.setACL("/fo", BOB_ALL, -1);
    bob.setData("/fo", bytes("hidden"), -1);
    bob.setACL("/fo", OPEN, -1);
    bob.setData("/fo", bytes("seen"), -1);
    quiet(anon, bob, "/fw-barrier-4", rec, data, pw, kids);
    expectCode(Code.NOWATCHER, () -> {
      anon.removeWatches("/fo", data, WatcherType.Data, false);
      return null;
    }, "checkWatches after a data watch was consumed by a filtered notification");
    anon.close();
    bob.close();
  }

  // ------------------------------------------------------------------ helpers

  /**
   * Proves that the server holds no persistent or recursive watch of {@code a}'s connection
   * covering {@code path} (an open node), although the Java client drops notifications it has
   * no local watcher for: {@code a} gets a local data watcher that the server then consumes
   * with a notification dropped by the ACL filter; a later change reaches that watcher only if
   * some other watch of the connection still covers the path. {@code bob} must be {@link #bob}.
   */
  static void noServerWatch(Client a, Client bob, String path, String barrier) throws Exception {
    Recorder probe = new Recorder("probe " + path);
    a.getData(path, probe, null);
    bob.setACL(path, BOB_ALL, -1);
    bob.setData(path, bytes("probe-hidden"), -1); // filtered for a: consumes its data watch
    bob.setACL(path, OPEN, -1);
    bob.setData(path, bytes("probe"), -1);
    quiet(a, bob, barrier, probe);
  }

  /** The connection of {@code c} has never been dropped. */
  static void noDisconnect(Client c, String after) {
    for (String ev : new ArrayList<>(c.log.seen)) {
      check(!ev.startsWith("Disconnected"), "connection dropped (%s): %s", after, c.log.seen);
    }
  }

  static Client bob(String cs) throws Exception {
    Client c = Client.connect(cs, SESSION_TIMEOUT_MS);
    c.addAuthInfo("digest", bytes("bob:secret"));
    return c;
  }

  static List<ACL> acl(int perms, String scheme, String id) {
    return new ArrayList<>(Collections.singletonList(new ACL(perms, new Id(scheme, id))));
  }

  static Set<String> aclSet(List<ACL> acls) {
    Set<String> out = new HashSet<>();
    for (ACL a : acls) {
      out.add(a.getPerms() + " " + a.getId().getScheme() + ":" + a.getId().getId());
    }
    return out;
  }

  /** whoAmI as sorted {@code scheme:user} strings. */
  static List<String> who(ZooKeeper zk) throws Exception {
    List<String> out = new ArrayList<>();
    for (ClientInfo ci : zk.whoAmI()) {
      out.add(ci.getAuthScheme() + ":" + ci.getUser());
    }
    Collections.sort(out);
    return out;
  }

  static OpResult.GetDataResult dataResult(OpResult r, String what) {
    if (!(r instanceof OpResult.GetDataResult)) {
      throw new Mismatch(what + ": expected a GetDataResult, got " + describe(r));
    }
    return (OpResult.GetDataResult) r;
  }

  static OpResult.GetChildrenResult childrenResult(OpResult r, String what) {
    if (!(r instanceof OpResult.GetChildrenResult)) {
      throw new Mismatch(what + ": expected a GetChildrenResult, got " + describe(r));
    }
    return (OpResult.GetChildrenResult) r;
  }

  static String describe(OpResult r) {
    if (r instanceof OpResult.ErrorResult) {
      return "ErrorResult(" + Code.get(((OpResult.ErrorResult) r).getErr()) + ")";
    }
    return r == null ? "null" : r.getClass().getSimpleName();
  }

  /** The call must succeed when {@code allowed}, else fail with NOAUTH. */
  static void allowed(boolean allowed, Scenarios.Call call, String what) throws Exception {
    if (allowed) {
      try {
        call.call();
      } catch (KeeperException e) {
        throw new Mismatch(what + ": expected success but got " + e.code());
      }
    } else {
      expectCode(Code.NOAUTH, call, what);
    }
  }

  /** The next events of {@code rec} are exactly {@code expected} ("Type /path"), in order. */
  static void expectSeq(Recorder rec, String... expected) throws InterruptedException {
    List<String> got = new ArrayList<>();
    for (String want : expected) {
      WatchedEvent ev = rec.events.poll(WAIT_MS, TimeUnit.MILLISECONDS);
      if (ev == null) {
        throw new Mismatch("watcher " + rec.name + ": expected " + Arrays.toString(expected)
            + " but got only " + got + " (nothing more within " + WAIT_MS + " ms)");
      }
      String g = ev.getType() + " " + ev.getPath();
      got.add(g);
      if (!g.equals(want) || ev.getState() != KeeperState.SyncConnected) {
        throw new Mismatch("watcher " + rec.name + ": expected " + Arrays.toString(expected)
            + " but got " + got + (ev.getState() != KeeperState.SyncConnected
                ? " (state " + ev.getState() + ")" : "") + " followed by " + drain(rec));
      }
    }
  }

  static List<String> drain(Recorder rec) throws InterruptedException {
    List<String> more = new ArrayList<>();
    WatchedEvent ev;
    while ((ev = rec.events.poll(200, TimeUnit.MILLISECONDS)) != null) {
      more.add(ev.getType() + " " + ev.getPath());
    }
    return more;
  }

  /**
   * Proves that none of {@code recs} has a pending event: each arms an exists watch on
   * {@code path} from {@code side}, {@code other} creates it, and each recorder's next event
   * must be that creation (notifications on one connection are delivered in order).
   */
  static void quiet(Client side, Client other, String path, Recorder... recs) throws Exception {
    for (Recorder r : recs) {
      check(side.exists(path, r) == null, "barrier %s must not exist yet", path);
    }
    other.create(path, null, OPEN, CreateMode.PERSISTENT);
    for (Recorder r : recs) {
      WatchedEvent ev = r.events.poll(WAIT_MS, TimeUnit.MILLISECONDS);
      if (ev == null) {
        throw new Mismatch("watcher " + r.name + ": no NodeCreated for barrier " + path);
      }
      if (ev.getType() != EventType.NodeCreated || !path.equals(ev.getPath())) {
        throw new Mismatch("watcher " + r.name + ": unexpected event " + ev.getType() + " "
            + ev.getPath() + " before the barrier " + path + "; then " + drain(r));
      }
    }
  }

  private Surface() {}
}
