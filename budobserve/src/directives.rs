//! Levels per target, RUST_LOG-style: parsing ([`LevelDirectives`]), an instance's [`Levels`], and the call sites'
//! decisions under them.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwapOption;

use crate::callsite::Callsite;
use crate::gate;
use crate::level::Level;

/// A threshold: a level's number, or [`OFF`].
pub(crate) type Threshold = u8;

/// The threshold of a target that is off: above every level.
pub(crate) const OFF: Threshold = u8::MAX;

/// Levels per target, written as `RUST_LOG`-style directives: `info,my_service::db=debug,hyper=warn`.
///
/// A directive `target=level` sets the level of every target that starts with `target` (a macro's target is its
/// module path, `my_service::db::pool`; a `tracing` or `log` record's is its own `target`); the longest matching
/// target wins, the later of two equal ones. A bare level is the level of targets no directive names; a bare
/// target enables every level of it. `off` turns a target off. Matching is by text prefix, as `env_logger` and
/// `tracing-subscriber`'s `EnvFilter` match, so `hyper=warn` also covers `hyper_util`.
///
/// A macro decides once per call site: the first record of a call site resolves its target against the
/// directives and keeps the answer in the call site, keyed by the directives' version; every later record is one
/// load and one compare. Records below the lowest level any directive allows never get that far: the macros'
/// first check (one relaxed load) turns them away, as it does without directives.
///
/// ```
/// use budobserve::{Level, LevelDirectives};
///
/// let directives: LevelDirectives = "warn,my_service::db=debug,my_service::db::pool=off".parse()?;
/// assert_eq!(directives.level_of("my_service::db::query"), Some(Level::Debug));
/// assert_eq!(directives.level_of("my_service::db::pool::idle"), None); // off
/// assert_eq!(directives.level_of("hyper::proto"), Some(Level::Warn));
/// assert_eq!(directives.to_string(), "warn,my_service::db=debug,my_service::db::pool=off");
/// # Ok::<(), budobserve::ParseDirectivesError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LevelDirectives {
    /// The bare level, if one was given.
    default: Option<Threshold>,
    /// `(target, threshold)`, longest target first; among equal targets, the later directive first.
    targets: Vec<(Box<str>, Threshold)>,
    /// The directives as written, normalised (for `Display`).
    written: Vec<(Option<Box<str>>, Threshold)>,
}

impl LevelDirectives {
    /// The level a record of `target` needs, or `None` when the target is off; `None` is also the answer for a
    /// target no directive names when there is no bare level.
    pub fn level_of(&self, target: &str) -> Option<Level> {
        self.threshold(target).and_then(Level::from_number)
    }

    /// The threshold a directive sets for `target`: `None` when neither a target directive nor a bare level
    /// applies.
    pub(crate) fn threshold(&self, target: &str) -> Option<Threshold> {
        self.target_threshold(target).or(self.default)
    }

    /// The threshold of the longest directive target `target` starts with.
    pub(crate) fn target_threshold(&self, target: &str) -> Option<Threshold> {
        self.targets.iter().find(|(name, _)| target.starts_with(&**name)).map(|&(_, threshold)| threshold)
    }

    /// The bare level's threshold.
    pub(crate) fn default_threshold(&self) -> Option<Threshold> {
        self.default
    }

    /// The lowest threshold of any target directive.
    pub(crate) fn lowest_target_threshold(&self) -> Threshold {
        self.targets.iter().map(|&(_, threshold)| threshold).min().unwrap_or(OFF)
    }

    /// Whether there is a directive for some target (not only a bare level).
    pub(crate) fn has_targets(&self) -> bool {
        !self.targets.is_empty()
    }

    /// These directives without their bare level.
    pub(crate) fn without_default(&self) -> LevelDirectives {
        LevelDirectives {
            default: None,
            targets: self.targets.clone(),
            written: self.written.iter().filter(|(target, _)| target.is_some()).cloned().collect(),
        }
    }
}

/// What a directive's level accepts.
pub(crate) const ACCEPTED: &str = "comma-separated directives `level`, `target` or `target=level`, a level being one \
                                   of trace, debug, info, notice, warn (or warning), error, fatal, off";

/// The error of parsing [`LevelDirectives`]: the directive, and why.
///
/// ```
/// let error = "info,my_service=loud".parse::<budobserve::LevelDirectives>().unwrap_err();
/// assert!(error.to_string().starts_with("directive `my_service=loud`: unknown level `loud`"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("directive `{directive}`: {reason}")]
pub struct ParseDirectivesError {
    /// The directive as written.
    pub directive: String,
    /// What is wrong with it.
    pub reason: String,
}

fn parse_threshold(text: &str) -> Option<Threshold> {
    if text.eq_ignore_ascii_case("off") {
        return Some(OFF);
    }
    text.parse::<Level>().ok().map(Level::number)
}

impl FromStr for LevelDirectives {
    type Err = ParseDirectivesError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut written: Vec<(Option<Box<str>>, Threshold)> = Vec::new();
        for directive in text.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            let error = |reason: String| ParseDirectivesError { directive: directive.to_owned(), reason };
            if directive.contains(['[', ']', '{', '}']) {
                return Err(error(
                    "span and field filters (`[span{field}]`) are not supported: name a target and a level".into(),
                ));
            }
            let (target, threshold) = match directive.split_once('=') {
                Some((target, level)) => {
                    let (target, level) = (target.trim(), level.trim());
                    let threshold = parse_threshold(level).ok_or_else(|| {
                        error(format!("unknown level `{level}`: expected one of {}", Level::ACCEPTED_NAMES) + ", off")
                    })?;
                    (Some(target), threshold)
                }
                None => match parse_threshold(directive) {
                    Some(threshold) => (None, threshold),
                    // A bare target: every level of it.
                    None => (Some(directive), Level::Trace.number()),
                },
            };
            if let Some(target) = target
                && (target.is_empty() || target.contains(char::is_whitespace) || target.contains('='))
            {
                return Err(error(format!(
                    "`{target}` is not a target: a target is a module path such as `my_service::db`"
                )));
            }
            let target = target.map(Box::from);
            // A later directive for the same target replaces the earlier one.
            written.retain(|(earlier, _)| *earlier != target);
            written.push((target, threshold));
        }
        let default = written.iter().rev().find(|(target, _)| target.is_none()).map(|&(_, threshold)| threshold);
        let mut targets: Vec<(Box<str>, Threshold)> =
            written.iter().filter_map(|(target, threshold)| Some((target.clone()?, *threshold))).collect();
        // Stable: equal lengths keep their order, and equal targets were deduplicated above.
        targets.sort_by_key(|(target, _)| std::cmp::Reverse(target.len()));
        Ok(LevelDirectives { default, targets, written })
    }
}

impl fmt::Display for LevelDirectives {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (target, threshold)) in self.written.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let level = Level::from_number(*threshold).map_or("off", Level::as_str);
            match target {
                Some(target) => write!(f, "{target}={level}")?,
                None => f.write_str(level)?,
            }
        }
        Ok(())
    }
}

/// An instance's levels: the level of targets no directive names, the directives, and what the checks read.
#[derive(Debug)]
pub(crate) struct Levels {
    /// The lowest threshold anything is recorded at: below it, nothing is (the first check, one load).
    pub(crate) floor: AtomicU8,
    /// The threshold of targets no directive names (the minimum level; [`OFF`] when the bare level is `off`).
    default: AtomicU8,
    /// The version call sites keep their decisions under; 0 while no directive names a target.
    version: AtomicU64,
    directives: ArcSwapOption<LevelDirectives>,
    /// Serialises changes (a check never takes it).
    changing: Mutex<()>,
    /// Whether these are the global instance's levels, whose floor the macros' gate holds.
    pub(crate) global: bool,
}

impl Levels {
    /// Everything on, no directives.
    pub(crate) fn new(global: bool) -> Levels {
        Levels {
            floor: AtomicU8::new(Level::Trace.number()),
            default: AtomicU8::new(Level::Trace.number()),
            version: AtomicU64::new(0),
            directives: ArcSwapOption::empty(),
            changing: Mutex::new(()),
            global,
        }
    }

    /// Sets the minimum level and the directives; a bare level in the directives is the minimum level.
    pub(crate) fn set(&self, min_level: Level, directives: Option<LevelDirectives>) {
        let _changing = self.changing.lock().unwrap_or_else(PoisonError::into_inner);
        let default = directives.as_ref().and_then(LevelDirectives::default_threshold).unwrap_or(min_level.number());
        self.store(default, directives.filter(LevelDirectives::has_targets).map(|d| d.without_default()));
    }

    /// Sets the minimum level, keeping the target directives.
    pub(crate) fn set_min_level(&self, min_level: Level) {
        let _changing = self.changing.lock().unwrap_or_else(PoisonError::into_inner);
        let directives = self.directives.load_full().map(|directives| (*directives).clone());
        self.store(min_level.number(), directives);
    }

    /// Stores a state (the caller holds `changing`); `directives` name targets, and have no bare level.
    fn store(&self, default: Threshold, directives: Option<LevelDirectives>) {
        let floor = directives.as_ref().map_or(default, |d| default.min(d.lowest_target_threshold()));
        let version = if directives.is_some() { next_version() } else { 0 };
        self.default.store(default, Ordering::Relaxed);
        self.directives.store(directives.map(Arc::new));
        // The version after the directives, the floor last: a check that sees the new floor resolves against the
        // new directives.
        self.version.store(version, Ordering::Release);
        self.floor.store(floor, Ordering::Relaxed);
        if self.global {
            gate::set_global_levels(floor, version);
        }
    }

    /// The minimum level (`fatal` when targets no directive names are off).
    pub(crate) fn min_level(&self) -> Level {
        Level::from_number(self.default.load(Ordering::Relaxed)).unwrap_or(Level::Fatal)
    }

    /// The directives as set: the bare level (the minimum level) first, then the target directives.
    pub(crate) fn directives(&self) -> LevelDirectives {
        let _changing = self.changing.lock().unwrap_or_else(PoisonError::into_inner);
        let default = self.default.load(Ordering::Relaxed);
        let mut directives = match self.directives.load_full() {
            Some(directives) => (*directives).clone(),
            None => LevelDirectives { default: None, targets: Vec::new(), written: Vec::new() },
        };
        directives.default = Some(default);
        directives.written.insert(0, (None, default));
        directives
    }

    /// Whether a record at `level` of a target no directive names is recorded.
    #[inline]
    pub(crate) fn is_enabled(&self, level: Level) -> bool {
        level.number() >= self.default.load(Ordering::Relaxed)
    }

    /// Whether a record at `level` of `target` is recorded (the directives are read each time).
    pub(crate) fn is_enabled_for(&self, target: &str, level: Level) -> bool {
        let level = level.number();
        if level < self.floor.load(Ordering::Relaxed) {
            return false;
        }
        level >= self.threshold_of(target)
    }

    /// Whether a record at `level` of a macro's call site is recorded: decided once per call site and version.
    #[inline]
    pub(crate) fn is_enabled_at(&self, callsite: &'static Callsite, level: Level) -> bool {
        let level = level.number();
        if level < self.floor.load(Ordering::Relaxed) {
            return false;
        }
        let version = self.version.load(Ordering::Acquire);
        version == 0 || level >= callsite.interest.threshold(version, || self.threshold_of(callsite.module_path))
    }

    /// The threshold of `target`: its directive's, else the minimum level's.
    pub(crate) fn threshold_of(&self, target: &str) -> Threshold {
        let directives = self.directives.load();
        directives
            .as_deref()
            .and_then(|directives| directives.target_threshold(target))
            .unwrap_or_else(|| self.default.load(Ordering::Relaxed))
    }
}

/// A new version of some instance's levels, never 0 (0 is "no directives" and "not decided").
pub(crate) fn next_version() -> u64 {
    static VERSIONS: AtomicU64 = AtomicU64::new(0);
    VERSIONS.fetch_add(1, Ordering::Relaxed) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> LevelDirectives {
        text.parse().expect("valid directives")
    }

    #[test]
    fn the_longest_matching_target_wins() {
        let directives = parse("info, my_service::db=debug ,my_service=warn,my_service::db::pool=off,hyper=error");
        assert_eq!(directives.threshold("my_service::db::query"), Some(Level::Debug.number()));
        assert_eq!(directives.threshold("my_service::db"), Some(Level::Debug.number()));
        assert_eq!(directives.threshold("my_service::dbx"), Some(Level::Debug.number()), "a text prefix");
        assert_eq!(directives.threshold("my_service::web"), Some(Level::Warn.number()));
        assert_eq!(directives.threshold("my_service::db::pool::idle"), Some(OFF));
        assert_eq!(directives.threshold("hyper_util::client"), Some(Level::Error.number()));
        assert_eq!(directives.threshold("tokio"), Some(Level::Info.number()));
        assert_eq!(directives.level_of("my_service::db::pool"), None);
        assert_eq!(directives.lowest_target_threshold(), Level::Debug.number());
        assert_eq!(
            directives.to_string(),
            "info,my_service::db=debug,my_service=warn,my_service::db::pool=off,hyper=error"
        );
    }

    #[test]
    fn bare_targets_later_duplicates_and_case() {
        let directives = parse("my_service,WARNING,my_service=ERROR,a::b=Notice,,");
        assert_eq!(directives.default_threshold(), Some(Level::Warn.number()));
        assert_eq!(directives.threshold("my_service::x"), Some(Level::Error.number()), "the later directive");
        assert_eq!(directives.threshold("a::b"), Some(Level::Notice.number()));
        assert_eq!(directives.to_string(), "warn,my_service=error,a::b=notice");
        let bare = parse("my_service");
        assert_eq!(bare.threshold("my_service::db"), Some(Level::Trace.number()));
        assert_eq!(bare.threshold("other"), None, "no bare level: no answer for other targets");
        assert_eq!(parse("").to_string(), "");
        assert_eq!(parse("off,my_service=info").threshold("hyper"), Some(OFF));
        assert_eq!(parse("info,x=debug").without_default().to_string(), "x=debug");
    }

    #[test]
    fn bad_directives_are_named() {
        let error = |text: &str| text.parse::<LevelDirectives>().unwrap_err().to_string();
        assert_eq!(
            error("info,my_service=loud"),
            "directive `my_service=loud`: unknown level `loud`: expected one of trace, debug, info, notice, warn \
             (or warning), error, fatal, off"
        );
        assert_eq!(
            error("=debug"),
            "directive `=debug`: `` is not a target: a target is a module path such as `my_service::db`"
        );
        assert!(error("info,my target=debug").starts_with("directive `my target=debug`: `my target` is not a target"));
        assert!(error("a=b=c").starts_with("directive `a=b=c`: unknown level `b=c`"));
        assert!(error("my_service[request{id=1}]=debug").contains("span and field filters"));
    }
}
