//! One error type for the HTTP layer, mapped to RFC 9457 problem details in one place.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use muster_domain::potential::import::RowProblem;
use muster_domain::region_import::ImportProblem;
use muster_storage::StorageError;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub(crate) enum WebError {
    #[error("sign in first")]
    Unauthenticated,
    #[error("the form is stale or was not sent from Muster; reload the page and try again")]
    Csrf,
    #[error("too many sign-in attempts; wait a minute")]
    RateLimited,
    #[error("the username or password is wrong")]
    BadCredentials,
    /// `message_zh`: the same in Chinese, for the Chinese pages, where there is one.
    #[error("{field}: {message}")]
    BadRequest {
        field: String,
        message: String,
        message_zh: Option<String>,
    },
    #[error("the upload is larger than {limit_mib} MiB")]
    TooLarge { limit_mib: usize },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// An RFC 9457 problem document. `type` is stable per kind of error, so clients can act on it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For a rejected import: every problem, by line and column.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<ImportProblem>,
    /// For a rejected spreadsheet of records: every problem, by sheet, row and column.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub row_errors: Vec<RowProblem>,
}

impl WebError {
    pub(crate) fn bad_request(field: &str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            field: field.to_owned(),
            message: message.into(),
            message_zh: None,
        }
    }

    /// A bad request said in English and in Chinese.
    pub(crate) fn refused(field: &str, message: impl Into<String>, zh: impl Into<String>) -> Self {
        Self::BadRequest {
            field: field.to_owned(),
            message: message.into(),
            message_zh: Some(zh.into()),
        }
    }

    /// What a page shows of this error in `locale`: the Chinese text where there is one,
    /// else the problem's detail.
    pub(crate) fn said_in(&self, locale: &str) -> String {
        self.localized_detail(locale)
            .unwrap_or_else(|| self.problem().detail)
    }

    /// The status, the stable type slug and a title.
    pub(crate) fn classify(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            WebError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Authentication required",
            ),
            WebError::Csrf => (StatusCode::FORBIDDEN, "csrf", "Missing or wrong CSRF token"),
            WebError::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many attempts",
            ),
            WebError::BadCredentials => (
                StatusCode::UNAUTHORIZED,
                "bad-credentials",
                "Wrong username or password",
            ),
            WebError::BadRequest { .. } => {
                (StatusCode::BAD_REQUEST, "invalid-input", "Invalid input")
            }
            WebError::TooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "Upload too large",
            ),
            WebError::Storage(e) => match e {
                StorageError::NotFound { .. } => (StatusCode::NOT_FOUND, "not-found", "Not found"),
                StorageError::OutOfScope { .. } => {
                    (StatusCode::FORBIDDEN, "out-of-scope", "Outside your region")
                }
                StorageError::Forbidden(_) => (
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "Not allowed for your role",
                ),
                StorageError::Transition(e) if e.field().is_some() => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-input",
                    "Invalid input",
                ),
                StorageError::Conflict { .. } | StorageError::Transition(_) => {
                    (StatusCode::CONFLICT, "conflict", "Conflict")
                }
                StorageError::Invalid { .. } | StorageError::Refused { .. } => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-input",
                    "Invalid input",
                ),
                StorageError::SheetRejected(_) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "sheet-rejected",
                    "Spreadsheet rejected",
                ),
                StorageError::ImportRejected(_) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "import-rejected",
                    "Import rejected",
                ),
                StorageError::BadUrl(_)
                | StorageError::Database(_)
                | StorageError::Migrate(_)
                | StorageError::Backup(_) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                ),
            },
        }
    }

    /// The problem's detail in the reader's language where it has been written in it (the
    /// survey transitions); None where only [`Self::problem`]'s English exists.
    pub(crate) fn localized_detail(&self, locale: &str) -> Option<String> {
        match self {
            WebError::Storage(StorageError::Transition(e)) if locale.starts_with("zh") => {
                Some(e.zh())
            }
            WebError::Storage(StorageError::Refused {
                field, message_zh, ..
            }) if locale.starts_with("zh") => Some(format!("{field}：{message_zh}")),
            WebError::BadRequest {
                field,
                message_zh: Some(zh),
                ..
            } if locale.starts_with("zh") => Some(format!("{field}：{zh}")),
            WebError::Storage(StorageError::Conflict {
                message_zh: Some(zh),
                ..
            }) if locale.starts_with("zh") => Some(zh.clone()),
            _ => None,
        }
    }

    pub(crate) fn problem(&self) -> Problem {
        let (status, slug, title) = self.classify();
        if status.is_server_error() {
            // The cause chain goes to the log, never to the client.
            let mut causes = Vec::new();
            let mut source: Option<&dyn std::error::Error> = Some(self);
            while let Some(error) = source {
                causes.push(error.to_string());
                source = error.source();
            }
            tracing::error!(causes = ?causes, "request failed");
        }
        let detail = if status.is_server_error() {
            "Something went wrong on the server; it has been logged.".to_owned()
        } else {
            self.to_string()
        };
        let field = match self {
            WebError::BadRequest { field, .. } => Some(field.clone()),
            WebError::Storage(
                StorageError::Invalid { field, .. }
                | StorageError::Conflict { field, .. }
                | StorageError::Refused { field, .. },
            ) => Some((*field).to_owned()),
            WebError::Storage(StorageError::Transition(e)) => {
                Some(e.field().unwrap_or("status").to_owned())
            }
            _ => None,
        };
        let errors = match self {
            WebError::Storage(StorageError::ImportRejected(problems)) => problems.0.clone(),
            _ => Vec::new(),
        };
        let row_errors = match self {
            WebError::Storage(StorageError::SheetRejected(problems)) => problems.0.clone(),
            _ => Vec::new(),
        };
        Problem {
            problem_type: format!("https://muster.invalid/problems/{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            field,
            errors,
            row_errors,
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(problem)).into_response();
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}
