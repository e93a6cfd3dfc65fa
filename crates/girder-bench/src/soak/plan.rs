//! What each call of the soak does: its method, path and fault, drawn
//! from the run's seed and the call's number, so a run can be replayed.

use std::fmt;

/// A fault the soak injects into one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// The server closes the connection without a response.
    ResetBeforeHead,
    /// The server sends the head, then closes the connection.
    ResetAfterHead,
    /// `503` without `Retry-After`.
    Unavailable,
    /// `503` with `Retry-After: 1`.
    UnavailableRetryAfter,
    /// `429` with `Retry-After: 1`.
    TooManyRequests,
    /// The head comes later than the attempt timeout.
    SlowHead,
    /// Half the body, then the connection closes.
    CutBody,
    /// Half the body, then nothing until long after the call's deadline.
    StalledBody,
    /// `FaultLayer` on the transport: the request fails before it is sent.
    ResetBeforeSend,
    /// `FaultLayer` on the transport: the request is sent, its response lost.
    LostResponse,
}

impl Fault {
    /// Every fault, in report order.
    pub const ALL: [Fault; 10] = [
        Fault::ResetBeforeHead,
        Fault::ResetAfterHead,
        Fault::Unavailable,
        Fault::UnavailableRetryAfter,
        Fault::TooManyRequests,
        Fault::SlowHead,
        Fault::CutBody,
        Fault::StalledBody,
        Fault::ResetBeforeSend,
        Fault::LostResponse,
    ];

    /// The value of the `x-soak-fault` header that asks for it.
    pub fn name(self) -> &'static str {
        match self {
            Fault::ResetBeforeHead => "reset-before-head",
            Fault::ResetAfterHead => "reset-after-head",
            Fault::Unavailable => "503",
            Fault::UnavailableRetryAfter => "503-retry-after",
            Fault::TooManyRequests => "429-retry-after",
            Fault::SlowHead => "slow-head",
            Fault::CutBody => "cut-body",
            Fault::StalledBody => "stalled-body",
            Fault::ResetBeforeSend => "reset-before-send",
            Fault::LostResponse => "lost-response",
        }
    }

    /// The fault a header value names.
    pub fn from_name(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether the client's `FaultLayer` injects it (else the server does).
    pub fn at_transport(self) -> bool {
        matches!(self, Fault::ResetBeforeSend | Fault::LostResponse)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The method and kind of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `GET` of one of a few cacheable resources (coalesced fills, hits).
    GetCached(u8),
    /// `GET` through a `307` redirect.
    GetRedirected,
    /// `GET` of a gzip-encoded body.
    GetGzip,
    /// `GET` of a resource of its own.
    Get,
    /// `PUT` (idempotent).
    Put,
    /// `POST` with an `Idempotency-Key`.
    PostKeyed,
    /// `POST` without one: must never reach the server twice.
    Post,
}

/// One call of the soak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// The call's number, sent as `x-soak-id`.
    pub id: usize,
    /// What is called.
    pub shape: Shape,
    /// The fault injected into its first attempt, if any.
    pub fault: Option<Fault>,
}

/// How many resources of each other kind there are.
pub const RESOURCES: usize = 128;

/// The resources `GetCached` calls share.
pub const CACHED_RESOURCES: u8 = 16;

impl Call {
    /// Call `id` of the run seeded `seed`, with faults at `fault_rate`.
    pub fn plan(seed: u64, id: usize, fault_rate: f64) -> Call {
        let mut rng =
            fastrand::Rng::with_seed(seed ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let shape = match rng.f64() {
            x if x < 0.20 => Shape::GetCached(rng.u8(..CACHED_RESOURCES)),
            x if x < 0.275 => Shape::GetRedirected,
            x if x < 0.35 => Shape::GetGzip,
            x if x < 0.50 => Shape::Get,
            x if x < 0.75 => Shape::Put,
            x if x < 0.875 => Shape::PostKeyed,
            _ => Shape::Post,
        };
        let fault = (rng.f64() < fault_rate).then(|| Fault::ALL[rng.usize(..Fault::ALL.len())]);
        Call { id, shape, fault }
    }

    /// The path the call asks for. Paths repeat every [`RESOURCES`] calls,
    /// as an API's do: the cache's per-key state (entries, keys it passes
    /// through uncoalesced) fills during the warm-up, so that what the heap
    /// does after it is the stack's, not a map still filling.
    pub fn path(&self) -> String {
        let n = self.id % RESOURCES;
        match self.shape {
            Shape::GetCached(n) => format!("cached/{n}"),
            Shape::GetRedirected => format!("redirect/{n}"),
            Shape::GetGzip => format!("gz/{n}"),
            Shape::Get | Shape::Put => format!("items/{n}"),
            Shape::PostKeyed | Shape::Post => "orders".to_owned(),
        }
    }
}
