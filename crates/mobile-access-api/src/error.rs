//! The body of every error answer: a stable `code` that clients match on, never a message they
//! have to parse, and a message for logs and developers.

use serde::{Deserialize, Serialize};

/// `{"error": {"code": …, "message": …}}`, with any 4xx or 5xx status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// The stable code, e.g. `not_confirmed`, `rate_limited`, `app_update_required`.
    pub code: String,
    /// For people reading logs; 5xx answers say only "internal error".
    pub message: String,
}
