//! What a route reads and answers, taken from its handler's own types at compile time, so the
//! published document cannot drift from the code.
//!
//! - Each argument type of a handler is an [`Input`]: [`Body<T>`] reports the request body `T`,
//!   [`Query<T>`] the query parameters `T`, the rest (state, key, path, headers) nothing.
//! - The handler's return type is an [`Output`]: [`Reply<T>`] reports `T`, [`Events<T>`] (an
//!   SSE stream) the `T` of its frames, `Json<T>` `T`, `(headers, T)` what `T` does,
//!   [`Either`] both of its sides in order, a `Result` its `Ok` side, untyped responses (documents, redirects, streams,
//!   protocols that render themselves) nothing.
//! - [`Documented`] is implemented for every `async fn` handler whose arguments are `Input`s and
//!   whose output is an `Output` (as axum's `Handler` is, by arity): `routes()` takes it from the
//!   handler itself, so the route table names no request body, query or response type of its own
//!   for typed handlers; a handler that reads a body of type `A` publishes `A`, and one whose
//!   signature answers `Reply<B>` publishes `B` (and its body cannot build another reply: it would
//!   not compile).
//!
//! A handler's body builds the reply its signature names…
//!
//! ```
//! use pinchwork_client::types::Health;
//! use pinchwork_server::api::negotiate::Reply;
//! async fn health() -> Reply<Health> {
//!     Reply::ok(&Health { status: "ok".into(), version: "1".into() })
//! }
//! ```
//!
//! …and no other: the same handler answering another type does not compile.
//!
//! ```compile_fail,E0308
//! use pinchwork_client::types::{ErrorBody, Health};
//! use pinchwork_server::api::negotiate::Reply;
//! async fn health() -> Reply<Health> {
//!     Reply::ok(&ErrorBody { error: "no".into() })
//! }
//! ```
//!
//! The escape hatches are named: a handler that reads the raw request (`Request`, e.g. the
//! A2A JSON-RPC endpoint) may describe its body with `Route::parses_body`, and one that answers
//! an untyped `Response` (the A2A endpoint, which renders JSON-RPC itself) may describe it with
//! `Route::answers`; both refuse typed handlers (a unit test builds the table).

use super::admin::Admin;
use super::auth::Auth;
use super::negotiate::{Body, Either, Events, Path, Query, Reply};
use super::{Shape, shape};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::{Html, Redirect, Response, Sse};
use schemars::JsonSchema;
use std::future::Future;

/// An argument of a handler, as the document sees it.
pub trait Input {
    /// The request body's type, when this argument reads it.
    fn body() -> Option<Shape> {
        None
    }
    /// The query parameters' type, when this argument reads them.
    fn query() -> Option<Shape> {
        None
    }
    /// Whether this argument takes the raw request (the handler parses the body itself).
    fn raw() -> bool {
        false
    }
}

impl<T: JsonSchema> Input for Body<T> {
    fn body() -> Option<Shape> {
        Some(shape::<T>)
    }
}

impl<T: JsonSchema> Input for Query<T> {
    fn query() -> Option<Shape> {
        Some(shape::<T>)
    }
}

impl Input for Request {
    fn raw() -> bool {
        true
    }
}

impl<T> Input for Path<T> {}
impl<S> Input for State<S> {}
impl Input for Auth {}
impl Input for Admin {}
impl Input for HeaderMap {}
impl<T> Input for axum::Extension<T> {}

/// A handler's return type, as the document sees it: the types of its successful bodies, in
/// order.
pub trait Output {
    fn schemas() -> Vec<Shape> {
        Vec::new()
    }
}

impl<T: JsonSchema> Output for Reply<T> {
    fn schemas() -> Vec<Shape> {
        vec![shape::<T>]
    }
}

impl<T: JsonSchema> Output for Events<T> {
    fn schemas() -> Vec<Shape> {
        vec![shape::<T>]
    }
}

/// Always JSON.
impl<T: JsonSchema> Output for axum::Json<T> {
    fn schemas() -> Vec<Shape> {
        vec![shape::<T>]
    }
}

/// An answer with headers set beside it.
impl<H, T: Output> Output for (H, T) {
    fn schemas() -> Vec<Shape> {
        T::schemas()
    }
}

impl<A: Output, B: Output> Output for Either<A, B> {
    fn schemas() -> Vec<Shape> {
        let mut all = A::schemas();
        all.extend(B::schemas());
        all
    }
}

impl<T: Output, E> Output for Result<T, E> {
    fn schemas() -> Vec<Shape> {
        T::schemas()
    }
}

impl Output for Response {}
impl Output for Redirect {}
impl<T> Output for Html<T> {}
impl<S> Output for Sse<S> {}

/// What the document takes from a handler's types.
pub trait Documented<Args> {
    fn body() -> Option<Shape>;
    fn query() -> Option<Shape>;
    fn raw() -> bool;
    fn responses() -> Vec<Shape>;
}

macro_rules! documented {
    ($($arg:ident),*) => {
        impl<F, Fut, $($arg,)*> Documented<($($arg,)*)> for F
        where
            F: FnOnce($($arg),*) -> Fut,
            Fut: Future,
            Fut::Output: Output,
            $($arg: Input,)*
        {
            fn body() -> Option<Shape> {
                None$(.or_else($arg::body))*
            }
            fn query() -> Option<Shape> {
                None$(.or_else($arg::query))*
            }
            fn raw() -> bool {
                false $(|| $arg::raw())*
            }
            fn responses() -> Vec<Shape> {
                <Fut::Output as Output>::schemas()
            }
        }
    };
}

documented!();
documented!(A1);
documented!(A1, A2);
documented!(A1, A2, A3);
documented!(A1, A2, A3, A4);
documented!(A1, A2, A3, A4, A5);
documented!(A1, A2, A3, A4, A5, A6);

#[cfg(test)]
mod tests {
    use super::super::{Access, Media, Route, route};
    use super::*;
    use crate::error::Result;
    use axum::http::Method;
    use pinchwork_api::query::Page;
    use pinchwork_client::types::{AgentSelf, RejectRequest, TaskView};
    use schemars::SchemaGenerator;

    async fn typed(
        State(_): State<crate::app::AppState>,
        _: Auth,
        Query(_): Query<Page>,
        Body(_): Body<RejectRequest>,
    ) -> Result<Either<Reply<TaskView>, Reply<AgentSelf>>> {
        Ok(Either::Left(Reply::no_content()))
    }

    async fn raw(_: Request) -> Response {
        Response::default()
    }

    fn typed_route() -> Route {
        route(Method::POST, "/t", Access::Agent, None, "typed", typed)
    }

    /// The schema a shape generates, and the one of `T`, in the same generator.
    fn same<T: JsonSchema>(shape: Option<Shape>) -> bool {
        let mut generator = SchemaGenerator::default();
        let published = shape.expect("a shape")(&mut generator);
        published == generator.subschema_for::<T>()
    }

    #[test]
    fn a_route_publishes_its_handlers_types() {
        let r = typed_route().ok().created().published();
        assert!(
            same::<RejectRequest>(r.body),
            "the body is the handler's Body<T>"
        );
        assert!(same::<Page>(r.query), "the query is the handler's Query<T>");
        assert!(!same::<AgentSelf>(r.body), "and not another type");
        let answers: Vec<(u16, Option<Shape>)> =
            r.outcomes.iter().map(|o| (o.status, o.schema)).collect();
        assert!(same::<TaskView>(answers[0].1) && answers[0].0 == 200);
        assert!(same::<AgentSelf>(answers[1].1) && answers[1].0 == 201);
    }

    #[test]
    #[should_panic(expected = "the body type comes from the handler's Body<T>")]
    fn a_typed_handlers_body_cannot_be_described_by_the_table() {
        typed_route().parses_body::<AgentSelf>();
    }

    #[test]
    #[should_panic(expected = "the answer type comes from the handler's Reply<T>")]
    fn a_typed_handlers_answers_cannot_be_described_by_the_table() {
        typed_route().answers::<AgentSelf>(200, Media::Json, "OK");
    }

    #[test]
    #[should_panic(expected = "answers 1 more type(s) than the table publishes")]
    fn every_answer_of_the_handler_is_published() {
        typed_route().ok().published();
    }

    #[test]
    #[should_panic(expected = "names no answer of the handler")]
    fn the_table_publishes_no_answer_the_handler_does_not_give() {
        typed_route().ok().created().ok();
    }

    #[test]
    fn a_raw_handler_describes_its_body_and_answers_in_the_table() {
        let r = route(Method::POST, "/r", Access::Agent, None, "raw", raw)
            .parses_body::<RejectRequest>()
            .answers::<TaskView>(200, Media::Json, "OK")
            .published();
        assert!(same::<RejectRequest>(r.body));
        assert!(same::<TaskView>(r.outcomes[0].schema));
    }

    async fn streaming() -> Result<Events<TaskView>> {
        Ok(Events::new(
            futures_util::stream::empty(),
            Default::default(),
        ))
    }

    #[test]
    fn a_stream_publishes_the_type_of_its_frames() {
        let r = route(Method::GET, "/s", Access::Agent, None, "s", streaming)
            .streams()
            .published();
        assert_eq!(r.outcomes[0].media, Media::EventStream);
        assert!(same::<TaskView>(r.outcomes[0].schema));
    }

    #[test]
    fn the_table_builds() {
        // Every route's declared outcomes match its handler's answers (a mismatch panics).
        assert!(!super::super::routes().is_empty());
    }
}
