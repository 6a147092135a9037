//! Benchmarks (filled in by the bench work).
