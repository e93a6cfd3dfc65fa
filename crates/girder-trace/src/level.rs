//! Events at a level chosen at run time. `tracing`'s macros take the level
//! as a constant, so each helper matches over the five levels.

use tracing::Level;

/// The target of every event and span of this crate.
pub(crate) const TARGET: &str = "girder::trace";

/// Emits an event under [`TARGET`] at a run-time `level`.
macro_rules! event_at {
    ($level:expr, $($rest:tt)+) => {
        match $level {
            ::tracing::Level::ERROR => ::tracing::event!(target: $crate::level::TARGET, ::tracing::Level::ERROR, $($rest)+),
            ::tracing::Level::WARN => ::tracing::event!(target: $crate::level::TARGET, ::tracing::Level::WARN, $($rest)+),
            ::tracing::Level::INFO => ::tracing::event!(target: $crate::level::TARGET, ::tracing::Level::INFO, $($rest)+),
            ::tracing::Level::DEBUG => ::tracing::event!(target: $crate::level::TARGET, ::tracing::Level::DEBUG, $($rest)+),
            _ => ::tracing::event!(target: $crate::level::TARGET, ::tracing::Level::TRACE, $($rest)+),
        }
    };
}
pub(crate) use event_at;

/// Whether an event under [`TARGET`] at `level` would be recorded.
pub(crate) fn enabled(level: Level) -> bool {
    match level {
        Level::ERROR => tracing::enabled!(target: TARGET, Level::ERROR),
        Level::WARN => tracing::enabled!(target: TARGET, Level::WARN),
        Level::INFO => tracing::enabled!(target: TARGET, Level::INFO),
        Level::DEBUG => tracing::enabled!(target: TARGET, Level::DEBUG),
        _ => tracing::enabled!(target: TARGET, Level::TRACE),
    }
}
