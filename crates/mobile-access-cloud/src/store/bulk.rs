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

/// The rows of several tables (`(target, rows)` as for [`insert_rows`]) in one statement when
/// their parameters fit in one: on SQLite the inserts one after the other in one query, on
/// PostgreSQL all but the last as data-modifying `WITH` clauses of the last. Otherwise each table
/// as [`insert_rows`] does. Why: each statement is a hand-off to SQLite's connection thread or a
/// round trip to PostgreSQL, and the key writer, whose batches set the rate of key issuance,
/// waited on each in turn.
pub(super) async fn insert_into_tables(
    conn: &mut AnyConnection,
    backend: Backend,
    tables: Vec<(&str, Vec<Vec<Param>>)>,
) -> Result<()> {
    let tables: Vec<(&str, Vec<Vec<Param>>)> = tables.into_iter().filter(|(_, rows)| !rows.is_empty()).collect();
    let params: usize = tables.iter().flat_map(|(_, rows)| rows).map(Vec::len).sum();
    if tables.len() < 2 || params > MAX_PARAMS {
        for (target, rows) in tables {
            insert_rows(conn, backend, target, rows).await?;
        }
        return Ok(());
    }
    let mut sql = String::new();
    let mut n = 1;
    let last = tables.len() - 1;
    for (t, (target, rows)) in tables.iter().enumerate() {
        let statement = values_statement(backend, target, rows, &mut n);
        match backend {
            Backend::Sqlite => {
                sql.push_str(&statement);
                sql.push_str("; ");
            }
            Backend::Postgres if t == last => sql.push_str(&statement),
            Backend::Postgres => {
                sql.push_str(if t == 0 { "WITH " } else { ", " });
                sql.push_str(&format!("written_{t} AS ({statement})"));
                sql.push(' ');
            }
        }
    }
    let mut query = sqlx::query(&sql);
    for param in tables.into_iter().flat_map(|(_, rows)| rows).flatten() {
        query = bind(query, param);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// `INSERT INTO <target> VALUES (...), (...)` for `rows`, its placeholders numbered from `*n`
/// (moved past them).
fn values_statement(backend: Backend, target: &str, rows: &[Vec<Param>], n: &mut usize) -> String {
    let mut sql = format!("INSERT INTO {target} VALUES ");
    for (i, row) in rows.iter().enumerate() {
        sql.push_str(if i == 0 { "(" } else { ", (" });
        sql.push_str(&placeholders(backend, *n, row.len()));
        *n += row.len();
        sql.push(')');
    }
    sql
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
        let mut sql = values_statement(backend, target, &chunk, &mut 1);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use sqlx::{Connection as _, Row as _};

    use super::*;

    /// An in-memory SQLite connection, and one to PostgreSQL when `DATABASE_URL` points at one,
    /// each with two empty temporary tables.
    async fn connections() -> Vec<(Backend, AnyConnection)> {
        sqlx::any::install_default_drivers();
        let mut urls = vec![(Backend::Sqlite, "sqlite::memory:".to_owned())];
        if let Ok(url) = std::env::var("DATABASE_URL")
            && url.starts_with("postgres")
        {
            urls.push((Backend::Postgres, url));
        }
        let mut connections = Vec::new();
        for (backend, url) in urls {
            let mut conn = AnyConnection::connect(&url).await.unwrap();
            for table in ["CREATE TEMPORARY TABLE a (k TEXT, v BIGINT)", "CREATE TEMPORARY TABLE b (k TEXT)"] {
                sqlx::query(table).execute(&mut conn).await.unwrap();
            }
            connections.push((backend, conn));
        }
        connections
    }

    async fn rows(conn: &mut AnyConnection, sql: &str) -> Vec<String> {
        sqlx::query(sql).fetch_all(conn).await.unwrap().iter().map(|row| row.get::<String, _>(0)).collect()
    }

    #[tokio::test]
    async fn rows_of_several_tables_land_in_their_tables_in_one_statement_or_past_the_limit_in_several() {
        for (backend, mut conn) in connections().await {
            // Few enough parameters for one statement; a table without rows is left out.
            let a = (0..3).map(|i| vec![Param::Text(format!("a{i}")), Param::Int(i)]).collect();
            let b = vec![vec![Param::Text("b0".to_owned())]];
            let tables = vec![("a (k, v)", a), ("b (k)", Vec::new()), ("b (k)", b)];
            insert_into_tables(&mut conn, backend, tables).await.unwrap();
            assert_eq!(rows(&mut conn, "SELECT k || ':' || v FROM a ORDER BY v").await, ["a0:0", "a1:1", "a2:2"]);
            assert_eq!(rows(&mut conn, "SELECT k FROM b").await, ["b0"]);

            // More parameters than one statement takes: each table on its own, all rows kept.
            let many = MAX_PARAMS / 2 + 1;
            let a = (0..many).map(|i| vec![Param::Text("big".to_owned()), Param::Int(i as i64)]).collect();
            let b = vec![vec![Param::Text("b1".to_owned())]];
            insert_into_tables(&mut conn, backend, vec![("a (k, v)", a), ("b (k)", b)]).await.unwrap();
            let count = rows(&mut conn, "SELECT CAST(COUNT(*) AS TEXT) FROM a WHERE k = 'big'").await;
            assert_eq!(count, [many.to_string()], "{backend:?}");
            assert_eq!(rows(&mut conn, "SELECT k FROM b ORDER BY k").await, ["b0", "b1"]);
        }
    }
}
