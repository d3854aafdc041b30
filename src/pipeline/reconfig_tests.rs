use super::*;

fn three() -> QuorumVerifier {
    QuorumVerifier::from_config_str(
        "server.1=127.0.0.1:2001:3001:participant;127.0.0.1:4001\n\
         server.2=127.0.0.1:2002:3002:participant;127.0.0.1:4002\n\
         server.3=127.0.0.1:2003:3003:participant;127.0.0.1:4003\n\
         version=100000000",
    )
    .unwrap()
}

fn view(synced: &[i64]) -> LeaderConfigs {
    LeaderConfigs {
        committed: three(),
        last_seen: three(),
        synced: synced.iter().copied().collect(),
        standalone_enabled: true,
    }
}

fn req(joining: Option<&str>, leaving: Option<&str>, members: Option<&str>) -> ReconfigRequest {
    ReconfigRequest {
        joining_servers: joining.map(str::to_owned),
        leaving_servers: leaving.map(str::to_owned),
        new_members: members.map(str::to_owned),
        cur_config_id: -1,
    }
}

const FOUR: &str = "server.4=127.0.0.1:2004:3004:participant;127.0.0.1:4004";

#[test]
fn incremental_join_and_leave_version_the_config_with_the_zxid() {
    let qv = next_config(
        &req(Some(FOUR), Some("2"), None),
        0x2_0000_0005,
        &view(&[1, 3, 4]),
    )
    .unwrap();
    assert_eq!(qv.version(), 0x2_0000_0005);
    assert_eq!(
        qv.all_members().keys().copied().collect::<Vec<_>>(),
        [1, 3, 4]
    );
    assert!(qv.to_string().ends_with("version=200000005"), "{qv}");
}

#[test]
fn non_incremental_members_may_be_comma_separated() {
    let members = "server.1=127.0.0.1:2001:3001:participant;127.0.0.1:4001,\
                   server.2=127.0.0.1:2002:3002:participant;127.0.0.1:4002";
    let qv = next_config(&req(None, None, Some(members)), 7, &view(&[1, 2])).unwrap();
    assert_eq!(qv.voting_members().len(), 2);
    let bad = next_config(&req(None, None, Some("tickTime=2000")), 7, &view(&[1, 2]));
    assert_eq!(bad.unwrap_err(), ErrorCode::BAD_ARGUMENTS);
}

#[test]
fn checks_answer_with_zookeepers_codes() {
    let v = view(&[1, 2, 3]);
    let mut r = req(None, Some("3"), None);
    r.cur_config_id = 5;
    assert_eq!(next_config(&r, 9, &v).unwrap_err(), ErrorCode::BAD_VERSION);
    r.cur_config_id = 0x1_0000_0000;
    assert!(next_config(&r, 9, &v).is_ok());
    // only the leader synced among the voters left
    let lonely = view(&[1]);
    let err = next_config(&req(None, Some("3"), None), 9, &lonely).unwrap_err();
    assert_eq!(err, ErrorCode::NEW_CONFIG_NO_QUORUM);
    // fewer than 2 voters left
    let err = next_config(&req(None, Some("2,3"), None), 9, &v).unwrap_err();
    assert_eq!(err, ErrorCode::BAD_ARGUMENTS);
    // a joiner without a client port
    let err = next_config(
        &req(Some("server.4=127.0.0.1:2004:3004"), None, None),
        9,
        &v,
    );
    assert_eq!(err.unwrap_err(), ErrorCode::BAD_ARGUMENTS);
    let mut pending = view(&[1, 2, 3]);
    pending.last_seen.set_version(0x1_0000_0007);
    let err = next_config(&req(None, Some("3"), None), 9, &pending).unwrap_err();
    assert_eq!(err, ErrorCode::RECONFIG_IN_PROGRESS);
}

#[test]
fn a_joiner_may_not_reuse_an_address_of_another_member() {
    let v = LeaderConfigs {
        committed: QuorumVerifier::from_config_str(
            "server.1=10.0.0.1:2001:3001:participant;10.0.0.1:4001\n\
             server.2=10.0.0.2:2002:3002:participant;10.0.0.2:4002\n\
             server.3=10.0.0.3:2003:3003:participant;10.0.0.3:4003",
        )
        .unwrap(),
        last_seen: QuorumVerifier::from_config_str(
            "server.1=10.0.0.1:2001:3001:participant;10.0.0.1:4001\n\
             server.2=10.0.0.2:2002:3002:participant;10.0.0.2:4002\n\
             server.3=10.0.0.3:2003:3003:participant;10.0.0.3:4003",
        )
        .unwrap(),
        synced: [1, 2, 3, 4].into_iter().collect(),
        standalone_enabled: true,
    };
    let clash = "server.4=10.0.0.4:2004:3004:participant;10.0.0.2:4002";
    assert_eq!(
        next_config(&req(Some(clash), None, None), 9, &v).unwrap_err(),
        ErrorCode::BAD_ARGUMENTS
    );
    let fine = "server.4=10.0.0.4:2004:3004:participant;10.0.0.4:4004";
    assert!(next_config(&req(Some(fine), None, None), 9, &v).is_ok());
}

/// The txn of a reconfig carries the new config's text as is, and its reply is that text.
#[test]
fn the_reconfig_txn_sets_the_config_node_to_the_new_text() {
    use crate::pipeline::pending::PendingChanges;
    use crate::pipeline::prep::{PrepConfig, PrepContext};
    use crate::tree::DataTree;
    let tree = DataTree::new(false);
    let mut pending = PendingChanges::default();
    let config = PrepConfig {
        reconfig_enabled: true,
        acl: crate::pipeline::auth::AclPolicy {
            skip_acl: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let txn = PrepContext {
        tree: &tree,
        pending: &mut pending,
        config: &config,
        auth: &[],
        session_id: 1,
        cxid: 1,
        zxid: 0x1_0000_0009,
        time: 0,
    }
    .reconfig(&req(None, Some("3"), None), &view(&[1, 2, 3]));
    let crate::jute::txn::TxnBody::SetData(t) = &txn.body else {
        panic!("{txn:?}");
    };
    let text = String::from_utf8(t.data.clone().unwrap().to_vec()).unwrap();
    assert!(text.starts_with("server.1="), "{text:?}");
    assert!(text.ends_with("version=100000009"), "{text:?}");
    assert_eq!(
        (txn.header.op, t.version),
        (crate::jute::codes::OpCode::RECONFIG, -1)
    );
}
