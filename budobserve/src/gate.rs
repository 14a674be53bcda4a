//! The macros' first check, one relaxed load: the number of instance overrides active in the whole process (above
//! the low byte) and the global instance's minimum level number (the low byte). With no override, a level below
//! the global minimum is off without finding the instance.
//!
//! The global instance writes its floor (and the version of its level directives) here; `instance` counts overrides here.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::level::Level;

static GATE: AtomicUsize = AtomicUsize::new(Level::Trace.number() as usize);

const ONE_OVERRIDE: usize = 0x100;

/// Whether a record at `level` may be on: false only when no override is active and `level` is below the global
/// instance's floor.
#[inline(always)]
pub(crate) fn maybe_enabled(level: Level) -> bool {
    let gate = GATE.load(Ordering::Relaxed);
    gate >= ONE_OVERRIDE || usize::from(level.number()) >= gate
}

/// Whether any override is active.
#[inline(always)]
pub(crate) fn overridden() -> bool {
    GATE.load(Ordering::Relaxed) >= ONE_OVERRIDE
}

/// The version of the global instance's level directives (0 without directives), which the macros' call sites
/// keep their decisions under.
static GLOBAL_VERSION: AtomicU64 = AtomicU64::new(0);

/// The version of the global instance's level directives, 0 without.
#[inline(always)]
pub(crate) fn global_version() -> u64 {
    GLOBAL_VERSION.load(Ordering::Acquire)
}

/// Records the global instance's levels: the version of its directives, and its floor — the lowest level any of
/// its targets records (a level number, or 255 when everything is off).
pub(crate) fn set_global_levels(floor: u8, version: u64) {
    GLOBAL_VERSION.store(version, Ordering::Release);
    let floor = usize::from(floor);
    let _ = GATE.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |gate| Some((gate & !0xff) | floor));
}

/// Counts an override made active on some thread.
pub(crate) fn override_started() {
    GATE.fetch_add(ONE_OVERRIDE, Ordering::Relaxed);
}

/// Counts an override that ended.
pub(crate) fn override_ended() {
    GATE.fetch_sub(ONE_OVERRIDE, Ordering::Relaxed);
}
