//! Extractors: a JSON body read within a size limit and parsed with the JSON
//! pointer of every error, the `Idempotency-Key` header, and `Prefer: wait`.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::domain::{Violation, ViolationCode};

use crate::limits::OVERSIZE_DRAIN_MAX;

/// A JSON body of at most `LIMIT` bytes, not yet parsed. Checks the media
/// type (415) and the size (413).
pub struct JsonBytes<const LIMIT: usize>(pub Bytes);

impl<S: Send + Sync, const LIMIT: usize> FromRequest<S> for JsonBytes<LIMIT> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let bytes = read_body(req.into_body(), declared, LIMIT).await?;
        Ok(Self(bytes))
    }
}

/// Reads a body of at most `limit` bytes; anything larger is a 413.
pub async fn read_body(body: Body, declared: Option<usize>, limit: usize) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt;
    let too_large = ApiError::PayloadTooLarge { limit };
    if declared.is_some_and(|n| n > OVERSIZE_DRAIN_MAX) {
        return Err(too_large);
    }
    let mut body = body;
    let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        // A body that broke off mid-way is reported as malformed.
        let frame = frame.map_err(|e| ApiError::MalformedJson(format!("the body could not be read: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        seen += data.len();
        if seen <= limit {
            buf.extend_from_slice(&data);
        } else if seen > OVERSIZE_DRAIN_MAX {
            break;
        }
    }
    if seen > limit || declared.is_some_and(|n| n > limit) {
        return Err(too_large);
    }
    Ok(Bytes::from(buf))
}

/// Like [`JsonBytes`], but an empty body is allowed (and then `None`), for
/// routes whose body has only optional fields.
pub struct MaybeJsonBytes<const LIMIT: usize>(pub Option<Bytes>);

impl<S: Send + Sync, const LIMIT: usize> FromRequest<S> for MaybeJsonBytes<LIMIT> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let empty =
            req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() == "0")
                || (!req.headers().contains_key(header::CONTENT_LENGTH)
                    && !req.headers().contains_key(header::TRANSFER_ENCODING));
        if empty {
            return Ok(Self(None));
        }
        let JsonBytes(bytes) = JsonBytes::<LIMIT>::from_request(req, state).await?;
        Ok(Self(Some(bytes)))
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a body into a value; syntax errors are 400, content errors 422
/// with the JSON pointer of the bad field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::MalformedJson("the body is empty".into()));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = pointer_of(e.path());
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => ApiError::Invalid(vec![violation(&path, &inner.to_string())]),
            // serde_json files some type errors (a number where an enum's
            // string belongs) as syntax errors: if the body is valid JSON,
            // the fault is the field's content.
            _ if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() => {
                let detail = inner.to_string();
                let detail = detail.split(" at line ").next().unwrap_or(&detail);
                let code =
                    if detail.contains("out of range") { ViolationCode::OutOfRange } else { ViolationCode::Type };
                ApiError::Invalid(vec![Violation::new(path, code, detail)])
            }
            _ => ApiError::MalformedJson(inner.to_string()),
        }
    })?;
    de.end().map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    Ok(value)
}

/// Deserializes a parsed JSON value; errors carry `prefix` + the path
/// inside the value.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value, prefix: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = format!("{prefix}{}", pointer_of(e.path()));
        ApiError::Invalid(vec![violation(&path, &e.into_inner().to_string())])
    })
}

/// A JSON pointer (RFC 6901) from serde's path.
fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => {
                out.push('/');
                out.push_str(&index.to_string());
            }
            Segment::Map { key } => {
                out.push('/');
                out.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

/// Turns serde's message into a violation. A domain rule's error carries
/// its own code ([`ViolationCode::untag`]); serde's own errors are told
/// apart by the fixed forms of `serde::de::Error`'s messages, and "missing
/// field" and "unknown field" add the field to the pointer.
fn violation(pointer: &str, message: &str) -> Violation {
    let message = message.split(" at line ").next().unwrap_or(message);
    if let Some((code, detail)) = ViolationCode::untag(message) {
        return Violation::new(pointer, code, detail);
    }
    let quoted = |m: &str| m.split('`').nth(1).map(str::to_string);
    if let Some(rest) = message.strip_prefix("missing field ") {
        let field = quoted(rest).unwrap_or_default();
        return Violation::new(format!("{pointer}/{field}"), ViolationCode::Missing, format!("{field} is required"));
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let field = quoted(rest).unwrap_or_default();
        // serde_path_to_error already ends the path with an unknown key.
        let suffix = format!("/{field}");
        let pointer = if pointer.ends_with(&suffix) { pointer.to_string() } else { format!("{pointer}{suffix}") };
        return Violation::new(pointer, ViolationCode::UnknownField, message);
    }
    /// The openings of `serde::de::Error`'s default messages.
    const SERDE_FORMS: [(&str, ViolationCode); 4] = [
        ("invalid type", ViolationCode::Type),
        ("unknown variant", ViolationCode::UnknownVariant),
        ("invalid value", ViolationCode::OutOfRange),
        ("invalid length", ViolationCode::Length),
    ];
    let code =
        SERDE_FORMS.iter().find(|(form, _)| message.starts_with(form)).map(|(_, code)| *code).unwrap_or(
            if message.contains("out of range") { ViolationCode::OutOfRange } else { ViolationCode::Invalid },
        );
    Violation::new(pointer, code, message)
}

/// The `Idempotency-Key` header (IETF httpapi idempotency-key draft), if
/// sent: 1..=255 visible ASCII characters.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(v) = parts.headers.get("idempotency-key") else {
            return Ok(Self(None));
        };
        let key = v.to_str().ok().map(|s| s.trim().trim_matches('"').to_string()).unwrap_or_default();
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::Invalid(vec![Violation::new(
                "/headers/Idempotency-Key",
                ViolationCode::Invalid,
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )]));
        }
        Ok(Self(Some(key)))
    }
}

/// `Prefer: wait=N` (RFC 7240): how long the client will wait for the
/// ledger's verdict, capped below the request timeout
/// ([`crate::limits::prefer_wait_cap`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Prefer {
    pub wait: Option<Duration>,
}

impl Prefer {
    pub fn from_headers(headers: &HeaderMap, max_wait: Duration) -> Self {
        let mut wait = None;
        for v in headers.get_all("prefer").iter().filter_map(|v| v.to_str().ok()) {
            for pref in v.split(',') {
                let pref = pref.split(';').next().unwrap_or("").trim();
                if let Some((k, n)) = pref.split_once('=')
                    && k.trim().eq_ignore_ascii_case("wait")
                    && let Ok(secs) = n.trim().trim_matches('"').parse::<u64>()
                {
                    wait = Some(Duration::from_secs(secs).min(max_wait));
                }
            }
        }
        Self { wait }
    }
}

/// A key from the request path (`{sessionKey}`, `{deviceId}`, …), parsed
/// into its newtype; a malformed key is a 422 naming `/path/<param>`.
pub struct PathKey<T>(pub T);

/// The route's path parameters, `(name, value)` in order; at least `n`.
async fn path_params<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    n: usize,
) -> Result<Vec<(String, String)>, ApiError> {
    let params = axum::extract::RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|e| ApiError::Internal(format!("path parameters: {e}")))?;
    let params: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    if params.len() < n {
        return Err(ApiError::Internal(format!("the route has fewer than {n} path parameters")));
    }
    Ok(params)
}

/// One path parameter parsed into its key type, or the violation naming it.
fn path_key<T: TryFrom<String, Error = crate::domain::KeyError>>(
    (name, value): (String, String),
) -> Result<T, Violation> {
    T::try_from(value).map_err(|e| Violation::new(format!("/path/{name}"), e.code(), format!("{name} {e}")))
}

impl<S: Send + Sync, T> FromRequestParts<S> for PathKey<T>
where
    T: TryFrom<String, Error = crate::domain::KeyError> + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let mut params = path_params(parts, state, 1).await?.into_iter();
        let first = params.next().unwrap_or_default();
        path_key(first).map(PathKey).map_err(|v| ApiError::Invalid(vec![v]))
    }
}

/// Two keys from the path, in the route's order
/// (`/v1/sessions/{sessionKey}/cameras/{cameraKey}/…`), each checked like a
/// [`PathKey`]; both are named when both are malformed.
pub struct PathKeys<A, B>(pub A, pub B);

impl<S: Send + Sync, A, B> FromRequestParts<S> for PathKeys<A, B>
where
    A: TryFrom<String, Error = crate::domain::KeyError> + Send,
    B: TryFrom<String, Error = crate::domain::KeyError> + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let mut params = path_params(parts, state, 2).await?.into_iter();
        let (a, b) = (params.next().unwrap_or_default(), params.next().unwrap_or_default());
        match (path_key::<A>(a), path_key::<B>(b)) {
            (Ok(a), Ok(b)) => Ok(PathKeys(a, b)),
            (a, b) => Err(ApiError::Invalid(a.err().into_iter().chain(b.err()).collect())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Inner {
        camera_key: crate::domain::CameraKey,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        events: Vec<Inner>,
    }

    fn violations(body: &str) -> Vec<Violation> {
        match parse::<Outer>(body.as_bytes()) {
            Err(ApiError::Invalid(v)) => v,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn pointers_name_the_field() {
        let v = violations(r#"{"events":[{"cameraKey":"A"},{"cameraKey":"a b"}]}"#);
        assert_eq!(v[0].pointer, "/events/1/cameraKey");
        let v = violations(r#"{"events":[{}]}"#);
        assert_eq!((v[0].pointer.as_str(), v[0].code), ("/events/0/cameraKey", ViolationCode::Missing));
        let v = violations(r#"{"events":[{"cameraKey":"A","extra":1}]}"#);
        assert_eq!((v[0].pointer.as_str(), v[0].code), ("/events/0/extra", ViolationCode::UnknownField));
        let v = violations(r#"{"events":[{"cameraKey":7}]}"#);
        assert_eq!((v[0].pointer.as_str(), v[0].code), ("/events/0/cameraKey", ViolationCode::Type));
    }

    #[test]
    fn syntax_errors_are_malformed() {
        assert!(matches!(parse::<Outer>(b"{\"events\": ["), Err(ApiError::MalformedJson(_))));
        assert!(matches!(parse::<Outer>(b"{\"events\":[]} trailing"), Err(ApiError::MalformedJson(_))));
        assert!(matches!(parse::<Outer>(b""), Err(ApiError::MalformedJson(_))));
    }

    #[test]
    fn prefer_wait() {
        let mut h = HeaderMap::new();
        h.insert("prefer", "respond-async, wait=5".parse().unwrap());
        let cap = Duration::from_secs(8);
        assert_eq!(Prefer::from_headers(&h, cap).wait, Some(Duration::from_secs(5)));
        h.insert("prefer", "wait=999".parse().unwrap());
        assert_eq!(Prefer::from_headers(&h, cap).wait, Some(cap));
    }
}
