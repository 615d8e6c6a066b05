//! Extractors that turn bad input into problem+json naming the field: JSON bodies, query
//! strings and path ids.

use crate::error::ApiError;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use std::str::FromStr;

/// A JSON body; malformed JSON, wrong types, unknown fields and oversized bodies become 4xx
/// problems.
pub struct Json<T>(pub T);

/// Pulls the field name out of a serde error message (``unknown field `x` ``, ``missing field `x` ``).
fn field_of(msg: &str) -> String {
    msg.split('`')
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| "body".to_string())
}

/// Splits axum's `path: message` data-error text into the field and the message.
pub fn describe_data_error(text: &str) -> (String, String) {
    let detail =
        text.trim_start_matches("Failed to deserialize the JSON body into the target type: ");
    let (path, msg) = match detail.split_once(": ") {
        Some((p, m)) if !p.contains(' ') => (p.to_string(), m.to_string()),
        _ => (".".to_string(), detail.to_string()),
    };
    let named = msg.starts_with("unknown field `") || msg.starts_with("missing field `");
    let field = match (named, path.as_str()) {
        (true, ".") => field_of(&msg),
        (true, p) if p == field_of(&msg) || p.ends_with(&format!(".{}", field_of(&msg))) => {
            p.to_string()
        }
        (true, p) => format!("{p}.{}", field_of(&msg)),
        (false, ".") => "body".to_string(),
        (false, p) => p.to_string(),
    };
    (field, msg)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(JsonRejection::JsonDataError(e)) => {
                let (field, msg) = describe_data_error(&e.body_text());
                Err(ApiError::validation(field, msg))
            }
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::field(
                "body",
                format!("malformed JSON: {}", e.body_text()),
            )),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
                "send the body as application/json",
            )),
            Err(JsonRejection::BytesRejection(e)) => Err(body_rejection(e)),
            Err(e) => Err(ApiError::field("body", e.body_text())),
        }
    }
}

/// A body that could not be read (too large, cut off) as a problem instead of axum's plain text.
pub fn body_rejection(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "Payload too large",
            "the request body is larger than the server accepts",
        )
    } else {
        ApiError::field("body", e.body_text())
    }
}

/// A query string; bad values name their parameter.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                let msg = e.body_text();
                let detail = msg
                    .trim_start_matches("Failed to deserialize query string: ")
                    .to_string();
                let field = if detail.contains('`') {
                    field_of(&detail)
                } else {
                    detail
                        .split(':')
                        .next()
                        .unwrap_or("query")
                        .trim()
                        .to_string()
                };
                Err(ApiError::field(field, detail))
            }
            Err(e) => Err(ApiError::field("query", e.body_text())),
        }
    }
}

/// A typed id from the `{id}` path segment; anything but a UUID is a 400 naming `id`.
pub struct PathId<T>(pub T);

impl<S: Send + Sync, T: FromStr> FromRequestParts<S> for PathId<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::field("id", e.body_text()))?;
        raw.parse::<T>()
            .map(PathId)
            .map_err(|_| ApiError::field("id", "must be a UUID"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_the_field() {
        let (f, _) = super::describe_data_error(
            "Failed to deserialize the JSON body into the target type: unknown field `colour`, expected `name` at line 1 column 9",
        );
        assert_eq!(f, "colour");
        let (f, m) = super::describe_data_error(
            "Failed to deserialize the JSON body into the target type: name: invalid type: integer `5`, expected a string at line 1 column 9",
        );
        assert_eq!(f, "name");
        assert!(m.starts_with("invalid type"));
        let (f, _) = super::describe_data_error(
            "Failed to deserialize the JSON body into the target type: missing field `email` at line 1 column 2",
        );
        assert_eq!(f, "email");
    }
}
