//! Task workflows: each function is one whole operation in one transaction, checked in the
//! order the API documents (404, then 403, then 409), and ends in a compare-and-set on the
//! task's prior state, so no two operations can both act on the same state.

use super::error::{Error, Result};
use super::lifecycle::{Action, Timer};
use super::{Ctx, RoutingHints, credits, social, system_tasks, validate};
use crate::ids::new_id;
use crate::model::{
    Agent, Event, EventData, HOUR, MINUTE, MatchStatus, Millis, Task, TaskStatus, VerificationState,
};
use crate::store::{Counter, OpenTask, OpenTaskFilter, Page, Paged, SystemWork, Transaction};
use crate::time::rfc3339;
use pinchwork_api::events::{NoFields, TaskApproved, TaskClaimed, TaskRejected};
use pinchwork_client::types::{ApproveRequest, CreateTaskRequest, DeliverRequest, RejectRequest};

/// How many open tasks a pickup takes: one, as the backend hands it over locked (the single
/// writer of SQLite; `FOR UPDATE SKIP LOCKED` on PostgreSQL, which skips tasks other pickups
/// hold). Taking more would hide them from concurrent pickups meanwhile.
const PICKUP_CANDIDATES: i64 = 1;

/// Whether `create` runs one statement with these routing hints: with nobody to route the task
/// to (`system_tasks::route_new_task` then does nothing), it is saved with its escrow in one
/// statement (on PostgreSQL; see `AppState::write_new`).
pub fn creates_in_one_statement(routing: &RoutingHints) -> bool {
    !routing.infra_agents && !routing.skilled_agents
}

/// Posts a task, holding `max_credits` of the poster's balance in escrow (402 when short).
pub async fn create(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    poster: &str,
    req: CreateTaskRequest,
) -> Result<Task> {
    if req.need.trim().is_empty() {
        return Err(Error::invalid("Missing 'need' field"));
    }
    validate::max_chars("need", &req.need, validate::MAX_NEED)?;
    validate::optional_text("context", req.context.as_deref(), validate::MAX_CONTEXT)?;
    let tags = validate::tags(req.tags)?;
    let max_credits = validate::in_range("max_credits", req.max_credits, 1, validate::MAX_CREDITS)?
        .unwrap_or(validate::DEFAULT_MAX_CREDITS);
    validate::in_range("wait", req.wait, 1, validate::MAX_WAIT_SECONDS)?;
    let deadline_minutes = validate::in_range(
        "deadline_minutes",
        req.deadline_minutes,
        1,
        validate::MAX_DEADLINE_MINUTES,
    )?;
    let review_timeout_minutes = validate::in_range(
        "review_timeout_minutes",
        req.review_timeout_minutes,
        1,
        validate::MAX_TIMEOUT_MINUTES,
    )?;
    let claim_timeout_minutes = validate::in_range(
        "claim_timeout_minutes",
        req.claim_timeout_minutes,
        1,
        validate::MAX_TIMEOUT_MINUTES,
    )?;
    let now = ctx.now;
    let mut task = Task::posted(
        new_id("tk"),
        poster,
        req.need,
        max_credits,
        now,
        now + ctx.cfg.task_expire_hours * HOUR,
    );
    task.context = req.context;
    task.tags = tags;
    task.review_timeout_minutes = review_timeout_minutes;
    task.claim_timeout_minutes = claim_timeout_minutes;
    task.deadline = deadline_minutes.map(|m| now + m * MINUTE);
    task.private = req.private.unwrap_or(false);
    credits::post_with_escrow(tx, ctx, &task).await?;
    ctx.saved(&task);
    let prior = task.clone();
    system_tasks::route_new_task(tx, ctx, &mut task).await?;
    if task != prior {
        commit(tx, ctx, &task, &prior).await?;
    }
    Ok(task)
}

/// The task as its poster or current worker sees it; 404 for anyone else, as for a task that
/// does not exist.
pub async fn visible_task(tx: &mut Transaction<'_>, viewer: &str, task_id: &str) -> Result<Task> {
    let task = tx.task(task_id).await?.ok_or_else(Error::task_not_found)?;
    if task.poster_id != viewer && task.worker_id.as_deref() != Some(viewer) {
        return Err(Error::task_not_found());
    }
    Ok(task)
}

/// A task with the system work done or reserved for it, for its poster's view.
pub async fn with_system_work(
    tx: &mut Transaction<'_>,
    task: Task,
) -> Result<(Task, Vec<SystemWork>)> {
    let mut all = with_system_work_all(tx, vec![task]).await?;
    Ok(all.pop().expect("one task in, one out"))
}

/// Tasks with the system work about each (one query for them all).
pub async fn with_system_work_all(
    tx: &mut Transaction<'_>,
    tasks: Vec<Task>,
) -> Result<Vec<(Task, Vec<SystemWork>)>> {
    // Only tasks that had system work funded are looked up (most never do; system tasks are
    // never the subject of any).
    let ids: Vec<&str> = tasks
        .iter()
        .filter(|t| t.system_work && !t.is_system)
        .map(|t| t.id.as_str())
        .collect();
    let mut work = if ids.is_empty() {
        Vec::new()
    } else {
        tx.system_work_about(&ids).await?
    };
    Ok(tasks
        .into_iter()
        .map(|t| {
            let (mine, rest) = work.drain(..).partition(|w| w.about == t.id);
            work = rest;
            (t, mine)
        })
        .collect())
}

/// Loads a task for an action that only `party` (its poster or its worker) may take:
/// 404 for strangers, 403 for the other party.
async fn task_for(
    tx: &mut Transaction<'_>,
    caller: &str,
    task_id: &str,
    party: Party,
) -> Result<Task> {
    let task = visible_task(tx, caller, task_id).await?;
    let is_party = match party {
        Party::Poster => task.poster_id == caller,
        Party::Worker => task.worker_id.as_deref() == Some(caller),
    };
    if !is_party {
        return Err(Error::not_your_task());
    }
    Ok(task)
}

#[derive(Clone, Copy)]
enum Party {
    Poster,
    Worker,
}

/// Saves a transition of `task` from the state it had when loaded.
pub(super) async fn commit(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    task: &Task,
    prior: &Task,
) -> Result<()> {
    if tx
        .save_task(task, prior.status, prior.worker_id.as_deref())
        .await?
    {
        ctx.saved(task);
        Ok(())
    } else {
        Err(Error::conflict("Task changed status, try again"))
    }
}

/// The agent about to pick up work, and how many more tasks it may claim: 429 while it serves
/// an abandon cooldown, 409 while it holds as many claims as it may (no hoarding).
async fn ready_worker(tx: &mut Transaction<'_>, ctx: &Ctx, agent_id: &str) -> Result<(Agent, i64)> {
    let (agent, claimed) = tx
        .agent_with_claims(agent_id)
        .await?
        .ok_or_else(|| Error::not_found("Agent not found"))?;
    let until = agent.last_abandon_at.unwrap_or(0) + ctx.cfg.abandon_cooldown_minutes * MINUTE;
    if agent.abandon_count >= ctx.cfg.max_abandons_before_cooldown && ctx.now < until {
        return Err(Error::LimitReached {
            message: format!("Too many abandons. Cooldown until {}", rfc3339(until)),
            retry_after_secs: Some(((until - ctx.now) as u64).div_ceil(1000)),
        });
    }
    let max = ctx.cfg.max_active_claims;
    let room = max - claimed;
    if room <= 0 {
        return Err(Error::conflict(format!(
            "You already hold {max} claimed tasks, the most one agent may hold at once: \
             deliver or abandon one before picking up another"
        )));
    }
    Ok((agent, room))
}

/// Claims `task` for `worker` if it is still posted; false when someone else got it first.
async fn try_claim(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    task: &mut Task,
    worker: &str,
) -> Result<bool> {
    let prior = task.clone();
    task.claim(worker, ctx.now, &ctx.cfg);
    if !tx
        .save_task(task, prior.status, prior.worker_id.as_deref())
        .await?
    {
        return Ok(false);
    }
    if task.match_status == MatchStatus::Pending {
        // It has its worker: the matching its poster paid for is no longer needed.
        system_tasks::cancel_about(tx, ctx, &task.id).await?;
    }
    if !task.is_system {
        ctx.emit(Event::new(
            EventData::TaskClaimed(TaskClaimed {
                worker_id: worker.into(),
            }),
            &task.id,
            &task.poster_id,
        ));
    }
    Ok(true)
}

/// Claims the first task the worker may take: system work for infra agents (whatever the
/// filters), then tasks matched to the worker, then tasks open to everyone.
async fn claim_next(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    worker: &Agent,
    filter: &OpenTaskFilter,
) -> Result<Option<OpenTask>> {
    if worker.accepts_system_tasks {
        let system = tx.system_claimable(&worker.id, PICKUP_CANDIDATES).await?;
        if let Some(open) = first_claimed(tx, ctx, system, &worker.id).await? {
            return Ok(Some(open));
        }
    }
    let open = tx.claimable(filter, PICKUP_CANDIDATES).await?;
    first_claimed(tx, ctx, open, &worker.id).await
}

/// The first of `candidates` the worker manages to claim.
async fn first_claimed(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    candidates: Vec<OpenTask>,
    worker: &str,
) -> Result<Option<OpenTask>> {
    for mut open in candidates {
        if try_claim(tx, ctx, &mut open.task, worker).await? {
            return Ok(Some(open));
        }
    }
    Ok(None)
}

/// The filter as the worker sees the board: its capability tags for relevance ordering, and
/// no check for system work on every task when it never did any.
fn seen_by(filter: &OpenTaskFilter, worker: &Agent) -> OpenTaskFilter {
    OpenTaskFilter {
        capability_tags: worker.capability_tags.clone().unwrap_or_default(),
        check_system_work: worker.did_system_work,
        ..filter.clone()
    }
}

/// The tasks open to the viewer as browsing shows them: matched ones first, then the rest by
/// relevance to the viewer's capability tags.
pub async fn browse(
    tx: &mut Transaction<'_>,
    filter: &OpenTaskFilter,
    page: Page,
) -> Result<Paged<OpenTask>> {
    let viewer = tx
        .agent(&filter.viewer)
        .await?
        .ok_or_else(|| Error::not_found("Agent not found"))?;
    Ok(tx.available(&seen_by(filter, &viewer), page).await?)
}

/// Claims the next task open to the worker, if there is one.
pub async fn pickup_next(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    filter: &OpenTaskFilter,
) -> Result<Option<OpenTask>> {
    let (worker, _) = ready_worker(tx, ctx, &filter.viewer).await?;
    claim_next(tx, ctx, &worker, &seen_by(filter, &worker)).await
}

/// Claims up to `count` (1-10) tasks, stopping when none is left or the worker holds as many
/// claims as it may.
pub async fn pickup_batch(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    filter: &OpenTaskFilter,
    count: Option<i64>,
) -> Result<Vec<OpenTask>> {
    let count = validate::in_range(
        "count",
        count,
        1,
        pinchwork_client::limits::MAX_BATCH_PICKUP,
    )?
    .unwrap_or(5);
    let (worker, room) = ready_worker(tx, ctx, &filter.viewer).await?;
    let count = count.min(room);
    let filter = seen_by(filter, &worker);
    let mut claimed = Vec::new();
    while (claimed.len() as i64) < count {
        match claim_next(tx, ctx, &worker, &filter).await? {
            Some(task) => claimed.push(task),
            None => break,
        }
    }
    Ok(claimed)
}

/// Claims one named task.
pub async fn pickup_task(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    worker: &str,
    task_id: &str,
) -> Result<OpenTask> {
    let mut task = tx.task(task_id).await?.ok_or_else(Error::task_not_found)?;
    let involved = task.poster_id == worker || task.worker_id.as_deref() == Some(worker);
    if task.status != TaskStatus::Posted && !involved {
        // Strangers learn no more than browsing shows: not which state the task is in.
        return Err(Error::conflict("Task is not available for pickup"));
    }
    Action::Claim.check(task.status)?;
    if task.poster_id == worker {
        return Err(Error::conflict("Cannot pick up your own task"));
    }
    if task.is_system {
        return Err(Error::conflict("Cannot directly pick up system tasks"));
    }
    if tx.did_system_work(&task.id, worker).await? {
        return Err(Error::conflict(
            "Conflict: you did system work on this task",
        ));
    }
    if let (MatchStatus::Matched, Some(until)) = (task.match_status, task.match_deadline)
        && until > ctx.now
        && !tx.matches_of(&task.id).await?.iter().any(|m| m == worker)
    {
        // Naming a task is no way around its match window.
        return Err(Error::conflict(format!(
            "Task is reserved for the agents it was matched to until {}",
            rfc3339(until)
        )));
    }
    ready_worker(tx, ctx, worker).await?;
    if !try_claim(tx, ctx, &mut task, worker).await? {
        return Err(Error::conflict("Task already claimed"));
    }
    let poster_reputation = tx
        .agent(&task.poster_id)
        .await?
        .map_or(0.0, |a| a.reputation);
    Ok(OpenTask {
        task,
        poster_reputation,
        match_rank: None,
    })
}

/// The worker hands in a result, charging `credits_claimed` (1..max_credits, default and cap
/// max_credits).
pub async fn deliver(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    worker: &str,
    task_id: &str,
    req: DeliverRequest,
) -> Result<Task> {
    let result = req
        .result
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| Error::invalid("Missing result"))?;
    validate::max_chars("result", &result, validate::MAX_RESULT)?;
    if req.credits_claimed.is_some_and(|c| c < 1) {
        return Err(Error::invalid("credits_claimed must be at least 1"));
    }
    let mut task = task_for(tx, worker, task_id, Party::Worker).await?;
    Action::Deliver.check(task.status)?;
    let prior = task.clone();
    let charged = req
        .credits_claimed
        .map_or(task.max_credits, |c| c.min(task.max_credits));
    if task.is_system {
        // System work is checked, applied and paid at once.
        system_tasks::apply_result(tx, ctx, &task, &result).await?;
        task.deliver(result, charged, ctx.now, &ctx.cfg);
        task.approve();
        commit(tx, ctx, &task, &prior).await?;
        credits::settle_system_work(tx, ctx, &task).await?;
        tx.bump(worker, Counter::TasksCompleted).await?;
        return Ok(task);
    }
    task.deliver(result, charged, ctx.now, &ctx.cfg);
    system_tasks::request_verification(tx, ctx, &mut task).await?;
    commit(tx, ctx, &task, &prior).await?;
    ctx.emit(Event::new(
        EventData::TaskDelivered(NoFields {}),
        &task.id,
        &task.poster_id,
    ));
    Ok(task)
}

/// The poster accepts the delivery: the worker is paid, the poster refunded the rest, and the
/// optional rating (1-5) recorded.
pub async fn approve(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    poster: &str,
    task_id: &str,
    req: ApproveRequest,
) -> Result<Task> {
    let rating = validate::in_range("rating", req.rating, 1, 5)?;
    let feedback = feedback(req.feedback)?;
    let mut task = task_for(tx, poster, task_id, Party::Poster).await?;
    Action::Approve.check(task.status)?;
    let prior = task.clone();
    task.approve();
    task.feedback = feedback;
    system_tasks::end_verification(tx, ctx, &mut task).await?;
    commit(tx, ctx, &task, &prior).await?;
    pay_out(tx, ctx, &task).await?;
    if let (Some(score), Some(worker)) = (rating, task.worker_id.as_deref()) {
        tx.insert_rating(&task.id, poster, worker, score, ctx.now)
            .await?;
        tx.refresh_reputation(worker).await?;
    }
    Ok(task)
}

/// The poster's optional feedback on a delivery (at most 5,000 characters; blank is none).
fn feedback(text: Option<String>) -> Result<Option<String>> {
    validate::optional_text("feedback", text.as_deref(), validate::MAX_REASON)?;
    Ok(text.filter(|f| !f.trim().is_empty()))
}

/// What every approval does, by the poster or by the review timer: the worker paid, the
/// poster refunded, the completion counted and trusted (all in `credits::settle`), the worker
/// told.
async fn pay_out(tx: &mut Transaction<'_>, ctx: &mut Ctx, task: &Task) -> Result<()> {
    credits::settle(tx, ctx, task).await?;
    let worker = task
        .worker_id
        .as_deref()
        .expect("approved tasks have a worker");
    let feedback = task.feedback.clone();
    let event = EventData::TaskApproved(TaskApproved { feedback });
    ctx.emit(Event::new(event, &task.id, worker));
    Ok(())
}

/// The poster turns the delivery down: the worker may re-deliver within the grace window,
/// or is released at the last allowed rejection.
pub async fn reject(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    poster: &str,
    task_id: &str,
    req: RejectRequest,
) -> Result<Task> {
    let reason = validate::required_text("reason", req.reason.as_deref(), validate::MAX_REASON)?;
    let feedback = feedback(req.feedback)?;
    let mut task = task_for(tx, poster, task_id, Party::Poster).await?;
    Action::Reject.check(task.status)?;
    let prior = task.clone();
    system_tasks::end_verification(tx, ctx, &mut task).await?;
    let released = task.reject(reason.clone(), ctx.now, &ctx.cfg);
    task.feedback = feedback.clone();
    commit(tx, ctx, &task, &prior).await?;
    let worker = prior
        .worker_id
        .as_deref()
        .expect("delivered tasks have a worker");
    social::adjust_trust(tx, ctx, poster, worker, false, false).await?;
    let (grace_deadline, max_rejections_reached) = match task.rejection_grace_deadline {
        Some(grace) if !released => (Some(rfc3339(grace)), None),
        _ => (None, Some(true)),
    };
    let event = EventData::TaskRejected(TaskRejected {
        reason,
        feedback,
        grace_deadline,
        max_rejections_reached,
    });
    ctx.emit(Event::new(event, &task.id, worker));
    Ok(task)
}

/// The poster withdraws a task nobody has claimed; the escrow comes back.
pub async fn cancel(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    poster: &str,
    task_id: &str,
) -> Result<Task> {
    let mut task = task_for(tx, poster, task_id, Party::Poster).await?;
    Action::Cancel.check(task.status)?;
    let prior = task.clone();
    task.close(TaskStatus::Cancelled);
    commit(tx, ctx, &task, &prior).await?;
    ctx.touch(&task.id);
    credits::refund(tx, ctx, &task).await?;
    // Matching still open is refunded; matching done is spent and is not.
    system_tasks::cancel_about(tx, ctx, &task.id).await?;
    // Agents it was matched to, and those who showed interest (asked about it), hear that it
    // is gone.
    let mut interested = tx.matches_of(&task.id).await?;
    interested.extend(
        tx.questions_of(&task.id)
            .await?
            .into_iter()
            .map(|q| q.asker_id),
    );
    interested.sort();
    interested.dedup();
    for agent in interested {
        ctx.emit(Event::new(
            EventData::TaskCancelled(NoFields {}),
            &task.id,
            &agent,
        ));
    }
    Ok(task)
}

/// The worker gives the task back. Each abandon counts toward a pickup cooldown; once a
/// cooldown has been served the count starts again.
pub async fn abandon(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    worker: &str,
    task_id: &str,
) -> Result<Task> {
    let mut task = task_for(tx, worker, task_id, Party::Worker).await?;
    Action::Abandon.check(task.status)?;
    let prior = task.clone();
    task.release(ctx.now, &ctx.cfg);
    commit(tx, ctx, &task, &prior).await?;
    ctx.touch(&task.id);
    count_abandon(tx, ctx, worker).await.map(|()| task)
}

/// One more abandon toward the worker's cooldown (in one statement: abandons on several nodes
/// at once are all counted).
async fn count_abandon(tx: &mut Transaction<'_>, ctx: &Ctx, worker: &str) -> Result<()> {
    Ok(tx
        .count_abandon(
            worker,
            ctx.now,
            ctx.cfg.max_abandons_before_cooldown,
            ctx.cfg.abandon_cooldown_minutes * MINUTE,
        )
        .await?)
}

/// Fires whatever timers of the task are due at `ctx.now`. Each firing re-reads the task and
/// saves with a compare-and-set, so a timer of an earlier claim never touches a later one.
pub async fn fire_due_timers(tx: &mut Transaction<'_>, ctx: &mut Ctx, task_id: &str) -> Result<()> {
    while let Some(mut task) = tx.task(task_id).await? {
        let Some(timer) = task.due_timer(ctx.now) else {
            return Ok(());
        };
        let prior = task.clone();
        let worker = prior.worker_id.clone().unwrap_or_default();
        let release = |task: &mut Task, ctx: &mut Ctx, kind: fn(NoFields) -> EventData| {
            task.release(ctx.now, &ctx.cfg);
            ctx.emit(Event::new(kind(NoFields {}), &task.id, &worker));
        };
        match timer {
            Timer::DeadlinePosted | Timer::Expiry => task.close(TaskStatus::Expired),
            Timer::DeadlineClaimed => {
                release(&mut task, ctx, EventData::DeadlineExpired);
                task.deadline = None;
            }
            Timer::RejectionGrace => release(&mut task, ctx, EventData::RejectionGraceExpired),
            Timer::ClaimTimeout => release(&mut task, ctx, EventData::ClaimTimeoutExpired),
            Timer::ReviewTimeout => {
                task.approve();
                system_tasks::end_verification(tx, ctx, &mut task).await?;
            }
            Timer::MatchWindow => {
                task.match_status = MatchStatus::Broadcast;
                task.match_deadline = None;
                system_tasks::cancel_about(tx, ctx, &task.id).await?;
            }
            Timer::VerificationTimeout => {
                task.verification = Some(VerificationState::TimedOut);
                task.verification_deadline = None;
                system_tasks::cancel_about(tx, ctx, &task.id).await?;
            }
        }
        commit(tx, ctx, &task, &prior).await?;
        match timer {
            Timer::DeadlinePosted | Timer::Expiry => expired(tx, ctx, &task, timer).await?,
            Timer::ReviewTimeout => pay_out(tx, ctx, &task).await?,
            // A claim left to time out holds a task from everyone: it counts as an abandon.
            Timer::ClaimTimeout => count_abandon(tx, ctx, &worker).await?,
            _ => {}
        }
    }
    Ok(())
}

/// After a posted task expired: the escrow goes back, its system work is withdrawn, and the
/// poster (and, past a deadline, the agents it was matched to) hear of it.
async fn expired(tx: &mut Transaction<'_>, ctx: &mut Ctx, task: &Task, timer: Timer) -> Result<()> {
    credits::refund(tx, ctx, task).await?;
    system_tasks::cancel_about(tx, ctx, &task.id).await?;
    if task.is_system {
        return Ok(());
    }
    let mut told = vec![task.poster_id.clone()];
    if timer == Timer::DeadlinePosted {
        told.extend(tx.matches_of(&task.id).await?);
    }
    for agent in told {
        ctx.emit(Event::new(
            EventData::TaskExpired(NoFields {}),
            &task.id,
            &agent,
        ));
    }
    Ok(())
}

/// Ids of tasks with a timer due now (read side of the timer loop).
pub async fn due_tasks(tx: &mut Transaction<'_>, now: Millis) -> Result<Vec<String>> {
    Ok(tx.due_task_ids(now, 500).await?)
}
