//! Ids as axum path parameters, served on a real socket and called with a real HTTP client.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use core_backend_idgen::{SnowflakeId, Ulid, Uuid};
use tokio::net::TcpListener;

async fn serve(app: Router) -> String {
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => panic!("local_addr: {e}"),
    };
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

async fn get_text(url: &str) -> (u16, String, String) {
    let response = match reqwest::get(url).await {
        Ok(r) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await.unwrap_or_default();
    (status, content_type, body)
}

fn app() -> Router {
    Router::new()
        .route(
            "/uuid/{id}",
            get(|Path(id): Path<Uuid>| async move { format!("uuid v{} {id}", id.version()) }),
        )
        .route(
            "/ulid/{id}",
            get(|Path(id): Path<Ulid>| async move { format!("ulid {} {id}", id.timestamp_millis()) }),
        )
        .route(
            "/snowflake/{id}",
            get(|Path(id): Path<SnowflakeId>| async move { format!("snowflake {}", id.as_u64()) }),
        )
}

#[tokio::test]
async fn path_extracts_valid_ids() {
    let base = serve(app()).await;
    let uuid = Uuid::now_v7();
    let (status, _, body) = get_text(&format!("{base}/uuid/{uuid}")).await;
    assert_eq!((status, body), (200, format!("uuid v7 {uuid}")));

    // other accepted spellings reach the handler as the same id
    let simple = uuid.to_string().replace('-', "").to_uppercase();
    let (status, _, body) = get_text(&format!("{base}/uuid/{simple}")).await;
    assert_eq!((status, body), (200, format!("uuid v7 {uuid}")));

    let ulid = Ulid::new();
    let lower = ulid.to_string().to_lowercase();
    let (status, _, body) = get_text(&format!("{base}/ulid/{lower}")).await;
    assert_eq!(
        (status, body),
        (200, format!("ulid {} {ulid}", ulid.timestamp_millis()))
    );

    let (status, _, body) = get_text(&format!("{base}/snowflake/9007199254740993")).await;
    assert_eq!(
        (status, body),
        (200, "snowflake 9007199254740993".to_owned())
    );
}

#[tokio::test]
async fn path_rejects_bad_ids_with_400_and_a_clear_message() {
    let base = serve(app()).await;
    let (status, _, body) = get_text(&format!("{base}/uuid/not-a-uuid")).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("invalid UUID: expected 32, 36, 38 or 45 characters, found 10"),
        "{body}"
    );

    let (status, _, body) = get_text(&format!("{base}/ulid/8ZZZZZZZZZZZZZZZZZZZZZZZZZ")).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("invalid ULID: value exceeds 128 bits"),
        "{body}"
    );

    let (status, _, body) = get_text(&format!("{base}/ulid/01ARZ3NDEKTSV4RRFFQ69G5FAU")).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("invalid character 'U' at position 25"),
        "{body}"
    );

    let (status, _, body) = get_text(&format!("{base}/snowflake/18446744073709551616")).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("invalid Snowflake id: value out of range"),
        "{body}"
    );

    let (status, _, body) = get_text(&format!("{base}/snowflake/-5")).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("invalid character '-' at position 0"),
        "{body}"
    );
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn id_path_answers_problem_json() {
    use core_backend_idgen::IdPath;

    let app = Router::new()
        .route(
            "/notes/{id}",
            get(|IdPath(id): IdPath<Ulid>| async move { id.to_string() }),
        )
        .route(
            "/two/{a}/{b}",
            get(|IdPath(id): IdPath<Ulid>| async move { id.to_string() }),
        );
    let base = serve(app).await;

    let ulid = Ulid::new();
    let (status, _, body) = get_text(&format!("{base}/notes/{ulid}")).await;
    assert_eq!((status, body), (200, ulid.to_string()));

    let (status, content_type, body) = get_text(&format!("{base}/notes/nope")).await;
    assert_eq!(status, 400);
    assert_eq!(content_type, "application/problem+json");
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    assert_eq!(problem["status"], 400);
    assert_eq!(problem["title"], "Bad Request");
    assert_eq!(problem["type"], "about:blank");
    assert_eq!(
        problem["detail"],
        "invalid ULID: expected 26 characters, found 4"
    );

    // a route with two parameters is a server-side mistake: axum's own status, as problem+json
    let (status, content_type, body) = get_text(&format!("{base}/two/{ulid}/{ulid}")).await;
    assert_eq!(status, 500);
    assert_eq!(content_type, "application/problem+json");
    assert!(body.contains("Wrong number of path arguments"), "{body}");
}
