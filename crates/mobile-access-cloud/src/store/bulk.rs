//! Multi-row statements, so syncing 100 000 members costs hundreds of round trips, not hundreds
//! of thousands.

use sqlx::{AnyConnection, any::AnyArguments, query::Query};

use super::Backend;
use crate::Result;

/// Bound parameters per statement: below SQLite's 32 766 and PostgreSQL's 65 535.
const MAX_PARAMS: usize = 16_000;

/// The `n`-th (1-based) bound parameter, in the syntax `backend` resolves fastest. SQLite treats
/// `$N` as a name and looks each one up linearly, which is quadratic over a long VALUES list
/// (seconds for 10 000 rows), so SQLite gets anonymous `?`, bound in order.
pub(super) fn placeholder(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => "?".to_owned(),
        Backend::Postgres => format!("${n}"),
    }
}

/// `count` placeholders from the `start`-th, comma-separated.
pub(super) fn placeholders(backend: Backend, start: usize, count: usize) -> String {
    (start..start + count).map(|n| placeholder(backend, n)).collect::<Vec<_>>().join(", ")
}

/// One bound value.
#[derive(Debug, Clone)]
pub(super) enum Param {
    Text(String),
    Int(i64),
    Bytes(Vec<u8>),
    OptBytes(Option<Vec<u8>>),
    OptText(Option<String>),
}

pub(super) fn bind<'a>(
    query: Query<'a, sqlx::Any, AnyArguments<'a>>,
    param: Param,
) -> Query<'a, sqlx::Any, AnyArguments<'a>> {
    match param {
        Param::Text(v) => query.bind(v),
        Param::Int(v) => query.bind(v),
        Param::Bytes(v) => query.bind(v),
        Param::OptBytes(v) => query.bind(v),
        Param::OptText(v) => query.bind(v),
    }
}

/// `INSERT INTO <target> VALUES (...), (...)` in as few statements as the parameter limit
/// allows. `target` is `table (col, ...)`; every row has one value per column.
pub(super) async fn insert_rows(
    conn: &mut AnyConnection,
    backend: Backend,
    target: &str,
    rows: Vec<Vec<Param>>,
) -> Result<()> {
    insert_rows_with(conn, backend, target, "", rows).await
}

/// Same, with a trailing clause such as `ON CONFLICT DO NOTHING`.
pub(super) async fn insert_rows_with(
    conn: &mut AnyConnection,
    backend: Backend,
    target: &str,
    suffix: &str,
    rows: Vec<Vec<Param>>,
) -> Result<()> {
    let Some(width) = rows.first().map(Vec::len).filter(|w| *w > 0) else { return Ok(()) };
    let per_statement = (MAX_PARAMS / width).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Param>> = rows.by_ref().take(per_statement).collect();
        let mut sql = format!("INSERT INTO {target} VALUES ");
        let mut n = 1;
        for (i, row) in chunk.iter().enumerate() {
            sql.push_str(if i == 0 { "(" } else { ", (" });
            sql.push_str(&placeholders(backend, n, row.len()));
            n += row.len();
            sql.push(')');
        }
        sql.push(' ');
        sql.push_str(suffix);
        let mut query = sqlx::query(&sql);
        for param in chunk.into_iter().flatten() {
            query = bind(query, param);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}
