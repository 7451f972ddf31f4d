//! The route table's access levels are what the router enforces: for every route, a call
//! without a key, with an agent's key and with the admin key is let through exactly when the
//! table says so (refused with 401 or 403 otherwise), whatever the handler extracts.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use pinchwork_server::api::{Access, routes};
use pinchwork_test_kit::TestApp;
use tower::ServiceExt;

const ADMIN_KEY: &str = "admin-key-for-the-access-test";

/// The status of one call; the body is never read (some routes stream).
async fn status_of(app: &TestApp, method: &str, path: &str, key: Option<&str>) -> StatusCode {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::ACCEPT, "application/json");
    if let Some(key) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let res = app
        .router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    res.status()
}

fn refused(status: StatusCode) -> bool {
    status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN
}

#[tokio::test]
async fn every_route_admits_exactly_the_callers_its_access_level_names() {
    let app = TestApp::with(|cfg| cfg.admin_key = Some(ADMIN_KEY.into())).await;
    let (_, agent) = app.register("caller").await;
    let mut wrong = Vec::new();
    for r in routes() {
        // Path parameters name nothing that exists: a 404 is still "let through".
        let path = r
            .path
            .replace("{task_id}", "tk-none")
            .replace("{question_id}", "qn-none");
        let path = path.replace("{agent_id}", "ag-none");
        let method = r.method.as_str();
        let anonymous = status_of(&app, method, &path, None).await;
        let as_agent = status_of(&app, method, &path, Some(&agent)).await;
        let as_admin = status_of(&app, method, &path, Some(ADMIN_KEY)).await;
        let expected = match r.access {
            Access::Public => [false, false, false],
            Access::Agent => [true, false, true],
            Access::Admin => [true, true, false],
        };
        let got = [refused(anonymous), refused(as_agent), refused(as_admin)];
        if got != expected {
            wrong.push(format!(
                "{method} {} ({}): anonymous {anonymous}, agent {as_agent}, admin {as_admin}",
                r.path,
                r.access.as_str()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "access not as the table says:\n{}",
        wrong.join("\n")
    );
}
