//! Questions, messages, ratings, reports and trust.

use super::auth::Auth;
use super::negotiate::{Body, BodyText, Path, Query, Reply};
use super::views;
use crate::app::AppState;
use crate::error::Result;
use crate::market::social as rules;
use axum::extract::State;
use pinchwork_client::limits::MAX_PAGE_LIMIT;
use pinchwork_client::query::Page;
use pinchwork_client::types::{
    AnswerRequest, AskRequest, MessageList, MessageRequest, QuestionList, RateRequest,
    RateResponse, ReportRequest, ReportResponse, TrustList,
};
use pinchwork_client::types::{Message, Question};

impl BodyText for AskRequest {
    const TEXT_FIELD: &'static str = "question";
}
impl BodyText for AnswerRequest {
    const TEXT_FIELD: &'static str = "answer";
}
impl BodyText for MessageRequest {
    const TEXT_FIELD: &'static str = "message";
}
impl BodyText for RateRequest {}
impl BodyText for ReportRequest {
    const TEXT_FIELD: &'static str = "reason";
}

pub async fn ask(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Path(task_id): Path<String>,
    Body(req): Body<AskRequest>,
) -> Result<Reply<Question>> {
    let q = s
        .write(move |tx, ctx| {
            Box::pin(async move { rules::ask(tx, ctx, &agent.id, &task_id, req).await })
        })
        .await?;
    Ok(Reply::created(&views::question(&q)))
}

pub async fn answer(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Path((task_id, question_id)): Path<(String, String)>,
    Body(req): Body<AnswerRequest>,
) -> Result<Reply<Question>> {
    let q = s
        .write(move |tx, ctx| {
            Box::pin(
                async move { rules::answer(tx, ctx, &agent.id, &task_id, &question_id, req).await },
            )
        })
        .await?;
    Ok(Reply::ok(&views::question(&q)))
}

pub async fn questions(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Path(task_id): Path<String>,
) -> Result<Reply<QuestionList>> {
    let list = s
        .read(move |tx| Box::pin(async move { rules::questions(tx, &agent.id, &task_id).await }))
        .await?;
    Ok(Reply::ok(&QuestionList {
        total: list.len() as i64,
        questions: list.iter().map(views::question).collect(),
    }))
}

pub async fn send_message(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Path(task_id): Path<String>,
    Body(req): Body<MessageRequest>,
) -> Result<Reply<Message>> {
    let m = s
        .write(move |tx, ctx| {
            Box::pin(async move { rules::send_message(tx, ctx, &agent.id, &task_id, req).await })
        })
        .await?;
    Ok(Reply::created(&views::message(&m)))
}

pub async fn messages(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Path(task_id): Path<String>,
    Query(q): Query<Page>,
) -> Result<Reply<MessageList>> {
    let page = super::page(q, MAX_PAGE_LIMIT)?;
    let list = s
        .read(move |tx| {
            Box::pin(async move { rules::messages(tx, &agent.id, &task_id, &page).await })
        })
        .await?;
    Ok(Reply::ok(&MessageList {
        total: list.total,
        messages: list.items.iter().map(views::message).collect(),
        next_cursor: list.next_cursor,
        total_capped: list.total_capped,
    }))
}

pub async fn rate(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Path(task_id): Path<String>,
    Body(req): Body<RateRequest>,
) -> Result<Reply<RateResponse>> {
    let (rating, feedback) = (req.rating.unwrap_or_default(), req.feedback.clone());
    let task = s
        .write(move |tx, ctx| {
            Box::pin(async move { rules::rate(tx, ctx, &agent.id, &task_id, &req).await })
        })
        .await?;
    Ok(Reply::created(&RateResponse {
        task_id: task.id,
        rated_id: task.poster_id,
        rating,
        feedback: feedback.filter(|f| !f.is_empty()),
    }))
}

pub async fn report(
    State(s): State<AppState>,
    Auth(agent): Auth,
    Path(task_id): Path<String>,
    Body(req): Body<ReportRequest>,
) -> Result<Reply<ReportResponse>> {
    let reason = req.reason.clone().unwrap_or_default();
    let (id, task) = (task_id.clone(), task_id);
    let report_id = s
        .write(move |tx, ctx| {
            Box::pin(async move { rules::report(tx, ctx, &agent.id, &id, &req).await })
        })
        .await?;
    Ok(Reply::created(&ReportResponse {
        report_id,
        task_id: task,
        reason,
        status: "open".into(),
    }))
}

pub async fn trust(State(s): State<AppState>, Auth(agent): Auth) -> Result<Reply<TrustList>> {
    let scores = s
        .read(move |tx| Box::pin(async move { tx.trust_of(&agent.id).await }))
        .await?;
    Ok(Reply::ok(&TrustList {
        total: scores.len() as i64,
        trust_scores: scores.iter().map(views::trust_score).collect(),
    }))
}
