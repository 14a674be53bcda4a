//! The bud context: which project, endpoint, model, API key, user and request a piece of work belongs to,
//! carried across services as W3C baggage with the keys budgateway uses (`bud.project_id`, …) and copied onto
//! every span started in it — BudObserve's own and those of libraries using the OpenTelemetry API — so BudMetrics'
//! views can group by them.
//!
//! ```
//! use budobserve::BudContext;
//!
//! let _scope = BudContext::new().project_id("p-1").endpoint_id("e-7").request_id("r-42").attach();
//! // Every span started here carries `bud.project_id`, `bud.endpoint_id` and `bud.request_id`.
//! let headers = budobserve::baggage::inject_headers(&budobserve::opentelemetry::Context::current());
//! assert!(headers.get("baggage").is_some_and(|b| b.contains("bud.project_id=p-1")));
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use opentelemetry::baggage::{Baggage, BaggageExt as _, BaggageMetadata};
use opentelemetry::propagation::text_map_propagator::TextMapPropagator as _;
use opentelemetry::propagation::{Extractor, Injector, TextMapCompositePropagator};
use opentelemetry::{Context, ContextGuard, KeyValue, StringValue};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

use crate::constants::bud;

/// Every bud context key, in the order spans get them.
pub const KEYS: [&str; 10] = [
    bud::PROJECT_ID,
    bud::PROMPT_ID,
    bud::PROMPT_VERSION_ID,
    bud::ENDPOINT_ID,
    bud::MODEL_ID,
    bud::API_KEY_ID,
    bud::API_KEY_PROJECT_ID,
    bud::USER_ID,
    bud::CLUSTER_ID,
    bud::REQUEST_ID,
];

/// The bud context of a request (see the [module docs](self)). Unset fields are not carried.
///
/// ```
/// use budobserve::{BudContext, bud_info};
///
/// let _bud = BudContext::new().project_id("proj-1").model_id("llama-3-8b").attach();
/// bud_info!("routed");                                   // carries bud.project_id and bud.model_id
/// assert_eq!(BudContext::current().project_id.as_deref(), Some("proj-1"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BudContext {
    /// `bud.project_id`.
    pub project_id: Option<String>,
    /// `bud.prompt_id`.
    pub prompt_id: Option<String>,
    /// `bud.prompt_version_id`.
    pub prompt_version_id: Option<String>,
    /// `bud.endpoint_id`.
    pub endpoint_id: Option<String>,
    /// `bud.model_id`.
    pub model_id: Option<String>,
    /// `bud.api_key_id`.
    pub api_key_id: Option<String>,
    /// `bud.api_key_project_id`.
    pub api_key_project_id: Option<String>,
    /// `bud.user_id`.
    pub user_id: Option<String>,
    /// `bud.cluster_id`.
    pub cluster_id: Option<String>,
    /// `bud.request_id`.
    pub request_id: Option<String>,
}

macro_rules! setters {
    ($($field:ident),*) => {$(
        #[doc = concat!("Sets `bud.", stringify!($field), "`.")]
        #[must_use]
        pub fn $field(mut self, value: impl Into<String>) -> Self {
            self.$field = Some(value.into());
            self
        }
    )*};
}

impl BudContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    setters!(
        project_id,
        prompt_id,
        prompt_version_id,
        endpoint_id,
        model_id,
        api_key_id,
        api_key_project_id,
        user_id,
        cluster_id,
        request_id
    );

    fn fields(&self) -> [(&'static str, &Option<String>); 10] {
        [
            (bud::PROJECT_ID, &self.project_id),
            (bud::PROMPT_ID, &self.prompt_id),
            (bud::PROMPT_VERSION_ID, &self.prompt_version_id),
            (bud::ENDPOINT_ID, &self.endpoint_id),
            (bud::MODEL_ID, &self.model_id),
            (bud::API_KEY_ID, &self.api_key_id),
            (bud::API_KEY_PROJECT_ID, &self.api_key_project_id),
            (bud::USER_ID, &self.user_id),
            (bud::CLUSTER_ID, &self.cluster_id),
            (bud::REQUEST_ID, &self.request_id),
        ]
    }

    /// The bud context carried by `cx`'s baggage.
    pub fn from_context(cx: &Context) -> BudContext {
        let baggage = cx.baggage();
        let get = |key: &str| baggage.get(key).map(|value| value.as_str().to_owned());
        BudContext {
            project_id: get(bud::PROJECT_ID),
            prompt_id: get(bud::PROMPT_ID),
            prompt_version_id: get(bud::PROMPT_VERSION_ID),
            endpoint_id: get(bud::ENDPOINT_ID),
            model_id: get(bud::MODEL_ID),
            api_key_id: get(bud::API_KEY_ID),
            api_key_project_id: get(bud::API_KEY_PROJECT_ID),
            user_id: get(bud::USER_ID),
            cluster_id: get(bud::CLUSTER_ID),
            request_id: get(bud::REQUEST_ID),
        }
    }

    /// The bud context of the current context.
    pub fn current() -> BudContext {
        Context::map_current(BudContext::from_context)
    }

    /// `cx` with this context's fields in its baggage (other baggage entries kept; a field set here replaces the
    /// same key there).
    pub fn to_context(&self, cx: &Context) -> Context {
        with_entries(cx, self.fields().into_iter().filter_map(|(key, value)| Some((key, value.clone()?))))
    }

    /// Makes the current context carry this bud context until the guard drops. For a future, use
    /// `future.with_context(bud.to_context(&Context::current()))` (`opentelemetry::trace::FutureExt`).
    #[must_use = "the bud context is current only while the guard lives"]
    pub fn attach(&self) -> ContextGuard {
        Context::map_current(|cx| self.to_context(cx)).attach()
    }
}

/// `cx` with `entries` in its baggage, its other entries kept (an entry given replaces the same key).
pub(crate) fn with_entries(cx: &Context, entries: impl IntoIterator<Item = (&'static str, String)>) -> Context {
    let mut baggage = Baggage::new();
    for (key, (value, metadata)) in cx.baggage().iter() {
        baggage.insert_with_metadata(key.clone(), value.clone(), metadata.clone());
    }
    for (key, value) in entries {
        baggage.insert(key, StringValue::from(value));
    }
    cx.with_baggage(baggage)
}

/// The bud context entries of `cx`'s baggage as span attributes (none when it carries no baggage).
#[inline]
pub(crate) fn span_attributes(cx: &Context) -> Option<Vec<KeyValue>> {
    let baggage = cx.baggage();
    if baggage.is_empty() {
        return None;
    }
    let attributes: Vec<KeyValue> = if baggage.len() <= SCAN_LIMIT {
        // A few entries: compared by text, cheaper than hashing ten keys.
        KEYS.iter()
            .filter_map(|key| {
                baggage
                    .iter()
                    .find(|(name, _)| name.as_str() == *key)
                    .map(|(_, (value, _))| KeyValue::new(*key, value.clone()))
            })
            .collect()
    } else {
        KEYS.iter().filter_map(|key| baggage.get(*key).map(|value| KeyValue::new(*key, value.clone()))).collect()
    };
    (!attributes.is_empty()).then_some(attributes)
}

/// Up to this many baggage entries, the bud keys are found by scanning rather than by hash lookups.
const SCAN_LIMIT: usize = 8;

/// W3C trace context and baggage, the propagation every bud-stack service speaks (built once).
fn propagator() -> &'static TextMapCompositePropagator {
    static PROPAGATOR: LazyLock<TextMapCompositePropagator> = LazyLock::new(|| {
        TextMapCompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(BaggagePropagator::new()),
        ])
    });
    &PROPAGATOR
}

/// Writes `cx`'s span context (`traceparent`, `tracestate`) and baggage (`baggage`, bud context included) into
/// `carrier` (request headers).
///
/// ```
/// use std::collections::HashMap;
///
/// use budobserve::opentelemetry::Context;
/// use budobserve::{BudContext, bud_span};
///
/// let _bud = BudContext::new().project_id("proj-1").attach();
/// let span = bud_span!("call");
/// let mut headers: HashMap<String, String> = HashMap::new();  // any `Injector`: a header map, a CloudEvent…
/// budobserve::baggage::inject(&span.context_in(Context::current()), &mut headers);
/// assert!(headers["baggage"].contains("bud.project_id=proj-1"));
/// ```
pub fn inject(cx: &Context, carrier: &mut dyn Injector) {
    propagator().inject_context(cx, carrier);
}

/// [`inject`] into a new map of header names to values.
///
/// ```
/// use budobserve::BudContext;
/// use budobserve::opentelemetry::Context;
///
/// let cx = BudContext::new().request_id("req-9").to_context(&Context::current());
/// let headers = budobserve::baggage::inject_headers(&cx);
/// assert!(headers["baggage"].contains("bud.request_id=req-9"));
/// ```
pub fn inject_headers(cx: &Context) -> HashMap<String, String> {
    let mut headers = HashMap::new();
    inject(cx, &mut headers);
    headers
}

/// The context `carrier` (request headers) carries: the remote parent span and the baggage, bud context included.
///
/// ```
/// use std::collections::HashMap;
///
/// use budobserve::BudContext;
///
/// let headers = HashMap::from([
///     ("traceparent".to_owned(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned()),
///     ("baggage".to_owned(), "bud.project_id=proj-1".to_owned()),
/// ]);
/// let cx = budobserve::baggage::extract(&headers);            // the caller's span as parent, its bud context
/// assert_eq!(BudContext::from_context(&cx).project_id.as_deref(), Some("proj-1"));
/// ```
///
/// Headers are checked strictly first (W3C Trace Context and Baggage): a malformed `traceparent` is no parent — the
/// request starts a fresh trace — and a malformed baggage member is skipped alone.
pub fn extract(carrier: &dyn Extractor) -> Context {
    propagator().extract(&crate::inbound::Checked::new(carrier))
}

/// The most members W3C Baggage asks every receiver to carry on.
pub const MAX_MEMBERS: usize = 64;

/// The most bytes of a `baggage` header W3C Baggage asks every receiver to carry on.
pub const MAX_BYTES: usize = 8192;

/// Why [`set_baggage`] refused entries. The current context is left as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BaggageError {
    /// A key that is not a W3C token.
    #[error("baggage key `{0}` is not a W3C token: use letters, digits and !#$%&'*+-.^_`|~ (no spaces, commas or `=`)")]
    InvalidKey(String),
    /// The baggage would not travel whole: over [`MAX_MEMBERS`] members or [`MAX_BYTES`] bytes once encoded.
    #[error(
        "baggage would hold {members} members in {bytes} bytes once encoded, over W3C's {max_members} members or \
         {max_bytes} bytes: receivers may drop it",
        max_members = MAX_MEMBERS,
        max_bytes = MAX_BYTES
    )]
    TooLarge {
        /// Members the baggage would hold.
        members: usize,
        /// Bytes of its `baggage` header.
        bytes: usize,
    },
}

/// Whether `key` is a W3C token (RFC 7230 `tchar`s).
fn is_token(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `cx` with `entries` added to its baggage (other entries kept; a key given replaces the same key), checked
/// against W3C's limits.
///
/// ```
/// use budobserve::baggage::{self, BaggageError};
/// use budobserve::opentelemetry::Context;
///
/// let cx = baggage::with_baggage(&Context::new(), [("tenant", "acme")])?;
/// assert_eq!(baggage::baggage_of(&cx).get("tenant").map(String::as_str), Some("acme"));
/// assert!(matches!(baggage::with_baggage(&cx, [("bad key", "x")]), Err(BaggageError::InvalidKey(_))));
/// # Ok::<(), BaggageError>(())
/// ```
pub fn with_baggage<I, K, V>(cx: &Context, entries: I) -> Result<Context, BaggageError>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    // Counted here: the SDK's baggage drops what is over its limits without a word.
    let mut members: Vec<(opentelemetry::Key, StringValue, BaggageMetadata)> =
        cx.baggage().iter().map(|(key, (value, metadata))| (key.clone(), value.clone(), metadata.clone())).collect();
    for (key, value) in entries {
        let key = key.into();
        if !is_token(&key) {
            return Err(BaggageError::InvalidKey(key));
        }
        let value = StringValue::from(value.into());
        match members.iter_mut().find(|(existing, _, _)| existing.as_str() == key) {
            Some(member) => (member.1, member.2) = (value, BaggageMetadata::default()),
            None => members.push((key.into(), value, BaggageMetadata::default())),
        }
    }
    let bytes = encoded_len(&members);
    if members.len() > MAX_MEMBERS || bytes > MAX_BYTES {
        return Err(BaggageError::TooLarge { members: members.len(), bytes });
    }
    let mut baggage = Baggage::new();
    for (key, value, metadata) in members {
        baggage.insert_with_metadata(key, value, metadata);
    }
    Ok(cx.with_baggage(baggage))
}

/// The length of the `baggage` header of `members` as the propagator writes it: names and values trimmed and
/// percent-encoded (controls, non-ASCII bytes, space, `"`, `;`, `,`, `=`), metadata after a `;`.
fn encoded_len(members: &[(opentelemetry::Key, StringValue, BaggageMetadata)]) -> usize {
    let encoded = |text: &str| {
        text.trim()
            .bytes()
            .map(|b| if !(0x20..0x7f).contains(&b) || b" \";,=".contains(&b) { 3 } else { 1 })
            .sum::<usize>()
    };
    let member = |(key, value, metadata): &(opentelemetry::Key, StringValue, BaggageMetadata)| {
        let metadata = metadata.as_str().trim();
        encoded(key.as_str()) + 1 + encoded(value.as_str()) + if metadata.is_empty() { 0 } else { 1 + metadata.len() }
    };
    members.iter().map(member).sum::<usize>() + members.len().saturating_sub(1)
}

/// Adds `entries` to the current context's baggage until the guard drops: they travel with every outgoing request
/// (the integrations inject them) and, with
/// [`ConfigBuilder::baggage_to_attributes`](crate::ConfigBuilder::baggage_to_attributes), go onto every span. For a
/// future, use `future.with_context(baggage::with_baggage(&Context::current(), …)?)`.
///
/// ```
/// use budobserve::baggage;
///
/// let _tenant = baggage::set_baggage([("tenant", "acme"), ("plan", "pro")])?;
/// assert_eq!(baggage::get_baggage()["plan"], "pro");
/// # Ok::<(), budobserve::baggage::BaggageError>(())
/// ```
#[must_use = "the baggage is current only while the guard lives"]
pub fn set_baggage<I, K, V>(entries: I) -> Result<ContextGuard, BaggageError>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    Ok(Context::map_current(|cx| with_baggage(cx, entries))?.attach())
}

/// Every baggage entry of the current context, by key (the bud context's included).
pub fn get_baggage() -> BTreeMap<String, String> {
    Context::map_current(baggage_of)
}

/// Every baggage entry of `cx`, by key.
pub fn baggage_of(cx: &Context) -> BTreeMap<String, String> {
    cx.baggage().iter().map(|(key, (value, _))| (key.as_str().to_owned(), value.as_str().to_owned())).collect()
}

/// Every baggage entry of `cx` as span attributes, for spans that copy all baggage: the bud context's keys in
/// their order, then the others by key.
pub(crate) fn all_span_attributes(cx: &Context) -> Vec<KeyValue> {
    let mut attributes = span_attributes(cx).unwrap_or_default();
    let mut others: Vec<KeyValue> = cx
        .baggage()
        .iter()
        .filter(|(key, _)| !KEYS.contains(&key.as_str()))
        .map(|(key, (value, _))| KeyValue::new(key.clone(), value.clone()))
        .collect();
    others.sort_by(|a, b| a.key.as_str().cmp(b.key.as_str()));
    attributes.append(&mut others);
    attributes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counted_length_is_the_header_the_propagator_writes() {
        let values = ["plain", "with space", " trimmed ", "ünïcode", "a,b;c=d\"e", "\u{1}ctl", "%25", "~-._"];
        let cx = with_baggage(&Context::new(), values.iter().enumerate().map(|(n, v)| (format!("k{n}"), *v)))
            .expect("within the limits");
        let members: Vec<_> = cx.baggage().iter().map(|(k, (v, m))| (k.clone(), v.clone(), m.clone())).collect();
        assert_eq!(encoded_len(&members), inject_headers(&cx)["baggage"].len());
        let with_metadata = Context::new().with_baggage([opentelemetry::baggage::KeyValueMetadata::new(
            "k",
            "v",
            BaggageMetadata::from("ttl=3"),
        )]);
        let members: Vec<_> =
            with_metadata.baggage().iter().map(|(k, (v, m))| (k.clone(), v.clone(), m.clone())).collect();
        assert_eq!(encoded_len(&members), inject_headers(&with_metadata)["baggage"].len());
    }

    #[test]
    fn round_trips_through_headers_with_other_baggage_kept() {
        let cx = Context::new().with_baggage([KeyValue::new("tenant", "t-1")]);
        let bud = BudContext::new().project_id("p-1").model_id("m-2").request_id("r 3");
        let cx = bud.to_context(&cx);
        let headers = inject_headers(&cx);
        let extracted = extract(&headers);
        assert_eq!(BudContext::from_context(&extracted), bud);
        assert_eq!(extracted.baggage().get("tenant").map(|v| v.as_str().to_owned()), Some("t-1".to_owned()));
        let attributes = span_attributes(&extracted).unwrap();
        assert_eq!(
            attributes,
            [
                KeyValue::new(bud::PROJECT_ID, "p-1"),
                KeyValue::new(bud::MODEL_ID, "m-2"),
                KeyValue::new(bud::REQUEST_ID, "r 3")
            ]
        );
        assert!(span_attributes(&Context::new()).is_none());
        assert!(span_attributes(&Context::new().with_baggage([KeyValue::new("tenant", "t")])).is_none());
    }
}
