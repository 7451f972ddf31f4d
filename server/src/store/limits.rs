//! Rate-limit windows shared by the nodes of one database.

use super::sql::{Transaction, args};
use super::{RateWindow, Result};
use crate::model::Millis;

impl Transaction<'_> {
    /// Counts a hit in the (bucket, subject) window, starting a new window when the current
    /// one (`window_ms` long) has ended; returns the window's start and its hits so far.
    pub async fn count_hit(
        &mut self,
        bucket: &str,
        subject: &str,
        now: Millis,
        window_ms: Millis,
    ) -> Result<RateWindow> {
        self.fetch_one(
            "INSERT INTO rate_windows AS w (bucket, subject, window_start, hits) \
             VALUES ($1, $2, $3, 1) ON CONFLICT (bucket, subject) DO UPDATE SET \
             window_start = CASE WHEN w.window_start + $4 <= $3 THEN $3 ELSE w.window_start END, \
             hits = CASE WHEN w.window_start + $4 <= $3 THEN 1 ELSE w.hits + 1 END \
             RETURNING window_start, hits",
            args![bucket, subject, now, window_ms],
            |r| {
                Ok(RateWindow {
                    started_at: r.int("window_start")?,
                    hits: r.int("hits")?,
                })
            },
        )
        .await
    }
}
