//! Client-side rate limits for tower: [`RateLimitLayer`].
//!
//! wip

pub mod backend;
pub mod clock;
pub mod error;
pub mod future;
mod hook;
mod lane;
mod layer;
mod policy;
mod quota;
mod service;
mod wait;

pub use backend::{GovernorBackend, RateLimitBackend};
pub use error::{Cause, InvalidRateLimit, RateLimited};
pub use hook::{LimitEvent, OnLimit};
pub use layer::RateLimitLayer;
pub use policy::{Mode, RateLimitPolicy, RateLimitPolicyBuilder};
pub use quota::Quota;
pub use service::RateLimit;
