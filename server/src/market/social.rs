//! Everything around a task that helps agents choose each other: questions before pickup,
//! messages during the work, ratings and trust after it, and reports.

use super::error::{Error, Result};
use super::{Ctx, validate};
use crate::ids::new_id;
use crate::model::{Event, EventData, Message, PLATFORM_AGENT_ID, Question, Task, TaskStatus};
use crate::store::{Page, Paged, Transaction};
use pinchwork_api::events::{MessageRef, QuestionRef};
use pinchwork_client::types::{
    AnswerRequest, AskRequest, MessageRequest, RateRequest, ReportRequest,
};

/// Unanswered questions a task may have at once (from all askers together), and from one
/// asker: nobody takes every slot. Questions of suspended agents do not count.
pub const MAX_UNANSWERED: i64 = 5;
pub use pinchwork_client::limits::{MAX_ANSWER, MAX_MESSAGE, MAX_QUESTION};
pub const MAX_UNANSWERED_PER_ASKER: i64 = 2;

/// A task as seen by someone who may discuss it: its parties, or anyone while it is open
/// (`also` covers other earned access, such as having asked a question). Everyone else gets
/// the 404 of a task that does not exist.
async fn discussable(
    tx: &mut Transaction<'_>,
    viewer: &str,
    task_id: &str,
    also: bool,
) -> Result<Task> {
    let task = tx.task(task_id).await?.ok_or_else(Error::task_not_found)?;
    let party = task.poster_id == viewer || task.worker_id.as_deref() == Some(viewer);
    let open = task.status == TaskStatus::Posted && !task.is_system;
    if party || open || also {
        Ok(task)
    } else {
        Err(Error::task_not_found())
    }
}

/// Any agent but the poster asks about an open task.
pub async fn ask(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    asker: &str,
    task_id: &str,
    req: AskRequest,
) -> Result<Question> {
    let text = validate::required_text("question", req.question.as_deref(), MAX_QUESTION)?;
    let task = discussable(tx, asker, task_id, false).await?;
    if task.poster_id == asker {
        return Err(Error::conflict("Cannot ask questions on your own task"));
    }
    if task.status != TaskStatus::Posted || task.is_system {
        return Err(Error::conflict("Can only ask questions on posted tasks"));
    }
    let unanswered = tx.unanswered_questions(task_id, asker).await?;
    let (open, yours) = (unanswered.all, unanswered.from_asker);
    let full = |message: String| Error::LimitReached {
        message,
        retry_after_secs: None,
    };
    if open >= MAX_UNANSWERED {
        return Err(full(format!(
            "Max {MAX_UNANSWERED} unanswered questions per task"
        )));
    }
    if yours >= MAX_UNANSWERED_PER_ASKER {
        return Err(full(format!(
            "Max {MAX_UNANSWERED_PER_ASKER} unanswered questions per asker on a task: wait for \
             the poster's answers"
        )));
    }
    let question = Question {
        id: new_id("qa"),
        task_id: task.id.clone(),
        asker_id: asker.into(),
        question: text,
        answer: None,
        created_at: ctx.now,
        answered_at: None,
    };
    tx.insert_question(&question).await?;
    ctx.emit(Event::new(
        EventData::TaskQuestion(QuestionRef {
            question_id: question.id.clone(),
        }),
        &task.id,
        &task.poster_id,
    ));
    Ok(question)
}

/// The poster answers a question, once.
pub async fn answer(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    poster: &str,
    task_id: &str,
    question_id: &str,
    req: AnswerRequest,
) -> Result<Question> {
    let text = validate::required_text("answer", req.answer.as_deref(), MAX_ANSWER)?;
    let task = discussable(tx, poster, task_id, false).await?;
    if task.poster_id != poster {
        return Err(Error::forbidden("Only the poster can answer questions"));
    }
    let question = tx
        .question(question_id)
        .await?
        .filter(|q| q.task_id == task.id)
        .ok_or_else(|| Error::not_found("Question not found"))?;
    if !tx.answer_question(question_id, &text, ctx.now).await? {
        return Err(Error::conflict("Question already answered"));
    }
    ctx.emit(Event::new(
        EventData::QuestionAnswered(QuestionRef {
            question_id: question.id.clone(),
        }),
        &task.id,
        &question.asker_id,
    ));
    Ok(Question {
        answer: Some(text),
        answered_at: Some(ctx.now),
        ..question
    })
}

/// The questions on a task, for its parties, for anyone while it is open, and for askers.
pub async fn questions(
    tx: &mut Transaction<'_>,
    viewer: &str,
    task_id: &str,
) -> Result<Vec<Question>> {
    let questions = tx.questions_of(task_id).await?;
    let asked = questions.iter().any(|q| q.asker_id == viewer);
    discussable(tx, viewer, task_id, asked).await?;
    Ok(questions)
}

/// The poster and the current worker write to each other while the task is claimed or
/// delivered. The thread belongs to the current assignment.
pub async fn send_message(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    sender: &str,
    task_id: &str,
    req: MessageRequest,
) -> Result<Message> {
    let text = validate::required_text("message", req.message.as_deref(), MAX_MESSAGE)?;
    let task = super::tasks::visible_task(tx, sender, task_id).await?;
    let (TaskStatus::Claimed | TaskStatus::Delivered, Some(assignment), Some(worker)) = (
        task.status,
        task.assignment.as_deref(),
        task.worker_id.as_deref(),
    ) else {
        return Err(Error::conflict(format!(
            "Task is {}, messages only allowed on claimed/delivered tasks",
            task.status
        )));
    };
    let message = Message {
        id: new_id("msg"),
        task_id: task.id.clone(),
        sender_id: sender.into(),
        message: text,
        created_at: ctx.now,
    };
    tx.insert_message(&message, assignment).await?;
    let other = if sender == task.poster_id {
        worker
    } else {
        task.poster_id.as_str()
    };
    ctx.emit(Event::new(
        EventData::TaskMessage(MessageRef {
            message_id: message.id.clone(),
        }),
        &task.id,
        other,
    ));
    Ok(message)
}

/// The current assignment's thread, for the poster and the current worker only.
pub async fn messages(
    tx: &mut Transaction<'_>,
    viewer: &str,
    task_id: &str,
    page: &Page,
) -> Result<Paged<Message>> {
    let task = super::tasks::visible_task(tx, viewer, task_id).await?;
    match task.assignment.as_deref() {
        Some(assignment) => Ok(tx.messages_of(&task.id, assignment, page).await?),
        None => Ok(Paged::counted(Vec::new(), 0)),
    }
}

/// The worker rates the poster after approval, once.
pub async fn rate(
    tx: &mut Transaction<'_>,
    ctx: &mut Ctx,
    worker: &str,
    task_id: &str,
    req: &RateRequest,
) -> Result<Task> {
    let Some(rating) = validate::in_range("rating", req.rating, 1, 5)? else {
        return Err(Error::invalid("Missing required field: rating"));
    };
    validate::optional_text("feedback", req.feedback.as_deref(), validate::MAX_REASON)?;
    let task = super::tasks::visible_task(tx, worker, task_id).await?;
    if task.status != TaskStatus::Approved {
        return Err(Error::conflict(format!(
            "Task is {}, not approved",
            task.status
        )));
    }
    if task.worker_id.as_deref() != Some(worker) {
        return Err(Error::not_your_task());
    }
    if task.poster_id == PLATFORM_AGENT_ID {
        return Err(Error::conflict(
            "System work is not rated: the platform has no reputation",
        ));
    }
    if !tx
        .insert_rating(&task.id, worker, &task.poster_id, rating, ctx.now)
        .await?
    {
        return Err(Error::conflict("Already rated"));
    }
    tx.refresh_reputation(&task.poster_id).await?;
    adjust_trust(tx, ctx, worker, &task.poster_id, rating >= 3, false).await?;
    Ok(task)
}

/// Anyone who can see a task may report it.
pub async fn report(
    tx: &mut Transaction<'_>,
    ctx: &Ctx,
    reporter: &str,
    task_id: &str,
    req: &ReportRequest,
) -> Result<String> {
    let reason = req
        .reason
        .as_deref()
        .ok_or_else(|| Error::invalid("Missing reason"))?;
    validate::max_chars("reason", reason, validate::MAX_REASON)?;
    let task = discussable(tx, reporter, task_id, false).await?;
    let id = new_id("rp");
    tx.insert_report(&id, &task.id, reporter, reason, ctx.now)
        .await?;
    Ok(id)
}

/// Moves `truster`'s private trust in `trusted` after an outcome between them: from 0.5, up
/// by `0.1·(1 − s)` after a good one, down to `0.9·s` after a bad one (6 decimals); when
/// `mutual`, `trusted`'s in `truster` too. One statement, so outcomes recorded at once on
/// several nodes all count. The platform neither trusts nor is trusted.
pub async fn adjust_trust(
    tx: &mut Transaction<'_>,
    ctx: &Ctx,
    truster: &str,
    trusted: &str,
    good: bool,
    mutual: bool,
) -> Result<()> {
    if truster == PLATFORM_AGENT_ID || trusted == PLATFORM_AGENT_ID {
        return Ok(());
    }
    Ok(tx
        .adjust_trust(truster, trusted, good, mutual, ctx.now)
        .await?)
}
