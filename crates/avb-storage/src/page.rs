//! Cursor pagination over time-ordered (UUIDv7) ids, newest first.

use uuid::Uuid;

/// A page request: at most `limit` rows strictly older than `after`.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// Rows to return (already clamped by the caller to 1..=200).
    pub limit: u64,
    /// Id of the last row of the previous page.
    pub after: Option<Uuid>,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: 50,
            after: None,
        }
    }
}

/// One page of rows and the cursor for the next, if any.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Id to pass as `after` for the next page.
    pub next: Option<Uuid>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows.
    pub fn from_rows(mut rows: Vec<T>, limit: u64, id: impl Fn(&T) -> Uuid) -> Self {
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let next = if more { rows.last().map(&id) } else { None };
        Self { items: rows, next }
    }

    /// Maps the rows, keeping the cursor.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}
