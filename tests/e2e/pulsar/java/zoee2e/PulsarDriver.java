package zoee2e;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.Collections;
import java.util.concurrent.TimeUnit;

import org.apache.pulsar.client.admin.PulsarAdmin;
import org.apache.pulsar.client.api.Consumer;
import org.apache.pulsar.client.api.Message;
import org.apache.pulsar.client.api.Producer;
import org.apache.pulsar.client.api.PulsarClient;
import org.apache.pulsar.client.api.Schema;
import org.apache.pulsar.client.api.SubscriptionInitialPosition;
import org.apache.pulsar.common.functions.FunctionConfig;
import org.apache.pulsar.common.policies.data.FunctionStatus;

/**
 * Pulsar 2.10 client-side driver of tests/e2e_pulsar.rs: deploys a function
 * through the broker's function worker (which keeps the package in
 * DistributedLog, i.e. on zoe + the bookies), checks that it runs, and reads
 * the package back.
 *
 * Commands (exit 0 = success):
 *   create WEB_URL JAR           create function public/default/exclaim
 *                                (in → out, class zoee2e.fn.Exclaim)
 *   await-running WEB_URL TIMEOUT_S
 *   roundtrip WEB_URL BROKER_URL TAG COUNT TIMEOUT_S
 *                                produce TAG-i to `in`, expect TAG-i! on `out`
 *   download WEB_URL JAR DEST    download the package (from DistributedLog)
 *                                and compare it with JAR
 *   produce BROKER_URL TOPIC SUB TAG COUNT
 *                                create durable subscription SUB on TOPIC, then
 *                                send TAG-0 .. TAG-(COUNT-1) and wait for acks
 *   consume BROKER_URL TOPIC SUB COUNT TIMEOUT_S TAG...
 *                                receive on SUB until TAG-0 .. TAG-(COUNT-1)
 *                                of every TAG arrived
 *   zk-tree CONNECT PATH         print "ZNODE <path> <ephemeralOwner hex>" for
 *                                PATH and every znode below it (ZooKeeper 3.6
 *                                client; CONNECT may list several servers)
 */
public final class PulsarDriver {
    static final String TENANT = "public";
    static final String NS = "default";
    static final String NAME = "exclaim";
    static final String IN = "persistent://public/default/in";
    static final String OUT = "persistent://public/default/out";

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

    static PulsarAdmin admin(String web) throws Exception {
        return PulsarAdmin.builder().serviceHttpUrl(web)
                .connectionTimeout(30, TimeUnit.SECONDS)
                .readTimeout(120, TimeUnit.SECONDS)
                .requestTimeout(120, TimeUnit.SECONDS)
                .build();
    }

    static int run(String[] args) throws Exception {
        switch (args[0]) {
            case "create":
                return create(args[1], args[2]);
            case "await-running":
                return awaitRunning(args[1], Long.parseLong(args[2]));
            case "roundtrip":
                return roundtrip(args[2], args[3], Integer.parseInt(args[4]), Long.parseLong(args[5]));
            case "download":
                return download(args[1], args[2], args[3]);
            case "produce":
                return produce(args[1], args[2], args[3], args[4], Integer.parseInt(args[5]));
            case "consume":
                return consume(args[1], args[2], args[3], Integer.parseInt(args[4]), Long.parseLong(args[5]),
                        Arrays.copyOfRange(args, 6, args.length));
            case "zk-tree":
                return zkTree(args[1], args[2]);
            default:
                System.out.println("ERROR unknown command " + args[0]);
                return 2;
        }
    }

    static int create(String web, String jar) throws Exception {
        try (PulsarAdmin admin = admin(web)) {
            FunctionConfig fc = new FunctionConfig();
            fc.setTenant(TENANT);
            fc.setNamespace(NS);
            fc.setName(NAME);
            fc.setClassName("zoee2e.fn.Exclaim");
            fc.setInputs(Collections.singletonList(IN));
            fc.setOutput(OUT);
            fc.setRuntime(FunctionConfig.Runtime.JAVA);
            fc.setParallelism(1);
            fc.setProcessingGuarantees(FunctionConfig.ProcessingGuarantees.ATLEAST_ONCE);
            admin.functions().createFunction(fc, jar);
            System.out.println("CREATED " + NAME);
        }
        return 0;
    }

    static int awaitRunning(String web, long timeoutS) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutS);
        try (PulsarAdmin admin = admin(web)) {
            String last = "";
            while (true) {
                String now;
                try {
                    FunctionStatus st = admin.functions().getFunctionStatus(TENANT, NS, NAME);
                    now = "running " + st.getNumRunning() + "/" + st.getNumInstances();
                    for (FunctionStatus.FunctionInstanceStatus i : st.getInstances()) {
                        if (i.getStatus().getError() != null && !i.getStatus().getError().isEmpty()) {
                            now += " error: " + i.getStatus().getError();
                        }
                    }
                    if (st.getNumRunning() >= 1) {
                        System.out.println("RUNNING " + now);
                        return 0;
                    }
                } catch (Exception e) {
                    now = "status: " + e;
                }
                if (!now.equals(last)) {
                    System.out.println("WAITING " + now);
                    last = now;
                }
                if (System.nanoTime() > deadline) {
                    System.out.println("TIMEOUT after " + timeoutS + " s: " + now);
                    return 1;
                }
                Thread.sleep(500);
            }
        }
    }

    static int roundtrip(String brokerUrl, String tag, int count, long timeoutS) throws Exception {
        try (PulsarClient client = PulsarClient.builder().serviceUrl(brokerUrl)
                .operationTimeout(60, TimeUnit.SECONDS).build()) {
            Consumer<String> consumer = client.newConsumer(Schema.STRING).topic(OUT)
                    .subscriptionName("e2e-" + tag)
                    .subscriptionInitialPosition(SubscriptionInitialPosition.Earliest)
                    .subscribe();
            Producer<String> producer = client.newProducer(Schema.STRING).topic(IN).create();
            for (int i = 0; i < count; i++) {
                producer.send(tag + "-" + i);
            }
            System.out.println("SENT " + count);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutS);
            java.util.Set<String> want = new java.util.TreeSet<>();
            for (int i = 0; i < count; i++) {
                want.add(tag + "-" + i + "!");
            }
            while (!want.isEmpty()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    System.out.println("TIMEOUT after " + timeoutS + " s, still missing " + want);
                    return 1;
                }
                Message<String> m = consumer.receive((int) Math.min(left / 1_000_000, Integer.MAX_VALUE),
                        TimeUnit.MILLISECONDS);
                if (m == null) {
                    continue;
                }
                want.remove(m.getValue());
                consumer.acknowledge(m);
            }
            System.out.println("ROUNDTRIP " + count);
            producer.close();
            consumer.close();
        }
        return 0;
    }

    static PulsarClient client(String brokerUrl) throws Exception {
        return PulsarClient.builder().serviceUrl(brokerUrl).operationTimeout(60, TimeUnit.SECONDS).build();
    }

    static int produce(String brokerUrl, String topic, String sub, String tag, int count) throws Exception {
        try (PulsarClient client = client(brokerUrl)) {
            // The subscription exists before the first message, so the broker
            // keeps every message until SUB acknowledges it.
            client.newConsumer(Schema.STRING).topic(topic).subscriptionName(sub)
                    .subscriptionInitialPosition(SubscriptionInitialPosition.Earliest)
                    .subscribe().close();
            try (Producer<String> producer = client.newProducer(Schema.STRING).topic(topic).create()) {
                for (int i = 0; i < count; i++) {
                    producer.send(tag + "-" + i);
                }
            }
            System.out.println("PRODUCED " + count);
        }
        return 0;
    }

    static int consume(String brokerUrl, String topic, String sub, int count, long timeoutS, String[] tags)
            throws Exception {
        try (PulsarClient client = client(brokerUrl)) {
            Consumer<String> consumer = client.newConsumer(Schema.STRING).topic(topic).subscriptionName(sub)
                    .subscriptionInitialPosition(SubscriptionInitialPosition.Earliest).subscribe();
            java.util.Set<String> want = new java.util.TreeSet<>();
            for (String tag : tags) {
                for (int i = 0; i < count; i++) {
                    want.add(tag + "-" + i);
                }
            }
            int total = want.size();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutS);
            int got = 0;
            while (!want.isEmpty()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    System.out.println("TIMEOUT after " + timeoutS + " s, " + got + " received, still missing "
                            + want.size() + ": " + want);
                    return 1;
                }
                Message<String> m = consumer.receive((int) Math.min(left / 1_000_000, Integer.MAX_VALUE),
                        TimeUnit.MILLISECONDS);
                if (m == null) {
                    continue;
                }
                got++;
                want.remove(m.getValue());
                consumer.acknowledge(m);
            }
            consumer.close();
            System.out.println("CONSUMED " + total);
        }
        return 0;
    }

    static int download(String web, String jar, String dest) throws Exception {
        try (PulsarAdmin admin = admin(web)) {
            admin.functions().downloadFunction(dest, TENANT, NS, NAME);
        }
        byte[] want = Files.readAllBytes(Paths.get(jar));
        byte[] got = Files.readAllBytes(Paths.get(dest));
        if (!Arrays.equals(want, got)) {
            System.out.println("ERROR downloaded package differs: " + got.length + " bytes, uploaded "
                    + want.length);
            return 1;
        }
        System.out.println("DOWNLOADED " + got.length + " bytes, identical");
        return 0;
    }

    static int zkTree(String connect, String root) throws Exception {
        java.util.concurrent.CountDownLatch connected = new java.util.concurrent.CountDownLatch(1);
        org.apache.zookeeper.ZooKeeper zk = new org.apache.zookeeper.ZooKeeper(connect, 10000, e -> {
            if (e.getState() == org.apache.zookeeper.Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
        });
        try {
            if (!connected.await(30, TimeUnit.SECONDS)) {
                System.out.println("ERROR not connected to " + connect);
                return 1;
            }
            java.util.ArrayDeque<String> todo = new java.util.ArrayDeque<>();
            todo.add(root);
            while (!todo.isEmpty()) {
                String p = todo.poll();
                org.apache.zookeeper.data.Stat st = new org.apache.zookeeper.data.Stat();
                java.util.List<String> children = zk.getChildren(p, false, st);
                System.out.println("ZNODE " + p + " " + Long.toHexString(st.getEphemeralOwner()));
                java.util.Collections.sort(children);
                for (String c : children) {
                    todo.add(p.equals("/") ? "/" + c : p + "/" + c);
                }
            }
        } finally {
            zk.close();
        }
        return 0;
    }
}
