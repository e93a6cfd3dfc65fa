//! An RFC 9111 private cache for tower HTTP clients.
//!
//! TODO(docs)

mod body;
pub mod config;
mod date;
mod directives;
pub mod entry;
pub mod error;
mod flight;
pub mod key;
mod layer;
mod mode;
pub mod service;
pub mod store;

pub use config::{CacheConfig, CacheConfigBuilder, InvalidCacheConfig};
pub use entry::{CacheEntry, StoredResponse};
pub use error::SharedError;
pub use girder_core::record::CacheStatus;
pub use key::CacheKey;
pub use layer::CacheLayer;
pub use mode::CacheMode;
pub use service::{Cache, ResponseFuture};
pub use store::{CacheStore, MokaStore};
