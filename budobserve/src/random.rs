//! Random draws for ids and sampling decisions: a generator per thread, no lock and no shared cache line.
//!
//! Each thread runs wyrand (a 64-bit state stepped by a constant, its output mixed by one wide multiplication),
//! seeded once from the standard library's per-process random keys, the thread's identity and the time. The ids are
//! uniformly distributed as W3C trace context asks (samplers and backends read bits of them); they are not secrets.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};

use opentelemetry::trace::{SpanId, TraceId};

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

/// A seed no other thread or process has: the hasher's random keys, mixed with the thread and the time.
fn seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64),
    );
    std::hash::Hash::hash(&std::thread::current().id(), &mut hasher);
    hasher.finish()
}

/// The next 64 random bits of this thread.
#[inline]
pub(crate) fn next() -> u64 {
    let step = |s: u64| {
        let wide = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        (wide as u64) ^ ((wide >> 64) as u64)
    };
    STATE
        .try_with(|state| {
            let s = state.get().wrapping_add(0xa076_1d64_78bd_642f);
            state.set(s);
            step(s)
        })
        // While this thread's locals are being destroyed: a fresh seed, mixed.
        .unwrap_or_else(|_| step(seed()))
}

/// A new span id (never the invalid all-zero one).
#[inline]
pub(crate) fn span_id() -> SpanId {
    loop {
        let id = next();
        if id != 0 {
            return SpanId::from(id);
        }
    }
}

/// A new trace id (never the invalid all-zero one).
#[inline]
pub(crate) fn trace_id() -> TraceId {
    loop {
        let id = (u128::from(next()) << 64) | u128::from(next());
        if id != 0 {
            return TraceId::from(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_distinct_within_and_across_threads() {
        let mine: Vec<u64> = (0..10_000).map(|_| u64::from_be_bytes(span_id().to_bytes())).collect();
        let theirs: Vec<u64> =
            std::thread::spawn(|| (0..10_000).map(|_| u64::from_be_bytes(span_id().to_bytes())).collect())
                .join()
                .unwrap_or_default();
        let all: HashSet<u64> = mine.iter().chain(&theirs).copied().collect();
        assert_eq!(all.len(), 20_000);
        assert!(!all.contains(&0));
        assert_ne!(trace_id(), trace_id());
    }

    #[test]
    fn bits_are_balanced() {
        // Every bit position is set in about half the ids (a sampler reading the low bits must see a fair coin).
        let ids: Vec<u128> = (0..4_096).map(|_| u128::from_be_bytes(trace_id().to_bytes())).collect();
        for bit in 0..128 {
            let ones = ids.iter().filter(|id| (*id >> bit) & 1 == 1).count();
            assert!((1_700..2_400).contains(&ones), "bit {bit} set in {ones} of 4096 ids");
        }
    }
}
