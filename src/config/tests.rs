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
