//! Keyset cursors: the `next_cursor` tokens of the lists. A token names the list it came from
//! and the sort key of the last row its page showed, so the next page starts right after that
//! row by an index range (however deep, and whatever was added meanwhile), instead of counting
//! `offset` rows again. Tokens are plain text, `<list>.<key>`; a token of another list, or
//! one not made here, is refused.

use super::query::{self, Query};
use super::sql::{Cells, Transaction};
use super::{Page, Paged, Result, StoreError};

/// Which list a cursor walks (its token's prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// An agent's tasks, newest first: by seq.
    MyTasks,
    /// An agent's ledger, newest first: by seq.
    Ledger,
    /// A task's messages, oldest first: by seq.
    Messages,
    /// The directory by reputation, best first, then by seq.
    ByReputation,
    /// The directory by tasks completed, most first, then by seq.
    ByTasksCompleted,
    /// Browsing open tasks: a position among the first `query::RELEVANT` (in pickup order),
    /// then, past them, the board's sort key (poster reputation, seq).
    Browse,
}

impl List {
    fn prefix(self) -> &'static str {
        match self {
            Self::MyTasks => "mt",
            Self::Ledger => "lg",
            Self::Messages => "ms",
            Self::ByReputation => "dr",
            Self::ByTasksCompleted => "dc",
            Self::Browse => "br",
        }
    }
}

/// The sort key of a row: the sorted value when the list sorts by more than seq, and seq
/// (unique, so ties in the value are broken the same way on every page).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Key {
    Seq(i64),
    Real(f64, i64),
    Int(i64, i64),
}

/// The token of the position after `key` in `list`.
pub fn encode(list: List, key: Key) -> String {
    let p = list.prefix();
    match key {
        Key::Seq(seq) => format!("{p}.{seq}"),
        // `{}` writes the shortest text that reads back as the same f64.
        Key::Real(v, seq) => format!("{p}.{v}.{seq}"),
        Key::Int(v, seq) => format!("{p}.{v}.{seq}"),
    }
}

/// The key a token of `list` names; `InvalidCursor` for anything `encode` did not write for
/// this list.
pub fn decode(list: List, token: &str) -> Result<Key> {
    let invalid = || StoreError::InvalidCursor;
    let rest = token
        .strip_prefix(list.prefix())
        .and_then(|r| r.strip_prefix('.'))
        .ok_or_else(invalid)?;
    let int = |s: &str| {
        // Digits only (an optional minus): no '+', no spaces, no leading zeros tricks needed.
        s.parse::<i64>().ok().filter(|_| {
            !s.starts_with('+')
                && s.trim_start_matches('-')
                    .bytes()
                    .all(|b| b.is_ascii_digit())
        })
    };
    let key = match list {
        List::MyTasks | List::Ledger | List::Messages => int(rest).map(Key::Seq),
        // A position (no '.'), at most `RELEVANT`, or a reputation and seq as below.
        List::Browse if !rest.contains('.') => int(rest)
            .filter(|pos| (0..=query::RELEVANT).contains(pos))
            .map(Key::Seq),
        List::ByReputation | List::ByTasksCompleted | List::Browse => {
            // The value may hold a '.', seq never does: split at the last one.
            let (value, seq) = rest.rsplit_once('.').ok_or_else(invalid)?;
            let seq = int(seq).ok_or_else(invalid)?;
            if list != List::ByTasksCompleted {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && encode(list, Key::Real(*v, seq)) == token)
                    .map(|v| Key::Real(v, seq))
            } else {
                int(value).map(|v| Key::Int(v, seq))
            }
        }
    };
    key.ok_or_else(invalid)
}

/// The key of the page's cursor in `list`, if it has one.
pub fn after(list: List, page: &Page) -> Result<Option<Key>> {
    page.cursor.as_deref().map(|t| decode(list, t)).transpose()
}

/// The seq of the page's cursor in `list` (one sorted by seq alone), if it has one.
pub fn seq_after(list: List, page: &Page) -> Result<Option<i64>> {
    Ok(after(list, page)?.and_then(|key| match key {
        Key::Seq(seq) => Some(seq),
        Key::Real(..) | Key::Int(..) => None,
    }))
}

impl Transaction<'_> {
    /// Runs a `query::seq_page` pair: the page of `list` (rows made by `map`), its next
    /// cursor and the capped total.
    pub(super) async fn seq_paged<T>(
        &mut self,
        rows: Query,
        count: Query,
        list: List,
        page: &Page,
        map: impl Fn(&dyn Cells) -> Result<T>,
    ) -> Result<Paged<T>> {
        let rows = self
            .fetch_query(rows, |r| Ok((map(r)?, Key::Seq(r.int("seq")?))))
            .await?;
        let total = query::capped_total(self.count(&count.sql, count.args).await?);
        Ok(Paged::keyset(rows, list, page, total))
    }
}

impl<T> Paged<T> {
    /// A page from rows fetched with one more than the page's limit (whether that one came
    /// says whether a next page exists), each with its sort key, and the capped count.
    pub(super) fn keyset(
        mut rows: Vec<(T, Key)>,
        list: List,
        page: &Page,
        (total, total_capped): (i64, bool),
    ) -> Self {
        let more = rows.len() as i64 > page.limit;
        rows.truncate(page.limit.max(0) as usize);
        let next_cursor = more
            .then(|| rows.last().map(|(_, key)| encode(list, *key)))
            .flatten();
        Self {
            items: rows.into_iter().map(|(item, _)| item).collect(),
            total,
            total_capped,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_read_back_in_their_own_list_only() {
        for (list, key) in [
            (List::MyTasks, Key::Seq(42)),
            (List::Ledger, Key::Seq(7)),
            (List::Messages, Key::Seq(0)),
            (List::ByReputation, Key::Real(4.37, 12)),
            (List::ByReputation, Key::Real(0.1 + 0.2, 3)),
            (List::ByReputation, Key::Real(5.0, 1)),
            (List::ByTasksCompleted, Key::Int(99, 5)),
            (List::Browse, Key::Seq(40)),
            (List::Browse, Key::Real(2.5, 77)),
        ] {
            let token = encode(list, key);
            assert_eq!(decode(list, &token).unwrap(), key, "{token}");
            for other in [
                List::MyTasks,
                List::Ledger,
                List::Messages,
                List::ByReputation,
                List::ByTasksCompleted,
                List::Browse,
            ] {
                if other != list {
                    assert!(decode(other, &token).is_err(), "{token} in {other:?}");
                }
            }
        }
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for token in [
            "",
            "mt",
            "mt.",
            "mt.x",
            "mt.1.2",
            "mt. 1",
            "mt.+1",
            "mt.1e3",
            "dr.NaN.1",
            "dr.inf.1",
            "dr.4.5.",
            "dr.04.5.1",
            "dc.1.5.1",
            "lg.99999999999999999999",
            "br.101",
            "br.-1",
            "br.x.1",
        ] {
            let list = match &token.get(..2) {
                Some("dr") => List::ByReputation,
                Some("dc") => List::ByTasksCompleted,
                Some("lg") => List::Ledger,
                Some("br") => List::Browse,
                _ => List::MyTasks,
            };
            assert!(decode(list, token).is_err(), "{token}");
        }
    }
}
