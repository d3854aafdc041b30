//! `four-letter-word HOST PORT CMD [SECURE]`: 3.8's `FourLetterWordMain`, which
//! `zkServer.sh status` runs to ask `srvr`. The answer is printed with a line feed after each
//! line and one more (`System.out.println` of it); a failure is one line on stderr and exit
//! status 1, as the JVM's uncaught exception.
//!
//! With SECURE `true` the word goes over TLS with the client settings the Java class takes
//! from its system properties: the `-Dzookeeper.ssl.*` (or `-Dssl.*`) options of
//! `CLIENT_JVMFLAGS` and `JVMFLAGS`, read by our own store loaders (PEM, JKS, PKCS12).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use rustls_pki_types::ServerName;

use super::Console;
use crate::config::jvmflags::SystemProperties;
use crate::tls::{TlsContextKind, TlsMaterial, TlsSettings};

/// `FourLetterWordMain.DEFAULT_SOCKET_TIMEOUT`.
const TIMEOUT: Duration = Duration::from_millis(5000);

pub(crate) fn main(args: &[String], con: &mut Console<'_>) -> u8 {
    let (host, port, cmd, secure) = match args {
        [h, p, c] => (h, p, c, false),
        // Boolean.parseBoolean
        [h, p, c, s] => (h, p, c, s.eq_ignore_ascii_case("true")),
        _ => {
            con.out("Usage: FourLetterWordMain <host> <port> <cmd> <secure(optional)>\n");
            return super::EXECUTION_FINISHED;
        }
    };
    let Ok(port) = port.parse::<u16>() else {
        con.err(&format!(
            "Exception in thread \"main\" java.lang.NumberFormatException: For input string: \"{port}\"\n"
        ));
        return super::UNEXPECTED_ERROR;
    };
    match send(host, port, cmd, secure) {
        Ok(answer) => {
            let mut text = String::new();
            // BufferedReader#readLine then append("\n"): \r\n and \r end lines too
            for line in answer.replace("\r\n", "\n").replace('\r', "\n").lines() {
                text.push_str(line);
                text.push('\n');
            }
            text.push('\n');
            con.out(&text);
            super::EXECUTION_FINISHED
        }
        Err(e) => {
            con.err(&format!(
                "Exception in thread \"main\" java.io.IOException: {e}\n"
            ));
            super::UNEXPECTED_ERROR
        }
    }
}

/// The whole answer to `cmd` (the server closes when done).
pub(super) fn send(host: &str, port: u16, cmd: &str, secure: bool) -> Result<String, String> {
    let mut sock = connect(host, port)?;
    sock.set_read_timeout(Some(TIMEOUT))
        .and_then(|()| sock.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    if secure {
        let config = client_tls(&SystemProperties::from_flags(&client_flags()))?;
        let name = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?,
        };
        let conn = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
        let mut tls = rustls::StreamOwned::new(conn, sock);
        tls.write_all(cmd.as_bytes())
            .and_then(|()| tls.flush())
            .map_err(|e| e.to_string())?;
        // TLS forbids a half-close; the server closes after answering
        read_to_close(&mut tls, &mut answer)?;
    } else {
        sock.write_all(cmd.as_bytes()).map_err(|e| e.to_string())?;
        // as nc does, and FourLetterWordMain after it
        let _ = sock.shutdown(std::net::Shutdown::Write);
        read_to_close(&mut sock, &mut answer)?;
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// Java's `InetSocketAddress(host, port)` takes a name's IPv4 address first
/// (`java.net.preferIPv6Addresses=false`): zkServer.sh asks `localhost` when zoo.cfg has no
/// clientPortAddress, and a server on 0.0.0.0 does not answer on ::1. The others are tried
/// after it, in the resolver's order.
fn connect(host: &str, port: u16) -> Result<TcpStream, String> {
    let mut addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{host}: {e}"))?
        .collect();
    addrs.sort_by_key(|a| !a.is_ipv4());
    let mut last = format!("{host}: no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, TIMEOUT) {
            Ok(sock) => return Ok(sock),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

fn read_to_close(r: &mut impl Read, out: &mut Vec<u8>) -> Result<(), String> {
    match r.read_to_end(out) {
        Ok(_) => Ok(()),
        // a peer that closes without close_notify has still said everything
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// zkServer.sh runs the class with `$CLIENT_JVMFLAGS $JVMFLAGS`.
fn client_flags() -> String {
    ["CLIENT_JVMFLAGS", "JVMFLAGS"]
        .iter()
        .map(|v| std::env::var(v).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `ClientX509Util#getDefaultSSLContext` from the `ssl.*` system properties.
fn client_tls(props: &SystemProperties) -> Result<std::sync::Arc<rustls::ClientConfig>, String> {
    let entries: Vec<(String, String)> = props
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let settings =
        TlsSettings::from_entries(TlsContextKind::Client, &entries).map_err(|e| e.to_string())?;
    let material = TlsMaterial::load(settings).map_err(|e| e.to_string())?;
    material.client_config(&[]).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn run(args: &[&str]) -> (u8, String, String) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut input: &[u8] = b"";
        let code = {
            let mut con = Console {
                out: &mut out,
                err: &mut err,
                input: &mut input,
            };
            let code = main(&args, &mut con);
            con.flush();
            code
        };
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn prints_the_answer_as_println_does() {
        answers_on("127.0.0.1");
    }

    #[test]
    fn localhost_reaches_a_server_on_ipv4() {
        // status asks `localhost` when zoo.cfg has no clientPortAddress
        answers_on("localhost");
    }

    fn answers_on(host: &str) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port().to_string();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut word = [0u8; 4];
            s.read_exact(&mut word).unwrap();
            assert_eq!(&word, b"srvr");
            s.write_all(b"Zookeeper version: x\nMode: standalone\n")
                .unwrap();
        });
        let (code, out, err) = run(&[host, &port, "srvr"]);
        t.join().unwrap();
        assert_eq!((code, err.as_str()), (0, ""));
        assert_eq!(out, "Zookeeper version: x\nMode: standalone\n\n");
    }

    #[test]
    fn usage_and_failures() {
        let (code, out, _) = run(&["127.0.0.1"]);
        assert_eq!(code, 0);
        assert!(out.starts_with("Usage: FourLetterWordMain"));
        let (code, out, err) = run(&["127.0.0.1", "x", "srvr"]);
        assert_eq!((code, out.as_str()), (1, ""));
        assert!(err.contains("NumberFormatException"));
        // a port nobody listens on
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port().to_string()
        };
        let (code, out, err) = run(&["127.0.0.1", &port, "srvr", "false"]);
        assert_eq!((code, out.as_str()), (1, ""));
        assert!(err.contains("IOException"), "{err}");
    }
}
