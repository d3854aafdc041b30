import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.security.PrivilegedExceptionAction;
import java.util.HexFormat;
import javax.security.auth.Subject;
import javax.security.auth.callback.Callback;
import javax.security.auth.callback.CallbackHandler;
import javax.security.auth.login.LoginContext;
import javax.security.sasl.AuthorizeCallback;
import javax.security.sasl.Sasl;
import javax.security.sasl.SaslClient;
import javax.security.sasl.SaslServer;

/**
 * The JDK's GSSAPI SASL, created as ZooKeeper 3.8's SecurityUtils creates it, driven over
 * stdin/stdout so that a test can put our side of the exchange against it:
 *
 *   java JavaSasl.java client JAAS_FILE KRB5_CONF SECTION AUTHZID SERVICE HOST
 *   java JavaSasl.java server JAAS_FILE KRB5_CONF SECTION SERVICE HOST
 *
 * Reads one token per line (hex; "-" for null), writes "TOKEN <hex>" or "TOKEN -" for each
 * token it produces, "COMPLETE <authorization id>" when done, "ERROR <reason>" on failure.
 * The client writes its initial response first. The server authorizes every authenticated
 * client as the JDK's AuthorizeCallback default (no ZooKeeper rules: the test compares the
 * exchange, the rules are tested on our side).
 */
public class JavaSasl {
    static final HexFormat HEX = HexFormat.of();

    static void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static void token(byte[] t) {
        say(t == null ? "TOKEN -" : "TOKEN " + HEX.formatHex(t));
    }

    static byte[] read(BufferedReader in) throws Exception {
        String line = in.readLine();
        if (line == null) {
            throw new IllegalStateException("peer closed");
        }
        line = line.trim();
        return line.equals("-") ? null : HEX.parseHex(line);
    }

    public static void main(String[] args) throws Exception {
        System.setProperty("java.security.auth.login.config", args[1]);
        System.setProperty("java.security.krb5.conf", args[2]);
        LoginContext login = new LoginContext(args[3]);
        login.login();
        Subject subject = login.getSubject();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        CallbackHandler handler = (Callback[] callbacks) -> {
            for (Callback c : callbacks) {
                if (c instanceof AuthorizeCallback ac) {
                    ac.setAuthorized(true);
                }
            }
        };
        try {
            if (args[0].equals("client")) {
                SaslClient client = Subject.doAs(subject, (PrivilegedExceptionAction<SaslClient>) () ->
                    Sasl.createSaslClient(new String[] {"GSSAPI"}, args[4], args[5], args[6], null, handler));
                // ZooKeeperSaslClient: an initial response from an empty challenge
                token(Subject.doAs(subject, (PrivilegedExceptionAction<byte[]>) () ->
                    client.evaluateChallenge(new byte[0])));
                while (!client.isComplete()) {
                    byte[] challenge = read(in);
                    byte[] challengeOrEmpty = challenge == null ? new byte[0] : challenge;
                    token(Subject.doAs(subject, (PrivilegedExceptionAction<byte[]>) () ->
                        client.evaluateChallenge(challengeOrEmpty)));
                }
                say("COMPLETE " + args[4]);
            } else {
                SaslServer server = Subject.doAs(subject, (PrivilegedExceptionAction<SaslServer>) () ->
                    Sasl.createSaslServer("GSSAPI", args[4], args[5], null, handler));
                while (!server.isComplete()) {
                    byte[] response = read(in);
                    byte[] responseOrEmpty = response == null ? new byte[0] : response;
                    token(Subject.doAs(subject, (PrivilegedExceptionAction<byte[]>) () ->
                        server.evaluateResponse(responseOrEmpty)));
                }
                say("COMPLETE " + server.getAuthorizationID());
            }
        } catch (Exception e) {
            Throwable t = e;
            StringBuilder why = new StringBuilder();
            while (t != null) {
                why.append(t).append(" / ");
                t = t.getCause();
            }
            say("ERROR " + why);
            System.exit(1);
        }
    }
}
