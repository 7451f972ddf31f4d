//! Thousands of random operations by random agents, legal and not, with time jumping ahead
//! between them: after every step the books must balance and no request may fail with a 500.

use pinchwork_test_kit::TestApp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const STEPS: usize = 3_000;
const ACTIONS: [&str; 8] = [
    "pickup",
    "pickup_one",
    "deliver",
    "approve",
    "reject",
    "cancel",
    "abandon",
    "timers",
];

#[tokio::test]
async fn random_operations_keep_the_books_balanced() {
    let app = TestApp::with(|c| c.initial_credits = 1_000).await;
    let mut rng = StdRng::seed_from_u64(0x5eed_f00d);
    let mut agents = Vec::new();
    for i in 0..6 {
        agents.push(app.register(&format!("agent-{i}")).await);
    }
    let key_of = |id: &Value| {
        agents
            .iter()
            .find(|(a, _)| id == a.as_str())
            .map(|(_, k)| k.clone())
    };
    // Open tasks: id → poster's key. Tasks leave the list once they reach an end state.
    let mut open: Vec<(String, String)> = Vec::new();
    let mut applied = std::collections::BTreeMap::<&str, usize>::new();

    for step in 0..STEPS {
        let (_, anyone) = agents[rng.random_range(0..agents.len())].clone();
        let (op, resp) = if open.is_empty() || rng.random_bool(0.2) {
            let mut body =
                json!({"need": format!("task {step}"), "max_credits": rng.random_range(-5..120)});
            if rng.random_bool(0.3) {
                body["deadline_minutes"] = json!(rng.random_range(1..120));
            }
            if rng.random_bool(0.3) {
                body["claim_timeout_minutes"] = json!(rng.random_range(1..30));
            }
            let r = app.post("/v1/tasks", &anyone, body).await;
            if r.status == 201 {
                open.push((r.json["task_id"].as_str().unwrap().into(), anyone.clone()));
            }
            ("create", r)
        } else {
            let i = rng.random_range(0..open.len());
            let (task, poster) = open[i].clone();
            let view = app
                .get(&format!("/v1/tasks/{task}"), &poster)
                .await
                .expect(200)
                .json;
            let worker = key_of(&view["worker_id"]).unwrap_or(anyone.clone());
            // Mostly what the task's state allows, by the party entitled to it; sometimes
            // anything at all by anybody (which must be refused without effect).
            let op = if rng.random_bool(0.15) {
                ACTIONS[rng.random_range(0..ACTIONS.len())]
            } else {
                let choices: &[&str] = match view["status"].as_str().unwrap() {
                    "posted" => &["pickup", "pickup_one", "pickup", "cancel", "timers"],
                    "claimed" => &["deliver", "deliver", "deliver", "abandon", "timers"],
                    "delivered" => &["approve", "approve", "reject", "reject", "timers"],
                    _ => {
                        open.swap_remove(i);
                        continue;
                    }
                };
                choices[rng.random_range(0..choices.len())]
            };
            let (poster, worker) = if rng.random_bool(0.1) {
                (anyone.clone(), anyone.clone())
            } else {
                (poster, worker)
            };
            let path = |action: &str| format!("/v1/tasks/{task}/{action}");
            let r = match op {
                "pickup" => {
                    app.call("POST", "/v1/tasks/pickup", Some(&anyone), None)
                        .await
                }
                "pickup_one" => app.post(&path("pickup"), &anyone, json!({})).await,
                "deliver" => {
                    let credits = rng.random_range(-3..130);
                    app.post(
                        &path("deliver"),
                        &worker,
                        json!({"result": "work", "credits_claimed": credits}),
                    )
                    .await
                }
                "approve" => {
                    app.post(
                        &path("approve"),
                        &poster,
                        json!({"rating": rng.random_range(0..7)}),
                    )
                    .await
                }
                "reject" => {
                    app.post(&path("reject"), &poster, json!({"reason": "not yet"}))
                        .await
                }
                "cancel" => app.post(&path("cancel"), &poster, json!({})).await,
                "abandon" => app.post(&path("abandon"), &worker, json!({})).await,
                _ => {
                    // Mostly minutes (claim and review windows), now and then hours (expiry).
                    let hours = rng.random_bool(0.1);
                    app.advance(if hours {
                        rng.random_range(1..80) * 3_600_000
                    } else {
                        rng.random_range(1_000..900_000)
                    })
                    .await;
                    app.get("/health", &anyone).await
                }
            };
            (op, r)
        };
        assert!(
            resp.status.as_u16() < 500,
            "step {step} {op}: {} {}",
            resp.status,
            resp.text
        );
        if resp.status.is_success() {
            *applied.entry(op).or_default() += 1;
        }
        app.assert_books_balance().await;
    }
    // The walk must really have exercised the lifecycle, not only refusals.
    for op in [
        "create", "pickup", "deliver", "approve", "reject", "cancel", "abandon", "timers",
    ] {
        assert!(
            applied.get(op).copied().unwrap_or(0) >= 20,
            "too few successful {op}: {applied:?}"
        );
    }
}
