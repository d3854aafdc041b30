//! Java's text forms that the reference's output inherits: `Double#toString`,
//! `InetSocketAddress#toString` and `Date#toString` (in UTC).

use std::net::{IpAddr, SocketAddr};

/// `Double#toString` for the values four-letter words print.
pub(crate) fn java_double(x: f64) -> String {
    let a = x.abs();
    if x == 0.0 || (1e-3..1e7).contains(&a) {
        let s = format!("{x}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else if x.is_finite() {
        let s = format!("{x:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_owned()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exp}")
    } else if x.is_nan() {
        "NaN".to_owned()
    } else if x > 0.0 {
        "Infinity".to_owned()
    } else {
        "-Infinity".to_owned()
    }
}

/// `InetSocketAddress#toString` of an unresolved-name address: `/1.2.3.4:5` or `/[0:0:0:0:0:0:0:1]:5`.
pub(crate) fn java_socket_addr(a: &SocketAddr) -> String {
    match a.ip() {
        IpAddr::V4(ip) => format!("/{ip}:{}", a.port()),
        IpAddr::V6(ip) => {
            let groups: Vec<String> = ip.segments().iter().map(|s| format!("{s:x}")).collect();
            format!("/[{}]:{}", groups.join(":"), a.port())
        }
    }
}

/// `Date#toString` in UTC: `Sun Nov 22 04:33:42 UTC 2026`.
pub(crate) fn java_date_utc(epoch_ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = epoch_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let weekday = DAYS[usize::try_from(days.rem_euclid(7)).unwrap_or(0)];
    let month = MONTHS[usize::try_from(m - 1).unwrap_or(0).min(11)];
    format!(
        "{weekday} {month} {d:02} {:02}:{:02}:{:02} UTC {y}",
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), proleptic Gregorian.
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_like_java() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(2.4286), "2.4286");
        assert_eq!(java_double(11.0), "11.0");
        assert_eq!(java_double(1.0e7), "1.0E7");
        assert_eq!(java_double(0.0001), "1.0E-4");
    }

    #[test]
    fn addresses_like_java() {
        let v4: SocketAddr = "127.0.0.1:43250".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(java_socket_addr(&v4), "/127.0.0.1:43250");
        let v6: SocketAddr = "[::1]:5".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(java_socket_addr(&v6), "/[0:0:0:0:0:0:0:1]:5");
    }

    #[test]
    fn dates_like_java() {
        assert_eq!(java_date_utc(0), "Thu Jan 01 00:00:00 UTC 1970");
        // 2026-11-22T04:33:42Z, as the captured `dump` printed it.
        assert_eq!(
            java_date_utc(1_795_322_022_000),
            "Sun Nov 22 04:33:42 UTC 2026"
        );
    }
}
