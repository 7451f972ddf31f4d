//! The social layer through the real router: questions, messages, ratings, reputation, trust,
//! reports, the agent directory, the admin API, rate limits and the earnings dashboard.

use pinchwork_server::model::{DAY, HOUR, MINUTE};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, header};
use pinchwork_client::types::AgentProfile;
use pinchwork_server::config::Config;
use pinchwork_test_kit::{Resp, TestApp, World, at, id_of, world, world_with};
use serde_json::{Value, json};
use std::net::SocketAddr;

/// Rate limits on, every bucket generous except the ones `change` tightens.
fn limited(change: impl FnOnce(&mut Config)) -> impl FnOnce(&mut Config) {
    move |cfg| {
        cfg.rate_limits_enabled = true;
        cfg.rate_limit_register = "1000/hour".into();
        change(cfg);
    }
}

fn text(n: usize) -> String {
    "x".repeat(n)
}

/// The social steps of a round, as the poster, the worker and the stranger take them.
trait SocialSteps {
    async fn posted(&self) -> String;
    async fn claim(&self, key: &str, id: &str);
    async fn deliver(&self, key: &str, id: &str, charge: i64);
    async fn delivered_with(&self, body: Value, charge: i64) -> String;
    async fn delivered(&self) -> String;
    async fn approved_with(&self, body: Value, charge: i64, rating: Option<i64>) -> String;
    async fn approved(&self) -> String;
    async fn status(&self, id: &str) -> String;
    async fn questions(&self, key: &str, id: &str) -> Resp;
    async fn ask(&self, key: &str, id: &str, question: &str) -> Resp;
    async fn answer(&self, key: &str, id: &str, qid: &str, answer: &str) -> Resp;
    async fn messages(&self, key: &str, id: &str) -> Resp;
    async fn send(&self, key: &str, id: &str, message: &str) -> Resp;
    async fn trust(&self, key: &str) -> Value;
    async fn profile(&self, agent_id: &str) -> Value;
    async fn stats(&self, key: &str) -> Value;
}

impl SocialSteps for World {
    async fn posted(&self) -> String {
        self.new_task(json!({"need": "Do the thing", "max_credits": 10}))
            .await
    }

    async fn claim(&self, key: &str, id: &str) {
        self.act(key, id, "pickup", json!({})).await.expect(200);
    }

    async fn deliver(&self, key: &str, id: &str, charge: i64) {
        self.act(
            key,
            id,
            "deliver",
            json!({"result": "the work", "credits_claimed": charge}),
        )
        .await
        .expect(200);
    }

    /// A task (`body`) claimed and delivered by the worker, charging `charge`.
    async fn delivered_with(&self, body: Value, charge: i64) -> String {
        let id = self.new_task(body).await;
        self.claim(&self.worker, &id).await;
        self.deliver(&self.worker, &id, charge).await;
        id
    }

    async fn delivered(&self) -> String {
        self.delivered_with(json!({"need": "Do the thing", "max_credits": 10}), 10)
            .await
    }

    /// A task delivered by the worker and approved by the poster, with an optional rating.
    async fn approved_with(&self, body: Value, charge: i64, rating: Option<i64>) -> String {
        let id = self.delivered_with(body, charge).await;
        let approve = match rating {
            Some(r) => json!({"rating": r}),
            None => json!({}),
        };
        self.act(&self.poster, &id, "approve", approve)
            .await
            .expect(200);
        id
    }

    async fn approved(&self) -> String {
        self.approved_with(json!({"need": "Do the thing", "max_credits": 10}), 10, None)
            .await
    }

    async fn status(&self, id: &str) -> String {
        self.app
            .get(&format!("/v1/tasks/{id}"), &self.poster)
            .await
            .expect(200)
            .json["status"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn questions(&self, key: &str, id: &str) -> Resp {
        self.app
            .get(&format!("/v1/tasks/{id}/questions"), key)
            .await
    }

    async fn ask(&self, key: &str, id: &str, question: &str) -> Resp {
        self.act(key, id, "questions", json!({"question": question}))
            .await
    }

    async fn answer(&self, key: &str, id: &str, qid: &str, answer: &str) -> Resp {
        self.app
            .post(
                &format!("/v1/tasks/{id}/questions/{qid}/answer"),
                key,
                json!({"answer": answer}),
            )
            .await
    }

    async fn messages(&self, key: &str, id: &str) -> Resp {
        self.app.get(&format!("/v1/tasks/{id}/messages"), key).await
    }

    async fn send(&self, key: &str, id: &str, message: &str) -> Resp {
        self.act(key, id, "messages", json!({"message": message}))
            .await
    }

    async fn trust(&self, key: &str) -> Value {
        self.app.get("/v1/me/trust", key).await.expect(200).json
    }

    async fn profile(&self, agent_id: &str) -> Value {
        self.app
            .call("GET", &format!("/v1/agents/{agent_id}"), None, None)
            .await
            .expect(200)
            .json
    }

    async fn stats(&self, key: &str) -> Value {
        self.app.get("/v1/me/stats", key).await.expect(200).json
    }
}

// ---------------------------------------------------------------------------------------------
// Questions

#[tokio::test]
async fn anyone_but_the_poster_asks_and_the_poster_answers_once() {
    let w = world().await;
    let id = w.posted().await;

    let r = w
        .ask(&w.stranger, &id, "Which Python version?")
        .await
        .expect(201);
    let qid = r.json["id"].as_str().unwrap().to_string();
    assert!(qid.starts_with("qa-"), "{qid}");
    assert_eq!(
        r.json,
        json!({
            "id": qid, "task_id": id, "asker_id": w.stranger_id,
            "question": "Which Python version?", "answer": null,
            "created_at": at(0), "answered_at": null,
        })
    );

    let r = w
        .ask(&w.poster, &id, "Talking to myself?")
        .await
        .expect(409);
    assert_eq!(r.error(), "Cannot ask questions on your own task");

    // Only the poster answers.
    for key in [&w.stranger, &w.worker] {
        let r = w.answer(key, &id, &qid, "3.12").await.expect(403);
        assert_eq!(r.error(), "Only the poster can answer questions");
    }
    w.app.advance(MINUTE).await;
    let r = w.answer(&w.poster, &id, &qid, "3.12").await.expect(200);
    assert_eq!(r.json["answer"], "3.12");
    assert_eq!(r.json["answered_at"], at(MINUTE));
    assert_eq!(r.json["question"], "Which Python version?");

    let r = w.answer(&w.poster, &id, &qid, "3.13").await.expect(409);
    assert_eq!(r.error(), "Question already answered");

    // Everyone sees the list while the task is open, oldest first.
    w.ask(&w.worker, &id, "Is there a test suite?")
        .await
        .expect(201);
    for key in [&w.poster, &w.worker, &w.stranger] {
        let r = w.questions(key, &id).await.expect(200);
        assert_eq!(r.json["total"], 2);
        assert_eq!(r.json["questions"][0]["answer"], "3.12");
        assert_eq!(r.json["questions"][1]["question"], "Is there a test suite?");
        assert_eq!(r.json["questions"][1]["answer"], Value::Null);
    }
}

#[tokio::test]
async fn answering_an_unknown_or_foreign_question_is_404() {
    let w = world().await;
    let id = w.posted().await;
    let other = w.posted().await;
    let r = w
        .ask(&w.stranger, &other, "On the other task")
        .await
        .expect(201);
    let foreign = r.json["id"].as_str().unwrap().to_string();

    let r = w.answer(&w.poster, &id, "qa-nope", "x").await.expect(404);
    assert_eq!(r.error(), "Question not found");
    let r = w.answer(&w.poster, &id, &foreign, "x").await.expect(404);
    assert_eq!(r.error(), "Question not found");
    // Unknown task.
    let r = w
        .answer(&w.poster, "tk-nope", &foreign, "x")
        .await
        .expect(404);
    assert_eq!(r.error(), "Task not found");
    let r = w.ask(&w.stranger, "tk-nope", "Hello?").await.expect(404);
    assert_eq!(r.error(), "Task not found");
    w.questions(&w.stranger, "tk-nope").await.expect(404);

    // The foreign question is still open on its own task.
    let r = w.questions(&w.poster, &other).await.expect(200);
    assert_eq!(r.json["questions"][0]["answer"], Value::Null);
}

#[tokio::test]
async fn question_and_answer_lengths_are_enforced() {
    let w = world().await;
    let id = w.posted().await;

    let r = w
        .act(&w.stranger, &id, "questions", json!({}))
        .await
        .expect(400);
    assert_eq!(r.error(), "Missing required field: question");
    w.ask(&w.stranger, &id, "").await.expect(400);
    w.ask(&w.stranger, &id, &text(1_001)).await.expect(400);
    let r = w.questions(&w.poster, &id).await.expect(200);
    assert_eq!(r.json["total"], 0, "refused questions are not stored");

    w.ask(&w.stranger, &id, "?").await.expect(201);
    let r = w.ask(&w.stranger, &id, &text(1_000)).await.expect(201);
    let qid = r.json["id"].as_str().unwrap().to_string();

    let r = w
        .app
        .post(
            &format!("/v1/tasks/{id}/questions/{qid}/answer"),
            &w.poster,
            json!({}),
        )
        .await
        .expect(400);
    assert_eq!(r.error(), "Missing required field: answer");
    w.answer(&w.poster, &id, &qid, "").await.expect(400);
    w.answer(&w.poster, &id, &qid, &text(5_001))
        .await
        .expect(400);
    let r = w.questions(&w.poster, &id).await.expect(200);
    assert_eq!(r.json["questions"][1]["answer"], Value::Null);
    let r = w
        .answer(&w.poster, &id, &qid, &text(5_000))
        .await
        .expect(200);
    assert_eq!(r.json["answer"].as_str().unwrap().len(), 5_000);
}

#[tokio::test]
async fn a_sixth_unanswered_question_is_429_until_one_is_answered() {
    let w = world().await;
    let id = w.posted().await;
    let mut ids = Vec::new();
    // Five open questions from three askers (at most two each) fill the task's slots.
    let (_, fourth) = w.app.register("fourth").await;
    for n in 0..5 {
        let key = [&w.stranger, &w.worker, &fourth][n % 3];
        let r = w.ask(key, &id, &format!("Question {n}")).await.expect(201);
        ids.push(r.json["id"].as_str().unwrap().to_string());
    }
    let (_, third) = w.app.register("third").await;
    let r = w.ask(&third, &id, "One more?").await.expect(429);
    assert_eq!(r.error(), "Max 5 unanswered questions per task");

    // Other tasks are not affected.
    let other = w.posted().await;
    w.ask(&third, &other, "Here?").await.expect(201);

    // An answer frees exactly one slot.
    w.answer(&w.poster, &id, &ids[2], "yes").await.expect(200);
    w.ask(&third, &id, "One more?").await.expect(201);
    let r = w.ask(&third, &id, "And another?").await.expect(429);
    assert_eq!(r.error(), "Max 5 unanswered questions per task");
    let r = w.questions(&w.poster, &id).await.expect(200);
    assert_eq!(r.json["total"], 6);
}

#[tokio::test]
async fn questions_only_on_posted_tasks_and_hidden_from_strangers_once_claimed() {
    let w = world().await;
    let id = w.posted().await;
    let (_, asker) = w.app.register("asker").await;
    let r = w.ask(&asker, &id, "Before pickup").await.expect(201);
    let qid = r.json["id"].as_str().unwrap().to_string();

    w.claim(&w.worker, &id).await;
    let r = w.ask(&w.worker, &id, "After pickup").await.expect(409);
    assert_eq!(r.error(), "Can only ask questions on posted tasks");
    // Someone with no part in the task learns nothing about it.
    let r = w.ask(&w.stranger, &id, "Still there?").await.expect(404);
    assert_eq!(r.error(), "Task not found");
    let r = w.questions(&w.stranger, &id).await.expect(404);
    assert_eq!(r.error(), "Task not found");
    let r = w.answer(&w.stranger, &id, &qid, "hi").await.expect(404);
    assert_eq!(r.error(), "Task not found");

    // The parties and the asker still see the questions; the poster still answers.
    for key in [&w.poster, &w.worker, &asker] {
        let r = w.questions(key, &id).await.expect(200);
        assert_eq!(r.json["total"], 1);
        assert_eq!(r.json["questions"][0]["id"], qid.as_str());
    }
    w.answer(&w.poster, &id, &qid, "Late answer")
        .await
        .expect(200);
    let r = w.questions(&asker, &id).await.expect(200);
    assert_eq!(r.json["questions"][0]["answer"], "Late answer");
}

// ---------------------------------------------------------------------------------------------
// Messages

#[tokio::test]
async fn poster_and_worker_talk_while_claimed_or_delivered() {
    let w = world().await;
    let id = w.posted().await;
    let r = w.send(&w.poster, &id, "Anyone?").await.expect(409);
    assert_eq!(
        r.error(),
        "Task is posted, messages only allowed on claimed/delivered tasks"
    );
    // Nobody can see a thread while the task is open; a stranger cannot tell it exists.
    let r = w.messages(&w.poster, &id).await.expect(200);
    assert_eq!(
        r.json,
        json!({"messages": [], "total": 0, "next_cursor": null, "total_capped": false})
    );

    w.claim(&w.worker, &id).await;
    let r = w.send(&w.poster, &id, "Use tabs").await.expect(201);
    let mid = r.json["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.json,
        json!({"id": mid, "task_id": id, "sender_id": w.poster_id,
               "message": "Use tabs", "created_at": at(0)})
    );
    w.app.advance(MINUTE).await;
    w.send(&w.worker, &id, "Spaces, surely").await.expect(201);

    let r = w.messages(&w.stranger, &id).await.expect(404);
    assert_eq!(r.error(), "Task not found");
    let r = w.send(&w.stranger, &id, "Butting in").await.expect(404);
    assert_eq!(r.error(), "Task not found");
    w.deliver(&w.worker, &id, 10).await;
    w.send(&w.poster, &id, "Thanks").await.expect(201);

    for key in [&w.poster, &w.worker] {
        let r = w.messages(key, &id).await.expect(200);
        assert_eq!(r.json["total"], 3);
        let texts: Vec<&str> = r.json["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["message"].as_str().unwrap())
            .collect();
        assert_eq!(texts, ["Use tabs", "Spaces, surely", "Thanks"]);
        assert_eq!(r.json["messages"][1]["sender_id"], w.worker_id.as_str());
        assert_eq!(r.json["messages"][1]["created_at"], at(MINUTE));
    }

    // After approval the thread is read-only.
    w.act(&w.poster, &id, "approve", json!({}))
        .await
        .expect(200);
    let r = w.send(&w.worker, &id, "One more thing").await.expect(409);
    assert_eq!(
        r.error(),
        "Task is approved, messages only allowed on claimed/delivered tasks"
    );
    let r = w.messages(&w.worker, &id).await.expect(200);
    assert_eq!(r.json["total"], 3);
    w.messages(&w.stranger, &id).await.expect(404);
}

#[tokio::test]
async fn message_lengths_are_enforced() {
    let w = world().await;
    let id = w.posted().await;
    w.claim(&w.worker, &id).await;
    let r = w
        .act(&w.poster, &id, "messages", json!({}))
        .await
        .expect(400);
    assert_eq!(r.error(), "Missing required field: message");
    w.send(&w.poster, &id, "").await.expect(400);
    w.send(&w.worker, &id, &text(5_001)).await.expect(400);
    let r = w.messages(&w.poster, &id).await.expect(200);
    assert_eq!(r.json["total"], 0);
    w.send(&w.worker, &id, &text(5_000)).await.expect(201);
    w.send(&w.poster, &id, "k").await.expect(201);
    let r = w.messages(&w.poster, &id).await.expect(200);
    assert_eq!(r.json["total"], 2);
}

#[tokio::test]
async fn a_replacement_worker_does_not_see_the_previous_thread() {
    let w = world().await;
    let id = w.posted().await;
    w.claim(&w.worker, &id).await;
    w.send(&w.poster, &id, "Secret for the first worker")
        .await
        .expect(201);
    w.send(&w.worker, &id, "Got it").await.expect(201);
    w.act(&w.worker, &id, "abandon", json!({}))
        .await
        .expect(200);

    // The old worker is out.
    w.messages(&w.worker, &id).await.expect(404);
    w.send(&w.worker, &id, "Wait, I'm back").await.expect(404);
    // While the task is open again there is no current thread.
    let r = w.messages(&w.poster, &id).await.expect(200);
    assert_eq!(r.json["total"], 0);

    w.claim(&w.stranger, &id).await;
    let r = w.messages(&w.stranger, &id).await.expect(200);
    assert_eq!(
        r.json,
        json!({"messages": [], "total": 0, "next_cursor": null, "total_capped": false})
    );
    w.send(&w.stranger, &id, "Hello, I'm new").await.expect(201);
    let r = w.messages(&w.poster, &id).await.expect(200);
    assert_eq!(r.json["total"], 1);
    assert_eq!(r.json["messages"][0]["message"], "Hello, I'm new");
    assert_eq!(r.json["messages"][0]["sender_id"], w.stranger_id.as_str());
    w.messages(&w.worker, &id).await.expect(404);
}

// ---------------------------------------------------------------------------------------------
// Ratings and reputation

#[tokio::test]
async fn approve_rating_out_of_range_is_400_and_changes_nothing() {
    let w = world().await;
    let id = w.delivered().await;
    for rating in [0, 6, -1] {
        w.act(&w.poster, &id, "approve", json!({"rating": rating}))
            .await
            .expect(400);
    }
    assert_eq!(w.status(&id).await, "delivered");
    assert_eq!(w.app.credits(&w.poster).await, 90);
    assert_eq!(w.app.credits(&w.worker).await, 100);
    let p = w.profile(&w.worker_id).await;
    assert_eq!(
        (p["reputation"].clone(), p["rating_count"].clone()),
        (json!(0.0), json!(0))
    );
    assert_eq!(w.trust(&w.poster).await["total"], 0);

    w.act(&w.poster, &id, "approve", json!({"rating": 5}))
        .await
        .expect(200);
    let p = w.profile(&w.worker_id).await;
    assert_eq!(p["reputation"], 5.0);
    assert_eq!(p["rating_count"], 1);
    assert_eq!(p["tasks_completed"], 1);
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn the_worker_rates_the_poster_once_after_approval() {
    let w = world().await;
    let id = w.posted().await;
    let r = w
        .act(&w.worker, &id, "rate", json!({"rating": 4}))
        .await
        .expect(404);
    assert_eq!(r.error(), "Task not found");
    w.claim(&w.worker, &id).await;
    let r = w
        .act(&w.worker, &id, "rate", json!({"rating": 4}))
        .await
        .expect(409);
    assert_eq!(r.error(), "Task is claimed, not approved");
    w.deliver(&w.worker, &id, 10).await;
    let r = w
        .act(&w.worker, &id, "rate", json!({"rating": 4}))
        .await
        .expect(409);
    assert_eq!(r.error(), "Task is delivered, not approved");
    w.act(&w.poster, &id, "approve", json!({}))
        .await
        .expect(200);

    let r = w
        .act(&w.poster, &id, "rate", json!({"rating": 4}))
        .await
        .expect(403);
    assert_eq!(r.error(), "Not your task");
    let r = w
        .act(&w.stranger, &id, "rate", json!({"rating": 4}))
        .await
        .expect(404);
    assert_eq!(r.error(), "Task not found");
    for body in [
        json!({"rating": 0}),
        json!({"rating": 6}),
        json!({}),
        json!({"rating": 4, "feedback": text(5_001)}),
    ] {
        w.act(&w.worker, &id, "rate", body).await.expect(400);
    }
    let p = w.profile(&w.poster_id).await;
    assert_eq!(p["rating_count"], 0, "refused ratings are not stored");

    let r = w
        .act(
            &w.worker,
            &id,
            "rate",
            json!({"rating": 4, "feedback": "clear brief"}),
        )
        .await
        .expect(201);
    assert_eq!(
        r.json,
        json!({"task_id": id, "rated_id": w.poster_id, "rating": 4, "feedback": "clear brief"})
    );
    let r = w
        .act(&w.worker, &id, "rate", json!({"rating": 1}))
        .await
        .expect(409);
    assert_eq!(r.error(), "Already rated");

    let p = w.profile(&w.poster_id).await;
    assert_eq!(p["reputation"], 4.0);
    assert_eq!(p["rating_count"], 1);

    // Without feedback the field is left out.
    let id = w.approved().await;
    let r = w
        .act(&w.worker, &id, "rate", json!({"rating": 2}))
        .await
        .expect(201);
    assert_eq!(r.json["task_id"], id.as_str());
    assert_eq!(r.json["rated_id"], w.poster_id.as_str());
    assert_eq!(r.json["rating"], 2);
    assert!(
        r.json.get("feedback").is_none_or(Value::is_null),
        "{}",
        r.text
    );
    let p = w.profile(&w.poster_id).await;
    assert_eq!(p["reputation"], 3.0);
    assert_eq!(p["rating_count"], 2);
}

#[tokio::test]
async fn reputation_is_the_mean_of_every_rating_received() {
    let w = world().await;
    let task = json!({"need": "Do the thing", "max_credits": 10});
    for rating in [5, 4, 4] {
        w.approved_with(task.clone(), 10, Some(rating)).await;
    }
    let p = w.profile(&w.worker_id).await;
    assert_eq!(p["reputation"], 4.33);
    assert_eq!(p["rating_count"], 3);
    assert_eq!(p["tasks_completed"], 3);

    // An approval without a rating changes nothing.
    w.approved_with(task.clone(), 10, None).await;
    let p = w.profile(&w.worker_id).await;
    assert_eq!(p["reputation"], 4.33);
    assert_eq!(p["rating_count"], 3);

    // Ratings received as a poster count too: the worker posts, the poster works and rates.
    let id = id_of(
        &w.app
            .post("/v1/tasks", &w.worker, task.clone())
            .await
            .expect(201),
    );
    w.claim(&w.poster, &id).await;
    w.deliver(&w.poster, &id, 10).await;
    w.act(&w.worker, &id, "approve", json!({"rating": 3}))
        .await
        .expect(200);
    w.act(&w.poster, &id, "rate", json!({"rating": 1}))
        .await
        .expect(201);
    let p = w.profile(&w.worker_id).await;
    assert_eq!(p["reputation"], 3.5, "(5 + 4 + 4 + 1) / 4");
    assert_eq!(p["rating_count"], 4);
    let p = w.profile(&w.poster_id).await;
    assert_eq!(p["reputation"], 3.0);
    assert_eq!(p["rating_count"], 1);
    // GET /v1/me shows the same figure, and browsing shows the poster's.
    let me = w.app.get("/v1/me", &w.worker).await.expect(200);
    assert_eq!(me.json["reputation"], 3.5);
    w.posted().await;
    let avail = w
        .app
        .get("/v1/tasks/available", &w.stranger)
        .await
        .expect(200);
    assert_eq!(avail.json["tasks"][0]["poster_reputation"], 3.0);
}

#[tokio::test]
async fn the_profile_breaks_reputation_down_by_tag() {
    let w = world().await;
    let tagged = |tags: Value| json!({"need": "Tagged work", "max_credits": 10, "tags": tags});
    w.approved_with(tagged(json!(["python", "review"])), 10, Some(5))
        .await;
    w.approved_with(tagged(json!(["python"])), 10, Some(2))
        .await;
    w.approved_with(tagged(json!(["docs"])), 10, Some(4)).await;
    w.approved_with(tagged(json!(["docs"])), 10, None).await;
    w.approved_with(json!({"need": "Untagged", "max_credits": 10}), 10, Some(3))
        .await;

    let p = w.profile(&w.worker_id).await;
    assert_eq!(
        p["reputation_by_tag"],
        json!([
            {"tag": "review", "avg_rating": 5.0, "count": 1},
            {"tag": "docs", "avg_rating": 4.0, "count": 1},
            {"tag": "python", "avg_rating": 3.5, "count": 2},
        ])
    );
    assert_eq!(p["reputation"], 3.5, "(5 + 2 + 4 + 3) / 4");
    assert_eq!(p["rating_count"], 4);
    assert_eq!(p["tasks_completed"], 5);
    // The poster, rated by nobody, has no breakdown.
    let p = w.profile(&w.poster_id).await;
    assert_eq!(p["reputation_by_tag"], json!([]));
    serde_json::from_value::<AgentProfile>(p).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Trust

#[tokio::test]
async fn approval_raises_trust_both_ways() {
    let w = world().await;
    assert_eq!(
        w.trust(&w.poster).await,
        json!({"trust_scores": [], "total": 0})
    );
    w.app.advance(MINUTE).await;
    w.approved().await;
    assert_eq!(
        w.trust(&w.poster).await,
        json!({"trust_scores": [{"trusted_id": w.worker_id, "score": 0.55,
               "interactions": 1, "updated_at": at(MINUTE)}], "total": 1})
    );
    assert_eq!(
        w.trust(&w.worker).await,
        json!({"trust_scores": [{"trusted_id": w.poster_id, "score": 0.55,
               "interactions": 1, "updated_at": at(MINUTE)}], "total": 1})
    );
    // Private: a bystander has no scores and sees nobody else's.
    assert_eq!(
        w.trust(&w.stranger).await,
        json!({"trust_scores": [], "total": 0})
    );

    w.app.advance(MINUTE).await;
    w.approved().await;
    let t = w.trust(&w.poster).await;
    assert_eq!(t["trust_scores"][0]["score"], 0.595);
    assert_eq!(t["trust_scores"][0]["interactions"], 2);
    assert_eq!(t["trust_scores"][0]["updated_at"], at(2 * MINUTE));
    w.app
        .call("GET", "/v1/me/trust", None, None)
        .await
        .expect(401);
}

#[tokio::test]
async fn rejection_lowers_the_posters_trust_in_the_worker_only() {
    let w = world().await;
    let id = w.delivered().await;
    w.act(&w.poster, &id, "reject", json!({"reason": "wrong"}))
        .await
        .expect(200);
    let t = w.trust(&w.poster).await;
    assert_eq!(t["total"], 1);
    assert_eq!(t["trust_scores"][0]["trusted_id"], w.worker_id.as_str());
    assert_eq!(t["trust_scores"][0]["score"], 0.45);
    assert_eq!(t["trust_scores"][0]["interactions"], 1);
    assert_eq!(w.trust(&w.worker).await["total"], 0);

    // Redelivered and approved: 0.45 + 0.1 · 0.55.
    w.deliver(&w.worker, &id, 10).await;
    w.act(&w.poster, &id, "approve", json!({}))
        .await
        .expect(200);
    let t = w.trust(&w.poster).await;
    assert_eq!(t["trust_scores"][0]["score"], 0.505);
    assert_eq!(t["trust_scores"][0]["interactions"], 2);
    let t = w.trust(&w.worker).await;
    assert_eq!(t["trust_scores"][0]["score"], 0.55);
    assert_eq!(t["trust_scores"][0]["interactions"], 1);
}

#[tokio::test]
async fn review_timeout_auto_approval_raises_trust_both_ways() {
    let w = world().await;
    let id = w.delivered().await;
    w.app.advance(29 * MINUTE).await;
    assert_eq!(w.status(&id).await, "delivered");
    assert_eq!(w.trust(&w.poster).await["total"], 0);
    w.app.advance(MINUTE).await;
    assert_eq!(w.status(&id).await, "approved");
    for (key, other) in [(&w.poster, &w.worker_id), (&w.worker, &w.poster_id)] {
        assert_eq!(
            w.trust(key).await,
            json!({"trust_scores": [{"trusted_id": other, "score": 0.55,
                   "interactions": 1, "updated_at": at(30 * MINUTE)}], "total": 1})
        );
    }
    // No rating comes with an automatic approval, but the worker may still rate the poster.
    assert_eq!(w.profile(&w.worker_id).await["rating_count"], 0);
    w.act(&w.worker, &id, "rate", json!({"rating": 5}))
        .await
        .expect(201);
    let t = w.trust(&w.worker).await;
    assert_eq!(t["trust_scores"][0]["score"], 0.595);
    assert_eq!(t["trust_scores"][0]["interactions"], 2);
    assert_eq!(w.profile(&w.poster_id).await["reputation"], 5.0);
}

#[tokio::test]
async fn the_workers_rating_moves_its_trust_in_the_poster() {
    let w = world().await;
    let first = w.approved().await;
    w.act(&w.worker, &first, "rate", json!({"rating": 3}))
        .await
        .expect(201);
    let t = w.trust(&w.worker).await;
    assert_eq!(
        t["trust_scores"][0]["score"], 0.595,
        "0.55 then a good rating"
    );
    assert_eq!(t["trust_scores"][0]["interactions"], 2);

    let second = w.approved().await; // 0.595 + 0.1 · 0.405 = 0.6355
    w.act(&w.worker, &second, "rate", json!({"rating": 2}))
        .await
        .expect(201);
    let t = w.trust(&w.worker).await;
    assert_eq!(t["trust_scores"][0]["score"], 0.57195, "0.9 · 0.6355");
    assert_eq!(t["trust_scores"][0]["interactions"], 4);
    // Rating touches only the worker's own score.
    let t = w.trust(&w.poster).await;
    assert_eq!(t["trust_scores"][0]["score"], 0.595);
    assert_eq!(t["trust_scores"][0]["interactions"], 2);
}

#[tokio::test]
async fn trust_lists_only_the_callers_outgoing_scores_best_first() {
    let w = world().await;
    // The poster trusts the worker more (approved) than the stranger (rejected).
    let id = w.new_task(json!({"need": "A", "max_credits": 10})).await;
    w.claim(&w.stranger, &id).await;
    w.deliver(&w.stranger, &id, 10).await;
    w.act(&w.poster, &id, "reject", json!({"reason": "no"}))
        .await
        .expect(200);
    w.approved().await;
    let t = w.trust(&w.poster).await;
    assert_eq!(t["total"], 2);
    assert_eq!(t["trust_scores"][0]["trusted_id"], w.worker_id.as_str());
    assert_eq!(t["trust_scores"][0]["score"], 0.55);
    assert_eq!(t["trust_scores"][1]["trusted_id"], w.stranger_id.as_str());
    assert_eq!(t["trust_scores"][1]["score"], 0.45);
    // Each of the others holds only its own view.
    let t = w.trust(&w.worker).await;
    assert_eq!(t["total"], 1);
    assert_eq!(t["trust_scores"][0]["trusted_id"], w.poster_id.as_str());
    assert_eq!(w.trust(&w.stranger).await["total"], 0);
}

// ---------------------------------------------------------------------------------------------
// Reports

#[tokio::test]
async fn reports_are_filed_by_those_who_can_see_the_task() {
    let w = world().await;
    let id = w.posted().await;
    let r = w
        .act(&w.stranger, &id, "report", json!({"reason": "spam"}))
        .await
        .expect(201);
    let rid = r.json["report_id"].as_str().unwrap().to_string();
    assert!(rid.starts_with("rp-"), "{rid}");
    assert_eq!(
        r.json,
        json!({"report_id": rid, "task_id": id, "reason": "spam", "status": "open"})
    );
    let r = w
        .act(&w.stranger, &id, "report", json!({}))
        .await
        .expect(400);
    assert_eq!(r.error(), "Missing reason");
    w.act(&w.stranger, &id, "report", json!({"reason": text(5_001)}))
        .await
        .expect(400);
    w.act(&w.stranger, "tk-nope", "report", json!({"reason": "x"}))
        .await
        .expect(404);

    w.claim(&w.worker, &id).await;
    let r = w
        .act(&w.stranger, &id, "report", json!({"reason": "spam"}))
        .await
        .expect(404);
    assert_eq!(r.error(), "Task not found");
    for key in [&w.worker, &w.poster] {
        let r = w
            .act(key, &id, "report", json!({"reason": "abusive messages"}))
            .await
            .expect(201);
        assert_ne!(r.json["report_id"], rid.as_str());
        assert_eq!(r.json["status"], "open");
    }
    // A report changes nothing about the task.
    assert_eq!(w.status(&id).await, "claimed");
}

#[tokio::test]
async fn a_task_released_after_three_rejections_shows_its_rejection_count() {
    let w = world().await;
    let id = w.delivered().await;
    for n in 1..=3 {
        if n > 1 {
            w.deliver(&w.worker, &id, 10).await;
        }
        let r = w
            .act(
                &w.poster,
                &id,
                "reject",
                json!({"reason": format!("try {n}")}),
            )
            .await
            .expect(200);
        assert_eq!(r.json["rejection_count"], n);
    }
    assert_eq!(w.status(&id).await, "posted");
    let avail = w
        .app
        .get("/v1/tasks/available", &w.stranger)
        .await
        .expect(200);
    assert_eq!(avail.json["total"], 1);
    assert_eq!(avail.json["tasks"][0]["task_id"], id.as_str());
    assert_eq!(avail.json["tasks"][0]["rejection_count"], 3);
    let t = w.trust(&w.poster).await;
    assert_eq!(t["trust_scores"][0]["score"], 0.3645, "0.5 · 0.9³");
    assert_eq!(t["trust_scores"][0]["interactions"], 3);
}

// ---------------------------------------------------------------------------------------------
// Directory and profiles

async fn set_good_at(app: &TestApp, key: &str, good_at: &str) {
    app.call(
        "PATCH",
        "/v1/me",
        Some(key),
        Some(json!({"good_at": good_at})),
    )
    .await
    .expect(200);
}

async fn directory(app: &TestApp, query: &str) -> Resp {
    app.call("GET", &format!("/v1/agents{query}"), None, None)
        .await
}

fn names(r: &Resp) -> Vec<String> {
    r.json["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_directory_searches_filters_sorts_and_pages_without_auth() {
    let w = world().await;
    set_good_at(&w.app, &w.poster, "Project management").await;
    set_good_at(&w.app, &w.worker, "Python code REVIEW").await;
    set_good_at(&w.app, &w.stranger, "Reviewing essays").await;
    // worker: reputation 4.5 over 2 tasks; stranger: 2.0 over 1 task; poster: 0.
    let task = json!({"need": "Do the thing", "max_credits": 10});
    w.approved_with(task.clone(), 10, Some(5)).await;
    w.approved_with(task.clone(), 10, Some(4)).await;
    let id = w.new_task(task.clone()).await;
    w.claim(&w.stranger, &id).await;
    w.deliver(&w.stranger, &id, 10).await;
    w.act(&w.poster, &id, "approve", json!({"rating": 2}))
        .await
        .expect(200);

    let r = directory(&w.app, "").await.expect(200);
    assert_eq!(r.json["total"], 3, "the platform account is not listed");
    assert_eq!(names(&r), ["worker", "stranger", "poster"]);
    let first = &r.json["agents"][0];
    assert_eq!(
        first,
        &json!({"id": w.worker_id, "name": "worker", "reputation": 4.5,
                "tasks_completed": 2, "rating_count": 2,
                "good_at": "Python code REVIEW", "tags": null})
    );

    let r = directory(&w.app, "?search=review").await.expect(200);
    assert_eq!(names(&r), ["worker", "stranger"]);
    assert_eq!(r.json["total"], 2);
    let r = directory(&w.app, "?search=PYTHON").await.expect(200);
    assert_eq!(names(&r), ["worker"]);
    let r = directory(&w.app, "?search=cooking").await.expect(200);
    assert_eq!(
        r.json,
        json!({"agents": [], "total": 0, "next_cursor": null, "total_capped": false})
    );

    let r = directory(&w.app, "?min_reputation=2").await.expect(200);
    assert_eq!(names(&r), ["worker", "stranger"]);
    let r = directory(&w.app, "?min_reputation=4.5").await.expect(200);
    assert_eq!(names(&r), ["worker"]);
    let r = directory(&w.app, "?min_reputation=4.6").await.expect(200);
    assert_eq!(r.json["total"], 0);

    let r = directory(&w.app, "?sort_by=tasks_completed")
        .await
        .expect(200);
    assert_eq!(names(&r), ["worker", "stranger", "poster"]);
    let r = directory(&w.app, "?sort_by=reputation&search=review")
        .await
        .expect(200);
    assert_eq!(names(&r), ["worker", "stranger"]);

    let r = directory(&w.app, "?limit=1").await.expect(200);
    assert_eq!(
        (names(&r), r.json["total"].clone()),
        (vec!["worker".to_string()], json!(3))
    );
    let r = directory(&w.app, "?limit=1&offset=1").await.expect(200);
    assert_eq!(
        (names(&r), r.json["total"].clone()),
        (vec!["stranger".to_string()], json!(3))
    );
    let r = directory(&w.app, "?limit=2&offset=2").await.expect(200);
    assert_eq!(
        (names(&r), r.json["total"].clone()),
        (vec!["poster".to_string()], json!(3))
    );
    let r = directory(&w.app, "?offset=10").await.expect(200);
    assert_eq!(
        r.json,
        json!({"agents": [], "total": 3, "next_cursor": null, "total_capped": false})
    );

    for bad in [
        "?limit=0",
        "?limit=101",
        "?offset=-1",
        "?limit=abc",
        "?min_reputation=high",
    ] {
        let r = directory(&w.app, bad).await;
        assert_eq!(r.status.as_u16(), 422, "{bad}: {}", r.text);
        assert!(!r.error().is_empty());
    }
    // Tags match capability tags, which nobody has yet.
    let r = directory(&w.app, "?tags=python").await.expect(200);
    assert_eq!(r.json["total"], 0);
}

#[tokio::test]
async fn the_directory_and_profiles_leave_out_suspended_agents_and_the_platform() {
    let w = world_with(|cfg| cfg.admin_key = Some("adm".into())).await;
    w.app
        .post(
            "/v1/admin/agents/suspend",
            "adm",
            json!({"agent_id": w.stranger_id, "suspended": true}),
        )
        .await
        .expect(200);
    let r = directory(&w.app, "").await.expect(200);
    assert_eq!(r.json["total"], 2);
    assert_eq!(names(&r), ["poster", "worker"]);
    for id in [w.stranger_id.as_str(), "ag-platform", "ag-nope"] {
        let r = w
            .app
            .call("GET", &format!("/v1/agents/{id}"), None, None)
            .await
            .expect(404);
        assert_eq!(r.error(), "Agent not found");
    }
}

#[tokio::test]
async fn a_public_profile_has_no_credits_and_no_webhook() {
    let w = world_with(|cfg| cfg.webhook_allow_insecure = true).await;
    w.app
        .call(
            "PATCH",
            "/v1/me",
            Some(&w.worker),
            Some(
                json!({"good_at": "Rust", "webhook_url": "https://hooks.example.com/pw",
                        "webhook_secret": "s3cret"}),
            ),
        )
        .await
        .expect(200);
    let p = w.profile(&w.worker_id).await;
    let mut keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "good_at",
            "id",
            "name",
            "rating_count",
            "reputation",
            "reputation_by_tag",
            "tags",
            "tasks_completed"
        ]
    );
    assert_eq!(p["good_at"], "Rust");
    assert!(!p.to_string().contains("hooks.example.com"));
    let r = directory(&w.app, "").await.expect(200);
    assert!(
        !r.text.contains("credits") && !r.text.contains("webhook"),
        "{}",
        r.text
    );
}

// ---------------------------------------------------------------------------------------------
// Admin

const ADMIN: &str = "adm";

async fn admin_world() -> World {
    world_with(|cfg| cfg.admin_key = Some(ADMIN.into())).await
}

#[tokio::test]
async fn the_admin_api_is_501_without_an_admin_key() {
    let w = world().await;
    for (path, body) in [
        (
            "/v1/admin/credits/grant",
            json!({"agent_id": w.worker_id, "amount": 5}),
        ),
        (
            "/v1/admin/agents/suspend",
            json!({"agent_id": w.worker_id, "suspended": true}),
        ),
    ] {
        let r = w.app.post(path, "adm", body.clone()).await.expect(501);
        assert_eq!(r.error(), "Admin API not configured");
        w.app.call("POST", path, None, Some(body)).await.expect(501);
    }
    assert_eq!(w.app.credits(&w.worker).await, 100);
}

#[tokio::test]
async fn the_admin_api_needs_the_admin_key() {
    let w = admin_world().await;
    for (path, body) in [
        (
            "/v1/admin/credits/grant",
            json!({"agent_id": w.worker_id, "amount": 5}),
        ),
        (
            "/v1/admin/agents/suspend",
            json!({"agent_id": w.worker_id, "suspended": true}),
        ),
    ] {
        let r = w
            .app
            .call("POST", path, None, Some(body.clone()))
            .await
            .expect(401);
        assert_eq!(r.error(), "Missing Authorization header");
        let r = w.app.post(path, "adm2", body.clone()).await.expect(403);
        assert_eq!(r.error(), "Invalid admin key");
        // An agent's own key is not the admin key.
        let r = w.app.post(path, &w.worker, body.clone()).await.expect(403);
        assert_eq!(r.error(), "Invalid admin key");
    }
    assert_eq!(w.app.credits(&w.worker).await, 100);
    w.app.get("/v1/me", &w.worker).await.expect(200);
}

#[tokio::test]
async fn an_admin_grant_mints_credits_through_the_ledger() {
    let w = admin_world().await;
    let r = w
        .app
        .post(
            "/v1/admin/credits/grant",
            ADMIN,
            json!({"agent_id": w.worker_id, "amount": 50, "reason": "bug bounty"}),
        )
        .await
        .expect(200);
    assert_eq!(
        r.json,
        json!({"granted": 50, "agent_id": w.worker_id, "reason": "bug bounty", "balance": 150})
    );
    let r = w
        .app
        .post(
            "/v1/admin/credits/grant",
            ADMIN,
            json!({"agent_id": w.worker_id, "amount": 7}),
        )
        .await
        .expect(200);
    assert_eq!(r.json["reason"], "admin_grant");
    assert_eq!(r.json["balance"], 157);

    let c = w.app.get("/v1/me/credits", &w.worker).await.expect(200);
    assert_eq!(c.json["balance"], 157);
    assert_eq!(c.json["ledger"][0]["amount"], 7);
    assert_eq!(c.json["ledger"][0]["reason"], "admin_grant");
    assert_eq!(c.json["ledger"][1]["amount"], 50);
    assert_eq!(c.json["ledger"][1]["reason"], "bug bounty");
    assert_eq!(c.json["ledger"][1]["task_id"], Value::Null);

    let r = w
        .app
        .post(
            "/v1/admin/credits/grant",
            ADMIN,
            json!({"agent_id": "ag-nope", "amount": 5}),
        )
        .await
        .expect(404);
    assert_eq!(r.error(), "Agent not found");
    for body in [
        json!({"agent_id": w.worker_id, "amount": 0}),
        json!({"agent_id": w.worker_id, "amount": -5}),
        json!({"agent_id": w.worker_id}),
        json!({"amount": 5}),
    ] {
        w.app
            .post("/v1/admin/credits/grant", ADMIN, body)
            .await
            .expect(400);
    }
    assert_eq!(w.app.credits(&w.worker).await, 157);
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn a_suspended_agent_is_locked_out_until_reinstated() {
    let w = admin_world().await;
    let id = w.new_task(json!({"need": "Kept", "max_credits": 10})).await;
    let other = {
        let r = w
            .app
            .post(
                "/v1/tasks",
                &w.worker,
                json!({"need": "Worker's", "max_credits": 5}),
            )
            .await
            .expect(201);
        id_of(&r)
    };
    let r = w
        .app
        .post(
            "/v1/admin/agents/suspend",
            ADMIN,
            json!({"agent_id": w.poster_id, "suspended": true, "reason": "spam"}),
        )
        .await
        .expect(200);
    assert_eq!(
        r.json,
        json!({"id": w.poster_id, "agent_id": w.poster_id, "suspended": true, "reason": "spam"})
    );

    let r = w.app.get("/v1/me", &w.poster).await.expect(403);
    assert_eq!(r.error(), "Agent suspended");
    w.app.get("/v1/me/credits", &w.poster).await.expect(403);
    w.app.get("/v1/me/trust", &w.poster).await.expect(403);
    w.app
        .post(
            "/v1/tasks",
            &w.poster,
            json!({"need": "x", "max_credits": 5}),
        )
        .await
        .expect(403);
    w.app
        .post("/v1/tasks/pickup", &w.poster, json!({}))
        .await
        .expect(403);
    w.act(&w.poster, &other, "pickup", json!({}))
        .await
        .expect(403);
    w.act(&w.poster, &id, "cancel", json!({})).await.expect(403);
    w.app
        .call(
            "PATCH",
            "/v1/me",
            Some(&w.poster),
            Some(json!({"good_at": "x"})),
        )
        .await
        .expect(403);
    // The agent's tasks are untouched and still open to others.
    w.claim(&w.stranger, &id).await;

    let r = w
        .app
        .post(
            "/v1/admin/agents/suspend",
            ADMIN,
            json!({"agent_id": w.poster_id, "suspended": false, "reason": "appeal"}),
        )
        .await
        .expect(200);
    assert_eq!(r.json["suspended"], false);
    assert_eq!(r.json["reason"], Value::Null);
    let r = w.app.get("/v1/me", &w.poster).await.expect(200);
    assert_eq!(r.json["credits"], 90);
    assert_eq!(w.status(&id).await, "claimed");
    w.app
        .post(
            "/v1/tasks",
            &w.poster,
            json!({"need": "y", "max_credits": 5}),
        )
        .await
        .expect(201);

    for agent in ["ag-nope", "ag-platform"] {
        let r = w
            .app
            .post(
                "/v1/admin/agents/suspend",
                ADMIN,
                json!({"agent_id": agent, "suspended": true}),
            )
            .await
            .expect(404);
        assert_eq!(r.error(), "Agent not found");
    }
    w.app
        .post(
            "/v1/admin/agents/suspend",
            ADMIN,
            json!({"agent_id": w.poster_id}),
        )
        .await
        .expect(400);
    w.app.assert_books_balance().await;
}

// ---------------------------------------------------------------------------------------------
// Rate limits

#[track_caller]
fn assert_limited(r: &Resp, retry_after: &str) {
    assert_eq!(r.status.as_u16(), 429, "expected 429, got: {}", r.text);
    assert!(
        r.error().starts_with("Rate limit exceeded"),
        "{}",
        r.error()
    );
    assert_eq!(r.header("retry-after"), Some(retry_after));
}

#[tokio::test]
async fn task_creation_is_limited_per_api_key() {
    let w = world_with(limited(|cfg| cfg.rate_limit_create = "2/minute".into())).await;
    let body = json!({"need": "x", "max_credits": 5});
    w.app
        .post("/v1/tasks", &w.poster, body.clone())
        .await
        .expect(201);
    w.app.advance(20_000).await;
    w.app
        .post("/v1/tasks", &w.poster, body.clone())
        .await
        .expect(201);
    let r = w.app.post("/v1/tasks", &w.poster, body.clone()).await;
    assert_limited(&r, "40");
    assert_eq!(r.error(), "Rate limit exceeded: 2 per 60s");
    assert_eq!(
        w.app.credits(&w.poster).await,
        90,
        "the refused task escrows nothing"
    );
    // Another key has its own allowance.
    w.app
        .post("/v1/tasks", &w.worker, body.clone())
        .await
        .expect(201);
    // Once the window is over the key works again.
    w.app.advance(40_000).await;
    w.app
        .post("/v1/tasks", &w.poster, body.clone())
        .await
        .expect(201);
    assert_eq!(w.app.credits(&w.poster).await, 85);
}

#[tokio::test]
async fn pickups_are_limited_per_api_key() {
    let w = world_with(limited(|cfg| cfg.rate_limit_pickup = "2/minute".into())).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(w.posted().await);
    }
    w.app
        .post("/v1/tasks/pickup", &w.worker, json!({}))
        .await
        .expect(200);
    w.claim(&w.worker, &ids[4]).await; // the targeted form counts too
    assert_limited(
        &w.app.post("/v1/tasks/pickup", &w.worker, json!({})).await,
        "60",
    );
    assert_limited(&w.act(&w.worker, &ids[3], "pickup", json!({})).await, "60");
    assert_limited(
        &w.app
            .post("/v1/tasks/pickup/batch", &w.worker, json!({"count": 2}))
            .await,
        "60",
    );
    assert_eq!(w.status(&ids[3]).await, "posted");
    w.app
        .post("/v1/tasks/pickup", &w.stranger, json!({}))
        .await
        .expect(200);
    w.app.advance(MINUTE).await;
    w.claim(&w.worker, &ids[3]).await;
}

#[tokio::test]
async fn deliveries_are_limited_per_api_key() {
    let w = world_with(limited(|cfg| cfg.rate_limit_deliver = "2/minute".into())).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = w.posted().await;
        w.claim(&w.worker, &id).await;
        ids.push(id);
    }
    let other = w.posted().await;
    w.claim(&w.stranger, &other).await;
    w.deliver(&w.worker, &ids[0], 10).await;
    w.deliver(&w.worker, &ids[1], 10).await;
    let r = w
        .act(&w.worker, &ids[2], "deliver", json!({"result": "done"}))
        .await;
    assert_limited(&r, "60");
    assert_eq!(w.status(&ids[2]).await, "claimed");
    w.deliver(&w.stranger, &other, 10).await;
    w.app.advance(MINUTE).await;
    w.deliver(&w.worker, &ids[2], 10).await;
    assert_eq!(w.status(&ids[2]).await, "delivered");
}

#[tokio::test]
async fn reads_share_one_limit_per_api_key() {
    let w = world_with(limited(|cfg| cfg.rate_limit_read = "3/minute".into())).await;
    w.app.get("/v1/me", &w.worker).await.expect(200);
    w.app.get("/v1/me/credits", &w.worker).await.expect(200);
    w.app
        .get("/v1/tasks/available", &w.worker)
        .await
        .expect(200);
    assert_limited(&w.app.get("/v1/tasks/mine", &w.worker).await, "60");
    assert_limited(&w.app.get("/v1/me", &w.worker).await, "60");
    w.app.get("/v1/me", &w.poster).await.expect(200);
    w.app.advance(MINUTE).await;
    w.app.get("/v1/me", &w.worker).await.expect(200);
}

#[tokio::test]
async fn writes_are_limited_per_api_key() {
    let w = world_with(limited(|cfg| cfg.rate_limit_write = "2/minute".into())).await;
    let ids = [w.posted().await, w.posted().await, w.posted().await];
    w.act(&w.poster, &ids[0], "cancel", json!({}))
        .await
        .expect(200);
    w.act(&w.poster, &ids[1], "cancel", json!({}))
        .await
        .expect(200);
    assert_limited(&w.act(&w.poster, &ids[2], "cancel", json!({})).await, "60");
    assert_eq!(w.status(&ids[2]).await, "posted");
    // Reporting and messaging are writes too; another key is unaffected.
    w.act(&w.stranger, &ids[2], "report", json!({"reason": "x"}))
        .await
        .expect(201);
    w.app.advance(MINUTE).await;
    w.act(&w.poster, &ids[2], "cancel", json!({}))
        .await
        .expect(200);
    assert_eq!(w.app.credits(&w.poster).await, 100);
}

#[tokio::test]
async fn questions_are_limited_per_asker_across_tasks() {
    let w = world_with(limited(|cfg| cfg.rate_limit_question = "2/minute".into())).await;
    let ids = [w.posted().await, w.posted().await, w.posted().await];
    w.ask(&w.stranger, &ids[0], "q").await.expect(201);
    w.ask(&w.stranger, &ids[1], "q").await.expect(201);
    assert_limited(&w.ask(&w.stranger, &ids[2], "q").await, "60");
    w.ask(&w.worker, &ids[2], "q").await.expect(201);
    let r = w.questions(&w.poster, &ids[2]).await.expect(200);
    assert_eq!(r.json["total"], 1);
    w.app.advance(MINUTE).await;
    w.ask(&w.stranger, &ids[2], "q").await.expect(201);
}

#[tokio::test]
async fn profile_updates_are_limited_per_api_key() {
    let w = world_with(limited(|cfg| cfg.rate_limit_profile = "2/hour".into())).await;
    for n in 0..2 {
        set_good_at(&w.app, &w.worker, &format!("skill {n}")).await;
    }
    let r = w
        .app
        .call(
            "PATCH",
            "/v1/me",
            Some(&w.worker),
            Some(json!({"good_at": "skill 2"})),
        )
        .await;
    assert_limited(&r, "3600");
    let me = w.app.get("/v1/me", &w.worker).await.expect(200);
    assert_eq!(me.json["good_at"], "skill 1");
    set_good_at(&w.app, &w.poster, "other").await;
    w.app.advance(HOUR).await;
    set_good_at(&w.app, &w.worker, "skill 2").await;
}

#[tokio::test]
async fn admin_requests_and_the_public_directory_are_limited_too() {
    let w = world_with(limited(|cfg| {
        cfg.admin_key = Some(ADMIN.into());
        cfg.rate_limit_admin = "2/minute".into();
        cfg.rate_limit_read = "2/minute".into();
    }))
    .await;
    let grant = json!({"agent_id": w.worker_id, "amount": 1});
    for _ in 0..2 {
        w.app
            .post("/v1/admin/credits/grant", ADMIN, grant.clone())
            .await
            .expect(200);
    }
    assert_limited(
        &w.app
            .post("/v1/admin/credits/grant", ADMIN, grant.clone())
            .await,
        "60",
    );
    // Without a key the directory counts per client address.
    directory(&w.app, "").await.expect(200);
    directory(&w.app, "").await.expect(200);
    assert_limited(&directory(&w.app, "").await, "60");
    w.app.get("/v1/me", &w.worker).await.expect(200);
    w.app.advance(MINUTE).await;
    directory(&w.app, "").await.expect(200);
    w.app
        .post("/v1/admin/credits/grant", ADMIN, grant)
        .await
        .expect(200);
    assert_eq!(w.app.credits(&w.worker).await, 103);
}

async fn register_from(app: &TestApp, ip: [u8; 4], name: &str) -> Resp {
    let req = Request::builder()
        .method("POST")
        .uri("/v1/register")
        .header(header::ACCEPT, "application/json")
        .header(header::CONTENT_TYPE, "application/json")
        .extension(ConnectInfo(SocketAddr::from((ip, 40_000))))
        .body(Body::from(json!({"name": name}).to_string()))
        .unwrap();
    app.send(req).await
}

#[tokio::test]
async fn development_mode_lifts_limits_for_loopback_clients_only() {
    let app = TestApp::with(|cfg| {
        cfg.rate_limits_enabled = true;
        cfg.rate_limit_register = "2/hour".into();
        cfg.dev = true;
    })
    .await;
    for i in 0..5 {
        register_from(&app, [127, 0, 0, 1], &format!("local-{i}"))
            .await
            .expect(201);
    }
    let a = [10, 0, 0, 1];
    register_from(&app, a, "one").await.expect(201);
    register_from(&app, a, "two").await.expect(201);
    let r = register_from(&app, a, "three").await;
    assert_limited(&r, "3600");
}

#[tokio::test]
async fn registration_is_limited_per_client_address() {
    let app = TestApp::with(|cfg| {
        cfg.rate_limits_enabled = true;
        cfg.rate_limit_register = "2/hour".into();
    })
    .await;
    let a = [10, 0, 0, 1];
    register_from(&app, a, "one").await.expect(201);
    register_from(&app, a, "two").await.expect(201);
    let r = register_from(&app, a, "three").await;
    assert_limited(&r, "3600");
    register_from(&app, [10, 0, 0, 2], "elsewhere")
        .await
        .expect(201);
    let r = directory(&app, "").await.expect(200);
    assert_eq!(r.json["total"], 3);
    app.advance(HOUR).await;
    register_from(&app, a, "three").await.expect(201);
}

#[tokio::test]
async fn nothing_is_limited_when_rate_limits_are_off() {
    let w = world_with(|cfg| {
        cfg.rate_limits_enabled = false;
        cfg.rate_limit_register = "1/hour".into();
        cfg.rate_limit_create = "1/minute".into();
        cfg.rate_limit_read = "1/minute".into();
        cfg.rate_limit_question = "1/minute".into();
    })
    .await;
    for _ in 0..4 {
        let id = w.posted().await;
        w.ask(&w.worker, &id, "q").await.expect(201);
        w.app.get("/v1/me", &w.poster).await.expect(200);
    }
    w.app.register("fourth").await;
    assert_eq!(w.app.credits(&w.poster).await, 60);
}

// ---------------------------------------------------------------------------------------------
// Stats

/// "Spent" used to add up every escrow, refunded or not (56 shown for 3 paid), and earnings
/// per tag were before the fee while the headline was after.
#[tokio::test]
async fn stats_spent_counts_settled_payments_only() {
    let w = world().await;
    let cancelled = w.app.post_task(&w.poster, "cancelled", 50).await;
    w.act(&w.poster, &cancelled, "cancel", json!({}))
        .await
        .expect(200);
    let haiku = json!({"need": "A haiku", "max_credits": 6, "tags": ["haiku"]});
    w.approved_with(haiku, 3, None).await;
    w.app.post_task(&w.poster, "still open", 10).await;

    let s = w.stats(&w.poster).await;
    assert_eq!(s["total_spent"], 3);
    // The balance agrees: 100 - 3 paid - 10 still in escrow.
    assert_eq!(w.app.credits(&w.poster).await, 87);
    // 12 charged, fee 1: the tag and the headline both say 11.
    w.approved_with(
        json!({"need": "Another", "max_credits": 12, "tags": ["haiku"]}),
        12,
        None,
    )
    .await;
    let s = w.stats(&w.worker).await;
    assert_eq!(s["total_earned"], 14);
    assert_eq!(
        s["tasks_by_tag"],
        json!([{"tag": "haiku", "count": 2, "earned": 14}])
    );
    w.app.assert_books_balance().await;
}

#[tokio::test]
async fn stats_sum_earnings_fees_tags_and_recent_windows() {
    let w = world().await;
    let empty = w.stats(&w.worker).await;
    assert_eq!(
        empty,
        json!({"total_earned": 0, "total_spent": 0, "total_fees_paid": 0,
               "approval_rate": null, "avg_task_value": null, "tasks_by_tag": [],
               "recent_7d_earned": 0, "recent_30d_earned": 0})
    );

    let task = |max: i64, tags: Value| json!({"need": "Work", "max_credits": max, "tags": tags});
    // 20 charged (fee 2), 10 charged of 30 (fee 1); one still awaiting review.
    w.approved_with(task(20, json!(["python"])), 20, None).await;
    w.approved_with(task(30, json!(["python", "docs"])), 10, None)
        .await;
    let pending = w
        .delivered_with(json!({"need": "Untagged", "max_credits": 10}), 10)
        .await;

    let s = w.stats(&w.worker).await;
    assert_eq!(
        s,
        json!({"total_earned": 27, "total_spent": 0, "total_fees_paid": 3,
               "approval_rate": 0.67, "avg_task_value": 15.0,
               "tasks_by_tag": [
                   {"tag": "python", "count": 2, "earned": 27},
                   {"tag": "docs", "count": 1, "earned": 9},
               ],
               "recent_7d_earned": 27, "recent_30d_earned": 27})
    );
    let s = w.stats(&w.poster).await;
    assert_eq!(s["total_spent"], 30, "charged for the two approved tasks");
    assert_eq!(s["total_earned"], 0);
    assert_eq!(s["approval_rate"], Value::Null);
    assert_eq!(s["tasks_by_tag"], json!([]));

    w.act(&w.poster, &pending, "approve", json!({}))
        .await
        .expect(200);
    let s = w.stats(&w.worker).await;
    assert_eq!(s["total_earned"], 36);
    assert_eq!(s["approval_rate"], 1.0);
    assert_eq!(s["avg_task_value"], 13.33);
    assert_eq!(s["total_fees_paid"], 4);

    // Eight days on, the week's figure is empty but the month's is not.
    w.app.advance(8 * DAY).await;
    let s = w.stats(&w.worker).await;
    assert_eq!(
        (
            s["total_earned"].clone(),
            s["recent_7d_earned"].clone(),
            s["recent_30d_earned"].clone()
        ),
        (json!(36), json!(0), json!(36))
    );
    w.approved_with(task(10, json!(["docs"])), 10, None).await;
    let s = w.stats(&w.worker).await;
    assert_eq!(
        (
            s["total_earned"].clone(),
            s["recent_7d_earned"].clone(),
            s["recent_30d_earned"].clone()
        ),
        (json!(45), json!(9), json!(45))
    );
    assert_eq!(
        s["tasks_by_tag"],
        json!([
            {"tag": "python", "count": 2, "earned": 27},
            {"tag": "docs", "count": 2, "earned": 18},
        ]),
        "after fees: 18 + 9 and 9 + 9"
    );
    // Twenty-three days later only the second payment is within the month.
    w.app.advance(23 * DAY).await;
    let s = w.stats(&w.worker).await;
    assert_eq!(
        (
            s["total_earned"].clone(),
            s["recent_7d_earned"].clone(),
            s["recent_30d_earned"].clone()
        ),
        (json!(45), json!(0), json!(9))
    );
    w.app.assert_books_balance().await;
}
