//! One watch table (`server/watch/WatchManager` with its `WatcherModeManager`): the reference
//! keeps two, one for data watches and one for child watches.
//!
//! Invariants (those of 3.8's `WatchManager`):
//! * a watcher is on a path of this table iff the path is in its `by_watcher` set; each
//!   (path, watcher) pair has exactly one mode, the last one added;
//! * `by_watcher` keeps a watcher's entry after its paths are gone (fired or removed) until
//!   the connection is dropped — `wchs` counts such connections;
//! * `recursive` counts the pairs in [`WatcherMode::PersistentRecursive`].

use std::collections::{BTreeSet, HashMap, HashSet};

use super::{parent_paths, parent_step, RelativePath, WatcherId, WatcherMode};
use crate::jute::codes::EventType;

#[derive(Debug, Default, Clone)]
pub(super) struct Table {
    /// `watchTable` and the modes of `WatcherModeManager`, merged.
    pub(super) by_path: HashMap<String, HashMap<WatcherId, WatcherMode>>,
    /// `watch2Paths`.
    pub(super) by_watcher: HashMap<WatcherId, HashSet<String>>,
    recursive: usize,
}

impl Table {
    /// `WatchManager#addWatch`: a second add of the same pair replaces its mode
    /// (`WatcherModeManager#setWatcherMode`), so a plain getData watch turns a persistent
    /// watch back into a one-shot one.
    pub(super) fn add(&mut self, path: &str, w: WatcherId, mode: WatcherMode) {
        let prev = self
            .by_path
            .entry(path.to_owned())
            .or_default()
            .insert(w, mode);
        self.adjust_recursive(prev, Some(mode));
        let paths = self.by_watcher.entry(w).or_default();
        if !paths.contains(path) {
            paths.insert(path.to_owned());
        }
    }

    fn adjust_recursive(&mut self, old: Option<WatcherMode>, new: Option<WatcherMode>) {
        let was = old == Some(WatcherMode::PersistentRecursive);
        let is = new == Some(WatcherMode::PersistentRecursive);
        match (was, is) {
            (false, true) => self.recursive += 1,
            (true, false) => self.recursive = self.recursive.saturating_sub(1),
            _ => {}
        }
    }

    /// `WatchManager#removeWatcher(Watcher)`: the connection is gone.
    pub(super) fn remove_watcher(&mut self, w: WatcherId) {
        let Some(paths) = self.by_watcher.remove(&w) else {
            return;
        };
        for p in paths {
            self.unlink(&p, w);
        }
    }

    /// Take `w` off `path` in `by_path` only; true if it was there.
    fn unlink(&mut self, path: &str, w: WatcherId) -> bool {
        let Some(watchers) = self.by_path.get_mut(path) else {
            return false;
        };
        let old = watchers.remove(&w);
        if watchers.is_empty() {
            self.by_path.remove(path);
        }
        self.adjust_recursive(old, None);
        old.is_some()
    }

    /// `WatchManager#removeWatcher(String, Watcher)`: drops the pair whatever its mode.
    pub(super) fn remove(&mut self, path: &str, w: WatcherId) -> bool {
        let removed = self
            .by_watcher
            .get_mut(&w)
            .is_some_and(|paths| paths.remove(path));
        removed && self.unlink(path, w)
    }

    /// `WatchManager#containsWatcher` as 3.8 has it: true when *any* watcher is on `path` in
    /// this table, whoever asks — the watcher is only consulted for a recursive mode on
    /// `path` itself, which implies the same. (3.9's ZOOKEEPER-4466 rewrite checks the
    /// watcher; 3.8 does not.) The answer comes from a `PathParentIterator` that steps to the
    /// next path before yielding the current one: once for `path` alone while the table holds
    /// no recursive watch (`forPathOnly`), else up to `/` after a miss (`forAll`), so a path
    /// not starting with '/' can fail with [`RelativePath`].
    pub(super) fn contains(&self, path: &str, _w: WatcherId) -> Result<bool, RelativePath> {
        if path.is_empty() {
            return Ok(false);
        }
        let mut next = parent_step(path)?;
        if self.by_path.contains_key(path) {
            return Ok(true);
        }
        if self.recursive > 0 {
            while let Some(cur) = next {
                next = parent_step(cur)?;
            }
        }
        Ok(false)
    }

    /// `WatchManager#triggerWatch`: the watchers this change reaches. Watchers on `path`
    /// itself fire (one-shot ones are dropped); on ancestors only recursive ones fire, and
    /// never for NodeChildrenChanged. Ancestors are walked only while a recursive watch exists.
    pub(super) fn trigger(&mut self, path: &str, event: EventType) -> BTreeSet<WatcherId> {
        let mut hit = BTreeSet::new();
        for (level, local) in parent_paths(path).enumerate() {
            if level > 0 && self.recursive == 0 {
                break;
            }
            let Some(watchers) = self.by_path.get_mut(local) else {
                continue;
            };
            let mut one_shot = Vec::new();
            for (&w, &mode) in watchers.iter() {
                let recursive = mode == WatcherMode::PersistentRecursive;
                match mode {
                    _ if recursive && event != EventType::NODE_CHILDREN_CHANGED => {
                        hit.insert(w);
                    }
                    _ if !recursive && level == 0 => {
                        hit.insert(w);
                        if mode == WatcherMode::Standard {
                            one_shot.push(w);
                        }
                    }
                    _ => {}
                }
            }
            for w in &one_shot {
                watchers.remove(w);
            }
            if watchers.is_empty() {
                self.by_path.remove(local);
            }
            for w in one_shot {
                if let Some(paths) = self.by_watcher.get_mut(&w) {
                    paths.remove(local);
                }
            }
        }
        hit
    }

    /// `WatchManager#size`: (path, watcher) pairs.
    pub(super) fn size(&self) -> usize {
        self.by_path.values().map(HashMap::len).sum()
    }
}
