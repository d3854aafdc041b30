//! Text exactly as the Java tools print it: `new String(bytes, UTF_8)` on arbitrary bytes,
//! `DateFormat` in the English locale, `Request#op2String`, and the `toString()` of the txn
//! records (jute's `ToStringOutputArchive`).
//!
//! Dates are in UTC: the Java tools print in the JVM's default time zone, which equals ours
//! when they run with `TZ=UTC` (what the compat tests pin, and the README documents).

use crate::admin::javafmt::civil_from_days;
use crate::jute::codes::OpCode;
use crate::jute::data::Acl;
use crate::jute::txn::TxnBody;

const REPL: char = '\u{FFFD}';

fn is_cont(b: u8) -> bool {
    b & 0xc0 == 0x80
}

/// `new String(bytes, StandardCharsets.UTF_8)` of JDK 17: each malformed sequence becomes one
/// U+FFFD, but where the JDK's decoder draws the line differs from Rust's `from_utf8_lossy`
/// (an encoded surrogate is one replacement, a truncated sequence at the end is one).
pub(crate) fn java_utf8(bytes: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_string();
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    let n = bytes.len();
    let mut sp = 0;
    while sp < n {
        let b1 = bytes[sp];
        sp += 1;
        if b1 < 0x80 {
            out.push(char::from(b1));
        } else if b1 & 0xe0 == 0xc0 && b1 & 0x1e != 0 {
            if sp < n {
                let b2 = bytes[sp];
                sp += 1;
                if is_cont(b2) {
                    let c = (u32::from(b1 & 0x1f) << 6) | u32::from(b2 & 0x3f);
                    out.push(char::from_u32(c).unwrap_or(REPL));
                } else {
                    out.push(REPL);
                    sp -= 1;
                }
                continue;
            }
            out.push(REPL);
            break;
        } else if b1 & 0xf0 == 0xe0 {
            if sp + 1 < n {
                let (b2, b3) = (bytes[sp], bytes[sp + 1]);
                sp += 2;
                let overlong = b1 == 0xe0 && b2 & 0xe0 == 0x80;
                if overlong || !is_cont(b2) || !is_cont(b3) {
                    out.push(REPL);
                    sp -= 2;
                    // `malformed3`: the lead alone, or the lead and a good second byte
                    if !overlong && is_cont(b2) {
                        sp += 1;
                    }
                } else {
                    let c = (u32::from(b1 & 0x0f) << 12)
                        | (u32::from(b2 & 0x3f) << 6)
                        | u32::from(b3 & 0x3f);
                    // a surrogate code point is not a char: one replacement for all three
                    out.push(char::from_u32(c).unwrap_or(REPL));
                }
                continue;
            }
            if sp < n {
                let b2 = bytes[sp];
                if (b1 == 0xe0 && b2 & 0xe0 == 0x80) || !is_cont(b2) {
                    out.push(REPL);
                    continue;
                }
            }
            out.push(REPL);
            break;
        } else if b1 & 0xf8 == 0xf0 {
            if sp + 2 < n {
                let (b2, b3, b4) = (bytes[sp], bytes[sp + 1], bytes[sp + 2]);
                sp += 3;
                let uc = (u32::from(b1 & 0x07) << 18)
                    | (u32::from(b2 & 0x3f) << 12)
                    | (u32::from(b3 & 0x3f) << 6)
                    | u32::from(b4 & 0x3f);
                let malformed = !is_cont(b2) || !is_cont(b3) || !is_cont(b4);
                if malformed || !(0x10000..=0x10ffff).contains(&uc) {
                    out.push(REPL);
                    sp -= 3;
                    // `malformed4`
                    let bad2 = b1 > 0xf4
                        || (b1 == 0xf0 && !(0x90..=0xbf).contains(&b2))
                        || (b1 == 0xf4 && b2 & 0xf0 != 0x80)
                        || !is_cont(b2);
                    if !bad2 {
                        sp += if is_cont(b3) { 2 } else { 1 };
                    }
                } else {
                    out.push(char::from_u32(uc).unwrap_or(REPL));
                }
                continue;
            }
            let bad2 = |b2: u8| {
                (b1 == 0xf0 && !(0x90..=0xbf).contains(&b2))
                    || (b1 == 0xf4 && b2 & 0xf0 != 0x80)
                    || !is_cont(b2)
            };
            if b1 > 0xf4 || (sp < n && bad2(bytes[sp])) {
                out.push(REPL);
                continue;
            }
            sp += 1;
            out.push(REPL);
            if sp < n && !is_cont(bytes[sp]) {
                continue;
            }
            break;
        } else {
            out.push(REPL);
        }
    }
    out
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
}

fn civil(epoch_ms: i64) -> Civil {
    let secs = epoch_ms.div_euclid(1000);
    let tod = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    Civil {
        year,
        month,
        day,
        hour: tod / 3600,
        minute: tod % 3600 / 60,
        second: tod % 60,
    }
}

fn twelve_hour(hour: i64) -> (i64, &'static str) {
    let h = if hour % 12 == 0 { 12 } else { hour % 12 };
    (h, if hour < 12 { "AM" } else { "PM" })
}

/// `DateFormat.getDateTimeInstance(SHORT, LONG)` in English, UTC: `12/3/25, 11:10:44 AM UTC`.
pub(crate) fn date_short_long(epoch_ms: i64) -> String {
    let c = civil(epoch_ms);
    let (h, ampm) = twelve_hour(c.hour);
    format!(
        "{}/{}/{:02}, {h}:{:02}:{:02} {ampm} UTC",
        c.month,
        c.day,
        c.year.rem_euclid(100),
        c.minute,
        c.second
    )
}

/// `DateFormat.getDateTimeInstance()` (MEDIUM, MEDIUM) in English, UTC:
/// `Dec 3, 2025, 11:10:44 AM`.
pub(crate) fn date_medium(epoch_ms: i64) -> String {
    let c = civil(epoch_ms);
    let (h, ampm) = twelve_hour(c.hour);
    let month = MONTHS[usize::try_from(c.month - 1).unwrap_or(0).min(11)];
    format!(
        "{month} {}, {}, {h}:{:02}:{:02} {ampm}",
        c.day, c.year, c.minute, c.second
    )
}

/// `Request#op2String`.
pub(crate) fn op_to_string(op: OpCode) -> String {
    let name = match op {
        OpCode::NOTIFICATION => "notification",
        OpCode::CREATE => "create",
        OpCode::DELETE => "delete",
        OpCode::EXISTS => "exists",
        OpCode::GET_DATA => "getData",
        OpCode::SET_DATA => "setData",
        OpCode::GET_ACL => "getACL",
        OpCode::SET_ACL => "setACL",
        OpCode::GET_CHILDREN => "getChildren",
        OpCode::SYNC => "sync",
        OpCode::PING => "ping",
        OpCode::GET_CHILDREN2 => "getChildren2",
        OpCode::CHECK => "check",
        OpCode::MULTI => "multi",
        OpCode::CREATE2 => "create2",
        OpCode::RECONFIG => "reconfig",
        OpCode::CHECK_WATCHES => "checkWatches",
        OpCode::REMOVE_WATCHES => "removeWatches",
        OpCode::CREATE_CONTAINER => "createContainer",
        OpCode::DELETE_CONTAINER => "deleteContainer",
        OpCode::CREATE_TTL => "createTtl",
        OpCode::MULTI_READ => "multiRead",
        OpCode::AUTH => "auth",
        OpCode::SET_WATCHES => "setWatches",
        OpCode::SET_WATCHES2 => "setWatches2",
        OpCode::SASL => "sasl",
        OpCode::GET_EPHEMERALS => "getEphemerals",
        OpCode::GET_ALL_CHILDREN_NUMBER => "getAllChildrenNumber",
        OpCode::CREATE_SESSION => "createSession",
        OpCode::CLOSE_SESSION => "closeSession",
        OpCode::ERROR => "error",
        OpCode::WHO_AM_I => "whoAmI",
        other => return format!("unknown {}", other.0),
    };
    name.to_string()
}

/// jute's `ToStringOutputArchive`: comma-separated fields, strings quoted with `'` and a few
/// characters %-escaped, buffers as `#` + `Integer.toHexString` of each signed byte, nested
/// records `s{...}`, vectors `v{...}`, and a newline ending the outermost record.
struct JuteText {
    out: String,
    first: bool,
}

impl JuteText {
    fn new() -> JuteText {
        JuteText {
            out: String::new(),
            first: true,
        }
    }

    fn comma(&mut self) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
    }

    fn long(&mut self, v: i64) {
        self.comma();
        self.out.push_str(&v.to_string());
    }

    fn bool(&mut self, v: bool) {
        self.comma();
        self.out.push(if v { 'T' } else { 'F' });
    }

    fn string(&mut self, s: &str) {
        self.comma();
        self.out.push('\'');
        for c in s.chars() {
            match c {
                '\0' => self.out.push_str("%00"),
                '\n' => self.out.push_str("%0A"),
                '\r' => self.out.push_str("%0D"),
                ',' => self.out.push_str("%2C"),
                '}' => self.out.push_str("%7D"),
                '%' => self.out.push_str("%25"),
                c => self.out.push(c),
            }
        }
    }

    fn buffer(&mut self, b: Option<&[u8]>) {
        self.comma();
        if let Some(b) = b.filter(|b| !b.is_empty()) {
            self.out.push('#');
            for byte in b {
                // `Integer.toHexString(int)` of the sign-extended byte
                self.out.push_str(&format!("{:x}", i32::from(*byte as i8)));
            }
        }
    }

    fn start_nested(&mut self) {
        self.comma();
        self.out.push_str("s{");
        self.first = true;
    }

    fn end_nested(&mut self) {
        self.out.push('}');
        self.first = false;
    }

    fn start_vector(&mut self) {
        self.comma();
        self.out.push_str("v{");
        self.first = true;
    }

    fn end_vector(&mut self) {
        self.out.push('}');
        self.first = false;
    }

    /// An `ACL` field: perms and the nested `Id`.
    fn acl_fields(&mut self, acl: &Acl) {
        self.long(i64::from(acl.perms));
        self.start_nested();
        self.string(&acl.id.scheme);
        self.string(&acl.id.id);
        self.end_nested();
    }

    fn acl_vector(&mut self, acls: &[Acl]) {
        self.start_vector();
        for a in acls {
            self.start_nested();
            self.acl_fields(a);
            self.end_nested();
        }
        self.end_vector();
    }

    fn finish(mut self) -> String {
        self.out.push('\n');
        self.out
    }
}

/// `ACL#toString()`: `31,s{'world,'anyone}` and a newline.
fn acl_to_string(acl: &Acl) -> String {
    let mut t = JuteText::new();
    t.acl_fields(acl);
    t.finish()
}

/// `List<ACL>#toString()` (`AbstractCollection`): `[a, b]` of each ACL's `toString()`.
pub(crate) fn acl_list_to_string(acls: &[Acl]) -> String {
    let items: Vec<String> = acls.iter().map(acl_to_string).collect();
    format!("[{}]", items.join(", "))
}

/// The generated `toString()` of the record a txn holds, for the records `TxnLogToolkit`
/// prints that way (all but create, createContainer, createTTL, setData and multi).
pub(crate) fn record_to_string(body: &TxnBody) -> String {
    let mut t = JuteText::new();
    match body {
        TxnBody::CreateSession(s) => t.long(i64::from(s.time_out)),
        TxnBody::CloseSession(c) => {
            t.start_vector();
            for p in c.iter().flat_map(|c| c.paths2_delete.iter()) {
                t.string(p);
            }
            t.end_vector();
        }
        TxnBody::Create(c) => {
            t.string(&c.path);
            t.buffer(c.data.as_deref());
            t.acl_vector(&c.acl);
            t.bool(c.ephemeral);
            t.long(i64::from(c.parent_cversion));
        }
        TxnBody::CreateV0(c) => {
            t.string(&c.path);
            t.buffer(c.data.as_deref());
            t.acl_vector(&c.acl);
            t.bool(c.ephemeral);
        }
        TxnBody::CreateTtl(c) => {
            t.string(&c.path);
            t.buffer(c.data.as_deref());
            t.acl_vector(&c.acl);
            t.long(i64::from(c.parent_cversion));
            t.long(c.ttl);
        }
        TxnBody::CreateContainer(c) => {
            t.string(&c.path);
            t.buffer(c.data.as_deref());
            t.acl_vector(&c.acl);
            t.long(i64::from(c.parent_cversion));
        }
        TxnBody::Delete(d) => t.string(&d.path),
        TxnBody::SetData(s) => {
            t.string(&s.path);
            t.buffer(s.data.as_deref());
            t.long(i64::from(s.version));
        }
        TxnBody::SetAcl(s) => {
            t.string(&s.path);
            t.acl_vector(&s.acl);
            t.long(i64::from(s.version));
        }
        TxnBody::Check(c) => {
            t.string(&c.path);
            t.long(i64::from(c.version));
        }
        TxnBody::Error(e) => t.long(i64::from(e.err)),
        TxnBody::Multi(subs) => {
            t.start_vector();
            for (op, body) in subs {
                let mut data = Vec::new();
                body.encode(&mut data);
                t.start_nested();
                t.long(i64::from(op.0));
                t.buffer(Some(&data));
                t.end_nested();
            }
            t.end_vector();
        }
    }
    t.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::data::Id;
    use crate::jute::txn::{CheckVersionTxn, CloseSessionTxn, DeleteTxn, SetAclTxn};

    #[test]
    fn utf8_replacement_like_jdk17() {
        // captured from `new String(bytes, UTF_8)` on OpenJDK 17
        let bytes = [
            0xc3, 0x28, 0, 0x41, 0xe2, 0x82, 0x41, 0xf0, 0x9f, 0x98, 0x80, 0xed, 0xa0, 0x80, 0xff,
        ];
        assert_eq!(java_utf8(&bytes), "\u{FFFD}(\0A\u{FFFD}A😀\u{FFFD}\u{FFFD}");
        assert_eq!(java_utf8(b"plain/\xc3\xa9"), "plain/é");
        assert_eq!(java_utf8(&[0x41, 0xe2, 0x82]), "A\u{FFFD}");
    }

    #[test]
    fn dates_like_the_english_locale() {
        assert_eq!(date_short_long(0), "1/1/70, 12:00:00 AM UTC");
        assert_eq!(
            date_short_long(1_764_760_244_123),
            "12/3/25, 11:10:44 AM UTC"
        );
        assert_eq!(
            date_short_long(1_700_000_000_000),
            "11/14/23, 10:13:20 PM UTC"
        );
        assert_eq!(date_medium(1_764_800_000_000), "Dec 3, 2025, 10:13:20 PM");
    }

    #[test]
    fn record_strings_like_jute() {
        let world = Acl {
            perms: 31,
            id: Id {
                scheme: "world".into(),
                id: "anyone".into(),
            },
        };
        assert_eq!(
            acl_list_to_string(&[world.clone(), world.clone()]),
            "[31,s{'world,'anyone}\n, 31,s{'world,'anyone}\n]"
        );
        assert_eq!(
            record_to_string(&TxnBody::Delete(DeleteTxn {
                path: "/a,b}%".into()
            })),
            "'/a%2Cb%7D%25\n"
        );
        assert_eq!(
            record_to_string(&TxnBody::SetAcl(SetAclTxn {
                path: "/a".into(),
                acl: vec![world],
                version: 2
            })),
            "'/a,v{s{31,s{'world,'anyone}}},2\n"
        );
        assert_eq!(
            record_to_string(&TxnBody::CloseSession(Some(CloseSessionTxn {
                paths2_delete: vec!["/e1".into(), "/e2".into()]
            }))),
            "v{'/e1,'/e2}\n"
        );
        assert_eq!(
            record_to_string(&TxnBody::Check(CheckVersionTxn {
                path: "/c".into(),
                version: -1
            })),
            "'/c,-1\n"
        );
        let mut t = JuteText::new();
        t.buffer(Some(&[0x00, 0x0f, 0x80, 0xff]));
        assert_eq!(t.finish(), "#0fffffff80ffffffff\n");
    }

    #[test]
    fn op_names() {
        assert_eq!(op_to_string(OpCode::CREATE_TTL), "createTtl");
        assert_eq!(op_to_string(OpCode::CLOSE_SESSION), "closeSession");
        assert_eq!(op_to_string(OpCode(77)), "unknown 77");
    }
}
