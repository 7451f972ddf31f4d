//! The task state machine: which action is allowed in which state, what each transition
//! changes, and which timer is due. Pure functions on a `Task`; the workflows in `tasks.rs`
//! apply them inside a transaction and save with a compare-and-set on the prior state.
//!
//! ```text
//! posted ──claim──► claimed ──deliver──► delivered ──approve / review timeout──► approved
//!   │ ▲               │ ▲ │                  │
//!   │ └─abandon, claim timeout, grace expiry, deadline, 3rd rejection──────────┘ (reject < 3:
//!   │                 │   └───────────── delivered ──reject──► claimed (grace) ─┘  back to claimed)
//!   ├─cancel──► cancelled
//!   └─expiry, deadline──► expired
//! ```

use super::error::{Error, Result};
use crate::config::Config;
use crate::model::{HOUR, MINUTE, MatchStatus, Millis, Task, TaskStatus, VerificationState};

/// A request-driven action on a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Claim,
    Deliver,
    Approve,
    Reject,
    Cancel,
    Abandon,
}

impl Action {
    pub const ALL: [Action; 6] = [
        Self::Claim,
        Self::Deliver,
        Self::Approve,
        Self::Reject,
        Self::Cancel,
        Self::Abandon,
    ];

    /// The one state the action starts from.
    pub fn from_state(self) -> TaskStatus {
        match self {
            Self::Claim | Self::Cancel => TaskStatus::Posted,
            Self::Deliver | Self::Abandon => TaskStatus::Claimed,
            Self::Approve | Self::Reject => TaskStatus::Delivered,
        }
    }

    /// Allowed in `status`? The refusal says what the state is and what it needed to be.
    pub fn check(self, status: TaskStatus) -> Result<()> {
        if status == self.from_state() {
            return Ok(());
        }
        Err(Error::conflict(match self {
            Self::Cancel => format!("Task is {status}, can only cancel posted tasks"),
            _ => format!("Task is {status}, not {}", self.from_state()),
        }))
    }
}

/// A timer that has fallen due on a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// A posted task passed its deadline: expired and refunded.
    DeadlinePosted,
    /// A posted task lived `task_expire_hours` unclaimed: expired and refunded.
    Expiry,
    /// A claimed task passed its deadline: the worker is released and the deadline dropped.
    DeadlineClaimed,
    /// The re-delivery window after a rejection closed: the worker is released.
    RejectionGrace,
    /// The worker did not deliver in time: released.
    ClaimTimeout,
    /// The poster did not review in time: approved.
    ReviewTimeout,
    /// The match window closed (nobody matched, or no matched agent picked it up): the task
    /// is shown to everyone.
    MatchWindow,
    /// No infra agent verified the delivery in time.
    VerificationTimeout,
}

impl Task {
    /// The earliest instant at which some timer of this task falls due, given its state.
    pub fn next_due(&self) -> Option<Millis> {
        let routed = matches!(
            self.match_status,
            MatchStatus::Pending | MatchStatus::Matched
        );
        let match_window = routed.then_some(self.match_deadline).flatten();
        let verifying = (self.verification == Some(VerificationState::Pending))
            .then_some(self.verification_deadline)
            .flatten();
        let candidates: [Option<Millis>; 3] = match self.status {
            TaskStatus::Posted => [Some(self.expires_at), self.deadline, match_window],
            TaskStatus::Claimed => [
                self.deadline,
                self.rejection_grace_deadline.or(self.claim_deadline),
                None,
            ],
            TaskStatus::Delivered => [self.review_deadline, verifying, None],
            _ => [None, None, None],
        };
        candidates.into_iter().flatten().min()
    }

    /// The timer to fire now, if any, in order of precedence.
    pub fn due_timer(&self, now: Millis) -> Option<Timer> {
        let due = |t: Option<Millis>| t.is_some_and(|t| t <= now);
        match self.status {
            TaskStatus::Posted if due(self.deadline) => Some(Timer::DeadlinePosted),
            TaskStatus::Posted if self.expires_at <= now => Some(Timer::Expiry),
            TaskStatus::Posted
                if matches!(
                    self.match_status,
                    MatchStatus::Pending | MatchStatus::Matched
                ) && due(self.match_deadline) =>
            {
                Some(Timer::MatchWindow)
            }
            TaskStatus::Claimed if due(self.deadline) => Some(Timer::DeadlineClaimed),
            TaskStatus::Claimed if due(self.rejection_grace_deadline) => {
                Some(Timer::RejectionGrace)
            }
            TaskStatus::Claimed
                if self.rejection_grace_deadline.is_none() && due(self.claim_deadline) =>
            {
                Some(Timer::ClaimTimeout)
            }
            TaskStatus::Delivered if due(self.review_deadline) => Some(Timer::ReviewTimeout),
            TaskStatus::Delivered
                if self.verification == Some(VerificationState::Pending)
                    && due(self.verification_deadline) =>
            {
                Some(Timer::VerificationTimeout)
            }
            _ => None,
        }
    }

    /// posted → claimed by `worker`.
    pub fn claim(&mut self, worker: &str, now: Millis, cfg: &Config) {
        self.status = TaskStatus::Claimed;
        self.worker_id = Some(worker.to_string());
        self.claimed_at = Some(now);
        self.assignment = Some(crate::ids::new_id("as"));
        // A grace window belongs to the claim it was granted on, never to the next one; so
        // does a verification.
        self.rejection_grace_deadline = None;
        self.verification = None;
        self.verification_deadline = None;
        // System work too: an infra agent that vanishes gives it back.
        self.claim_deadline = Some(
            now + self
                .claim_timeout_minutes
                .unwrap_or(cfg.default_claim_timeout_minutes)
                * MINUTE,
        );
    }

    /// claimed → delivered with `result`, charging `credits` (already validated).
    pub fn deliver(&mut self, result: String, credits: i64, now: Millis, cfg: &Config) {
        self.status = TaskStatus::Delivered;
        self.result = Some(result);
        // Feedback is on a delivery: a new one has none yet.
        self.feedback = None;
        self.credits_charged = Some(credits);
        self.delivered_at = Some(now);
        self.claim_deadline = None;
        self.rejection_grace_deadline = None;
        self.review_deadline = (!self.is_system && !cfg.disable_auto_approve).then(|| {
            now + self
                .review_timeout_minutes
                .unwrap_or(cfg.default_review_timeout_minutes)
                * MINUTE
        });
    }

    /// delivered → approved.
    pub fn approve(&mut self) {
        self.status = TaskStatus::Approved;
        self.review_deadline = None;
    }

    /// delivered → claimed with a re-delivery window, or → posted when this rejection reaches
    /// `max_rejections`. Returns whether the worker was released.
    pub fn reject(&mut self, reason: String, now: Millis, cfg: &Config) -> bool {
        self.rejection_reason = Some(reason);
        self.rejection_count += 1;
        self.result = None;
        self.credits_charged = None;
        self.delivered_at = None;
        self.review_deadline = None;
        if self.rejection_count >= cfg.max_rejections {
            self.release(now, cfg);
            return true;
        }
        let grace = now + cfg.rejection_grace_minutes * MINUTE;
        self.status = TaskStatus::Claimed;
        self.rejection_grace_deadline = Some(grace);
        self.claim_deadline = Some(grace);
        false
    }

    /// claimed → posted: the worker lets go (abandon, timeouts, deadline). The task gets a
    /// fresh lifetime and is shown to everyone.
    pub fn release(&mut self, now: Millis, cfg: &Config) {
        self.status = TaskStatus::Posted;
        self.worker_id = None;
        self.claimed_at = None;
        self.assignment = None;
        self.claim_deadline = None;
        self.rejection_grace_deadline = None;
        self.verification = None;
        self.verification_deadline = None;
        self.expires_at = now + cfg.task_expire_hours * HOUR;
        self.match_status = MatchStatus::Broadcast;
        self.match_deadline = None;
    }

    /// posted → cancelled or expired.
    pub fn close(&mut self, status: TaskStatus) {
        debug_assert!(matches!(
            status,
            TaskStatus::Cancelled | TaskStatus::Expired
        ));
        self.status = status;
        self.match_deadline = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PLATFORM_AGENT_ID;

    fn task(status: TaskStatus) -> Task {
        let mut t = Task::posted(
            "tk-1".into(),
            PLATFORM_AGENT_ID,
            "n".into(),
            10,
            0,
            72 * HOUR,
        );
        t.status = status;
        t
    }

    /// Every action against every state: exactly one state allows each action, and every
    /// refusal names the current state.
    #[test]
    fn transition_table() {
        use Action::*;
        use TaskStatus::*;
        let allowed = [
            (Claim, Posted),
            (Cancel, Posted),
            (Deliver, Claimed),
            (Abandon, Claimed),
            (Approve, Delivered),
            (Reject, Delivered),
        ];
        for action in Action::ALL {
            for status in TaskStatus::ALL {
                let result = action.check(status);
                if allowed.contains(&(action, status)) {
                    assert!(result.is_ok(), "{action:?} from {status}: {result:?}");
                } else {
                    let Err(Error::Conflict(msg)) = result else {
                        panic!("{action:?} from {status} should be a conflict, got {result:?}")
                    };
                    assert!(msg.starts_with(&format!("Task is {status}, ")), "{msg}");
                }
            }
        }
        assert!(matches!(
            Cancel.check(Claimed),
            Err(Error::Conflict(m)) if m == "Task is claimed, can only cancel posted tasks"
        ));
        assert!(matches!(
            Deliver.check(Posted),
            Err(Error::Conflict(m)) if m == "Task is posted, not claimed"
        ));
    }

    #[test]
    fn lifecycle_of_one_task() {
        let cfg = Config::defaults();
        let mut t = task(TaskStatus::Posted);
        t.claim("ag-w", 1_000, &cfg);
        assert_eq!(t.status, TaskStatus::Claimed);
        assert_eq!(t.claim_deadline, Some(1_000 + 10 * MINUTE));
        assert_eq!(t.next_due(), Some(1_000 + 10 * MINUTE));

        t.deliver("done".into(), 7, 2_000, &cfg);
        assert_eq!(
            (t.status, t.credits_charged),
            (TaskStatus::Delivered, Some(7))
        );
        assert_eq!(t.review_deadline, Some(2_000 + 30 * MINUTE));
        assert_eq!(t.claim_deadline, None);

        assert!(!t.reject("no".into(), 3_000, &cfg));
        assert_eq!(t.status, TaskStatus::Claimed);
        assert_eq!(t.worker_id.as_deref(), Some("ag-w"));
        assert_eq!(t.rejection_grace_deadline, Some(3_000 + 5 * MINUTE));
        assert_eq!((t.result.clone(), t.credits_charged), (None, None));
        assert_eq!(t.due_timer(3_000 + 5 * MINUTE), Some(Timer::RejectionGrace));
        assert_eq!(t.due_timer(3_000 + 5 * MINUTE - 1), None);
    }

    #[test]
    fn third_rejection_releases_the_worker() {
        let cfg = Config::defaults();
        let mut t = task(TaskStatus::Delivered);
        t.worker_id = Some("ag-w".into());
        t.rejection_count = 2;
        assert!(t.reject("still no".into(), 5 * HOUR, &cfg));
        assert_eq!(t.status, TaskStatus::Posted);
        assert_eq!(t.worker_id, None);
        assert_eq!(t.rejection_count, 3);
        assert_eq!(t.expires_at, 5 * HOUR + 72 * HOUR);
        assert_eq!(t.match_status, MatchStatus::Broadcast);
    }

    #[test]
    fn a_new_claim_drops_the_old_grace_window() {
        let cfg = Config::defaults();
        let mut t = task(TaskStatus::Posted);
        t.rejection_grace_deadline = Some(100);
        t.claim("ag-next", 50, &cfg);
        assert_eq!(t.rejection_grace_deadline, None);
        assert_eq!(
            t.due_timer(200),
            None,
            "the stale grace must not evict the new worker"
        );
    }

    #[test]
    fn timers_by_state_and_precedence() {
        let cfg = Config::defaults();
        let mut posted = task(TaskStatus::Posted);
        posted.deadline = Some(HOUR);
        assert_eq!(posted.next_due(), Some(HOUR));
        assert_eq!(posted.due_timer(HOUR - 1), None);
        assert_eq!(posted.due_timer(HOUR), Some(Timer::DeadlinePosted));
        posted.deadline = None;
        assert_eq!(posted.due_timer(72 * HOUR), Some(Timer::Expiry));
        posted.match_status = MatchStatus::Pending;
        posted.match_deadline = Some(2 * MINUTE);
        assert_eq!(posted.next_due(), Some(2 * MINUTE));
        assert_eq!(posted.due_timer(2 * MINUTE), Some(Timer::MatchWindow));

        let mut claimed = task(TaskStatus::Posted);
        claimed.deadline = Some(HOUR);
        claimed.claim("ag-w", 0, &cfg);
        assert_eq!(claimed.due_timer(10 * MINUTE), Some(Timer::ClaimTimeout));
        assert_eq!(claimed.due_timer(HOUR), Some(Timer::DeadlineClaimed));

        let mut delivered = claimed.clone();
        delivered.deliver("r".into(), 1, 0, &cfg);
        assert_eq!(delivered.due_timer(HOUR), Some(Timer::ReviewTimeout));
        delivered.approve();
        assert_eq!(delivered.next_due(), None);
        assert_eq!(delivered.due_timer(i64::MAX), None);
    }

    #[test]
    fn no_auto_approval_when_disabled_nor_for_system_work() {
        let mut cfg = Config::defaults();
        cfg.disable_auto_approve = true;
        let mut t = task(TaskStatus::Posted);
        t.claim("ag-w", 0, &cfg);
        t.deliver("r".into(), 3, 0, &cfg);
        assert_eq!(t.review_deadline, None);

        let cfg = Config::defaults();
        let mut system = task(TaskStatus::Posted);
        system.is_system = true;
        system.claim("ag-infra", 0, &cfg);
        assert_eq!(
            system.claim_deadline,
            Some(10 * MINUTE),
            "a vanished infra agent gives it back"
        );
        system.deliver("r".into(), 3, 0, &cfg);
        assert_eq!(system.review_deadline, None);
    }
}
