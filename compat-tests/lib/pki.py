"""Test PKI made at test time with openssl and keytool, in a directory the caller owns.

    from pki import make_pki
    p = make_pki(tmpdir)            # idempotent per directory
    p.server("jks") -> Store(path, password, type)   # key store of the ensemble's nodes
    p.trust("pem")  -> Store(...)                     # trust store holding the CA
    p.client("alice", "p12")                          # key store of a client certificate
    p.client_dn("alice")                              # Java's X500Principal.getName() of it

Every node runs on 127.0.0.1, so one server certificate (SAN localhost + 127.0.0.1) serves
the client port and the quorum of every node, as the ZooKeeper Admin Guide's recipe does.
A second CA ("rogue") signs certificates nobody trusts; `expired` is CA-signed but no longer
valid. `rotate()` writes a new server certificate (new serial, same names) over the same
key-store files, for the certificate-reload tests; `trust(fmt, ca="rogue")` trusts only the
rogue CA, so `rogue-server` + that trust store is a second, disjoint PKI to rotate onto.

Formats: "jks" (keytool JKS), "p12" (PKCS12 by openssl), "pem" (PKCS#8 key encrypted with
the password (PBES2/AES-256) + chain in one file; the trust store is the CA PEM). ferrokeeper
reads that PEM; 3.8.0's PemReader on Java 17 does not ("PBES2 SecretKeyFactory not
available"), so scenarios that give a PEM key store to the reference use an unencrypted key.
"""

import os
import subprocess
from collections import namedtuple

Store = namedtuple("Store", "path password type")

CLIENTS = {
    "alice": "/C=US/O=Example/OU=Eng/CN=alice",
    "bob": "/C=US/O=Example/OU=Ops/CN=bob",
    "super": "/C=US/O=Example/CN=admin",
}
PASS = "changeit"
TYPES = {"jks": "JKS", "p12": "PKCS12", "pem": "PEM"}


def _run(args, cwd):
    r = subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {r.stdout.decode(errors='replace')}")


def _ext(d, name, san):
    path = os.path.join(d, f"{name}.ext")
    with open(path, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth,clientAuth\n")
        if san:
            f.write(f"subjectAltName={san}\n")
    return path


class Pki:
    def __init__(self, d):
        self.dir = d

    def _p(self, name):
        return os.path.join(self.dir, name)

    def _ca(self, ca):
        _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key",
              "-out", f"{ca}.pem", "-days", "3650", "-subj", f"/O=Ferrokeeper Test/CN={ca} CA",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"], self.dir)

    def _leaf(self, name, subj, ca="ca", san="DNS:localhost,IP:127.0.0.1", days="3650",
              start=None, end=None):
        d = self.dir
        _run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
              "-out", f"{name}.csr", "-subj", subj], d)
        if start:  # a validity window in the past needs `openssl ca` (x509 has no start date)
            db = self._p(f"{ca}-index.txt")
            open(db, "a").close()
            with open(self._p(f"{name}-ca.cnf"), "w") as f:
                f.write(f"[ca]\ndefault_ca=c\n[c]\ndatabase={db}\nnew_certs_dir={d}\n"
                        f"serial={self._p(ca + '-ca.srl')}\ndefault_md=sha256\npolicy=p\n"
                        "unique_subject=no\ncopy_extensions=none\n[p]\ncommonName=supplied\n")
            with open(self._p(f"{ca}-ca.srl"), "w") as f:
                f.write("1000\n")
            _run(["openssl", "ca", "-batch", "-config", f"{name}-ca.cnf", "-cert", f"{ca}.pem",
                  "-keyfile", f"{ca}.key", "-in", f"{name}.csr", "-startdate", start, "-enddate",
                  end, "-out", f"{name}.crt", "-notext", "-extfile", _ext(d, name, san)], d)
        else:
            _run(["openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey",
                  f"{ca}.key", "-CAcreateserial", "-days", days, "-out", f"{name}.crt",
                  "-extfile", _ext(d, name, san)], d)
        self._stores(name, ca)

    def _stores(self, name, ca):
        d = self.dir
        with open(self._p(f"{name}.pem"), "wb") as out:
            key = subprocess.run(["openssl", "pkcs8", "-topk8", "-in", f"{name}.key", "-v2",
                                  "aes-256-cbc", "-passout", f"pass:{PASS}"], cwd=d,
                                 stdout=subprocess.PIPE, check=True, timeout=60).stdout
            out.write(key)
            for part in (f"{name}.crt", f"{ca}.pem"):
                with open(self._p(part), "rb") as f:
                    out.write(f.read())
        tmp_p12 = f"{name}.p12.new"
        _run(["openssl", "pkcs12", "-export", "-in", f"{name}.crt", "-inkey", f"{name}.key",
              "-certfile", f"{ca}.pem", "-name", name, "-passout", f"pass:{PASS}", "-out", tmp_p12], d)
        tmp_jks = f"{name}.jks.new"
        if os.path.exists(self._p(tmp_jks)):
            os.remove(self._p(tmp_jks))
        _run(["keytool", "-importkeystore", "-noprompt", "-srckeystore", tmp_p12, "-srcstoretype",
              "PKCS12", "-srcstorepass", PASS, "-destkeystore", tmp_jks, "-deststoretype", "JKS",
              "-deststorepass", PASS, "-destkeypass", PASS], d)
        # replace atomically: a reloading server never reads a half-written store
        os.replace(self._p(tmp_p12), self._p(f"{name}.p12"))
        os.replace(self._p(tmp_jks), self._p(f"{name}.jks"))

    def make(self):
        if os.path.exists(self._p("done")):
            return self
        os.makedirs(self.dir, exist_ok=True)
        self._ca("ca")
        self._ca("rogue")
        self._leaf("server", "/O=Example/OU=Eng/CN=localhost")
        for name, subj in CLIENTS.items():
            self._leaf(name, subj, san="IP:127.0.0.1")
        self._leaf("rogue-client", "/CN=rogue", ca="rogue", san="IP:127.0.0.1")
        self._leaf("rogue-server", "/CN=localhost", ca="rogue")
        self._leaf("expired", "/O=Example/CN=expired", san="DNS:localhost,IP:127.0.0.1",
                   start="20200101000000Z", end="20200201000000Z")
        _run(["keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", "ca.pem", "-keystore",
              "truststore.jks", "-storetype", "JKS", "-storepass", PASS], self.dir)
        _run(["keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", "ca.pem", "-keystore",
              "truststore.p12", "-storetype", "PKCS12", "-storepass", PASS], self.dir)
        with open(self._p("truststore.pem"), "wb") as out, open(self._p("ca.pem"), "rb") as f:
            out.write(f.read())
        # the rogue CA's own trust stores: a whole second PKI to rotate a quorum onto
        _run(["keytool", "-importcert", "-noprompt", "-alias", "rogue", "-file", "rogue.pem",
              "-keystore", "rogue-truststore.jks", "-storetype", "JKS", "-storepass", PASS], self.dir)
        with open(self._p("rogue-truststore.pem"), "wb") as out, \
                open(self._p("rogue.pem"), "rb") as f:
            out.write(f.read())
        open(self._p("done"), "w").close()
        return self

    def _store(self, name, fmt):
        return Store(self._p(f"{name}.{fmt}"), PASS, TYPES[fmt])

    def server(self, fmt="jks"):
        return self._store("server", fmt)

    def trust(self, fmt="jks", ca="ca"):
        """The trust store holding `ca`: "ca", or "rogue" (the untrusted CA's own; jks and
        pem only)."""
        return self._store("truststore" if ca == "ca" else f"{ca}-truststore", fmt)

    def client(self, who, fmt="jks"):
        return self._store(who, fmt)

    def client_dn(self, who):
        """Java's X500Principal.getName(): RFC 2253, most specific RDN first."""
        rdns = [r for r in CLIENTS[who].split("/") if r]
        return ",".join(reversed(rdns))

    def rotate(self, name="server"):
        """A new certificate (new key, new serial) for `name`, written over its store files."""
        subj = "/O=Example/OU=Eng/CN=localhost" if name == "server" else CLIENTS[name]
        self._leaf(name, subj, san="DNS:localhost,IP:127.0.0.1")

    def serial(self, name="server"):
        """The serial of `name`'s certificate as openssl prints it (to tell rotations apart)."""
        r = subprocess.run(["openssl", "x509", "-in", f"{name}.crt", "-noout", "-serial"],
                           cwd=self.dir, stdout=subprocess.PIPE, check=True, timeout=60)
        return r.stdout.decode().strip().split("=", 1)[-1]


def make_pki(d):
    return Pki(d).make()


if __name__ == "__main__":
    import sys
    import tempfile
    d = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="pki.")
    p = make_pki(d)
    print(d)
    for who in CLIENTS:
        print(who, p.client_dn(who))
