//! Credits move only through `transfer`, so every movement is a ledger entry with a source and
//! a destination, and balances plus escrow always add up to what was minted. Credits are
//! minted only by registration and admin grants: the platform account holds the fees it
//! earned and what the operator granted it, and pays for nothing it has not recovered.

use super::Ctx;
use super::error::{Error, Result};
use crate::ids::new_id;
use crate::model::{ESCROW_ACCOUNT, MINT_ACCOUNT, PLATFORM_AGENT_ID, Task, Transfer};
use crate::store::Transaction;

/// Why credits moved, as shown in ledgers. System work is escrowed by its payer under the
/// system task's type (`match_agents`, `verify_completion`, `extract_capabilities`).
pub mod reason {
    pub const SIGNUP_BONUS: &str = "signup_bonus";
    pub const ESCROW: &str = "escrow";
    pub const PAYMENT: &str = "payment";
    pub const PLATFORM_FEE: &str = "platform_fee";
    pub const REFUND: &str = "refund";
    pub const ADMIN_GRANT: &str = "admin_grant";
    /// The platform recovers what it pays for system work from the escrow its payer funded.
    pub const SYSTEM_WORK: &str = "system_work";
}

fn is_agent(account: &str) -> bool {
    account != MINT_ACCOUNT && account != ESCROW_ACCOUNT
}

/// Moves `amount` (> 0) credits from one account to another and records it. Taking from an
/// agent fails with 402, changing nothing, when the balance does not cover it.
pub async fn transfer(
    tx: &mut Transaction<'_>,
    ctx: &Ctx,
    from: &str,
    to: &str,
    amount: i64,
    reason: &str,
    task_id: Option<&str>,
) -> Result<()> {
    if !try_transfer(tx, ctx, from, to, amount, reason, task_id).await? {
        let have = tx.agent(from).await?.map_or(0, |a| a.credits);
        return Err(insufficient(have, amount));
    }
    Ok(())
}

/// Saves a newly posted task with its `max_credits` taken from its poster into escrow, in one
/// step: 402, and nothing saved, when the poster's balance does not cover them.
pub async fn post_with_escrow(tx: &mut Transaction<'_>, ctx: &Ctx, task: &Task) -> Result<()> {
    let (poster, amount) = (task.poster_id.as_str(), task.max_credits);
    let escrow = line(
        ctx,
        poster,
        ESCROW_ACCOUNT,
        amount,
        reason::ESCROW,
        Some(&task.id),
    );
    match tx.insert_posted_task(task, &escrow).await? {
        None => Ok(()),
        Some(have) => Err(insufficient(have, amount)),
    }
}

/// The refusal of a transfer of `need` credits from a balance of `have`.
fn insufficient(have: i64, need: i64) -> Error {
    Error::InsufficientCredits(format!("Insufficient credits. Have {have}, need {need}"))
}

/// `transfer`, answering false (and changing nothing) when the balance does not cover it.
pub async fn try_transfer(
    tx: &mut Transaction<'_>,
    ctx: &Ctx,
    from: &str,
    to: &str,
    amount: i64,
    reason: &str,
    task_id: Option<&str>,
) -> Result<bool> {
    if amount <= 0 {
        return Ok(true);
    }
    let transfer = line(ctx, from, to, amount, reason, task_id);
    Ok(tx
        .move_credits(&transfer, is_agent(from), is_agent(to))
        .await?)
}

/// A ledger line moving `amount` now.
fn line(ctx: &Ctx, from: &str, to: &str, amount: i64, why: &str, task: Option<&str>) -> Transfer {
    Transfer {
        id: new_id("le"),
        from: from.into(),
        to: to.into(),
        amount,
        reason: why.into(),
        task_id: task.map(Into::into),
        created_at: ctx.now,
    }
}

/// The platform's cut of `charged` credits at `basis_points` (hundredths of a percent),
/// rounded down.
pub fn fee(charged: i64, basis_points: i64) -> i64 {
    charged * basis_points / 10_000
}

/// How an approved task's escrow is paid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    pub to_worker: i64,
    pub fee: i64,
    pub refund: i64,
}

/// The worker gets the charged credits less the fee; the poster gets back what was not charged.
pub fn settlement(max_credits: i64, charged: i64, basis_points: i64) -> Settlement {
    let fee = fee(charged, basis_points);
    Settlement {
        to_worker: charged - fee,
        fee,
        refund: max_credits - charged,
    }
}

/// Pays out an approved task's escrow, and records the completion with it: the worker's
/// `tasks_completed`, and a good outcome for each side's trust in the other (see
/// `social::adjust_trust`; the poster is an agent: system work is settled by
/// `settle_system_work`).
pub async fn settle(tx: &mut Transaction<'_>, ctx: &Ctx, task: &Task) -> Result<Settlement> {
    let worker = task
        .worker_id
        .as_deref()
        .expect("an approved task has a worker");
    debug_assert_ne!(task.poster_id, PLATFORM_AGENT_ID);
    let charged = task.credits_charged.unwrap_or(task.max_credits);
    let s = settlement(task.max_credits, charged, ctx.cfg.fee_basis_points());
    // Each line out of escrow, in one statement where the backend allows.
    let lines = [
        (worker, s.to_worker, reason::PAYMENT),
        (PLATFORM_AGENT_ID, s.fee, reason::PLATFORM_FEE),
        (task.poster_id.as_str(), s.refund, reason::REFUND),
    ];
    let transfers: Vec<Transfer> = lines
        .into_iter()
        .filter(|(_, amount, _)| *amount > 0)
        .map(|(to, amount, why)| line(ctx, ESCROW_ACCOUNT, to, amount, why, Some(&task.id)))
        .collect();
    tx.pay_out_completed(&transfers, &task.poster_id, worker, ctx.now)
        .await?;
    Ok(s)
}

/// Returns a task's whole escrow to whoever funded it (cancel, expiry, withdrawn system work).
pub async fn refund(tx: &mut Transaction<'_>, ctx: &Ctx, task: &Task) -> Result<()> {
    let Some(payer) = funder(task) else {
        return Ok(());
    };
    transfer(
        tx,
        ctx,
        ESCROW_ACCOUNT,
        payer,
        task.max_credits,
        reason::REFUND,
        ledger_task_id(task),
    )
    .await
}

/// The account a task's escrow came from: its poster, or a system task's payer (none for
/// system tasks from before system work was escrowed).
fn funder(task: &Task) -> Option<&str> {
    if task.is_system {
        task.payer_id.as_deref()
    } else {
        Some(&task.poster_id)
    }
}

/// The task a payer's ledger line names: a system task's payer sees the task it was about
/// (extraction is about the agent itself: none).
fn ledger_task_id(task: &Task) -> Option<&str> {
    if task.is_system {
        task.parent_task_id.as_deref()
    } else {
        Some(&task.id)
    }
}

/// Escrows the budget of system work about to be spawned, from the platform when the
/// operator subsidises system work and its balance covers it, otherwise from `party` (whom
/// the work serves). Returns who paid; None, taking nothing, when neither can: the party then
/// does not get the work. The ledger line is `kind` (the system task type) and names `about`.
pub async fn fund_system_work(
    tx: &mut Transaction<'_>,
    ctx: &Ctx,
    party: &str,
    budget: i64,
    kind: &str,
    about: Option<&str>,
) -> Result<Option<String>> {
    let subsidy = ctx.cfg.subsidise_system_work.then_some(PLATFORM_AGENT_ID);
    for payer in subsidy.into_iter().chain([party]) {
        if try_transfer(tx, ctx, payer, ESCROW_ACCOUNT, budget, kind, about).await? {
            return Ok(Some(payer.to_string()));
        }
    }
    Ok(None)
}

/// Pays an infra agent for delivered system work: the platform pays it at once and recovers
/// the cost from the escrow the payer funded; what the agent did not charge goes back to the
/// payer. The platform's balance is never touched beyond what it recovered.
pub async fn settle_system_work(tx: &mut Transaction<'_>, ctx: &Ctx, task: &Task) -> Result<()> {
    let worker = task
        .worker_id
        .as_deref()
        .expect("delivered system work has a worker");
    let payer = task
        .payer_id
        .as_deref()
        .ok_or_else(|| Error::Inconsistent(format!("system task {} was not funded", task.id)))?;
    let charged = task.credits_charged.unwrap_or(task.max_credits);
    let id = Some(task.id.as_str());
    transfer(
        tx,
        ctx,
        ESCROW_ACCOUNT,
        PLATFORM_AGENT_ID,
        charged,
        reason::SYSTEM_WORK,
        id,
    )
    .await?;
    transfer(
        tx,
        ctx,
        ESCROW_ACCOUNT,
        payer,
        task.max_credits - charged,
        reason::REFUND,
        ledger_task_id(task),
    )
    .await?;
    transfer(
        tx,
        ctx,
        PLATFORM_AGENT_ID,
        worker,
        charged,
        reason::PAYMENT,
        id,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_is_ten_percent_rounded_down_and_paid_by_the_worker() {
        for (charged, expected_fee) in [(5, 0), (9, 0), (10, 1), (12, 1), (15, 1), (50, 5), (99, 9)]
        {
            assert_eq!(fee(charged, 1000), expected_fee, "fee of {charged}");
        }
        assert_eq!(
            settlement(15, 12, 1000),
            Settlement {
                to_worker: 11,
                fee: 1,
                refund: 3
            }
        );
        assert_eq!(
            settlement(50, 50, 0),
            Settlement {
                to_worker: 50,
                fee: 0,
                refund: 0
            }
        );
        assert_eq!(fee(100, 250), 2, "2.5 % of 100");
    }

    #[test]
    fn settlement_never_creates_or_loses_credits() {
        for max in 1..60 {
            for charged in 1..=max {
                for bps in [0, 1, 999, 1000, 2550, 10_000] {
                    let s = settlement(max, charged, bps);
                    assert_eq!(s.to_worker + s.fee + s.refund, max);
                    assert!(s.to_worker >= 0 && s.fee >= 0 && s.refund >= 0);
                }
            }
        }
    }
}
