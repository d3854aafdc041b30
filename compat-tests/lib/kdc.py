"""A throwaway MIT Kerberos KDC made at test time, everything in a directory the caller owns.

    from kdc import make_kdc
    k = make_kdc(tmpdir)          # config, database, principals and keytabs (idempotent per dir)
    k.start()                     # krb5kdc -n on 127.0.0.1:<free port>, UDP and TCP
    k.env()                       # KRB5_CONFIG, KRB5_KDC_PROFILE, KRB5CCNAME, KRB5RCACHEDIR
    k.keytab("alice")             # path of alice's keytab
    k.principal("zookeeper")      # "zookeeper/localhost@EXAMPLE.COM"
    k.krb5_conf                   # for -Djava.security.krb5.conf=...
    k.stop()                      # by PID

Nothing is system-wide: the KDC, kadmin.local and every client find their files through
KRB5_CONFIG / KRB5_KDC_PROFILE pointing into the directory; credential caches and replay
caches live there too. The port is fixed when the directory is made (krb5.conf names it).

Principals (realm EXAMPLE.COM, random keys, one keytab each):
  zookeeper     zookeeper/localhost  the server's, as a JAAS Server section names it
  zookeeper-old zookeeper/localhost  a keytab from before the key was changed (wrong kvno/key)
  alice, bob    alice, bob           clients
  zkquorum      zkquorum/localhost   for quorum SASL
  expired       expired              its entry expired in 2000: the KDC refuses it
  unknown       unknown              deleted after its keytab was written: the KDC knows no such name

As a command: `kdc.py DIR [PORT]` makes the directory (without starting the KDC) and prints
`name=value` lines (dir, port, realm, krb5_conf, kdc_conf, keytab_<name>, principal_<name>);
the Rust tests start `krb5kdc -n` themselves so that they own its PID.
"""

import os
import socket
import subprocess
import time

REALM = "EXAMPLE.COM"
MASTER_PASSWORD = "ferrokeeper-test-master"
# name -> principal without realm
PRINCIPALS = {
    "zookeeper": "zookeeper/localhost",
    "alice": "alice",
    "bob": "bob",
    "zkquorum": "zkquorum/localhost",
    "expired": "expired",
    "unknown": "unknown",
}
ENCTYPES = "aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal"
TOOLS = ("kdb5_util", "kadmin.local", "krb5kdc")


def _find(tool):
    for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        p = os.path.join(d, tool)
        if os.access(p, os.X_OK):
            return p
    raise RuntimeError(f"{tool} not found: install krb5-kdc krb5-admin-server (compat-tests/run "
                       "--install-only does)")


def _free_port():
    # a port free for TCP and UDP at once (the KDC listens on both)
    for _ in range(50):
        t = socket.socket()
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no port free for both TCP and UDP")


class Kdc:
    def __init__(self, d, port=None):
        self.dir = os.path.abspath(d)
        self.realm = REALM
        self.krb5_conf = self._p("krb5.conf")
        self.kdc_conf = self._p("kdc.conf")
        self.proc = None
        self.port = port
        if port is None and os.path.exists(self._p("port")):
            with open(self._p("port")) as f:
                self.port = int(f.read().strip())

    def _p(self, name):
        return os.path.join(self.dir, name)

    def env(self, base=None):
        """The environment a KDC tool or a Kerberos client of this realm runs with."""
        e = dict(os.environ if base is None else base)
        e["KRB5_CONFIG"] = self.krb5_conf
        e["KRB5_KDC_PROFILE"] = self.kdc_conf
        e["KRB5CCNAME"] = "FILE:" + self._p("ccache")
        e["KRB5RCACHEDIR"] = self.dir
        # a keytab from the system (/etc/krb5.keytab) must never be used by accident
        e["KRB5_KTNAME"] = "FILE:" + self._p("none.keytab")
        e["KRB5_CLIENT_KTNAME"] = "FILE:" + self._p("none.keytab")
        return e

    def _run(self, args, stdin=None):
        r = subprocess.run(args, cwd=self.dir, env=self.env(), input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {r.stdout.decode(errors='replace')}")
        return r.stdout.decode(errors="replace")

    def _kadmin(self, query):
        out = self._run([_find("kadmin.local"), "-r", self.realm, "-q", query])
        # kadmin.local exits 0 even when the query failed; it says so on its output
        for bad in ("kadmin.local: ", "ktadd: ", "add_principal: ", "delete_principal: ",
                    "modify_principal: "):
            for line in out.splitlines():
                if line.startswith(bad) and "while" in line:
                    raise RuntimeError(f"kadmin.local -q {query!r}: {line}")
        return out

    def principal(self, name):
        return f"{PRINCIPALS.get(name, name)}@{self.realm}"

    def keytab(self, name):
        return self._p(f"{name}.keytab")

    def _write_conf(self):
        d = self.dir
        with open(self.kdc_conf, "w") as f:
            f.write(f"""[kdcdefaults]
    kdc_listen = 127.0.0.1:{self.port}
    kdc_tcp_listen = 127.0.0.1:{self.port}

[realms]
    {self.realm} = {{
        database_name = {d}/principal
        key_stash_file = {d}/stash
        acl_file = {d}/kadm5.acl
        kdc_listen = 127.0.0.1:{self.port}
        kdc_tcp_listen = 127.0.0.1:{self.port}
        max_life = 10h 0m 0s
        max_renewable_life = 1d 0h 0m 0s
        supported_enctypes = {ENCTYPES}
        default_principal_flags = +preauth
    }}

[logging]
    kdc = FILE:{d}/kdc.log
    admin_server = FILE:{d}/kadmin.log
    default = FILE:{d}/krb5lib.log
""")
        # the same file works for MIT's libraries and for Java's krb5.conf reader
        with open(self.krb5_conf, "w") as f:
            f.write(f"""[libdefaults]
    default_realm = {self.realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    ticket_lifetime = 1h
    forwardable = false
    udp_preference_limit = 1

[realms]
    {self.realm} = {{
        kdc = 127.0.0.1:{self.port}
    }}

[domain_realm]
    localhost = {self.realm}
    .localhost = {self.realm}
""")
        with open(self._p("kadm5.acl"), "w") as f:
            f.write(f"*/admin@{self.realm} *\n")
        with open(self._p("port"), "w") as f:
            f.write(f"{self.port}\n")

    def make(self):
        if os.path.exists(self._p("done")):
            return self
        os.makedirs(self.dir, exist_ok=True)
        if self.port is None:
            self.port = _free_port()
        self._write_conf()
        self._run([_find("kdb5_util"), "create", "-s", "-r", self.realm, "-P", MASTER_PASSWORD])
        for name, princ in PRINCIPALS.items():
            self._kadmin(f"addprinc -randkey {princ}")
            if name == "zookeeper":
                # written first: the next ktadd changes the key, so this keytab is stale
                self._kadmin(f"ktadd -k {self.keytab('zookeeper-old')} {princ}")
            self._kadmin(f"ktadd -k {self.keytab(name)} {princ}")
        self._kadmin("modprinc -expire 2000-01-01 expired")
        self._kadmin("delprinc -force unknown")
        open(self._p("done"), "w").close()
        return self

    def start(self, timeout=30):
        """Run krb5kdc in the foreground (-n) as our child; wait until its TCP port answers."""
        self.make()
        log = open(self._p("krb5kdc.out"), "wb")
        self.proc = subprocess.Popen([_find("krb5kdc"), "-n", "-r", self.realm], cwd=self.dir,
                                     env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"krb5kdc exited with {self.proc.returncode}: "
                                   + self.log_tail())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"krb5kdc did not listen on 127.0.0.1:{self.port} in {timeout}s")

    def log_tail(self, n=20):
        lines = []
        for name in ("krb5kdc.out", "kdc.log"):
            try:
                with open(self._p(name), errors="replace") as f:
                    lines += f.read().splitlines()[-n:]
            except OSError:
                pass
        return "\n".join(lines)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def kinit(self, name):
        """A ticket for `name` from its keytab into this directory's ccache (a client check)."""
        return self._run(["kinit", "-k", "-t", self.keytab(name), self.principal(name)])


def make_kdc(d, port=None):
    return Kdc(d, port).make()


if __name__ == "__main__":
    import sys
    import tempfile
    d = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="kdc.")
    k = make_kdc(d, int(sys.argv[2]) if len(sys.argv) > 2 else None)
    print(f"dir={k.dir}")
    print(f"port={k.port}")
    print(f"realm={k.realm}")
    print(f"krb5_conf={k.krb5_conf}")
    print(f"kdc_conf={k.kdc_conf}")
    for name in list(PRINCIPALS) + ["zookeeper-old"]:
        print(f"keytab_{name}={k.keytab(name)}")
        print(f"principal_{name}={k.principal(name)}")
