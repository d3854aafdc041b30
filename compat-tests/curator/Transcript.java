// What the SASL and TLS Curator drivers print (SaslScenarios and TlsScenarios extend it, so
// its members read as their own): a line of space-joined parts, an operation's outcome, an
// ACL list. compat-tests/run compiles it before them.
import java.util.*;

import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.ACL;

class Transcript {
    protected Transcript() {}

    static void out(Object... parts) {
        StringBuilder sb = new StringBuilder();
        for (Object p : parts) { if (sb.length() > 0) sb.append(' '); sb.append(p); }
        System.out.println(sb);
        System.out.flush();
    }

    interface Op { Object call() throws Exception; }
    static String attempt(Op op) {
        try { return "ok " + op.call(); }
        catch (KeeperException e) { return "KeeperException " + e.code(); }
        catch (Exception e) { return e.getClass().getSimpleName(); }
    }

    static String acl(List<ACL> acls) {
        List<String> l = new ArrayList<>();
        for (ACL a : acls) l.add(a.getId().getScheme() + ":" + a.getId().getId() + ":" + a.getPerms());
        return l.toString();
    }
}
