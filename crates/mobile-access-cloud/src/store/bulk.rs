//! Multi-row statements, so syncing 100 000 members costs hundreds of round trips, not hundreds
//! of thousands.

use sqlx::{AnyConnection, any::AnyArguments, query::Query};

use crate::Result;

/// Bound parameters per statement: below SQLite's 32 766 and PostgreSQL's 65 535.
const MAX_PARAMS: usize = 16_000;

/// One bound value.
#[derive(Debug, Clone)]
pub(super) enum Param {
    Text(String),
    Int(i64),
    Bytes(Vec<u8>),
    OptBytes(Option<Vec<u8>>),
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
    }
}

/// `INSERT INTO <target> VALUES (...), (...)` in as few statements as the parameter limit
/// allows. `target` is `table (col, ...)`; every row has one value per column.
pub(super) async fn insert_rows(conn: &mut AnyConnection, target: &str, rows: Vec<Vec<Param>>) -> Result<()> {
    insert_rows_with(conn, target, "", rows).await
}

/// Same, with a trailing clause such as `ON CONFLICT DO NOTHING`.
pub(super) async fn insert_rows_with(
    conn: &mut AnyConnection,
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
        let mut n = 0;
        for (i, row) in chunk.iter().enumerate() {
            sql.push_str(if i == 0 { "(" } else { ", (" });
            for j in 0..row.len() {
                n += 1;
                sql.push_str(&if j == 0 { format!("${n}") } else { format!(", ${n}") });
            }
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
