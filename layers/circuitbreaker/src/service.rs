//! [`CircuitBreakerService`].

use std::task::{Context, Poll};

use tower_service::Service;

use crate::{CircuitBreaker, ClassifyFailure, future::ResponseFuture, response::OnOpen};

/// A service guarded by a [`CircuitBreaker`]; see the [crate docs](crate).
///
/// `poll_ready` is the inner service's: an open breaker never makes the service pending (a
/// caller waiting for readiness would wait for the whole open period, and load balancers
/// would treat the endpoint as merely slow). Admission happens in `call`, so a half-open probe
/// slot is taken only by a call that is really made, and the returned future gives it back if
/// it is dropped before completing.
#[derive(Debug, Clone)]
pub struct CircuitBreakerService<S, C, O> {
    inner: S,
    breaker: CircuitBreaker,
    classifier: C,
    on_open: O,
}

impl<S, C, O> CircuitBreakerService<S, C, O> {
    /// Wraps `inner`.
    pub fn new(inner: S, breaker: CircuitBreaker, classifier: C, on_open: O) -> Self {
        Self {
            inner,
            breaker,
            classifier,
            on_open,
        }
    }

    /// The breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, C, O, Req> Service<Req> for CircuitBreakerService<S, C, O>
where
    S: Service<Req>,
    C: ClassifyFailure<S::Response, S::Error> + Clone,
    O: OnOpen<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = O::Error;
    type Future = ResponseFuture<S::Future, C, O>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|e| self.on_open.inner_error(e))
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match self.breaker.try_acquire() {
            Ok(permit) => ResponseFuture::called(
                self.inner.call(req),
                permit,
                self.classifier.clone(),
                self.on_open.clone(),
            ),
            // The inner service stays ready (its readiness is not consumed) for the next call.
            Err(open) => {
                ResponseFuture::rejected(open, self.classifier.clone(), self.on_open.clone())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::{Request, Response};
    use tower::{Layer, Service, ServiceExt, service_fn};

    use crate::{
        CircuitBreaker, CircuitBreakerConfig, CircuitBreakerLayer, CircuitOpen, ErrorClassifier,
        HostKey, KeyedCircuitBreakerLayer, State,
    };

    fn tripped() -> CircuitBreaker {
        let b = CircuitBreaker::builder()
            .name("up")
            .wait_duration_in_open(Duration::from_secs(30))
            .permitted_calls_in_half_open(1)
            .build();
        b.transition_to_open();
        b
    }

    #[tokio::test(start_paused = true)]
    async fn error_mode_refuses_without_calling_inner() {
        let b = tripped();
        let called = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let c = called.clone();
        let svc = CircuitBreakerLayer::new(b.clone()).layer(service_fn(move |_: Request<()>| {
            c.store(true, std::sync::atomic::Ordering::SeqCst);
            async { Ok::<_, std::io::Error>(Response::new(())) }
        }));
        let err = svc.oneshot(Request::new(())).await.unwrap_err();
        let open = err.downcast_ref::<CircuitOpen>().unwrap();
        assert_eq!(open.retry_after, Duration::from_secs(30));
        assert_eq!(open.state, State::Open);
        assert!(open.to_string().contains("\"up\" is OPEN"));
        assert!(!called.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test(start_paused = true)]
    async fn inner_errors_pass_through_and_count() {
        let b = CircuitBreaker::builder().minimum_number_of_calls(2).build();
        let svc = CircuitBreakerLayer::new(b.clone())
            .classifier(ErrorClassifier)
            .layer(service_fn(|(): ()| async {
                Err::<(), _>(std::io::Error::other("boom"))
            }));
        for _ in 0..2 {
            let e = svc.clone().oneshot(()).await.unwrap_err();
            assert_eq!(e.to_string(), "boom");
        }
        assert_eq!(b.state(), State::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn http_mode_answers_503_problem_json() {
        let svc = CircuitBreakerLayer::new(tripped())
            .http_responses()
            .layer(service_fn(|_: Request<()>| async {
                Ok::<_, std::convert::Infallible>(Response::new(String::new()))
            }));
        let res = svc.oneshot(Request::new(())).await.unwrap();
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers()["retry-after"], "30");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let body: serde_json::Value = serde_json::from_str(res.body()).unwrap();
        assert_eq!(body["status"], 503);
        assert_eq!(body["title"], "Service Unavailable");
    }

    #[tokio::test(start_paused = true)]
    async fn grpc_mode_answers_unavailable() {
        let svc = CircuitBreakerLayer::new(tripped())
            .grpc_responses()
            .layer(service_fn(|_: Request<()>| async {
                Ok::<_, std::convert::Infallible>(Response::new(String::new()))
            }));
        let res = svc.oneshot(Request::new(())).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["grpc-status"], "14");
        assert_eq!(res.headers()["grpc-retry-pushback-ms"], "30000");
    }

    #[tokio::test(start_paused = true)]
    async fn ready_while_open_and_dropped_probe_frees_slot() {
        let b = tripped();
        let (mock, mut handle) = tower_test::mock::pair::<Request<()>, Response<()>>();
        let mut svc = CircuitBreakerLayer::new(b.clone()).layer(mock);
        handle.allow(10);
        // Open: ready at once, refused in call.
        svc.ready().await.unwrap();
        assert!(svc.call(Request::new(())).await.is_err());

        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(b.state(), State::HalfOpen);
        svc.ready().await.unwrap();
        let probe = svc.call(Request::new(()));
        svc.ready().await.unwrap();
        let busy = svc.call(Request::new(())).await.unwrap_err();
        assert_eq!(
            busy.downcast_ref::<CircuitOpen>().unwrap().state,
            State::HalfOpen
        );
        drop(probe); // cancelled: the slot comes back
        svc.ready().await.unwrap();
        let probe = svc.call(Request::new(()));
        let (_req, send) = handle.next_request().await.unwrap();
        let (_req, send2) = handle.next_request().await.unwrap();
        drop(send);
        send2.send_response(Response::new(()));
        probe.await.unwrap();
        assert_eq!(b.state(), State::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn keyed_by_route_in_http_mode() {
        let config = CircuitBreakerConfig {
            minimum_number_of_calls: 1,
            ..CircuitBreakerConfig::default()
        };
        let layer =
            KeyedCircuitBreakerLayer::new(crate::RouteKey, config, 8, Duration::from_secs(60))
                .http_responses();
        let svc = layer.layer(service_fn(|req: Request<()>| async move {
            let status = if req.uri().path() == "/broken" {
                500
            } else {
                200
            };
            Ok::<_, std::convert::Infallible>(
                Response::builder()
                    .status(status)
                    .body(String::new())
                    .unwrap(),
            )
        }));
        let get = |path: &str| Request::get(path).body(()).unwrap();
        assert_eq!(
            svc.clone().oneshot(get("/broken")).await.unwrap().status(),
            500
        );
        assert_eq!(
            svc.clone().oneshot(get("/broken")).await.unwrap().status(),
            503
        );
        assert_eq!(
            svc.clone().oneshot(get("/fine")).await.unwrap().status(),
            200
        );
        let key = String::from("GET /broken");
        assert_eq!(svc.breakers().existing(&key).unwrap().state(), State::Open);
        let host = crate::HostKey;
        let req = Request::get("/x")
            .header("host", "API.example")
            .body(())
            .unwrap();
        assert_eq!(crate::KeyExtractor::key(&host, &req), "api.example");
        let req = Request::get("/x").body(()).unwrap();
        assert_eq!(crate::KeyExtractor::key(&host, &req), "-");
    }

    #[tokio::test(start_paused = true)]
    async fn keyed_breakers_are_independent_and_bounded() {
        let config = CircuitBreakerConfig {
            minimum_number_of_calls: 1,
            ..CircuitBreakerConfig::default()
        };
        let layer = KeyedCircuitBreakerLayer::new(HostKey, config, 2, Duration::from_secs(60));
        let breakers = layer.breakers().clone();
        let svc = layer.layer(service_fn(|req: Request<()>| async move {
            let status = if req.uri().host() == Some("bad") {
                500
            } else {
                200
            };
            Ok::<_, std::io::Error>(Response::builder().status(status).body(()).unwrap())
        }));
        let get = |host: &str| Request::get(format!("http://{host}/x")).body(()).unwrap();
        let _ = svc.clone().oneshot(get("bad")).await.unwrap();
        assert!(
            svc.clone().oneshot(get("bad")).await.is_err(),
            "bad host tripped"
        );
        assert_eq!(
            svc.clone().oneshot(get("good")).await.unwrap().status(),
            200
        );
        assert_eq!(
            breakers.existing(&"bad".into()).unwrap().state(),
            State::Open
        );
        assert_eq!(
            breakers.existing(&"bad".into()).unwrap().name(),
            "default/bad"
        );
        assert_eq!(breakers.len(), 2);
        tokio::time::advance(Duration::from_secs(1)).await;
        let _ = svc.clone().oneshot(get("good")).await;
        let _ = svc.clone().oneshot(get("third")).await;
        assert_eq!(breakers.len(), 2, "bounded");
        assert!(
            breakers.existing(&"bad".into()).is_none(),
            "least recently used evicted"
        );
        tokio::time::advance(Duration::from_secs(120)).await;
        let _ = svc.clone().oneshot(get("fourth")).await;
        assert_eq!(breakers.len(), 1, "idle ones evicted first");
        assert!(!breakers.is_empty());
    }
}
