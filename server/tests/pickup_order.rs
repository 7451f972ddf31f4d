//! Pickup order among broadcast tasks: better posters first, then posters who trust the
//! worker more, then the oldest.

use pinchwork_server::model::{HOUR, Task};
use pinchwork_test_kit::TestApp;
use serde_json::{Value, json};

async fn complete(app: &TestApp, poster: &str, worker: &str, rating: Option<i64>) {
    let task = app.post_task(poster, "warm-up", 5).await;
    app.post(&format!("/v1/tasks/{task}/pickup"), worker, json!({}))
        .await
        .expect(200);
    app.post(
        &format!("/v1/tasks/{task}/deliver"),
        worker,
        json!({"result": "ok"}),
    )
    .await
    .expect(200);
    app.post(&format!("/v1/tasks/{task}/approve"), poster, json!({}))
        .await
        .expect(200);
    if let Some(rating) = rating {
        app.post(
            &format!("/v1/tasks/{task}/rate"),
            worker,
            json!({"rating": rating}),
        )
        .await
        .expect(201);
    }
}

async fn next_pickup(app: &TestApp, worker: &str) -> String {
    let r = app
        .call("POST", "/v1/tasks/pickup", Some(worker), None)
        .await
        .expect(200);
    r.json["task_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn better_rated_posters_come_first() {
    let app = TestApp::new().await;
    let (_, plain) = app.register("plain poster").await;
    let (_, rated) = app.register("rated poster").await;
    let (_, helper) = app.register("helper").await;
    let (_, worker) = app.register("worker").await;
    complete(&app, &rated, &helper, Some(5)).await;

    let older = app.post_task(&plain, "older task", 5).await;
    let newer = app
        .post_task(&rated, "newer task by a 5-star poster", 5)
        .await;
    assert_eq!(next_pickup(&app, &worker).await, newer);
    assert_eq!(next_pickup(&app, &worker).await, older);
}

#[tokio::test]
async fn trust_breaks_ties_between_equal_posters_then_age() {
    let app = TestApp::new().await;
    let (_, stranger_poster) = app.register("poster without history").await;
    let (_, friendly_poster) = app.register("poster who knows the worker").await;
    let (_, worker) = app.register("worker").await;
    let (_, newcomer) = app.register("newcomer").await;
    // An approval without a rating raises trust both ways and leaves reputation at 0.
    complete(&app, &friendly_poster, &worker, None).await;
    let trust = app.get("/v1/me/trust", &friendly_poster).await.expect(200);
    assert_eq!(trust.json["trust_scores"][0]["score"], 0.55);

    let older = app.post_task(&stranger_poster, "older", 5).await;
    let newer = app.post_task(&friendly_poster, "newer", 5).await;
    let older2 = app
        .post_task(&stranger_poster, "oldest of the rest", 5)
        .await;
    assert_eq!(
        next_pickup(&app, &worker).await,
        newer,
        "the poster who trusts the worker first"
    );
    // Nobody trusts the newcomer more than anyone else: plain age order.
    assert_eq!(next_pickup(&app, &newcomer).await, older);
    assert_eq!(next_pickup(&app, &newcomer).await, older2);
}

#[tokio::test]
async fn undecodable_path_segments_are_a_json_400() {
    let app = TestApp::new().await;
    let (_, key) = app.register("a").await;
    let r = app.get("/v1/tasks/%FF%FE", &key).await.expect(400);
    assert!(r.error().starts_with("Invalid path"), "{}", r.text);
}

/// One open task as the reference order sees it.
struct Posted {
    id: String,
    overlap: usize,
    reputation: f64,
    trust: f64,
    seq: usize,
    tags: Vec<&'static str>,
    need: String,
}

/// The guide's order for tasks open to everyone: more tags shared with the viewer, better
/// poster, poster trusting the viewer more, older.
fn reference_order(tasks: &mut [&Posted]) {
    tasks.sort_by(|a, b| {
        b.overlap
            .cmp(&a.overlap)
            .then(b.reputation.total_cmp(&a.reputation))
            .then(b.trust.total_cmp(&a.trust))
            .then(a.seq.cmp(&b.seq))
    });
}

fn ids(tasks: &[&Posted]) -> Vec<String> {
    tasks.iter().map(|t| t.id.clone()).collect()
}

/// A board far larger than any candidate list (500 open tasks; the viewer's tags select 80 of
/// them), with ties in reputation and trust: the first pages of browse, the filters and
/// successive pickups give exactly the guide's order over the whole board, and the pages past
/// the first 100 the rest by poster reputation then age.
#[tokio::test]
async fn a_large_board_is_browsed_and_picked_up_in_the_full_order() {
    let app = TestApp::new().await;
    let (_, infra) = app
        .register_with("infra", json!({"accepts_system_tasks": true}))
        .await;
    let (viewer_id, viewer) = app.register("viewer").await;
    app.extract_capability_tags(
        &infra,
        (&viewer_id, &viewer),
        "rust and sql",
        &["rust", "sql"],
    )
    .await;
    // No matching from here on: every task goes straight to the board.
    app.call(
        "PATCH",
        "/v1/me",
        Some(&infra),
        Some(json!({"accepts_system_tasks": false})),
    )
    .await
    .expect(200);

    // Posters: reputation from one rating each (two pairs tie), and two of them trusting
    // the viewer (0.55) after working with it.
    let (_, rater) = app.register("rater").await;
    let plan: [(Option<i64>, bool); 8] = [
        (Some(5), false),
        (Some(3), true),
        (Some(3), false),
        (Some(1), false),
        (None, true),
        (None, false),
        (Some(4), false),
        (Some(2), false),
    ];
    let mut posters = Vec::new();
    for (i, (rating, trusts)) in plan.iter().enumerate() {
        let (_, key) = app.register(&format!("poster {i}")).await;
        if let Some(rating) = rating {
            complete(&app, &key, &rater, Some(*rating)).await;
        }
        if *trusts {
            complete(&app, &key, &viewer, None).await;
        }
        let reputation = rating.map_or(0.0, |r| r as f64);
        posters.push((key, reputation, if *trusts { 0.55 } else { 0.5 }));
    }

    let mut board = Vec::new();
    for seq in 0..500 {
        let (key, reputation, trust) = &posters[(seq * 7 + seq / 8) % posters.len()];
        let tags: Vec<&str> = match seq % 25 {
            0 => vec!["rust", "sql"],
            1 | 2 => vec!["rust"],
            3 => vec!["sql", "go"],
            4..=7 => vec!["go"],
            8..=15 => vec!["elsewhere"],
            _ => vec![],
        };
        let need = if seq % 10 == 3 {
            format!("task {seq} with a Needle in it")
        } else {
            format!("task {seq}")
        };
        let id = app
            .post(
                "/v1/tasks",
                key,
                json!({"need": need, "max_credits": 1, "tags": tags}),
            )
            .await
            .expect(201)
            .json["task_id"]
            .as_str()
            .unwrap()
            .to_string();
        let overlap = tags.iter().filter(|t| ["rust", "sql"].contains(t)).count();
        board.push(Posted {
            id,
            overlap,
            reputation: *reputation,
            trust: *trust,
            seq,
            tags,
            need,
        });
    }
    // The built-in matcher reserved the tasks carrying the viewer's tags for it: past the
    // match window they are open to everyone.
    app.advance(app.cfg.match_timeout_seconds * 1000 + 1).await;
    let mut expected: Vec<&Posted> = board.iter().collect();
    reference_order(&mut expected);

    let browse = app
        .get("/v1/tasks/available?limit=1", &viewer)
        .await
        .expect(200);
    assert_eq!(browse.json["total"], 500);
    // Browsing shows the first 100 in that order, then the rest by poster reputation and age.
    let mut browsed = expected.clone();
    browsed[100..].sort_by(|a, b| {
        b.reputation
            .total_cmp(&a.reputation)
            .then(a.seq.cmp(&b.seq))
    });
    for offset in [0, 20, 60, 80, 90, 100, 240, 480] {
        let page = app
            .get(
                &format!("/v1/tasks/available?limit=20&offset={offset}"),
                &viewer,
            )
            .await
            .expect(200);
        let want = ids(&browsed[offset..(offset + 20).min(500)]);
        assert_eq!(page.task_ids(), want, "page at offset {offset}");
    }

    // Walking by cursor shows the same rows, each once, in the same order.
    let mut walked = Vec::new();
    let mut path = "/v1/tasks/available?limit=30".to_string();
    loop {
        let page = app.get(&path, &viewer).await.expect(200);
        walked.extend(page.task_ids());
        match page.json["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/tasks/available?limit=30&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(walked, ids(&browsed));
    for bad in ["br.101", "br.x.1", "mt.5"] {
        let r = app
            .get(&format!("/v1/tasks/available?cursor={bad}"), &viewer)
            .await
            .expect(400);
        assert!(r.error().starts_with("Invalid cursor"), "{bad}: {}", r.text);
    }

    // Filters: a tag, a search through the text index, and one too short for it.
    for (query, keep) in [
        (
            "tags=go",
            &(|t: &Posted| t.tags.contains(&"go")) as &dyn Fn(&Posted) -> bool,
        ),
        ("search=needle", &|t: &Posted| t.need.contains("Needle")),
        ("search=3%20", &|t: &Posted| t.need.contains("3 ")),
        ("tags=sql&search=needle", &|t: &Posted| {
            t.tags.contains(&"sql") && t.need.contains("Needle")
        }),
    ] {
        let want: Vec<&Posted> = expected.iter().copied().filter(|t| keep(t)).collect();
        let page = app
            .get(&format!("/v1/tasks/available?limit=30&{query}"), &viewer)
            .await
            .expect(200);
        assert_eq!(page.json["total"], want.len(), "{query}");
        assert_eq!(page.task_ids(), ids(&want[..want.len().min(30)]), "{query}");
    }

    // Pickups claim in the same order, each leaving the board to the next.
    for want in ids(&expected[..5]) {
        assert_eq!(next_pickup(&app, &viewer).await, want);
    }
}

/// A browse's `total` is what its pages list, under every filter a total may be read by the
/// tag (the board's count, less the viewer's own) and for the viewer who posted, as tasks
/// are posted, claimed, cancelled and abandoned; past 1,000 it stops there and says so.
#[tokio::test]
async fn browse_totals_are_what_the_pages_list_as_tasks_come_and_go() {
    let app = TestApp::new().await;
    let (a_id, a) = app.register("a").await;
    let (_, b) = app.register("b").await;
    let (_, w) = app.register("w").await;
    let post = |key: String, tags: Value| {
        let app = &app;
        async move {
            let r = app
                .post(
                    "/v1/tasks",
                    &key,
                    json!({"need": "n", "max_credits": 1, "tags": tags}),
                )
                .await
                .expect(201);
            r.json["task_id"].as_str().unwrap().to_string()
        }
    };
    let x = [
        post(a.clone(), json!(["x"])).await,
        post(a.clone(), json!(["x"])).await,
        post(a.clone(), json!(["x"])).await,
    ];
    let xy = [
        post(b.clone(), json!(["x", "y"])).await,
        post(b.clone(), json!(["y", "x"])).await,
    ];
    post(b.clone(), json!([])).await;
    let check = |when: &'static str| {
        let app = &app;
        let keys = [a.clone(), b.clone(), w.clone()];
        async move {
            for key in &keys {
                for filter in ["", "?tags=x", "?tags=y", "?tags=z", "?tags=x,y"] {
                    let sep = if filter.is_empty() { "?" } else { "&" };
                    let page = app
                        .get(&format!("/v1/tasks/available{filter}{sep}limit=100"), key)
                        .await
                        .expect(200)
                        .json;
                    let listed = page["tasks"].as_array().unwrap().len();
                    assert_eq!(page["total"], json!(listed), "{when}, {filter}: {page}");
                    assert_eq!(page["total_capped"], json!(false), "{when}, {filter}");
                }
            }
        }
    };
    check("posted").await;
    app.post(&format!("/v1/tasks/{}/pickup", xy[0]), &w, json!({}))
        .await
        .expect(200);
    app.post(&format!("/v1/tasks/{}/cancel", x[0]), &a, json!({}))
        .await
        .expect(200);
    check("one claimed, one cancelled").await;
    app.post(&format!("/v1/tasks/{}/abandon", xy[0]), &w, json!({}))
        .await
        .expect(200);
    check("abandoned").await;

    // Past 1,000 open tasks a total stops at 1,000 and says so; the poster's own stay out.
    app.state
        .write(move |tx, ctx| {
            Box::pin(async move {
                for i in 0..1_000 {
                    let mut t = Task::posted(
                        format!("tk-many{i:04}"),
                        &a_id,
                        "many".into(),
                        1,
                        ctx.now,
                        ctx.now + HOUR,
                    );
                    t.tags = Some(vec!["x".into()]);
                    tx.insert_task(&t).await?;
                }
                Ok::<_, pinchwork_server::store::StoreError>(())
            })
        })
        .await
        .unwrap();
    for (key, filter, total, capped) in [
        (&w, "", 1_000, true),
        (&w, "?tags=x", 1_000, true),
        (&w, "?tags=y", 2, false),
        (&a, "", 3, false),
        (&a, "?tags=x", 2, false),
    ] {
        let page = app
            .get(&format!("/v1/tasks/available{filter}"), key)
            .await
            .expect(200)
            .json;
        assert_eq!(page["total"], json!(total), "{filter}: {page}");
        assert_eq!(page["total_capped"], json!(capped), "{filter}");
    }
}
