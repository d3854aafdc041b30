// Curator 5.4 over TLS (ZKClientConfig: zookeeper.client.secure, ClientCnxnSocketNetty, the
// ssl.* stores) for compat-tests/tls:
//   java TlsScenarios HOST:PORT PKI_DIR
// alice connects with her PKCS12 key store, bob with his JKS one (trust store: JKS); prints
// one transcript between "##BEGIN tls_curator" and "##END tls_curator". Every wait is bounded.
import java.nio.charset.StandardCharsets;
import java.util.*;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.*;
import org.apache.curator.retry.*;
import org.apache.zookeeper.*;
import org.apache.zookeeper.client.ZKClientConfig;
import org.apache.zookeeper.common.ClientX509Util;
import org.apache.zookeeper.data.*;

public class TlsScenarios extends Transcript {
    static final String ALICE = "CN=alice,OU=Eng,O=Example,C=US";

    static CuratorFramework client(String hosts, String keyStore, String type, String trust) throws Exception {
        ZKClientConfig z = new ZKClientConfig();
        z.setProperty(ZKClientConfig.SECURE_CLIENT, "true");
        z.setProperty(ZKClientConfig.ZOOKEEPER_CLIENT_CNXN_SOCKET, "org.apache.zookeeper.ClientCnxnSocketNetty");
        try (ClientX509Util u = new ClientX509Util()) {
            z.setProperty(u.getSslKeystoreLocationProperty(), keyStore);
            z.setProperty(u.getSslKeystorePasswdProperty(), "changeit");
            z.setProperty(u.getSslKeystoreTypeProperty(), type);
            z.setProperty(u.getSslTruststoreLocationProperty(), trust);
            z.setProperty(u.getSslTruststorePasswdProperty(), "changeit");
        }
        CuratorFramework c = CuratorFrameworkFactory.builder().connectString(hosts)
            .sessionTimeoutMs(10000).connectionTimeoutMs(10000).zkClientConfig(z)
            .retryPolicy(new RetryNTimes(3, 200)).build();
        c.start();
        if (!c.blockUntilConnected(20, TimeUnit.SECONDS)) throw new IllegalStateException("not connected");
        return c;
    }

    public static void main(String[] args) throws Exception {
        String hosts = args[0], pki = args[1];
        String trust = pki + "/truststore.jks";
        String root = "/tls_curator";
        out("##BEGIN tls_curator");
        CuratorFramework alice = null, bob = null;
        try {
            alice = client(hosts, pki + "/alice.p12", "PKCS12", trust);
            final CuratorFramework a = alice;
            out("create root", attempt(() -> a.create().forPath(root, "r".getBytes(StandardCharsets.UTF_8))));
            List<ACL> onlyAlice = Collections.singletonList(new ACL(ZooDefs.Perms.ALL, new Id("x509", ALICE)));
            out("create alice", attempt(() -> a.create().withACL(onlyAlice).forPath(root + "/alice", "secret".getBytes(StandardCharsets.UTF_8))));
            out("alice get", attempt(() -> new String(a.getData().forPath(root + "/alice"), StandardCharsets.UTF_8)));
            out("alice acl", attempt(() -> acl(a.getACL().forPath(root + "/alice"))));
            List<String> who = new ArrayList<>();
            for (org.apache.zookeeper.data.ClientInfo i : a.getZookeeperClient().getZooKeeper().whoAmI()) {
                who.add(i.getAuthScheme() + "=" + i.getUser());
            }
            Collections.sort(who);
            out("alice whoami", who);
            List<ACL> bad = Collections.singletonList(new ACL(ZooDefs.Perms.ALL, new Id("x509", "alice")));
            out("invalid x509 id", attempt(() -> a.create().withACL(bad).forPath(root + "/bad")));
            bob = client(hosts, pki + "/bob.jks", "JKS", trust);
            final CuratorFramework b = bob;
            out("bob get", attempt(() -> new String(b.getData().forPath(root + "/alice"), StandardCharsets.UTF_8)));
            out("bob children", attempt(() -> b.getChildren().forPath(root)));
        } catch (Exception e) {
            out("EXCEPTION", e.getClass().getSimpleName());
            e.printStackTrace();
        } finally {
            for (CuratorFramework c : new CuratorFramework[] {alice, bob}) { if (c != null) c.close(); }
        }
        out("##END tls_curator");
        System.exit(0);
    }
}
