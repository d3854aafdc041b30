// Curator 5.4 / ZooKeeper Java client scenarios for the compat suite.
//   java CompatScenarios --list
//   java CompatScenarios HOST:PORT NAME...
// Each scenario uses its own root znode (/curator_<name>) and its own clients,
// prints a deterministic transcript between "##BEGIN curator_<name>" and
// "##END curator_<name>", and every wait is bounded.
import java.io.*;
import java.net.*;
import java.nio.charset.StandardCharsets;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;

import org.apache.curator.framework.*;
import org.apache.curator.framework.api.transaction.*;
import org.apache.curator.framework.recipes.atomic.*;
import org.apache.curator.framework.recipes.barriers.*;
import org.apache.curator.framework.recipes.cache.*;
import org.apache.curator.framework.recipes.leader.*;
import org.apache.curator.framework.recipes.locks.*;
import org.apache.curator.framework.recipes.nodes.*;
import org.apache.curator.framework.recipes.watch.*;
import org.apache.curator.framework.state.*;
import org.apache.curator.retry.*;
import org.apache.zookeeper.*;
import org.apache.zookeeper.data.*;

public class CompatScenarios {
    static String hosts;
    static final int WAIT = 15;
    static final Map<String, Scenario> SCENARIOS = new LinkedHashMap<>();
    static final List<AutoCloseable> opened = new ArrayList<>();

    interface Scenario { void run(String root) throws Exception; }

    static void out(Object... parts) {
        StringBuilder sb = new StringBuilder();
        for (Object p : parts) { if (sb.length() > 0) sb.append(' '); sb.append(p); }
        synchronized (System.out) { System.out.println(sb); System.out.flush(); }
    }

    static CuratorFramework client() throws Exception {
        CuratorFramework c = CuratorFrameworkFactory.builder().connectString(hosts)
            .sessionTimeoutMs(10000).connectionTimeoutMs(10000)
            .retryPolicy(new ExponentialBackoffRetry(100, 10, 1000)).build();
        c.start();
        if (!c.blockUntilConnected(WAIT, TimeUnit.SECONDS)) throw new IllegalStateException("not connected");
        synchronized (opened) { opened.add(c); }
        return c;
    }

    static String str(byte[] b) { return b == null ? "null" : new String(b, StandardCharsets.UTF_8); }
    static byte[] bytes(String s) { return s.getBytes(StandardCharsets.UTF_8); }
    static String stat(Stat s) {
        return s == null ? "null" : "version=" + s.getVersion() + " cversion=" + s.getCversion()
            + " aversion=" + s.getAversion() + " dataLength=" + s.getDataLength()
            + " numChildren=" + s.getNumChildren() + " ephemeral=" + (s.getEphemeralOwner() != 0);
    }
    static List<String> sorted(List<String> l) { List<String> c = new ArrayList<>(l); Collections.sort(c); return c; }

    interface Op { Object call() throws Exception; }
    static String attempt(Op op) {
        try { return "ok " + op.call(); }
        catch (KeeperException e) { return "KeeperException " + e.code(); }
        catch (Exception e) { return e.getClass().getSimpleName(); }
    }

    static boolean waitFor(java.util.function.BooleanSupplier p) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT);
        while (System.nanoTime() < deadline) { if (p.getAsBoolean()) return true; Thread.sleep(20); }
        return false;
    }

    static void closeAll(AutoCloseable... cs) {
        for (AutoCloseable c : cs) { try { if (c != null) c.close(); } catch (Exception e) { /* closing */ } }
    }

    // ------------------------------------------------------------------ scenarios
    static void register() {
        SCENARIOS.put("crud", root -> {
            CuratorFramework c = client();
            out("create", c.create().creatingParentsIfNeeded().forPath(root + "/a/b/c", bytes("deep")));
            out("get", str(c.getData().forPath(root + "/a/b/c")));
            Stat s = new Stat();
            c.getData().storingStatIn(s).forPath(root + "/a/b/c");
            out("stat", stat(s));
            out("set", stat(c.setData().withVersion(0).forPath(root + "/a/b/c", bytes("v1"))));
            out("set bad version", attempt(() -> c.setData().withVersion(0).forPath(root + "/a/b/c", bytes("x"))));
            out("exists", stat(c.checkExists().forPath(root + "/a")));
            out("exists missing", stat(c.checkExists().forPath(root + "/zz")));
            out("create dup", attempt(() -> c.create().forPath(root + "/a")));
            out("create no parent", attempt(() -> c.create().forPath(root + "/q/r")));
            out("get missing", attempt(() -> str(c.getData().forPath(root + "/nope"))));
            out("delete not empty", attempt(() -> { c.delete().forPath(root + "/a"); return null; }));
            out("seq", c.create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath(root + "/s-"));
            out("eph", c.create().withMode(CreateMode.EPHEMERAL).forPath(root + "/e", bytes("eph")));
            out("container", c.create().withMode(CreateMode.CONTAINER).forPath(root + "/cont"));
            out("ttl", c.create().withTtl(60000).withMode(CreateMode.PERSISTENT_WITH_TTL).forPath(root + "/ttl"));
            out("children", sorted(c.getChildren().forPath(root)));
            Stat cs = new Stat();
            c.create().storingStatIn(cs).forPath(root + "/withstat", bytes("12345"));
            out("create stat", stat(cs));
            c.delete().deletingChildrenIfNeeded().forPath(root + "/a");
            out("after deleteall", sorted(c.getChildren().forPath(root)));
            c.delete().guaranteed().forPath(root + "/e");
            out("delete missing", attempt(() -> { c.delete().forPath(root + "/e"); return null; }));
            out("quietly", attempt(() -> { c.delete().quietly().forPath(root + "/e"); return "quiet"; }));
            out("orSetData", c.create().orSetData().forPath(root + "/withstat", bytes("new")), str(c.getData().forPath(root + "/withstat")));
            closeAll(c);
        });
        SCENARIOS.put("transaction", root -> {
            CuratorFramework c = client();
            c.create().forPath(root);
            List<CuratorTransactionResult> r = c.transaction().forOperations(
                c.transactionOp().create().forPath(root + "/a", bytes("a")),
                c.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath(root + "/s-"),
                c.transactionOp().setData().forPath(root + "/a", bytes("a2")),
                c.transactionOp().check().withVersion(1).forPath(root + "/a"));
            for (CuratorTransactionResult x : r) out("result", x.getType(), x.getForPath(), x.getResultPath(), x.getError());
            out("failing", attempt(() -> c.transaction().forOperations(
                c.transactionOp().create().forPath(root + "/b"),
                c.transactionOp().delete().withVersion(9).forPath(root + "/a"))));
            out("b exists", c.checkExists().forPath(root + "/b") != null);
            out("children", sorted(c.getChildren().forPath(root)));
            closeAll(c);
        });
        SCENARIOS.put("mutex", root -> {
            int n = 3, rounds = 4;
            AtomicInteger inside = new AtomicInteger(), maxInside = new AtomicInteger(), total = new AtomicInteger();
            List<CuratorFramework> cs = new ArrayList<>();
            for (int i = 0; i < n; i++) cs.add(client());
            ExecutorService ex = Executors.newFixedThreadPool(n);
            List<Future<?>> fs = new ArrayList<>();
            for (CuratorFramework c : cs) fs.add(ex.submit(() -> {
                InterProcessMutex m = new InterProcessMutex(c, root);
                for (int k = 0; k < rounds; k++) {
                    if (!m.acquire(WAIT, TimeUnit.SECONDS)) throw new IllegalStateException("acquire timeout");
                    m.acquire(); // re-entrant
                    maxInside.accumulateAndGet(inside.incrementAndGet(), Math::max);
                    Thread.sleep(10);
                    total.incrementAndGet();
                    inside.decrementAndGet();
                    m.release(); m.release();
                }
                return null;
            }));
            for (Future<?> f : fs) f.get(60, TimeUnit.SECONDS);
            ex.shutdown();
            out("acquisitions", total.get(), "max concurrent holders", maxInside.get());
            out("lock nodes left", cs.get(0).getChildren().forPath(root).size());
            InterProcessMutex a = new InterProcessMutex(cs.get(0), root), b = new InterProcessMutex(cs.get(1), root);
            a.acquire();
            out("b try while held", b.acquire(200, TimeUnit.MILLISECONDS));
            out("participants", a.getParticipantNodes().size());
            a.release();
            out("b after release", b.acquire(WAIT, TimeUnit.SECONDS));
            b.release();
            for (CuratorFramework c : cs) closeAll(c);
        });
        SCENARIOS.put("semaphore", root -> {
            CuratorFramework a = client(), b = client(), d = client();
            InterProcessSemaphoreV2 sa = new InterProcessSemaphoreV2(a, root, 2);
            InterProcessSemaphoreV2 sb = new InterProcessSemaphoreV2(b, root, 2);
            InterProcessSemaphoreV2 sd = new InterProcessSemaphoreV2(d, root, 2);
            Lease l1 = sa.acquire(WAIT, TimeUnit.SECONDS);
            Lease l2 = sb.acquire(WAIT, TimeUnit.SECONDS);
            out("two leases", l1 != null, l2 != null);
            out("third times out", sd.acquire(300, TimeUnit.MILLISECONDS) == null);
            out("participants", sd.getParticipantNodes().size());
            Future<Lease> f = Executors.newSingleThreadExecutor(r -> { Thread t = new Thread(r); t.setDaemon(true); return t; })
                .submit(() -> sd.acquire(WAIT, TimeUnit.SECONDS));
            Thread.sleep(200);
            sa.returnLease(l1);
            Lease l3 = f.get(WAIT, TimeUnit.SECONDS);
            out("third after return", l3 != null);
            Collection<Lease> two = sa.acquire(1, 300, TimeUnit.MILLISECONDS);
            out("no lease left", two == null);
            sb.returnLease(l2); sd.returnLease(l3);
            Collection<Lease> both = sa.acquire(2, WAIT, TimeUnit.SECONDS);
            out("acquire two at once", both == null ? 0 : both.size());
            sa.returnAll(both);
            closeAll(a, b, d);
        });
        SCENARIOS.put("leader_latch", root -> {
            List<CuratorFramework> cs = new ArrayList<>();
            List<LeaderLatch> ls = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                cs.add(client());
                LeaderLatch l = new LeaderLatch(cs.get(i), root, "p" + i);
                l.start();
                ls.add(l);
                final int want = i + 1;
                waitFor(() -> { try { return l.getParticipants().size() == want; } catch (Exception e) { return false; } });
            }
            for (int step = 0; step < 3; step++) {
                waitFor(() -> ls.stream().anyMatch(l -> l.getState() == LeaderLatch.State.STARTED && l.hasLeadership()));
                int leader = -1, count = 0;
                for (int i = 0; i < 3; i++) if (ls.get(i).getState() == LeaderLatch.State.STARTED && ls.get(i).hasLeadership()) { leader = i; count++; }
                LeaderLatch any = null;
                for (LeaderLatch l : ls) if (l.getState() == LeaderLatch.State.STARTED) any = l;
                List<String> ids = new ArrayList<>();
                for (Participant p : any.getParticipants()) ids.add(p.getId() + (p.isLeader() ? "*" : ""));
                out("step", step, "leader p" + leader, "leaders", count, "participants", ids, "leader id", any.getLeader().getId());
                ls.get(leader).close();
            }
            for (CuratorFramework c : cs) closeAll(c);
        });
        SCENARIOS.put("leader_selector", root -> {
            List<CuratorFramework> cs = new ArrayList<>();
            List<String> order = Collections.synchronizedList(new ArrayList<>());
            List<CountDownLatch> release = new ArrayList<>();
            List<LeaderSelector> sel = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                cs.add(client());
                CountDownLatch rel = new CountDownLatch(1);
                release.add(rel);
                final String id = "p" + i;
                LeaderSelector s = new LeaderSelector(cs.get(i), root, new LeaderSelectorListenerAdapter() {
                    public void takeLeadership(CuratorFramework c) throws Exception {
                        order.add(id);
                        rel.await(WAIT, TimeUnit.SECONDS);
                    }
                });
                s.setId(id);
                s.start();
                sel.add(s);
                final int want = i + 1;
                waitFor(() -> { try { return s.getParticipants().size() == want; } catch (Exception e) { return false; } });
            }
            for (int step = 0; step < 3; step++) {
                final int want = step + 1;
                waitFor(() -> order.size() >= want);
                String leader = order.get(step);
                out("step", step, "leader", leader, "participants", sel.get(2).getParticipants().size());
                int idx = Integer.parseInt(leader.substring(1));
                release.get(idx).countDown();
                sel.get(idx).close();
            }
            out("order", order);
            for (CuratorFramework c : cs) closeAll(c);
        });
        SCENARIOS.put("atomic_long", root -> {
            CuratorFramework a = client(), b = client();
            DistributedAtomicLong la = new DistributedAtomicLong(a, root, new RetryNTimes(20, 10));
            DistributedAtomicLong lb = new DistributedAtomicLong(b, root, new RetryNTimes(20, 10));
            out("initialize", la.initialize(10L), lb.initialize(99L));
            AtomicValue<Long> v = la.increment();
            out("increment", v.succeeded(), v.preValue(), v.postValue());
            v = lb.add(5L);
            out("add", v.succeeded(), v.preValue(), v.postValue());
            v = la.compareAndSet(16L, 100L);
            out("cas ok", v.succeeded(), v.postValue());
            v = lb.compareAndSet(16L, 7L);
            out("cas stale", v.succeeded(), v.preValue());
            v = lb.decrement();
            out("decrement", v.succeeded(), v.postValue());
            v = la.trySet(42L);
            out("trySet", v.succeeded(), lb.get().postValue());
            ExecutorService ex = Executors.newFixedThreadPool(2);
            List<Future<?>> fs = new ArrayList<>();
            for (DistributedAtomicLong l : List.of(la, lb)) fs.add(ex.submit(() -> {
                for (int i = 0; i < 10; i++) {
                    AtomicValue<Long> r;
                    do { r = l.increment(); } while (!r.succeeded());
                }
                return null;
            }));
            for (Future<?> f : fs) f.get(60, TimeUnit.SECONDS);
            ex.shutdown();
            out("after 20 concurrent increments", la.get().postValue());
            closeAll(a, b);
        });
        SCENARIOS.put("barrier", root -> {
            CuratorFramework a = client(), b = client(), d = client();
            DistributedBarrier ba = new DistributedBarrier(a, root);
            ba.setBarrier();
            ExecutorService ex = Executors.newFixedThreadPool(2);
            Future<Boolean> fb = ex.submit(() -> new DistributedBarrier(b, root).waitOnBarrier(WAIT, TimeUnit.SECONDS));
            Future<Boolean> fd = ex.submit(() -> new DistributedBarrier(d, root).waitOnBarrier(WAIT, TimeUnit.SECONDS));
            out("short wait blocked", !new DistributedBarrier(d, root).waitOnBarrier(200, TimeUnit.MILLISECONDS));
            Thread.sleep(100);
            ba.removeBarrier();
            out("released", fb.get(WAIT, TimeUnit.SECONDS), fd.get(WAIT, TimeUnit.SECONDS));
            ex.shutdown();
            DistributedDoubleBarrier[] dbs = new DistributedDoubleBarrier[3];
            CuratorFramework[] cs = {a, b, d};
            ExecutorService ex2 = Executors.newFixedThreadPool(3);
            List<Future<String>> fs = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                dbs[i] = new DistributedDoubleBarrier(cs[i], root + "-double", 3);
                final DistributedDoubleBarrier db = dbs[i];
                fs.add(ex2.submit(() -> db.enter(WAIT, TimeUnit.SECONDS) + "/" + db.leave(WAIT, TimeUnit.SECONDS)));
            }
            List<String> res = new ArrayList<>();
            for (Future<String> f : fs) res.add(f.get(60, TimeUnit.SECONDS));
            ex2.shutdown();
            out("double barrier enter/leave", res);
            closeAll(a, b, d);
        });
        SCENARIOS.put("curator_cache", root -> {
            CuratorFramework c = client(), w = client();
            w.create().forPath(root, bytes("r"));
            List<String> ev = Collections.synchronizedList(new ArrayList<>());
            CuratorCache cache = CuratorCache.build(c, root);
            cache.listenable().addListener(CuratorCacheListener.builder()
                .forCreates(n -> ev.add("CREATE " + n.getPath() + " " + str(n.getData())))
                .forChanges((o, n) -> ev.add("CHANGE " + n.getPath() + " " + str(o.getData()) + "->" + str(n.getData())))
                .forDeletes(o -> ev.add("DELETE " + o.getPath()))
                .forInitialized(() -> ev.add("INITIALIZED"))
                .build());
            cache.start();
            waitFor(() -> ev.contains("INITIALIZED"));
            String[][] steps = {{"create", "/a", "1"}, {"set", "/a", "2"}, {"create", "/a/b", "x"},
                {"set", "", "r2"}, {"delete", "/a/b", ""}, {"delete", "/a", ""}};
            int expect = ev.size();
            for (String[] s : steps) {
                String p = root + s[1];
                if (s[0].equals("create")) w.create().forPath(p, bytes(s[2]));
                else if (s[0].equals("set")) w.setData().forPath(p, bytes(s[2]));
                else w.delete().forPath(p);
                final int want = ++expect;
                waitFor(() -> ev.size() >= want);
            }
            for (String e : ev) out(e.replace(root, "$R"));
            out("cache size", cache.size(), "root data", str(cache.get(root).map(ChildData::getData).orElse(null)));
            cache.close();
            closeAll(c, w);
        });
        SCENARIOS.put("tree_cache", root -> {
            CuratorFramework c = client(), w = client();
            w.create().creatingParentsIfNeeded().forPath(root + "/pre/x", bytes("px"));
            List<String> ev = Collections.synchronizedList(new ArrayList<>());
            TreeCache tc = TreeCache.newBuilder(c, root).setMaxDepth(3).build();
            tc.getListenable().addListener((cl, e) -> {
                if (e.getType() == TreeCacheEvent.Type.CONNECTION_SUSPENDED || e.getType() == TreeCacheEvent.Type.CONNECTION_RECONNECTED) return;
                ev.add(e.getType() + (e.getData() != null ? " " + e.getData().getPath() + " " + str(e.getData().getData()) : ""));
            });
            tc.start();
            waitFor(() -> ev.stream().anyMatch(s -> s.startsWith("INITIALIZED")));
            List<String> init = new ArrayList<>(ev);
            ev.clear();
            Collections.sort(init);
            for (String e : init) out("init", e.replace(root, "$R"));
            w.create().forPath(root + "/n", bytes("1"));
            waitFor(() -> ev.size() >= 1);
            w.setData().forPath(root + "/n", bytes("2"));
            waitFor(() -> ev.size() >= 2);
            w.create().forPath(root + "/n/m", bytes("3"));
            waitFor(() -> ev.size() >= 3);
            w.delete().deletingChildrenIfNeeded().forPath(root + "/n");
            waitFor(() -> ev.size() >= 5);
            for (String e : ev) out(e.replace(root, "$R"));
            out("children", new TreeSet<>(tc.getCurrentChildren(root).keySet()));
            tc.close();
            closeAll(c, w);
        });
        SCENARIOS.put("persistent_watcher", root -> {
            CuratorFramework c = client(), w = client();
            w.create().forPath(root);
            List<String> ev = Collections.synchronizedList(new ArrayList<>());
            PersistentWatcher pw = new PersistentWatcher(c, root, true);
            pw.getListenable().addListener(e -> { if (e.getType() != Watcher.Event.EventType.None) ev.add(e.getType() + " " + e.getPath().replace(root, "$R")); });
            pw.start();
            Thread.sleep(300);
            w.create().forPath(root + "/a");
            w.create().forPath(root + "/a/b", bytes("x"));
            w.setData().forPath(root + "/a/b", bytes("y"));
            w.setData().forPath(root, bytes("r"));
            w.delete().forPath(root + "/a/b");
            waitFor(() -> ev.size() >= 5);
            pw.close();
            Thread.sleep(200);
            w.create().forPath(root + "/after-close");
            w.sync().forPath(root);
            Thread.sleep(200);
            for (String e : ev) out(e);
            // a non-recursive persistent watch through the raw client
            List<String> ev2 = Collections.synchronizedList(new ArrayList<>());
            c.getZookeeperClient().getZooKeeper().addWatch(root + "/a", e -> ev2.add(e.getType() + " " + e.getPath().replace(root, "$R")), AddWatchMode.PERSISTENT);
            w.create().forPath(root + "/a/c");
            w.setData().forPath(root + "/a", bytes("1"));
            w.create().forPath(root + "/a/c/deep");
            w.setData().forPath(root + "/a", bytes("2"));
            waitFor(() -> ev2.size() >= 3);
            for (String e : ev2) out("persistent", e);
            closeAll(c, w);
        });
        SCENARIOS.put("persistent_node", root -> {
            CuratorFramework c = client(), w = client();
            PersistentNode pn = new PersistentNode(c, CreateMode.EPHEMERAL, false, root + "/pn", bytes("hello"));
            pn.start();
            out("created", pn.waitForInitialCreate(WAIT, TimeUnit.SECONDS), pn.getActualPath());
            out("data", str(w.getData().forPath(root + "/pn")), "ephemeral", w.checkExists().forPath(root + "/pn").getEphemeralOwner() != 0);
            w.delete().forPath(root + "/pn");
            out("recreated", waitFor(() -> { try { return w.checkExists().forPath(root + "/pn") != null; } catch (Exception e) { return false; } }));
            pn.setData(bytes("changed"));
            // PersistentNode#setData is asynchronous: wait (bounded) until the new value is readable
            out("setData", waitFor(() -> { try { return "changed".equals(str(w.getData().forPath(root + "/pn"))); } catch (Exception e) { return false; } }));
            pn.close();
            out("gone after close", w.checkExists().forPath(root + "/pn") == null);
            PersistentTtlNode ttl = new PersistentTtlNode(c, root + "/ttl", 60000, bytes("t"));
            ttl.start();
            out("ttl node", ttl.waitForInitialCreate(WAIT, TimeUnit.SECONDS), str(w.getData().forPath(root + "/ttl")));
            ttl.close();
            closeAll(c, w);
        });
        SCENARIOS.put("ephemeral_cleanup", root -> {
            CuratorFramework a = client(), b = client();
            a.create().creatingParentsIfNeeded().withMode(CreateMode.EPHEMERAL).forPath(root + "/e1");
            a.create().withMode(CreateMode.EPHEMERAL_SEQUENTIAL).forPath(root + "/e2-");
            List<String> ev = Collections.synchronizedList(new ArrayList<>());
            b.getChildren().usingWatcher((Watcher) e -> ev.add(e.getType() + " " + e.getPath().replace(root, "$R"))).forPath(root);
            b.checkExists().usingWatcher((Watcher) e -> ev.add(e.getType() + " " + e.getPath().replace(root, "$R"))).forPath(root + "/e1");
            a.close();
            waitFor(() -> ev.size() >= 2);
            Collections.sort(ev);
            out("events", ev);
            out("children", b.getChildren().forPath(root));
            closeAll(b);
        });
        SCENARIOS.put("session_expiry", root -> {
            CuratorFramework a = client(), b = client();
            List<String> states = Collections.synchronizedList(new ArrayList<>());
            a.getConnectionStateListenable().addListener((cl, s) -> states.add(s.toString()));
            a.create().creatingParentsIfNeeded().withMode(CreateMode.EPHEMERAL).forPath(root + "/eph");
            ZooKeeper zk = a.getZookeeperClient().getZooKeeper();
            long sid = zk.getSessionId();
            CountDownLatch up = new CountDownLatch(1);
            ZooKeeper twin = new ZooKeeper(hosts, 10000, e -> { if (e.getState() == Watcher.Event.KeeperState.SyncConnected) up.countDown(); }, sid, zk.getSessionPasswd());
            out("twin connected", up.await(WAIT, TimeUnit.SECONDS), "same session", twin.getSessionId() == sid);
            twin.close();
            out("ephemeral gone", waitFor(() -> { try { return b.checkExists().forPath(root + "/eph") == null; } catch (Exception e) { return false; } }));
            out("lost", waitFor(() -> states.contains("LOST")));
            out("reconnected", waitFor(() -> states.contains("RECONNECTED")));
            out("new session", a.getZookeeperClient().getZooKeeper().getSessionId() != sid);
            out("usable", a.checkExists().forPath(root) != null);
            closeAll(a, b);
        });
        SCENARIOS.put("setwatches", root -> {
            // The raw Java client through a local TCP proxy: cut the connection,
            // change things while the client is away, let it reconnect; the
            // client re-sends its watches (SetWatches with its last zxid) and the
            // server must fire what happened in between.
            CuratorFramework w = client();
            w.create().forPath(root, bytes("0"));
            w.create().forPath(root + "/gone", bytes("g"));
            Proxy proxy = new Proxy(hosts);
            List<String> ev = Collections.synchronizedList(new ArrayList<>());
            List<String> states = Collections.synchronizedList(new ArrayList<>());
            ZooKeeper zk = new ZooKeeper("127.0.0.1:" + proxy.port(), 10000, e -> states.add(e.getState().toString()));
            waitFor(() -> states.contains("SyncConnected"));
            Watcher rec = e -> ev.add(e.getType() + " " + e.getPath().replace(root, "$R"));
            zk.getData(root, rec, null);
            zk.getChildren(root, rec);
            zk.exists(root + "/new", rec);
            zk.exists(root + "/gone", rec);
            zk.addWatch(root + "/p", rec, AddWatchMode.PERSISTENT);
            proxy.cut(true);
            out("disconnected", waitFor(() -> states.contains("Disconnected")));
            w.setData().forPath(root, bytes("1"));
            w.create().forPath(root + "/new");
            w.delete().forPath(root + "/gone");
            w.create().forPath(root + "/p");
            proxy.cut(false);
            out("reconnected", waitFor(() -> states.stream().filter(s -> s.equals("SyncConnected")).count() >= 2));
            waitFor(() -> ev.size() >= 5);
            w.setData().forPath(root + "/p", bytes("again"));
            waitFor(() -> ev.size() >= 6);
            List<String> sortedEv = new ArrayList<>(ev);
            Collections.sort(sortedEv);
            out("events", sortedEv);
            out("states", states);
            zk.close();
            proxy.close();
            closeAll(w);
        });
        SCENARIOS.put("acl_auth", root -> {
            CuratorFramework a = CuratorFrameworkFactory.builder().connectString(hosts).sessionTimeoutMs(10000)
                .retryPolicy(new RetryOneTime(100)).authorization("digest", bytes("carl:pw")).build();
            a.start(); a.blockUntilConnected(WAIT, TimeUnit.SECONDS);
            CuratorFramework b = client();
            a.create().forPath(root);
            List<org.apache.zookeeper.data.ACL> acl = List.of(new org.apache.zookeeper.data.ACL(ZooDefs.Perms.ALL,
                new Id("digest", org.apache.zookeeper.server.auth.DigestAuthenticationProvider.generateDigest("carl:pw"))));
            a.create().withACL(acl).forPath(root + "/secret", bytes("s"));
            out("owner reads", str(a.getData().forPath(root + "/secret")));
            out("other reads", attempt(() -> str(b.getData().forPath(root + "/secret"))));
            out("other acl", attempt(() -> b.getACL().forPath(root + "/secret")));
            a.create().withACL(ZooDefs.Ids.CREATOR_ALL_ACL).forPath(root + "/creator");
            out("creator acl", a.getACL().forPath(root + "/creator"));
            a.create().withACL(ZooDefs.Ids.READ_ACL_UNSAFE).forPath(root + "/ro", bytes("r"));
            out("ro write", attempt(() -> a.setData().forPath(root + "/ro", bytes("w"))));
            out("ro child", attempt(() -> a.create().forPath(root + "/ro/c")));
            out("setACL no admin", attempt(() -> a.setACL().withACL(ZooDefs.Ids.OPEN_ACL_UNSAFE).forPath(root + "/ro")));
            out("bad acl", attempt(() -> a.create().withACL(List.of(new org.apache.zookeeper.data.ACL(ZooDefs.Perms.ALL, new Id("nope", "x")))).forPath(root + "/bad")));
            out("empty acl", attempt(() -> a.create().withACL(new ArrayList<>()).forPath(root + "/empty")));
            out("whoami", a.getZookeeperClient().getZooKeeper().whoAmI().size());
            closeAll(a, b);
        });
    }

    /** A byte-pumping TCP proxy on 127.0.0.1 whose connections can be cut and refused. */
    static class Proxy implements Closeable {
        final ServerSocket ss;
        final int target;
        volatile boolean refuse;
        final List<Socket> live = Collections.synchronizedList(new ArrayList<>());

        Proxy(String hostPort) throws IOException {
            target = Integer.parseInt(hostPort.substring(hostPort.lastIndexOf(':') + 1));
            ss = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
            Thread t = new Thread(this::accept);
            t.setDaemon(true);
            t.start();
        }
        int port() { return ss.getLocalPort(); }
        void cut(boolean refuseNew) {
            refuse = refuseNew;
            synchronized (live) { for (Socket s : live) closeAll(s); live.clear(); }
        }
        void accept() {
            while (!ss.isClosed()) {
                try {
                    Socket c = ss.accept();
                    if (refuse) { c.close(); continue; }
                    Socket s = new Socket("127.0.0.1", target);
                    live.add(c); live.add(s);
                    pump(c, s); pump(s, c);
                } catch (IOException e) { /* closed */ }
            }
        }
        void pump(Socket from, Socket to) {
            Thread t = new Thread(() -> {
                byte[] buf = new byte[65536];
                try (InputStream in = from.getInputStream(); OutputStream o = to.getOutputStream()) {
                    int n;
                    while ((n = in.read(buf)) > 0) { o.write(buf, 0, n); o.flush(); }
                } catch (IOException e) { /* cut */ }
                closeAll(from, to);
            });
            t.setDaemon(true);
            t.start();
        }
        public void close() { cut(true); closeAll(ss); }
    }

    public static void main(String[] args) throws Exception {
        register();
        if (args.length > 0 && args[0].equals("--list")) { for (String n : SCENARIOS.keySet()) System.out.println(n); return; }
        hosts = args[0];
        ExecutorService ex = Executors.newCachedThreadPool(r -> { Thread t = new Thread(r); t.setDaemon(true); return t; });
        for (int i = 1; i < args.length; i++) {
            String name = args[i];
            Scenario s = SCENARIOS.get(name);
            out("##BEGIN curator_" + name);
            Future<?> f = ex.submit(() -> { s.run("/curator_" + name); return null; });
            try { f.get(90, TimeUnit.SECONDS); }
            catch (TimeoutException e) { out("!! scenario timed out"); f.cancel(true); }
            catch (ExecutionException e) {
                Throwable c = e.getCause();
                out("EXCEPTION", c.getClass().getSimpleName(), c instanceof KeeperException ? ((KeeperException) c).code() : "");
                c.printStackTrace();
            }
            synchronized (opened) { for (AutoCloseable c : opened) closeAll(c); opened.clear(); }
            out("##END curator_" + name);
        }
        System.out.flush();
        System.exit(0);
    }
}
