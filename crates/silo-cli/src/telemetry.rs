//! Logs and traces of a `silo` process (docs/OBSERVABILITY.md). Logs: the `tracing` events
//! of every library, written to standard error (standard output stays the command's
//! result) as text or as one JSON object a line (`--log-format`), filtered by `SILO_LOG`
//! (else `RUST_LOG`; `EnvFilter` syntax, default `warn`). Traces: off unless an OTLP
//! endpoint is given (`--otlp-endpoint` or `OTEL_EXPORTER_OTLP_ENDPOINT`); then the spans
//! of the turn (`task` → `dispatch` → `cell` → `membrane.call`) go to
//! `<endpoint>/v1/traces` as OTLP/HTTP JSON from a batch thread, flushed when the command
//! ends (and, for `silo serve`, on SIGTERM or SIGINT).
//!
//! The exporter posts through ureq (the HTTP client the CLI already has) instead of
//! reqwest or tonic: one small adapter below, and no second HTTP stack or gRPC to build.
//! Span fields are ids, names, decisions and rules only; the libraries never put a key, a
//! token or a raw personal value in a span or an event.

use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// How log lines are written to standard error.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event (`timestamp`, `level`, `fields`, `target`, `span`).
    Json,
}

/// What the command line and environment chose.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--log-format` / `SILO_LOG_FORMAT`.
    pub format: LogFormat,
    /// `--otlp-endpoint` / `OTEL_EXPORTER_OTLP_ENDPOINT`: the collector's base URL; traces
    /// are off without it.
    pub otlp_endpoint: Option<String>,
}

/// The level filter when neither `SILO_LOG` nor `RUST_LOG` is set.
const DEFAULT_LOG_FILTER: &str = "warn";
/// Which spans and events go to the trace exporter: silo's own, from `info` up.
const TRACE_FILTER: &str = "info";
/// The longest an export may take before it is dropped.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest collector answer read.
const MAX_ANSWER_BYTES: u64 = 1024 * 1024;

/// The installed logging and tracing; [`Telemetry::shutdown`] flushes pending spans.
#[derive(Debug)]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

/// The log filter: `SILO_LOG`, else `RUST_LOG`, else [`DEFAULT_LOG_FILTER`].
fn log_filter() -> anyhow::Result<EnvFilter> {
    let chosen = ["SILO_LOG", "RUST_LOG"]
        .into_iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()));
    let spec = chosen.as_deref().unwrap_or(DEFAULT_LOG_FILTER);
    EnvFilter::builder()
        .parse(spec)
        .with_context(|| format!("the log filter `{spec}` (SILO_LOG / RUST_LOG)"))
}

/// Installs the process's subscriber: logs always, traces when an endpoint is given.
pub fn init(options: &Options) -> anyhow::Result<Telemetry> {
    let filter = log_filter()?;
    let logs = match options.format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(filter)
            .boxed(),
    };
    let endpoint = options
        .otlp_endpoint
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    let (traces, provider) = match endpoint {
        None => (None, None),
        Some(endpoint) => {
            let provider = tracer_provider(endpoint)?;
            let layer = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("silo"))
                .with_location(false)
                .with_threads(false)
                .with_filter(EnvFilter::new(TRACE_FILTER))
                .boxed();
            (Some(layer), Some(provider))
        }
    };
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .context("installing the log subscriber")?;
    Ok(Telemetry { traces: provider })
}

/// The span pipeline: a batch thread exporting OTLP/HTTP JSON to `<endpoint>/v1/traces`.
fn tracer_provider(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        // Not echoed: a URL may carry credentials, and a hostile one may be huge.
        anyhow::bail!(
            "the OTLP endpoint is not an http:// or https:// URL \
             (--otlp-endpoint / OTEL_EXPORTER_OTLP_ENDPOINT)"
        );
    }
    // A base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is defined: the signal's path is added.
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(EXPORT_TIMEOUT))
        .build()
        .new_agent();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(url)
        .with_timeout(EXPORT_TIMEOUT)
        .with_http_client(UreqClient(agent))
        .build()
        .context("building the OTLP span exporter")?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("silo")
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

impl Telemetry {
    /// Exports the spans still queued and stops the exporter (a no-op without traces).
    pub fn shutdown(&self) {
        if let Some(provider) = &self.traces {
            if let Err(e) = provider.shutdown() {
                eprintln!("silo: flushing traces: {e}");
            }
        }
    }

    /// For a long-running command (`silo serve`): on SIGTERM or SIGINT, flush the spans
    /// and exit as the signal would have (128 + its number). Nothing to do without traces.
    pub fn flush_on_termination(&self) -> anyhow::Result<()> {
        let Some(provider) = self.traces.clone() else {
            return Ok(());
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .context("starting the signal listener")?;
        std::thread::Builder::new()
            .name("silo-telemetry-signals".into())
            .spawn(move || {
                use tokio::signal::unix::{signal, SignalKind};
                let code = runtime.block_on(async {
                    let (Ok(mut term), Ok(mut int)) = (
                        signal(SignalKind::terminate()),
                        signal(SignalKind::interrupt()),
                    ) else {
                        return None;
                    };
                    tokio::select! {
                        _ = term.recv() => Some(128 + 15),
                        _ = int.recv() => Some(128 + 2),
                    }
                });
                if let Some(code) = code {
                    let _ = provider.shutdown();
                    std::process::exit(code);
                }
            })
            .context("starting the signal listener")?;
        Ok(())
    }
}

/// The OTLP exporter's HTTP client: a blocking ureq agent. The SDK's batch processor runs
/// exports on its own thread, so blocking there stalls no runtime.
#[derive(Debug)]
struct UreqClient(ureq::Agent);

#[async_trait::async_trait]
impl HttpClient for UreqClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, body.to_vec());
        let mut answer = self.0.run(request)?;
        let status = answer.status();
        let body = answer
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()?;
        let mut response = Response::new(Bytes::from(body));
        *response.status_mut() = status;
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_must_be_an_http_url() {
        let err = tracer_provider("127.0.0.1:4318").unwrap_err();
        assert!(err.to_string().contains("not an http"), "{err}");
        assert!(tracer_provider("http://127.0.0.1:4318/").is_ok());
    }
}
