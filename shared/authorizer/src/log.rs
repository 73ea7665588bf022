//! The decision's log line: one line per ruling, formatted into one buffer so the caller
//! writes it with one `write` ([`Ruling::write_log_line`]), or sent through `tracing` by
//! callers that log that way ([`Ruling::trace`]).
//!
//! What a line holds: the level, a fixed message, the event kind, and the reason (the
//! verification error, the missing scope with the route that needs it, or where the event
//! failed to parse). Never the token, the `Authorization` value or serde's error message
//! (which can quote the event). Values that come from the event (the route) are written
//! escaped, so a request cannot forge a second log line.
//!
//! Levels: debug for an allow, info for a client's bad credentials or missing scope, warn
//! for an event this authorizer cannot use.

use std::fmt::{self, Write as _};

use serde_json::error::Category;
use tracing::{Level, debug, info, warn};

use crate::{DenyReason, Ruling, Verdict};

/// What a log line adds to a ruling's verdict.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Detail {
    /// Nothing beyond the verdict.
    None,
    /// The event is not a JSON object.
    NotAnObject,
    /// Where the event stopped parsing.
    Parse {
        category: Category,
        line: usize,
        column: usize,
    },
    /// The route whose rule the token's scopes do not meet.
    Route { method: String, path: String },
}

/// How a line is laid out: as the function's other log lines are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `INFO message key=value ..`, as `tracing`'s text format without time and target.
    #[default]
    Text,
    /// One JSON object per line: `{"level", "message", "requestId", "kind", ..}`.
    Json,
}

impl LogFormat {
    /// The format `AWS_LAMBDA_LOG_FORMAT` asks for: `JSON` (any case) is JSON, anything
    /// else (unset included) is text. The rule `lambda_runtime`'s default subscriber applies,
    /// so the decision line looks like every other line of the function.
    pub fn from_setting(value: Option<&str>) -> Self {
        match value {
            Some(v) if v.trim().eq_ignore_ascii_case("json") => LogFormat::Json,
            _ => LogFormat::Text,
        }
    }
}

/// A line's contents, borrowed from the ruling.
struct Record<'a> {
    level: Level,
    message: &'static str,
    fields: Fields<'a>,
}

enum Fields<'a> {
    None,
    Reason(&'a DenyReason),
    Missing(&'static str),
    Route {
        method: &'a str,
        path: &'a str,
        scope: &'a str,
    },
    Parse {
        category: Category,
        line: usize,
        column: usize,
    },
}

const ACCEPTED: &str = "access token accepted";
const NO_TOKEN: &str = "request denied: no valid access token";
const NO_SCOPE: &str = "request denied: token lacks the scope the route requires";
const NOT_OBJECT: &str = "authorizer event is not a json object; denying";
const UNPARSEABLE: &str = "unparseable authorizer event; denying";
const UNKNOWN: &str = "authorizer event of unknown kind; denying";
const INCOMPLETE: &str = "authorizer event lacks a field the decision needs; denying";

impl Ruling {
    fn record(&self) -> Record<'_> {
        let (level, message, fields) = match (&self.verdict, &self.detail) {
            (Verdict::Allow, _) => (Level::DEBUG, ACCEPTED, Fields::None),
            (Verdict::Forbidden { missing_scope }, detail) => {
                let (method, path) = match detail {
                    Detail::Route { method, path } => (method.as_str(), path.as_str()),
                    _ => ("", ""),
                };
                let fields = Fields::Route {
                    method,
                    path,
                    scope: missing_scope,
                };
                (Level::INFO, NO_SCOPE, fields)
            }
            (
                Verdict::Unauthorized(
                    reason @ (DenyReason::Credentials(_)
                    | DenyReason::Token(_)
                    | DenyReason::SessionEnded),
                ),
                _,
            ) => (Level::INFO, NO_TOKEN, Fields::Reason(reason)),
            (Verdict::Unauthorized(DenyReason::UnparseableEvent), Detail::NotAnObject) => {
                (Level::WARN, NOT_OBJECT, Fields::None)
            }
            (
                Verdict::Unauthorized(DenyReason::UnparseableEvent),
                &Detail::Parse {
                    category,
                    line,
                    column,
                },
            ) => (
                Level::WARN,
                UNPARSEABLE,
                Fields::Parse {
                    category,
                    line,
                    column,
                },
            ),
            (Verdict::Unauthorized(DenyReason::UnparseableEvent), _) => {
                (Level::WARN, UNPARSEABLE, Fields::None)
            }
            (Verdict::Unauthorized(DenyReason::UnknownEvent), _) => {
                (Level::WARN, UNKNOWN, Fields::None)
            }
            (Verdict::Unauthorized(DenyReason::IncompleteEvent(field)), _) => {
                (Level::WARN, INCOMPLETE, Fields::Missing(field))
            }
        };
        Record {
            level,
            message,
            fields,
        }
    }

    /// The level of this ruling's log line: debug for an allow, info for a refused token
    /// or scope, warn for an unusable event.
    pub fn log_level(&self) -> Level {
        self.record().level
    }

    fn kind_str(&self) -> Option<&'static str> {
        self.kind.map(|k| k.as_str())
    }

    /// Appends this ruling's log line, newline included, to `out`: one line in `format`,
    /// with `request_id` (the Lambda invocation's) when given. The caller writes `out` once,
    /// after checking [`Ruling::log_level`] against its filter.
    pub fn write_log_line(&self, format: LogFormat, request_id: Option<&str>, out: &mut String) {
        let record = self.record();
        // Writing into a String cannot fail: fmt::Error only reports a failing Display, and
        // every value here displays infallibly.
        let _ = match format {
            LogFormat::Text => self.write_text(&record, request_id, out),
            LogFormat::Json => self.write_json(&record, request_id, out),
        };
        out.push('\n');
    }

    fn write_text(
        &self,
        record: &Record<'_>,
        request_id: Option<&str>,
        out: &mut String,
    ) -> fmt::Result {
        write!(out, "{} {}", record.level, record.message)?;
        if let Some(id) = request_id {
            write!(out, " requestId={id:?}")?;
        }
        if let Some(kind) = self.kind_str() {
            write!(out, " kind={kind}")?;
        }
        match &record.fields {
            Fields::None => Ok(()),
            Fields::Reason(reason) => write!(out, " reason=\"{reason}\""),
            Fields::Missing(field) => write!(out, " field={field}"),
            // Debug quotes and escapes: the route comes from the request.
            Fields::Route {
                method,
                path,
                scope,
            } => write!(out, " method={method:?} path={path:?} scope={scope:?}"),
            Fields::Parse {
                category,
                line,
                column,
            } => write!(out, " category={category:?} line={line} column={column}"),
        }
    }

    fn write_json(
        &self,
        record: &Record<'_>,
        request_id: Option<&str>,
        out: &mut String,
    ) -> fmt::Result {
        write!(
            out,
            "{{\"level\":\"{}\",\"message\":\"{}\"",
            record.level, record.message
        )?;
        if let Some(id) = request_id {
            json_field(out, "requestId", format_args!("{id}"))?;
        }
        if let Some(kind) = self.kind_str() {
            json_field(out, "kind", format_args!("{kind}"))?;
        }
        match &record.fields {
            Fields::None => {}
            Fields::Reason(reason) => json_field(out, "reason", format_args!("{reason}"))?,
            Fields::Missing(field) => json_field(out, "field", format_args!("{field}"))?,
            Fields::Route {
                method,
                path,
                scope,
            } => {
                json_field(out, "method", format_args!("{method}"))?;
                json_field(out, "path", format_args!("{path}"))?;
                json_field(out, "scope", format_args!("{scope}"))?;
            }
            Fields::Parse {
                category,
                line,
                column,
            } => {
                json_field(out, "category", format_args!("{category:?}"))?;
                write!(out, ",\"line\":{line},\"column\":{column}")?;
            }
        }
        out.push('}');
        Ok(())
    }

    /// Sends this ruling's log line through `tracing`, at [`Ruling::log_level`], with the
    /// same message and fields as [`Ruling::write_log_line`].
    pub fn trace(&self) {
        // Events of an unknown kind (unparseable, unknown) have none to name.
        let kind = self.kind_str().unwrap_or("");
        let record = self.record();
        match record.fields {
            Fields::None if record.level == Level::DEBUG => {
                debug!(kind = %kind, "{}", record.message)
            }
            Fields::None => warn!("{}", record.message),
            Fields::Reason(reason) => info!(kind = %kind, %reason, "{}", record.message),
            Fields::Missing(field) => warn!(kind = %kind, field = %field, "{}", record.message),
            Fields::Route {
                method,
                path,
                scope,
            } => info!(kind = %kind, method, path, scope, "{}", record.message),
            Fields::Parse {
                category,
                line,
                column,
            } => warn!(?category, line, column, "{}", record.message),
        }
    }
}

/// `,"name":"value"` with `value` escaped as a JSON string as it is formatted.
fn json_field(out: &mut String, name: &str, value: fmt::Arguments<'_>) -> fmt::Result {
    write!(out, ",\"{name}\":\"")?;
    JsonEscaped(out).write_fmt(value)?;
    out.push('"');
    Ok(())
}

/// Escapes what it is given for the inside of a JSON string (RFC 8259 §7).
struct JsonEscaped<'a>(&'a mut String);

impl fmt::Write for JsonEscaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Runs that need no escape (all of a normal value) are copied whole; only `"`, `\`
        // and control characters, all ASCII, are replaced, so every cut is a char boundary.
        let mut clean = 0;
        for (i, b) in s.bytes().enumerate() {
            let escape = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                b if b < 0x20 => "",
                _ => continue,
            };
            self.0.push_str(s.get(clean..i).unwrap_or_default());
            if escape.is_empty() {
                write!(self.0, "\\u{b:04x}")?;
            } else {
                self.0.push_str(escape);
            }
            clean = i + 1;
        }
        self.0.push_str(s.get(clean..).unwrap_or_default());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped_so_a_route_cannot_break_the_line() {
        let mut out = String::new();
        json_field(&mut out, "path", format_args!("/a\"b\\c\nd\u{1}\u{e9}")).unwrap();
        assert_eq!(out, ",\"path\":\"/a\\\"b\\\\c\\nd\\u0001\u{e9}\"");
        let parsed: serde_json::Value =
            serde_json::from_str(&format!("{{{}}}", &out[1..])).unwrap();
        assert_eq!(parsed["path"], "/a\"b\\c\nd\u{1}\u{e9}");
    }

    #[test]
    fn the_log_format_follows_aws_lambda_log_format() {
        assert_eq!(LogFormat::from_setting(Some("JSON")), LogFormat::Json);
        assert_eq!(LogFormat::from_setting(Some(" json ")), LogFormat::Json);
        assert_eq!(LogFormat::from_setting(Some("Text")), LogFormat::Text);
        assert_eq!(LogFormat::from_setting(None), LogFormat::Text);
    }
}
