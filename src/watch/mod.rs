//! Watches, as Apache ZooKeeper 3.8 keeps them: `server/watch/WatchManager`, `WatcherMode`,
//! `WatcherModeManager`, `PathParentIterator`, `WatchesReport` / `WatchesPathReport` /
//! `WatchesSummary`, and the watch parts of `DataTree` (`setWatches`, `addWatch`,
//! `containsWatcher`, `removeWatch`, the triggers in `createNode` / `deleteNode` / `setData`).
//!
//! A watcher is a *connection* ([`WatcherId`]), not a session: when a connection closes its
//! watches go ([`WatchManager::remove_watcher`]) and the client re-registers them with
//! SetWatches on its next connection. The caller maps ids to sessions for the dumps.
//!
//! Invariants:
//! * two tables, data and child, as in `DataTree`. getData / exists watches live in the data
//!   table, getChildren watches in the child table, and persistent (recursive or not) watches
//!   in both, each table with its own mode per (path, watcher);
//! * one mode per (path, watcher) in a table: the last add wins (3.8; 3.9 lets modes coexist);
//! * one trigger call delivers at most one event per watcher;
//! * the `wchs` / `wchc` / `wchp` views show the data table only, as `DataTree#getWatches*`
//!   does, while [`WatchManager::watch_count`] counts both tables (`DataTree#getWatchCount`).
//!
//! Nothing here knows ACLs. The reference (3.8.0 with the CVE-2024-23944 fix, as 3.8.4's
//! ZOOKEEPER-4799) drops at delivery every event — one-shot or persistent — whose watcher may
//! not READ the changed node (`NIOServerCnxn#process(WatchedEvent, List<ACL>)`): the pipeline
//! passes that check to [`WatchManager::trigger_filtered`]. SetWatches' catch-up events are
//! not filtered (`DataTree#setWatches` calls `process(WatchedEvent)`, which checks no ACL).

mod set_watches;
mod table;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use crate::jute::codes::{EventType, KeeperState, WatcherType};
use crate::jute::proto::WatcherEvent;
use table::Table;

/// Identifies one client connection (`ServerCnxn` in the reference).
pub type WatcherId = u64;

/// `server/watch/WatcherMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatcherMode {
    /// One-shot: removed when it fires.
    Standard,
    /// Stays, fires for changes to its own path.
    Persistent,
    /// Stays, fires for its path and every descendant, except NodeChildrenChanged.
    PersistentRecursive,
}

/// `WatchesSummary`, for `wchs` and the `watch_summary` admin command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WatchSummary {
    /// Connections that have had a data watch since connecting (`num_connections`), counting
    /// those whose watches have all fired, as 3.8 does.
    pub connections: usize,
    /// Paths with at least one data watch (`num_paths`).
    pub paths: usize,
    /// (connection, path) data-watch pairs (`num_total_watches`).
    pub total_watches: usize,
}

/// `PathParentIterator#next` met a path with no '/' (3.8 cuts at `lastIndexOf('/')`, -1, and
/// throws StringIndexOutOfBoundsException). Only checkWatches reaches it: its path is never
/// validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelativePath;

/// The path `PathParentIterator#next` moves to after `cur` (`None`: past `/`, the end).
fn parent_step(cur: &str) -> Result<Option<&str>, RelativePath> {
    match cur.rfind('/') {
        _ if cur == "/" => Ok(None),
        Some(0) => Ok(Some("/")),
        Some(i) => Ok(Some(&cur[..i])),
        None => Err(RelativePath),
    }
}

/// `PathParentIterator#forAll`: `path`, then each ancestor up to `/` (for the validated paths
/// of a change; a relative path just ends).
pub(crate) fn parent_paths(path: &str) -> impl Iterator<Item = &str> {
    let mut next = (!path.is_empty()).then_some(path);
    std::iter::from_fn(move || {
        let cur = next?;
        next = parent_step(cur).ok().flatten();
        Some(cur)
    })
}

fn event(event_type: EventType, path: &str) -> WatcherEvent {
    WatcherEvent {
        event_type: event_type.0,
        state: KeeperState::SYNC_CONNECTED.0,
        path: path.to_owned(),
    }
}

/// All watches of one server (`DataTree.dataWatches` + `DataTree.childWatches`).
#[derive(Debug, Default, Clone)]
pub struct WatchManager {
    data: Table,
    child: Table,
}

impl WatchManager {
    pub fn new() -> Self {
        Self::default()
    }

    /// A getData or exists watch (one-shot, data table). exists registers it whether or not
    /// the node exists (`DataTree#statNode` adds before its NoNode check), which is how an
    /// exists watch later sees NodeCreated. The caller must not add for a closed connection
    /// (`WatchManager#isDeadWatcher`): nothing would ever remove it.
    pub fn add_data_watch(&mut self, path: &str, w: WatcherId) {
        self.data.add(path, w, WatcherMode::Standard);
    }

    /// A getChildren / getChildren2 watch (one-shot, child table).
    pub fn add_child_watch(&mut self, path: &str, w: WatcherId) {
        self.child.add(path, w, WatcherMode::Standard);
    }

    /// addWatch (`DataTree#addWatch`): into both tables, replacing any mode the pair had.
    /// The node need not exist.
    pub fn add_persistent_watch(&mut self, path: &str, w: WatcherId, recursive: bool) {
        let mode = if recursive {
            WatcherMode::PersistentRecursive
        } else {
            WatcherMode::Persistent
        };
        self.data.add(path, w, mode);
        self.child.add(path, w, mode);
    }

    /// The events one tree change sends, each watcher at most once, by watcher id. Call once
    /// per (path, event) the tree reports: NodeCreated / NodeDataChanged reach the data
    /// table, NodeDeleted both tables (a watcher reached through the data table is not sent
    /// a second event from the child table, though its one-shot child watch is still used
    /// up, `DataTree#deleteNode`), NodeChildrenChanged the child table. Other types: nothing.
    pub fn trigger(&mut self, path: &str, event_type: EventType) -> Vec<(WatcherId, WatcherEvent)> {
        self.trigger_filtered(path, event_type, |_| true)
    }

    /// [`WatchManager::trigger`], then drops the events for watchers `can_read` refuses.
    /// Watches are used up either way, and a watcher refused through the data table gets
    /// nothing from the child table for the same NodeDeleted, as in the reference where the
    /// READ check happens at delivery (`ServerCnxn#process(WatchedEvent, List<ACL>)`) after
    /// `WatchManager#triggerWatch` has taken the watchers. `can_read` should check READ on
    /// the ACL `path` had at the change (the deleted node's own ACL for NodeDeleted, the
    /// parent's for NodeChildrenChanged: `tree::WatchTrigger::acl`).
    pub fn trigger_filtered(
        &mut self,
        path: &str,
        event_type: EventType,
        can_read: impl FnMut(WatcherId) -> bool,
    ) -> Vec<(WatcherId, WatcherEvent)> {
        self.trigger_counted(path, event_type, can_read, |_| {})
    }

    /// [`WatchManager::trigger_filtered`], telling `table_hits` how many watchers each table
    /// it asked had for the change, when it had any (`WatchManager#triggerWatch` adds that
    /// to the `node_*_watch_count` summaries, before any READ check).
    pub fn trigger_counted(
        &mut self,
        path: &str,
        event_type: EventType,
        mut can_read: impl FnMut(WatcherId) -> bool,
        mut table_hits: impl FnMut(usize),
    ) -> Vec<(WatcherId, WatcherEvent)> {
        let mut counted = |hit: BTreeSet<WatcherId>| {
            if !hit.is_empty() {
                table_hits(hit.len());
            }
            hit
        };
        let hit: BTreeSet<WatcherId> = match event_type {
            EventType::NODE_CREATED | EventType::NODE_DATA_CHANGED => {
                counted(self.data.trigger(path, event_type))
            }
            EventType::NODE_DELETED => {
                let mut hit = counted(self.data.trigger(path, event_type));
                hit.extend(counted(self.child.trigger(path, event_type)));
                hit
            }
            EventType::NODE_CHILDREN_CHANGED => counted(self.child.trigger(path, event_type)),
            _ => BTreeSet::new(),
        };
        hit.into_iter()
            .filter(|&w| can_read(w))
            .map(|w| (w, event(event_type, path)))
            .collect()
    }

    /// The connection closed: all its watches go (`DataTree#removeCnxn`).
    pub fn remove_watcher(&mut self, w: WatcherId) {
        self.data.remove_watcher(w);
        self.child.remove_watcher(w);
    }

    /// checkWatches (`DataTree#containsWatcher`): Children looks at the child table, Data at
    /// the data table, Any at both; persistent watches are in both tables so every type sees
    /// them. Quirk kept from 3.8: a table answers yes when *any* connection watches `path`
    /// there (see `Table::contains`). Any asks the child table, then the data table even after
    /// a yes. Unknown types answer false.
    pub fn contains(
        &self,
        path: &str,
        ty: WatcherType,
        w: WatcherId,
    ) -> Result<bool, RelativePath> {
        match ty {
            WatcherType::CHILDREN => self.child.contains(path, w),
            WatcherType::DATA => self.data.contains(path, w),
            WatcherType::ANY => {
                let child = self.child.contains(path, w)?;
                let data = self.data.contains(path, w)?;
                Ok(child || data)
            }
            _ => Ok(false),
        }
    }

    /// removeWatches (`DataTree#removeWatch`): removes this connection's watch on `path` from
    /// the table(s) the type names, whatever its mode — so Data on a persistent watch leaves
    /// its child-table half in place. False (NoWatcher) if nothing was removed.
    pub fn remove(&mut self, path: &str, ty: WatcherType, w: WatcherId) -> bool {
        match ty {
            WatcherType::CHILDREN => self.child.remove(path, w),
            WatcherType::DATA => self.data.remove(path, w),
            WatcherType::ANY => {
                let child = self.child.remove(path, w);
                let data = self.data.remove(path, w);
                child || data
            }
            _ => false,
        }
    }

    /// The mode of `w` on `path` in the data (or child) table, if it watches it there.
    pub fn mode(&self, path: &str, child_table: bool, w: WatcherId) -> Option<WatcherMode> {
        let table = if child_table { &self.child } else { &self.data };
        table.by_path.get(path)?.get(&w).copied()
    }

    /// `mntr`'s watch_count: pairs in both tables (`DataTree#getWatchCount`), so a
    /// persistent watch counts twice.
    pub fn watch_count(&self) -> usize {
        self.data.size() + self.child.size()
    }

    /// `wchs` (`WatchManager#getWatchesSummary` of the data table).
    pub fn summary(&self) -> WatchSummary {
        WatchSummary {
            connections: self.data.by_watcher.len(),
            paths: self.data.by_path.len(),
            total_watches: self.data.by_watcher.values().map(|p| p.len()).sum(),
        }
    }

    /// `wchc` (`WatchManager#getWatches` of the data table): per connection its watched
    /// paths, connections whose watches all fired included with no paths. Sorted by id and
    /// path (the reference prints in HashMap order).
    pub fn by_watcher(&self) -> Vec<(WatcherId, Vec<String>)> {
        let mut out: Vec<(WatcherId, Vec<String>)> = self
            .data
            .by_watcher
            .iter()
            .map(|(&w, paths)| {
                let mut paths: Vec<String> = paths.iter().cloned().collect();
                paths.sort_unstable();
                (w, paths)
            })
            .collect();
        out.sort_unstable_by_key(|(w, _)| *w);
        out
    }

    /// `wchp` (`WatchManager#getWatchesByPath` of the data table): per path its watchers,
    /// sorted by path and id.
    pub fn by_path(&self) -> Vec<(String, Vec<WatcherId>)> {
        let mut out: Vec<(String, Vec<WatcherId>)> = self
            .data
            .by_path
            .iter()
            .map(|(path, ws)| {
                let mut ws: Vec<WatcherId> = ws.keys().copied().collect();
                ws.sort_unstable();
                (path.clone(), ws)
            })
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }
}
