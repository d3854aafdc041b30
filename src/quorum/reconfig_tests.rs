use super::*;

fn keys(text: &str) -> String {
    let entries = properties::parse(text).unwrap();
    let order = properties_order(entries.into_iter().map(|e| (e.key, e.value)));
    order.iter().map(|(k, _)| format!("{k},")).collect()
}

const SMALL: &str = "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir=/x\nclientPort=1\n\
    clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nadmin.enableServer=false\n\
    reconfigEnabled=true\nserver.1=a:1:2\nserver.2=a:3:4\nserver.3=a:5:6\n";

/// Orders printed by JDK 17's `Properties#entrySet` for the same files.
#[test]
fn properties_iterate_as_jdk17_loads_them() {
    assert_eq!(
        keys(SMALL),
        "dataDir,4lw.commands.whitelist,syncLimit,reconfigEnabled,clientPortAddress,server.2,\
         admin.enableServer,server.1,clientPort,initLimit,tickTime,server.3,"
    );
    let big = format!(
        "{SMALL}autopurge.snapRetainCount=3\nautopurge.purgeInterval=1\nmaxClientCnxns=60\n\
         standaloneEnabled=false\nsyncEnabled=true\nmetricsProvider.httpPort=7000\n\
         quorumListenOnAllIPs=false\nsnapCount=1000\nglobalOutstandingLimit=1000\n\
         preAllocSize=65536\nleaderServes=yes\nelectionAlg=3\nmaxSessionTimeout=40000\n\
         minSessionTimeout=4000\nlocalSessionsEnabled=false\n"
    );
    assert_eq!(
        keys(&big),
        "dataDir,4lw.commands.whitelist,syncLimit,clientPortAddress,syncEnabled,\
         metricsProvider.httpPort,leaderServes,standaloneEnabled,admin.enableServer,initLimit,\
         clientPort,electionAlg,minSessionTimeout,snapCount,autopurge.purgeInterval,\
         maxSessionTimeout,globalOutstandingLimit,reconfigEnabled,server.2,server.1,\
         autopurge.snapRetainCount,tickTime,localSessionsEnabled,quorumListenOnAllIPs,server.3,\
         preAllocSize,maxClientCnxns,"
    );
}

#[test]
fn static_config_drops_membership_and_points_at_the_dynamic_file() {
    assert_eq!(
        static_config_text(SMALL, "/d/zoo.cfg.dynamic.100000003", false),
        "dataDir=/x\n4lw.commands.whitelist=*\nsyncLimit=5\nreconfigEnabled=true\n\
         clientPortAddress=127.0.0.1\nadmin.enableServer=false\nclientPort=1\ninitLimit=10\n\
         tickTime=200\ndynamicConfigFile=/d/zoo.cfg.dynamic.100000003\n"
    );
    let erased = static_config_text(SMALL, "/d/x", true);
    assert!(!erased.contains("clientPort"), "{erased}");
}

#[test]
fn dynamic_file_is_sorted_without_version_unless_kept() {
    let qv = QuorumVerifier::from_config_str(
        "server.2=127.0.0.1:3:4:participant\nserver.10=127.0.0.1:5:6:observer;127.0.0.1:7\n\
         server.1=127.0.0.1:1:2:participant\nversion=100000003",
    )
    .unwrap();
    assert_eq!(
        dynamic_config_text(&qv, false),
        // Java compares the whole lines: `=` sorts after `0`
        "server.10=127.0.0.1:5:6:observer;127.0.0.1:7\nserver.1=127.0.0.1:1:2:participant\n\
         server.2=127.0.0.1:3:4:participant"
    );
    assert!(dynamic_config_text(&qv, true).ends_with("\nversion=100000003"));
}

#[test]
fn committed_config_goes_to_disk_and_only_grows() {
    let dir = std::env::temp_dir().join(format!("fk-reconfig-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("zoo.cfg");
    std::fs::write(&cfg, SMALL).unwrap();
    let v0 = QuorumVerifier::from_config_str("server.1=a:1:2\nserver.2=a:3:4\nversion=0").unwrap();
    let pc = PeerConfig::new(1, true, cfg.clone(), v0.clone());
    let v1 = QuorumVerifier::from_config_str("server.1=a:1:2\nversion=100000001").unwrap();
    pc.set_last_seen(v1.clone(), true);
    assert!(dir.join("zoo.cfg.dynamic.next").exists());
    let a = pc.activate(v1.clone(), None);
    assert!(a.changed);
    assert!(!dir.join("zoo.cfg.dynamic.next").exists());
    assert_eq!(pc.committed(), v1);
    let dynamic = std::fs::read_to_string(dir.join("zoo.cfg.dynamic.100000001")).unwrap();
    assert_eq!(dynamic, "server.1=a:1:2:participant");
    let zoo = std::fs::read_to_string(&cfg).unwrap();
    assert!(zoo.ends_with(&format!(
        "dynamicConfigFile={}\n",
        std::fs::canonicalize(dir.join("zoo.cfg.dynamic.100000001"))
            .unwrap()
            .display()
    )));
    // an older config is not taken
    assert!(!pc.activate(v0, None).changed);
    assert_eq!(pc.committed(), v1);
    let off = PeerConfig::new(1, false, cfg, v1.clone());
    let v2 = QuorumVerifier::from_config_str("server.2=a:3:4\nversion=100000002").unwrap();
    assert!(!off.activate(v2, None).changed);
    assert_eq!(off.committed(), v1);
    std::fs::remove_dir_all(&dir).unwrap();
}
