package zoee2e;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.bookkeeper.client.BKException;
import org.apache.bookkeeper.client.BookKeeper;
import org.apache.bookkeeper.client.LedgerEntry;
import org.apache.bookkeeper.client.LedgerHandle;
import org.apache.bookkeeper.conf.ClientConfiguration;
import org.apache.bookkeeper.meta.ZkLedgerIdGenerator;
import org.apache.pulsar.metadata.api.GetResult;
import org.apache.pulsar.metadata.api.MetadataStoreConfig;
import org.apache.pulsar.metadata.api.Stat;
import org.apache.pulsar.metadata.api.extended.CreateOption;
import org.apache.pulsar.metadata.api.extended.MetadataStoreExtended;
import org.apache.pulsar.metadata.bookkeeper.PulsarLedgerIdGenerator;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;

/**
 * Both doors of a shared tree in one process, driven line by line from
 * tests/pulsar_shared_tree.rs: Pulsar 2.10's own etcd metadata store
 * (MetadataStoreExtended with an etcd: URL, exactly what brokers and
 * Pulsar-driver bookies use) and the ZooKeeper 3.6 Java client (what
 * BookKeeper autorecovery uses), connected to zoe.
 *
 * One command per line on stdin, one reply line on stdout ("OK ...",
 * "NONODE", "ERR <KeeperException code>", "NONE", or "ERROR <exception>").
 * Data travels as hex ("-" for empty or null). A stat is printed as
 * czxid mzxid ctime mtime version cversion aversion ephemeralOwner
 * dataLength numChildren pzxid.
 *
 * Pulsar door:
 *   etcd URL SESSION_MS            open the store (one etcd lease)
 *   put PATH HEX VERSION|- FLAGS   FLAGS "-", "e", "s" or "es"
 *                                  (ephemeral, sequential);
 *                                  -> OK <version> <path>
 *   get PATH                       -> OK <hex> <version> | NONE
 *   children PATH                  -> OK <a,b,...|->
 *   delete PATH VERSION|-          -> OK
 *   close-store                    close it (revokes its lease)
 *   sevents                        -> OK <Type:path;...> every
 *                                  notification so far, then forgets them
 * ZooKeeper door:
 *   zk CONNECT                     connect (a new session) -> OK <id hex>
 *   zstat PATH WATCH               exists -> OK <stat> | NONODE
 *   zget PATH WATCH                getData -> OK <hex> <stat> | NONODE
 *   zchildren PATH WATCH           getChildren2 -> OK <a,b,...|-> <stat>
 *   zcreate PATH HEX MODE          MODE a CreateMode name -> OK <path>
 *   zset PATH HEX VERSION          -> OK <stat>
 *   zdelete PATH VERSION           -> OK
 *   zsync PATH                     -> OK
 *   zevents N TIMEOUT_MS           -> OK <Type:path;...> once N watch
 *                                  events arrived (fewer on timeout)
 *   zwatch PATH                    follow PATH's children the way
 *                                  BookKeeper's ZKRegistrationClient does:
 *                                  getChildren2 with a child watch, read
 *                                  again on every NodeChildrenChanged
 *   zwatchlog                      -> OK <cversion,pzxid,a+b+...;...> every
 *                                  read zwatch made, in order
 *   zrecwatch PATH                 a persistent recursive watch on PATH
 *   zrecevents                     -> OK <Type:path;...> every event of
 *                                  the recursive watches so far
 *   zkb CONNECT                    a second ZooKeeper session (another
 *                                  instance) -> OK <id hex>
 *   zbstat PATH                    sync, then exists on it -> OK <stat> | NONODE
 * BookKeeper through Pulsar's metadata driver (the etcd door):
 *   bkstart URI MAX                open a BookKeeper client on URI
 *                                  (metadata-store:etcd:...) and write up
 *                                  to MAX small ledgers (ensemble, write
 *                                  and ack quorum 2 of the 3 bookies, so
 *                                  one can go; 5 entries, closed),
 *                                  one a second, in the background
 *   bkstop                         stop -> OK <ledger ids,...>
 *   bkread                         read back every entry of those ledgers
 *                                  -> OK <entries read>
 * Both doors:
 *   ids N PREFIX                   N ledger ids from Pulsar's
 *                                  PulsarLedgerIdGenerator and N from
 *                                  BookKeeper's ZkLedgerIdGenerator at
 *                                  once, both on PREFIX (".../ID-")
 *                                  -> OK <pulsar ids,...> <zk ids,...>
 */
public final class SharedTreeDriver {
    private MetadataStoreExtended store;
    private ZooKeeper zk;
    private final BlockingQueue<String> zkEvents = new LinkedBlockingQueue<>();
    private final BlockingQueue<String> storeEvents = new LinkedBlockingQueue<>();
    private final List<String> childReads = new ArrayList<>();
    private final List<String> recEvents = new ArrayList<>();
    private ZooKeeper zkb;
    private BookKeeper bk;
    private Thread bkWriter;
    private volatile boolean bkStop;
    private volatile Throwable bkFailure;
    private final List<Long> bkLedgers = new ArrayList<>();
    private static final byte[] BK_PASSWD = "zoe-shared".getBytes(StandardCharsets.UTF_8);
    private static final int BK_ENTRIES = 5;

    public static void main(String[] args) throws Exception {
        SharedTreeDriver d = new SharedTreeDriver();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) {
                continue;
            }
            String reply;
            try {
                reply = d.handle(line.split(" ", -1));
            } catch (KeeperException e) {
                reply = "ERR " + e.code();
            } catch (Throwable t) {
                Throwable c = t.getCause() != null ? t.getCause() : t;
                reply = "ERROR " + c.toString().replace('\n', ' ');
                t.printStackTrace();
            }
            System.out.println(reply);
            System.out.flush();
        }
        Runtime.getRuntime().halt(0);
    }

    /** Ledger ids from both doors, all requested before any is awaited. */
    private String ids(int n, String prefix) throws Exception {
        PulsarLedgerIdGenerator pulsar = new PulsarLedgerIdGenerator(store, "/ledgers");
        List<CompletableFuture<Long>> fromPulsar = new ArrayList<>();
        List<CompletableFuture<Long>> fromZk = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            fromPulsar.add(pulsar.generateLedgerIdImpl(prefix));
            CompletableFuture<Long> f = new CompletableFuture<>();
            ZkLedgerIdGenerator.generateLedgerIdImpl((rc, id) -> {
                if (rc == BKException.Code.OK) {
                    f.complete(id);
                } else {
                    f.completeExceptionally(BKException.create(rc));
                }
            }, zk, prefix, ZooDefs.Ids.OPEN_ACL_UNSAFE);
            fromZk.add(f);
        }
        StringBuilder p = new StringBuilder();
        for (CompletableFuture<Long> f : fromPulsar) {
            p.append(p.length() == 0 ? "" : ",").append(f.get(60, TimeUnit.SECONDS));
        }
        StringBuilder z = new StringBuilder();
        for (CompletableFuture<Long> f : fromZk) {
            z.append(z.length() == 0 ? "" : ",").append(f.get(60, TimeUnit.SECONDS));
        }
        return p + " " + z;
    }

    private static byte[] entry(long ledger, long n) {
        return ("ledger-" + ledger + "-entry-" + n).getBytes(StandardCharsets.UTF_8);
    }

    private String bkStart(String uri, int max) throws Exception {
        ClientConfiguration conf = new ClientConfiguration();
        conf.setMetadataServiceUri(uri);
        bk = BookKeeper.forConfig(conf).build();
        bkStop = false;
        bkWriter = new Thread(() -> {
            try {
                for (int n = 0; n < max && !bkStop; n++) {
                    LedgerHandle lh = bk.createLedger(2, 2, 2, BookKeeper.DigestType.CRC32, BK_PASSWD);
                    for (int i = 0; i < BK_ENTRIES; i++) {
                        lh.addEntry(entry(lh.getId(), i));
                    }
                    lh.close();
                    synchronized (bkLedgers) {
                        bkLedgers.add(lh.getId());
                    }
                    Thread.sleep(1000);
                }
            } catch (Throwable t) {
                t.printStackTrace();
                bkFailure = t;
            }
        }, "etcd-door-ledgers");
        bkWriter.start();
        return "OK";
    }

    private String bkStopped() throws Exception {
        bkStop = true;
        bkWriter.join(120_000);
        if (bkFailure != null) {
            return "ERROR ledger writer: " + bkFailure;
        }
        StringBuilder out = new StringBuilder();
        synchronized (bkLedgers) {
            for (long id : bkLedgers) {
                out.append(out.length() == 0 ? "" : ",").append(id);
            }
        }
        return "OK " + (out.length() == 0 ? "-" : out.toString());
    }

    private String bkRead() throws Exception {
        int read = 0;
        for (long id : bkLedgers) {
            LedgerHandle lh = bk.openLedger(id, BookKeeper.DigestType.CRC32, BK_PASSWD);
            for (LedgerEntry e : java.util.Collections.list(lh.readEntries(0, lh.getLastAddConfirmed()))) {
                if (!java.util.Arrays.equals(e.getEntry(), entry(id, e.getEntryId()))) {
                    return "ERROR ledger " + id + " entry " + e.getEntryId() + " differs";
                }
                read++;
            }
            if (lh.getLastAddConfirmed() != BK_ENTRIES - 1) {
                return "ERROR ledger " + id + " ends at entry " + lh.getLastAddConfirmed();
            }
            lh.close();
        }
        return "OK " + read;
    }

    private String handle(String[] a) throws Exception {
        switch (a[0]) {
            case "bkstart":
                return bkStart(a[1], Integer.parseInt(a[2]));
            case "bkstop":
                return bkStopped();
            case "bkread":
                return bkRead();
            case "etcd": {
                store = MetadataStoreExtended.create(a[1], MetadataStoreConfig.builder()
                        .sessionTimeoutMillis(Integer.parseInt(a[2])).build());
                store.registerListener(n -> storeEvents.add(n.getType() + ":" + n.getPath()));
                return "OK";
            }
            case "put": {
                EnumSet<CreateOption> opts = EnumSet.noneOf(CreateOption.class);
                if (a[4].contains("e")) {
                    opts.add(CreateOption.Ephemeral);
                }
                if (a[4].contains("s")) {
                    opts.add(CreateOption.Sequential);
                }
                Optional<Long> version = a[3].equals("-") ? Optional.empty() : Optional.of(Long.parseLong(a[3]));
                Stat st = store.put(a[1], unhex(a[2]), version, opts).get(30, TimeUnit.SECONDS);
                return "OK " + st.getVersion() + " " + st.getPath();
            }
            case "get": {
                Optional<GetResult> r = store.get(a[1]).get(30, TimeUnit.SECONDS);
                if (!r.isPresent()) {
                    return "NONE";
                }
                return "OK " + hex(r.get().getValue()) + " " + r.get().getStat().getVersion();
            }
            case "children":
                return "OK " + join(store.getChildren(a[1]).get(30, TimeUnit.SECONDS));
            case "delete": {
                Optional<Long> version = a[2].equals("-") ? Optional.empty() : Optional.of(Long.parseLong(a[2]));
                store.delete(a[1], version).get(30, TimeUnit.SECONDS);
                return "OK";
            }
            case "close-store":
                store.close();
                store = null;
                return "OK";
            case "sevents": {
                List<String> out = new ArrayList<>();
                storeEvents.drainTo(out);
                return "OK " + String.join(";", out);
            }
            case "zk": {
                if (zk != null) {
                    zk.close();
                }
                CountDownLatch connected = new CountDownLatch(1);
                zk = new ZooKeeper(a[1], 30000, e -> {
                    if (e.getType() == Watcher.Event.EventType.None) {
                        if (e.getState() == Watcher.Event.KeeperState.SyncConnected) {
                            connected.countDown();
                        }
                    } else {
                        zkEvents.add(e.getType() + ":" + e.getPath());
                    }
                });
                if (!connected.await(60, TimeUnit.SECONDS)) {
                    return "ERROR not connected";
                }
                return "OK " + Long.toHexString(zk.getSessionId());
            }
            case "zstat": {
                org.apache.zookeeper.data.Stat st = zk.exists(a[1], a[2].equals("1"));
                return st == null ? "NONODE" : "OK " + stat(st);
            }
            case "zget": {
                org.apache.zookeeper.data.Stat st = new org.apache.zookeeper.data.Stat();
                try {
                    byte[] data = zk.getData(a[1], a[2].equals("1"), st);
                    return "OK " + hex(data) + " " + stat(st);
                } catch (KeeperException.NoNodeException e) {
                    return "NONODE";
                }
            }
            case "zchildren": {
                org.apache.zookeeper.data.Stat st = new org.apache.zookeeper.data.Stat();
                try {
                    List<String> c = zk.getChildren(a[1], a[2].equals("1"), st);
                    return "OK " + join(c) + " " + stat(st);
                } catch (KeeperException.NoNodeException e) {
                    return "NONODE";
                }
            }
            case "ids":
                return "OK " + ids(Integer.parseInt(a[1]), a[2]);
            case "zcreate":
                return "OK " + zk.create(a[1], unhex(a[2]), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.valueOf(a[3]));
            case "zset":
                return "OK " + stat(zk.setData(a[1], unhex(a[2]), Integer.parseInt(a[3])));
            case "zdelete":
                zk.delete(a[1], Integer.parseInt(a[2]));
                return "OK";
            case "zsync": {
                CountDownLatch done = new CountDownLatch(1);
                int[] rc = new int[1];
                zk.sync(a[1], (r, p, ctx) -> {
                    rc[0] = r;
                    done.countDown();
                }, null);
                if (!done.await(30, TimeUnit.SECONDS)) {
                    return "ERROR sync timed out";
                }
                return rc[0] == 0 ? "OK" : "ERR " + KeeperException.Code.get(rc[0]);
            }
            case "zwatch":
                followChildren(a[1]);
                return "OK";
            case "zrecwatch":
                zk.addWatch(a[1], e -> {
                    if (e.getType() != Watcher.Event.EventType.None) {
                        synchronized (recEvents) {
                            recEvents.add(e.getType() + ":" + e.getPath());
                        }
                    }
                }, org.apache.zookeeper.AddWatchMode.PERSISTENT_RECURSIVE);
                return "OK";
            case "zrecevents":
                synchronized (recEvents) {
                    return "OK " + String.join(";", recEvents);
                }
            case "zwatchlog":
                synchronized (childReads) {
                    return "OK " + String.join(";", childReads);
                }
            case "zkb": {
                if (zkb != null) {
                    zkb.close();
                }
                CountDownLatch connected = new CountDownLatch(1);
                zkb = new ZooKeeper(a[1], 30000, e -> {
                    if (e.getState() == Watcher.Event.KeeperState.SyncConnected) {
                        connected.countDown();
                    }
                });
                if (!connected.await(60, TimeUnit.SECONDS)) {
                    return "ERROR not connected";
                }
                return "OK " + Long.toHexString(zkb.getSessionId());
            }
            case "zbstat": {
                CountDownLatch done = new CountDownLatch(1);
                zkb.sync(a[1], (r, p, ctx) -> done.countDown(), null);
                if (!done.await(30, TimeUnit.SECONDS)) {
                    return "ERROR sync timed out";
                }
                org.apache.zookeeper.data.Stat st = zkb.exists(a[1], false);
                return st == null ? "NONODE" : "OK " + stat(st);
            }
            case "zevents": {
                int n = Integer.parseInt(a[1]);
                long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Long.parseLong(a[2]));
                List<String> out = new ArrayList<>();
                while (out.size() < n) {
                    long left = deadline - System.nanoTime();
                    String e = left > 0 ? zkEvents.poll(left, TimeUnit.NANOSECONDS) : null;
                    if (e == null) {
                        break;
                    }
                    out.add(e);
                }
                return "OK " + String.join(";", out);
            }
            default:
                return "ERROR unknown command " + a[0];
        }
    }

    /**
     * Reads PATH's children with a child watch and logs what it saw; the
     * watch reads again. As in ZKRegistrationClient, only NodeChildrenChanged
     * leads to a read (state changes reach every watcher and are ignored);
     * the client library re-registers the watch after a reconnection and
     * zoe fires it if the children changed meanwhile.
     */
    private void followChildren(String path) throws Exception {
        Watcher again = new Watcher() {
            @Override
            public void process(org.apache.zookeeper.WatchedEvent e) {
                if (e.getType() != Watcher.Event.EventType.NodeChildrenChanged) {
                    return;
                }
                for (int attempt = 0; attempt < 600; attempt++) {
                    try {
                        readChildren(path, this);
                        return;
                    } catch (KeeperException.ConnectionLossException | KeeperException.SessionMovedException ce) {
                        try {
                            Thread.sleep(100);
                        } catch (InterruptedException ie) {
                            return;
                        }
                    } catch (Exception ex) {
                        synchronized (childReads) {
                            childReads.add("ERROR " + ex);
                        }
                        return;
                    }
                }
            }
        };
        readChildren(path, again);
    }

    private void readChildren(String path, Watcher w) throws Exception {
        org.apache.zookeeper.data.Stat st = new org.apache.zookeeper.data.Stat();
        List<String> c = zk.getChildren(path, w, st);
        String kids = c.isEmpty() ? "-" : String.join("+", new TreeSet<>(c));
        synchronized (childReads) {
            childReads.add(st.getCversion() + "," + st.getPzxid() + "," + kids);
        }
    }

    private static String stat(org.apache.zookeeper.data.Stat s) {
        return s.getCzxid() + " " + s.getMzxid() + " " + s.getCtime() + " " + s.getMtime() + " "
                + s.getVersion() + " " + s.getCversion() + " " + s.getAversion() + " "
                + s.getEphemeralOwner() + " " + s.getDataLength() + " " + s.getNumChildren() + " "
                + s.getPzxid();
    }

    private static String join(List<String> names) {
        return names.isEmpty() ? "-" : String.join(",", new TreeSet<>(names));
    }

    private static String hex(byte[] b) {
        if (b == null || b.length == 0) {
            return "-";
        }
        StringBuilder sb = new StringBuilder();
        for (byte x : b) {
            sb.append(String.format("%02x", x & 0xff));
        }
        return sb.toString();
    }

    private static byte[] unhex(String s) {
        if (s.equals("-")) {
            return new byte[0];
        }
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }
}
