//! Keyset cursors and capped totals through the real router (issue 19 point 3): for my tasks,
//! the ledger, the directory and a task's messages, walking the pages by `next_cursor` yields
//! every row once, in offset paging's order (ties included); rows added between pages neither
//! repeat nor skip a row; cursors not written for the list are refused and change nothing; a
//! total stops at 1,000 and says so.

use pinchwork_server::model::Transfer;
use pinchwork_test_kit::TestApp;
use serde_json::{Value, json};

/// The ids of the list's rows on one page (`task_id` for tasks, else `id`).
fn ids(page: &Value, field: &str) -> Vec<String> {
    let id = if field == "tasks" { "task_id" } else { "id" };
    page[field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field} in {page}"))
        .iter()
        .map(|row| {
            row[id]
                .as_str()
                .unwrap_or_else(|| panic!("no {id} in {row}"))
                .to_string()
        })
        .collect()
}

/// `path` with `extra` query parameters.
fn with(path: &str, extra: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{extra}")
}

/// Every row of the list by `next_cursor`, `limit` at a time; `between` runs after the first
/// page. Checks that only the last page has no next cursor.
async fn walk_with(
    app: &TestApp,
    key: &str,
    path: &str,
    field: &str,
    limit: usize,
    between: impl AsyncFnOnce(),
) -> Vec<String> {
    let mut between = Some(between);
    let mut all = Vec::new();
    let mut url = with(path, &format!("limit={limit}"));
    loop {
        let page = app.get(&url, key).await.expect(200).json;
        let got = ids(&page, field);
        assert!(got.len() <= limit, "{page}");
        all.extend(got.clone());
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                assert_eq!(got.len(), limit, "a full page before a next one: {page}");
                url = with(path, &format!("limit={limit}&cursor={cursor}"));
            }
            None => {
                assert!(page["next_cursor"].is_null(), "{page}");
                return all;
            }
        }
        if let Some(f) = between.take() {
            f().await;
        }
        assert!(all.len() < 10_000, "the walk does not end");
    }
}

async fn walk(app: &TestApp, key: &str, path: &str, field: &str, limit: usize) -> Vec<String> {
    walk_with(app, key, path, field, limit, async || {}).await
}

/// Every row of the list by offset, `limit` at a time, and the total the first page gave.
async fn by_offset(app: &TestApp, key: &str, path: &str, field: &str, limit: usize) -> Vec<String> {
    let mut all = Vec::new();
    loop {
        let url = with(path, &format!("limit={limit}&offset={}", all.len()));
        let got = ids(&app.get(&url, key).await.expect(200).json, field);
        let done = got.len() < limit;
        all.extend(got);
        if done {
            return all;
        }
    }
}

/// The cursor walk and the offset walk agree, every row once, as many as `total` says.
async fn walks_agree(
    app: &TestApp,
    key: &str,
    path: &str,
    field: &str,
    limit: usize,
) -> Vec<String> {
    let first = app.get(path, key).await.expect(200).json;
    let total = first["total"].as_i64().unwrap();
    assert_eq!(first["total_capped"], json!(false), "{first}");
    let cursored = walk(app, key, path, field, limit).await;
    let offset = by_offset(app, key, path, field, limit).await;
    assert_eq!(cursored, offset, "{path}");
    assert_eq!(cursored.len() as i64, total, "{path}");
    let mut unique = cursored.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        cursored.len(),
        "a row came twice: {cursored:?}"
    );
    cursored
}

/// An agent that posted `posted` tasks and works on `working` tasks of another agent.
async fn busy_agent(app: &TestApp, posted: usize, working: usize) -> String {
    let (_, key) = app.register("busy").await;
    let (_, other) = app.register("other").await;
    for i in 0..posted {
        app.post_task(&key, &format!("mine {i}"), 1).await;
    }
    for i in 0..working {
        app.post_task(&other, &format!("theirs {i}"), 1).await;
        app.pickup_next(&key).await.expect("a task to work on");
    }
    key
}

#[tokio::test]
async fn my_tasks_walk_by_cursor_in_every_role() {
    let app = TestApp::new().await;
    let key = busy_agent(&app, 5, 3).await;
    let both = walks_agree(&app, &key, "/v1/tasks/mine", "tasks", 3).await;
    assert_eq!(both.len(), 8);
    let posted = walks_agree(&app, &key, "/v1/tasks/mine?role=poster", "tasks", 2).await;
    let working = walks_agree(&app, &key, "/v1/tasks/mine?role=worker", "tasks", 2).await;
    assert_eq!((posted.len(), working.len()), (5, 3));
    walks_agree(&app, &key, "/v1/tasks/mine?status=claimed", "tasks", 2).await;
    // Newer tasks posted mid-walk come before the cursor: the walk is the same rows.
    let walked = walk_with(&app, &key, "/v1/tasks/mine", "tasks", 3, async || {
        app.post_task(&key, "newer", 1).await;
        app.post_task(&key, "newest", 1).await;
    })
    .await;
    assert_eq!(walked, both);
}

#[tokio::test]
async fn the_ledger_walks_by_cursor() {
    let app = TestApp::new().await;
    let key = busy_agent(&app, 4, 2).await;
    let lines = walks_agree(&app, &key, "/v1/me/credits", "ledger", 2).await;
    assert!(lines.len() >= 5, "{lines:?}");
    let walked = walk_with(&app, &key, "/v1/me/credits", "ledger", 2, async || {
        app.post_task(&key, "newer", 1).await;
    })
    .await;
    assert_eq!(walked, lines);
}

#[tokio::test]
async fn the_directory_walks_by_cursor_through_ties() {
    let app = TestApp::new().await;
    let mut agents = Vec::new();
    for i in 0..7 {
        agents.push(app.register(&format!("agent-{i}")).await);
    }
    // Reputations 4.5, 4.5, 3, 3, 3, 0, 0: ties in the sort key at both ends of pages.
    for (i, score) in [Some(4.5), Some(4.5), Some(3.0), Some(3.0), Some(3.0)]
        .into_iter()
        .enumerate()
    {
        let Some(score) = score else { continue };
        let rated = agents[i].0.clone();
        let scores: Vec<i64> = if score == 4.5 { vec![4, 5] } else { vec![3] };
        app.state
            .write(move |tx, _| {
                Box::pin(async move {
                    for (n, s) in scores.into_iter().enumerate() {
                        tx.insert_rating(
                            &format!("tk-{rated}-{n}"),
                            &format!("r{n}"),
                            &rated,
                            s,
                            0,
                        )
                        .await?;
                    }
                    tx.refresh_reputation(&rated).await
                })
            })
            .await
            .unwrap();
    }
    let key = agents[0].1.clone();
    let by_reputation = walks_agree(&app, &key, "/v1/agents", "agents", 2).await;
    let ids: Vec<String> = agents.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(by_reputation, ids, "best first, ties by age");
    let completed = walks_agree(
        &app,
        &key,
        "/v1/agents?sort_by=tasks_completed",
        "agents",
        3,
    )
    .await;
    assert_eq!(completed, ids, "all tied: by age");
    walks_agree(&app, &key, "/v1/agents?min_reputation=3", "agents", 2).await;
    // An agent registering mid-walk (reputation 0, the newest) comes last, once.
    let walked = walk_with(&app, &key, "/v1/agents", "agents", 3, async || {
        app.register("late").await;
    })
    .await;
    assert_eq!(walked[..7], by_reputation[..]);
    assert_eq!(walked.len(), 8);
    // A cursor of one order is refused by the other.
    let page = app.get("/v1/agents?limit=2", &key).await.expect(200).json;
    let cursor = page["next_cursor"].as_str().unwrap();
    let r = app
        .get(
            &format!("/v1/agents?sort_by=tasks_completed&cursor={cursor}"),
            &key,
        )
        .await
        .expect(400);
    assert_eq!(r.error(), "Invalid cursor");
}

#[tokio::test]
async fn messages_walk_by_cursor_oldest_first() {
    let app = TestApp::new().await;
    let (_, poster) = app.register("poster").await;
    let (_, worker) = app.register("worker").await;
    let task = app.post_task(&poster, "talk", 1).await;
    app.pickup_next(&worker).await.expect("the task");
    let path = format!("/v1/tasks/{task}/messages");
    let send = async |key: &str, text: &str| {
        app.post(&path, key, json!({"message": text}))
            .await
            .expect(201);
    };
    for i in 0..7 {
        send(if i % 2 == 0 { &poster } else { &worker }, &format!("m{i}")).await;
    }
    let all = walks_agree(&app, &worker, &path, "messages", 3).await;
    // Without a page: every one (up to 100), oldest first, as before.
    let whole = app.get(&path, &poster).await.expect(200).json;
    assert_eq!(ids(&whole, "messages"), all);
    assert_eq!(whole["messages"][0]["message"], json!("m0"));
    // A message sent mid-walk is the last one, once.
    let walked = walk_with(&app, &poster, &path, "messages", 3, async || {
        send(&worker, "late").await;
    })
    .await;
    assert_eq!(walked[..7], all[..]);
    assert_eq!(walked.len(), 8);
}

#[tokio::test]
async fn bad_cursors_are_refused() {
    let app = TestApp::new().await;
    let (_, poster) = app.register("poster").await;
    let (_, worker) = app.register("worker").await;
    let task = app.post_task(&poster, "talk", 1).await;
    app.pickup_next(&worker).await.expect("the task");
    for i in 0..3 {
        app.post_task(&poster, &format!("more {i}"), 1).await;
    }
    let ledger = app
        .get("/v1/me/credits?limit=1", &poster)
        .await
        .expect(200)
        .json;
    let ledger_cursor = ledger["next_cursor"].as_str().unwrap().to_string();
    let messages = format!("/v1/tasks/{task}/messages");
    for path in [
        "/v1/tasks/mine",
        "/v1/agents",
        messages.as_str(),
        "/v1/me/credits",
    ] {
        let foreign = if path == "/v1/me/credits" {
            "mt.1".to_string()
        } else {
            ledger_cursor.clone()
        };
        for cursor in [foreign.as_str(), "garbage", "lg.", "dr.NaN.1", "mt.1x"] {
            let r = app
                .get(&with(path, &format!("cursor={cursor}")), &poster)
                .await
                .expect(400);
            assert!(
                r.error().starts_with("Invalid cursor"),
                "{path} {cursor}: {}",
                r.text
            );
        }
        let r = app
            .get(
                &with(path, &format!("cursor={ledger_cursor}&offset=0")),
                &poster,
            )
            .await
            .expect(400);
        assert!(r.error().contains("not both"), "{}", r.text);
        let long = "x".repeat(201);
        let r = app
            .get(&with(path, &format!("cursor={long}")), &poster)
            .await
            .expect(400);
        assert!(r.error().contains("200"), "{}", r.text);
    }
    // An empty cursor is none.
    app.get("/v1/tasks/mine?cursor=", &poster).await.expect(200);
}

#[tokio::test]
async fn totals_stop_at_1000_and_say_so() {
    let app = TestApp::new().await;
    let (id, key) = app.register("rich").await;
    let before = app.get("/v1/me/credits", &key).await.expect(200).json;
    let lines = before["total"].as_i64().unwrap();
    assert_eq!(before["total_capped"], json!(false));
    let to = id.clone();
    app.state
        .write(move |tx, _| {
            Box::pin(async move {
                for n in 0..1_000 {
                    let t = Transfer {
                        id: format!("lg-cap-{n}"),
                        from: "mint".into(),
                        to: to.clone(),
                        amount: 1,
                        reason: "grant".into(),
                        task_id: None,
                        created_at: n,
                    };
                    tx.insert_transfer(&t).await?;
                }
                Ok::<_, pinchwork_server::store::StoreError>(())
            })
        })
        .await
        .unwrap();
    let after = app
        .get("/v1/me/credits?limit=1", &key)
        .await
        .expect(200)
        .json;
    assert_eq!(after["total"], json!(1_000), "{after}");
    assert_eq!(after["total_capped"], json!(true), "{after}");
    // The cursor still reaches every line, however deep.
    let walked = walk(&app, &key, "/v1/me/credits", "ledger", 100).await;
    assert_eq!(walked.len() as i64, lines + 1_000);
}
