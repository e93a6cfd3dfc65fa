//! What the breaker tells the store without waiting (`publish_open`,
//! `publish_closed`, `release_probe`): queued, and sent one after another
//! by one task, so that Redis applies them in the order they were made.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::mpsc::{self, error::TrySendError};

use super::Shared;

/// How many messages may wait to be sent. Past that (Redis slow or away
/// for long), a publish is refused and a release dropped; a dropped
/// release's lease expires by itself.
const QUEUE: usize = 1024;

/// A message for Redis, its keys already named.
#[derive(Debug)]
pub(super) enum Op {
    Open {
        marker: String,
        record: String,
        open_ms: u64,
        keep_ms: u64,
    },
    Closed {
        marker: String,
        record: String,
    },
    Release {
        record: String,
        field: String,
    },
}

impl Op {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Op::Open { .. } => "publish_open",
            Op::Closed { .. } => "publish_closed",
            Op::Release { .. } => "release_probe",
        }
    }
}

/// The queue's sending end; the task is started by the first message (it
/// needs the tokio runtime), and again if its runtime has gone.
#[derive(Debug)]
pub(super) struct Sender {
    tx: Mutex<Option<mpsc::Sender<Op>>>,
}

/// Why a message could not even be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NotQueued {
    NoRuntime,
    Full,
}

impl Sender {
    pub(super) fn new() -> Self {
        Sender {
            tx: Mutex::new(None),
        }
    }

    pub(super) fn send(&self, shared: &Arc<Shared>, op: Op) -> Result<(), NotQueued> {
        let mut tx = lock(&self.tx);
        let op = match tx.as_ref() {
            Some(queue) => match queue.try_send(op) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(_)) => return Err(NotQueued::Full),
                // The task's runtime is gone: start it again on this one.
                Err(TrySendError::Closed(op)) => op,
            },
            None => op,
        };
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NotQueued::NoRuntime)?;
        let (new_tx, rx) = mpsc::channel(QUEUE);
        // The task holds the shared connection, not the sender: it ends
        // when the last store clone is dropped.
        runtime.spawn(run(shared.clone(), rx));
        let sent = new_tx.try_send(op).map_err(|_| NotQueued::Full);
        *tx = Some(new_tx);
        sent
    }
}

async fn run(shared: Arc<Shared>, mut rx: mpsc::Receiver<Op>) {
    while let Some(op) = rx.recv().await {
        // One at a time: the next is sent once this one is answered, or
        // given up after an I/O timeout.
        let done = shared
            .link
            .bounded(shared.io_timeout, async {
                let mut conn = shared.link.connection()?;
                match &op {
                    Op::Open {
                        marker,
                        record,
                        open_ms,
                        keep_ms,
                    } => {
                        let mut invocation = shared.script.prepare_invoke();
                        invocation
                            .key(marker)
                            .key(record)
                            .arg("open")
                            .arg(open_ms)
                            .arg(keep_ms);
                        invocation.invoke_async::<()>(&mut conn).await
                    }
                    Op::Closed { marker, record } => {
                        redis::cmd("DEL")
                            .arg(marker)
                            .arg(record)
                            .query_async::<()>(&mut conn)
                            .await
                    }
                    Op::Release { record, field } => {
                        redis::cmd("HDEL")
                            .arg(record)
                            .arg(field)
                            .query_async::<()>(&mut conn)
                            .await
                    }
                }
            })
            .await;
        if let Err(fault) = done {
            tracing::debug!(
                target: "girder::redis",
                op = op.name(),
                reason = fault.reason(),
                "not sent to redis"
            );
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Only an Option is swapped under this lock.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
