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
                StorageError::LinkExpired => {
                    (StatusCode::FORBIDDEN, "link-expired", "Link expired")
                }
                StorageError::Transition(e) if e.field().is_some() => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-input",
                    "Invalid input",
                ),
                StorageError::Conflict { .. } | StorageError::Transition(_) => {
                    (StatusCode::CONFLICT, "conflict", "Conflict")
                }
                StorageError::Refused { .. } => (
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

    /// The problem's detail in the reader's language: on a Chinese page every refusal a page
    /// can meet is said in Chinese (only a `Conflict` or a `BadRequest` built without a
    /// Chinese text keeps its English, after a Chinese lead); None in English, where
    /// [`Self::problem`]'s detail is the text.
    pub(crate) fn localized_detail(&self, locale: &str) -> Option<String> {
        if !locale.starts_with("zh") {
            return None;
        }
        let (status, _, _) = self.classify();
        if status.is_server_error() {
            return Some("服务器出错，已记入日志。".to_owned());
        }
        Some(match self {
            WebError::Unauthenticated => "请先登录。".to_owned(),
            WebError::Csrf => "表单已过期或并非由 Muster 发出；请刷新页面后重试。".to_owned(),
            WebError::RateLimited => "登录尝试次数过多，请一分钟后再试。".to_owned(),
            WebError::BadCredentials => "用户名或密码错误。".to_owned(),
            WebError::TooLarge { limit_mib } => format!("上传的文件超过 {limit_mib} MiB。"),
            WebError::BadRequest {
                field,
                message_zh: Some(zh),
                ..
            } => format!("{field}：{zh}"),
            WebError::BadRequest { field, message, .. } => {
                format!("{field}：输入有误（{message}）")
            }
            WebError::Storage(e) => match e {
                StorageError::Transition(e) => e.zh(),
                StorageError::Refused {
                    field, message_zh, ..
                } => format!("{field}：{message_zh}"),
                StorageError::Conflict {
                    message_zh: Some(zh),
                    ..
                } => zh.clone(),
                StorageError::Conflict { message, .. } => format!("操作冲突（{message}）"),
                // A link's token is not said back ("given"): the link itself is the key.
                StorageError::NotFound { entity, key } if key == "given" => {
                    format!("找不到此{}。", entity_zh(entity))
                }
                StorageError::NotFound { entity, key } => {
                    format!("找不到{} {key}。", entity_zh(entity))
                }
                StorageError::OutOfScope { entity, key } => {
                    format!("{} {key} 不在您的辖区内。", entity_zh(entity))
                }
                StorageError::Forbidden(reason) => {
                    format!("您无权执行此操作：{}。", reason.message_zh)
                }
                StorageError::LinkExpired => "此链接已过期，请向办公室索取新的链接。".to_owned(),
                StorageError::SheetRejected(_) => "文件被整体拒收。".to_owned(),
                StorageError::ImportRejected(_) => "导入被整体拒收。".to_owned(),
                StorageError::BadUrl(_)
                | StorageError::Database(_)
                | StorageError::Migrate(_)
                | StorageError::Backup(_) => "服务器出错，已记入日志。".to_owned(),
            },
        })
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
                StorageError::Conflict { field, .. } | StorageError::Refused { field, .. },
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

/// What storage calls a thing (`StorageError::NotFound`'s entity), in Chinese; a name not
/// listed here is shown as it is.
fn entity_zh(entity: &str) -> &str {
    match entity {
        "allocation" => "分配方案",
        "api_token" => "API 令牌",
        "assignment" | "round_assignment" => "报送任务",
        "baseline" => "需求基线",
        "campaign" => "专项行动",
        "checklist" => "检查清单",
        "demand" => "需求",
        "demand line" => "需求明细",
        "facility" => "设施",
        "grid" => "网格",
        "grid member" => "网格员",
        "inspection" => "巡检记录",
        "inspection_schedule" => "巡检计划",
        "order" | "rectification_order" => "整改通知",
        "order link" => "整改通知链接",
        "organization" => "单位",
        "patrol route" | "patrol_route" => "巡查路线",
        "patrol_run" => "巡查",
        "potential record" | "potential_record" => "潜力记录",
        "region" => "行政区划",
        "requisition order" | "requisition_order" => "征用令",
        "requisition link" => "征用通知链接",
        "resource type" | "resource_type" => "资源类型",
        "photo" => "照片",
        "problem list" => "问题清单",
        "file" => "文件",
        "session" => "会话",
        "setting" => "设置",
        "setup_token" => "初始化令牌",
        "site" => "存放地点",
        "submission" => "报送",
        "survey round" | "survey_round" => "调查轮次",
        "sustainment scenario" | "sustainment_scenario" => "持续保障情景",
        "user" => "用户",
        "verification item" | "verification_item" => "核查项",
        "verification sample" | "verification_sample" => "核查样本",
        "version" => "版本",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use axum::http::StatusCode;
    use muster_storage::StorageError;

    use super::{WebError, entity_zh};

    /// A refusal for a role says its reason in Chinese on a Chinese page, with no English
    /// left in, and in English on an English page and in the API's problem, whose status and
    /// type are those of a role's refusal.
    #[test]
    fn a_forbidden_is_said_in_the_readers_language() {
        let forbidden = WebError::Storage(StorageError::forbidden(
            "only office staff open survey rounds",
            "只有动员办工作人员才能发起潜力调查",
        ));
        let chinese = forbidden.said_in("zh-CN");
        assert_eq!(
            chinese,
            "您无权执行此操作：只有动员办工作人员才能发起潜力调查。"
        );
        assert!(
            !chinese.chars().any(|c| c.is_ascii_alphabetic()),
            "{chinese}"
        );
        assert_eq!(
            forbidden.said_in("en"),
            "your roles do not allow this: only office staff open survey rounds"
        );
        let problem = forbidden.problem();
        assert_eq!(problem.status, StatusCode::FORBIDDEN.as_u16());
        assert_eq!(
            problem.problem_type,
            "https://muster.invalid/problems/forbidden"
        );
        assert_eq!(
            problem.detail,
            "your roles do not allow this: only office staff open survey rounds"
        );
    }

    /// The quoted entity names after each `marker` in `text` (`not_found("site"`,
    /// `NotFound { entity: "photo"`); a marker followed by anything but a string is skipped.
    fn entities_after<'t>(text: &'t str, marker: &str) -> Vec<&'t str> {
        text.match_indices(marker)
            .filter_map(|(at, _)| {
                let rest = text[at + marker.len()..].trim_start();
                let rest = rest.strip_prefix("entity:").unwrap_or(rest).trim_start();
                let rest = rest.strip_prefix('"')?;
                rest.split('"').next()
            })
            // A name, not this test's own list of markers.
            .filter(|name| {
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == ' ' || c == '_')
            })
            .collect()
    }

    #[test]
    fn every_thing_a_page_can_say_is_not_found_has_a_chinese_name() {
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut unnamed = Vec::new();
        let mut seen = 0;
        for dir in ["muster-storage/src", "muster-web/src"] {
            let mut stack = vec![crates.join(dir)];
            while let Some(path) = stack.pop() {
                if path.is_dir() {
                    for entry in std::fs::read_dir(&path).expect("read a source directory") {
                        stack.push(entry.expect("an entry").path());
                    }
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("read a source file");
                for marker in ["not_found(", "out_of_scope(", "NotFound {", "OutOfScope {"] {
                    for entity in entities_after(&text, marker) {
                        seen += 1;
                        if entity_zh(entity) == entity {
                            unnamed.push(format!("{}: {entity}", path.display()));
                        }
                    }
                }
            }
        }
        assert!(seen >= 40, "only {seen} entity names found");
        assert!(unnamed.is_empty(), "no Chinese name for: {unnamed:#?}");
    }
}
