package zoee2e;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.apache.bookkeeper.client.BKException;
import org.apache.bookkeeper.client.BookKeeper;
import org.apache.bookkeeper.client.BookKeeper.DigestType;
import org.apache.bookkeeper.client.BookKeeperAdmin;
import org.apache.bookkeeper.client.LedgerChecker;
import org.apache.bookkeeper.client.LedgerEntry;
import org.apache.bookkeeper.client.LedgerFragment;
import org.apache.bookkeeper.client.LedgerHandle;
import org.apache.bookkeeper.client.api.LedgerMetadata;
import org.apache.bookkeeper.conf.ClientConfiguration;
import org.apache.bookkeeper.meta.LedgerUnderreplicationManager;
import org.apache.bookkeeper.meta.UnderreplicatedLedger;
import org.apache.bookkeeper.net.BookieId;

/**
 * BookKeeper 4.14 client-side driver of tests/e2e_bookkeeper.rs. Every
 * command talks to the cluster only through the official client API, whose
 * metadata driver is the ZooKeeper one (metadataServiceUri
 * zk+hierarchical://HOST:PORT/ledgers), i.e. through zoe.
 *
 * Commands (each prints machine-readable lines; exit 0 = success):
 *   write URI LEDGERS ENTRIES
 *       create LEDGERS ledgers (ensemble 3, write quorum 2, ack quorum 2),
 *       write ENTRIES entries to each, close; prints
 *       "LEDGER <id> <bookie,bookie,bookie>" per ledger.
 *   await-rereplicated URI DEAD_BOOKIES TIMEOUT_S ENTRIES ID...
 *       poll until no ensemble of any given ledger names one of the
 *       (comma-separated) DEAD_BOOKIES, every
 *       fragment is fully replicated (LedgerChecker, 100 % of entries
 *       verified on every bookie), all entries read back intact and none of
 *       the ledgers is still listed as under-replicated. Prints
 *       "BOOKIES <id> <bookie,...>" (every bookie the ledger's ensembles
 *       name now) per ledger and "REREPLICATED", or, after TIMEOUT_S, what
 *       is still wrong, and exits 1.
 *   auditor URI
 *       prints "AUDITOR <bookie id>" (BookKeeperAdmin.getCurrentAuditor).
 *   await-auditor URI NOT_THIS TIMEOUT_S
 *       poll until an auditor other than NOT_THIS is elected; prints it.
 */
public final class BookKeeperDriver {
    static final byte[] PASSWD = "zoe-e2e".getBytes(StandardCharsets.UTF_8);

    static String payload(long ledger, long entry) {
        return "ledger-" + ledger + "-entry-" + entry;
    }

    static ClientConfiguration clientConf(String uri) {
        ClientConfiguration conf = new ClientConfiguration();
        conf.setMetadataServiceUri(uri);
        conf.setZkTimeout(10000);
        conf.setAddEntryTimeout(30);
        conf.setReadEntryTimeout(10);
        return conf;
    }

    public static void main(String[] args) throws Exception {
        int rc;
        try {
            rc = run(args);
        } catch (Throwable t) {
            System.out.println("ERROR " + t);
            t.printStackTrace(System.out);
            rc = 2;
        }
        System.out.flush();
        // The BK client leaves non-daemon threads behind on some error paths.
        Runtime.getRuntime().halt(rc);
    }

    static int run(String[] args) throws Exception {
        String cmd = args[0];
        String uri = args[1];
        switch (cmd) {
            case "write":
                return write(uri, Integer.parseInt(args[2]), Integer.parseInt(args[3]));
            case "await-rereplicated": {
                List<Long> ids = new ArrayList<>();
                for (int i = 5; i < args.length; i++) {
                    ids.add(Long.parseLong(args[i]));
                }
                return awaitRereplicated(uri, args[2], Long.parseLong(args[3]),
                        Integer.parseInt(args[4]), ids);
            }
            case "auditor":
                return auditor(uri);
            case "await-auditor":
                return awaitAuditor(uri, args[2], Long.parseLong(args[3]));
            default:
                System.out.println("ERROR unknown command " + cmd);
                return 2;
        }
    }

    static int write(String uri, int ledgers, int entries) throws Exception {
        try (BookKeeper bk = new BookKeeper(clientConf(uri))) {
            for (int l = 0; l < ledgers; l++) {
                LedgerHandle lh = bk.createLedger(3, 2, 2, DigestType.CRC32, PASSWD);
                for (int e = 0; e < entries; e++) {
                    long id = lh.addEntry(payload(lh.getId(), e).getBytes(StandardCharsets.UTF_8));
                    if (id != e) {
                        System.out.println("ERROR ledger " + lh.getId() + ": entry " + e + " got id " + id);
                        return 1;
                    }
                }
                lh.close();
                List<BookieId> ensemble = lh.getLedgerMetadata().getAllEnsembles().get(0L);
                StringBuilder sb = new StringBuilder();
                for (BookieId b : ensemble) {
                    if (sb.length() > 0) {
                        sb.append(',');
                    }
                    sb.append(b);
                }
                System.out.println("LEDGER " + lh.getId() + " " + sb);
            }
        }
        return 0;
    }

    /** A description of what is still wrong with ledger `id`, or null if it is fully re-replicated. */
    static String checkLedger(BookKeeper bk, long id, Set<String> dead, int entries) throws Exception {
        LedgerMetadata md = bk.getLedgerManager().readLedgerMetadata(id).get(30, TimeUnit.SECONDS).getValue();
        if (!md.isClosed()) {
            return "ledger " + id + " is not closed";
        }
        if (md.getLastEntryId() != entries - 1) {
            return "ledger " + id + " lastEntryId " + md.getLastEntryId() + ", expected " + (entries - 1);
        }
        for (Map.Entry<Long, ? extends List<BookieId>> seg : md.getAllEnsembles().entrySet()) {
            if (new java.util.HashSet<>(seg.getValue()).size() != 3) {
                return "ledger " + id + " ensemble " + seg.getValue() + " is not 3 distinct bookies";
            }
            for (BookieId b : seg.getValue()) {
                if (dead.contains(b.toString())) {
                    return "ledger " + id + " still names " + b + " in ensemble " + seg.getValue()
                            + " from entry " + seg.getKey();
                }
            }
        }
        LedgerHandle lh = bk.openLedgerNoRecovery(id, DigestType.CRC32, PASSWD);
        try {
            // Every fragment, every entry, every bookie of its write set.
            CompletableFuture<Set<LedgerFragment>> checked = new CompletableFuture<>();
            new LedgerChecker(bk).checkLedger(lh, (rc, fragments) -> {
                if (rc == BKException.Code.OK) {
                    checked.complete(fragments);
                } else {
                    checked.completeExceptionally(BKException.create(rc));
                }
            }, 100);
            Set<LedgerFragment> bad = checked.get(60, TimeUnit.SECONDS);
            if (!bad.isEmpty()) {
                return "ledger " + id + " has under-replicated fragments " + bad;
            }
            Enumeration<LedgerEntry> en = lh.readEntries(0, entries - 1);
            int n = 0;
            while (en.hasMoreElements()) {
                LedgerEntry le = en.nextElement();
                String got = new String(le.getEntry(), StandardCharsets.UTF_8);
                if (le.getEntryId() != n || !got.equals(payload(id, n))) {
                    return "ledger " + id + " entry " + le.getEntryId() + " reads '" + got + "'";
                }
                n++;
            }
            if (n != entries) {
                return "ledger " + id + " read " + n + " entries, expected " + entries;
            }
        } finally {
            lh.close();
        }
        return null;
    }

    static int awaitRereplicated(String uri, String deadList, long timeoutS, int entries, List<Long> ids)
            throws Exception {
        Set<String> dead = new TreeSet<>(java.util.Arrays.asList(deadList.split(",")));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutS);
        Set<Long> seenUnderReplicated = new TreeSet<>();
        try (BookKeeper bk = new BookKeeper(clientConf(uri))) {
            LedgerUnderreplicationManager urm =
                    bk.getLedgerManagerFactory().newLedgerUnderreplicationManager();
            String last = "";
            while (true) {
                Set<Long> listed = new TreeSet<>();
                Iterator<UnderreplicatedLedger> it = urm.listLedgersToRereplicate(null);
                while (it.hasNext()) {
                    listed.add(it.next().getLedgerId());
                }
                for (Long id : ids) {
                    if (listed.contains(id)) {
                        seenUnderReplicated.add(id);
                    }
                }
                String problem = null;
                for (long id : ids) {
                    try {
                        problem = checkLedger(bk, id, dead, entries);
                    } catch (Exception e) {
                        problem = "ledger " + id + ": " + e;
                    }
                    if (problem != null) {
                        break;
                    }
                }
                if (problem == null) {
                    Set<Long> still = new TreeSet<>(listed);
                    still.retainAll(ids);
                    if (!still.isEmpty()) {
                        problem = "ledgers " + still + " still listed as under-replicated";
                    }
                }
                if (problem == null) {
                    for (long id : ids) {
                        LedgerMetadata md = bk.getLedgerManager().readLedgerMetadata(id)
                                .get(30, TimeUnit.SECONDS).getValue();
                        Set<String> named = new TreeSet<>();
                        for (List<BookieId> ens : md.getAllEnsembles().values()) {
                            for (BookieId b : ens) {
                                named.add(b.toString());
                            }
                        }
                        System.out.println("BOOKIES " + id + " " + String.join(",", named));
                    }
                    System.out.println("SEEN_UNDERREPLICATED " + seenUnderReplicated);
                    System.out.println("REREPLICATED");
                    return 0;
                }
                if (!problem.equals(last)) {
                    System.out.println("WAITING " + problem + " (listed under-replicated: " + listed + ")");
                    last = problem;
                }
                if (System.nanoTime() > deadline) {
                    System.out.println("TIMEOUT after " + timeoutS + " s: " + problem);
                    System.out.println("SEEN_UNDERREPLICATED " + seenUnderReplicated);
                    return 1;
                }
                Thread.sleep(500);
            }
        }
    }

    static int auditor(String uri) throws Exception {
        try (BookKeeperAdmin admin = new BookKeeperAdmin(clientConf(uri))) {
            BookieId a = admin.getCurrentAuditor();
            System.out.println("AUDITOR " + (a == null ? "none" : a.toString()));
        }
        return 0;
    }

    static int awaitAuditor(String uri, String notThis, long timeoutS) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutS);
        try (BookKeeperAdmin admin = new BookKeeperAdmin(clientConf(uri))) {
            String last = null;
            while (true) {
                String now;
                try {
                    BookieId a = admin.getCurrentAuditor();
                    now = a == null ? "none" : a.toString();
                } catch (Exception e) {
                    now = "error: " + e;
                }
                if (!now.equals(last)) {
                    System.out.println("CURRENT " + now);
                    last = now;
                }
                if (!now.equals("none") && !now.equals(notThis) && !now.startsWith("error")) {
                    System.out.println("AUDITOR " + now);
                    return 0;
                }
                if (System.nanoTime() > deadline) {
                    System.out.println("TIMEOUT after " + timeoutS + " s: auditor is still " + now);
                    return 1;
                }
                Thread.sleep(250);
            }
        }
    }
}
