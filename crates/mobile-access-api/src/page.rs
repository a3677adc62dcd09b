//! Paging of list routes.

use serde::{Deserialize, Serialize};

use crate::OutOfRange;

/// A page of a list. Pass `next` as `?after=` to get the following page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Cursor of the next page, `None` on the last.
    pub next: Option<String>,
}

/// The most items one page may hold (`?limit=`).
pub const MAX_PAGE_LIMIT: u32 = 1000;
/// Items on a page without `?limit=`.
pub const DEFAULT_PAGE_LIMIT: u32 = 100;

/// `?limit=&after=` of list routes.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// At most this many items (1 to 1000, default 100).
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub after: Option<String>,
}

impl PageQuery {
    /// The effective limit.
    pub fn limit(&self) -> Result<i64, OutOfRange> {
        match self.limit {
            None => Ok(i64::from(DEFAULT_PAGE_LIMIT)),
            Some(n @ 1..=MAX_PAGE_LIMIT) => Ok(i64::from(n)),
            Some(_) => Err(OutOfRange(format!("limit must be between 1 and {MAX_PAGE_LIMIT}"))),
        }
    }
}
