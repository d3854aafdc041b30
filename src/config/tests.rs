//! zoo.cfg behaviour checked against the real 3.8.0 server (see the module doc).

#![allow(clippy::unwrap_used)]

use std::path::Path;

use super::*;

fn cfg(text: &str) -> ServerConfig {
    parse(text, Path::new("zoo.cfg")).unwrap()
}

fn err(text: &str) -> String {
    parse(text, Path::new("zoo.cfg")).unwrap_err().to_string()
}

#[test]
fn sample_config_defaults() {
    let c =
        cfg("tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/tmp/zookeeper\nclientPort=2181\n");
    assert_eq!(c.tick_time_ms, 2000);
    assert_eq!(c.client_port, Some(2181));
    assert_eq!(c.data_log_dir, Path::new("/tmp/zookeeper"));
    assert_eq!(
        (c.min_session_timeout_ms, c.max_session_timeout_ms),
        (4000, 40000)
    );
    assert_eq!(c.max_client_cnxns, 60);
    assert_eq!(c.jute_max_buffer, 0xfffff);
    assert_eq!(c.global_outstanding_limit, 1000);
    assert_eq!(c.snap_count, 100_000);
    assert!(c.force_sync && c.digest_enabled && !c.skip_acl && !c.enforce_quota);
    assert_eq!(c.container_check_interval_ms, 60_000);
    assert!(c.four_letter_whitelist.is_enabled("srvr"));
    assert!(!c.four_letter_whitelist.is_enabled("ruok"));
    assert!(c.is_standalone());
    assert!(c.admin_enable_server);
    assert_eq!(c.raw.len(), 5);
}

#[test]
fn default_tick_time_is_3000() {
    // Observed on 3.8.0: no tickTime gives "tickTime 3000 ms minSessionTimeout 6000 ms".
    let c = cfg("dataDir=d\nclientPort=1\n");
    assert_eq!(c.tick_time_ms, 3000);
    assert_eq!(c.min_session_timeout_ms, 6000);
    assert_eq!(c.max_session_timeout_ms, 60000);
}

#[test]
fn fatal_errors_name_line_and_key() {
    assert_eq!(
        err("dataDir=d\nclientPort=1\ntickTime=abc\n"),
        "zoo.cfg line 3: tickTime: \"abc\" is not a number"
    );
    assert!(err("clientPort=2181\n").contains("dataDir is not set"));
    assert!(err("dataDir=d\nclientPort=1\nsyncEnabled=maybe").contains(
        "line 3: syncEnabled: Invalid option maybe for syncEnabled. Choose 'true' or 'false.'"
    ));
    assert!(
        err("dataDir=d\nclientPort=99999").contains("line 2: clientPort: port out of range:99999")
    );
    assert!(err("dataDir=d\nclientPortAddress=127.0.0.1")
        .contains("clientPortAddress is set but clientPort is not set"));
    assert!(err("dataDir=d\nclientPort=1\ntickTime=0").contains("tickTime is not set"));
    assert!(err("dataDir=d\nclientPort=1\nelectionAlg=1").contains("Only 3 is supported"));
    assert!(err("dataDir=d\nclientPort=1\nmaxSessionTimeout=-5")
        .contains("minSessionTimeout must not be larger"));
    assert!(
        err("dataDir=d\nclientPort=1\ntickTime=2000\nminSessionTimeout=50000")
            .contains("minSessionTimeout must not be larger")
    );
    assert!(
        err("dataDir=d\nclientPort=1\nmetricsProvider.className=x.Y")
            .contains("metrics provider class was not found")
    );
    assert!(err("dataDir=d\nk=\\u12").contains("line 2"));
}

#[test]
fn lenient_where_the_reference_is() {
    // No clientPort in standalone: the reference starts with no client listener.
    assert_eq!(cfg("dataDir=d").client_port, None);
    // Integer.getInteger junk falls back to the default.
    assert_eq!(
        cfg("dataDir=d\nclientPort=1\nsnapCount=abc").snap_count,
        100_000
    );
    assert_eq!(
        cfg("dataDir=d\nclientPort=1\nautopurge.snapRetainCount=1").autopurge_snap_retain_count,
        3
    );
    // One participant with standaloneEnabled: logged and ignored.
    assert!(cfg("dataDir=d\nclientPort=1\nserver.1=127.0.0.1:2888:3888").is_standalone());
    assert!(cfg("dataDir=d\nclientPort=1\nunknownKey=whatever")
        .raw_value("unknownKey")
        .is_some());
}

#[test]
fn later_duplicates_win_and_values_are_trimmed() {
    let c = cfg("dataDir=a\nclientPort=1\nclientPort = 2  \ndataDir=b \n");
    assert_eq!(c.client_port, Some(2));
    assert_eq!(c.data_dir, Path::new("b"));
    assert_eq!(c.raw_value("clientPort"), Some("2"));
}

#[test]
fn system_property_keys_under_both_spellings() {
    let base = "dataDir=d\nclientPort=1\n";
    let c = cfg(&format!("{base}extendedTypesEnabled=true\nskipACL=yes\nforceSync=no\ndigest.enabled=false\nenforceQuota=true\njute.maxbuffer=0x100000\nglobalOutstandingLimit=5\nDigestAuthenticationProvider.superDigest=super:x\nznode.container.checkIntervalMs=100\npreAllocSize=1024\n"));
    assert!(
        c.extended_types_enabled
            && c.skip_acl
            && !c.force_sync
            && !c.digest_enabled
            && c.enforce_quota
    );
    assert_eq!(c.jute_max_buffer, 0x100000);
    assert_eq!(c.global_outstanding_limit, 5);
    assert_eq!(c.super_digest.as_deref(), Some("super:x"));
    assert_eq!(c.container_check_interval_ms, 100);
    assert_eq!(c.pre_alloc_size_kb, 1024);
    let c = cfg(&format!("{base}zookeeper.extendedTypesEnabled=true\nzookeeper.skipACL=yes\nzookeeper.jute.maxbuffer=7\nzookeeper.snapCount=10\n"));
    assert!(c.extended_types_enabled && c.skip_acl);
    assert_eq!((c.jute_max_buffer, c.snap_count), (7, 10));
    // The later line wins between spellings.
    let c = cfg(&format!("{base}zookeeper.snapCount=10\nsnapCount=20\n"));
    assert_eq!(c.snap_count, 20);
    // skipACL only means "yes"; forceSync is off only for "no".
    let c = cfg(&format!("{base}skipACL=true\nforceSync=false\n"));
    assert!(!c.skip_acl && c.force_sync);
}

#[test]
fn whitelist_keys() {
    let c = cfg("dataDir=d\nclientPort=1\n4lw.commands.whitelist=ruok, mntr\n");
    assert!(
        c.four_letter_whitelist.is_enabled("ruok") && c.four_letter_whitelist.is_enabled("mntr")
    );
    assert!(!c.four_letter_whitelist.is_enabled("isro"));
    let c = cfg(
        "dataDir=d\nclientPort=1\nzookeeper.4lw.commands.whitelist=*\nreadonlymode.enabled=true\n",
    );
    assert!(c.four_letter_whitelist.is_enabled("dump") && c.read_only_mode_enabled);
}

#[test]
fn ensemble() {
    let text = "dataDir=d\nclientPort=2181\ninitLimit=5\nsyncLimit=2\nserver.1=a:2888:3888\nserver.2=b:2888:3888;2182\nserver.3=c:2888:3888:observer\ngroup.1=1:2\nweight.1=1\n";
    let c = cfg(text);
    assert!(!c.is_standalone());
    assert_eq!(c.servers.len(), 3);
    assert_eq!(c.servers[&3].learner_type, LearnerType::Observer);
    assert_eq!(c.groups[&1], "1:2");
    assert!(
        err("dataDir=d\nclientPort=1\nserver.1=a:1:2\nserver.2=b:1:2")
            .contains("initLimit is not set")
    );
    assert!(err("dataDir=d\nclientPort=1\nserver.1=a:1:2:observer")
        .contains("Observers w/o participants"));
    assert!(err("dataDir=d\nclientPort=1\nserver.x=a:1:2").contains("server.x"));
    assert!(err("dataDir=d\ndynamicConfigFile=z\nserver.1=a:1:2")
        .contains("must be in a separate dynamic config file"));
}

#[test]
fn admin_and_metrics_keys() {
    let c = cfg("dataDir=d\nclientPort=1\nadmin.enableServer=false\nadmin.serverPort=9090\nmetricsProvider.httpPort=7000\n");
    assert!(!c.admin_enable_server);
    assert_eq!(c.admin_server_port, 9090);
    assert_eq!(c.metrics_provider_config["httpPort"], "7000");
    assert!(!c.admin_port_unification && !c.admin_force_https);
    // `Boolean.getBoolean`: "true" in any case, under either spelling
    let c = cfg(
        "dataDir=d\nclientPort=1\nadmin.portUnification=TRUE\nzookeeper.admin.forceHttps=yes\n",
    );
    assert!(c.admin_port_unification);
    assert!(!c.admin_force_https);
}

#[test]
fn client_port_address() {
    let c = cfg("dataDir=d\nclientPort=1\nclientPortAddress=127.0.0.1\n");
    assert_eq!(c.client_port_address, Some("127.0.0.1".parse().unwrap()));
}

#[test]
fn load_reads_file_and_myid() {
    let dir = std::env::temp_dir().join(format!("fk-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let zoo = dir.join("zoo.cfg");
    let text = format!(
        "dataDir={}\nclientPort=1\ninitLimit=5\nsyncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\n",
        dir.display()
    );
    std::fs::write(&zoo, &text).unwrap();
    assert!(load(&zoo)
        .unwrap_err()
        .to_string()
        .contains("myid file is missing"));
    std::fs::write(dir.join("myid"), "2\n").unwrap();
    assert_eq!(load(&zoo).unwrap().my_id, Some(2));
    assert!(load(&dir.join("nope.cfg")).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shipped_conf_zoo_cfg_parses() {
    let text = include_str!("../../conf/zoo.cfg");
    let c = cfg(text);
    assert!(c.is_standalone());
    assert_eq!(c.client_port, Some(2181));
    assert_eq!(c.data_dir, Path::new("data"));
    assert_eq!(c.tick_time_ms, 2000);
}

#[test]
fn dynamic_config_file_supplies_membership_and_version() {
    let dir = std::env::temp_dir().join(format!("fk-dyncfg-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/myid"), "2\n").unwrap();
    let dynamic = dir.join("zoo.cfg.dynamic.100000000");
    std::fs::write(
        &dynamic,
        "server.1=127.0.0.1:2888:3888;2181\nserver.2=127.0.0.1:2889:3889;2182\n\
         server.3=127.0.0.1:2890:3890:observer;2183\n",
    )
    .unwrap();
    let main = dir.join("zoo.cfg");
    std::fs::write(
        &main,
        format!(
            "tickTime=2000\ninitLimit=5\nsyncLimit=2\ndataDir={}\ndynamicConfigFile={}\n",
            dir.join("data").display(),
            dynamic.display()
        ),
    )
    .unwrap();
    let c = load(&main).unwrap();
    assert_eq!(c.servers.len(), 3);
    assert_eq!(c.my_id, Some(2));
    assert_eq!(c.config_version, 0x1_0000_0000);
    assert!(!c.is_standalone());
    assert_eq!(
        c.servers[&3].learner_type,
        LearnerType::Observer,
        "observer from the dynamic file"
    );

    std::fs::write(&dynamic, "server.1=127.0.0.1:2888:3888\nversion=1\n").unwrap();
    let e = load(&main).unwrap_err().to_string();
    assert!(
        e.contains("dynamic file shouldn't have version inside"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn secure_client_port_and_its_address() {
    let c =
        cfg("dataDir=d\nclientPort=1\nsecureClientPort=2281\nsecureClientPortAddress=127.0.0.2\n");
    assert_eq!(c.secure_client_port, Some(2281));
    assert_eq!(
        c.secure_client_port_address,
        Some("127.0.0.2".parse().unwrap())
    );
    // 3.8: the secure port does not fall back to clientPortAddress
    let c = cfg("dataDir=d\nclientPortAddress=127.0.0.1\nclientPort=1\nsecureClientPort=2\n");
    assert_eq!(c.secure_client_port_address, None);
    assert!(
        err("dataDir=d\nclientPort=1\nsecureClientPortAddress=127.0.0.1\n")
            .contains("secureClientPortAddress is set but secureClientPort is not set")
    );
    // a TLS-only server needs no clientPort
    let c = cfg("dataDir=d\nsecureClientPort=2281\n");
    assert_eq!((c.client_port, c.secure_client_port), (None, Some(2281)));
}

#[test]
fn port_unification_and_connection_factory() {
    let c = cfg("dataDir=d\nclientPort=1\n");
    assert!(!c.client_port_unification);
    assert_eq!(c.server_cnxn_factory, None);
    let c = cfg("dataDir=d\nclientPort=1\nclient.portUnification=TRUE\n\
                 serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n");
    assert!(c.client_port_unification);
    assert_eq!(
        c.server_cnxn_factory.as_deref(),
        Some("org.apache.zookeeper.server.NettyServerCnxnFactory")
    );
    let c = cfg("dataDir=d\nclientPort=1\nzookeeper.client.portUnification=true\n");
    assert!(c.client_port_unification);
}

/// Observed on 3.8.0: `secureClientPort` registers the x509 provider by itself
/// (`configureSSLAuth`); `client.portUnification` alone does not (its call comes after the
/// registry was filled, and TLS clients with a certificate are closed with "X509 Auth
/// provider not found: x509").
#[test]
fn x509_provider_registration() {
    let x509 = |extra: &str| cfg(&format!("dataDir=d\nclientPort=1\n{extra}")).x509_auth_provider;
    assert!(!x509(""));
    assert!(!x509("client.portUnification=true\n"));
    assert!(x509("secureClientPort=2\n"));
    assert!(x509(&format!("authProvider.1={X509_AUTH_PROVIDER}\n")));
    assert!(x509(&format!(
        "client.portUnification=true\nzookeeper.authProvider.x509={X509_AUTH_PROVIDER}\n"
    )));
    // another class, or a SASL one, registers nothing here
    assert!(!x509("authProvider.1=com.example.MyAuth\n"));
    assert!(!x509(
        "authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n"
    ));
    let c = cfg("dataDir=d\nclientPort=1\nX509AuthenticationProvider.superUser=CN=admin\n");
    assert_eq!(c.x509_super_user.as_deref(), Some("CN=admin"));
    let c = cfg("dataDir=d\nclientPort=1\nzookeeper.X509AuthenticationProvider.superUser=CN=b\n");
    assert_eq!(c.x509_super_user.as_deref(), Some("CN=b"));
}

#[test]
fn ssl_auth_provider_other_than_x509_is_refused_for_tls_ports() {
    // `QuorumPeerConfig#configureSSLAuth`'s ConfigException
    assert!(err("dataDir=d\nsecureClientPort=2\nssl.authProvider=foo\n")
        .contains("No auth provider configured for the SSL authentication scheme 'foo'."));
    // a provider class for it could not be loaded here anyway
    assert!(err(
        "dataDir=d\nsecureClientPort=2\nssl.authProvider=foo\nauthProvider.foo=com.example.Foo\n"
    )
    .contains("custom providers cannot be loaded"));
    assert!(
        err("dataDir=d\nclientPort=1\nclient.portUnification=true\nssl.authProvider=foo\n")
            .contains("ssl.authProvider=foo")
    );
    // without a TLS port it is not read
    cfg("dataDir=d\nclientPort=1\nssl.authProvider=foo\n");
    cfg("dataDir=d\nsecureClientPort=2\nzookeeper.ssl.authProvider=x509\n");
}

#[test]
fn tls_keys_are_honoured() {
    use super::sysprops::is_unsupported;
    for key in [
        "secureClientPort",
        "secureClientPortAddress",
        "client.portUnification",
        "client.secure",
        "serverCnxnFactory",
        "ssl.keyStore.location",
        "zookeeper.ssl.trustStore.password",
        "ssl.clientAuth",
        "ssl.authProvider",
        "authProvider.1",
        "X509AuthenticationProvider.superUser",
    ] {
        assert!(!is_unsupported(key), "{key}");
    }
    for key in [
        "ssl.quorum.keyStore.location",
        "zookeeper.ssl.quorum.trustStore.location",
        "sslQuorum",
        "portUnification",
        "sslQuorumReloadCertFiles",
    ] {
        assert!(!is_unsupported(key), "{key}");
    }
    assert!(!is_unsupported("quorum.auth.enableSasl"));
    assert!(!is_unsupported("localSessionsEnabled"));
    assert!(!is_unsupported("localSessionsUpgradingEnabled"));
    assert!(!is_unsupported("dynamicConfigFile"));
    assert!(is_unsupported("observerMasterPort"));
}

#[test]
fn quorum_auth_keys_and_their_checks() {
    let c = cfg("dataDir=d\nclientPort=1\n");
    assert_eq!(c.quorum_auth, crate::config::QuorumAuthConfig::default());
    let c = cfg(
        "dataDir=d\nclientPort=1\nquorum.auth.enableSasl=true\nquorum.auth.learnerRequireSasl=true\n\
         quorum.auth.serverRequireSasl=true\nquorum.auth.learner.saslLoginContext=L\n\
         quorum.auth.server.saslLoginContext=S\nquorum.auth.kerberos.servicePrincipal=zkq/_HOST\n",
    );
    let a = &c.quorum_auth;
    assert!(a.enable_sasl && a.learner_require_sasl && a.server_require_sasl);
    assert_eq!(
        (
            a.learner_login_context.as_str(),
            a.server_login_context.as_str()
        ),
        ("L", "S")
    );
    assert_eq!(a.service_principal, "zkq/_HOST");
    for (text, want) in [
        ("quorum.auth.serverRequireSasl=true\nquorum.auth.learnerRequireSasl=true\n", "quorum.auth.enableSasl is disabled, so cannot enable quorum.auth.serverRequireSasl"),
        ("quorum.auth.learnerRequireSasl=true\n", "quorum.auth.enableSasl is disabled, so cannot enable quorum.auth.learnerRequireSasl"),
        ("quorum.auth.enableSasl=true\nquorum.auth.serverRequireSasl=true\n", "quorum.auth.learnerRequireSasl is disabled, so cannot enable quorum.auth.serverRequireSasl"),
        ("quorum.auth.enableSasl=yes\n", "quorum.auth.enableSasl"),
    ] {
        let e = err(&format!("dataDir=d\nclientPort=1\n{text}"));
        assert!(e.contains(want), "{e}");
    }
}

#[test]
fn quorum_tls_switches() {
    let c = cfg("dataDir=d\nclientPort=1\n");
    assert!(!c.ssl_quorum && !c.port_unification && !c.ssl_quorum_reload_cert_files);
    let c = cfg(
        "dataDir=d\nclientPort=1\nsslQuorum=true\nportUnification=TRUE\n\
         sslQuorumReloadCertFiles=true\n",
    );
    assert!(c.ssl_quorum && c.port_unification && c.ssl_quorum_reload_cert_files);
    // QuorumPeerConfig#parseBoolean: anything but true/false stops the server
    assert!(err("dataDir=d\nclientPort=1\nsslQuorum=yes\n")
        .contains("Invalid option yes for sslQuorum. Choose 'true' or 'false.'"));
}

fn with_flags(text: &str, flags: &str) -> Result<ServerConfig, ConfigError> {
    parse_with(
        text,
        Path::new("zoo.cfg"),
        SystemProperties::from_flags(flags),
    )
}

/// `-D` settings of SERVER_JVMFLAGS / JVMFLAGS are system properties; zoo.cfg's
/// `zookeeper.<key>` overwrites them (`System.setProperty` in `parseProperties`).
#[test]
fn jvm_flags_are_system_properties_and_zoo_cfg_wins() {
    let base = "dataDir=d\nclientPort=1\n";
    let c = with_flags(base, "-Xmx1g -Dzookeeper.snapCount=5 -Djute.maxbuffer=2048").unwrap();
    assert_eq!((c.snap_count, c.jute_max_buffer), (5, 2048));
    let c = with_flags(&format!("{base}snapCount=7\n"), "-Dzookeeper.snapCount=5").unwrap();
    assert_eq!(c.snap_count, 7);
    // only the exact Java name counts on the command line
    let c = with_flags(base, "-DsnapCount=5").unwrap();
    assert_eq!(c.snap_count, 100_000);
    // authProvider.N from the JVM flags (how Kafka and HBase deployments set it)
    let c = with_flags(
        base,
        "-Dzookeeper.authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
    )
    .unwrap();
    assert!(c.sasl.provider);
    assert_eq!(c.system_properties.iter().count(), 1);
}

#[test]
fn sasl_settings() {
    let base = "dataDir=d\nclientPort=1\n";
    let c = cfg(base);
    assert_eq!(c.sasl.server_section, "Server");
    assert!(!c.sasl.provider && !c.sasl.allow_failed_clients && c.sasl.jaas.is_none());
    assert!(c.enforce_auth_schemes.is_empty());
    let c = with_flags(
        &format!("{base}superUser.2=carol\nkerberos.removeHostFromPrincipal=true\n"),
        "-Dzookeeper.superUser=admin -Dzookeeper.allowSaslFailedClients=TRUE \
         -Dzookeeper.sasl.serverconfig=ZkServer -Dzookeeper.superUserX=no \
         -Djava.security.krb5.conf=/etc/krb5.conf",
    )
    .unwrap();
    assert_eq!(c.sasl.super_users, ["admin", "carol"]);
    assert!(c.sasl.allow_failed_clients && c.sasl.remove_host_from_principal);
    assert!(!c.sasl.remove_realm_from_principal);
    assert_eq!(c.sasl.server_section, "ZkServer");
    assert_eq!(
        c.sasl.krb5_conf.as_deref(),
        Some(Path::new("/etc/krb5.conf"))
    );
    // java.* properties mean nothing in zoo.cfg
    let c = cfg(&format!(
        "{base}java.security.auth.login.config=/nonexistent\n"
    ));
    assert!(c.sasl.login_config.is_none());
    // a JAAS file that cannot be read, or does not parse, stops start-up
    let e = with_flags(
        base,
        "-Djava.security.auth.login.config=/nonexistent/jaas.conf",
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("cannot read /nonexistent/jaas.conf"), "{e}");
    let dir = std::env::temp_dir().join(format!("fk-jaas-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let jaas = dir.join("bad.conf");
    std::fs::write(&jaas, "Server {\n  a.B required\n  user_bob=\"x\"\n};\n").unwrap();
    let e = with_flags(
        base,
        &format!("-Djava.security.auth.login.config={}", jaas.display()),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        format!(
            "{} line 4: expected [option key], found [}}]",
            jaas.display()
        )
    );
    std::fs::write(&jaas, "Server { a.B required user_bob=\"x\"; };\n").unwrap();
    let c = with_flags(
        base,
        &format!("-Djava.security.auth.login.config={}", jaas.display()),
    )
    .unwrap();
    assert_eq!(
        c.sasl.jaas.unwrap().section("Server").unwrap()[0].options["user_bob"],
        "x"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `AuthenticationHelper`: sessionRequireClientSASLAuth means `sasl`; every enforced scheme
/// must have a provider, or the server does not start.
#[test]
fn enforced_auth_schemes() {
    let base = "dataDir=d\nclientPort=1\n";
    let sasl = "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n";
    let c = cfg(&format!("{base}{sasl}sessionRequireClientSASLAuth=true\n"));
    assert_eq!(c.enforce_auth_schemes, ["sasl"]);
    assert_eq!(
        err(&format!("{base}sessionRequireClientSASLAuth=true\n")),
        "zoo.cfg: Authentication scheme sasl is not available."
    );
    let c = cfg(&format!(
        "{base}{sasl}enforce.auth.enabled=true\nenforce.auth.schemes=sasl, digest,\n"
    ));
    assert_eq!(c.enforce_auth_schemes, ["sasl", "digest"]);
    assert!(err(&format!("{base}enforce.auth.enabled=true\n"))
        .contains("zookeeper.enforce.auth.schemes must be  configured."));
    assert_eq!(
        err(&format!(
            "{base}enforce.auth.enabled=true\nenforce.auth.schemes=x509\n"
        )),
        "zoo.cfg: Authentication scheme x509 is not available."
    );
    // schemes without enforce.auth.enabled mean nothing
    let c = cfg(&format!("{base}enforce.auth.schemes=sasl\n"));
    assert!(c.enforce_auth_schemes.is_empty());
}

#[test]
fn sasl_keys_are_honoured() {
    use super::sysprops::is_unsupported;
    for key in [
        "sessionRequireClientSASLAuth",
        "enforce.auth.enabled",
        "enforce.auth.schemes",
        "allowSaslFailedClients",
        "superUser",
        "sasl.serverconfig",
        "kerberos.removeHostFromPrincipal",
        "zookeeper.kerberos.removeRealmFromPrincipal",
        "SASLAuthenticationProvider.superPassword",
        "zookeeper.letAnySaslUserDoX",
        "security.auth_to_local",
    ] {
        assert!(!is_unsupported(key), "{key}");
    }
}

/// `zookeeper.security.auth_to_local` and `zookeeper.letAnySaslUserDoX`, from the JVM flags
/// or zoo.cfg (where a value may hold blanks, so several rules fit).
#[test]
fn auth_to_local_and_let_any_sasl_user_do_x() {
    let base = "dataDir=d\nclientPort=1\n";
    let sasl = "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n";
    let c = cfg(base);
    assert_eq!(c.sasl.let_any_sasl_user_do_x, None);
    let c = with_flags(
        &format!("{base}{sasl}"),
        "-Dzookeeper.letAnySaslUserDoX=anyone -Dzookeeper.security.auth_to_local=RULE:[1:$1@$0](.*@EXAMPLE\\.COM)s/@.*//",
    )
    .unwrap();
    assert_eq!(c.sasl.let_any_sasl_user_do_x.as_deref(), Some("anyone"));
    let name = crate::sasl::kerberos::KerberosName::parse("alice@EXAMPLE.COM").unwrap();
    assert_eq!(c.sasl.auth_to_local.short_name(&name, "").unwrap(), "alice");
    let c = cfg(&format!(
        "{base}{sasl}security.auth_to_local=RULE:[2:$1](zk) DEFAULT\n"
    ));
    let name = crate::sasl::kerberos::KerberosName::parse("bob@R").unwrap();
    assert_eq!(c.sasl.auth_to_local.short_name(&name, "R").unwrap(), "bob");
    // a rule 3.8 cannot parse stops a server that would use it, naming the property and rule
    let e = err(&format!(
        "{base}{sasl}zookeeper.security.auth_to_local=DEFAULT RULE:[1:$1]junk\n"
    ));
    assert!(
        e.contains("zookeeper.security.auth_to_local=DEFAULT RULE:[1:$1]junk")
            && e.contains("Invalid rule: junk"),
        "{e}"
    );
    // a server without SASL never reads the rules, as 3.8's never loads KerberosName
    let c = cfg(&format!("{base}security.auth_to_local=junk\n"));
    assert!(!c.sasl.provider);
}
