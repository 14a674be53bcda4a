//! What the macros expand into. Not a public API: names and shapes change with the macros.
//!
//! Values are dispatched by *autoref specialization*: the macro calls a kind method on `&&&&Wrap(&value)`, and
//! method resolution picks the impl with the fewest derefs whose bounds the value's type meets — so one expansion
//! works for every type, with no trait the user has to import.

#![allow(missing_docs, missing_debug_implementations, unreachable_pub)]

use std::borrow::Cow;
use std::error::Error;
use std::fmt;

use opentelemetry::trace::{SpanContext, SpanKind, Status, TraceContextExt as _};
use opentelemetry::{Context, Value};
use serde::Serialize;

pub use crate::attributes::{AttributeList, BudAttributes, NativeValue, Recordable, Showable, field_key, fmt_fields};
pub use crate::callsite::{Callsite, CallsiteId, Interest};
pub use crate::instrumented::{InstrumentedFn, instrument_fn};
use crate::launch::{self, Launch, Parent, SpanOptions, Tags, Text};
use crate::level::Level;
use crate::level::SpanType;
use crate::observe::BudObserve;
use crate::span::{BudSpan, EnteredSpan};
use crate::{gate, instance};

/// How many attributes every macro span adds to its recorded values on the caller's thread: the span type, the
/// level and the callsite marker (the message, when the caller renders it, and tags are counted by the macro).
pub const ADDED_ATTRIBUTES: usize = 3;

pub use crate::instance::Current;

/// The most characters a value keeps in a message: a message no longer than this (in bytes) needs no cut.
#[doc(hidden)]
pub const MESSAGE_VALUE_LIMIT: usize = crate::text::MESSAGE_VALUE_LIMIT;

/// One value of a message a macro formats on the caller's thread, formatted with its spec and bounded as every
/// value in a message is (see `text::MessageValue`).
#[doc(hidden)]
pub struct Bounded<'a>(pub fmt::Arguments<'a>);

impl fmt::Display for Bounded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bounded = crate::text::MessageValue::new(f);
        fmt::write(&mut bounded, self.0)?;
        bounded.finish()
    }
}

#[inline]
pub fn current() -> Current {
    instance::current_for_macros()
}

/// The macros' first check, before finding the instance: false when no override is active and the global
/// instance does not record `level` at `callsite` — below its floor (one relaxed atomic load), or below the level
/// its directives give the call site's module (decided once per call site and version, then one more load).
#[inline(always)]
pub fn __maybe_enabled(callsite: &'static Callsite, level: Level) -> bool {
    if !gate::maybe_enabled(level) {
        return false;
    }
    let version = gate::global_version();
    version == 0
        || gate::overridden()
        || level.number()
            >= callsite
                .interest
                .threshold(version, || instance::global().instance.levels.threshold_of(callsite.module_path))
}

impl BudObserve {
    /// Whether a log or span at `level` of `callsite` would be recorded (level, the call site's decision under the
    /// level directives, then whether anything is configured): a few relaxed atomic loads.
    #[doc(hidden)]
    #[inline]
    pub fn __enabled(&self, callsite: &'static Callsite, level: Level) -> bool {
        self.instance.levels.is_enabled_at(callsite, level) && self.tracer().is_active()
    }

    /// The head sampler's word on a macro span about to start: `None` to record it, else the span that stands for
    /// it (evaluated before any argument).
    #[doc(hidden)]
    #[inline]
    pub fn __sample_span(&self, new_trace: bool) -> Option<BudSpan> {
        if new_trace {
            let decision = self.head_sampler().decide(&opentelemetry::Context::new());
            return launch::dropped_span(decision, &Parent::Root);
        }
        launch::dropped_span(self.head_sampler().decide_current(), &Parent::Current)
    }

    /// Whether a macro log is recorded by the head sampler (evaluated before any argument).
    #[doc(hidden)]
    #[inline]
    pub fn __sample_log(&self) -> bool {
        matches!(self.head_sampler().decide_current(), crate::sampling::Decision::Record)
    }

    /// The attribute list of a macro's span: room for `attributes` (counted at compile time), and for completing
    /// the span on the caller's thread when a span processor needs it there (see `callsite`).
    #[doc(hidden)]
    #[inline]
    pub fn __attributes(&self, attributes: usize) -> AttributeList {
        AttributeList::for_span(attributes + self.completion_room())
    }

    /// The options of a macro's log or span, when it has options (`_parent`, `_links`) the direct paths below do
    /// not take.
    #[doc(hidden)]
    pub fn __options(
        &self,
        callsite: &'static Callsite,
        level: Level,
        message: Option<Cow<'static, str>>,
        attributes: AttributeList,
    ) -> SpanOptions<'_> {
        let mut options = self
            .writer()
            .options(Cow::Borrowed(callsite.template), attributes.into_values(), std::panic::Location::caller())
            .level(level)
            .callsite(callsite);
        if let Some(message) = message {
            options = options.message(message);
        }
        if let Some(name) = callsite.name {
            options = options.name(name);
        }
        if !callsite.tags.is_empty() {
            options = options.tags(callsite.tags.iter().copied());
        }
        options
    }

    /// `bud_span!` (and `#[instrument]`) without options: straight to the span.
    #[doc(hidden)]
    #[inline]
    pub fn __span(
        &self,
        callsite: &'static Callsite,
        level: Level,
        message: Option<Cow<'static, str>>,
        attributes: AttributeList,
        new_trace: bool,
    ) -> BudSpan {
        let (parent, links) = if new_trace { launch::new_trace_parent() } else { (Parent::Current, Vec::new()) };
        let launch = callsite_launch(callsite, level, message, SpanType::Span);
        self.writer().launch(launch, attributes.into_values(), parent, links)
    }

    /// A log macro without options: straight to the log.
    #[doc(hidden)]
    #[inline]
    pub fn __log(
        &self,
        callsite: &'static Callsite,
        level: Level,
        message: Option<Cow<'static, str>>,
        attributes: AttributeList,
        record: impl FnOnce(&mut BudSpan),
    ) {
        let launch = callsite_launch(callsite, level, message, SpanType::Log);
        let mut span = self.writer().launch(launch, attributes.into_values(), Parent::Current, Vec::new());
        if span.is_recording() {
            record(&mut span);
        }
        span.end_log();
    }
}

/// What a macro's span or log is started with, besides its attributes.
#[inline]
fn callsite_launch(
    callsite: &'static Callsite,
    level: Level,
    message: Option<Cow<'static, str>>,
    span_type: SpanType,
) -> Launch {
    Launch {
        name: Cow::Borrowed(callsite.name.unwrap_or(callsite.template)),
        text: Text::Callsite { callsite, message },
        level,
        span_type,
        tags: Tags::Static(callsite.tags),
        kind: SpanKind::Internal,
    }
}

/// A span that records nothing, for a disabled `bud_span!`.
#[inline]
pub fn disabled_span() -> BudSpan {
    Context::map_current(BudSpan::non_recording)
}

/// What `_parent = …` accepts.
pub trait ParentContext {
    fn parent_context(self) -> Context;
}

impl ParentContext for Context {
    fn parent_context(self) -> Context {
        self
    }
}

impl ParentContext for &Context {
    fn parent_context(self) -> Context {
        self.clone()
    }
}

impl ParentContext for &BudSpan {
    fn parent_context(self) -> Context {
        self.context()
    }
}

impl ParentContext for &EnteredSpan {
    fn parent_context(self) -> Context {
        self.context()
    }
}

impl ParentContext for &SpanContext {
    fn parent_context(self) -> Context {
        Context::new().with_remote_span_context(self.clone())
    }
}

/// What `_links = […]` accepts.
pub trait LinkTarget {
    fn link_context(self) -> SpanContext;
}

impl LinkTarget for SpanContext {
    fn link_context(self) -> SpanContext {
        self
    }
}

impl LinkTarget for &SpanContext {
    fn link_context(self) -> SpanContext {
        self.clone()
    }
}

impl LinkTarget for &BudSpan {
    fn link_context(self) -> SpanContext {
        self.span_context().clone()
    }
}

impl LinkTarget for &EnteredSpan {
    fn link_context(self) -> SpanContext {
        self.span_context().clone()
    }
}

/// The receiver of every kind method. `Copy` (it is a reference) so that the lowest rank, reached by auto-deref,
/// can take it by value.
pub struct Wrap<'a, T: ?Sized>(pub &'a T);

impl<T: ?Sized> Clone for Wrap<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for Wrap<'_, T> {}

pub struct FieldsTag;
pub struct NativeTag;
pub struct JsonTag;
pub struct DisplayTextTag;
pub struct UnsupportedTag;
pub struct SkipTag;

impl DisplayTextTag {
    /// Whether a message can be rendered from the recorded attribute exactly as `format!` shows the value: here
    /// yes, the attribute is the `Display` text.
    #[inline]
    pub fn defers<T: ?Sized>(self, _value: &T) -> bool {
        true
    }

    #[inline]
    pub fn record<T: fmt::Display + ?Sized>(self, list: &mut AttributeList, key: &'static str, value: &T) {
        list.push_display(key, value);
    }
}

impl FieldsTag {
    #[inline]
    pub fn defers<T: ?Sized>(self, _value: &T) -> bool {
        false
    }

    #[inline]
    pub fn record<T: BudAttributes + ?Sized>(self, list: &mut AttributeList, key: &'static str, value: &T) {
        list.push_fields(key, value);
    }
}

impl NativeTag {
    #[inline]
    pub fn defers<T: NativeValue + ?Sized>(self, _value: &T) -> bool {
        T::DISPLAYS_AS_VALUE
    }

    #[inline]
    pub fn record<T: NativeValue + ?Sized>(self, list: &mut AttributeList, key: &'static str, value: &T) {
        list.push_native(key, value);
    }
}

impl JsonTag {
    #[inline]
    pub fn defers<T: ?Sized>(self, _value: &T) -> bool {
        false
    }

    #[inline]
    pub fn record<T: Serialize + ?Sized>(self, list: &mut AttributeList, key: &'static str, value: &T) {
        list.push_json(key, value);
    }
}

impl UnsupportedTag {
    #[inline]
    pub fn defers<T: ?Sized>(self, _value: &T) -> bool {
        false
    }

    /// The cast to `&dyn Recordable` is what fails for a value of no attribute form: the compiler's error then
    /// names the value's type and the trait's advice, and nothing of this module.
    pub fn record(self, _list: &mut AttributeList, _key: &'static str, _value: &dyn Recordable) {}
}

impl SkipTag {
    #[inline]
    pub fn record<T: ?Sized>(self, _list: &mut AttributeList, _key: &'static str, _value: &T) {}
}

/// The kind methods, one trait per rank. `$method` is the method the macros call; `$fallback` is what a value of
/// no known kind gets (a compile error for values the user named, nothing for arguments extracted by default).
macro_rules! attribute_kinds {
    ($method:ident, $fields:ident, $native:ident, $json:ident, $display:ident, $last:ident => $fallback:ident) => {
        pub trait $fields {
            #[inline]
            fn $method(self) -> FieldsTag
            where
                Self: Sized,
            {
                FieldsTag
            }
        }
        impl<T: BudAttributes + ?Sized> $fields for &&&&Wrap<'_, T> {}

        pub trait $native {
            #[inline]
            fn $method(self) -> NativeTag
            where
                Self: Sized,
            {
                NativeTag
            }
        }
        impl<T: NativeValue + ?Sized> $native for &&&Wrap<'_, T> {}

        pub trait $json {
            #[inline]
            fn $method(self) -> JsonTag
            where
                Self: Sized,
            {
                JsonTag
            }
        }
        impl<T: Serialize + ?Sized> $json for &&Wrap<'_, T> {}

        pub trait $display {
            #[inline]
            fn $method(self) -> DisplayTextTag
            where
                Self: Sized,
            {
                DisplayTextTag
            }
        }
        impl<T: fmt::Display + ?Sized> $display for &Wrap<'_, T> {}

        pub trait $last {
            #[inline]
            fn $method(self) -> $fallback
            where
                Self: Sized,
            {
                $fallback
            }
        }
        impl<T: ?Sized> $last for Wrap<'_, T> {}
    };
}

attribute_kinds!(__bud_attr_kind, AttrFieldsKind, AttrNativeKind, AttrJsonKind, AttrDisplayKind, AttrOtherKind => UnsupportedTag);
attribute_kinds!(__bud_arg_kind, ArgFieldsKind, ArgNativeKind, ArgJsonKind, ArgDisplayKind, ArgOtherKind => SkipTag);

// ---- message formatting ----

/// Shows a native value that has no `Display` (`Option`, arrays): the value, or `None`.
pub struct ShowNative<'a, T: ?Sized>(&'a T);

impl<T: NativeValue + ?Sized> fmt::Display for ShowNative<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.to_value() {
            Some(Value::String(s)) => f.pad(s.as_str()),
            Some(value) => f.pad(&value.to_string()),
            None => f.pad("None"),
        }
    }
}

/// Shows the fields of a [`BudAttributes`] value.
pub struct ShowFields<'a, T: ?Sized>(&'a T);

impl<T: BudAttributes + ?Sized> fmt::Display for ShowFields<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_fields(self.0, f)
    }
}

/// Shows a `Serialize` value as compact JSON.
pub struct ShowJson<'a, T: ?Sized>(&'a T);

impl<T: Serialize + ?Sized> fmt::Display for ShowJson<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_string(self.0) {
            Ok(json) => f.pad(&json),
            Err(err) => write!(f, "<unserializable: {err}>"),
        }
    }
}

// Copy: a message may be formatted twice (the second time with its values bounded).
#[derive(Clone, Copy)]
pub struct DisplayTag;
#[derive(Clone, Copy)]
pub struct NativeShowTag;
#[derive(Clone, Copy)]
pub struct FieldsShowTag;
#[derive(Clone, Copy)]
pub struct JsonShowTag;
#[derive(Clone, Copy)]
pub struct UnsupportedShowTag;

impl DisplayTag {
    #[inline]
    pub fn show<T: fmt::Display + ?Sized>(self, value: &T) -> &T {
        value
    }
}

impl NativeShowTag {
    #[inline]
    pub fn show<T: NativeValue + ?Sized>(self, value: &T) -> ShowNative<'_, T> {
        ShowNative(value)
    }
}

impl FieldsShowTag {
    #[inline]
    pub fn show<T: BudAttributes + ?Sized>(self, value: &T) -> ShowFields<'_, T> {
        ShowFields(value)
    }
}

impl JsonShowTag {
    #[inline]
    pub fn show<T: Serialize + ?Sized>(self, value: &T) -> ShowJson<'_, T> {
        ShowJson(value)
    }
}

impl UnsupportedShowTag {
    /// As `UnsupportedTag::record`: the cast to `&dyn Showable` is the error.
    pub fn show(self, _value: &dyn Showable) -> &'static str {
        ""
    }
}

macro_rules! kind {
    ($trait:ident, $method:ident -> $tag:ident for $($receiver:tt)*) => {
        pub trait $trait {
            #[inline]
            fn $method(self) -> $tag
            where
                Self: Sized,
            {
                $tag
            }
        }
        $($receiver)*
    };
}

kind!(ShowDisplayKind, __bud_show_kind -> DisplayTag for impl<T: fmt::Display + ?Sized> ShowDisplayKind for &&&&Wrap<'_, T> {});
kind!(ShowNativeKind, __bud_show_kind -> NativeShowTag for impl<T: NativeValue + ?Sized> ShowNativeKind for &&&Wrap<'_, T> {});
kind!(ShowFieldsKind, __bud_show_kind -> FieldsShowTag for impl<T: BudAttributes + ?Sized> ShowFieldsKind for &&Wrap<'_, T> {});
kind!(ShowJsonKind, __bud_show_kind -> JsonShowTag for impl<T: Serialize + ?Sized> ShowJsonKind for &Wrap<'_, T> {});
kind!(ShowOtherKind, __bud_show_kind -> UnsupportedShowTag for impl<T: ?Sized> ShowOtherKind for Wrap<'_, T> {});

// ---- results of instrumented functions ----

/// Never constructed: the error type of a return value that is not a `Result`.
pub enum NoError {}

pub struct ResultTag;
pub struct PlainTag;

impl ResultTag {
    #[inline]
    pub fn ok<T, E>(self, result: &Result<T, E>) -> Option<&T> {
        result.as_ref().ok()
    }

    #[inline]
    pub fn err<T, E>(self, result: &Result<T, E>) -> Option<&E> {
        result.as_ref().err()
    }
}

impl PlainTag {
    #[inline]
    pub fn ok<T: ?Sized>(self, value: &T) -> Option<&T> {
        Some(value)
    }

    #[inline]
    pub fn err<T: ?Sized>(self, _value: &T) -> Option<&NoError> {
        None
    }
}

kind!(ResultKind, __bud_result_kind -> ResultTag for impl<T, E> ResultKind for &Wrap<'_, Result<T, E>> {});
kind!(PlainKind, __bud_result_kind -> PlainTag for impl<T: ?Sized> PlainKind for Wrap<'_, T> {});

pub struct StdErrorTag;
pub struct DynErrorTag;
pub struct DisplayErrorTag;
pub struct DebugErrorTag;
pub struct OpaqueErrorTag;

impl StdErrorTag {
    pub fn record<E: Error + ?Sized>(self, span: &mut BudSpan, error: &E) {
        span.record_exception(error);
    }
}

impl DynErrorTag {
    pub fn record<E: AsRef<dyn Error + Send + Sync + 'static> + ?Sized>(self, span: &mut BudSpan, error: &E) {
        span.record_error_parts(std::any::type_name::<E>(), error.as_ref());
    }
}

impl DisplayErrorTag {
    pub fn record<E: fmt::Display + ?Sized>(self, span: &mut BudSpan, error: &E) {
        span.record_error_message(std::any::type_name::<E>(), error.to_string());
    }
}

impl DebugErrorTag {
    pub fn record<E: fmt::Debug + ?Sized>(self, span: &mut BudSpan, error: &E) {
        span.record_error_message(std::any::type_name::<E>(), format!("{error:?}"));
    }
}

impl OpaqueErrorTag {
    pub fn record<E: ?Sized>(self, span: &mut BudSpan, _error: &E) {
        span.record_error_message(std::any::type_name::<E>(), String::new());
    }
}

kind!(StdErrorKind, __bud_error_kind -> StdErrorTag for impl<E: Error + ?Sized> StdErrorKind for &&&&Wrap<'_, E> {});
kind!(DynErrorKind, __bud_error_kind -> DynErrorTag for impl<E: AsRef<dyn Error + Send + Sync + 'static> + ?Sized> DynErrorKind for &&&Wrap<'_, E> {});
kind!(DisplayErrorKind, __bud_error_kind -> DisplayErrorTag for impl<E: fmt::Display + ?Sized> DisplayErrorKind for &&Wrap<'_, E> {});
kind!(DebugErrorKind, __bud_error_kind -> DebugErrorTag for impl<E: fmt::Debug + ?Sized> DebugErrorKind for &Wrap<'_, E> {});
kind!(OpaqueErrorKind, __bud_error_kind -> OpaqueErrorTag for impl<E: ?Sized> OpaqueErrorKind for Wrap<'_, E> {});

/// Sets an error status with no exception event (for `Err` values the macro could not describe).
pub fn set_error_status(span: &mut BudSpan) {
    span.set_status(Status::error(""));
}

/// All kind traits, for `use … ::kinds::*` in expansions.
pub mod kinds {
    pub use super::{
        ArgDisplayKind as _, ArgFieldsKind as _, ArgJsonKind as _, ArgNativeKind as _, ArgOtherKind as _,
        AttrDisplayKind as _, AttrFieldsKind as _, AttrJsonKind as _, AttrNativeKind as _, AttrOtherKind as _,
        DebugErrorKind as _, DisplayErrorKind as _, DynErrorKind as _, LinkTarget as _, OpaqueErrorKind as _,
        ParentContext as _, PlainKind as _, ResultKind as _, ShowDisplayKind as _, ShowFieldsKind as _,
        ShowJsonKind as _, ShowNativeKind as _, ShowOtherKind as _, StdErrorKind as _,
    };
}
