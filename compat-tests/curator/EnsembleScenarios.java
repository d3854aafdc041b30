// Curator 5.4 recipes across the nodes of an ensemble (compat-tests/ensemble/ensemble.py).
//   java EnsembleScenarios latch|mutex HOST:PORT HOST:PORT...
// Every client's connect string is ONE node, so each recipe's participants sit on
// different servers and only agree through the quorum. Prints "OK <what>" lines and
// "FAIL <what>: expected ... got ..." lines; exit status 0 iff nothing failed. Every
// wait is bounded; a watchdog ends the JVM after 150 s.
import java.nio.charset.StandardCharsets;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;

import org.apache.curator.framework.*;
import org.apache.curator.framework.recipes.leader.*;
import org.apache.curator.framework.recipes.locks.*;
import org.apache.curator.retry.*;
import org.apache.zookeeper.*;
import org.apache.zookeeper.data.*;

public class EnsembleScenarios {
    static final int WAIT = 30;
    static final List<CuratorFramework> opened = new ArrayList<>();
    static final AtomicInteger failures = new AtomicInteger();

    static void out(String s) { synchronized (System.out) { System.out.println(s); System.out.flush(); } }
    static void fail(String s) { failures.incrementAndGet(); out("FAIL " + s); }

    static CuratorFramework client(String hp) throws Exception {
        CuratorFramework c = CuratorFrameworkFactory.builder().connectString(hp)
            .sessionTimeoutMs(20000).connectionTimeoutMs(10000)
            .retryPolicy(new ExponentialBackoffRetry(100, 10, 1000)).build();
        c.start();
        synchronized (opened) { opened.add(c); }
        if (!c.blockUntilConnected(WAIT, TimeUnit.SECONDS)) throw new IllegalStateException("no connection to " + hp);
        return c;
    }

    interface Cond { boolean ok() throws Exception; }
    static boolean waitFor(Cond p) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT);
        while (System.nanoTime() < deadline) {
            try { if (p.ok()) return true; } catch (Exception e) { /* not settled yet */ }
            Thread.sleep(20);
        }
        return false;
    }

    // One LeaderLatch per node: exactly one holds leadership at any moment, all agree on
    // who; closing the leader's latch moves leadership to another participant.
    static void latch(String[] hosts) throws Exception {
        String path = "/ens_curator_latch";
        Map<String, LeaderLatch> latches = new LinkedHashMap<>();
        Map<String, String> where = new HashMap<>();
        for (int i = 0; i < hosts.length; i++) {
            String id = "p" + (i + 1);
            LeaderLatch l = new LeaderLatch(client(hosts[i]), path, id);
            l.start();
            latches.put(id, l);
            where.put(id, hosts[i]);
        }
        String previous = null;
        while (!latches.isEmpty()) {
            final Map<String, LeaderLatch> live = latches;
            final String[] seen = {null, null};
            boolean one = waitFor(() -> {
                List<String> holders = new ArrayList<>();
                for (Map.Entry<String, LeaderLatch> e : live.entrySet())
                    if (e.getValue().hasLeadership()) holders.add(e.getKey());
                if (holders.size() > 1) { seen[1] = holders.toString(); return true; }
                if (holders.size() != 1) return false;
                // every participant sees the same leader id
                for (LeaderLatch l : live.values())
                    if (!l.getLeader().getId().equals(holders.get(0))) return false;
                seen[0] = holders.get(0);
                return true;
            });
            if (seen[1] != null) { fail("latch: expected one leader, got several at once: " + seen[1]); return; }
            if (!one) {
                StringBuilder sb = new StringBuilder();
                for (Map.Entry<String, LeaderLatch> e : live.entrySet())
                    sb.append(' ').append(e.getKey()).append('@').append(where.get(e.getKey()))
                      .append(" has=").append(e.getValue().hasLeadership());
                fail("latch: expected exactly one leader agreed by all within " + WAIT + "s among "
                     + live.keySet() + ", got:" + sb);
                return;
            }
            String leader = seen[0];
            if (leader.equals(previous)) { fail("latch: leadership did not move from " + previous); return; }
            out("OK latch: leader " + leader + " (client on " + where.get(leader) + ") of " + latches.keySet());
            latches.remove(leader).close();
            previous = leader;
        }
    }

    // InterProcessMutex with two clients per node: the holders never overlap (in-JVM
    // counter) and a shared counter znode, bumped with a versioned setData under the lock,
    // ends at the number of acquisitions when read back through every node.
    static void mutex(String[] hosts) throws Exception {
        String lock = "/ens_curator_mutex/lock", counter = "/ens_curator_mutex/counter";
        int perClient = 8;
        CuratorFramework first = client(hosts[0]);
        first.create().creatingParentsIfNeeded().forPath(counter, "0".getBytes(StandardCharsets.UTF_8));
        AtomicInteger holders = new AtomicInteger(), overlaps = new AtomicInteger();
        List<Callable<String>> jobs = new ArrayList<>();
        for (int i = 0; i < hosts.length * 2; i++) {
            final String hp = hosts[i % hosts.length];
            final int who = i;
            final CuratorFramework c = client(hp);
            jobs.add(() -> {
                InterProcessMutex m = new InterProcessMutex(c, lock);
                for (int k = 0; k < perClient; k++) {
                    if (!m.acquire(WAIT, TimeUnit.SECONDS)) return "client " + who + " on " + hp + ": acquire timed out";
                    try {
                        if (holders.incrementAndGet() != 1) overlaps.incrementAndGet();
                        Stat st = new Stat();
                        int v = Integer.parseInt(new String(c.getData().storingStatIn(st).forPath(counter), StandardCharsets.UTF_8));
                        Thread.sleep(3);
                        try {
                            c.setData().withVersion(st.getVersion()).forPath(counter, String.valueOf(v + 1).getBytes(StandardCharsets.UTF_8));
                        } catch (KeeperException.BadVersionException e) {
                            return "client " + who + " on " + hp + ": BadVersion on the counter while holding the lock "
                                + "(someone else wrote it: mutual exclusion broken or a stale read of version " + st.getVersion() + ")";
                        }
                        holders.decrementAndGet();
                    } finally {
                        m.release();
                    }
                }
                return null;
            });
        }
        ExecutorService pool = Executors.newFixedThreadPool(jobs.size());
        List<Future<String>> fs = new ArrayList<>();
        for (Callable<String> j : jobs) fs.add(pool.submit(j));
        for (Future<String> f : fs) {
            try {
                String r = f.get(120, TimeUnit.SECONDS);
                if (r != null) fail("mutex: " + r);
            } catch (ExecutionException e) {
                fail("mutex: " + e.getCause());
            } catch (TimeoutException e) {
                fail("mutex: a client did not finish within 120s");
            }
        }
        pool.shutdownNow();
        if (overlaps.get() != 0) fail("mutex: expected no overlapping holders, got " + overlaps.get() + " overlaps");
        int want = jobs.size() * perClient;
        for (String hp : hosts) {
            CuratorFramework c = client(hp);
            CountDownLatch synced = new CountDownLatch(1);
            c.sync().inBackground((cl, ev) -> synced.countDown()).forPath(counter);
            if (!synced.await(WAIT, TimeUnit.SECONDS)) { fail("mutex: sync on " + hp + " timed out"); continue; }
            String got = new String(c.getData().forPath(counter), StandardCharsets.UTF_8);
            if (!got.equals(String.valueOf(want))) fail("mutex: counter read via " + hp + ": expected " + want + ", got " + got);
            else out("OK mutex: counter " + got + " via " + hp);
        }
    }

    public static void main(String[] args) throws Exception {
        Thread dog = new Thread(() -> {
            try { Thread.sleep(150_000); } catch (InterruptedException e) { return; }
            out("FAIL watchdog: scenario did not finish within 150s");
            Runtime.getRuntime().halt(3);
        });
        dog.setDaemon(true);
        dog.start();
        if (args.length < 2) { System.err.println("usage: EnsembleScenarios latch|mutex HOST:PORT..."); System.exit(2); }
        String[] hosts = Arrays.copyOfRange(args, 1, args.length);
        try {
            if (args[0].equals("latch")) latch(hosts);
            else if (args[0].equals("mutex")) mutex(hosts);
            else { System.err.println("unknown scenario " + args[0]); System.exit(2); }
        } catch (Exception e) {
            fail(args[0] + ": " + e);
        } finally {
            synchronized (opened) { for (CuratorFramework c : opened) { try { c.close(); } catch (Exception e) { /* closing */ } } }
        }
        System.exit(failures.get() == 0 ? 0 : 1);
    }
}
