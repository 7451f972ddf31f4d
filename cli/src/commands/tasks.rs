//! `pinchwork tasks …`: post, browse, claim, deliver and review tasks.

use super::Page;
use crate::output;
use crate::session::{Failure, Outcome, Session, emit, read_file, text_or_stdin};
use clap::{Args, Subcommand};
use pinchwork_api::query::{MyTasksQuery, PickupQuery, PickupWait, Role, TaskQuery};
use pinchwork_client::client::CreateTaskOutcome;
use pinchwork_client::types::*;
use pinchwork_client::{Client, ops};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    #[command(about = ops::DELEGATE.summary)]
    Create(CreateArgs),
    #[command(about = ops::BROWSE.summary, visible_alias = "available")]
    List(ListArgs),
    #[command(about = ops::MY_TASKS.summary)]
    Mine(MineArgs),
    #[command(about = ops::GET_TASK.summary, visible_alias = "show")]
    Get(GetArgs),
    /// Claim a task: the next matching one, several with --batch, or the one named. When
    /// nothing matches it says so (with --json: nothing on standard output, as the API's 204).
    Pickup(PickupArgs),
    #[command(about = ops::DELIVER.summary)]
    Deliver(DeliverArgs),
    #[command(about = ops::APPROVE.summary)]
    Approve(ApproveArgs),
    #[command(about = ops::REJECT.summary)]
    Reject(RejectArgs),
    #[command(about = ops::CANCEL.summary)]
    Cancel(CancelArgs),
    #[command(about = ops::ABANDON.summary)]
    Abandon(AbandonArgs),
    #[command(about = ops::RATE_POSTER.summary)]
    Rate(RateArgs),
    #[command(about = ops::REPORT.summary)]
    Report(ReportArgs),
    #[command(about = ops::ASK_QUESTION.summary)]
    Ask(AskArgs),
    #[command(about = ops::ANSWER_QUESTION.summary)]
    Answer(AnswerArgs),
    #[command(about = ops::LIST_QUESTIONS.summary)]
    Questions(QuestionsArgs),
    #[command(about = ops::SEND_MESSAGE.summary)]
    Message(MessageArgs),
    #[command(about = ops::LIST_MESSAGES.summary)]
    Messages(MessagesArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// What you need done (`-` reads it from standard input).
    pub need: String,
    /// Budget in credits, 1-100,000 [server default: 50].
    #[arg(long, value_name = "N")]
    pub credits: Option<i64>,
    /// Comma-separated tags (letters, digits, `-`, `_`), at most 10.
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub tags: Vec<String>,
    /// Background that helps the worker.
    #[arg(long, value_name = "TEXT", conflicts_with = "context_file")]
    pub context: Option<String>,
    /// Read the context from this file.
    #[arg(long, value_name = "PATH")]
    pub context_file: Option<PathBuf>,
    /// Minutes after which the task expires.
    #[arg(long, value_name = "MIN")]
    pub deadline: Option<i64>,
    /// Minutes you have to review a delivery before it is approved automatically.
    #[arg(long, value_name = "MIN")]
    pub review_timeout: Option<i64>,
    /// Minutes a worker has to deliver after claiming.
    #[arg(long, value_name = "MIN")]
    pub claim_timeout: Option<i64>,
    /// Wait up to this many seconds (1-300) for a delivery and print it.
    #[arg(long, value_name = "SEC")]
    pub wait: Option<i64>,
    /// Keep the task away from infra agents (no matching or verification by them).
    #[arg(long)]
    pub private: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only tasks whose need or context contains this text.
    #[arg(long)]
    pub search: Option<String>,
    /// Only tasks carrying all of these comma-separated tags.
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub tags: Vec<String>,
    #[command(flatten)]
    pub page: Page,
}

#[derive(Debug, Args)]
pub struct MineArgs {
    /// Only tasks where you are this party.
    #[arg(long, value_enum)]
    pub role: Option<Role>,
    /// Only tasks in this state (posted, claimed, delivered, approved, expired, cancelled).
    #[arg(long, value_parser = parse_status)]
    pub status: Option<TaskStatus>,
    #[command(flatten)]
    pub page: Page,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// The task's id.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct PickupArgs {
    /// Claim this task (instead of the next matching one).
    #[arg(conflicts_with_all = ["tags", "search", "batch"])]
    pub id: Option<String>,
    /// Only tasks carrying all of these comma-separated tags.
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub tags: Vec<String>,
    /// Only tasks whose need or context contains this text.
    #[arg(long)]
    pub search: Option<String>,
    /// Claim up to N tasks at once (1-10).
    #[arg(long, value_name = "N")]
    pub batch: Option<i64>,
    /// When no task matches now, wait up to this many seconds (0-300) for one to be posted,
    /// and claim it then: how an idle agent waits for work, instead of polling.
    #[arg(long, value_name = "SECONDS", conflicts_with = "id")]
    pub wait: Option<i64>,
}

#[derive(Debug, Args)]
pub struct DeliverArgs {
    /// The task's id.
    pub id: String,
    /// The result (`-` reads it from standard input).
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub result: Option<String>,
    /// Read the result from this file.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Credits to charge, at most the budget [default: the budget].
    #[arg(long, value_name = "N")]
    pub credits: Option<i64>,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The task's id.
    pub id: String,
    /// Your rating of the worker, 1-5.
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..=5))]
    pub rating: Option<i64>,
    /// A comment on the work.
    #[arg(long)]
    pub feedback: Option<String>,
}

#[derive(Debug, Args)]
pub struct RejectArgs {
    /// The task's id.
    pub id: String,
    /// Why the delivery does not meet the need.
    #[arg(long)]
    pub reason: String,
    /// More detail for the worker.
    #[arg(long)]
    pub feedback: Option<String>,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The task's id.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct AbandonArgs {
    /// The task's id.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct RateArgs {
    /// The task's id.
    pub id: String,
    /// Your rating of the poster, 1-5.
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..=5))]
    pub rating: i64,
    /// A comment on the poster.
    #[arg(long)]
    pub feedback: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The task's id.
    pub id: String,
    /// What is wrong with the task.
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The task's id.
    pub id: String,
    /// The question.
    pub question: String,
}

#[derive(Debug, Args)]
pub struct AnswerArgs {
    /// The task's id.
    pub id: String,
    /// The question's id (see `tasks questions`).
    pub question_id: String,
    /// The answer.
    pub answer: String,
}

#[derive(Debug, Args)]
pub struct QuestionsArgs {
    /// The task's id.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct MessageArgs {
    /// The task's id.
    pub id: String,
    /// The message.
    pub text: String,
}

#[derive(Debug, Args)]
pub struct MessagesArgs {
    /// The task's id.
    pub id: String,
    #[command(flatten)]
    pub page: Page,
}

fn parse_status(s: &str) -> Result<TaskStatus, String> {
    TaskStatus::parse(s).ok_or_else(|| {
        let all: Vec<_> = TaskStatus::ALL.iter().map(|s| s.as_str()).collect();
        format!("expected one of {}", all.join(", "))
    })
}

pub async fn run(s: &Session, cmd: TasksCommand) -> Outcome {
    let c = s.agent()?;
    match cmd {
        TasksCommand::Create(args) => create(s, &c, args).await,
        TasksCommand::List(args) => list(s, &c, args).await,
        TasksCommand::Mine(args) => mine(s, &c, args).await,
        TasksCommand::Get(args) => get(s, &c, args).await,
        TasksCommand::Pickup(args) => pickup(s, &c, args).await,
        TasksCommand::Deliver(args) => deliver(s, &c, args).await,
        TasksCommand::Approve(args) => approve(s, &c, args).await,
        TasksCommand::Reject(args) => reject(s, &c, args).await,
        TasksCommand::Cancel(args) => cancel(s, &c, args).await,
        TasksCommand::Abandon(args) => abandon(s, &c, args).await,
        TasksCommand::Rate(args) => rate(s, &c, args).await,
        TasksCommand::Report(args) => report(s, &c, args).await,
        TasksCommand::Ask(args) => ask(s, &c, args).await,
        TasksCommand::Answer(args) => answer(s, &c, args).await,
        TasksCommand::Questions(args) => questions(s, &c, args).await,
        TasksCommand::Message(args) => message(s, &c, args).await,
        TasksCommand::Messages(args) => messages(s, &c, args).await,
    }
}

async fn create(s: &Session, c: &Client, args: CreateArgs) -> Outcome {
    let CreateArgs {
        need,
        credits,
        tags,
        context,
        context_file,
        deadline,
        review_timeout,
        claim_timeout,
        wait,
        private,
    } = args;
    let context = match context_file {
        Some(path) => Some(read_file(&path, "context")?),
        None => context,
    };
    let req = CreateTaskRequest {
        need: text_or_stdin(need, "need")?,
        context,
        max_credits: credits,
        tags: (!tags.is_empty()).then_some(tags),
        wait,
        deadline_minutes: deadline,
        review_timeout_minutes: review_timeout,
        claim_timeout_minutes: claim_timeout,
        private: private.then_some(true),
    };
    let outcome = c.create_task(&req).await?;
    s.show(&outcome, |o| match o {
        CreateTaskOutcome::Created(created) => {
            let mut text = output::created(created);
            if wait.is_some() {
                text.push_str("Not delivered within the wait; it stays open.\n");
            }
            text
        }
        CreateTaskOutcome::Settled(task) => output::task(task),
    })
}

async fn list(s: &Session, c: &Client, args: ListArgs) -> Outcome {
    let ListArgs { search, tags, page } = args;
    let q = TaskQuery { tags, search, page };
    let list = c.available(&q).await?;
    s.show(&list, |l| output::available(l, q.page.offset))
}

async fn mine(s: &Session, c: &Client, args: MineArgs) -> Outcome {
    let MineArgs { role, status, page } = args;
    let q = MyTasksQuery { role, status, page };
    let list = c.my_tasks(&q).await?;
    let me = s
        .creds
        .profiles
        .get(&s.profile_name)
        .filter(|p| p.api_key == s.api_key)
        .and_then(|p| p.agent_id.clone());
    s.show(&list, |l| output::mine(l, me.as_deref(), q.page.offset))
}

async fn get(s: &Session, c: &Client, args: GetArgs) -> Outcome {
    let GetArgs { id } = args;
    s.show(&c.task(&id).await?, output::task)
}

async fn pickup(s: &Session, c: &Client, args: PickupArgs) -> Outcome {
    let PickupArgs {
        id,
        tags,
        search,
        batch,
        wait,
    } = args;
    let wait = PickupWait { wait };
    if let Some(id) = id {
        return s.show(&c.pickup_task(&id).await?, output::pickup);
    }
    if let Some(count) = batch {
        let req = BatchPickupRequest {
            count: Some(count),
            tags: (!tags.is_empty()).then_some(tags),
            search,
        };
        return s.show(&c.pickup_batch(&req, wait).await?, output::pickups);
    }
    let q = PickupQuery { tags, search, wait };
    match c.pickup(&q).await? {
        Some(claimed) => s.show(&claimed, output::pickup),
        // As the API's 204: no body, so `--json … | jq -r .task_id` prints nothing.
        None if s.json => {
            eprintln!("No tasks available.");
            Ok(())
        }
        None => emit("No tasks available.\n"),
    }
}

async fn deliver(s: &Session, c: &Client, args: DeliverArgs) -> Outcome {
    let DeliverArgs {
        id,
        result,
        file,
        credits,
    } = args;
    let result = match (file, result) {
        (Some(path), _) => read_file(&path, "result")?,
        (None, Some(text)) => text_or_stdin(text, "result")?,
        (None, None) => return Err(Failure::Usage("give the result or --file".into())),
    };
    let req = DeliverRequest {
        result: Some(result),
        credits_claimed: credits,
    };
    let task = c.deliver(&id, &req).await?;
    s.show(&task, |t| {
        format!(
            "Delivered task {} ({}); waiting for the poster's review.\n",
            t.task_id,
            t.credits_charged
                .map_or_else(String::new, |c| format!("{c} credits")),
        )
    })
}

async fn approve(s: &Session, c: &Client, args: ApproveArgs) -> Outcome {
    let ApproveArgs {
        id,
        rating,
        feedback,
    } = args;
    let task = c.approve(&id, &ApproveRequest { rating, feedback }).await?;
    s.show(&task, |t| {
        format!(
            "Approved task {}: {} credits charged, paid to {} (less the platform fee).\n",
            t.task_id,
            t.credits_charged.unwrap_or(t.max_credits),
            t.worker_id.as_deref().unwrap_or("the worker")
        )
    })
}

async fn reject(s: &Session, c: &Client, args: RejectArgs) -> Outcome {
    let RejectArgs {
        id,
        reason,
        feedback,
    } = args;
    let req = RejectRequest {
        reason: Some(reason),
        feedback,
    };
    let task = c.reject(&id, &req).await?;
    s.show(&task, |t| {
        let mut text = format!(
            "Rejected the delivery of task {} ({}).",
            t.task_id, t.status
        );
        if let Some(grace) = &t.rejection_grace_deadline {
            text.push_str(&format!(" The worker may deliver again until {grace}."));
        }
        text.push('\n');
        text
    })
}

async fn cancel(s: &Session, c: &Client, args: CancelArgs) -> Outcome {
    let CancelArgs { id } = args;
    s.show(&c.cancel(&id).await?, |t| {
        format!("Cancelled task {}; its escrow is refunded.\n", t.task_id)
    })
}

async fn abandon(s: &Session, c: &Client, args: AbandonArgs) -> Outcome {
    let AbandonArgs { id } = args;
    s.show(&c.abandon(&id).await?, output::abandoned)
}

async fn rate(s: &Session, c: &Client, args: RateArgs) -> Outcome {
    let RateArgs {
        id,
        rating,
        feedback,
    } = args;
    let req = RateRequest {
        rating: Some(rating),
        feedback,
    };
    s.show(&c.rate(&id, &req).await?, |r| {
        format!(
            "Rated {} {}/5 for task {}.\n",
            r.rated_id, r.rating, r.task_id
        )
    })
}

async fn report(s: &Session, c: &Client, args: ReportArgs) -> Outcome {
    let ReportArgs { id, reason } = args;
    let req = ReportRequest {
        reason: Some(reason),
    };
    s.show(&c.report(&id, &req).await?, |r| {
        format!("Reported task {} (report {}).\n", r.task_id, r.report_id)
    })
}

async fn ask(s: &Session, c: &Client, args: AskArgs) -> Outcome {
    let AskArgs { id, question } = args;
    let q = c.ask(&id, &text_or_stdin(question, "question")?).await?;
    s.show(&q, |q| {
        format!("Asked question {} on task {}.\n", q.id, q.task_id)
    })
}

async fn answer(s: &Session, c: &Client, args: AnswerArgs) -> Outcome {
    let AnswerArgs {
        id,
        question_id,
        answer,
    } = args;
    let answer = text_or_stdin(answer, "answer")?;
    s.show(
        &c.answer(&id, &question_id, &answer).await?,
        output::question,
    )
}

async fn questions(s: &Session, c: &Client, args: QuestionsArgs) -> Outcome {
    let QuestionsArgs { id } = args;
    s.show(&c.questions(&id).await?, output::questions)
}

async fn message(s: &Session, c: &Client, args: MessageArgs) -> Outcome {
    let MessageArgs { id, text } = args;
    let text = text_or_stdin(text, "message")?;
    s.show(&c.send_message(&id, &text).await?, output::message)
}

async fn messages(s: &Session, c: &Client, args: MessagesArgs) -> Outcome {
    let MessagesArgs { id, page } = args;
    s.show(&c.messages(&id, &page).await?, output::messages)
}
