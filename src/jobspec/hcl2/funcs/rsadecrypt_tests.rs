//! rsadecrypt(): a fixed 1024-bit key (made with `openssl genrsa
//! -traditional 1024`, and its PKCS #8 form with `openssl pkcs8 -topk8
//! -nocrypt`) and cipher texts `openssl pkeyutl -encrypt -pkeyopt
//! rsa_padding_mode:pkcs1` made for it: no key is made at test time.

use super::*;
use ::base64::Engine;

const KEY: &str = "\
-----BEGIN RSA PRIVATE KEY-----\n\
MIICXAIBAAKBgQDN6y3haJwca96jFcxGQ59kK/PtZXgAaTyOVrlYXUMfTvzjTziu\n\
UaUILPt1IG725bME4fuTa87qA8bUrGwjd6VlS9a7tlahdIvHSbfnwl3xgaxSJgd7\n\
egyb2K5hOtxdXtSwb8bZRYScZhf6uO9CYCk0Np64mP4I0MJVHmPwaYnVwQIDAQAB\n\
AoGAeSs+YDlSQ1cmNwkInwADtso2Syc+Kd/DBm75uYmHidDM9mUTkV/xoJH3lcB0\n\
C0y2vtTLWMBDjWiTg2nCaExrQdXc30FD4TnQdheZgAJJMPivXjYHfRazjQ3F+aN8\n\
K4z7a/OPZ2potzZjPB5jYxFHPNxdBolaXj+boxMphGCtZ9ECQQDmGcRMe6lLd9+0\n\
sc20EpARxQiYrm0rSafQISmkcfxjetga44P2/bdq5leD7aQEDEG+n4qBT4sEIdBh\n\
vHcfPMOjAkEA5Rie80z/xR69LRjZ2fn/8piroW/6Km6zjaSdTayVH/K7hy8mS6G6\n\
on1gmcd73NrDIH3ESdx7+weUmOINp8G3SwJADEHFHhncO8Pn67Uo8vWmLPwk6BUq\n\
hYrH4KNTl4nm2tm5Vz1VUzvSoGQit0laWkjY27Gd7CNzkUXH1tz2L3jKJwJBAMBO\n\
w5bOauEoJXrGopB0aCJXf7L7UU7vMC/VH+qE1YVE95/Jt2bDcuxVPJK5vkKtLCCJ\n\
Eg1CVJxrR5RyJS5N0TMCQCRovrXExJAy1Km8J/7ccVqoq2+FFDSrLcSReueKfZfv\n\
cpbknta5azLoUcl+eTvU3f0RFN/J3oiSZ3ahfgGqvbI=\n\
-----END RSA PRIVATE KEY-----\n\
";

const KEY_PKCS8: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBAM3rLeFonBxr3qMV\n\
zEZDn2Qr8+1leABpPI5WuVhdQx9O/ONPOK5RpQgs+3UgbvblswTh+5NrzuoDxtSs\n\
bCN3pWVL1ru2VqF0i8dJt+fCXfGBrFImB3t6DJvYrmE63F1e1LBvxtlFhJxmF/q4\n\
70JgKTQ2nriY/gjQwlUeY/BpidXBAgMBAAECgYB5Kz5gOVJDVyY3CQifAAO2yjZL\n\
Jz4p38MGbvm5iYeJ0Mz2ZRORX/GgkfeVwHQLTLa+1MtYwEONaJODacJoTGtB1dzf\n\
QUPhOdB2F5mAAkkw+K9eNgd9FrONDcX5o3wrjPtr849nami3NmM8HmNjEUc83F0G\n\
iVpeP5ujEymEYK1n0QJBAOYZxEx7qUt337SxzbQSkBHFCJiubStJp9AhKaRx/GN6\n\
2Brjg/b9t2rmV4PtpAQMQb6fioFPiwQh0GG8dx88w6MCQQDlGJ7zTP/FHr0tGNnZ\n\
+f/ymKuhb/oqbrONpJ1NrJUf8ruHLyZLobqifWCZx3vc2sMgfcRJ3Hv7B5SY4g2n\n\
wbdLAkAMQcUeGdw7w+frtSjy9aYs/CToFSqFisfgo1OXieba2blXPVVTO9KgZCK3\n\
SVpaSNjbsZ3sI3ORRcfW3PYveMonAkEAwE7Dls5q4SglesaikHRoIld/svtRTu8w\n\
L9Uf6oTVhUT3n8m3ZsNy7FU8krm+Qq0sIIkSDUJUnGtHlHIlLk3RMwJAJGi+tcTE\n\
kDLUqbwn/txxWqirb4UUNKstxJF654p9l+9yluSe1rlrMuhRyX55O9Td/REU38ne\n\
iJJndqF+Aaq9sg==\n\
-----END PRIVATE KEY-----\n\
";

/// "supd secret ☃" encrypted for [`KEY`].
const SECRET: &str = "vmQ8YEHX5FopAtq920S5nWOYlwMIV2WnmOoUhdQa2dQgs2BwrqumcrB0RdRBgB5uqYv5X+hVyDF3ZgPYI0OWA4uM1TWZr8Yz20vNOmfkB0pp+uiU9IctlhyqJK3cBPiyQuJQviug+vSJO4K/nMeazZ+dH+yyrhYIdL8Noj2VPgw=";
/// The same, encrypted again (PKCS #1 v1.5 padding is random).
const SECRET_AGAIN: &str = "btrJkk3i378sZeQnl00TtcvY6sRcvHt2TsMrWBF5sDojWWnWsnUc9rPjozdZIqSDBXR3H68HF5NAqI86xgWfLXMzqdnXdoHbHPls9G6GqcD6c4CYrXbIyxcMoFZJEa6TBj1PJNskXDYfSQX9bngfYu93bQirL3Sf6v1yOl1PY5s=";
/// The same, encrypted with OAEP padding instead.
const SECRET_OAEP: &str = "Gi5tSVEbRlm5WMac7vKgS+WD6hroqmCzLrxabPcmaFpikCqOjCaLodvm+iAhfmQAhNk8gI0hgk46pnKnyZBzkKxP8tEdfumMY4gIDb1GgZ14LgmlghprSY75D/rXinu21bLwHutMY/xWhmAqRmLMzvvg5n2epL7FCsMb1ngs0jg=";
/// The bytes ff fe (not UTF-8) encrypted for [`KEY`].
const NOT_TEXT: &str = "NPH5vAo+kJb05cVy3coHyXf/UGLse8vgixNAYqMunNXo7rq4Yj8TID8F1wOa9Vc7PKfhjv9kzrOX6xgowq6l5t8fVX+Z3aXbeRj88bGIbaWTbciQ5MvFTesIwdn1MhIJGOipPWjXMQ47ztrS7dZZWLBoYObBT1EwiOqDgWl2AUE=";
/// An Ed25519 key (`openssl genpkey -algorithm ed25519`): PKCS #8, not RSA.
const ED25519: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MC4CAQAwBQYDK2VwBCIEIAFU5/uX1D9hTmxehJBEj2VofBzvLDr/rxwb2nF0RDQ7\n\
-----END PRIVATE KEY-----\n";

fn decrypt(ciphertext: &str, key: &str) -> Result<Value, Box<str>> {
    call("rsadecrypt", vec![Value::String(ciphertext.into()), Value::String(key.into())])
        .unwrap_or_else(|| panic!("rsadecrypt: unknown or wrong arity"))
        .map_err(|e| e.to_string().into())
}

/// A PKCS #1 private key's DER with a modulus of `bits` bits (all ones),
/// `d` of `d_bytes` bytes and every other number 3: no key, but one that
/// parses, to see what is refused before any arithmetic.
fn fake_key(bits: usize, d_bytes: usize) -> String {
    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        match body.len() {
            n @ 0..0x80 => v.push(n as u8),
            n @ 0x80..0x100 => v.extend([0x81, n as u8]),
            n => v.extend([0x82, (n >> 8) as u8, n as u8]),
        }
        v.extend_from_slice(body);
        v
    }
    // A leading zero keeps an INTEGER whose first bit is set positive.
    let ones = |bytes: usize| [vec![0u8], vec![0xff; bytes]].concat();
    let three = tlv(0x02, &[3]);
    let mut body = tlv(0x02, &[0]); // version: two primes
    body.extend(tlv(0x02, &ones(bits / 8)));
    body.extend(&three); // e
    body.extend(tlv(0x02, &ones(d_bytes))); // d
    for _ in 0..5 {
        body.extend(&three); // p, q, d mod (p-1), d mod (q-1), q⁻¹ mod p
    }
    let b64 = ::base64::engine::general_purpose::STANDARD.encode(tlv(0x30, &body));
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n", lines.join("\n"))
}

#[test]
fn decrypts_with_a_pkcs1_or_pkcs8_key() {
    set_base(None);
    let secret = Value::String("supd secret ☃".into());
    assert_eq!(decrypt(SECRET, KEY), Ok(secret.clone()));
    assert_eq!(decrypt(SECRET_AGAIN, KEY), Ok(secret.clone()));
    // Beyond Nomad: the same key in a PKCS #8 envelope.
    assert_eq!(decrypt(SECRET, KEY_PKCS8), Ok(secret.clone()));
    // As Go reads them: line breaks in the base64 are skipped, text around
    // the PEM block ignored; and, beyond Go, its lines may be indented (a
    // heredoc's) and of any width.
    let broken = format!("{}\n{}", &SECRET[..40], &SECRET[40..]);
    assert_eq!(decrypt(&broken, KEY), Ok(secret.clone()));
    let around = format!("the key:\n{KEY}that was it\n");
    assert_eq!(decrypt(SECRET, &around), Ok(secret.clone()));
    let indented: String = KEY.lines().map(|l| format!("    {l}\n")).collect();
    assert_eq!(decrypt(SECRET, &indented), Ok(secret.clone()));
    let rewrapped = KEY.replacen("\nUaUILPt1", "UaUILPt1", 1);
    assert_eq!(decrypt(SECRET, &rewrapped), Ok(secret));
    set_base(None);
}

#[test]
fn says_what_is_wrong() {
    set_base(None);
    let e = decrypt("not base64!", KEY).unwrap_err();
    assert!(e.contains("cipher text must be base64-encoded"), "{e}");
    let e = decrypt(SECRET, "no key here").unwrap_err();
    assert!(e.contains("failed to parse key: no key found"), "{e}");
    let e = decrypt(SECRET, "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n").unwrap_err();
    assert!(e.contains("no line -----END RSA PRIVATE KEY-----"), "{e}");
    let e = decrypt(SECRET, "-----BEGIN RSA PRIVATE KEY-----\n!!!!\n-----END RSA PRIVATE KEY-----").unwrap_err();
    assert!(e.contains("is not base64"), "{e}");
    let e = decrypt(SECRET, "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----").unwrap_err();
    assert!(e.contains("failed to parse key") && e.contains("holds no RSA private key"), "{e}");
    let encrypted = KEY.replacen(
        "-----\n",
        "-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n",
        1,
    );
    let e = decrypt(SECRET, &encrypted).unwrap_err();
    assert!(e.contains("password protected keys are not supported"), "{e}");
    let e = decrypt(SECRET, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----")
        .unwrap_err();
    assert!(e.contains("password protected keys are not supported"), "{e}");
    let e = decrypt(SECRET, ED25519).unwrap_err();
    assert!(e.contains("the PKCS #8 key is no RSA key (its algorithm is 1.3.101.112)"), "{e}");
    // The right key, the wrong padding; and bytes that were never encrypted.
    let e = decrypt(SECRET_OAEP, KEY).unwrap_err();
    assert!(e.contains("failed to decrypt: decryption error"), "{e}");
    let e = decrypt("AQID", KEY).unwrap_err();
    assert!(e.contains("failed to decrypt"), "{e}");
    let e = decrypt(NOT_TEXT, KEY).unwrap_err();
    assert!(e.contains("not UTF-8"), "{e}");
    // Numbers that are no key: they parse, the key does not hold together.
    let e = decrypt(SECRET, &fake_key(1024, 8)).unwrap_err();
    assert!(e.contains("failed to parse key") && !e.contains("at most"), "{e}");
    set_base(None);
}

/// A job file is hostile: a key it names is measured before anything is
/// computed with it, and what it decrypts is counted.
#[test]
fn bounds_the_work() {
    set_base(None);
    // 4104 bits: refused from its size alone, and not counted.
    let e = decrypt(SECRET, &fake_key(4104, 8)).unwrap_err();
    assert!(e.contains("it has 4104 bits; at most 4096"), "{e}");
    assert_eq!(RSADECRYPTS.with(|c| c.get()), 0);
    // 4096 bits is not too large (this one then does not hold together),
    // and counts 8.
    let e = decrypt(SECRET, &fake_key(4096, 8)).unwrap_err();
    assert!(!e.contains("at most"), "{e}");
    assert_eq!(RSADECRYPTS.with(|c| c.get()), 8);
    // A number longer than the modulus (a huge d) is refused before the
    // key is built.
    let e = decrypt(SECRET, &fake_key(1024, 4096)).unwrap_err();
    assert!(e.contains("longer than its modulus"), "{e}");
    // A file decrypts a bounded number of times (a 1024-bit key counts 1).
    RSADECRYPTS.with(|c| c.set(MAX_RSADECRYPT_CALLS - 1));
    assert!(decrypt(SECRET, KEY).is_ok());
    let e = decrypt(SECRET, KEY).unwrap_err();
    assert!(e.contains("more than 32 decryptions with a 2048-bit key in one file"), "{e}");
    // The next file starts again.
    set_base(None);
    assert!(decrypt(SECRET, KEY).is_ok());
    set_base(None);
}
