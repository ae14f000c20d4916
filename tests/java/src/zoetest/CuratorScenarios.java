package zoetest;

import static zoetest.Scenarios.check;
import static zoetest.Scenarios.eq;
import static zoetest.Scenarios.list;
import static zoetest.Scenarios.sorted;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.recipes.leader.Participant;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.nodes.PersistentNode;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.SharedCountListener;
import org.apache.curator.framework.recipes.shared.SharedCountReader;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.framework.recipes.watch.PersistentWatcher;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.data.Stat;
import zoetest.Scenarios.Mismatch;

/**
 * Apache Curator recipes against the target server.
 *
 * <p>Usage and exit codes as in {@link Scenarios}: {@code java zoetest.CuratorScenarios
 * <scenario> <connectString>} prints {@code PASS <scenario>} and exits 0. The {@code containers}
 * scenario needs a container check interval of 500 ms (see tests/curator.rs).
 */
public final class CuratorScenarios {
  static final long WAIT_MS = 15_000;
  static final long WATCHDOG_MS = 120_000;

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: zoetest.CuratorScenarios <scenario> <connectString>");
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
        case "leader_latch": leaderLatch(connect); break;
        case "mutex": mutex(connect); break;
        case "cache": cache(connect); break;
        case "persistent_node": persistentNode(connect); break;
        case "atomic_long": atomicLong(connect); break;
        case "shared_count": sharedCount(connect); break;
        case "containers": containers(connect); break;
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

  // ------------------------------------------------------------------ scenarios

  /** Two participants: exactly one leader; when it closes, the other takes over. */
  static void leaderLatch(String cs) throws Exception {
    CuratorFramework c1 = client(cs);
    CuratorFramework c2 = client(cs);
    LeaderLatch one = new LeaderLatch(c1, "/latch", "one");
    LeaderLatch two = new LeaderLatch(c2, "/latch", "two");
    BlockingQueue<String> twoEvents = new LinkedBlockingQueue<>();
    two.addListener(new LeaderLatchListener() {
      @Override
      public void isLeader() {
        twoEvents.add("leader");
      }

      @Override
      public void notLeader() {
        twoEvents.add("not-leader");
      }
    });
    one.start();
    check(one.await(WAIT_MS, TimeUnit.MILLISECONDS), "the only participant becomes leader");
    two.start();
    waitUntil("two participants", () -> participants(two).size() == 2);
    check(one.hasLeadership(), "the first participant is still the leader");
    check(!two.hasLeadership(), "the second participant is not the leader");
    eq("one", two.getLeader().getId(), "leader id as seen by the second participant");
    eq("one", one.getLeader().getId(), "leader id as seen by the first participant");
    eq(list("one", "two"), sorted(participants(one)), "participants");
    List<String> nodes = c1.getChildren().forPath("/latch");
    eq(2, nodes.size(), "one latch node per participant: " + nodes);
    for (String n : nodes) {
      Stat st = c1.checkExists().forPath("/latch/" + n);
      check(st != null && st.getEphemeralOwner() != 0, "latch node %s is ephemeral", n);
    }
    check(!two.await(300, TimeUnit.MILLISECONDS), "the second participant must keep waiting");

    one.close();
    check(two.await(WAIT_MS, TimeUnit.MILLISECONDS), "the second participant takes over");
    eq("leader", twoEvents.poll(WAIT_MS, TimeUnit.MILLISECONDS), "isLeader callback");
    eq("two", two.getLeader().getId(), "new leader id");
    eq(list("two"), sorted(participants(two)), "participants after the leader closed");
    eq(1, c2.getChildren().forPath("/latch").size(), "the closed participant's node is gone");

    // The first client joins again and does not steal leadership.
    LeaderLatch again = new LeaderLatch(c1, "/latch", "one-again");
    again.start();
    waitUntil("two participants again", () -> participants(two).size() == 2);
    check(two.hasLeadership() && !again.hasLeadership(), "leadership stays with two");
    // Losing the leader's session hands leadership over too.
    c2.close();
    check(again.await(WAIT_MS, TimeUnit.MILLISECONDS),
        "leadership moves when the leader's client closes");
    eq("one-again", again.getLeader().getId(), "leader after the session closed");
    again.close();
    c1.close();
  }

  /** InterProcessMutex between two clients: mutual exclusion, reentrancy, cleanup. */
  static void mutex(String cs) throws Exception {
    CuratorFramework c1 = client(cs);
    CuratorFramework c2 = client(cs);
    InterProcessMutex m1 = new InterProcessMutex(c1, "/locks/m");
    InterProcessMutex m2 = new InterProcessMutex(c2, "/locks/m");
    check(m1.acquire(WAIT_MS, TimeUnit.MILLISECONDS), "first client acquires");
    check(m1.isAcquiredInThisProcess(), "m1 held");
    check(m1.acquire(1, TimeUnit.SECONDS), "reentrant acquire");
    long t0 = System.currentTimeMillis();
    check(!m2.acquire(500, TimeUnit.MILLISECONDS), "second client must not get a held lock");
    check(System.currentTimeMillis() - t0 >= 450, "acquire timed out early");
    eq(1, c1.getChildren().forPath("/locks/m").size(),
        "one lock node (the failed attempt removed its own)");
    m1.release();
    check(!m2.acquire(300, TimeUnit.MILLISECONDS), "still held after one of two releases");
    m1.release();
    check(m2.acquire(WAIT_MS, TimeUnit.MILLISECONDS), "second client acquires after release");
    check(!m1.acquire(300, TimeUnit.MILLISECONDS), "first client excluded now");
    m2.release();
    eq(Collections.emptyList(), c1.getChildren().forPath("/locks/m"), "no lock nodes left");

    // Contention: 2 threads per client, 10 rounds each.
    AtomicInteger holders = new AtomicInteger();
    AtomicInteger overlap = new AtomicInteger();
    int[] counter = {0};
    AtomicReference<Throwable> failure = new AtomicReference<>();
    List<Thread> threads = new ArrayList<>();
    for (int t = 0; t < 4; t++) {
      CuratorFramework c = t % 2 == 0 ? c1 : c2;
      Thread th = new Thread(() -> {
        try {
          InterProcessMutex m = new InterProcessMutex(c, "/locks/m");
          for (int i = 0; i < 10; i++) {
            if (!m.acquire(WAIT_MS, TimeUnit.MILLISECONDS)) {
              throw new IllegalStateException("acquire timed out");
            }
            try {
              if (holders.incrementAndGet() != 1) {
                overlap.incrementAndGet();
              }
              int v = counter[0];
              Thread.sleep(2);
              counter[0] = v + 1;
              holders.decrementAndGet();
            } finally {
              m.release();
            }
          }
        } catch (Throwable e) {
          failure.compareAndSet(null, e);
        }
      });
      threads.add(th);
      th.start();
    }
    for (Thread th : threads) {
      th.join(60_000);
    }
    if (failure.get() != null) {
      throw new Mismatch("contention thread failed: " + failure.get());
    }
    eq(0, overlap.get(), "times two holders overlapped");
    eq(40, counter[0], "increments under the lock");
    eq(Collections.emptyList(), c1.getChildren().forPath("/locks/m"), "no lock nodes left");

    // A holder's session closing releases the lock.
    CuratorFramework c3 = client(cs);
    InterProcessMutex m3 = new InterProcessMutex(c3, "/locks/m");
    check(m3.acquire(WAIT_MS, TimeUnit.MILLISECONDS), "third client acquires");
    c3.close();
    check(m1.acquire(WAIT_MS, TimeUnit.MILLISECONDS), "lock freed by the holder's session close");
    m1.release();
    c1.close();
    c2.close();
  }

  /** CuratorCache (a persistent recursive watch) and PersistentWatcher: exact events. */
  static void cache(String cs) throws Exception {
    CuratorFramework c1 = client(cs);
    CuratorFramework c2 = client(cs);
    c1.create().forPath("/cache", bytes("root"));
    BlockingQueue<String> events = new LinkedBlockingQueue<>();
    CountDownLatch initialized = new CountDownLatch(1);
    CuratorCache cache = CuratorCache.build(c1, "/cache");
    cache.listenable().addListener(CuratorCacheListener.builder()
        .forAll((type, oldData, data) -> {
          String path = data != null ? data.getPath() : oldData.getPath();
          byte[] d = data != null ? data.getData() : null;
          events.add(type + " " + path + (d == null ? "" : " " + str(d)));
        })
        .forInitialized(initialized::countDown)
        .build());
    cache.start();
    check(initialized.await(WAIT_MS, TimeUnit.MILLISECONDS), "cache initialized");
    expect(events, "NODE_CREATED /cache root");

    c2.create().forPath("/cache/a", bytes("1"));
    expect(events, "NODE_CREATED /cache/a 1");
    c2.setData().forPath("/cache/a", bytes("2"));
    expect(events, "NODE_CHANGED /cache/a 2");
    c2.create().forPath("/cache/a/b", bytes("x"));
    expect(events, "NODE_CREATED /cache/a/b x");
    c2.setData().forPath("/cache/a/b", bytes("y"));
    expect(events, "NODE_CHANGED /cache/a/b y");
    c2.delete().forPath("/cache/a/b");
    expect(events, "NODE_DELETED /cache/a/b");
    c2.delete().forPath("/cache/a");
    expect(events, "NODE_DELETED /cache/a");
    c2.create().forPath("/cache-sibling", bytes("no")); // outside the cached tree
    c2.setData().forPath("/cache", bytes("end"));
    expect(events, "NODE_CHANGED /cache end"); // and nothing for the sibling before it
    eq(1, (int) cache.size(), "cache size");
    eq("end", str(cache.get("/cache").get().getData()), "cached data");
    cache.close();

    // PersistentWatcher, recursive: raw events, never NodeChildrenChanged.
    BlockingQueue<String> raw = new LinkedBlockingQueue<>();
    CountDownLatch registered = new CountDownLatch(1);
    PersistentWatcher pw = new PersistentWatcher(c1, "/pw", true);
    pw.getListenable().addListener((WatchedEvent e) -> raw.add(e.getType() + " " + e.getPath()));
    pw.getResetListenable().addListener(registered::countDown);
    pw.start();
    check(registered.await(WAIT_MS, TimeUnit.MILLISECONDS), "persistent watcher registered");
    c2.create().forPath("/pw", bytes("0"));
    c2.create().forPath("/pw/x", bytes("0"));
    c2.setData().forPath("/pw/x", bytes("1"));
    c2.delete().forPath("/pw/x");
    c2.setData().forPath("/pw", bytes("end"));
    expect(raw, "NodeCreated /pw");
    expect(raw, "NodeCreated /pw/x");
    expect(raw, "NodeDataChanged /pw/x");
    expect(raw, "NodeDeleted /pw/x");
    expect(raw, "NodeDataChanged /pw");
    pw.close();
    c1.close();
    c2.close();
  }

  /** PersistentNode: an ephemeral that is re-created when someone deletes it. */
  static void persistentNode(String cs) throws Exception {
    CuratorFramework c1 = client(cs);
    CuratorFramework c2 = client(cs);
    long owner = c1.getZookeeperClient().getZooKeeper().getSessionId();
    PersistentNode node = new PersistentNode(c1, CreateMode.EPHEMERAL, false, "/pn/node",
        bytes("p"));
    node.start();
    check(node.waitForInitialCreate(WAIT_MS, TimeUnit.MILLISECONDS), "initial create");
    Stat st = c2.checkExists().forPath("/pn/node");
    check(st != null, "/pn/node exists");
    eq(owner, st.getEphemeralOwner(), "ephemeral owned by the first client");
    eq("p", str(c2.getData().forPath("/pn/node")), "data");

    c2.delete().forPath("/pn/node");
    waitUntil("/pn/node re-created", () -> exists(c2, "/pn/node"));
    eq(owner, c2.checkExists().forPath("/pn/node").getEphemeralOwner(),
        "re-created by the first client");
    eq("p", str(c2.getData().forPath("/pn/node")), "data after re-create");

    node.setData(bytes("q"));
    waitUntil("new data visible", () -> "q".equals(data(c2, "/pn/node")));
    // Deleted again: re-created with the new data.
    c2.delete().forPath("/pn/node");
    waitUntil("/pn/node re-created with the new data", () -> "q".equals(data(c2, "/pn/node")));
    node.close();
    waitUntil("/pn/node removed on close", () -> !exists(c2, "/pn/node"));
    c1.close();
    c2.close();
  }

  /** DistributedAtomicLong: optimistic increments from two clients all count. */
  static void atomicLong(String cs) throws Exception {
    CuratorFramework c1 = client(cs);
    CuratorFramework c2 = client(cs);
    DistributedAtomicLong d1 = new DistributedAtomicLong(c1, "/counter", new RetryNTimes(100, 5));
    DistributedAtomicLong d2 = new DistributedAtomicLong(c2, "/counter", new RetryNTimes(100, 5));
    AtomicValue<Long> v = d1.increment();
    check(v.succeeded(), "first increment succeeded");
    eq(0L, v.preValue(), "pre value of the first increment");
    eq(1L, v.postValue(), "post value of the first increment");
    eq(1L, d2.get().postValue(), "value seen by the other client");

    AtomicReference<Throwable> failure = new AtomicReference<>();
    AtomicInteger failed = new AtomicInteger();
    List<Thread> threads = new ArrayList<>();
    for (int t = 0; t < 4; t++) {
      DistributedAtomicLong d = t % 2 == 0 ? d1 : d2;
      Thread th = new Thread(() -> {
        try {
          for (int i = 0; i < 15; i++) {
            if (!d.increment().succeeded()) {
              failed.incrementAndGet();
            }
          }
        } catch (Throwable e) {
          failure.compareAndSet(null, e);
        }
      });
      threads.add(th);
      th.start();
    }
    for (Thread th : threads) {
      th.join(60_000);
    }
    if (failure.get() != null) {
      throw new Mismatch("increment thread failed: " + failure.get());
    }
    eq(0, failed.get(), "increments that gave up");
    eq(61L, d2.get().postValue(), "value after 1 + 4 x 15 increments");

    check(d1.compareAndSet(61L, 100L).succeeded(), "compareAndSet with the right value");
    check(!d2.compareAndSet(61L, 5L).succeeded(), "compareAndSet with a stale value fails");
    eq(100L, d2.get().postValue(), "value after compareAndSet");
    AtomicValue<Long> added = d2.add(5L);
    check(added.succeeded(), "add succeeded");
    eq(105L, added.postValue(), "value after add");
    check(d1.trySet(7L).succeeded(), "trySet");
    eq(7L, d2.get().postValue(), "value after trySet");
    c1.close();
    c2.close();
  }

  /** SharedCount: changes reach the other client; a stale versioned set fails. */
  static void sharedCount(String cs) throws Exception {
    CuratorFramework c1 = client(cs);
    CuratorFramework c2 = client(cs);
    SharedCount s1 = new SharedCount(c1, "/shared", 0);
    SharedCount s2 = new SharedCount(c2, "/shared", 0);
    BlockingQueue<Integer> seen = new LinkedBlockingQueue<>();
    s2.addListener(new SharedCountListener() {
      @Override
      public void countHasChanged(SharedCountReader reader, int newCount) {
        seen.add(newCount);
      }

      @Override
      public void stateChanged(CuratorFramework client, ConnectionState newState) {}
    });
    s1.start();
    s2.start();
    eq(0, s1.getCount(), "initial count");
    s1.setCount(5);
    eq(5, seen.poll(WAIT_MS, TimeUnit.MILLISECONDS), "second client notified of 5");
    eq(5, s2.getCount(), "second client's count");
    VersionedValue<Integer> stale = s2.getVersionedValue();
    s1.setCount(6);
    eq(6, seen.poll(WAIT_MS, TimeUnit.MILLISECONDS), "second client notified of 6");
    check(!s2.trySetCount(stale, 99), "trySetCount with a stale version fails");
    eq(6, s2.getCount(), "count unchanged by the failed trySetCount");
    VersionedValue<Integer> fresh = s2.getVersionedValue();
    eq(6, fresh.getValue(), "fresh value");
    check(s2.trySetCount(fresh, 7), "trySetCount with the current version");
    waitUntil("first client sees 7", () -> s1.getCount() == 7);
    eq(4, c1.getData().forPath("/shared").length, "the count is stored as 4 bytes");
    s1.close();
    s2.close();
    c1.close();
    c2.close();
  }

  /** create().creatingParentsIfNeeded().withMode(CONTAINER) and parent containers. */
  static void containers(String cs) throws Exception {
    CuratorFramework c = client(cs);
    c.create().creatingParentsIfNeeded().withMode(CreateMode.CONTAINER)
        .forPath("/cc/p/leaf", bytes("l"));
    eq("l", str(c.getData().forPath("/cc/p/leaf")), "leaf data");
    eq(0L, c.checkExists().forPath("/cc/p/leaf").getEphemeralOwner(), "container owner");
    c.create().forPath("/cc/p/leaf/kid");
    c.delete().forPath("/cc/p/leaf/kid");
    waitUntil("emptied leaf container reaped", () -> !exists(c, "/cc/p/leaf"));
    Thread.sleep(1500);
    check(exists(c, "/cc/p"), "persistent parents stay");
    check(exists(c, "/cc"), "persistent parents stay");

    // creatingParentContainersIfNeeded: the parents are containers and cascade away.
    c.create().creatingParentContainersIfNeeded().forPath("/cpc/x/y", bytes("y"));
    c.delete().forPath("/cpc/x/y");
    waitUntil("parent containers reaped bottom-up", () -> !exists(c, "/cpc"));

    // A never-used container created by Curator stays.
    c.create().withMode(CreateMode.CONTAINER).forPath("/idle");
    Thread.sleep(1500);
    check(exists(c, "/idle"), "a never-used container stays");
    c.close();
  }

  // ------------------------------------------------------------------ helpers

  static CuratorFramework client(String cs) throws Exception {
    CuratorFramework c = CuratorFrameworkFactory.builder()
        .connectString(cs)
        .sessionTimeoutMs(6000)
        .connectionTimeoutMs(5000)
        .retryPolicy(new RetryNTimes(5, 200))
        .build();
    c.start();
    check(c.blockUntilConnected((int) WAIT_MS, TimeUnit.MILLISECONDS), "Curator connected");
    return c;
  }

  static List<String> participants(LeaderLatch latch) throws Exception {
    List<String> ids = new ArrayList<>();
    for (Participant p : latch.getParticipants()) {
      ids.add(p.getId());
    }
    return ids;
  }

  interface Cond {
    boolean get() throws Exception;
  }

  static void waitUntil(String what, Cond cond) throws Exception {
    long deadline = System.currentTimeMillis() + WAIT_MS;
    while (!cond.get()) {
      if (System.currentTimeMillis() > deadline) {
        throw new Mismatch("timed out after " + WAIT_MS + " ms waiting for " + what);
      }
      Thread.sleep(50);
    }
  }

  static boolean exists(CuratorFramework c, String path) throws Exception {
    return c.checkExists().forPath(path) != null;
  }

  static String data(CuratorFramework c, String path) throws Exception {
    try {
      return str(c.getData().forPath(path));
    } catch (org.apache.zookeeper.KeeperException.NoNodeException e) {
      return null;
    }
  }

  static void expect(BlockingQueue<String> q, String want) throws InterruptedException {
    String got = q.poll(WAIT_MS, TimeUnit.MILLISECONDS);
    if (got == null) {
      throw new Mismatch("expected event <" + want + "> but none came within " + WAIT_MS + " ms");
    }
    if (!want.equals(got)) {
      List<String> rest = new ArrayList<>();
      q.drainTo(rest);
      throw new Mismatch("expected event <" + want + "> but got <" + got + ">, then " + rest);
    }
  }

  static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  static String str(byte[] b) {
    return b == null ? null : new String(b, StandardCharsets.UTF_8);
  }

  private CuratorScenarios() {}
}
