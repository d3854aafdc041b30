#![allow(clippy::unwrap_used)]
use super::*;

fn spec(sid: i64, value: &str) -> QuorumServerSpec {
    parse_server(sid, value, true).unwrap()
}

fn three() -> QuorumVerifier {
    QuorumVerifier::majority(
        (1..=3).map(|i| spec(i, &format!("127.0.0.1:{}:{}", 2880 + i, 3880 + i))),
        0,
    )
}

#[test]
fn majority_string_as_quorum_maj_prints_it() {
    assert_eq!(
        three().to_string(),
        "server.1=127.0.0.1:2881:3881:participant\n\
         server.2=127.0.0.1:2882:3882:participant\n\
         server.3=127.0.0.1:2883:3883:participant\n\
         version=0"
    );
}

#[test]
fn observer_client_address_ipv6_and_hex_version() {
    let qv = QuorumVerifier::majority(
        [
            spec(1, "[::1]:2888:3888;2181"),
            spec(2, "zk2:2888:3888:observer;10.0.0.2:2182"),
        ],
        0x1_0000_0003,
    );
    assert_eq!(
        qv.to_string(),
        "server.1=[::1]:2888:3888:participant;0.0.0.0:2181\n\
         server.2=zk2:2888:3888:observer;10.0.0.2:2182\n\
         version=100000003"
    );
    assert_eq!(qv.voting_members(), BTreeSet::from([1]));
    assert_eq!(qv.observing_members(), BTreeSet::from([2]));
    assert!(qv.contains_quorum(&BTreeSet::from([1])));
}

#[test]
fn multi_address_lists_are_sorted_by_host_each_on_their_own() {
    let qv = QuorumVerifier::majority([spec(1, "b:1:2|a:3:4")], 1);
    assert_eq!(
        qv.to_string(),
        "server.1=a:3:4|b:1:2:participant\nversion=1"
    );
}

#[test]
fn java_hash_map_order_for_large_sids() {
    // capacity 16: 17 lands in bucket 1, 16 in bucket 0, so 16,1,17,2
    assert_eq!(java_hash_order([1, 2, 16, 17]), vec![16, 1, 17, 2]);
    // -1 hashes to 0 (high and low words cancel)
    assert_eq!(java_hash_order([-1, 3]), vec![-1, 3]);
    let many: Vec<i64> = (1..=13).collect();
    assert_eq!(java_hash_order(many.clone()), many, "grown to 32 buckets");
}

#[test]
fn majority_quorum_needs_more_than_half() {
    let qv = three();
    assert!(!qv.contains_quorum(&BTreeSet::from([1])));
    assert!(qv.contains_quorum(&BTreeSet::from([1, 3])));
    assert_eq!(qv.weight(99), 1);
}

#[test]
fn round_trip_through_config_string() {
    let qv = three();
    let back = QuorumVerifier::from_config_str(&qv.to_string()).unwrap();
    assert_eq!(back, qv);
    assert!(QuorumVerifier::from_config_str("server.x=a:1:2").is_err());
    assert!(QuorumVerifier::from_config_str("junk").is_err());
}

fn hier() -> QuorumVerifier {
    let text = "server.1=h:1:2:participant\nserver.2=h:3:4:participant\n\
                server.3=h:5:6:participant\nserver.4=h:7:8:participant\n\
                server.5=h:9:10:participant\nserver.6=h:11:12:observer\n\
                group.1=1:2:3\ngroup.2=4:5\nweight.3=0\nversion=a";
    QuorumVerifier::from_config_str(text).unwrap()
}

#[test]
fn hierarchical_quorum_is_a_majority_of_weighted_groups() {
    let qv = hier();
    assert_eq!(qv.version(), 10);
    assert_eq!(qv.weight(3), 0);
    assert_eq!(qv.weight(6), 0, "observer has no weight");
    // group 1 weight 2 (1+1+0): needs > 1; group 2 weight 2: needs > 1; 2 groups: need > 1
    assert!(!qv.contains_quorum(&BTreeSet::from([1, 2])));
    assert!(qv.contains_quorum(&BTreeSet::from([1, 2, 4, 5])));
    assert!(!qv.contains_quorum(&BTreeSet::from([1, 3, 4, 5])));
    assert!(!qv.contains_quorum(&BTreeSet::new()));
}

#[test]
fn hierarchical_string_lists_groups_and_weights() {
    assert_eq!(
        hier().to_string(),
        "server.1=h:1:2:participant\nserver.2=h:3:4:participant\n\
         server.3=h:5:6:participant\nserver.4=h:7:8:participant\n\
         server.5=h:9:10:participant\nserver.6=h:11:12:observer\n\
         group.1=1:2:3\ngroup.2=4:5\n\
         weight.1=1\nweight.2=1\nweight.3=0\nweight.4=1\nweight.5=1\nversion=a"
    );
}

#[test]
fn hierarchical_rejects_what_the_reference_rejects() {
    let two_groups = "server.1=h:1:2\ngroup.1=1\ngroup.2=1";
    assert_eq!(
        QuorumVerifier::from_config_str(two_groups),
        Err(VerifierError::MultipleGroups(1))
    );
    let ungrouped = "server.1=h:1:2\nserver.2=h:3:4\ngroup.1=1";
    assert_eq!(
        QuorumVerifier::from_config_str(ungrouped),
        Err(VerifierError::NotInGroup(2))
    );
}

#[test]
fn equality_by_version_or_members() {
    let mut a = three();
    let mut b = three();
    b.set_version(5);
    assert!(a.same_as(&b));
    a = QuorumVerifier::majority([spec(1, "h:1:2")], 7);
    assert!(!a.same_as(&b));
}
