// Curator 5.4 with SASL DIGEST-MD5 for compat-tests/sasl (scenario sasl_curator):
//   java -Djava.security.auth.login.config=<clients.conf> SaslScenarios HOST:PORT
// clients.conf has one JAAS section per user (Client_bob, Client_alice, Client_wrong), each
// client picks its own through ZKClientConfig's zookeeper.sasl.clientconfig. bob creates a
// node only sasl:bob may use and reads it back, alice gets NoAuth, bob with a wrong password
// gets no session. Prints one transcript between "##BEGIN sasl_curator" and
// "##END sasl_curator". Every wait is bounded.
import java.nio.charset.StandardCharsets;
import java.util.*;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.*;
import org.apache.curator.framework.api.CuratorEventType;
import org.apache.curator.retry.*;
import org.apache.zookeeper.*;
import org.apache.zookeeper.client.ZKClientConfig;
import org.apache.zookeeper.data.*;

public class SaslScenarios extends Transcript {
    static String whoami(CuratorFramework c) throws Exception {
        List<String> who = new ArrayList<>();
        for (ClientInfo i : c.getZookeeperClient().getZooKeeper().whoAmI()) {
            who.add(i.getAuthScheme() + "=" + i.getUser());
        }
        Collections.sort(who);
        return who.toString();
    }

    /** Connection states the ZooKeeper handle reported, each once in first-seen order: how
     *  often a refused client retries is timing, which states it passed through is not. */
    static final Map<String, List<String>> STATES = new HashMap<>();

    static CuratorFramework client(String hosts, String section) throws Exception {
        ZKClientConfig z = new ZKClientConfig();
        z.setProperty(ZKClientConfig.LOGIN_CONTEXT_NAME_KEY, section);
        CuratorFramework c = CuratorFrameworkFactory.builder().connectString(hosts)
            .sessionTimeoutMs(10000).connectionTimeoutMs(5000).zkClientConfig(z)
            .retryPolicy(new RetryNTimes(1, 200)).build();
        List<String> seen = Collections.synchronizedList(new ArrayList<>());
        STATES.put(section, seen);
        c.getCuratorListenable().addListener((client, event) -> {
            if (event.getType() == CuratorEventType.WATCHED && event.getWatchedEvent() != null
                    && event.getWatchedEvent().getType() == Watcher.Event.EventType.None) {
                String s = event.getWatchedEvent().getState().toString();
                if (!seen.contains(s)) seen.add(s);
            }
        });
        c.start();
        return c;
    }

    static String states(String section) {
        List<String> seen = STATES.get(section);
        synchronized (seen) { return seen.toString(); }
    }

    /** The states once `state` has been seen, or after 10 s: Curator delivers them on its
     *  event thread, after the failed call may already have returned. */
    static String statesAfter(String section, String state) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!STATES.get(section).contains(state) && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        return states(section);
    }

    public static void main(String[] args) throws Exception {
        String hosts = args[0];
        String root = "/sasl_curator";
        byte[] data = "bob's".getBytes(StandardCharsets.UTF_8);
        out("##BEGIN sasl_curator");
        CuratorFramework bob = null, alice = null, wrong = null;
        try {
            bob = client(hosts, "Client_bob");
            final CuratorFramework b = bob;
            out("## bob");
            out("connected", b.blockUntilConnected(20, TimeUnit.SECONDS));
            out("whoami", attempt(() -> whoami(b)));
            List<ACL> onlyBob = Collections.singletonList(new ACL(ZooDefs.Perms.ALL, new Id("sasl", "bob")));
            out("create sasl:bob", attempt(() -> b.create().withACL(onlyBob).forPath(root, data)));
            out("get", attempt(() -> new String(b.getData().forPath(root), StandardCharsets.UTF_8)));
            out("acl", attempt(() -> acl(b.getACL().forPath(root))));
            out("create creator-all", attempt(() -> b.create().withACL(ZooDefs.Ids.CREATOR_ALL_ACL)
                .forPath(root + "-creator", data)));
            out("acl creator-all", attempt(() -> acl(b.getACL().forPath(root + "-creator"))));
            out("states", states("Client_bob"));

            alice = client(hosts, "Client_alice");
            final CuratorFramework a = alice;
            out("## alice");
            out("connected", a.blockUntilConnected(20, TimeUnit.SECONDS));
            out("whoami", attempt(() -> whoami(a)));
            out("get", attempt(() -> a.getData().forPath(root)));
            out("set", attempt(() -> a.setData().forPath(root, "alice".getBytes(StandardCharsets.UTF_8))));
            out("delete creator-all", attempt(() -> a.delete().forPath(root + "-creator")));
            out("children /", attempt(() -> a.getChildren().forPath("/").contains("sasl_curator")));
            out("states", states("Client_alice"));

            wrong = client(hosts, "Client_wrong");
            final CuratorFramework w = wrong;
            out("## bob, wrong password");
            // the server refuses the exchange and closes each connection: no request is served
            out("get", attempt(() -> w.getData().forPath(root)));
            out("states", statesAfter("Client_wrong", "AuthFailed"));
        } catch (Exception e) {
            out("EXCEPTION", e.getClass().getSimpleName());
            e.printStackTrace();
        } finally {
            for (CuratorFramework c : new CuratorFramework[] {wrong, alice, bob}) { if (c != null) c.close(); }
        }
        out("##END sasl_curator");
        System.exit(0);
    }
}
