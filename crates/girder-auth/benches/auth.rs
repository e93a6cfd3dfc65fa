//! Benchmarks of the auth layer (filled in below).
fn main() {}
