//! Ready clones of a client's stack, so that a call need not clone it.
//!
//! A tower service is called through `&mut self`, so a shared client has to
//! clone its stack for every call and drop the clone afterwards (what
//! `ServiceExt::oneshot` on a clone does): for the full stack that was a
//! boxed copy and a reference count per layer, about a tenth of the
//! stack's own cost per call. Instead the client keeps a few clones behind
//! locks taken only for `poll_ready` and `call`, both synchronous: a call
//! borrows one that is free and ready at once, and otherwise falls back to
//! a clone of its own, which waits for readiness as `oneshot` does.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, TryLockError};
use std::task::{Context, Poll, Waker};

use girder_core::{Body, BoxError};
use http::Request;
use tower::{Service, ServiceExt as _};

use crate::client::ClientService;

/// The future of one call.
pub(crate) type CallFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<Body>, BoxError>> + Send + 'static>>;

/// The most clones kept: one per CPU, up to this.
const MAX_SLOTS: usize = 16;

pub(crate) struct Slots {
    prototype: ClientService,
    /// Empty after a failure, a panic or a stack not ready at once: the
    /// next call there starts from a fresh clone.
    slots: Box<[Mutex<Option<ClientService>>]>,
}

static NEXT_HOME: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The slot this thread tries first, so threads spread over the slots.
    static HOME: Cell<Option<usize>> = const { Cell::new(None) };
}

fn home() -> usize {
    HOME.with(|home| match home.get() {
        Some(index) => index,
        None => {
            let index = NEXT_HOME.fetch_add(1, Ordering::Relaxed);
            home.set(Some(index));
            index
        }
    })
}

impl Slots {
    pub(crate) fn new(service: ClientService) -> Slots {
        let count = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, MAX_SLOTS);
        let slots = (0..count)
            .map(|_| Mutex::new(Some(service.clone())))
            .collect();
        Slots {
            prototype: service,
            slots,
        }
    }

    /// The stack as it was built (clones of it share every layer's state).
    pub(crate) fn prototype(&self) -> &ClientService {
        &self.prototype
    }

    /// Starts one call: on a free clone that is ready at once, or on a
    /// fresh clone that waits to be ready.
    pub(crate) fn call(&self, request: Request<Body>) -> CallFuture {
        let start = home();
        for step in 0..self.slots.len().min(2) {
            let slot = &self.slots[(start + step) % self.slots.len()];
            let mut guard = match slot.try_lock() {
                Ok(guard) => guard,
                Err(TryLockError::WouldBlock) => continue,
                Err(TryLockError::Poisoned(poisoned)) => {
                    // A layer panicked inside `call`: that slot's stack was
                    // taken out first, so unwinding dropped it (and any
                    // capacity it held); start over.
                    slot.clear_poison();
                    let mut guard = poisoned.into_inner();
                    *guard = None;
                    guard
                }
            };
            // Out of the slot while in use: a panic in `call` drops it
            // instead of leaving it, permit and all, behind the lock.
            let mut service = guard.take().unwrap_or_else(|| self.prototype.clone());
            let mut cx = Context::from_waker(Waker::noop());
            match service.poll_ready(&mut cx) {
                Poll::Ready(Ok(())) => {
                    let future = service.call(request);
                    *guard = Some(service);
                    return future;
                }
                // A service that failed readiness is not used again.
                Poll::Ready(Err(error)) => return Box::pin(std::future::ready(Err(error))),
                // Not ready at once: wait on a clone of our own, with this
                // task's waker. The slot's stack is dropped too: one that
                // queued for capacity in `poll_ready` (a concurrency limit,
                // a buffer) could be handed it later, under a waker that
                // wakes nobody, and keep it from the call that waits.
                Poll::Pending => break,
            }
        }
        Box::pin(self.prototype.clone().oneshot(request))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use tower::util::BoxCloneSyncService;

    use super::*;

    /// Counts its clones; answers 200; not ready until `ready_after`
    /// polls of its own, and fails readiness once when `fail_once`.
    #[derive(Clone)]
    struct Probe {
        clones: Arc<AtomicUsize>,
        fail_once: Arc<AtomicUsize>,
        polls: usize,
        ready_after: usize,
    }

    impl Probe {
        fn service(ready_after: usize, fail_once: bool) -> (ClientService, Arc<AtomicUsize>) {
            let clones = Arc::new(AtomicUsize::new(0));
            let probe = Probe {
                clones: clones.clone(),
                fail_once: Arc::new(AtomicUsize::new(usize::from(fail_once))),
                polls: 0,
                ready_after,
            };
            (BoxCloneSyncService::new(Counted(probe)), clones)
        }
    }

    struct Counted(Probe);

    impl Clone for Counted {
        fn clone(&self) -> Self {
            self.0.clones.fetch_add(1, Ordering::SeqCst);
            Counted(self.0.clone())
        }
    }

    impl Service<Request<Body>> for Counted {
        type Response = http::Response<Body>;
        type Error = BoxError;
        type Future = std::future::Ready<Result<http::Response<Body>, BoxError>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            if self.0.fail_once.swap(0, Ordering::SeqCst) == 1 {
                return Poll::Ready(Err("not ready, ever".into()));
            }
            if self.0.polls < self.0.ready_after {
                self.0.polls += 1;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<Body>) -> Self::Future {
            self.0.polls = 0;
            std::future::ready(Ok(http::Response::new(Body::empty())))
        }
    }

    fn get() -> Request<Body> {
        Request::get("http://127.0.0.1/")
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn a_ready_stack_is_not_cloned_per_call() {
        let (service, clones) = Probe::service(0, false);
        let slots = Slots::new(service);
        let made = clones.load(Ordering::SeqCst);
        assert_eq!(made, slots.slots.len());
        for _ in 0..100 {
            slots.call(get()).await.unwrap();
        }
        assert_eq!(clones.load(Ordering::SeqCst), made);
    }

    #[tokio::test]
    async fn a_stack_not_ready_at_once_is_waited_for_on_a_clone() {
        let (service, clones) = Probe::service(2, false);
        let slots = Slots::new(service);
        let made = clones.load(Ordering::SeqCst);
        slots.call(get()).await.unwrap();
        // The slot said "not yet" once; the call went to a clone of its
        // own, and the slot was emptied (refilled by its next call).
        assert_eq!(clones.load(Ordering::SeqCst), made + 1);
    }

    #[tokio::test]
    async fn a_readiness_error_fails_the_call_and_the_slot_starts_over() {
        let (service, clones) = Probe::service(0, true);
        let slots = Slots::new(service);
        let made = clones.load(Ordering::SeqCst);
        let error = slots.call(get()).await.unwrap_err();
        assert_eq!(error.to_string(), "not ready, ever");
        // The failed clone was dropped; the next call there starts from a
        // fresh one and goes through.
        assert_eq!(clones.load(Ordering::SeqCst), made);
        slots.call(get()).await.unwrap();
        assert_eq!(clones.load(Ordering::SeqCst), made + 1);
    }

    /// A one-permit gate that hands its permit to the first service
    /// queued, as a semaphore does, whether or not that service is polled
    /// again; a service gives its permit (or its place) back when dropped.
    #[derive(Default)]
    struct Gate {
        free: bool,
        queue: std::collections::VecDeque<(usize, Waker)>,
        granted: Option<usize>,
    }

    struct Gated {
        gate: Arc<std::sync::Mutex<Gate>>,
        id: usize,
        ids: Arc<AtomicUsize>,
        holds: bool,
    }

    impl Clone for Gated {
        fn clone(&self) -> Self {
            Gated {
                gate: self.gate.clone(),
                id: self.ids.fetch_add(1, Ordering::SeqCst),
                ids: self.ids.clone(),
                holds: false,
            }
        }
    }

    fn release(gate: &mut Gate) {
        match gate.queue.pop_front() {
            Some((id, waker)) => {
                gate.granted = Some(id);
                waker.wake();
            }
            None => gate.free = true,
        }
    }

    impl Drop for Gated {
        fn drop(&mut self) {
            let mut gate = self.gate.lock().unwrap();
            gate.queue.retain(|(id, _)| *id != self.id);
            if self.holds || gate.granted == Some(self.id) {
                gate.granted = None;
                release(&mut gate);
            }
        }
    }

    impl Service<Request<Body>> for Gated {
        type Response = http::Response<Body>;
        type Error = BoxError;
        type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, BoxError>> + Send>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            let mut gate = self.gate.lock().unwrap();
            if self.holds {
                return Poll::Ready(Ok(()));
            }
            if gate.granted == Some(self.id) || gate.free {
                gate.granted = None;
                gate.free = false;
                self.holds = true;
                return Poll::Ready(Ok(()));
            }
            gate.queue.retain(|(id, _)| *id != self.id);
            gate.queue.push_back((self.id, cx.waker().clone()));
            Poll::Pending
        }

        fn call(&mut self, _: Request<Body>) -> Self::Future {
            assert!(self.holds, "called without a permit");
            self.holds = false;
            let gate = self.gate.clone();
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                release(&mut gate.lock().unwrap());
                Ok(http::Response::new(Body::empty()))
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn capacity_queued_for_by_a_slot_is_not_kept_from_the_waiting_call() {
        let gate = Arc::new(std::sync::Mutex::new(Gate {
            free: true,
            ..Gate::default()
        }));
        let service = BoxCloneSyncService::new(Gated {
            gate,
            id: 0,
            ids: Arc::new(AtomicUsize::new(1)),
            holds: false,
        });
        let slots = Slots::new(service);
        // The first call takes the permit; the second finds none, queues
        // in the slot, and waits on a clone. When the first finishes, the
        // permit must reach the second, not the slot's dead registration.
        let first = slots.call(get());
        let second = slots.call(get());
        let both = async { tokio::join!(first, second) };
        let (a, b) = tokio::time::timeout(std::time::Duration::from_secs(5), both)
            .await
            .expect("the second call starved");
        a.unwrap();
        b.unwrap();
    }

    /// Panics in `call`, after the gate below granted its permit.
    #[derive(Clone)]
    struct PanicOnce(Gated, Arc<AtomicUsize>);

    impl Service<Request<Body>> for PanicOnce {
        type Response = http::Response<Body>;
        type Error = BoxError;
        type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, BoxError>> + Send>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            self.0.poll_ready(cx)
        }

        fn call(&mut self, request: Request<Body>) -> Self::Future {
            if self.1.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("a layer panics in call");
            }
            self.0.call(request)
        }
    }

    #[test]
    fn a_panic_in_call_does_not_strand_the_capacity_its_stack_held() {
        let gate = Arc::new(std::sync::Mutex::new(Gate {
            free: true,
            ..Gate::default()
        }));
        let gated = Gated {
            gate,
            id: 0,
            ids: Arc::new(AtomicUsize::new(1)),
            holds: false,
        };
        let slots = Arc::new(Slots::new(BoxCloneSyncService::new(PanicOnce(
            gated,
            Arc::new(AtomicUsize::new(0)),
        ))));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drop(slots.call(get()));
        }));
        assert!(panicked.is_err());
        // Another thread (another home slot, when there are two or more):
        // its call must get the permit the panicking call's stack held.
        let other = slots.clone();
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                tokio::time::timeout(std::time::Duration::from_secs(5), other.call(get()))
                    .await
                    .map(|result| result.is_ok())
            })
        })
        .join()
        .unwrap();
        assert_eq!(done, Ok(true), "the call starved");
    }

    #[tokio::test]
    async fn a_busy_slot_is_skipped() {
        let (service, _) = Probe::service(0, false);
        let slots = Slots::new(service);
        let start = home();
        let held = slots.slots[start % slots.slots.len()].lock().unwrap();
        // With the home slot held (as by a call on another thread, or a
        // layer calling the same client from inside `call`), the call
        // takes the next slot or a clone, and never waits on the lock.
        let call = slots.call(get());
        drop(held);
        call.await.unwrap();
    }
}
