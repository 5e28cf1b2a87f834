//! What the load generator sends: the key space, the key distribution (uniform or Zipf), the
//! GET/PUT mix and the request bytes. Everything is precomputed once per run except the key
//! digits, so building a request is a few `memcpy`s into the connection's reused write buffer.

use super::super::http::{push_encoded_key, CACHE_PATH};

/// SplitMix64: tiny, fast, good enough to pick keys and operations (not for anything secret).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, n); n > 0. Lemire's multiply-shift (bias below 2^-64 * n, irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Zipf over ranks 1..=n with exponent `s` (> 0), by rejection-inversion (Hörmann and Derflinger
/// 1996, as in Apache Commons RNG): O(1) per sample, no table, any n. Rank 1 is the hottest key.
#[derive(Clone, Debug)]
pub struct Zipf {
    n: f64,
    s: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    shift: f64,
}

impl Zipf {
    pub fn new(n: u64, s: f64) -> Zipf {
        let n = n.max(1) as f64;
        let mut z = Zipf {
            n,
            s,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            shift: 0.0,
        };
        z.h_integral_x1 = z.h_integral(1.5) - 1.0;
        z.h_integral_n = z.h_integral(n + 0.5);
        z.shift = 2.0 - z.h_integral_inv(z.h_integral(2.5) - z.h(2.0));
        z
    }

    /// A rank in 1..=n.
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        loop {
            let u = self.h_integral_n + rng.next_f64() * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inv(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.shift || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }

    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        helper2((1.0 - self.s) * log_x) * log_x
    }

    fn h_integral_inv(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.s)).max(-1.0);
        (helper1(t) * x).exp()
    }
}

/// ln(1+x)/x, accurate near 0.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// (e^x - 1)/x, accurate near 0.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x))
    }
}

/// How keys are drawn from the key space.
#[derive(Clone, Debug)]
pub enum Dist {
    Uniform,
    Zipf(Zipf),
}

/// Keys `{prefix}{index zero-padded}` for index in 0..count: with the default prefix `key:` and
/// `key_size` 16 they are `key:000000000042`, the same 16-byte keys redis-benchmark uses.
#[derive(Clone, Debug)]
pub struct KeySpace {
    /// `/api/v1/cache/` + the percent-encoded prefix.
    path_prefix: Vec<u8>,
    width: usize,
    pub count: u64,
}

impl KeySpace {
    /// Keys of `key_size` bytes (or longer, when `count` needs more digits).
    pub fn new(prefix: &str, key_size: usize, count: u64) -> KeySpace {
        let digits = count.saturating_sub(1).max(1).ilog10() as usize + 1;
        let width = key_size.saturating_sub(prefix.len()).max(digits);
        let mut path_prefix = CACHE_PATH.as_bytes().to_vec();
        push_encoded_key(&mut path_prefix, prefix.as_bytes());
        KeySpace {
            path_prefix,
            width,
            count: count.max(1),
        }
    }

    /// Append the request path of key `idx`.
    pub fn push_path(&self, out: &mut Vec<u8>, idx: u64) {
        out.extend_from_slice(&self.path_prefix);
        if self.width == 0 {
            return; // a fixed key
        }
        let mut buf = itoa::Buffer::new();
        let digits = buf.format(idx).as_bytes();
        let pad = self.width.saturating_sub(digits.len());
        out.extend(std::iter::repeat_n(b'0', pad));
        out.extend_from_slice(digits);
    }

    /// A key space of one fixed key (`--key`), for GET-hit runs.
    pub fn fixed(key: &str) -> KeySpace {
        let mut path_prefix = CACHE_PATH.as_bytes().to_vec();
        push_encoded_key(&mut path_prefix, key.as_bytes());
        KeySpace {
            path_prefix,
            width: 0,
            count: 1,
        }
    }

    /// The key itself (decoded), for messages and tests.
    pub fn key(&self, prefix: &str, idx: u64) -> String {
        format!("{prefix}{idx:0width$}", width = self.width)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Get,
    Put,
}

/// The request mix and every fixed byte of the requests.
#[derive(Clone, Debug)]
pub struct Workload {
    pub keys: KeySpace,
    pub dist: Dist,
    /// Out of `get_weight + put_weight`.
    pub get_weight: u64,
    pub put_weight: u64,
    /// ` HTTP/1.1\r\nHost: ...\r\n\r\n` after a GET path.
    get_tail: Vec<u8>,
    /// ` HTTP/1.1\r\nHost: ...\r\nContent-Length: N\r\n\r\n{"value":...}` after a PUT path.
    put_tail: Vec<u8>,
}

impl Workload {
    /// `value_size`: bytes of the stored JSON value (a string of `value_size - 2` letters plus its
    /// quotes); `ttl`: seconds, none when `None`.
    pub fn new(
        keys: KeySpace,
        dist: Dist,
        (get_weight, put_weight): (u64, u64),
        host: &str,
        value_size: usize,
        ttl: Option<u64>,
    ) -> Workload {
        let auth = crate::credential::header().unwrap_or("");
        let get_tail = format!(" HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n").into_bytes();
        let letters = "x".repeat(value_size.saturating_sub(2));
        let body = match ttl {
            Some(t) => format!("{{\"value\":\"{letters}\",\"ttl\":{t}}}"),
            None => format!("{{\"value\":\"{letters}\"}}"),
        };
        let put_tail = format!(
            " HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes();
        Workload {
            keys,
            dist,
            get_weight,
            put_weight,
            get_tail,
            put_tail,
        }
    }

    /// Draw the next operation and key index.
    pub fn next(&self, rng: &mut Rng) -> (Op, u64) {
        let op = if self.put_weight == 0
            || rng.below(self.get_weight + self.put_weight) < self.get_weight
        {
            Op::Get
        } else {
            Op::Put
        };
        let idx = match &self.dist {
            Dist::Uniform => rng.below(self.keys.count),
            Dist::Zipf(z) => z.sample(rng) - 1,
        };
        (op, idx)
    }

    /// Append one complete request.
    pub fn push_request(&self, out: &mut Vec<u8>, op: Op, idx: u64) {
        match op {
            Op::Get => {
                out.extend_from_slice(b"GET ");
                self.keys.push_path(out, idx);
                out.extend_from_slice(&self.get_tail);
            }
            Op::Put => {
                out.extend_from_slice(b"PUT ");
                self.keys.push_path(out, idx);
                out.extend_from_slice(&self.put_tail);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dcache_http::{parse_head, Limits, Parsed};

    #[test]
    fn keys_have_the_requested_size() {
        let ks = KeySpace::new("key:", 16, 1_000_000);
        assert_eq!(ks.key("key:", 42), "key:000000000042");
        let mut p = Vec::new();
        ks.push_path(&mut p, 42);
        assert_eq!(p, b"/api/v1/cache/key%3A000000000042");
        // More keys than the size allows: the digits win.
        let ks = KeySpace::new("prefix:", 8, 100_000);
        assert_eq!(ks.key("prefix:", 7), "prefix:00007");
    }

    #[test]
    fn a_fixed_key() {
        let ks = KeySpace::fixed("bench:hit");
        let mut p = Vec::new();
        ks.push_path(&mut p, 0);
        assert_eq!(p, b"/api/v1/cache/bench%3Ahit");
        assert_eq!(ks.count, 1);
    }

    #[test]
    fn requests_parse_with_the_nodes_parser() {
        let w = Workload::new(
            KeySpace::new("k", 4, 10),
            Dist::Uniform,
            (1, 1),
            "h:1",
            32,
            Some(5),
        );
        let mut out = Vec::new();
        w.push_request(&mut out, Op::Put, 3);
        w.push_request(&mut out, Op::Get, 3);
        let Ok(Parsed::Complete(h)) = parse_head(&out, &Limits::default()) else {
            panic!("PUT does not parse");
        };
        assert_eq!(&out[h.path.range()], b"/api/v1/cache/k003");
        let body_end = out.windows(2).position(|w| w == b"}G").unwrap() + 1;
        let body = &out[h.head_len..body_end];
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["value"].as_str().unwrap().len(), 30);
        assert_eq!(v["ttl"], 5);
        assert!(matches!(
            parse_head(&out[body_end..], &Limits::default()),
            Ok(Parsed::Complete(_))
        ));
    }

    #[test]
    fn mix_follows_the_ratio() {
        let w = Workload::new(
            KeySpace::new("k", 4, 100),
            Dist::Uniform,
            (9, 1),
            "h",
            8,
            None,
        );
        let mut rng = Rng::new(1);
        let puts = (0..100_000)
            .filter(|_| w.next(&mut rng).0 == Op::Put)
            .count();
        assert!((9_000..11_000).contains(&puts), "{puts}");
        let w = Workload::new(
            KeySpace::new("k", 4, 100),
            Dist::Uniform,
            (1, 0),
            "h",
            8,
            None,
        );
        assert!((0..1000).all(|_| w.next(&mut rng).0 == Op::Get));
    }

    #[test]
    fn zipf_is_skewed_and_in_range() {
        let z = Zipf::new(1000, 0.99);
        let mut rng = Rng::new(7);
        let mut counts = vec![0u32; 1001];
        for _ in 0..200_000 {
            let k = z.sample(&mut rng);
            assert!((1..=1000).contains(&k));
            counts[k as usize] += 1;
        }
        // P(1)/P(2) = 2^0.99 ~ 1.99; P(1) = 1/H(1000, 0.99) ~ 0.13.
        let ratio = f64::from(counts[1]) / f64::from(counts[2]);
        assert!((1.8..2.2).contains(&ratio), "{ratio}");
        assert!((24_000..30_000).contains(&counts[1]), "{}", counts[1]);
        assert!(counts[1000] < counts[10]);
        // s = 1 exactly and tiny n work too.
        assert_eq!(Zipf::new(1, 1.0).sample(&mut rng), 1);
        let z = Zipf::new(10, 1.0);
        assert!((0..1000).all(|_| (1..=10).contains(&z.sample(&mut rng))));
    }

    #[test]
    fn uniform_below_is_in_range() {
        let mut rng = Rng::new(3);
        assert!((0..10_000).all(|_| rng.below(7) < 7));
        assert!((0..10_000).all(|_| (0.0..1.0).contains(&rng.next_f64())));
    }
}
