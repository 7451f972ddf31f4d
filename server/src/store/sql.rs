//! Running one statement on whichever backend a transaction is on. A statement is written
//! once, with PostgreSQL's `$n` parameter markers (SQLite reads them as `?n`); its values are
//! `Cell`s, bound by either driver; rows are read by column name through `Cells`.

use super::query::{Dialect, Query};
use super::{Result, StoreError};
use std::cell::Cell as Slot;
use std::sync::Mutex;

/// A value to bind, whichever driver binds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
    Real(f64),
    Flag(bool),
    Bytes(Option<Vec<u8>>),
}

impl From<String> for Cell {
    fn from(v: String) -> Self {
        Self::Text(Some(v))
    }
}
impl From<&String> for Cell {
    fn from(v: &String) -> Self {
        Self::Text(Some(v.clone()))
    }
}
impl From<&str> for Cell {
    fn from(v: &str) -> Self {
        Self::Text(Some(v.to_string()))
    }
}
impl From<Option<String>> for Cell {
    fn from(v: Option<String>) -> Self {
        Self::Text(v)
    }
}
impl From<Option<&str>> for Cell {
    fn from(v: Option<&str>) -> Self {
        Self::Text(v.map(str::to_string))
    }
}
impl From<&Option<String>> for Cell {
    fn from(v: &Option<String>) -> Self {
        Self::Text(v.clone())
    }
}
impl From<i64> for Cell {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}
impl From<Option<i64>> for Cell {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}
impl From<f64> for Cell {
    fn from(v: f64) -> Self {
        Self::Real(v)
    }
}
impl From<bool> for Cell {
    fn from(v: bool) -> Self {
        Self::Flag(v)
    }
}

/// The values of a statement, in the order of their markers.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        vec![$($crate::store::sql::Cell::from($value)),*]
    };
}
pub(crate) use args;

/// Reading typed cells off a row by column name, whatever the driver.
pub trait Cells {
    fn text(&self, column: &str) -> Result<String>;
    fn opt_text(&self, column: &str) -> Result<Option<String>>;
    fn int(&self, column: &str) -> Result<i64>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>>;
    fn real(&self, column: &str) -> Result<f64>;
    fn opt_real(&self, column: &str) -> Result<Option<f64>>;
    fn flag(&self, column: &str) -> Result<bool>;
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>>;
}

/// What a transaction runs its statements on.
pub(super) enum Conn<'c> {
    /// The writer's or a reader's connection (locked per statement: never contended, it only
    /// makes the transaction `Send`).
    Sqlite(&'c Mutex<rusqlite::Connection>),
    Postgres(&'c mut sqlx::PgConnection),
}

/// One transaction's view of the database, for the rules (see the area modules for what it
/// offers). Every method is one statement or a small, fixed group of them; the caller decides
/// what is atomic by what it does in one transaction.
pub struct Transaction<'c> {
    conn: Conn<'c>,
    /// Write transactions lock what they read to change (PostgreSQL: `FOR UPDATE`).
    write: bool,
    /// This node's id, which its notifications carry (PostgreSQL).
    node: &'c str,
    /// Statements this job may still run (None: any number); see `Store::write_one`.
    allowance: Option<u32>,
}

impl<'c> Transaction<'c> {
    pub(super) fn new(conn: Conn<'c>, write: bool, node: &'c str) -> Self {
        Self {
            conn,
            write,
            node,
            allowance: None,
        }
    }

    /// Allows one statement only: the job runs outside an explicit transaction.
    pub(super) fn one_statement(mut self) -> Self {
        self.allowance = Some(1);
        self
    }

    /// Counts a statement against the allowance.
    fn spend(&mut self) -> Result<()> {
        match &mut self.allowance {
            Some(0) => Err(StoreError::Unavailable(
                "a single-statement job ran a second statement".into(),
            )),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    pub(super) fn dialect(&self) -> Dialect {
        match self.conn {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Postgres(_) => Dialect::Postgres,
        }
    }

    pub(super) fn writes(&self) -> bool {
        self.write
    }

    pub(super) fn node(&self) -> &str {
        self.node
    }

    /// Runs a statement; returns how many rows it changed.
    pub(super) async fn execute(&mut self, sql: &str, args: Vec<Cell>) -> Result<u64> {
        self.spend()?;
        match &mut self.conn {
            Conn::Sqlite(conn) => {
                let conn = lock(conn);
                let mut stmt = conn.prepare_cached(&sqlite_markers(sql))?;
                Ok(stmt.execute(rusqlite::params_from_iter(args.into_iter().map(value)))? as u64)
            }
            Conn::Postgres(conn) => Ok(bind(sql, args).execute(&mut **conn).await?.rows_affected()),
        }
    }

    /// Every row of a query, each made by `map`.
    pub(super) async fn fetch_all<T>(
        &mut self,
        sql: &str,
        args: Vec<Cell>,
        map: impl Fn(&dyn Cells) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.fetch(sql, args, map, false).await
    }

    /// The first row of a query, if any.
    pub(super) async fn fetch_optional<T>(
        &mut self,
        sql: &str,
        args: Vec<Cell>,
        map: impl Fn(&dyn Cells) -> Result<T>,
    ) -> Result<Option<T>> {
        Ok(self.fetch(sql, args, map, true).await?.pop())
    }

    /// The rows of a query (only the first, if `first`), each made by `map`.
    async fn fetch<T>(
        &mut self,
        sql: &str,
        args: Vec<Cell>,
        map: impl Fn(&dyn Cells) -> Result<T>,
        first: bool,
    ) -> Result<Vec<T>> {
        self.spend()?;
        match &mut self.conn {
            Conn::Sqlite(conn) => {
                let conn = lock(conn);
                let mut stmt = conn.prepare_cached(&sqlite_markers(sql))?;
                let mut rows =
                    stmt.query(rusqlite::params_from_iter(args.into_iter().map(value)))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    out.push(map(&SqliteRow::new(row))?);
                    if first {
                        break;
                    }
                }
                Ok(out)
            }
            Conn::Postgres(conn) if first => {
                let row = bind(sql, args).fetch_optional(&mut **conn).await?;
                row.iter().map(|row| map(row)).collect()
            }
            Conn::Postgres(conn) => bind(sql, args)
                .fetch_all(&mut **conn)
                .await?
                .iter()
                .map(|row| map(row))
                .collect(),
        }
    }

    /// The one row a query always returns (an aggregate, `RETURNING` of an upsert).
    pub(super) async fn fetch_one<T>(
        &mut self,
        sql: &str,
        args: Vec<Cell>,
        map: impl Fn(&dyn Cells) -> Result<T>,
    ) -> Result<T> {
        self.fetch_optional(sql, args, map)
            .await?
            .ok_or_else(|| StoreError::Unavailable(format!("no row from: {sql}")))
    }

    /// The integer column `n` of a query's one row.
    pub(super) async fn count(&mut self, sql: &str, args: Vec<Cell>) -> Result<i64> {
        self.fetch_one(sql, args, |r| r.int("n")).await
    }

    /// The flag column `b` of a query's one row.
    pub(super) async fn check(&mut self, sql: &str, args: Vec<Cell>) -> Result<bool> {
        self.fetch_one(sql, args, |r| r.flag("b")).await
    }

    /// A built query's rows.
    pub(super) async fn fetch_query<T>(
        &mut self,
        q: Query,
        map: impl Fn(&dyn Cells) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.fetch_all(&q.sql, q.args, map).await
    }

    /// Runs a built statement; returns how many rows it changed.
    pub(super) async fn execute_query(&mut self, q: Query) -> Result<u64> {
        self.execute(&q.sql, q.args).await
    }
}

fn lock(conn: &Mutex<rusqlite::Connection>) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
    conn.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `$n` → `?n`: the same numbered parameter in SQLite's spelling (`$` appears in our SQL only
/// as a marker).
fn sqlite_markers(sql: &str) -> std::borrow::Cow<'_, str> {
    if sql.contains('$') {
        sql.replace('$', "?").into()
    } else {
        sql.into()
    }
}

fn value(cell: Cell) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match cell {
        Cell::Text(v) => v.map_or(Value::Null, Value::Text),
        Cell::Int(v) => v.map_or(Value::Null, Value::Integer),
        Cell::Real(v) => Value::Real(v),
        Cell::Flag(v) => Value::Integer(v.into()),
        Cell::Bytes(v) => v.map_or(Value::Null, Value::Blob),
    }
}

type PgQuery = sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments>;

fn bind(sql: &str, args: Vec<Cell>) -> PgQuery {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
    for arg in args {
        q = match arg {
            Cell::Text(v) => q.bind(v),
            Cell::Int(v) => q.bind(v),
            Cell::Real(v) => q.bind(v),
            Cell::Flag(v) => q.bind(v),
            Cell::Bytes(v) => q.bind(v),
        };
    }
    q
}

/// A SQLite row read by column name. Mappers read columns mostly in the order selected, so the
/// search for a name starts where the last one was found: one comparison per cell.
struct SqliteRow<'a> {
    row: &'a rusqlite::Row<'a>,
    next: Slot<usize>,
}

impl<'a> SqliteRow<'a> {
    fn new(row: &'a rusqlite::Row<'a>) -> Self {
        Self {
            row,
            next: Slot::new(0),
        }
    }

    fn index(&self, column: &str) -> Result<usize> {
        let stmt = self.row.as_ref();
        let n = stmt.column_count();
        let start = self.next.get();
        for k in 0..n {
            let i = (start + k) % n;
            if stmt.column_name(i)?.eq_ignore_ascii_case(column) {
                self.next.set(i + 1);
                return Ok(i);
            }
        }
        Err(rusqlite::Error::InvalidColumnName(column.to_string()).into())
    }

    fn get<T: rusqlite::types::FromSql>(&self, column: &str) -> Result<T> {
        Ok(self.row.get(self.index(column)?)?)
    }
}

impl Cells for SqliteRow<'_> {
    fn text(&self, column: &str) -> Result<String> {
        self.get(column)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        self.get(column)
    }
    fn int(&self, column: &str) -> Result<i64> {
        self.get(column)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        self.get(column)
    }
    fn real(&self, column: &str) -> Result<f64> {
        self.get(column)
    }
    fn opt_real(&self, column: &str) -> Result<Option<f64>> {
        self.get(column)
    }
    fn flag(&self, column: &str) -> Result<bool> {
        self.get(column)
    }
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>> {
        self.get(column)
    }
}

impl Cells for sqlx::postgres::PgRow {
    fn text(&self, column: &str) -> Result<String> {
        Ok(sqlx::Row::try_get(self, column)?)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        Ok(sqlx::Row::try_get(self, column)?)
    }
    fn int(&self, column: &str) -> Result<i64> {
        Ok(sqlx::Row::try_get(self, column)?)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        Ok(sqlx::Row::try_get(self, column)?)
    }
    fn real(&self, column: &str) -> Result<f64> {
        Ok(sqlx::Row::try_get(self, column)?)
    }
    fn opt_real(&self, column: &str) -> Result<Option<f64>> {
        Ok(sqlx::Row::try_get(self, column)?)
    }
    fn flag(&self, column: &str) -> Result<bool> {
        Ok(sqlx::Row::try_get(self, column)?)
    }
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::Row::try_get(self, column)?)
    }
}
