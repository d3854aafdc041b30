//! The admin server's JSON, written as 3.8.0's `JsonOutputter` writes it: Jackson with
//! `INDENT_OUTPUT` (two-space indent, `"key" : value`, arrays inline as `[ a, b ]`, empty
//! containers as `[ ]` / `{ }`), doubles as `Double#toString`, and a [`CommandResponse`]'s
//! keys in `CommandResponse#toMap` order.
//!
//! Invariant: objects keep insertion order (the reference's `LinkedHashMap`s); a key put twice
//! keeps its first position and takes the last value.

use std::fmt::Write;

use super::javafmt::java_double;

/// A JSON value with ordered objects.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn obj() -> Self {
        Json::Obj(Vec::new())
    }

    /// Puts `key` (an object's `LinkedHashMap#put`); a no-op on non-objects.
    pub fn put(&mut self, key: &str, value: impl Into<Json>) {
        if let Json::Obj(fields) = self {
            let value = value.into();
            match fields.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value,
                None => fields.push((key.to_owned(), value)),
            }
        }
    }

    /// Builder form of [`Json::put`].
    pub fn with(mut self, key: &str, value: impl Into<Json>) -> Self {
        self.put(key, value);
        self
    }

    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Jackson's `DefaultPrettyPrinter` text.
    pub fn to_pretty(&self) -> String {
        let mut out = String::new();
        write_value(&mut out, self, 0);
        out
    }
}

impl From<bool> for Json {
    fn from(b: bool) -> Self {
        Json::Bool(b)
    }
}
impl From<i64> for Json {
    fn from(n: i64) -> Self {
        Json::Int(n)
    }
}
impl From<i32> for Json {
    fn from(n: i32) -> Self {
        Json::Int(i64::from(n))
    }
}
impl From<u64> for Json {
    fn from(n: u64) -> Self {
        Json::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}
impl From<f64> for Json {
    fn from(x: f64) -> Self {
        Json::Float(x)
    }
}
impl From<&str> for Json {
    fn from(s: &str) -> Self {
        Json::Str(s.to_owned())
    }
}
impl From<String> for Json {
    fn from(s: String) -> Self {
        Json::Str(s)
    }
}
impl<T: Into<Json>> From<Vec<T>> for Json {
    fn from(v: Vec<T>) -> Self {
        Json::Arr(v.into_iter().map(Into::into).collect())
    }
}
impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(v: Option<T>) -> Self {
        v.map_or(Json::Null, Into::into)
    }
}

fn indent(out: &mut String, level: usize) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn write_value(out: &mut String, v: &Json, level: usize) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Int(n) => {
            let _ = write!(out, "{n}");
        }
        // Jackson writes NaN and infinities as bare tokens, as Double#toString does.
        Json::Float(x) => out.push_str(&java_double(*x)),
        Json::Str(s) => write_string(out, s),
        Json::Arr(items) if items.is_empty() => out.push_str("[ ]"),
        Json::Arr(items) => {
            out.push_str("[ ");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item, level);
            }
            out.push_str(" ]");
        }
        Json::Obj(fields) if fields.is_empty() => out.push_str("{ }"),
        Json::Obj(fields) => {
            out.push('{');
            for (i, (k, val)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, level + 1);
                write_string(out, k);
                out.push_str(" : ");
                write_value(out, val, level + 1);
            }
            indent(out, level);
            out.push('}');
        }
    }
}

/// Jackson's escaping: `"` and `\`, short forms for the usual control characters, `\u00XX`
/// for the rest below 0x20; everything else (including `/` and non-ASCII) as is.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `CommandResponse`: the command's name, an error (null when fine) and its data.
#[derive(Clone, Debug, PartialEq)]
pub struct CommandResponse {
    pub command: String,
    pub error: Option<String>,
    pub data: Json,
}

impl CommandResponse {
    pub fn new(command: &str) -> Self {
        Self {
            command: command.to_owned(),
            error: None,
            data: Json::obj(),
        }
    }

    pub fn failed(command: &str, error: impl Into<String>) -> Self {
        Self {
            error: Some(error.into()),
            ..Self::new(command)
        }
    }

    /// `CommandResponse#toMap`: the data's keys first, then `command` and `error` unless the
    /// data already has them (a command that puts `error` itself, like `leader`, shows it
    /// first and no null `error` after `command`).
    pub fn to_json(&self) -> Json {
        let mut m = self.data.clone();
        if m.get("command").is_none() {
            m.put("command", self.command.as_str());
        }
        if m.get("error").is_none() {
            m.put("error", self.error.clone());
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_like_jackson() {
        // shapes from the captured `cons` and `wchp` answers
        let conn = Json::obj()
            .with("remote_socket_address", "127.0.0.1:39412")
            .with("avg_latency", 7i64);
        let v = Json::obj()
            .with("connections", vec![conn])
            .with("secure_connections", Vec::<Json>::new())
            .with(
                "path_to_session_ids",
                Json::obj().with("/p", vec![72057700902699008i64]),
            )
            .with("current_config", Json::obj())
            .with("avg", 7.1667)
            .with("zero", 0.0)
            .with("error", Json::Null);
        assert_eq!(
            v.to_pretty(),
            "{\n  \"connections\" : [ {\n    \"remote_socket_address\" : \"127.0.0.1:39412\",\n    \"avg_latency\" : 7\n  } ],\n  \"secure_connections\" : [ ],\n  \"path_to_session_ids\" : {\n    \"/p\" : [ 72057700902699008 ]\n  },\n  \"current_config\" : { },\n  \"avg\" : 7.1667,\n  \"zero\" : 0.0,\n  \"error\" : null\n}"
        );
    }

    #[test]
    fn escapes_like_jackson() {
        let v = Json::from("a\"b\\c\nd/\u{1}é");
        assert_eq!(v.to_pretty(), "\"a\\\"b\\\\c\\nd/\\u0001é\"");
    }

    #[test]
    fn response_key_order() {
        let ok = CommandResponse::new("ruok").to_json();
        assert_eq!(
            ok.to_pretty(),
            "{\n  \"command\" : \"ruok\",\n  \"error\" : null\n}"
        );
        let mut leader = CommandResponse::new("leader");
        leader.data.put("error", "server is not initialized");
        assert_eq!(
            leader.to_json().to_pretty(),
            "{\n  \"error\" : \"server is not initialized\",\n  \"command\" : \"leader\"\n}"
        );
        let mut stmk = CommandResponse::new("set_trace_mask");
        stmk.data.put("tracemask", 42i64);
        let keys: Vec<String> = match stmk.to_json() {
            Json::Obj(f) => f.into_iter().map(|(k, _)| k).collect(),
            _ => Vec::new(),
        };
        assert_eq!(keys, ["tracemask", "command", "error"]);
    }
}
