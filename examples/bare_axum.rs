//! The benchmark's upper reference: one axum handler for `/arch`, no middleware, no
//! logging. `bench/server.sh` runs it beside `arch-server` to show what our middleware
//! costs. Run: `cargo run --release --example bare_axum -- 8081`.

use axum::{Json, Router, routing::get};

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8081);
    let machine = rustix::system::uname()
        .machine()
        .to_string_lossy()
        .into_owned();
    let app = Router::new().route(
        "/arch",
        get(move || {
            let machine = machine.clone();
            async move { Json(serde_json::json!({ "architecture": machine })) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
