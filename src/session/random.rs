//! `java.util.Random` reproduced bit for bit, and the session passwords the reference derives
//! from it (`ZooKeeperServer#generatePasswd`, `#checkPasswd`).
//!
//! Any server of an ensemble re-derives a session's password to validate a reconnect, so a
//! password made here must equal the one a Java server makes for the same session id.

/// `ZooKeeperServer.superSecret`, mixed into every password seed.
const SUPER_SECRET: i64 = 0xB341_5C00;

/// Length of the passwords the reference hands out.
pub const PASSWD_LEN: usize = 16;

/// The 48-bit linear congruential generator of `java.util.Random`.
#[derive(Debug, Clone)]
pub struct JavaRandom {
    seed: i64,
}

impl JavaRandom {
    const MULTIPLIER: i64 = 0x5_DEEC_E66D;
    const ADDEND: i64 = 0xB;
    const MASK: i64 = (1 << 48) - 1;

    /// `new Random(seed)`: the seed is scrambled with the multiplier.
    pub fn new(seed: i64) -> Self {
        JavaRandom {
            seed: (seed ^ Self::MULTIPLIER) & Self::MASK,
        }
    }

    /// `Random#next(bits)`: advances the generator and returns its top `bits` bits (1..=32).
    pub fn next(&mut self, bits: u32) -> i32 {
        self.seed = self
            .seed
            .wrapping_mul(Self::MULTIPLIER)
            .wrapping_add(Self::ADDEND)
            & Self::MASK;
        // Java's `(int)(seed >>> (48 - bits))`: keep the low 32 bits of the shifted value.
        ((self.seed as u64) >> (48 - bits)) as u32 as i32
    }

    /// `Random#nextInt()`.
    pub fn next_int(&mut self) -> i32 {
        self.next(32)
    }

    /// `Random#nextInt(bound)`, with Java's rejection of the biased tail. `None` if
    /// `bound <= 0` (Java throws IllegalArgumentException).
    pub fn next_int_bound(&mut self, bound: i32) -> Option<i32> {
        if bound <= 0 {
            return None;
        }
        let mut r = self.next(31);
        let m = bound - 1;
        if bound & m == 0 {
            return Some(((i64::from(bound) * i64::from(r)) >> 31) as i32);
        }
        let mut u = r;
        loop {
            r = u % bound;
            if u.wrapping_sub(r).wrapping_add(m) >= 0 {
                return Some(r);
            }
            u = self.next(31);
        }
    }

    /// `Random#nextLong()`: two 32-bit draws, the first shifted up (with sign), the second added.
    pub fn next_long(&mut self) -> i64 {
        let hi = i64::from(self.next(32));
        let lo = i64::from(self.next(32));
        (hi << 32).wrapping_add(lo)
    }

    /// `Random#nextBytes`: one `nextInt()` per 4 bytes, low byte first.
    pub fn next_bytes(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(4) {
            let word = self.next_int().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// The password of a session: 16 bytes of `new Random(sessionId ^ superSecret)`
/// (`ZooKeeperServer#generatePasswd`). Only the low 48 bits of the id matter.
pub fn generate_passwd(session_id: i64) -> [u8; PASSWD_LEN] {
    let mut passwd = [0u8; PASSWD_LEN];
    JavaRandom::new(session_id ^ SUPER_SECRET).next_bytes(&mut passwd);
    passwd
}

/// `ZooKeeperServer#checkPasswd`: session 0 never validates; otherwise the bytes must equal
/// the derived password exactly (length included).
pub fn check_passwd(session_id: i64, passwd: &[u8]) -> bool {
    session_id != 0 && passwd == generate_passwd(session_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values printed by OpenJDK's java.util.Random (see the brief's /tmp program).
    #[test]
    fn matches_java_random_seed_42() {
        let mut r = JavaRandom::new(42);
        assert_eq!(
            [r.next_int(), r.next_int(), r.next_int()],
            [-1170105035, 234785527, -1360544799]
        );
        assert_eq!(
            [r.next_long(), r.next_long()],
            [884324181205335268, -1068554554583376509]
        );
        assert_eq!(r.next_int_bound(10), Some(8));
        assert_eq!(r.next_int_bound(1000), Some(519));
        assert_eq!(r.next_int_bound(16), Some(1));
        assert_eq!(r.next_int_bound((1 << 30) + 1), Some(969067502));
        assert_eq!(r.next_int_bound(0), None);
    }

    #[test]
    fn next_bytes_partial_word_matches_java() {
        let mut r = JavaRandom::new(-7);
        let mut b = [0u8; 7];
        r.next_bytes(&mut b);
        assert_eq!(b, [0x8c, 0x2a, 0xe5, 0x44, 0x83, 0x8b, 0xc8]);
    }

    #[test]
    fn passwords_match_java() {
        let zero_like = [
            0xf2, 0x2a, 0xcd, 0x4a, 0x97, 0xe6, 0x9d, 0x6d, 0x20, 0xa4, 0x9b, 0xb6, 0x38, 0xea,
            0xdb, 0x38,
        ];
        let minus_one_like = [
            0x20, 0xf6, 0x2c, 0xb5, 0x64, 0x8d, 0xc2, 0xd7, 0x71, 0x47, 0x1c, 0x8a, 0x24, 0x86,
            0xa9, 0xee,
        ];
        let cases: [(i64, [u8; 16]); 9] = [
            (0, zero_like),
            (
                1,
                [
                    0x05, 0x4c, 0xc7, 0x4a, 0x37, 0x32, 0x7d, 0xb2, 0x15, 0xe7, 0x02, 0xe2, 0x0c,
                    0x73, 0xf0, 0x05,
                ],
            ),
            (-1, minus_one_like),
            // Ids equal in their low 48 bits share a password.
            (0x0100_0000_0000_0000, zero_like),
            (
                0x017f_2c3a_2b5d_0000,
                [
                    0x79, 0xde, 0x64, 0x7c, 0x12, 0xa1, 0xf4, 0x68, 0x7f, 0x8c, 0x77, 0x39, 0xab,
                    0x34, 0xd7, 0x1c,
                ],
            ),
            (i64::MIN, zero_like),
            (i64::MAX, minus_one_like),
            (
                -0x7edc_ba98_7654_3210,
                [
                    0xf3, 0x50, 0xba, 0x8b, 0x61, 0x9a, 0xdf, 0x03, 0x97, 0x15, 0xf0, 0x87, 0x92,
                    0x88, 0x3d, 0x25,
                ],
            ),
            (
                0xB341_5C00,
                [
                    0x60, 0xb4, 0x20, 0xbb, 0x38, 0x51, 0xd9, 0xd4, 0x7a, 0xcb, 0x93, 0x3d, 0xbe,
                    0x70, 0x39, 0x9b,
                ],
            ),
        ];
        for (id, want) in cases {
            assert_eq!(generate_passwd(id), want, "session 0x{id:x}");
        }
    }

    #[test]
    fn check_passwd_rules() {
        let id = 0x017f_2c3a_2b5d_0000;
        let p = generate_passwd(id);
        assert!(check_passwd(id, &p));
        assert!(!check_passwd(id, &p[..15]));
        assert!(!check_passwd(id, &[0u8; 16]));
        assert!(!check_passwd(id + 1, &p));
        // Session 0 is never valid, even with its "own" password.
        assert!(!check_passwd(0, &generate_passwd(0)));
    }
}
