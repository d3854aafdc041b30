//! SetWatches / SetWatches2 after a reconnect (`DataTree#setWatches`, called from
//! `FinalRequestProcessor` for opcodes 101 and 105; SetWatches passes empty persistent lists).

use super::{event, WatchManager, WatcherId, WatcherMode};
use crate::jute::codes::EventType;
use crate::jute::proto::WatcherEvent;

impl WatchManager {
    /// Re-registers a reconnecting client's watches on connection `w`, or fires at once what
    /// the client missed while away. `lookup(path)` gives `Some((mzxid, pzxid))` for an
    /// existing node. Per list, in this order, each path in its list order:
    /// * data: node gone → NodeDeleted; `mzxid > relative_zxid` → NodeDataChanged; else a
    ///   one-shot data watch;
    /// * exist: node present → NodeCreated (even if it existed before); else a one-shot data
    ///   watch;
    /// * child: node gone → NodeDeleted; `pzxid > relative_zxid` → NodeChildrenChanged;
    ///   else a one-shot child watch;
    /// * persistent / persistent_recursive: registered in both tables, nothing fired.
    ///
    /// The events are not ACL-filtered in any 3.8 release, and may repeat a path.
    #[allow(clippy::too_many_arguments)]
    pub fn set_watches(
        &mut self,
        relative_zxid: i64,
        data: &[String],
        exist: &[String],
        child: &[String],
        persistent: &[String],
        persistent_recursive: &[String],
        w: WatcherId,
        lookup: impl Fn(&str) -> Option<(i64, i64)>,
    ) -> Vec<WatcherEvent> {
        let mut fired = Vec::new();
        for path in data {
            match lookup(path) {
                None => fired.push(event(EventType::NODE_DELETED, path)),
                Some((mzxid, _)) if mzxid > relative_zxid => {
                    fired.push(event(EventType::NODE_DATA_CHANGED, path))
                }
                Some(_) => self.data.add(path, w, WatcherMode::Standard),
            }
        }
        for path in exist {
            match lookup(path) {
                Some(_) => fired.push(event(EventType::NODE_CREATED, path)),
                None => self.data.add(path, w, WatcherMode::Standard),
            }
        }
        for path in child {
            match lookup(path) {
                None => fired.push(event(EventType::NODE_DELETED, path)),
                Some((_, pzxid)) if pzxid > relative_zxid => {
                    fired.push(event(EventType::NODE_CHILDREN_CHANGED, path))
                }
                Some(_) => self.child.add(path, w, WatcherMode::Standard),
            }
        }
        for path in persistent {
            self.add_persistent_watch(path, w, false);
        }
        for path in persistent_recursive {
            self.add_persistent_watch(path, w, true);
        }
        fired
    }
}
