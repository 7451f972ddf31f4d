//! The web pages through the real router: the landing page and /llms.txt, signing in as an
//! owner and as the operator, the session cookie, CSRF refusals, escaping, secrets never
//! shown, sessions ended by suspension and bounded, sign-in rate limits, the live stream.

use axum::body::Body;
use axum::http::{Request, header};
use pinchwork_server::web::session::{OPERATOR_COOKIE, OWNER_COOKIE, PER_SUBJECT, PRE_COOKIE};
use pinchwork_test_kit::*;
use serde_json::json;
use sha2::{Digest, Sha256};

const ADMIN: &str = "the-admin-key";

async fn app() -> TestApp {
    TestApp::with(|cfg| cfg.admin_key = Some(ADMIN.into())).await
}

/// A browser's request: `Accept: text/html` and the given cookies.
async fn browse(app: &TestApp, method: &str, path: &str, cookies: &str, form: &str) -> Resp {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::ACCEPT, "text/html");
    if !cookies.is_empty() {
        req = req.header(header::COOKIE, cookies);
    }
    let req = if method == "POST" {
        req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_string()))
    } else {
        req.body(Body::empty())
    };
    app.send(req.unwrap()).await
}

/// The value a `Set-Cookie` header of the response gives cookie `name`.
fn set_cookie(r: &Resp, name: &str) -> Option<String> {
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

fn cookie_value(set: &str) -> String {
    set.split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .into()
}

/// The value of the first hidden `csrf` field of a page.
fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a token")
        + 19;
    page[at..].split('"').next().unwrap().to_string()
}

fn form(fields: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(fields).unwrap()
}

/// Opens the sign-in page of `area` (`app` or `admin`); returns the pre-session cookie pair
/// it sets and its form's token.
async fn sign_in_form(app: &TestApp, area: &str) -> (String, String) {
    let page = browse(app, "GET", &format!("/{area}/login"), "", "")
        .await
        .expect(200);
    let pre = cookie_value(&set_cookie(&page, PRE_COOKIE).expect("a pre-session cookie"));
    (format!("{PRE_COOKIE}={pre}"), csrf_of(&page.text))
}

/// Signs in at `/app/login` (or `/admin/login`) with `key`; returns the session cookie pair.
async fn sign_in(app: &TestApp, area: &str, key: &str) -> String {
    let (pre, csrf) = sign_in_form(app, area).await;
    let r = browse(
        app,
        "POST",
        &format!("/{area}/login"),
        &pre,
        &form(&[("csrf", &csrf), ("key", key)]),
    )
    .await
    .expect(303);
    assert_eq!(r.header("location"), Some(format!("/{area}").as_str()));
    let name = if area == "app" {
        OWNER_COOKIE
    } else {
        OPERATOR_COOKIE
    };
    format!("{name}={}", cookie_value(&set_cookie(&r, name).unwrap()))
}

#[tokio::test]
async fn browsers_get_the_landing_page_and_agents_the_redirect() {
    let app = app().await;
    let (_, key) = app.register("poster").await;
    app.post_task(&key, "Translate a haiku", 10).await;

    let agent = app.call("GET", "/", None, None).await.expect(307);
    assert_eq!(agent.header("location"), Some("/skill.md"));

    let page = browse(&app, "GET", "/", "", "").await.expect(200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("script-src 'self'")
    );
    assert_eq!(page.header("vary"), Some("Accept"));
    for part in [
        "open tasks",
        "/v1/register",
        "pinchwork-mcp",
        "pinchwork register",
        "/llms.txt",
        "/docs",
    ] {
        assert!(page.text.contains(part), "the landing page shows {part}");
    }
    assert!(
        page.text.contains("<strong>1</strong>open tasks"),
        "{}",
        page.text
    );

    let llms = app.call("GET", "/llms.txt", None, None).await.expect(200);
    assert!(
        llms.header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(llms.text.starts_with("# Pinchwork\n\n> "));
    assert!(llms.text.contains("(/skill.md)"));
    // Every section link of llms.txt names a section skill.md has.
    for link in llms.text.split("/skill.md?section=").skip(1) {
        let name = link.split(')').next().unwrap();
        app.call("GET", &format!("/skill.md?section={name}"), None, None)
            .await
            .expect(200);
    }
}

#[tokio::test]
async fn an_owner_signs_in_with_the_key_and_the_cookie_holds_only_a_session() {
    let app = app().await;
    let (id, key) = app.register("owner-bot").await;
    // Not signed in: to the sign-in page.
    let r = browse(&app, "GET", "/app", "", "").await.expect(303);
    assert_eq!(r.header("location"), Some("/app/login"));

    let page = browse(&app, "GET", "/app/login", "", "").await.expect(200);
    let pre = set_cookie(&page, PRE_COOKIE).unwrap();
    let r = browse(
        &app,
        "POST",
        "/app/login",
        &format!("{PRE_COOKIE}={}", cookie_value(&pre)),
        &form(&[("csrf", &csrf_of(&page.text)), ("key", &key)]),
    )
    .await
    .expect(303);
    let set = set_cookie(&r, OWNER_COOKIE).unwrap();
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{set} has {attribute}");
    }
    let secret = cookie_value(&set);
    assert!(!secret.contains(&key) && !key.contains(&secret));
    // The database keeps the session's digest, never the session id or the key.
    let digest = hex::encode(Sha256::digest(secret.as_bytes()));
    let stored = app
        .state
        .read(move |tx| {
            Box::pin(async move {
                tx.web_session(&digest, i64::MAX - 1)
                    .await
                    .map(|s| s.is_none())
            })
        })
        .await
        .unwrap();
    assert!(stored, "sessions expire");
    let digest = hex::encode(Sha256::digest(secret.as_bytes()));
    let session = app
        .state
        .read(move |tx| Box::pin(async move { tx.web_session(&digest, T0).await }))
        .await
        .unwrap()
        .expect("the session is stored by digest");
    assert_eq!(session.subject, id);

    let home = browse(&app, "GET", "/app", &format!("{OWNER_COOKIE}={secret}"), "")
        .await
        .expect(200);
    assert!(home.text.contains("owner-bot") && home.text.contains(&id));
    assert!(!home.text.contains(&key), "no page shows the API key");
    assert_eq!(home.header("cache-control"), Some("no-store"));
    assert_eq!(home.header("x-frame-options"), Some("DENY"));

    // A wrong key is refused with the form again, and no session.
    let (pre, csrf) = sign_in_form(&app, "app").await;
    let r = browse(
        &app,
        "POST",
        "/app/login",
        &pre,
        &form(&[("csrf", &csrf), ("key", "pwk-wrong")]),
    )
    .await
    .expect(401);
    assert!(set_cookie(&r, OWNER_COOKIE).is_none());
    assert!(r.text.contains("not valid"));

    // Signing out ends the session.
    let cookie = format!("{OWNER_COOKIE}={secret}");
    let out = browse(
        &app,
        "POST",
        "/app/logout",
        &cookie,
        &form(&[("csrf", &csrf_of(&home.text))]),
    )
    .await
    .expect(303);
    assert!(
        set_cookie(&out, OWNER_COOKIE)
            .unwrap()
            .contains("Max-Age=0")
    );
    browse(&app, "GET", "/app", &cookie, "").await.expect(303);
}

#[tokio::test]
async fn sign_in_without_the_form_token_is_refused() {
    let app = app().await;
    let (_, key) = app.register("owner-bot").await;
    // No pre-session cookie, or a token that is not its.
    let r = browse(
        &app,
        "POST",
        "/app/login",
        "",
        &form(&[("csrf", "00"), ("key", &key)]),
    )
    .await
    .expect(403);
    assert!(set_cookie(&r, OWNER_COOKIE).is_none());
    let (pre, _) = sign_in_form(&app, "app").await;
    let r = browse(
        &app,
        "POST",
        "/app/login",
        &pre,
        &form(&[("csrf", &"ab".repeat(32)), ("key", &key)]),
    )
    .await
    .expect(403);
    assert!(set_cookie(&r, OWNER_COOKIE).is_none());
    let r = browse(
        &app,
        "POST",
        "/admin/login",
        &pre,
        &form(&[("csrf", "x"), ("key", ADMIN)]),
    )
    .await
    .expect(403);
    assert!(set_cookie(&r, OPERATOR_COOKIE).is_none());
}

#[tokio::test]
async fn an_action_with_a_wrong_token_changes_nothing_and_with_the_right_one_happens() {
    let w = world_on(app().await).await;
    let task = w
        .new_task(json!({"need": "Write a limerick", "max_credits": 20}))
        .await;
    w.act(&w.worker, &task, "pickup", json!({}))
        .await
        .expect(200);
    w.act(
        &w.worker,
        &task,
        "deliver",
        json!({"result": "There once was..."}),
    )
    .await
    .expect(200);
    let cookie = sign_in(&w.app, "app", &w.poster).await;
    let page = browse(&w.app, "GET", &format!("/app/tasks/{task}"), &cookie, "")
        .await
        .expect(200);
    assert!(page.text.contains("Approve and pay"));

    for bad in ["", "0123", &"f".repeat(64)] {
        let r = browse(
            &w.app,
            "POST",
            &format!("/app/tasks/{task}/approve"),
            &cookie,
            &form(&[("csrf", bad), ("rating", "5")]),
        )
        .await
        .expect(403);
        assert!(r.text.contains("did not come from this site"));
    }
    // Another session's token is not this one's.
    let other = sign_in(&w.app, "app", &w.poster).await;
    let other_page = browse(&w.app, "GET", "/app", &other, "").await;
    browse(
        &w.app,
        "POST",
        &format!("/app/tasks/{task}/approve"),
        &cookie,
        &form(&[("csrf", &csrf_of(&other_page.text))]),
    )
    .await
    .expect(403);
    let view = w.app.get(&format!("/v1/tasks/{task}"), &w.poster).await;
    assert_eq!(view.json["status"], "delivered", "nothing changed");

    let r = browse(
        &w.app,
        "POST",
        &format!("/app/tasks/{task}/approve"),
        &cookie,
        &form(&[
            ("csrf", &csrf_of(&page.text)),
            ("rating", "5"),
            ("feedback", ""),
        ]),
    )
    .await
    .expect(303);
    assert_eq!(
        r.header("location"),
        Some(format!("/app/tasks/{task}").as_str())
    );
    let view = w.app.get(&format!("/v1/tasks/{task}"), &w.poster).await;
    assert_eq!(view.json["status"], "approved");
    w.app.assert_books_balance().await;

    // A rule's refusal is a page with its message, and changes nothing.
    let r = browse(
        &w.app,
        "POST",
        &format!("/app/tasks/{task}/cancel"),
        &cookie,
        &form(&[("csrf", &csrf_of(&page.text))]),
    )
    .await
    .expect(409);
    assert!(r.text.contains("approved"), "{}", r.text);
}

#[tokio::test]
async fn hostile_text_is_escaped_everywhere() {
    let app = app().await;
    let hostile = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
    let r = app
        .call(
            "POST",
            "/v1/register",
            None,
            Some(json!({"name": hostile, "good_at": hostile})),
        )
        .await
        .expect(201);
    let (id, key) = (
        r.json["agent_id"].as_str().unwrap().to_string(),
        r.json["api_key"].as_str().unwrap().to_string(),
    );
    let task = app
        .post(
            "/v1/tasks",
            &key,
            json!({"need": hostile, "context": hostile, "max_credits": 5}),
        )
        .await
        .expect(201)
        .json["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let owner = sign_in(&app, "app", &key).await;
    let operator = sign_in(&app, "admin", ADMIN).await;
    for (path, cookie) in [
        ("/app".to_string(), &owner),
        (format!("/app/tasks/{task}"), &owner),
        (format!("/admin/agents/{id}"), &operator),
        ("/admin/agents".to_string(), &operator),
        (format!("/admin/tasks/{task}"), &operator),
        ("/admin".to_string(), &operator),
    ] {
        let page = browse(&app, "GET", &path, cookie, "").await.expect(200);
        assert!(!page.text.contains("<script>alert"), "{path} escapes");
        assert!(!page.text.contains("<img src=x"), "{path} escapes");
        assert!(
            !page.text.contains("<script>"),
            "{path} has no inline script"
        );
        assert!(!page.text.contains("style="), "{path} has no inline style");
    }
    let page = browse(&app, "GET", &format!("/app/tasks/{task}"), &owner, "").await;
    assert!(
        page.text
            .contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img")
    );
}

#[tokio::test]
async fn no_page_shows_an_api_key_or_a_webhook_secret() {
    let app = TestApp::with(|cfg| {
        cfg.admin_key = Some(ADMIN.into());
        cfg.webhook_allow_insecure = true;
    })
    .await;
    let secret = "whsec-do-not-show-me";
    let r = app
        .call(
            "POST",
            "/v1/register",
            None,
            Some(json!({"name": "hooked", "webhook_url": "http://127.0.0.1:9/hook", "webhook_secret": secret})),
        )
        .await
        .expect(201);
    let (id, key) = (
        r.json["agent_id"].as_str().unwrap().to_string(),
        r.json["api_key"].as_str().unwrap().to_string(),
    );
    let owner = sign_in(&app, "app", &key).await;
    let operator = sign_in(&app, "admin", ADMIN).await;
    for (path, cookie) in [
        ("/app".to_string(), &owner),
        (format!("/admin/agents/{id}"), &operator),
        ("/admin/agents".to_string(), &operator),
        ("/admin".to_string(), &operator),
    ] {
        let page = browse(&app, "GET", &path, cookie, "").await.expect(200);
        for hidden in [key.as_str(), secret, ADMIN] {
            assert!(!page.text.contains(hidden), "{path} shows a secret");
        }
    }
    let home = browse(&app, "GET", "/app", &owner, "").await;
    assert!(home.text.contains("signing secret: set"));
    // Saving the profile with the secret field left empty keeps the secret.
    browse(
        &app,
        "POST",
        "/app/profile",
        &owner,
        &form(&[
            ("csrf", &csrf_of(&home.text)),
            ("good_at", "haiku"),
            ("webhook_url", "http://127.0.0.1:9/hook"),
            ("webhook_secret", ""),
        ]),
    )
    .await
    .expect(303);
    let agent = app
        .state
        .read(move |tx| Box::pin(async move { tx.agent(&id).await }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(agent.webhook_secret.as_deref(), Some(secret));
    assert_eq!(agent.good_at.as_deref(), Some("haiku"));
}

#[tokio::test]
async fn suspending_an_agent_ends_its_web_sessions_and_the_operator_can_do_it() {
    let app = app().await;
    let (id, key) = app.register("to-suspend").await;
    let owner = sign_in(&app, "app", &key).await;
    browse(&app, "GET", "/app", &owner, "").await.expect(200);

    let operator = sign_in(&app, "admin", ADMIN).await;
    let page = browse(&app, "GET", &format!("/admin/agents/{id}"), &operator, "")
        .await
        .expect(200);
    assert!(page.text.contains("Suspend agent"));
    browse(
        &app,
        "POST",
        &format!("/admin/agents/{id}/suspend"),
        &operator,
        &form(&[
            ("csrf", &csrf_of(&page.text)),
            ("suspended", "true"),
            ("reason", "spam"),
        ]),
    )
    .await
    .expect(303);
    app.get("/v1/me", &key).await.expect(403);
    let r = browse(&app, "GET", "/app", &owner, "").await.expect(303);
    assert_eq!(r.header("location"), Some("/app/login"));
    let left = app
        .state
        .store
        .write(move |tx| {
            Box::pin(async move {
                tx.end_web_sessions(pinchwork_server::store::SessionKey::Subject, &id)
                    .await
            })
        })
        .await
        .unwrap();
    assert_eq!(left, 0, "its sessions were deleted, not only refused");

    // The operator grants credits from the page too.
    let (other, other_key) = app.register("granted").await;
    let page = browse(
        &app,
        "GET",
        &format!("/admin/agents/{other}"),
        &operator,
        "",
    )
    .await;
    let before = app.credits(&other_key).await;
    browse(
        &app,
        "POST",
        &format!("/admin/agents/{other}/grant"),
        &operator,
        &form(&[
            ("csrf", &csrf_of(&page.text)),
            ("amount", "250"),
            ("reason", ""),
        ]),
    )
    .await
    .expect(303);
    assert_eq!(app.credits(&other_key).await, before + 250);
    let r = browse(
        &app,
        "POST",
        &format!("/admin/agents/{other}/grant"),
        &operator,
        &form(&[("csrf", &csrf_of(&page.text)), ("amount", "lots")]),
    )
    .await
    .expect(400);
    assert!(r.text.contains("whole number"));
    app.assert_books_balance().await;
}

#[tokio::test]
async fn sessions_are_bounded_per_agent() {
    let app = app().await;
    let (_, key) = app.register("many-tabs").await;
    let first = sign_in(&app, "app", &key).await;
    let mut last = String::new();
    for _ in 0..PER_SUBJECT {
        last = sign_in(&app, "app", &key).await;
    }
    browse(&app, "GET", "/app", &first, "").await.expect(303);
    browse(&app, "GET", "/app", &last, "").await.expect(200);
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_client_address() {
    let app = TestApp::with(|cfg| {
        cfg.admin_key = Some(ADMIN.into());
        cfg.rate_limits_enabled = true;
        cfg.rate_limit_signin = "3/minute".into();
    })
    .await;
    let (pre, csrf) = sign_in_form(&app, "admin").await;
    let body = form(&[("csrf", &csrf), ("key", "guess")]);
    for _ in 0..3 {
        browse(&app, "POST", "/admin/login", &pre, &body)
            .await
            .expect(403);
    }
    let r = browse(&app, "POST", "/admin/login", &pre, &body)
        .await
        .expect(429);
    assert!(r.header("retry-after").is_some());
    // Even the right key waits for the window.
    let right = form(&[("csrf", &csrf), ("key", ADMIN)]);
    browse(&app, "POST", "/admin/login", &pre, &right)
        .await
        .expect(429);
}

#[tokio::test]
async fn the_operator_signs_in_with_the_admin_key_and_sees_the_figures() {
    let w = world_on(app().await).await;
    let wrong = {
        let (pre, csrf) = sign_in_form(&w.app, "admin").await;
        browse(
            &w.app,
            "POST",
            "/admin/login",
            &pre,
            &form(&[("csrf", &csrf), ("key", "nope")]),
        )
        .await
    };
    assert_eq!(wrong.status, 403);
    // An owner's session is not the operator's.
    let owner = sign_in(&w.app, "app", &w.poster).await;
    let as_operator = owner.replace(OWNER_COOKIE, OPERATOR_COOKIE);
    browse(&w.app, "GET", "/admin", &as_operator, "")
        .await
        .expect(303);

    let settled = w
        .new_task(json!({"need": "settled", "max_credits": 40}))
        .await;
    w.act(&w.worker, &settled, "pickup", json!({}))
        .await
        .expect(200);
    w.act(&w.worker, &settled, "deliver", json!({"result": "done"}))
        .await
        .expect(200);
    w.act(&w.poster, &settled, "approve", json!({}))
        .await
        .expect(200);
    w.new_task(json!({"need": "open", "max_credits": 15})).await;
    let reported = reported_task(&w, "spam").await;

    let figures = w
        .app
        .state
        .read(|tx| Box::pin(async move { tx.market_figures(T0 - 3_600_000, T0).await }))
        .await
        .unwrap();
    assert_eq!(figures.tasks_by_status.get("posted"), Some(&2));
    assert_eq!(
        figures.tasks_by_status.get("approved"),
        None,
        "only open states are counted"
    );
    assert_eq!(figures.escrow, 20);
    assert_eq!(figures.open_reports, 1);
    let hour = figures
        .hours
        .values()
        .copied()
        .fold((0, 0, 0, 0), |acc, h| {
            (
                acc.0 + h.posted,
                acc.1 + h.settled,
                acc.2 + h.paid,
                acc.3 + h.fees,
            )
        });
    assert_eq!(hour.0, 3, "three tasks posted");
    assert_eq!(hour.1, 1, "one settled");
    assert_eq!(
        hour.2 + hour.3,
        40,
        "paid to the worker plus the fee is the price"
    );

    let operator = sign_in(&w.app, "admin", ADMIN).await;
    let page = browse(&w.app, "GET", "/admin", &operator, "")
        .await
        .expect(200);
    for part in [
        "credits in escrow",
        "Lifecycles per hour",
        "Webhook health",
        "Server health",
        &settled,
    ] {
        assert!(page.text.contains(part), "the dashboard shows {part}");
    }
    let reports = browse(&w.app, "GET", "/admin/reports", &operator, "")
        .await
        .expect(200);
    assert!(reports.text.contains(&reported) && reports.text.contains("spam"));
    let found = browse(
        &w.app,
        "GET",
        &format!("/admin/tasks?q={settled}"),
        &operator,
        "",
    )
    .await
    .expect(303);
    assert_eq!(
        found.header("location"),
        Some(format!("/admin/tasks/{settled}").as_str())
    );
    let task = browse(
        &w.app,
        "GET",
        &format!("/admin/tasks/{settled}"),
        &operator,
        "",
    )
    .await
    .expect(200);
    assert!(
        task.text.contains("task_approved"),
        "the timeline shows the events"
    );
    browse(&w.app, "GET", "/admin/tasks?status=bogus", &operator, "")
        .await
        .expect(400);
    let agents = browse(&w.app, "GET", "/admin/agents?q=work", &operator, "")
        .await
        .expect(200);
    assert!(agents.text.contains("worker") && !agents.text.contains("stranger"));
    w.app
        .call(
            "PATCH",
            "/v1/me",
            Some(&w.stranger),
            Some(json!({"accepts_system_tasks": true})),
        )
        .await
        .expect(200);
    let infra = browse(&w.app, "GET", "/admin/agents?infra=1", &operator, "")
        .await
        .expect(200);
    assert!(infra.text.contains(&w.stranger_id) && !infra.text.contains(&w.worker_id));
}

/// A new task of the poster's that the worker reported for `reason`.
async fn reported_task(w: &World, reason: &str) -> String {
    let task = w
        .new_task(json!({"need": "reported", "max_credits": 5}))
        .await;
    w.app
        .post(
            &format!("/v1/tasks/{task}/report"),
            &w.worker,
            json!({"reason": reason}),
        )
        .await
        .expect(201);
    task
}

/// The operator reviews reports (a reviewed report leaves the list), finds an agent's tasks
/// as poster or worker, and sees the nodes serving the marketplace.
#[tokio::test]
async fn the_operator_reviews_reports_finds_an_agents_tasks_and_sees_the_nodes() {
    let w = world_on(app().await).await;
    let reported = reported_task(&w, "looks like spam").await;
    let worked = w
        .new_task(json!({"need": "worked on", "max_credits": 5}))
        .await;
    w.act(&w.worker, &worked, "pickup", json!({}))
        .await
        .expect(200);
    let (_, elsewhere_key) = w.app.register("elsewhere").await;
    let unrelated = w.app.post_task(&elsewhere_key, "someone else's", 5).await;

    let operator = sign_in(&w.app, "admin", ADMIN).await;
    let page = browse(&w.app, "GET", "/admin/reports", &operator, "")
        .await
        .expect(200);
    assert!(page.text.contains("looks like spam"));
    let report_id = page
        .text
        .split("/admin/reports/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a review form names the report")
        .to_string();
    let review = |csrf: String, id: String| {
        let (app, operator) = (&w.app, &operator);
        async move {
            browse(
                app,
                "POST",
                &format!("/admin/reports/{id}/resolve"),
                operator,
                &form(&[("csrf", &csrf)]),
            )
            .await
        }
    };
    let csrf = csrf_of(&page.text);
    assert_eq!(
        review(String::new(), report_id.clone()).await.status,
        403,
        "no CSRF token"
    );
    review(csrf.clone(), report_id.clone()).await.expect(303);
    let page = browse(&w.app, "GET", "/admin/reports", &operator, "")
        .await
        .expect(200);
    assert!(
        !page.text.contains("looks like spam"),
        "reviewed: off the list"
    );
    assert!(page.text.contains("No open reports."));
    assert_eq!(
        review(csrf, report_id).await.status,
        404,
        "already reviewed"
    );
    let figures = w
        .app
        .state
        .read(|tx| Box::pin(async move { tx.market_figures(T0, T0).await }))
        .await
        .unwrap();
    assert_eq!(figures.open_reports, 0);

    // The worker's tasks: the one it works on, not the poster's others nor the unrelated one.
    let page = browse(
        &w.app,
        "GET",
        &format!("/admin/tasks?agent={}", w.worker_id),
        &operator,
        "",
    )
    .await
    .expect(200);
    assert!(page.text.contains(&worked));
    assert!(!page.text.contains(&reported) && !page.text.contains(&unrelated));
    // The poster's, in one status.
    let page = browse(
        &w.app,
        "GET",
        &format!("/admin/tasks?agent={}&status=claimed", w.poster_id),
        &operator,
        "",
    )
    .await
    .expect(200);
    assert!(page.text.contains(&worked) && !page.text.contains(&reported));

    // This node, heard from at start-up.
    let page = browse(&w.app, "GET", "/admin", &operator, "")
        .await
        .expect(200);
    assert!(page.text.contains("1 node alive"), "{}", page.text);
    assert!(
        page.text
            .contains(&format!("{}</code> (this one)", w.app.state.node))
    );
}

#[tokio::test]
async fn the_live_stream_needs_a_session_and_is_bounded_per_agent() {
    let app = app().await;
    let (_, key) = app.register("watcher").await;
    let r = browse(&app, "GET", "/app/events", "", "").await;
    assert_eq!(r.status, 303, "no session, no stream");
    let cookie = sign_in(&app, "app", &key).await;
    let mut open = Vec::new();
    // The agent's cap of open event streams (the API's and the pages' together).
    for _ in 0..app.state.cfg.max_streams_per_agent {
        let req = Request::get("/app/events")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap();
        let res = tower::ServiceExt::oneshot(app.router.clone(), req)
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        open.push(res);
    }
    let refused = browse(&app, "GET", "/app/events", &cookie, "").await;
    assert_eq!(refused.status, 429);
    drop(open);
    let req = Request::get("/app/events")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    let res = tower::ServiceExt::oneshot(app.router.clone(), req)
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "closed streams free their places");
}

/// The store's bounds on sessions, under concurrent sign-ins: at most `per_subject` of one
/// subject survive, and none opens once `total` are live.
#[tokio::test]
async fn session_bounds_hold_under_concurrent_sign_ins() {
    use pinchwork_server::store::WebSession;
    let app = app().await;
    let open = |subject: &str, i: usize, total: i64| {
        let state = app.state.clone();
        let session = WebSession {
            digest: format!("{subject}-{i:04}"),
            subject: subject.to_string(),
            created_at: T0,
            expires_at: T0 + 3_600_000,
        };
        async move {
            state
                .store
                .write(move |tx| {
                    Box::pin(async move { tx.open_web_session(&session, 3, total).await })
                })
                .await
                .unwrap()
        }
    };
    let opened = futures_util::future::join_all((0..24).map(|i| open("busy", i, 100))).await;
    assert!(opened.iter().all(|o| *o));
    let live = app
        .state
        .read(|tx| {
            Box::pin(async move {
                let mut live = Vec::new();
                for i in 0..24 {
                    live.extend(tx.web_session(&format!("busy-{i:04}"), T0).await?);
                }
                Ok::<_, pinchwork_server::store::StoreError>(live)
            })
        })
        .await
        .unwrap();
    assert_eq!(live.len(), 3, "only the subject's newest three are kept");
    // The total: 3 live; with room for 5, two more subjects get in, the next does not.
    assert!(open("a", 0, 5).await);
    assert!(open("b", 0, 5).await);
    assert!(!open("c", 0, 5).await, "the server is full");
    // Expired sessions make room.
    let later = WebSession {
        digest: "late".into(),
        subject: "d".into(),
        created_at: T0 + 7_200_000,
        expires_at: T0 + 9_000_000,
    };
    let opened = app
        .state
        .store
        .write(move |tx| Box::pin(async move { tx.open_web_session(&later, 3, 5).await }))
        .await
        .unwrap();
    assert!(opened);
}
