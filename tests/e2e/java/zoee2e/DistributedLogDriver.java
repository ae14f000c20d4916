package zoee2e;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.distributedlog.DLSN;
import org.apache.distributedlog.DistributedLogConfiguration;
import org.apache.distributedlog.LogRecord;
import org.apache.distributedlog.LogRecordWithDLSN;
import org.apache.distributedlog.LogSegmentMetadata;
import org.apache.distributedlog.api.AsyncLogReader;
import org.apache.distributedlog.api.AsyncLogWriter;
import org.apache.distributedlog.api.DistributedLogManager;
import org.apache.distributedlog.api.namespace.Namespace;
import org.apache.distributedlog.api.namespace.NamespaceBuilder;
import org.apache.distributedlog.exceptions.LockingException;

/**
 * DistributedLog 4.14 driver of tests/e2e_distributedlog.rs. The namespace
 * URI is distributedlog://HOST:PORT/PATH (HOST:PORT being zoe); its binding
 * (created with DistributedLogAdmin bind) names the same server for the
 * BookKeeper ledgers.
 *
 * Commands (exit 0 = success; machine-readable lines on stdout):
 *   create URI STREAM            create the log (one multi of creates)
 *   write URI STREAM FROM COUNT [hold]
 *       open a writer (takes the write lock), write records with txids
 *       FROM..FROM+COUNT-1, each acknowledged; then close, or with `hold`
 *       print HOLDING and keep the lock until killed.
 *   expect-locked URI STREAM LOCK_TIMEOUT_S
 *       opening a writer must fail with a LockingException (another writer
 *       holds the lock); prints LOCKED.
 *   read URI STREAM COUNT TIMEOUT_S [readlock]
 *       read from the start until COUNT records arrived (tailing the log if
 *       they are not all there yet), checking txids 1..COUNT and payloads;
 *       with `readlock` the reader takes DistributedLog's read lock.
 */
public final class DistributedLogDriver {

    static String payload(long txid) {
        return "record-" + txid;
    }

    static DistributedLogConfiguration conf() {
        DistributedLogConfiguration conf = new DistributedLogConfiguration();
        // Sessions short enough that a killed writer's lock goes in seconds.
        conf.setZKSessionTimeoutSeconds(4);
        conf.setBKClientZKSessionTimeout(4);
        conf.setEnsembleSize(2);
        conf.setWriteQuorumSize(2);
        conf.setAckQuorumSize(2);
        conf.setImmediateFlushEnabled(true);
        conf.setOutputBufferSize(0);
        conf.setPeriodicFlushFrequencyMilliSeconds(0);
        conf.setLockTimeout(60);
        return conf;
    }

    static Namespace namespace(String uri, DistributedLogConfiguration conf) throws Exception {
        return NamespaceBuilder.newBuilder()
                .conf(conf)
                .uri(URI.create(uri))
                .clientId("zoe-e2e-" + ProcessHandle.current().pid())
                .build();
    }

    public static void main(String[] args) {
        int rc;
        try {
            rc = run(args);
        } catch (Throwable t) {
            System.out.println("ERROR " + t);
            t.printStackTrace(System.out);
            rc = 2;
        }
        System.out.flush();
        Runtime.getRuntime().halt(rc);
    }

    static int run(String[] args) throws Exception {
        String cmd = args[0];
        String uri = args[1];
        String stream = args[2];
        switch (cmd) {
            case "create":
                return create(uri, stream);
            case "write":
                return write(uri, stream, Long.parseLong(args[3]), Integer.parseInt(args[4]),
                        args.length > 5 && args[5].equals("hold"));
            case "expect-locked":
                return expectLocked(uri, stream, Long.parseLong(args[3]));
            case "read":
                return read(uri, stream, Integer.parseInt(args[3]), Long.parseLong(args[4]),
                        args.length > 5 && args[5].equals("readlock"));
            default:
                System.out.println("ERROR unknown command " + cmd);
                return 2;
        }
    }

    static int create(String uri, String stream) throws Exception {
        try (Namespace ns = namespace(uri, conf())) {
            if (ns.logExists(stream)) {
                System.out.println("ERROR log " + stream + " exists before creation");
                return 1;
            }
            ns.createLog(stream);
            if (!ns.logExists(stream)) {
                System.out.println("ERROR log " + stream + " does not exist after creation");
                return 1;
            }
            boolean listed = false;
            for (Iterator<String> it = ns.getLogs(); it.hasNext(); ) {
                if (it.next().equals(stream)) {
                    listed = true;
                }
            }
            if (!listed) {
                System.out.println("ERROR log " + stream + " not listed by Namespace.getLogs()");
                return 1;
            }
            System.out.println("CREATED " + stream);
        }
        return 0;
    }

    static void printSegments(DistributedLogManager dlm) throws Exception {
        List<LogSegmentMetadata> segs = dlm.getLogSegments();
        for (LogSegmentMetadata s : segs) {
            System.out.println("SEGMENT seq=" + s.getLogSegmentSequenceNumber()
                    + " ledger=" + s.getLogSegmentId()
                    + " inprogress=" + s.isInProgress()
                    + " txids=" + s.getFirstTxId() + ".." + s.getLastTxId()
                    + " records=" + s.getRecordCount());
        }
    }

    static int write(String uri, String stream, long from, int count, boolean hold) throws Exception {
        Namespace ns = namespace(uri, conf());
        DistributedLogManager dlm = ns.openLog(stream);
        AsyncLogWriter writer = dlm.openAsyncLogWriter().get(90, TimeUnit.SECONDS);
        System.out.println("OPENED writer, last txid " + writer.getLastTxId());
        for (long txid = from; txid < from + count; txid++) {
            DLSN dlsn = writer.write(new LogRecord(txid, payload(txid).getBytes(StandardCharsets.UTF_8)))
                    .get(60, TimeUnit.SECONDS);
            if (txid == from || txid == from + count - 1) {
                System.out.println("WRITTEN txid=" + txid + " dlsn=" + dlsn);
            }
        }
        if (hold) {
            System.out.println("HOLDING");
            System.out.flush();
            Thread.sleep(Long.MAX_VALUE);
        }
        writer.asyncClose().get(60, TimeUnit.SECONDS);
        printSegments(dlm);
        System.out.println("LAST_TXID " + dlm.getLastTxId());
        dlm.close();
        ns.close();
        System.out.println("WROTE " + count);
        return 0;
    }

    static int expectLocked(String uri, String stream, long lockTimeoutS) throws Exception {
        DistributedLogConfiguration conf = conf();
        conf.setLockTimeout(lockTimeoutS);
        Namespace ns = namespace(uri, conf);
        DistributedLogManager dlm = ns.openLog(stream);
        CompletableFuture<AsyncLogWriter> f = dlm.openAsyncLogWriter();
        try {
            AsyncLogWriter w = f.get(lockTimeoutS + 60, TimeUnit.SECONDS);
            System.out.println("ERROR opened a writer (last txid " + w.getLastTxId()
                    + ") while another writer holds the lock");
            return 1;
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof LockingException) {
                System.out.println("LOCKED " + cause);
                return 0;
            }
            System.out.println("ERROR expected a LockingException, got " + cause);
            cause.printStackTrace(System.out);
            return 1;
        }
    }

    static int read(String uri, String stream, int count, long timeoutS, boolean readLock) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutS);
        Namespace ns = namespace(uri, conf());
        DistributedLogManager dlm = ns.openLog(stream);
        AsyncLogReader reader = readLock
                ? dlm.getAsyncLogReaderWithLock(DLSN.InitialDLSN).get(60, TimeUnit.SECONDS)
                : dlm.openAsyncLogReader(DLSN.InitialDLSN).get(60, TimeUnit.SECONDS);
        System.out.println("READER open");
        DLSN prev = null;
        for (long i = 1; i <= count; i++) {
            long left = deadline - System.nanoTime();
            LogRecordWithDLSN r;
            try {
                r = reader.readNext().get(Math.max(left, 1), TimeUnit.NANOSECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                System.out.println("TIMEOUT after " + timeoutS + " s: read " + (i - 1) + " of " + count);
                printSegments(dlm);
                return 1;
            }
            String got = new String(r.getPayload(), StandardCharsets.UTF_8);
            if (r.getTransactionId() != i || !got.equals(payload(i))) {
                System.out.println("ERROR record " + i + ": txid " + r.getTransactionId() + " payload '" + got + "'");
                return 1;
            }
            if (prev != null && r.getDlsn().compareTo(prev) <= 0) {
                System.out.println("ERROR record " + i + ": DLSN " + r.getDlsn() + " not after " + prev);
                return 1;
            }
            prev = r.getDlsn();
            if (i % 50 == 0) {
                System.out.println("READ " + i);
                System.out.flush();
            }
        }
        printSegments(dlm);
        reader.asyncClose().get(30, TimeUnit.SECONDS);
        dlm.close();
        ns.close();
        System.out.println("READ_ALL " + count);
        return 0;
    }
}
