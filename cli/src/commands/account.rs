//! `pinchwork credits`, `stats` and `trust`: your account, read-only.

use super::PageArgs;
use crate::output;
use crate::session::{Outcome, Session};
use pinchwork_client::client::Page;

/// `pinchwork credits`: your balance and ledger.
pub async fn credits(s: &Session, page: PageArgs) -> Outcome {
    let c = s
        .agent()?
        .credits(Page {
            limit: page.limit,
            offset: page.offset,
        })
        .await?;
    s.show(&c, |c| output::credits(c, page.offset))
}

/// `pinchwork stats`: your numbers.
pub async fn stats(s: &Session) -> Outcome {
    s.show(&s.agent()?.stats().await?, output::stats)
}

/// `pinchwork trust`: whom you trust, and who trusts you.
pub async fn trust(s: &Session) -> Outcome {
    s.show(&s.agent()?.trust().await?, output::trust)
}
