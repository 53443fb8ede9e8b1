//! The one error type the HTTP handlers return, rendered as a JSON body.
//!
//! Clients always get `{"error": "..."}` with a status that says whose fault it was;
//! nothing internal (paths, panics, stack traces) is ever sent.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A request the server refuses, and why.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body was not the JSON the route expects.
    #[error("{message}")]
    BadBody {
        /// 400, 413, 415 or 422, as axum's rejection decided.
        status: StatusCode,
        /// What was wrong, for the client.
        message: String,
    },
    /// `value + 1` does not fit in a 64-bit signed integer.
    #[error("`value` {0} cannot be incremented: the result does not fit in a 64-bit integer")]
    Overflow(i64),
    /// No route has this path.
    #[error("no route for {method} {path}")]
    NotFound {
        /// The request method.
        method: String,
        /// The request path.
        path: String,
    },
    /// The route exists but not for this method.
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed {
        /// The request method.
        method: String,
        /// The request path.
        path: String,
    },
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadBody { status, .. } => *status,
            Self::Overflow(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let message = match &rejection {
            JsonRejection::MissingJsonContentType(_) => {
                "the body must be JSON, sent with `Content-Type: application/json`".to_string()
            }
            JsonRejection::BytesRejection(_) => {
                "the body is too large or could not be read".to_string()
            }
            other => other.body_text(),
        };
        Self::BadBody {
            status: rejection.status(),
            message,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        tracing::debug!(%status, error = %self, "request refused");
        (
            status,
            Json(ErrorBody {
                error: self.to_string(),
            }),
        )
            .into_response()
    }
}
