//! Hashes, identifiers and decryption: md5, sha1, sha256, sha512, bcrypt,
//! uuidv4, uuidv5 and rsadecrypt, the costly ones bounded per file.

use super::super::limits::MAX_BCRYPT_COST;
use super::error::{FuncError, Limit};
use super::{BCRYPTS, MAX_BCRYPT_CALLS, MAX_RSA_BITS, MAX_RSADECRYPT_CALLS, R, RSADECRYPTS, s, whole};
use hcl::Value;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
pub fn md5(a: Vec<Value>) -> R {
    use sha2::Digest;
    Ok(Value::String(hex(&::md5::Md5::digest(s(&a[0])?.as_bytes()))))
}
pub fn sha1(a: Vec<Value>) -> R {
    use sha2::Digest;
    Ok(Value::String(hex(&::sha1::Sha1::digest(s(&a[0])?.as_bytes()))))
}
pub fn sha256(a: Vec<Value>) -> R {
    use sha2::Digest;
    Ok(Value::String(hex(&::sha2::Sha256::digest(s(&a[0])?.as_bytes()))))
}
pub fn sha512(a: Vec<Value>) -> R {
    use sha2::Digest;
    Ok(Value::String(hex(&::sha2::Sha512::digest(s(&a[0])?.as_bytes()))))
}
/// A bcrypt hash (`$2a$`, as Go's), cost 10 unless given; a cost below
/// 4 is 10, as in Go.
pub fn bcrypt(a: Vec<Value>) -> R {
    let password = s(&a[0])?;
    let cost = match a.get(1) {
        Some(c) => whole(c)?,
        None => 10,
    };
    let cost = if cost < 4 { 10 } else { cost };
    if cost > MAX_BCRYPT_COST {
        return Err(Limit::BcryptCost(cost).into());
    }
    let work = 1u32 << (cost.clamp(10, MAX_BCRYPT_COST) - 10);
    let done = BCRYPTS.with(|c| {
        c.set(c.get() + work);
        c.get()
    });
    if done > MAX_BCRYPT_CALLS {
        return Err(Limit::Bcrypts.into());
    }
    ::bcrypt::non_truncating_hash_with_result(password.as_bytes(), cost as u32)
        .map(|h| Value::String(h.format_for_version(::bcrypt::Version::TwoA)))
        .map_err(|e| match e {
            ::bcrypt::BcryptError::Truncation(_) => FuncError::Invalid("the password is longer than 72 bytes".into()),
            e => FuncError::Bcrypt(e),
        })
}
/// Decrypts `ciphertext` (base64; RSA with PKCS #1 v1.5 padding) with a
/// PEM private key, as Nomad's (Terraform's) rsadecrypt: the first PEM
/// block of the text, a PKCS #1 key ("RSA PRIVATE KEY") as Nomad takes
/// it, or beyond Nomad one in a PKCS #8 envelope ("PRIVATE KEY"). The
/// key is measured before any arithmetic on it, and the work counted
/// against the file's budget ([`MAX_RSADECRYPT_CALLS`]).
pub fn rsadecrypt(a: Vec<Value>) -> R {
    use ::base64::Engine;
    use ::rsa::pkcs1::DecodeRsaPrivateKey;
    let (text, pem) = (s(&a[0])?, s(&a[1])?);
    // Go's decoder skips line breaks.
    let text: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    let ciphertext = ::base64::engine::general_purpose::STANDARD.decode(text.as_bytes()).map_err(|e| {
        FuncError::Invalid(format!("failed to decode the input: cipher text must be base64-encoded ({e})"))
    })?;
    let block = pem_block(&pem)?;
    let (der, bits) = rsa_key_der(&block)?;
    // Decryption costs the cube of the key's size: a 2048-bit key
    // counts 1 (and a smaller one), 3072 bits 4, 4096 bits 8.
    let k = bits.div_ceil(1024) as u32;
    let work = (k * k * k).div_ceil(8).max(1);
    let done = RSADECRYPTS.with(|c| {
        c.set(c.get().saturating_add(work));
        c.get()
    });
    if done > MAX_RSADECRYPT_CALLS {
        return Err(Limit::Rsadecrypts.into());
    }
    let key = ::rsa::RsaPrivateKey::from_pkcs1_der(der)
        .map_err(|e| FuncError::Invalid(format!("failed to parse key: {e}")))?;
    let plain = key.decrypt(::rsa::Pkcs1v15Encrypt, &ciphertext).map_err(|e| {
        FuncError::Invalid(format!(
            "failed to decrypt: {e} — the cipher text must be made with this key's public key and PKCS #1 v1.5 padding"
        ))
    })?;
    String::from_utf8(plain)
        .map(Value::String)
        .map_err(|_| FuncError::Invalid("the decrypted data is not UTF-8 text (rsadecrypt() is for text)".into()))
}
/// A PEM block: its type, whether its headers say it is encrypted, and
/// what it holds.
struct Pem {
    label: String,
    encrypted: bool,
    bytes: Vec<u8>,
}
/// The first PEM block of `text`, found as Go's pem.Decode finds it
/// (text around it ignored, headers read before the data), a little
/// more leniently: its lines may be indented and of any width.
fn pem_block(text: &str) -> Result<Pem, FuncError> {
    use ::base64::Engine;
    const NO_KEY: &str = "failed to parse key: no key found (no line -----BEGIN RSA PRIVATE KEY-----)";
    let mut lines = text.lines();
    let label = loop {
        let line = lines.next().ok_or_else(|| FuncError::Invalid(NO_KEY.into()))?;
        if let Some(label) = line.trim().strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) {
            break label;
        }
    };
    let end = format!("-----END {label}-----");
    let (mut encrypted, mut in_headers, mut ended) = (false, true, false);
    let mut body = String::new();
    for line in lines {
        let line = line.trim();
        if line == end {
            ended = true;
            break;
        }
        if in_headers {
            if let Some((name, value)) = line.split_once(':') {
                encrypted |= name.trim() == "Proc-Type" && value.trim() == "4,ENCRYPTED";
                continue;
            }
            in_headers = false;
        }
        body.extend(line.chars().filter(|c| !c.is_whitespace()));
    }
    if !ended {
        return Err(FuncError::Invalid(format!("failed to parse key: the PEM block {label:?} has no line {end}")));
    }
    let bytes = ::base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|e| FuncError::Invalid(format!("failed to parse key: the PEM block {label:?} is not base64 ({e})")))?;
    Ok(Pem { label: label.to_string(), encrypted, bytes })
}
/// The PKCS #1 RSA private key in `pem` (the DER, in a PKCS #8 envelope
/// or not, whatever the block's type says, as Go takes it) and the size
/// of its modulus in bits. Refused before the key is built (which
/// multiplies and divides its numbers): a modulus of more than
/// [`MAX_RSA_BITS`] bits, or another number in it longer than the
/// modulus.
fn rsa_key_der(pem: &Pem) -> Result<(&[u8], usize), FuncError> {
    use ::rsa::{pkcs1, pkcs8};
    if pem.encrypted || pem.label == "ENCRYPTED PRIVATE KEY" {
        return Err(FuncError::Invalid(
            "failed to parse key: password protected keys are not supported. Please decrypt the key prior to use"
                .into(),
        ));
    }
    let der: &[u8] = match pkcs1::RsaPrivateKey::try_from(pem.bytes.as_slice()) {
        Ok(_) => &pem.bytes,
        Err(as_pkcs1) => match pkcs8::PrivateKeyInfo::try_from(pem.bytes.as_slice()) {
            Ok(info) if info.algorithm.oid == pkcs1::ALGORITHM_OID => info.private_key,
            Ok(info) => {
                return Err(FuncError::Invalid(format!(
                    "failed to parse key: the PKCS #8 key is no RSA key (its algorithm is {})",
                    info.algorithm.oid
                )));
            }
            Err(_) => {
                return Err(FuncError::Invalid(format!(
                    "failed to parse key: the PEM block {:?} holds no RSA private key, PKCS #1 or PKCS #8 ({as_pkcs1})",
                    pem.label
                )));
            }
        },
    };
    let key =
        pkcs1::RsaPrivateKey::try_from(der).map_err(|e| FuncError::Invalid(format!("failed to parse key: {e}")))?;
    let n = key.modulus.as_bytes();
    // Leading zeros are stripped: the first byte is the highest.
    let bits = n.first().map_or(0, |b| (n.len() - 1) * 8 + (8 - b.leading_zeros() as usize));
    if bits > MAX_RSA_BITS {
        return Err(Limit::RsaBits(bits).into());
    }
    if key.other_prime_infos.is_some() {
        return Err(FuncError::Invalid("failed to parse key: a key of more than two primes is not supported".into()));
    }
    let numbers = [
        &key.public_exponent,
        &key.private_exponent,
        &key.prime1,
        &key.prime2,
        &key.exponent1,
        &key.exponent2,
        &key.coefficient,
    ];
    if numbers.iter().any(|u| u.as_bytes().len() > n.len()) {
        return Err(FuncError::Invalid(
            "failed to parse key: it is malformed (a number in it is longer than its modulus)".into(),
        ));
    }
    Ok((der, bits))
}
pub fn uuidv4(_: Vec<Value>) -> R {
    Ok(Value::String(::uuid::Uuid::new_v4().to_string()))
}
/// A name-based UUID: the namespace `dns`, `url`, `oid`, `x500` or a
/// UUID.
pub fn uuidv5(a: Vec<Value>) -> R {
    use ::uuid::Uuid;
    let (namespace, name) = (s(&a[0])?, s(&a[1])?);
    let ns = match namespace.as_str() {
        "dns" => Uuid::NAMESPACE_DNS,
        "url" => Uuid::NAMESPACE_URL,
        "oid" => Uuid::NAMESPACE_OID,
        "x500" => Uuid::NAMESPACE_X500,
        other => Uuid::parse_str(other).map_err(|e| {
            FuncError::Invalid(format!("the namespace {other:?} is neither dns, url, oid, x500 nor a UUID ({e})"))
        })?,
    };
    Ok(Value::String(Uuid::new_v5(&ns, name.as_bytes()).to_string()))
}
