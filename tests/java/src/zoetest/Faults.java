package zoetest;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.KeeperException.Code;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.Watcher.Event.EventType;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.data.Stat;
import zoetest.Scenarios.Client;
import zoetest.Scenarios.Mismatch;
import zoetest.Scenarios.Recorder;

/**
 * Fault scenarios with the Java client, driven over stdin/stdout by the Rust test (the same
 * convention as {@link Scenarios}: {@code java zoetest.Faults <scenario> <connectString>},
 * {@code PASS <scenario>} and exit 0 when every expectation holds).
 *
 * <p>{@code kill_during_writes}: several sessions, spread over the servers of the connect string,
 * write without pause (creates with unique names, sequential creates, unconditional setData on a
 * counter node, multis of two creates and a setData) and hold an ephemeral and watches. The
 * scenario prints {@code READY_TO_KILL <host:port>} (the server most sessions are on) while the
 * writes go on; the test kills that server and answers {@code KILLED}. The sessions move to the
 * other server and keep writing. Then every outcome is checked: each acknowledged write is there
 * exactly once, each write that ended in ConnectionLoss is there entirely or not at all, sessions
 * kept their ids and ephemerals, and the watches set before the kill fire after it.
 */
public final class Faults {
  static final int TIMEOUT_MS = 10_000;
  static final int WRITERS = 4;
  static final long WATCHDOG_MS = 140_000;

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: zoetest.Faults <scenario> <connectString>");
      System.exit(64);
    }
    String scenario = args[0];
    Thread watchdog =
        new Thread(
            () -> {
              try {
                Thread.sleep(WATCHDOG_MS);
              } catch (InterruptedException e) {
                return;
              }
              System.err.println("WATCHDOG: scenario " + scenario + " still running");
              Scenarios.dumpThreads();
              Runtime.getRuntime().halt(3);
            });
    watchdog.setDaemon(true);
    watchdog.start();
    try {
      switch (scenario) {
        case "kill_during_writes": killDuringWrites(args[1]); break;
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

  /** What one writer did. */
  static final class Writer implements Runnable {
    final int id;
    final Client zk;
    final long sessionId;
    final AtomicBoolean stop;
    final Recorder dataWatch = new Recorder("data");
    final Recorder childWatch = new Recorder("child");
    // creates of /f/c/<id>-<k>
    final Set<Integer> createAcked = new HashSet<>();
    final Set<Integer> createUnknown = new HashSet<>();
    // sequential creates under /f/s: names acknowledged, count unknown
    final Set<String> seqAcked = new HashSet<>();
    int seqUnknown;
    // setData /f/ctr-<id> to "<k>"
    final List<Integer> setAcked = new ArrayList<>();
    final List<Integer> setUnknown = new ArrayList<>();
    // multi: create /f/m/<id>-<k>, create /f/m/<id>-<k>/a, setData /f/mctr-<id>
    final Set<Integer> multiAcked = new HashSet<>();
    final Set<Integer> multiUnknown = new HashSet<>();
    final List<String> wrong = new ArrayList<>();
    volatile int acked;
    volatile int losses;
    Throwable died;

    Writer(int id, Client zk, AtomicBoolean stop) {
      this.id = id;
      this.zk = zk;
      this.sessionId = zk.getSessionId();
      this.stop = stop;
    }

    void setup() throws Exception {
      zk.create("/f/eph-" + id, null, Scenarios.OPEN, CreateMode.EPHEMERAL);
      zk.create("/f/ctr-" + id, Scenarios.bytes("none"), Scenarios.OPEN, CreateMode.PERSISTENT);
      zk.create("/f/mctr-" + id, null, Scenarios.OPEN, CreateMode.PERSISTENT);
      zk.create("/f/watch-" + id, Scenarios.bytes("w0"), Scenarios.OPEN, CreateMode.PERSISTENT);
      zk.getData("/f/watch-" + id, dataWatch, null);
      zk.getChildren("/f/watch-" + id, childWatch);
    }

    @Override
    public void run() {
      try {
        for (int k = 0; !stop.get(); k++) {
          awaitConnected();
          if (stop.get()) {
            break;
          }
          switch (k % 4) {
            case 0: create(k); break;
            case 1: sequential(); break;
            case 2: setData(k); break;
            default: multi(k); break;
          }
        }
      } catch (Throwable t) {
        died = t;
      }
    }

    void awaitConnected() throws InterruptedException {
      long deadline = System.currentTimeMillis() + 60_000;
      while (!zk.getState().isConnected()) {
        if (!zk.getState().isAlive()) {
          throw new Mismatch("writer " + id + ": session ended (" + zk.getState() + ")");
        }
        if (System.currentTimeMillis() > deadline) {
          throw new Mismatch("writer " + id + ": not reconnected within 60 s");
        }
        Thread.sleep(20);
      }
    }

    /** Runs one write; returns true if acknowledged, false on ConnectionLoss. */
    boolean attempt(String what, Scenarios.Call call) throws Exception {
      try {
        call.call();
        acked++;
        return true;
      } catch (KeeperException.ConnectionLossException e) {
        losses++;
        return false;
      } catch (KeeperException e) {
        if (e.code() == Code.SESSIONEXPIRED) {
          throw new Mismatch("writer " + id + ": session expired during " + what);
        }
        wrong.add(what + ": " + e.code());
        return false;
      }
    }

    void create(int k) throws Exception {
      String p = "/f/c/" + id + "-" + k;
      if (attempt("create " + p, () -> zk.create(p, Scenarios.bytes("" + k), Scenarios.OPEN,
          CreateMode.PERSISTENT))) {
        createAcked.add(k);
      } else {
        createUnknown.add(k);
      }
    }

    void sequential() throws Exception {
      String[] name = new String[1];
      if (attempt("sequential create", () -> name[0] = zk.create("/f/s/" + id + "-", null,
          Scenarios.OPEN, CreateMode.PERSISTENT_SEQUENTIAL))) {
        seqAcked.add(name[0].substring("/f/s/".length()));
      } else {
        seqUnknown++;
      }
    }

    void setData(int k) throws Exception {
      String p = "/f/ctr-" + id;
      if (attempt("setData " + p, () -> zk.setData(p, Scenarios.bytes("" + k), -1))) {
        setAcked.add(k);
      } else {
        setUnknown.add(k);
      }
    }

    void multi(int k) throws Exception {
      String p = "/f/m/" + id + "-" + k;
      List<Op> ops = Arrays.asList(
          Op.create(p, null, Scenarios.OPEN, CreateMode.PERSISTENT),
          Op.create(p + "/a", null, Scenarios.OPEN, CreateMode.PERSISTENT),
          Op.setData("/f/mctr-" + id, Scenarios.bytes("" + k), -1));
      if (attempt("multi " + p, () -> zk.multi(ops))) {
        multiAcked.add(k);
      } else {
        multiUnknown.add(k);
      }
    }
  }

  static void killDuringWrites(String cs) throws Exception {
    Client admin = Client.connect(cs, TIMEOUT_MS);
    for (String p : new String[] {"/f", "/f/c", "/f/s", "/f/m"}) {
      admin.create(p, null, Scenarios.OPEN, CreateMode.PERSISTENT);
    }
    AtomicBoolean stop = new AtomicBoolean(false);
    List<Writer> writers = new ArrayList<>();
    Map<String, Integer> perServer = new HashMap<>();
    Map<Integer, String> serverOf = new HashMap<>();
    for (int i = 0; i < WRITERS; i++) {
      Client zk = Client.connect(cs, TIMEOUT_MS);
      Writer w = new Writer(i, zk, stop);
      w.setup();
      writers.add(w);
      String remote = zk.remote();
      serverOf.put(i, remote);
      perServer.merge(remote, 1, Integer::sum);
    }
    String victim = null;
    for (Map.Entry<String, Integer> e : perServer.entrySet()) {
      if (victim == null || e.getValue() > perServer.get(victim)) {
        victim = e.getKey();
      }
    }
    List<Thread> threads = new ArrayList<>();
    for (Writer w : writers) {
      Thread t = new Thread(w, "writer-" + w.id);
      t.start();
      threads.add(t);
    }
    awaitAcked(writers, 25);
    System.out.println("READY_TO_KILL " + victim);
    System.out.flush();
    BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    Scenarios.eq("KILLED", in.readLine(), "line from the test driver");
    // Everyone keeps writing through and after the move.
    awaitAcked(writers, 80);
    stop.set(true);
    for (Thread t : threads) {
      t.join(60_000);
      Scenarios.check(!t.isAlive(), "%s did not stop", t.getName());
    }

    // The admin session may have been on the victim too.
    long deadline = System.currentTimeMillis() + 30_000;
    while (!admin.getState().isConnected() && System.currentTimeMillis() < deadline) {
      Thread.sleep(20);
    }
    admin.sync("/f");
    int moved = 0;
    int unknownTotal = 0;
    for (Writer w : writers) {
      String tag = "writer " + w.id + ": ";
      if (w.died != null) {
        throw new Mismatch(tag + "died: " + w.died);
      }
      Scenarios.check(w.wrong.isEmpty(), tag + "wrong answers %s", w.wrong);
      Scenarios.eq(w.sessionId, w.zk.getSessionId(), tag + "session id after the kill");
      Scenarios.check(w.zk.getState().isConnected(), tag + "connected at the end");
      if (serverOf.get(w.id).equals(victim)) {
        Scenarios.check(!w.zk.remote().equals(victim), tag + "still on the killed server");
        moved++;
      }
      for (String seen : new ArrayList<>(w.zk.log.seen)) {
        Scenarios.check(!seen.startsWith(KeeperState.Expired.toString()),
            tag + "saw its session expire: %s", w.zk.log.seen);
      }
      unknownTotal += w.losses;
      checkCreates(admin, w, tag);
      checkSequential(admin, w, tag);
      checkCounter(admin, "/f/ctr-" + w.id, w.setAcked, w.setUnknown, tag + "setData: ");
      checkMultis(admin, w, tag);
      Stat eph = admin.exists("/f/eph-" + w.id, false);
      Scenarios.check(eph != null, tag + "ephemeral gone");
      Scenarios.eq(w.sessionId, eph.getEphemeralOwner(), tag + "ephemeral owner");
    }
    Scenarios.check(moved > 0, "no session was on the killed server %s", victim);
    // Watches set before the kill fire after it, on the new server.
    for (Writer w : writers) {
      admin.setData("/f/watch-" + w.id, Scenarios.bytes("w1"), -1);
      w.dataWatch.expect(EventType.NodeDataChanged, "/f/watch-" + w.id);
      admin.create("/f/watch-" + w.id + "/x", null, Scenarios.OPEN, CreateMode.PERSISTENT);
      w.childWatch.expect(EventType.NodeChildrenChanged, "/f/watch-" + w.id);
    }
    int ackedTotal = 0;
    for (Writer w : writers) {
      ackedTotal += w.acked;
    }
    System.out.println("MOVED " + moved + " ACKED " + ackedTotal + " UNKNOWN " + unknownTotal);
    for (Writer w : writers) {
      w.zk.close();
    }
    for (Writer w : writers) {
      Scenarios.check(admin.exists("/f/eph-" + w.id, false) == null,
          "ephemeral of closed writer %d still there", w.id);
    }
    admin.close();
  }

  static void awaitAcked(List<Writer> writers, int n) throws InterruptedException {
    int[] from = new int[writers.size()];
    for (int i = 0; i < from.length; i++) {
      from[i] = writers.get(i).acked;
    }
    long deadline = System.currentTimeMillis() + 60_000;
    while (true) {
      boolean all = true;
      for (int i = 0; i < from.length; i++) {
        Writer w = writers.get(i);
        if (w.died != null) {
          throw new Mismatch("writer " + w.id + " died: " + w.died);
        }
        all &= w.acked >= from[i] + n;
      }
      if (all) {
        return;
      }
      Scenarios.check(System.currentTimeMillis() < deadline,
          "writers did not make %d more acknowledged writes within 60 s", n);
      Thread.sleep(20);
    }
  }

  static void checkCreates(Client admin, Writer w, String tag) throws Exception {
    Set<Integer> present = new HashSet<>();
    for (String c : admin.getChildren("/f/c", false)) {
      if (c.startsWith(w.id + "-")) {
        present.add(Integer.parseInt(c.substring(c.indexOf('-') + 1)));
      }
    }
    for (int k : w.createAcked) {
      Scenarios.check(present.contains(k), tag + "acknowledged create %d missing", k);
      Scenarios.eq("" + k, Scenarios.str(admin.getData("/f/c/" + w.id + "-" + k, false, null)),
          tag + "data of create " + k);
    }
    for (int k : present) {
      Scenarios.check(w.createAcked.contains(k) || w.createUnknown.contains(k),
          tag + "create %d is there but was never sent", k);
    }
  }

  static void checkSequential(Client admin, Writer w, String tag) throws Exception {
    Set<String> present = new HashSet<>();
    for (String c : admin.getChildren("/f/s", false)) {
      if (c.startsWith(w.id + "-")) {
        present.add(c);
      }
    }
    Scenarios.check(present.containsAll(w.seqAcked),
        tag + "acknowledged sequential creates missing: %s of %s", w.seqAcked, present);
    // Each sequential create happened at most once.
    Scenarios.check(present.size() <= w.seqAcked.size() + w.seqUnknown,
        tag + "%d sequential nodes for %d acknowledged and %d unknown creates", present.size(),
        w.seqAcked.size(), w.seqUnknown);
  }

  /** Unconditional setData: the node's version counts the writes applied, each once. */
  static void checkCounter(Client admin, String path, List<Integer> acked, List<Integer> unknown,
      String tag) throws Exception {
    Stat st = new Stat();
    String data = Scenarios.str(admin.getData(path, false, st));
    Scenarios.check(st.getVersion() >= acked.size()
        && st.getVersion() <= acked.size() + unknown.size(),
        tag + "version %d for %d acknowledged and %d unknown writes", st.getVersion(),
        acked.size(), unknown.size());
    // The last value written that was applied: the last acknowledged one or a later unknown.
    int lastAcked = acked.isEmpty() ? -1 : acked.get(acked.size() - 1);
    Set<String> possible = new HashSet<>();
    possible.add(lastAcked < 0 ? "none" : "" + lastAcked);
    for (int k : unknown) {
      if (k > lastAcked) {
        possible.add("" + k);
      }
    }
    Scenarios.check(possible.contains(data), tag + "data %s, expected one of %s", data, possible);
  }

  static void checkMultis(Client admin, Writer w, String tag) throws Exception {
    Set<Integer> present = new HashSet<>();
    for (String c : admin.getChildren("/f/m", false)) {
      if (c.startsWith(w.id + "-")) {
        int k = Integer.parseInt(c.substring(c.indexOf('-') + 1));
        present.add(k);
        // No partial multi: the child of each multi's node came with it.
        Scenarios.check(admin.exists("/f/m/" + c + "/a", false) != null,
            tag + "multi %d applied partly", k);
      }
    }
    for (int k : w.multiAcked) {
      Scenarios.check(present.contains(k), tag + "acknowledged multi %d missing", k);
    }
    for (int k : present) {
      Scenarios.check(w.multiAcked.contains(k) || w.multiUnknown.contains(k),
          tag + "multi %d is there but was never sent", k);
    }
    // The multi's setData came with its creates: one version per applied multi.
    Stat st = admin.exists("/f/mctr-" + w.id, false);
    Scenarios.eq(present.size(), st.getVersion(), tag + "multi counter version");
  }

  private Faults() {}
}
