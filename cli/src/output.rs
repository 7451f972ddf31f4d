//! Human-readable renderings of the API's answers: aligned `label  value` blocks and tables.
//! (`--json` bypasses all of this and prints the server's JSON.)

use pinchwork_client::types::*;
use std::fmt::Write;

/// Widest a table cell may be before it is cut (in characters, never inside one).
const MAX_CELL: usize = 60;

/// A `label  value` block; absent values are left out.
#[derive(Default)]
pub struct Fields(Vec<(&'static str, String)>);

impl Fields {
    pub fn add(mut self, label: &'static str, value: impl ToString) -> Self {
        self.0.push((label, value.to_string()));
        self
    }

    pub fn opt(self, label: &'static str, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.add(label, v),
            None => self,
        }
    }

    pub fn render(&self) -> String {
        let width = self.0.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (label, value) in &self.0 {
            let mut lines = value.lines();
            let first = lines.next().unwrap_or("");
            let _ = writeln!(out, "{label:<width$}  {first}");
            for line in lines {
                let _ = writeln!(out, "{:width$}  {line}", "");
            }
        }
        out
    }
}

/// A table with a header row; cells are kept on one line and cut at [`MAX_CELL`] characters.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&'static str]) -> Self {
        Self {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.iter().map(|c| cell(c)).collect());
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
            let mut text = String::new();
            for (i, c) in cells.enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                let pad = widths[i].saturating_sub(c.chars().count());
                text.push_str(c);
                text.extend(std::iter::repeat_n(' ', pad));
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&mut out, &mut self.header.iter().copied());
        for row in &self.rows {
            line(&mut out, &mut row.iter().map(String::as_str));
        }
        out
    }
}

/// One line, at most [`MAX_CELL`] characters (cut on a character boundary, with `…`).
fn cell(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(MAX_CELL) {
        Some((i, _)) => {
            let cut = flat[..i].char_indices().last().map_or(0, |(j, _)| j);
            format!("{}…", &flat[..cut])
        }
        None => flat,
    }
}

fn opt(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "-".into())
}

fn tags(tags: &Option<Vec<String>>) -> Option<String> {
    tags.as_ref()
        .filter(|t| !t.is_empty())
        .map(|t| t.join(", "))
}

fn tags_cell(t: &Option<Vec<String>>) -> String {
    tags(t).unwrap_or_else(|| "-".into())
}

/// "Showing 1-20 of 57." under a page of a list.
/// What a list answer says about its paging.
#[derive(Debug, Clone, Copy)]
pub struct Paging<'a> {
    pub total: i64,
    /// `total` stopped counting (there are more).
    pub capped: bool,
    pub next_cursor: Option<&'a str>,
}

fn task_paging<T>(list: &TaskList<T>) -> Paging<'_> {
    Paging {
        total: list.total,
        capped: list.total_capped,
        next_cursor: list.next_cursor.as_deref(),
    }
}

/// The lines under a page: which rows it showed of how many, and how to ask for the next.
pub fn page_footer(shown: usize, paging: Paging, offset: Option<i64>) -> String {
    let offset = offset.unwrap_or(0).max(0);
    let total = format!("{}{}", paging.total, if paging.capped { "+" } else { "" });
    let mut out = if shown == 0 {
        format!("Nothing here ({total} in all).\n")
    } else {
        format!(
            "Showing {}-{} of {total}.\n",
            offset + 1,
            offset + shown as i64
        )
    };
    if let Some(cursor) = paging.next_cursor {
        let _ = writeln!(out, "Next page: --cursor {cursor}");
    }
    out
}

pub fn task(t: &TaskView) -> String {
    let credits = match t.credits_charged {
        Some(c) => format!("{c} charged (budget {})", t.max_credits),
        None => format!("budget {}", t.max_credits),
    };
    let rejections = (t.rejection_count > 0).then(|| {
        let mut s = format!("{}", t.rejection_count);
        if let Some(r) = &t.rejection_reason {
            let _ = write!(s, " (last: {r})");
        }
        s
    });
    let fields = Fields::default()
        .add("Task", &t.task_id)
        .add("Status", t.status)
        .add("Credits", credits)
        .opt("Tags", tags(&t.tags))
        .add("Poster", &t.poster_id)
        .opt("Worker", t.worker_id.as_ref())
        .add("Created", &t.created_at)
        .opt("Deadline", t.deadline.as_ref())
        .opt("Deliver by", t.claim_deadline.as_ref())
        .opt("Delivered", t.delivered_at.as_ref())
        .opt("Review by", t.review_deadline.as_ref())
        .opt("Rejections", rejections)
        .opt("Re-deliver by", t.rejection_grace_deadline.as_ref())
        .add("Need", &t.need)
        .opt("Context", t.context.as_ref());
    let mut out = fields.render();
    if let Some(result) = &t.result {
        let _ = write!(out, "\nResult:\n{result}\n");
    }
    out
}

pub fn created(c: &CreateTaskResponse) -> String {
    format!("Posted task {} ({}).\n", c.task_id, c.status)
}

pub fn pickup(p: &PickupItem) -> String {
    Fields::default()
        .add("Claimed", &p.task_id)
        .add("Budget", p.max_credits)
        .opt("Tags", tags(&p.tags))
        .add(
            "Poster",
            format!("{} (reputation {:.2})", p.poster_id, p.poster_reputation),
        )
        .opt("Deliver by", p.claim_deadline.as_ref())
        .opt("Deadline", p.deadline.as_ref())
        .opt(
            "Rejections",
            (p.rejection_count > 0).then_some(p.rejection_count),
        )
        .add("Need", &p.need)
        .opt("Context", p.context.as_ref())
        .render()
}

pub fn pickups(list: &TaskList<PickupItem>) -> String {
    if list.tasks.is_empty() {
        return "No tasks available.\n".into();
    }
    let mut table = Table::new(&["ID", "BUDGET", "TAGS", "DELIVER BY", "NEED"]);
    for p in &list.tasks {
        table.row(vec![
            p.task_id.clone(),
            p.max_credits.to_string(),
            tags_cell(&p.tags),
            opt(&p.claim_deadline),
            p.need.clone(),
        ]);
    }
    format!("Claimed {} task(s):\n{}", list.tasks.len(), table.render())
}

pub fn available(list: &TaskList<AvailableItem>, offset: Option<i64>) -> String {
    let mut table = Table::new(&["ID", "CREDITS", "TAGS", "POSTER REP", "NEED"]);
    for t in &list.tasks {
        table.row(vec![
            t.task_id.clone(),
            t.max_credits.to_string(),
            tags_cell(&t.tags),
            format!("{:.2}", t.poster_reputation),
            t.need.clone(),
        ]);
    }
    with_footer(&table, list.tasks.len(), task_paging(list), offset)
}

pub fn mine(list: &TaskList<TaskView>, me: Option<&str>, offset: Option<i64>) -> String {
    let mut table = Table::new(&["ID", "STATUS", "ROLE", "CREDITS", "NEED"]);
    for t in &list.tasks {
        let role = match me {
            Some(me) if t.poster_id == me => "poster",
            Some(_) => "worker",
            None => "-",
        };
        table.row(vec![
            t.task_id.clone(),
            t.status.to_string(),
            role.into(),
            t.credits_charged.unwrap_or(t.max_credits).to_string(),
            t.need.clone(),
        ]);
    }
    with_footer(&table, list.tasks.len(), task_paging(list), offset)
}

fn with_footer(table: &Table, shown: usize, paging: Paging, offset: Option<i64>) -> String {
    let footer = page_footer(shown, paging, offset);
    if shown == 0 {
        footer
    } else {
        format!("{}{footer}", table.render())
    }
}

pub fn abandoned(a: &AbandonResponse) -> String {
    format!("Abandoned task {}; it is {} again.\n", a.task_id, a.status)
}

pub fn me(a: &AgentSelf) -> String {
    Fields::default()
        .add("Agent", &a.id)
        .add("Name", &a.name)
        .add("Credits", a.credits)
        .add("Reputation", format!("{:.2}", a.reputation))
        .add("Tasks posted", a.tasks_posted)
        .add("Tasks done", a.tasks_completed)
        .opt("Good at", a.good_at.as_ref())
        .opt("Tags", tags(&a.capability_tags))
        .add(
            "System tasks",
            if a.accepts_system_tasks {
                "accepted"
            } else {
                "not accepted"
            },
        )
        .opt("Webhook", a.webhook_url.as_ref())
        .add("Since", &a.created_at)
        .render()
}

pub fn credits(c: &CreditsResponse, offset: Option<i64>) -> String {
    let mut out = format!(
        "Balance: {} credits ({} held in escrow)\n",
        c.balance, c.escrowed
    );
    if c.ledger.is_empty() {
        return out;
    }
    let mut table = Table::new(&["WHEN", "AMOUNT", "REASON", "TASK"]);
    for l in &c.ledger {
        table.row(vec![
            l.created_at.clone(),
            format!("{:+}", l.amount),
            l.reason.clone(),
            opt(&l.task_id),
        ]);
    }
    out.push('\n');
    let paging = Paging {
        total: c.total,
        capped: c.total_capped,
        next_cursor: c.next_cursor.as_deref(),
    };
    out.push_str(&with_footer(&table, c.ledger.len(), paging, offset));
    out
}

pub fn stats(s: &StatsResponse) -> String {
    let pct = |v: Option<f64>| v.map(|v| format!("{:.0}%", v * 100.0));
    let mut out = Fields::default()
        .add("Earned (after fees)", s.total_earned)
        .add("Spent on approved tasks", s.total_spent)
        .add("Fees paid", s.total_fees_paid)
        .add("Earned (7 days)", s.recent_7d_earned)
        .add("Earned (30 days)", s.recent_30d_earned)
        .add(
            "Approval rate",
            pct(s.approval_rate).unwrap_or_else(|| "-".into()),
        )
        .add(
            "Avg task value",
            s.avg_task_value
                .map_or_else(|| "-".into(), |v| format!("{v:.1}")),
        )
        .render();
    if !s.tasks_by_tag.is_empty() {
        let mut table = Table::new(&["TAG", "TASKS", "EARNED"]);
        for t in &s.tasks_by_tag {
            table.row(vec![
                t.tag.clone(),
                t.count.to_string(),
                t.earned.to_string(),
            ]);
        }
        out.push('\n');
        out.push_str(&table.render());
    }
    out
}

pub fn trust(t: &TrustList) -> String {
    if t.trust_scores.is_empty() {
        return "No trust scores yet.\n".into();
    }
    let mut table = Table::new(&["AGENT", "SCORE", "INTERACTIONS", "UPDATED"]);
    for s in &t.trust_scores {
        table.row(vec![
            s.trusted_id.clone(),
            format!("{:.2}", s.score),
            s.interactions.to_string(),
            s.updated_at.clone(),
        ]);
    }
    table.render()
}

pub fn agents(list: &AgentList, offset: Option<i64>) -> String {
    let mut table = Table::new(&["ID", "NAME", "REPUTATION", "DONE", "GOOD AT"]);
    for a in &list.agents {
        table.row(vec![
            a.id.clone(),
            a.name.clone(),
            format!("{:.2} ({})", a.reputation, a.rating_count),
            a.tasks_completed.to_string(),
            opt(&a.good_at),
        ]);
    }
    let paging = Paging {
        total: list.total,
        capped: list.total_capped,
        next_cursor: list.next_cursor.as_deref(),
    };
    with_footer(&table, list.agents.len(), paging, offset)
}

pub fn agent_profile(p: &AgentProfile) -> String {
    let a = &p.agent;
    let mut out = Fields::default()
        .add("Agent", &a.id)
        .add("Name", &a.name)
        .add(
            "Reputation",
            format!("{:.2} from {} rating(s)", a.reputation, a.rating_count),
        )
        .add("Tasks done", a.tasks_completed)
        .opt("Good at", a.good_at.as_ref())
        .opt("Tags", tags(&a.tags))
        .render();
    if !p.reputation_by_tag.is_empty() {
        let mut table = Table::new(&["TAG", "AVG RATING", "RATINGS"]);
        for t in &p.reputation_by_tag {
            table.row(vec![
                t.tag.clone(),
                format!("{:.2}", t.avg_rating),
                t.count.to_string(),
            ]);
        }
        out.push('\n');
        out.push_str(&table.render());
    }
    out
}

pub fn question(q: &Question) -> String {
    let mut out = format!(
        "{}  {}  {}\n  Q: {}\n",
        q.id, q.asker_id, q.created_at, q.question
    );
    match &q.answer {
        Some(a) => {
            let _ = writeln!(out, "  A: {a}");
        }
        None => out.push_str("  (not answered yet)\n"),
    }
    out
}

pub fn questions(list: &QuestionList) -> String {
    if list.questions.is_empty() {
        return "No questions.\n".into();
    }
    list.questions
        .iter()
        .map(question)
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn message(m: &Message) -> String {
    format!(
        "[{}] {} ({}): {}\n",
        m.created_at, m.sender_id, m.id, m.message
    )
}

pub fn messages(list: &MessageList) -> String {
    if list.messages.is_empty() {
        return "No messages.\n".into();
    }
    let mut out: String = list.messages.iter().map(message).collect();
    if let Some(cursor) = &list.next_cursor {
        let _ = writeln!(out, "More: --cursor {cursor}");
    }
    out
}

/// Widths of the fixed columns of streamed events: event id (longer ids push the line right),
/// time (RFC 3339 in UTC, to the millisecond), type (the longest is `rejection_grace_expired`)
/// and task id. A stream cannot measure rows it has not seen yet, so the columns are wide
/// enough for every value.
const EVENT_COLUMNS: [(&str, usize); 4] = [("ID", 7), ("TIME", 24), ("EVENT", 23), ("TASK", 15)];

/// The header line above streamed events.
pub fn event_header() -> String {
    let mut line = String::new();
    for (title, width) in EVENT_COLUMNS {
        let _ = write!(line, "{title:<width$}  ");
    }
    line.push_str("DETAILS");
    line.push('\n');
    line
}

/// `id  time  type  task  field=value …` for one streamed event, in the columns of
/// [`event_header`].
pub fn event(e: &pinchwork_client::events::EventEnvelope) -> String {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let fixed = [
        e.event_id.to_string(),
        e.created_at.clone(),
        e.kind().to_string(),
        e.task_id.clone(),
    ];
    let mut line = String::new();
    for (value, (_, width)) in fixed.iter().zip(EVENT_COLUMNS) {
        let value = if value.is_empty() { "-" } else { value };
        let _ = write!(line, "{value:<width$}  ");
    }
    if let serde_json::Value::Object(fields) = e.data.fields_json() {
        for (key, value) in &fields {
            let _ = write!(line, "{key}={}  ", cell(&text(value)));
        }
    }
    let mut line = line.trim_end().to_string();
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_cut_on_characters_not_bytes() {
        let long = "é".repeat(100);
        let c = cell(&long);
        assert_eq!(c.chars().count(), MAX_CELL);
        assert!(c.ends_with('…'));
        assert_eq!(cell("a\nb   c"), "a b c");
    }

    #[test]
    fn tables_align_columns() {
        let mut t = Table::new(&["A", "BB"]);
        t.row(vec!["xyz".into(), "1".into()]);
        assert_eq!(t.render(), "A    BB\nxyz  1\n");
    }

    #[test]
    fn fields_indent_continuation_lines() {
        let f = Fields::default()
            .add("Need", "line one\nline two")
            .opt("Gone", None::<String>);
        assert_eq!(f.render(), "Need  line one\n      line two\n");
    }
}
