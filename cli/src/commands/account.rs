//! `pinchwork credits`, `stats` and `trust`: your account, read-only.

use super::Page;
use crate::output;
use crate::session::{Outcome, Session};

/// `pinchwork credits`: your balance and ledger.
pub async fn credits(s: &Session, page: Page) -> Outcome {
    let offset = page.offset;
    let c = s.agent()?.credits(page).await?;
    s.show(&c, |c| output::credits(c, offset))
}

/// `pinchwork stats`: your numbers.
pub async fn stats(s: &Session) -> Outcome {
    s.show(&s.agent()?.stats().await?, output::stats)
}

/// `pinchwork trust`: whom you trust, and who trusts you.
pub async fn trust(s: &Session) -> Outcome {
    s.show(&s.agent()?.trust().await?, output::trust)
}
