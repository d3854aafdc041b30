use super::*;
use crate::jute::codes::{EventType as E, WatcherType as T};

fn ids(events: &[(WatcherId, WatcherEvent)]) -> Vec<WatcherId> {
    events.iter().map(|(w, _)| *w).collect()
}

#[test]
fn parent_paths_walk_to_root() {
    assert_eq!(
        parent_paths("/a/b/c").collect::<Vec<_>>(),
        ["/a/b/c", "/a/b", "/a", "/"]
    );
    assert_eq!(parent_paths("/").collect::<Vec<_>>(), ["/"]);
    assert_eq!(parent_paths("").count(), 0);
}

#[test]
fn one_shot_data_watch_fires_once_with_sync_connected() {
    let mut m = WatchManager::new();
    m.add_data_watch("/a", 1);
    let ev = m.trigger("/a", E::NODE_DATA_CHANGED);
    assert_eq!(
        ev,
        vec![(
            1,
            WatcherEvent {
                event_type: 3,
                state: 3,
                path: "/a".into()
            }
        )]
    );
    assert!(m.trigger("/a", E::NODE_DATA_CHANGED).is_empty());
    assert_eq!(m.watch_count(), 0);
}

#[test]
fn exists_watch_on_missing_node_sees_creation() {
    let mut m = WatchManager::new();
    m.add_data_watch("/new", 4);
    // The parent's children change goes to the child table only.
    assert!(m.trigger("/", E::NODE_CHILDREN_CHANGED).is_empty());
    assert_eq!(ids(&m.trigger("/new", E::NODE_CREATED)), [4]);
}

#[test]
fn delete_reaches_both_tables_once_per_watcher() {
    let mut m = WatchManager::new();
    m.add_data_watch("/a", 1);
    m.add_child_watch("/a", 1);
    m.add_child_watch("/a", 2);
    let ev = m.trigger("/a", E::NODE_DELETED);
    assert_eq!(ids(&ev), [1, 2]);
    assert!(ev.iter().all(|(_, e)| e.event_type == 2));
    // Watcher 1's child watch was used up although its event came from the data table.
    assert_eq!(m.watch_count(), 0);
}

#[test]
fn children_changed_reaches_child_table_only() {
    let mut m = WatchManager::new();
    m.add_data_watch("/p", 1);
    m.add_child_watch("/p", 2);
    assert_eq!(ids(&m.trigger("/p", E::NODE_CHILDREN_CHANGED)), [2]);
    assert_eq!(ids(&m.trigger("/p", E::NODE_CREATED)), [1]);
    assert!(m.trigger("/p", E::NONE).is_empty());
}

#[test]
fn persistent_watch_stays_and_ignores_descendants() {
    let mut m = WatchManager::new();
    m.add_persistent_watch("/p", 1, false);
    assert_eq!(m.watch_count(), 2, "one pair in each table");
    for e in [
        E::NODE_CREATED,
        E::NODE_DATA_CHANGED,
        E::NODE_CHILDREN_CHANGED,
        E::NODE_DELETED,
    ] {
        assert_eq!(ids(&m.trigger("/p", e)), [1], "{e:?}");
    }
    assert!(m.trigger("/p/c", E::NODE_CREATED).is_empty());
    assert_eq!(m.watch_count(), 2);
}

#[test]
fn recursive_watch_sees_subtree_but_not_children_changed() {
    let mut m = WatchManager::new();
    m.add_persistent_watch("/p", 1, true);
    m.add_data_watch("/p/c/d", 2);
    assert_eq!(ids(&m.trigger("/p/c/d", E::NODE_DATA_CHANGED)), [1, 2]);
    assert_eq!(ids(&m.trigger("/p/c", E::NODE_CREATED)), [1]);
    assert_eq!(ids(&m.trigger("/p", E::NODE_DATA_CHANGED)), [1]);
    assert!(m.trigger("/p", E::NODE_CHILDREN_CHANGED).is_empty());
    assert!(m.trigger("/p/c", E::NODE_CHILDREN_CHANGED).is_empty());
    assert!(m.trigger("/q", E::NODE_CREATED).is_empty());
    assert!(
        m.trigger("/pp", E::NODE_CREATED).is_empty(),
        "prefix is not an ancestor"
    );
    assert_eq!(ids(&m.trigger("/p/c", E::NODE_DELETED)), [1]);
    assert_eq!(
        m.mode("/p", true, 1),
        Some(WatcherMode::PersistentRecursive)
    );
}

#[test]
fn recursive_on_root_sees_everything() {
    let mut m = WatchManager::new();
    m.add_persistent_watch("/", 9, true);
    assert_eq!(ids(&m.trigger("/x/y", E::NODE_CREATED)), [9]);
}

#[test]
fn last_added_mode_wins_per_table() {
    let mut m = WatchManager::new();
    m.add_persistent_watch("/a", 1, false);
    m.add_data_watch("/a", 1);
    assert_eq!(m.mode("/a", false, 1), Some(WatcherMode::Standard));
    assert_eq!(m.mode("/a", true, 1), Some(WatcherMode::Persistent));
    assert_eq!(ids(&m.trigger("/a", E::NODE_DATA_CHANGED)), [1]);
    assert!(
        m.trigger("/a", E::NODE_DATA_CHANGED).is_empty(),
        "now one-shot"
    );
    assert_eq!(ids(&m.trigger("/a", E::NODE_CHILDREN_CHANGED)), [1]);
    assert_eq!(ids(&m.trigger("/a", E::NODE_CHILDREN_CHANGED)), [1]);

    // Recursive replaced by plain persistent: descendants stop firing.
    m.add_persistent_watch("/r", 2, true);
    m.add_persistent_watch("/r", 2, false);
    assert!(m.trigger("/r/x", E::NODE_CREATED).is_empty());
    assert_eq!(
        m.data.size(),
        1,
        "only /r for watcher 2 remains in data table"
    );
}

#[test]
fn closing_a_connection_drops_all_its_watches() {
    let mut m = WatchManager::new();
    m.add_data_watch("/a", 1);
    m.add_child_watch("/b", 1);
    m.add_persistent_watch("/", 1, true);
    m.add_data_watch("/a", 2);
    m.remove_watcher(1);
    assert_eq!(m.watch_count(), 1);
    assert_eq!(ids(&m.trigger("/a", E::NODE_DATA_CHANGED)), [2]);
    assert!(m.trigger("/z", E::NODE_CREATED).is_empty());
    assert_eq!(
        m.summary().connections,
        1,
        "watcher 2's emptied entry remains"
    );
}

/// checkWatches' path is not validated, and 3.8's `PathParentIterator#next` throws on a path
/// without '/': at once for "a", and for "a/b" only once a recursive watch makes it walk up.
#[test]
fn check_watches_on_a_relative_path_fails_where_3_8_throws() {
    let mut m = WatchManager::new();
    assert_eq!(m.contains("a", T::DATA, 1), Err(RelativePath));
    assert_eq!(m.contains("a/b", T::ANY, 1), Ok(false));
    assert_eq!(m.contains("", T::ANY, 1), Ok(false));
    m.add_data_watch("a/b", 1);
    m.add_persistent_watch("/r", 2, true);
    assert_eq!(
        m.contains("a/b", T::DATA, 1),
        Ok(true),
        "found before the walk"
    );
    assert_eq!(m.contains("a/c", T::CHILDREN, 1), Err(RelativePath));
    assert_eq!(m.contains("/x/y", T::ANY, 1), Ok(false));
}

#[test]
fn check_watches_sees_any_connection_on_the_path() {
    let mut m = WatchManager::new();
    m.add_data_watch("/a", 1);
    assert!(m.contains("/a", T::DATA, 1) == Ok(true));
    // 3.8's WatchManager#containsWatcher only asks whether the path is watched at all.
    assert!(m.contains("/a", T::DATA, 2) == Ok(true));
    assert!(m.contains("/a", T::ANY, 2) == Ok(true));
    assert!(m.contains("/a", T::CHILDREN, 1) == Ok(false));
    assert!(m.contains("/b", T::ANY, 1) == Ok(false));
    assert!(m.contains("/a", WatcherType(4), 1) == Ok(false));
    m.add_persistent_watch("/p", 3, false);
    assert!(
        m.contains("/p", T::CHILDREN, 3) == Ok(true) && m.contains("/p", T::DATA, 3) == Ok(true)
    );
    m.add_persistent_watch("/r", 3, true);
    assert!(
        m.contains("/r/x", T::ANY, 3) == Ok(false),
        "ancestors' recursive watches do not count"
    );
}

#[test]
fn remove_watches_by_type() {
    let mut m = WatchManager::new();
    m.add_data_watch("/a", 1);
    m.add_child_watch("/a", 1);
    assert!(
        !m.remove("/a", T::DATA, 2),
        "only the caller's own watch is removed"
    );
    assert!(m.remove("/a", T::CHILDREN, 1));
    assert!(!m.remove("/a", T::CHILDREN, 1));
    assert!(m.remove("/a", T::ANY, 1));
    assert!(!m.remove("/a", T::ANY, 1));
    assert_eq!(m.watch_count(), 0);

    m.add_persistent_watch("/p", 1, true);
    assert!(m.remove("/p", T::DATA, 1));
    // The child-table half stays: still recursive there, but children events never fire it
    // and deletion is the only other event the child table sees.
    assert_eq!(
        m.mode("/p", true, 1),
        Some(WatcherMode::PersistentRecursive)
    );
    assert!(m.trigger("/p/x", E::NODE_CREATED).is_empty());
    assert_eq!(ids(&m.trigger("/p/x", E::NODE_DELETED)), [1]);
    assert!(!m.remove("/p", WatcherType(5), 1));
}

#[test]
fn set_watches_fires_missed_changes_and_registers_the_rest() {
    let mut m = WatchManager::new();
    // node -> (mzxid, pzxid)
    let lookup = |p: &str| match p {
        "/old" => Some((5, 5)),
        "/changed" => Some((12, 5)),
        "/kids" => Some((5, 12)),
        _ => None,
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let ev = m.set_watches(
        10,
        &s(&["/old", "/changed", "/gone"]),
        &s(&["/old", "/missing"]),
        &s(&["/old", "/kids", "/gone"]),
        &s(&["/pers"]),
        &s(&["/rec"]),
        7,
        lookup,
    );
    let got: Vec<(i32, &str)> = ev.iter().map(|e| (e.event_type, e.path.as_str())).collect();
    assert_eq!(
        got,
        [
            (3, "/changed"),
            (2, "/gone"),
            (1, "/old"),
            (4, "/kids"),
            (2, "/gone")
        ]
    );
    assert!(ev.iter().all(|e| e.state == 3));
    assert_eq!(m.mode("/old", false, 7), Some(WatcherMode::Standard));
    assert_eq!(m.mode("/missing", false, 7), Some(WatcherMode::Standard));
    assert_eq!(m.mode("/old", true, 7), Some(WatcherMode::Standard));
    assert_eq!(m.mode("/pers", true, 7), Some(WatcherMode::Persistent));
    assert_eq!(
        m.mode("/rec", false, 7),
        Some(WatcherMode::PersistentRecursive)
    );
    assert_eq!(m.mode("/changed", false, 7), None);
    assert_eq!(m.watch_count(), 3 + 4);
}

#[test]
fn dumps_show_the_data_table_and_keep_emptied_connections() {
    let mut m = WatchManager::new();
    m.add_data_watch("/b", 2);
    m.add_data_watch("/a", 2);
    m.add_data_watch("/a", 1);
    m.add_child_watch("/c", 3); // child-only: invisible to wchc/wchp/wchs
    m.add_persistent_watch("/p", 4, false);
    assert_eq!(
        m.summary(),
        WatchSummary {
            connections: 3,
            paths: 3,
            total_watches: 4
        }
    );
    assert_eq!(m.watch_count(), 4 + 2);
    m.trigger("/a", E::NODE_DATA_CHANGED);
    assert_eq!(
        m.by_watcher(),
        vec![
            (1, vec![]),
            (2, vec!["/b".to_string()]),
            (4, vec!["/p".to_string()])
        ]
    );
    assert_eq!(
        m.by_path(),
        vec![("/b".to_string(), vec![2]), ("/p".to_string(), vec![4])]
    );
    assert_eq!(
        m.summary(),
        WatchSummary {
            connections: 3,
            paths: 2,
            total_watches: 2
        }
    );
}

#[test]
fn filtered_trigger_uses_up_watches_it_does_not_deliver() {
    let mut m = WatchManager::new();
    m.add_data_watch("/s", 1);
    m.add_data_watch("/s", 2);
    let ev = m.trigger_filtered("/s", E::NODE_DATA_CHANGED, |w| w == 2);
    assert_eq!(ids(&ev), [2]);
    assert_eq!(m.watch_count(), 0);
}

/// CVE-2024-23944: a persistent-recursive watcher that may not READ a child hears nothing of
/// it, the watch stays for the next change, and a watcher that may read is told as before.
#[test]
fn refused_recursive_and_persistent_watchers_keep_their_watches() {
    let (reader, blind) = (1, 2);
    let mut m = WatchManager::new();
    for w in [reader, blind] {
        m.add_persistent_watch("/p", w, true);
    }
    m.add_persistent_watch("/p/c", blind, false);
    let only_reader = |w: WatcherId| w == reader;
    for event in [E::NODE_CREATED, E::NODE_DATA_CHANGED, E::NODE_DELETED] {
        let ev = m.trigger_filtered("/p/c", event, only_reader);
        assert_eq!(ids(&ev), [reader], "{event:?}");
        assert_eq!(ev[0].1.path, "/p/c");
    }
    assert_eq!(m.watch_count(), 6, "persistent watches are not used up");
    // once allowed (say, after an auth packet) the same watches deliver again
    let ev = m.trigger_filtered("/p/c", E::NODE_DATA_CHANGED, |_| true);
    assert_eq!(ids(&ev), [reader, blind]);
}

/// One-shot watches go when their event is refused: the reference takes them out of the
/// table in `WatchManager#triggerWatch` before `process` checks the ACL. A NodeDeleted refused
/// through the data table is not sent through the child table either.
#[test]
fn refused_one_shot_watches_are_used_up_in_both_tables() {
    let mut m = WatchManager::new();
    m.add_data_watch("/s", 1);
    m.add_child_watch("/s", 1);
    m.add_child_watch("/s", 2);
    let ev = m.trigger_filtered("/s", E::NODE_DELETED, |w| w == 2);
    assert_eq!(ids(&ev), [2]);
    assert_eq!(m.watch_count(), 0);
    assert!(m.trigger("/s", E::NODE_CREATED).is_empty());
}

/// The same steps were run against Apache ZooKeeper 3.8.0 over the raw protocol (two
/// connections A=1, B=2); the asserted answers, events and counts are what it gave.
#[test]
fn scenario_recorded_from_the_real_server() {
    let (a, b) = (1, 2);
    let mut m = WatchManager::new();
    m.add_data_watch("/t", a);
    assert!(
        m.contains("/t", T::DATA, b) == Ok(true),
        "B has no watch, yet checkWatches says OK"
    );
    assert!(m.contains("/t", T::CHILDREN, b) == Ok(false));
    assert!(m.contains("/t", T::ANY, b) == Ok(true));
    assert!(!m.remove("/t", T::DATA, b));
    assert_eq!(ids(&m.trigger("/t", E::NODE_DATA_CHANGED)), [a]);
    assert_eq!(
        m.summary(),
        WatchSummary {
            connections: 1,
            paths: 0,
            total_watches: 0
        }
    );

    m.add_persistent_watch("/t", a, false);
    assert_eq!(m.watch_count(), 2);
    m.add_data_watch("/t", a);
    assert_eq!(ids(&m.trigger("/t", E::NODE_DATA_CHANGED)), [a]);
    assert!(m.trigger("/t", E::NODE_DATA_CHANGED).is_empty());
    assert!(m.trigger("/t/c", E::NODE_CREATED).is_empty());
    assert_eq!(ids(&m.trigger("/t", E::NODE_CHILDREN_CHANGED)), [a]);
    assert_eq!(m.watch_count(), 1);

    m.add_persistent_watch("/r", a, true);
    assert_eq!(ids(&m.trigger("/r", E::NODE_CREATED)), [a]);
    assert!(m.trigger("/", E::NODE_CHILDREN_CHANGED).is_empty());
    assert_eq!(ids(&m.trigger("/r/x", E::NODE_CREATED)), [a]);
    assert!(m.trigger("/r", E::NODE_CHILDREN_CHANGED).is_empty());
    assert!(m.contains("/r/x", T::ANY, a) == Ok(false));
    assert!(m.remove("/r", T::DATA, a));
    assert_eq!(m.watch_count(), 2);
    assert!(m.trigger("/r/y", E::NODE_CREATED).is_empty());
    assert_eq!(ids(&m.trigger("/r/y", E::NODE_DELETED)), [a]);

    m.add_data_watch("/nope", b); // exists on a missing node
    assert_eq!(m.by_path(), vec![("/nope".to_string(), vec![b])]);
    m.add_child_watch("/", b);
    assert_eq!(
        m.summary(),
        WatchSummary {
            connections: 2,
            paths: 1,
            total_watches: 1
        }
    );
    assert_eq!(m.watch_count(), 4);

    m.add_data_watch("/r/x", b);
    m.add_child_watch("/r/x", b);
    assert_eq!(ids(&m.trigger("/r/x", E::NODE_DELETED)), [a, b]);
    assert!(m.trigger("/r", E::NODE_CHILDREN_CHANGED).is_empty());
    assert_eq!(m.watch_count(), 4);
}

/// `node_*_watch_count`: each table asked for a change reports its watchers, refused ones
/// and ones the other table reached included; a table with none reports nothing.
#[test]
fn each_table_reports_the_watchers_it_had() {
    let mut m = WatchManager::new();
    m.add_data_watch("/s", 1);
    m.add_data_watch("/s", 2);
    m.add_child_watch("/s", 1);
    let mut hits = Vec::new();
    let ev = m.trigger_counted("/s", E::NODE_DELETED, |w| w == 2, |n| hits.push(n));
    assert_eq!(ids(&ev), [2]);
    assert_eq!(hits, [2, 1]);
    hits.clear();
    m.trigger_counted("/s", E::NODE_CREATED, |_| true, |n| hits.push(n));
    assert!(hits.is_empty());
}
