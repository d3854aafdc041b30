//! A connection's outbound queue: replies and watch events from the core to the
//! connection's writer, in order, unbounded (the core never waits on a client).
//!
//! Lighter than a channel where it matters: an idle connection's queue holds no buffer
//! (a tokio channel keeps a 32-slot block per connection, ~1.3 KiB × 10,000 idle sessions),
//! and the buffer a burst grew is given back once the writer has drained it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::reply::Outbound;

/// Capacity kept after a drain; anything larger is released.
const KEEP: usize = 16;

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Outbound>,
    receiver_gone: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    senders: AtomicUsize,
    notify: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // a panic elsewhere cannot leave the queue half-updated: push/pop are single calls
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The core's end; cheap to clone.
#[derive(Debug)]
pub struct OutboundTx(Arc<Shared>);

/// The writer's end.
#[derive(Debug)]
pub struct OutboundRx(Arc<Shared>);

/// A new, empty queue.
pub fn outbound_queue() -> (OutboundTx, OutboundRx) {
    let shared = Arc::new(Shared {
        senders: AtomicUsize::new(1),
        ..Shared::default()
    });
    (OutboundTx(shared.clone()), OutboundRx(shared))
}

impl OutboundTx {
    /// Queue `msg` without waking the writer; `Ok(true)` when the queue was empty, so the
    /// writer must be woken ([`OutboundTx::wake`]) once the sender's batch is queued.
    pub fn push(&self, msg: Outbound) -> Result<bool, Outbound> {
        let mut s = self.0.lock();
        if s.receiver_gone {
            return Err(msg);
        }
        let was_empty = s.queue.is_empty();
        s.queue.push_back(msg);
        Ok(was_empty)
    }

    /// Wakes the writer for what [`OutboundTx::push`] queued.
    pub fn wake(&self) {
        self.0.notify.notify_one();
    }

    /// Queue `msg`; gives it back if the connection's writer is gone.
    pub fn send(&self, msg: Outbound) -> Result<(), Outbound> {
        {
            let mut s = self.0.lock();
            if s.receiver_gone {
                return Err(msg);
            }
            s.queue.push_back(msg);
        }
        self.0.notify.notify_one();
        Ok(())
    }
}

impl Clone for OutboundTx {
    fn clone(&self) -> Self {
        self.0.senders.fetch_add(1, Ordering::Relaxed);
        OutboundTx(self.0.clone())
    }
}

impl Drop for OutboundTx {
    fn drop(&mut self) {
        if self.0.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.notify.notify_one();
        }
    }
}

impl OutboundRx {
    /// The next message; None once every sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Outbound> {
        loop {
            if let Some(msg) = self.try_recv() {
                return Some(msg);
            }
            if self.0.senders.load(Ordering::Acquire) == 0 {
                return self.try_recv();
            }
            self.0.notify.notified().await;
        }
    }

    /// A message already queued, if any; an emptied queue gives back a grown buffer.
    pub fn try_recv(&mut self) -> Option<Outbound> {
        let mut s = self.0.lock();
        let msg = s.queue.pop_front();
        if s.queue.is_empty() && s.queue.capacity() > KEEP {
            s.queue = VecDeque::new();
        }
        msg
    }
}

impl Drop for OutboundRx {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.receiver_gone = true;
        s.queue.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::codes::ErrorCode;

    fn frame(n: u8) -> Outbound {
        Outbound::header(i32::from(n), 0, ErrorCode::OK)
    }

    fn xid_of(msg: Option<Outbound>) -> Option<i32> {
        match msg {
            Some(Outbound::Reply { xid, .. }) => Some(xid),
            _ => None,
        }
    }

    #[tokio::test]
    async fn in_order_then_none_when_the_senders_are_gone() {
        let (tx, mut rx) = outbound_queue();
        let tx2 = tx.clone();
        tx.send(frame(1)).unwrap();
        tx2.send(frame(2)).unwrap();
        tx.send(Outbound::Close).unwrap();
        assert_eq!(xid_of(rx.recv().await), Some(1));
        assert_eq!(xid_of(rx.recv().await), Some(2));
        assert!(matches!(rx.recv().await, Some(Outbound::Close)));
        drop(tx);
        drop(tx2);
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn a_waiting_writer_wakes_and_a_gone_writer_refuses() {
        let (tx, mut rx) = outbound_queue();
        let waiter = tokio::spawn(async move {
            let got = rx.recv().await;
            (got, rx)
        });
        tokio::task::yield_now().await;
        tx.send(frame(7)).unwrap();
        let (got, rx) = waiter.await.unwrap();
        assert_eq!(xid_of(got), Some(7));
        drop(rx);
        assert!(tx.send(frame(8)).is_err());
    }

    #[tokio::test]
    async fn a_drained_burst_gives_its_buffer_back() {
        let (tx, mut rx) = outbound_queue();
        for i in 0..1000u32 {
            tx.send(frame(u8::try_from(i % 250).unwrap())).unwrap();
        }
        while rx.try_recv().is_some() {}
        assert_eq!(rx.0.lock().queue.capacity(), 0);
    }
}
