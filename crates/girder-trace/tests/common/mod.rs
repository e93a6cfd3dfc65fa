//! A subscriber layer that keeps every span and event with its fields.

#![allow(dead_code, unreachable_pub)]

pub mod events;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

#[derive(Debug, Clone)]
pub struct SpanRec {
    pub name: String,
    pub level: Level,
    pub fields: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct EventRec {
    pub level: Level,
    pub target: String,
    pub message: String,
    pub fields: BTreeMap<String, String>,
    /// Index into `spans` of the span the event belongs to.
    pub span: Option<usize>,
}

#[derive(Debug, Default)]
struct State {
    spans: Vec<SpanRec>,
    ids: HashMap<u64, usize>,
    events: Vec<EventRec>,
    /// `on_record` calls: each is a dispatch to every layer.
    records: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Capture(Arc<Mutex<State>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S> tracing_subscriber::Layer<S> for Capture
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let mut state = self.0.lock().unwrap();
        let index = state.spans.len();
        state.spans.push(SpanRec {
            name: attrs.metadata().name().to_owned(),
            level: *attrs.metadata().level(),
            fields,
        });
        state.ids.insert(id.into_u64(), index);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut state = self.0.lock().unwrap();
        state.records += 1;
        if let Some(&index) = state.ids.get(&id.into_u64()) {
            values.record(&mut Fields(&mut state.spans[index].fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let message = fields.remove("message").unwrap_or_default();
        let span = ctx.event_span(event).map(|s| s.id().into_u64());
        let mut state = self.0.lock().unwrap();
        let span = span.and_then(|id| state.ids.get(&id).copied());
        state.events.push(EventRec {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            message,
            fields,
            span,
        });
    }
}

impl Capture {
    /// Installs a capture for the current thread, up to `max` level.
    pub fn install(max: Level) -> (Capture, tracing::subscriber::DefaultGuard) {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry()
            .with(capture.clone())
            .with(tracing_subscriber::filter::LevelFilter::from_level(max));
        let guard = tracing::subscriber::set_default(subscriber);
        (capture, guard)
    }

    pub fn spans(&self) -> Vec<SpanRec> {
        self.0.lock().unwrap().spans.clone()
    }

    /// How many times a span's fields were recorded after its creation.
    pub fn record_calls(&self) -> usize {
        self.0.lock().unwrap().records
    }

    pub fn events(&self) -> Vec<EventRec> {
        self.0.lock().unwrap().events.clone()
    }

    /// The one span of the layer.
    pub fn span(&self) -> SpanRec {
        let spans: Vec<_> = self
            .spans()
            .into_iter()
            .filter(|s| s.name == "http.client.request")
            .collect();
        assert_eq!(spans.len(), 1, "{spans:#?}");
        spans[0].clone()
    }

    /// The events whose message is `message`.
    pub fn event(&self, message: &str) -> EventRec {
        let found: Vec<_> = self
            .events()
            .into_iter()
            .filter(|e| e.message == message)
            .collect();
        assert_eq!(found.len(), 1, "{message:?} in {:#?}", self.events());
        found[0].clone()
    }

    pub fn messages(&self) -> Vec<String> {
        self.events().into_iter().map(|e| e.message).collect()
    }

    /// Everything captured, as one text, for searching.
    pub fn text(&self) -> String {
        format!("{:?}", self.0.lock().unwrap())
    }
}
