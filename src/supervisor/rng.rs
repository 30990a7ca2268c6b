//! The supervisor's one source of randomness: restart jitter and instance
//! IDs. xorshift seeded from /dev/urandom; quality is not critical,
//! spreading restarts and unique IDs are.

#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn seeded() -> Rng {
        let mut buf = [0u8; 8];
        if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
            use std::io::Read;
            let _ = f.read_exact(&mut buf);
        }
        Rng::from_seed(u64::from_le_bytes(buf))
    }

    pub fn from_seed(seed: u64) -> Rng {
        // xorshift never leaves zero.
        Rng(if seed == 0 { 0x9E37_79B9_7F4A_7C15 ^ u64::from(std::process::id()) } else { seed })
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A sample from [0, 1), for restart jitter.
    pub fn jitter(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A random identifier shaped like Nomad's allocation IDs.
    pub fn alloc_id(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_the_unit_interval_and_ids_look_like_nomads() {
        let mut r = Rng::from_seed(0);
        for _ in 0..10_000 {
            let j = r.jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
        }
        let id = r.alloc_id();
        let parts: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{id}");
        assert_ne!(id, r.alloc_id(), "each one new");
    }
}
