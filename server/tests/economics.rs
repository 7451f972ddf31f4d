//! The economics simulation: honest agents and two colluding groups (each with a poster, a
//! worker and an infra agent of its own) act at random over many simulated hours, with
//! every move of the API, legal and not: posting and cancelling, matching and verifying their
//! own tasks, rejecting and re-delivering, churning good_at, abandoning and re-claiming,
//! letting deadlines and expiry pass, rating each other. After every step the books balance
//! and the platform account is not negative; at the end no group holds more than it started
//! with plus what agents outside it paid it for approved work (default settings).
//!
//! Runs on SQLite always, and on PostgreSQL when `PINCHWORK_TEST_POSTGRES_URL` is set.

use pinchwork_server::model::{DAY, HOUR, MINUTE, PLATFORM_AGENT_ID};
use pinchwork_server::store::Page;
use pinchwork_test_kit::{Resp, TestApp, TestDir};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const STEPS: usize = 1_500;
const WORDS: [&str; 8] = [
    "rust", "python", "sql", "haiku", "audit", "docs", "data", "go",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Honest,
    Group(usize),
}

struct Agent {
    id: String,
    key: String,
    side: Side,
    infra: bool,
}

struct Sim {
    app: TestApp,
    agents: Vec<Agent>,
    rng: StdRng,
    /// Every task posted: (id, index of its poster).
    tasks: Vec<(String, usize)>,
    /// System tasks an infra agent holds, by agent index.
    held: BTreeMap<usize, Vec<Value>>,
    /// Successful moves, by name.
    done: BTreeMap<&'static str, usize>,
}

#[tokio::test]
async fn colluding_groups_never_gain_on_sqlite() {
    simulate(TestApp::on(TestDir::sqlite(), |_| {}).await, 0x00c0_ffee).await;
}

#[tokio::test]
async fn colluding_groups_never_gain_on_postgres() {
    let Some(dir) = TestDir::postgres("the economics simulation") else {
        return;
    };
    // Thousands of small commits: not waiting for each to reach the disk keeps the run short
    // (what is tested is the same).
    let name = dir.database_url.rsplit('/').next().unwrap().to_string();
    pinchwork_test_kit::admin(
        &dir.database_url,
        &format!("ALTER DATABASE {name} SET synchronous_commit = off"),
    );
    simulate(TestApp::on(dir, |_| {}).await, 0x00c0_ffee).await;
}

async fn simulate(app: TestApp, seed: u64) {
    let mut sim = Sim {
        app,
        agents: Vec::new(),
        rng: StdRng::seed_from_u64(seed),
        tasks: Vec::new(),
        held: BTreeMap::new(),
        done: BTreeMap::new(),
    };
    for (name, side, infra, good_at) in [
        ("honest-a", Side::Honest, false, Some("rust and sql")),
        ("honest-b", Side::Honest, false, Some("python data")),
        ("honest-c", Side::Honest, false, None),
        ("honest-infra", Side::Honest, true, None),
        ("g1-poster", Side::Group(1), false, None),
        ("g1-worker", Side::Group(1), false, Some("haiku docs")),
        ("g1-infra", Side::Group(1), true, None),
        ("g2-a", Side::Group(2), false, Some("audit go")),
        ("g2-b", Side::Group(2), false, None),
        ("g2-infra", Side::Group(2), true, None),
    ] {
        let r = sim
            .app
            .call(
                "POST",
                "/v1/register",
                None,
                Some(json!({"name": name, "accepts_system_tasks": infra, "good_at": good_at})),
            )
            .await
            .expect(201);
        sim.agents.push(Agent {
            id: r.json["agent_id"].as_str().unwrap().into(),
            key: r.json["api_key"].as_str().unwrap().into(),
            side,
            infra,
        });
    }
    let started = sim.app.cfg.initial_credits;

    for step in 0..STEPS {
        let actor = sim.rng.random_range(0..sim.agents.len());
        let (name, resp) = sim.step(actor).await;
        if let Some(resp) = resp {
            assert!(
                resp.status.as_u16() < 500,
                "step {step} {name}: {} {}",
                resp.status,
                resp.text
            );
            if resp.status.is_success() {
                *sim.done.entry(name).or_default() += 1;
            }
        }
        // The books balance and the platform holds no debt, after every step.
        let (books, unexplained, platform) = sim
            .app
            .state
            .read(|tx| {
                Box::pin(async move {
                    let platform = tx.agent(PLATFORM_AGENT_ID).await?.unwrap().credits;
                    Ok::<_, pinchwork_server::error::Error>((
                        tx.books().await?,
                        tx.unexplained_balances().await?,
                        platform,
                    ))
                })
            })
            .await
            .unwrap();
        assert_eq!(
            books.balances + books.escrowed,
            books.minted,
            "step {step} {name}"
        );
        assert!(
            unexplained.is_empty(),
            "step {step} {name}: {unexplained:?}"
        );
        assert!(platform >= 0, "step {step} {name}: platform at {platform}");
    }

    // Each group ends with at most what it started with plus what outsiders paid it.
    let mut report = Vec::new();
    for group in [Side::Group(1), Side::Group(2)] {
        let members: Vec<&Agent> = sim.agents.iter().filter(|a| a.side == group).collect();
        let mut held = 0;
        let mut paid_by_outsiders = 0;
        for member in &members {
            held += sim.balance_of(&member.id).await;
            paid_by_outsiders += sim.paid_from_outside(&member.id, group).await;
        }
        let start = started * members.len() as i64;
        report.push(format!(
            "{group:?}: started {start}, holds {held}, paid by outsiders {paid_by_outsiders}"
        ));
        assert!(
            held <= start + paid_by_outsiders,
            "{group:?} farmed credits: {}",
            report.last().unwrap()
        );
    }
    eprintln!("{}; moves: {:?}", report.join("; "), sim.done);
    // The walk really tried what farming needs, not only refusals.
    for name in [
        "post",
        "cancel",
        "deliver",
        "approve",
        "reject",
        "abandon",
        "system work",
        "own system work",
        "good_at",
        "rate",
        "time",
    ] {
        assert!(
            sim.done.get(name).copied().unwrap_or(0) >= 10,
            "too few successful {name}: {:?}",
            sim.done
        );
    }
}

impl Sim {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.rng.random_range(0..items.len())])
    }

    async fn balance_of(&self, agent: &str) -> i64 {
        let agent = agent.to_string();
        self.app
            .state
            .read(move |tx| {
                Box::pin(async move {
                    Ok::<_, pinchwork_server::error::Error>(
                        tx.agent(&agent).await?.map_or(0, |a| a.credits),
                    )
                })
            })
            .await
            .unwrap()
    }

    /// Payments the agent received for approved work whose cost was borne by an agent outside
    /// `group`: the poster of a task, or whoever funded a system task.
    async fn paid_from_outside(&self, agent: &str, group: Side) -> i64 {
        let agent = agent.to_string();
        let payers: Vec<(i64, String)> = self
            .app
            .state
            .read(move |tx| {
                Box::pin(async move {
                    let lines = tx.ledger_of(&agent, &Page::first(1_000_000)).await?.items;
                    let mut out = Vec::new();
                    for line in lines
                        .iter()
                        .filter(|l| l.reason == "payment" && l.amount > 0)
                    {
                        let task = tx.task(line.task_id.as_deref().unwrap()).await?.unwrap();
                        let payer = if task.is_system {
                            task.payer_id.unwrap()
                        } else {
                            task.poster_id
                        };
                        out.push((line.amount, payer));
                    }
                    Ok::<_, pinchwork_server::error::Error>(out)
                })
            })
            .await
            .unwrap();
        // Agents outside the group only: what the platform pays is no one's approved work.
        payers
            .into_iter()
            .filter(|(_, payer)| matches!(self.side_of(payer), Some(side) if side != group))
            .map(|(amount, _)| amount)
            .sum()
    }

    fn side_of(&self, id: &str) -> Option<Side> {
        self.agents.iter().find(|a| a.id == id).map(|a| a.side)
    }

    fn key(&self, i: usize) -> String {
        self.agents[i].key.clone()
    }

    async fn post(&self, i: usize, path: &str, body: Value) -> Resp {
        self.app.post(path, &self.agents[i].key, body).await
    }

    async fn act(&self, i: usize, task: &str, action: &str, body: Value) -> Resp {
        self.post(i, &format!("/v1/tasks/{task}/{action}"), body)
            .await
    }

    /// The agent's (100 newest) tasks, as (its role, status) → ids.
    async fn mine(&self, i: usize) -> BTreeMap<(&'static str, String), Vec<String>> {
        let me = &self.agents[i];
        let r = self
            .app
            .get("/v1/tasks/mine?limit=100", &me.key)
            .await
            .expect(200);
        let mut by_state = BTreeMap::<(&'static str, String), Vec<String>>::new();
        for t in r.json["tasks"].as_array().unwrap() {
            let role = if t["poster_id"] == me.id.as_str() {
                "poster"
            } else {
                "worker"
            };
            let status = t["status"].as_str().unwrap().to_string();
            by_state
                .entry((role, status))
                .or_default()
                .push(t["task_id"].as_str().unwrap().to_string());
        }
        by_state
    }

    /// A task to name: a colluder mostly picks one of its own group's.
    fn task_for(&mut self, i: usize) -> Option<String> {
        let side = self.agents[i].side;
        let own: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, p)| side != Side::Honest && self.agents[*p].side == side && *p != i)
            .map(|(t, _)| t.clone())
            .collect();
        if !own.is_empty() && self.rng.random_bool(0.8) {
            return self.pick(&own).cloned();
        }
        let all: Vec<String> = self.tasks.iter().map(|(t, _)| t.clone()).collect();
        self.pick(&all).cloned()
    }

    async fn step(&mut self, i: usize) -> (&'static str, Option<Resp>) {
        let colluder = self.agents[i].side != Side::Honest;
        if colluder && self.rng.random_bool(0.3) {
            return ("farm", self.farm(i).await);
        }
        // Work in hand first, mostly: deliveries to review, claims to deliver.
        let mut mine = self.mine(i).await;
        let mut take = |role: &'static str, status: &str| {
            mine.remove(&(role, status.to_string())).unwrap_or_default()
        };
        let (delivered, held) = (take("poster", "delivered"), take("worker", "claimed"));
        let (posted, approved) = (take("poster", "posted"), take("worker", "approved"));
        if let Some(task) = self.pick(&delivered).cloned()
            && self.rng.random_bool(0.7)
        {
            // Colluders reject often, to re-deliver and have their delivery verified again.
            if self.rng.random_bool(if colluder { 0.5 } else { 0.2 }) {
                let body = json!({"reason": "again", "feedback": "more"});
                return ("reject", Some(self.act(i, &task, "reject", body).await));
            }
            let body = json!({"rating": self.rng.random_range(1..6), "feedback": "ok"});
            return ("approve", Some(self.act(i, &task, "approve", body).await));
        }
        if let Some(task) = self.pick(&held).cloned()
            && self.rng.random_bool(0.7)
        {
            if self.rng.random_bool(0.15) {
                return (
                    "abandon",
                    Some(self.act(i, &task, "abandon", json!({})).await),
                );
            }
            let claimed = match self.rng.random_range(0..10) {
                0 => json!(-1),
                1..=4 => Value::Null,
                _ => json!(self.rng.random_range(1..40)),
            };
            let body = json!({"result": "the work", "credits_claimed": claimed});
            return ("deliver", Some(self.act(i, &task, "deliver", body).await));
        }
        match self.rng.random_range(0..100) {
            0..=19 => ("post", Some(self.post_task(i).await)),
            20..=39 if self.agents[i].infra => self.system_work(i).await,
            20..=34 => ("pickup", Some(self.pickup(i).await)),
            35..=52 => {
                let Some(task) = self.task_for(i) else {
                    return ("pickup", None);
                };
                (
                    "pickup",
                    Some(self.act(i, &task, "pickup", json!({})).await),
                )
            }
            53..=62 => {
                let Some(task) = self.pick(&posted).cloned() else {
                    return ("cancel", None);
                };
                (
                    "cancel",
                    Some(self.act(i, &task, "cancel", json!({})).await),
                )
            }
            63..=67 => {
                let Some(task) = self.pick(&approved).cloned() else {
                    return ("rate", None);
                };
                let body = json!({"rating": self.rng.random_range(1..6)});
                ("rate", Some(self.act(i, &task, "rate", body).await))
            }
            68..=74 => {
                let words: Vec<&str> = (0..self.rng.random_range(1..4))
                    .map(|_| WORDS[self.rng.random_range(0..WORDS.len())])
                    .collect();
                let r = self
                    .app
                    .call(
                        "PATCH",
                        "/v1/me",
                        Some(&self.key(i)),
                        Some(json!({"good_at": words.join(" and ")})),
                    )
                    .await;
                ("good_at", Some(r))
            }
            75..=78 => {
                let Some(task) = self.task_for(i) else {
                    return ("ask", None);
                };
                let body = json!({"question": "what exactly?"});
                ("ask", Some(self.act(i, &task, "questions", body).await))
            }
            79..=90 => ("chaos", self.chaos(i).await),
            _ => {
                // Mostly seconds (match and verification windows), then minutes (claims and
                // reviews), now and then hours (deadlines, expiry, the daily extraction).
                let ms = match self.rng.random_range(0..10) {
                    0..=5 => self.rng.random_range(5..150) * 1_000,
                    6..=8 => self.rng.random_range(1..40) * MINUTE,
                    _ => self.rng.random_range(1..30) * HOUR,
                };
                self.app.advance(ms.min(DAY)).await;
                *self.done.entry("time").or_default() += 1;
                ("time", None)
            }
        }
    }

    /// One round of the group's farming loops, as fast as the group can run it: a tiny task
    /// posted, matched by the group's infra agent, picked up by a member, delivered and
    /// verified by its infra agent, rejected and re-delivered, then approved or cancelled
    /// at some point along the way. Every answer is checked like any other move's.
    async fn farm(&mut self, i: usize) -> Option<Resp> {
        let side = self.agents[i].side;
        let group: Vec<usize> = (0..self.agents.len())
            .filter(|&j| self.agents[j].side == side)
            .collect();
        let infra = *group.iter().find(|&&j| self.agents[j].infra)?;
        let members: Vec<usize> = group.iter().copied().filter(|&j| j != infra).collect();
        let poster = members[self.rng.random_range(0..members.len())];
        let worker = *members.iter().find(|&&j| j != poster)?;
        let check = |r: &Resp| assert!(r.status.as_u16() < 500, "farm: {} {}", r.status, r.text);
        let body = json!({"need": "tiny", "max_credits": self.rng.random_range(1..4)});
        let r = self.post(poster, "/v1/tasks", body).await;
        check(&r);
        if r.status != 201 {
            return Some(r);
        }
        let task = r.json["task_id"].as_str().unwrap().to_string();
        self.tasks.push((task.clone(), poster));
        if let (_, Some(r)) = self.system_work(infra).await {
            check(&r);
        }
        if self.rng.random_bool(0.3) {
            return Some(self.act(poster, &task, "cancel", json!({})).await);
        }
        let r = self.act(worker, &task, "pickup", json!({})).await;
        check(&r);
        for _ in 0..self.rng.random_range(1..4) {
            let r = self
                .act(worker, &task, "deliver", json!({"result": "done"}))
                .await;
            check(&r);
            if let (_, Some(r)) = self.system_work(infra).await {
                check(&r);
            }
            let r = self
                .act(poster, &task, "reject", json!({"reason": "again"}))
                .await;
            check(&r);
        }
        let r = self
            .act(worker, &task, "deliver", json!({"result": "done"}))
            .await;
        check(&r);
        Some(self.act(poster, &task, "approve", json!({})).await)
    }

    async fn post_task(&mut self, i: usize) -> Resp {
        let colluder = self.agents[i].side != Side::Honest;
        let max = match self.rng.random_range(0..20) {
            0 => 0,
            1 => 200_000,
            // Colluders post small tasks, to farm system work as often as they can.
            _ if colluder => self.rng.random_range(1..6),
            _ => self.rng.random_range(1..30),
        };
        let mut body = json!({
            "need": format!("{} task", WORDS[self.rng.random_range(0..WORDS.len())]),
            "max_credits": max,
        });
        if self.rng.random_bool(0.3) {
            body["tags"] = json!([WORDS[self.rng.random_range(0..WORDS.len())]]);
        }
        if self.rng.random_bool(0.2) {
            body["deadline_minutes"] = json!(self.rng.random_range(1..120));
        }
        if self.rng.random_bool(0.2) {
            body["claim_timeout_minutes"] = json!(self.rng.random_range(1..20));
        }
        if self.rng.random_bool(0.1) {
            body["private"] = json!(true);
        }
        let r = self.post(i, "/v1/tasks", body).await;
        if r.status == 201 {
            self.tasks
                .push((r.json["task_id"].as_str().unwrap().to_string(), i));
        }
        r
    }

    async fn pickup(&mut self, i: usize) -> Resp {
        if self.rng.random_bool(0.3) {
            let body = json!({"count": self.rng.random_range(1..11)});
            return self.post(i, "/v1/tasks/pickup/batch", body).await;
        }
        self.post(i, "/v1/tasks/pickup", json!({})).await
    }

    /// An infra agent takes system work (or the next task) and delivers a result for what it
    /// holds: a colluding one ranks its own group first. Now and then the result is malformed.
    async fn system_work(&mut self, i: usize) -> (&'static str, Option<Resp>) {
        let r = self.post(i, "/v1/tasks/pickup", json!({})).await;
        if r.status == 200 && !r.json["system_task_type"].is_null() {
            self.held.entry(i).or_default().push(r.json.clone());
        }
        let Some(task) = self.held.get_mut(&i).and_then(|h| h.pop()) else {
            return ("pickup", Some(r));
        };
        let side = self.agents[i].side;
        let payload = &task["system_payload"];
        let tag = WORDS[self.rng.random_range(0..WORDS.len())];
        let result = if self.rng.random_bool(0.1) {
            json!({"ranked_agents": "nonsense", "tags": [", bad"]})
        } else {
            match task["system_task_type"].as_str().unwrap() {
                "match_agents" => {
                    let candidates: Vec<String> = payload["candidates"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c["agent_id"].as_str().unwrap().to_string())
                        .collect();
                    let mut ranked: Vec<&String> = candidates
                        .iter()
                        .filter(|c| side != Side::Honest && self.side_of(c) == Some(side))
                        .collect();
                    if ranked.is_empty() {
                        ranked = candidates.iter().take(2).collect();
                    }
                    json!({"ranked_agents": ranked, "extracted_tags": [tag]})
                }
                "verify_completion" => json!({
                    "meets_requirements": self.rng.random_bool(0.7),
                    "explanation": "checked",
                }),
                _ => json!({"agent_id": payload["agent_id"], "tags": [tag]}),
            }
        };
        let id = task["task_id"].as_str().unwrap().to_string();
        let r = self
            .act(i, &id, "deliver", json!({"result": result.to_string()}))
            .await;
        if r.status == 400 {
            // Malformed: it keeps the task and may try again.
            self.held.entry(i).or_default().push(task);
        } else if r.status == 200 {
            *self.done.entry("system work").or_default() += 1;
            let about = payload["task"]["task_id"]
                .as_str()
                .or(payload["agent_id"].as_str())
                .unwrap_or_default();
            let own = self
                .tasks
                .iter()
                .find(|(t, _)| t == about)
                .map(|(_, p)| self.agents[*p].side)
                .or_else(|| self.side_of(about));
            if side != Side::Honest && own == Some(side) {
                *self.done.entry("own system work").or_default() += 1;
            }
        }
        ("system work", Some(r))
    }

    /// Anything at all by anybody: must be refused without effect when not allowed.
    async fn chaos(&mut self, i: usize) -> Option<Resp> {
        let task = self.task_for(i)?;
        let action = [
            "deliver", "approve", "reject", "cancel", "abandon", "rate", "pickup",
        ][self.rng.random_range(0..7)];
        let body = match action {
            "deliver" => json!({"result": "x", "credits_claimed": self.rng.random_range(-5..200)}),
            "approve" => json!({"rating": self.rng.random_range(-1..8)}),
            "reject" => json!({"reason": "no"}),
            "rate" => json!({"rating": self.rng.random_range(0..7)}),
            _ => json!({}),
        };
        // Sometimes on a system task (its id is not a regular task's).
        let task = match self.held.values().flatten().next() {
            Some(system) if self.rng.random_bool(0.2) => {
                system["task_id"].as_str().unwrap().to_string()
            }
            _ => task,
        };
        Some(self.act(i, &task, action, body).await)
    }
}
