//! `EphemeralType` / `EphemeralTypeEmulate353`: what a znode's `ephemeralOwner` long encodes.
//!
//! 0 = persistent, `Long.MIN_VALUE` = container, `0xFF00_0000_0000_0000 | ttl` = TTL node (only
//! recognised when `zookeeper.extendedTypesEnabled`), anything else = the owning session id.

/// The owner a container node carries (`EphemeralType.CONTAINER_EPHEMERAL_OWNER`).
pub const CONTAINER_EPHEMERAL_OWNER: i64 = i64::MIN;
/// Largest TTL in milliseconds (`EphemeralType.TTL.maxValue()`, 2^40 - 1).
pub const MAX_TTL: i64 = 0x0000_00FF_FFFF_FFFF;

const EXTENDED_MASK: i64 = 0xFF00_0000_0000_0000_u64 as i64;
const RESERVED_BITS_MASK: i64 = 0x00FF_FF00_0000_0000;
const RESERVED_BITS_SHIFT: u32 = 40;
const EXTENDED_BIT_TTL: i64 = 0;
const VALUE_MASK: i64 = !(EXTENDED_MASK | RESERVED_BITS_MASK);

/// How the tree classifies owners; mirrors the two system properties the reference reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EphemeralOptions {
    /// `zookeeper.extendedTypesEnabled` (default false): TTL owners are recognised.
    pub extended_types_enabled: bool,
    /// `zookeeper.emulate353TTLNodes`: also treat any negative non-container owner as TTL.
    pub emulate_353_ttl: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EphemeralType {
    /// Persistent node.
    Void,
    /// Ephemeral node owned by a session.
    Normal,
    Container,
    Ttl,
}

impl EphemeralType {
    /// `EphemeralType.get`. An extended owner with an unknown feature bit makes the reference
    /// throw; we classify it as `Normal` (the only other reading that keeps the node usable).
    pub fn of(owner: i64, opts: EphemeralOptions) -> EphemeralType {
        if opts.extended_types_enabled {
            if opts.emulate_353_ttl && owner < 0 && owner != CONTAINER_EPHEMERAL_OWNER {
                return EphemeralType::Ttl;
            }
            if owner & EXTENDED_MASK == EXTENDED_MASK {
                let feature = (owner & RESERVED_BITS_MASK) >> RESERVED_BITS_SHIFT;
                if feature == EXTENDED_BIT_TTL {
                    return EphemeralType::Ttl;
                }
                tracing::warn!(owner = format_args!("{owner:#x}"), "invalid ephemeralOwner");
                return EphemeralType::Normal;
            }
        }
        match owner {
            CONTAINER_EPHEMERAL_OWNER => EphemeralType::Container,
            0 => EphemeralType::Void,
            _ => EphemeralType::Normal,
        }
    }

    /// `EphemeralType.TTL.toEphemeralOwner`: `None` when the TTL is out of (0, MAX_TTL].
    pub fn ttl_to_owner(ttl: i64) -> Option<i64> {
        if ttl <= 0 || ttl > MAX_TTL {
            return None;
        }
        Some(EXTENDED_MASK | EXTENDED_BIT_TTL | ttl)
    }

    /// `EphemeralType.TTL.getValue`: the TTL in milliseconds encoded in a TTL owner.
    pub fn ttl_of(owner: i64) -> i64 {
        owner & VALUE_MASK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXT: EphemeralOptions = EphemeralOptions {
        extended_types_enabled: true,
        emulate_353_ttl: false,
    };

    #[test]
    fn owner_encodings() {
        // The real server stores ephemeralOwner -72057594037922936 for a 5000 ms TTL node.
        assert_eq!(EphemeralType::ttl_to_owner(5000), Some(-72057594037922936));
        assert_eq!(EphemeralType::ttl_to_owner(0), None);
        assert_eq!(EphemeralType::ttl_to_owner(MAX_TTL + 1), None);
        assert_eq!(EphemeralType::ttl_of(-72057594037922936), 5000);
        assert_eq!(
            EphemeralType::of(-72057594037922936, EXT),
            EphemeralType::Ttl
        );
        let plain = EphemeralOptions::default();
        assert_eq!(
            EphemeralType::of(-72057594037922936, plain),
            EphemeralType::Normal
        );
        assert_eq!(EphemeralType::of(i64::MIN, EXT), EphemeralType::Container);
        assert_eq!(EphemeralType::of(i64::MIN, plain), EphemeralType::Container);
        assert_eq!(EphemeralType::of(0, EXT), EphemeralType::Void);
        assert_eq!(EphemeralType::of(0x100, EXT), EphemeralType::Normal);
        let emu = EphemeralOptions {
            extended_types_enabled: true,
            emulate_353_ttl: true,
        };
        assert_eq!(EphemeralType::of(i64::MIN | 5000, emu), EphemeralType::Ttl);
    }
}
