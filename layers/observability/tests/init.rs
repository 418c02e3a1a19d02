//! `init` on its own process: a bad filter is an error that leaves `init` usable, JSON logs,
//! a second `init` is an error, and shutdown is clean.

use core_backend_observability::{InitError, LogFormat, ObservabilityConfig, init};

#[test]
fn init_lifecycle() {
    let error = init(ObservabilityConfig::new("init-test").log_filter("info,=[[["))
        .expect_err("invalid filter");
    assert!(
        matches!(error, InitError::InvalidLogFilter { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("=[[["), "{error}");

    let telemetry = init(
        ObservabilityConfig::new("init-test")
            .service_version("1.0.0")
            .environment("test")
            .log_format(LogFormat::Json)
            .log_filter("debug"),
    )
    .expect("a corrected init succeeds");
    assert!(!telemetry.otlp_enabled());
    assert!(format!("{telemetry:?}").starts_with("Telemetry"));

    let again = init(ObservabilityConfig::default()).expect_err("second init");
    assert!(matches!(again, InitError::AlreadyInitialized), "{again}");

    let span = tracing::info_span!("job", trace_id = "4bf92f3577b34da6a3ce929d0e0e4736");
    span.in_scope(|| tracing::info!(answer = 42, "inside a span"));
    metrics::counter!("core_backend.observability.test_events").increment(1);
    let text = telemetry.prometheus_handle().render();
    assert!(
        text.contains("core_backend_observability_test_events_total 1"),
        "{text}"
    );
    telemetry.shutdown().expect("clean shutdown");
}
