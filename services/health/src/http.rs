//! `/livez`, `/readyz` and `/healthz` as an axum router.

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::registry::{HealthRegistry, Status};

/// Media type of every probe response (draft-inadarei-api-health-check).
pub const HEALTH_JSON: &str = "application/health+json";

fn respond(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(HEALTH_JSON));
    // A cached probe answer is a wrong answer.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl HealthRegistry {
    /// The probe endpoints, to merge into the application's router:
    ///
    /// | route | 200 when | 503 when | body |
    /// |---|---|---|---|
    /// | `GET /livez` | the process is alive | [`set_alive(false)`](HealthRegistry::set_alive) | `{"status":"pass"}` |
    /// | `GET /readyz` | every critical check passes and shutdown has not begun | otherwise | `{"status":"pass"}` or `{"status":"fail","output":"db: connection refused"}` |
    /// | `GET /healthz` | status `pass` or `warn` | status `fail` | the full report, [`HealthReport::to_json`](crate::HealthReport::to_json) |
    ///
    /// All answer `application/health+json` with `Cache-Control: no-store`; `/livez` runs no
    /// check, `/readyz` only the critical ones, `/healthz` all of them (through the cache).
    pub fn router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let live = self.clone();
        let ready = self.clone();
        let health = self.clone();
        Router::new()
            .route(
                "/livez",
                get(move || {
                    let registry = live.clone();
                    async move {
                        if registry.is_alive() {
                            respond(StatusCode::OK, &json!({ "status": "pass" }))
                        } else {
                            respond(
                                StatusCode::SERVICE_UNAVAILABLE,
                                &json!({ "status": "fail", "output": "marked dead" }),
                            )
                        }
                    }
                }),
            )
            .route(
                "/readyz",
                get(move || {
                    let registry = ready.clone();
                    async move {
                        let readiness = registry.readiness().await;
                        if readiness.ready {
                            respond(StatusCode::OK, &json!({ "status": "pass" }))
                        } else {
                            respond(
                                StatusCode::SERVICE_UNAVAILABLE,
                                &json!({ "status": "fail", "output": readiness.reasons.join("; ") }),
                            )
                        }
                    }
                }),
            )
            .route(
                "/healthz",
                get(move || {
                    let registry = health.clone();
                    async move {
                        let report = registry.check_all().await;
                        let code = match report.status {
                            Status::Pass | Status::Warn => StatusCode::OK,
                            Status::Fail => StatusCode::SERVICE_UNAVAILABLE,
                        };
                        respond(code, &report.to_json())
                    }
                }),
            )
    }
}
