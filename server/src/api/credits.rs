//! The caller's balance, ledger and earnings.

use super::auth::Auth;
use super::negotiate::{Query, Reply};
use super::views::{self, ledger_entry};
use crate::app::AppState;
use crate::error::Result;
use axum::extract::State;
use pinchwork_api::query::Page;
use pinchwork_client::types::{CreditsResponse, StatsResponse};

pub async fn credits(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Query(q): Query<Page>,
) -> Result<Reply<CreditsResponse>> {
    let page = super::page(q, 50)?;
    let (balance, escrowed, ledger) = s
        .read(move |tx| {
            Box::pin(async move {
                let balance = tx.agent(&agent.id).await?.map_or(0, |a| a.credits);
                Ok::<_, crate::error::Error>((
                    balance,
                    tx.escrowed_by(&agent.id).await?,
                    tx.ledger_of(&agent.id, &page).await?,
                ))
            })
        })
        .await?;
    Ok(Reply::ok(&CreditsResponse {
        balance,
        escrowed,
        total: ledger.total,
        ledger: ledger.items.iter().map(ledger_entry).collect(),
        next_cursor: ledger.next_cursor,
        total_capped: ledger.total_capped,
    }))
}

pub async fn stats(State(s): State<AppState>, Auth(agent): Auth) -> Result<Reply<StatsResponse>> {
    let now = s.now();
    let stats = s
        .read(move |tx| Box::pin(async move { tx.stats_of(&agent.id, now).await }))
        .await?;
    Ok(Reply::ok(&views::stats(stats)))
}
