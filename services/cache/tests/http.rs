//! The response-cache layer on a real axum server on 127.0.0.1:0, driven by reqwest.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{
    Router,
    http::{HeaderMap, header},
    response::IntoResponse,
    routing::get,
};
use core_backend_cache::ResponseCacheLayer;

#[derive(Clone, Default)]
struct Counters {
    note: Arc<AtomicUsize>,
    greeting: Arc<AtomicUsize>,
    secret: Arc<AtomicUsize>,
}

async fn serve(layer: Option<ResponseCacheLayer>) -> (SocketAddr, Counters) {
    let counters = Counters::default();
    let c = counters.clone();
    let app = Router::new()
        .route(
            "/v1/notes/{id}",
            get({
                let c = c.clone();
                move |axum::extract::Path(id): axum::extract::Path<String>| async move {
                    let n = c.note.fetch_add(1, Ordering::SeqCst) + 1;
                    (
                        [(header::CACHE_CONTROL, "max-age=60")],
                        format!("note {id} v{n}"),
                    )
                }
            })
            .post({
                let c = c.clone();
                move || async move {
                    c.note.fetch_add(100, Ordering::SeqCst);
                    "updated"
                }
            }),
        )
        .route(
            "/greeting",
            get({
                let c = c.clone();
                move |headers: HeaderMap| async move {
                    c.greeting.fetch_add(1, Ordering::SeqCst);
                    let lang = headers
                        .get(header::ACCEPT_LANGUAGE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("en");
                    let text = if lang.starts_with("de") {
                        "Hallo"
                    } else {
                        "Hello"
                    };
                    (
                        [
                            (header::CACHE_CONTROL, "max-age=60"),
                            (header::VARY, "Accept-Language"),
                        ],
                        text,
                    )
                        .into_response()
                }
            }),
        )
        .route(
            "/secret",
            get(move || async move {
                c.secret.fetch_add(1, Ordering::SeqCst);
                ([(header::CACHE_CONTROL, "no-store")], "secret")
            }),
        );
    let app = match layer {
        Some(layer) => app.layer(layer),
        None => app,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (addr, counters)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// GETs `url` and returns the body text.
async fn get_text(url: &str) -> String {
    client()
        .get(url)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body")
}

#[tokio::test]
async fn second_get_is_a_hit_with_age_and_same_etag() {
    let (addr, counters) = serve(Some(ResponseCacheLayer::new())).await;
    let url = format!("http://{addr}/v1/notes/7");
    let first = client().get(&url).send().await.expect("first");
    assert_eq!(first.status(), 200);
    let etag = first.headers().get(header::ETAG).cloned().expect("etag");
    assert!(first.headers().get(header::AGE).is_none());
    assert_eq!(first.text().await.expect("body"), "note 7 v1");

    let second = client().get(&url).send().await.expect("second");
    assert_eq!(second.headers().get(header::ETAG), Some(&etag));
    assert!(
        second.headers().contains_key(header::AGE),
        "served from the cache"
    );
    assert_eq!(second.text().await.expect("body"), "note 7 v1");
    assert_eq!(counters.note.load(Ordering::SeqCst), 1, "handler ran once");

    // Another URI is another entry.
    client()
        .get(format!("http://{addr}/v1/notes/8"))
        .send()
        .await
        .expect("other");
    assert_eq!(counters.note.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn if_none_match_gets_304_from_cache_and_from_fresh_responses() {
    let (addr, counters) = serve(Some(ResponseCacheLayer::new())).await;
    let url = format!("http://{addr}/v1/notes/1");
    let etag = client().get(&url).send().await.expect("first").headers()[header::ETAG].clone();

    let res = client()
        .get(&url)
        .header(header::IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .expect("304");
    assert_eq!(res.status(), 304);
    assert_eq!(res.headers().get(header::ETAG), Some(&etag));
    assert!(res.headers().contains_key(header::CACHE_CONTROL));
    assert_eq!(res.text().await.expect("body"), "");
    // In a list, weakly compared.
    let weak = format!("\"nope\", W/{}", etag.to_str().expect("ascii"));
    let res = client()
        .get(&url)
        .header(header::IF_NONE_MATCH, weak)
        .send()
        .await
        .expect("304");
    assert_eq!(res.status(), 304);
    let res = client()
        .get(&url)
        .header(header::IF_NONE_MATCH, "\"other\"")
        .send()
        .await
        .expect("200");
    assert_eq!(res.status(), 200);
    assert_eq!(counters.note.load(Ordering::SeqCst), 1);

    // A response that is never stored still gets an ETag and a 304.
    let url = format!("http://{addr}/secret");
    let etag = client().get(&url).send().await.expect("first").headers()[header::ETAG].clone();
    let res = client()
        .get(&url)
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .expect("304");
    assert_eq!(res.status(), 304);
    assert_eq!(
        counters.secret.load(Ordering::SeqCst),
        2,
        "fresh from the handler both times"
    );
}

#[tokio::test]
async fn vary_accept_language_keeps_variants_apart() {
    let (addr, counters) = serve(Some(ResponseCacheLayer::new())).await;
    let url = format!("http://{addr}/greeting");
    let ask = |lang: &'static str| {
        let url = url.clone();
        async move {
            let res = client()
                .get(url)
                .header(header::ACCEPT_LANGUAGE, lang)
                .send()
                .await
                .expect("get");
            res.text().await.expect("body")
        }
    };
    assert_eq!(ask("en").await, "Hello");
    assert_eq!(ask("de").await, "Hallo");
    assert_eq!(ask("en").await, "Hello");
    assert_eq!(ask("de").await, "Hallo");
    assert_eq!(
        counters.greeting.load(Ordering::SeqCst),
        2,
        "one origin call per variant"
    );
}

#[tokio::test]
async fn no_store_is_never_cached() {
    let (addr, counters) = serve(Some(ResponseCacheLayer::new())).await;
    for _ in 0..3 {
        let res = client()
            .get(format!("http://{addr}/secret"))
            .send()
            .await
            .expect("get");
        assert!(res.headers().get(header::AGE).is_none());
        assert_eq!(res.text().await.expect("body"), "secret");
    }
    assert_eq!(counters.secret.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn post_invalidates_the_uri() {
    let (addr, _counters) = serve(Some(ResponseCacheLayer::new())).await;
    let url = format!("http://{addr}/v1/notes/3");
    assert_eq!(get_text(&url).await, "note 3 v1");
    assert_eq!(get_text(&url).await, "note 3 v1");
    assert_eq!(
        client().post(&url).send().await.expect("post").status(),
        200
    );
    let after = get_text(&url).await;
    assert_eq!(after, "note 3 v102", "the handler ran again after the POST");
}

/// The same layer in the client position: around hyper's client, caching what a remote
/// service answers.
#[tokio::test]
async fn layer_around_an_http_client_caches_upstream_responses() {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::{client::legacy::Client, rt::TokioExecutor};
    use tower::{Layer, ServiceExt};

    let (addr, counters) = serve(None).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let cached = ResponseCacheLayer::new().layer(client);
    let uri = format!("http://{addr}/v1/notes/5");
    for _ in 0..3 {
        let req = http::Request::get(&uri)
            .body(Empty::new())
            .expect("request");
        let res = cached.clone().oneshot(req).await.expect("response");
        assert_eq!(res.status(), 200);
        let body = res.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(body, "note 5 v1");
    }
    assert_eq!(
        counters.note.load(Ordering::SeqCst),
        1,
        "served from the client-side cache"
    );
}
