//! The token cache: fresh, stale (refresh in the background), expired
//! (wait for the refresh); one fetch at a time, run so that no caller's
//! cancellation can strand the others.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use girder_core::{BoxError, Deadline, DeadlineExceeded};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::AuthConfig;
use crate::hook::TokenEvent;
use crate::{AuthError, AuthErrorKind, AuthEvent, Credential};

type Outcome = Result<Arc<Credential>, AuthError>;

/// The future of a call waiting for a fetch.
pub(crate) type WaitFuture =
    Pin<Box<dyn Future<Output = Result<Arc<Credential>, BoxError>> + Send>>;

/// State shared by a layer and every service it makes.
pub(crate) struct Shared {
    pub(crate) config: AuthConfig,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    current: Option<Entry>,
    /// The fetch under way: its number and a receiver of its outcome.
    flight: Option<(u64, watch::Receiver<Option<Outcome>>)>,
    flights: u64,
    /// Whether any fetch succeeded yet.
    fetched: bool,
    /// Consecutive failed fetches, and when the next may start.
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<AuthError>,
}

struct Entry {
    credential: Arc<Credential>,
    /// From here on the token is stale: still sent, and refreshed.
    refresh_at: Option<Instant>,
    expires_at: Option<Instant>,
}

/// What a call goes with.
pub(crate) enum Lookup {
    /// A credential to send now, and what to note about it.
    Ready(Arc<Credential>, Option<AuthEvent>),
    /// Wait for the fetch under way; note what it is (a first fetch or a
    /// refresh).
    Wait(watch::Receiver<Option<Outcome>>, AuthEvent),
    /// No credential, and no fetch allowed yet.
    Failed(AuthError),
}

impl Shared {
    pub(crate) fn new(config: AuthConfig) -> Self {
        Shared {
            config,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent between statements; a panic elsewhere
        // cannot leave it half-written.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a fetch is under way, and how many have started.
    pub(crate) fn fetching(&self) -> (bool, u64) {
        let state = self.lock();
        (state.flight.is_some(), state.flights)
    }

    /// The credential for a call now, starting a fetch when one is due.
    pub(crate) fn lookup(self: &Arc<Self>) -> Lookup {
        // Read only when a deadline is set: a static credential has none,
        // and the clock is a good part of what its lookup costs.
        let mut read = None;
        let mut now = || *read.get_or_insert_with(Instant::now);
        let mut state = self.lock();
        if let Some(entry) = &state.current
            && entry.expires_at.is_none_or(|at| now() < at)
        {
            let credential = entry.credential.clone();
            let stale = entry.refresh_at.is_some_and(|at| now() >= at);
            if !stale || state.flight.is_some() {
                return Lookup::Ready(credential, None);
            }
            if state.retry_at.is_some_and(|at| now() < at) {
                return Lookup::Ready(credential, Some(AuthEvent::RefreshFailed));
            }
            let flight = Flight::begin(self, &mut state);
            drop(state);
            tracing::debug!(target: "girder::auth", "token refreshing in the background");
            flight.run();
            return Lookup::Ready(credential, Some(AuthEvent::BackgroundRefresh));
        }
        let waiting_for = if state.fetched {
            AuthEvent::TokenRefreshed
        } else {
            AuthEvent::TokenFetched
        };
        if let Some((_, rx)) = &state.flight {
            return Lookup::Wait(rx.clone(), waiting_for);
        }
        if let (Some(at), Some(error)) = (state.retry_at, &state.last_error)
            && now() < at
        {
            return Lookup::Failed(error.clone());
        }
        let flight = Flight::begin(self, &mut state);
        let rx = flight.rx.clone();
        drop(state);
        flight.run();
        // A source that answers at once (a fixed token, a JWT) is done here.
        let done = rx.borrow().clone();
        match done {
            Some(Ok(credential)) => Lookup::Ready(credential, Some(waiting_for)),
            Some(Err(error)) => Lookup::Failed(error),
            None => Lookup::Wait(rx, waiting_for),
        }
    }

    /// Forgets `credential`, which the server refused, unless it was
    /// already replaced.
    pub(crate) fn invalidate(&self, credential: &Arc<Credential>) {
        let mut state = self.lock();
        if state
            .current
            .as_ref()
            .is_some_and(|e| Arc::ptr_eq(&e.credential, credential))
        {
            state.current = None;
        }
    }

    /// Records a fetch's outcome; returns it for the waiters.
    fn finish(&self, id: u64, result: Result<Credential, AuthError>) -> Outcome {
        let now = Instant::now();
        let mut state = self.lock();
        if state.flight.as_ref().is_some_and(|(f, _)| *f == id) {
            state.flight = None;
        }
        match result {
            Ok(credential) => {
                let credential = Arc::new(credential);
                let entry = self.entry(credential.clone(), now);
                state.failures = 0;
                state.retry_at = None;
                state.last_error = None;
                tracing::debug!(
                    target: "girder::auth",
                    expires_in = ?entry.expires_at.map(|at| at - now),
                    refresh_in = ?entry.refresh_at.map(|at| at - now),
                    "token fetched"
                );
                let expires_in = entry.expires_at.map(|at| at - now);
                state.current = Some(entry);
                let refresh = std::mem::replace(&mut state.fetched, true);
                drop(state);
                let event = TokenEvent::Fetched {
                    expires_in,
                    refresh,
                };
                self.config.on_event.on_event(&event);
                Ok(credential)
            }
            Err(error) => {
                state.failures = state.failures.saturating_add(1);
                let backoff = self.backoff(state.failures);
                state.retry_at = Some(now + backoff);
                state.last_error = Some(error.clone());
                let valid = state
                    .current
                    .as_ref()
                    .is_some_and(|e| e.expires_at.is_none_or(|at| now < at));
                tracing::warn!(
                    target: "girder::auth",
                    error = %error,
                    next_in = ?backoff,
                    current_token_valid = valid,
                    "token fetch failed"
                );
                drop(state);
                let event = TokenEvent::FetchFailed {
                    error: &error,
                    retry_in: backoff,
                    current_valid: valid,
                };
                self.config.on_event.on_event(&event);
                Err(error)
            }
        }
    }

    fn entry(&self, credential: Arc<Credential>, now: Instant) -> Entry {
        let expires_at = credential.expiry();
        let refresh_at = expires_at.map(|at| {
            let lifetime = at.saturating_duration_since(now);
            let jitter = random_up_to(self.config.jitter);
            let lead = (self.config.skew + jitter).min(lifetime / 2);
            at - lead
        });
        Entry {
            credential,
            refresh_at,
            expires_at,
        }
    }

    fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        let wait = self.config.backoff_min.saturating_mul(1 << doublings);
        wait.min(self.config.backoff_max)
    }
}

fn random_up_to(max: Duration) -> Duration {
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(fastrand::u64(0..=nanos))
}

/// One fetch. Whoever drops it unfinished (a panicking source, a runtime
/// shutting down under the task) clears it from the state, and the
/// waiters see the channel close: nobody waits forever.
struct Flight {
    shared: Arc<Shared>,
    id: u64,
    tx: Option<watch::Sender<Option<Outcome>>>,
    rx: watch::Receiver<Option<Outcome>>,
}

impl Flight {
    fn begin(shared: &Arc<Shared>, state: &mut State) -> Flight {
        state.flights += 1;
        let id = state.flights;
        let (tx, rx) = watch::channel(None);
        state.flight = Some((id, rx.clone()));
        Flight {
            shared: shared.clone(),
            id,
            tx: Some(tx),
            rx,
        }
    }

    /// Runs the fetch: polled once here, so that a source that answers at
    /// once costs no task; otherwise on a task of its own, so that it
    /// completes even if every caller that waits for it is dropped.
    fn run(self) {
        let mut fetch = self.shared.config.source.fetch();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        if let Poll::Ready(result) = fetch.as_mut().poll(&mut cx) {
            return self.complete(result);
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            let error = AuthError::new(
                AuthErrorKind::Abandoned,
                "no tokio runtime to run the token fetch on",
            );
            return self.complete(Err(error));
        };
        let timeout = self.shared.config.refresh_timeout;
        runtime.spawn(async move {
            let result = match tokio::time::timeout(timeout, fetch).await {
                Ok(result) => result,
                Err(_) => Err(AuthError::new(
                    AuthErrorKind::Timeout,
                    format!("no credential within the refresh timeout of {timeout:?}"),
                )),
            };
            self.complete(result);
        });
    }

    fn complete(mut self, result: Result<Credential, AuthError>) {
        let outcome = self.shared.finish(self.id, result);
        if let Some(tx) = self.tx.take() {
            tx.send_replace(Some(outcome));
        }
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        if self.tx.is_some() {
            let mut state = self.shared.lock();
            if state.flight.as_ref().is_some_and(|(f, _)| *f == self.id) {
                state.flight = None;
            }
        }
    }
}

/// Waits for the fetch behind `rx`, no later than `deadline`.
pub(crate) fn wait(
    mut rx: watch::Receiver<Option<Outcome>>,
    deadline: Option<Deadline>,
) -> WaitFuture {
    Box::pin(async move {
        let waited = async move {
            match rx.wait_for(Option::is_some).await {
                Ok(outcome) => outcome.clone().unwrap_or_else(unreachable_outcome),
                Err(_) => Err(AuthError::new(
                    AuthErrorKind::Abandoned,
                    "the token fetch stopped without an answer",
                )),
            }
        };
        let outcome = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline.instant(), waited).await {
                Ok(outcome) => outcome,
                Err(_) => return Err(DeadlineExceeded::new().into()),
            },
            None => waited.await,
        };
        outcome.map_err(BoxError::from)
    })
}

fn unreachable_outcome() -> Outcome {
    // wait_for only returns once the value is Some.
    Err(AuthError::new(AuthErrorKind::Abandoned, "no outcome"))
}
