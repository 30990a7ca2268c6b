//! An artifact's checksum, go-getter's `TYPE:HEX`.

use super::error::ChecksumError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl ChecksumAlgo {
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumAlgo::Md5 => "md5",
            ChecksumAlgo::Sha1 => "sha1",
            ChecksumAlgo::Sha256 => "sha256",
            ChecksumAlgo::Sha512 => "sha512",
        }
    }

    fn len(self) -> usize {
        match self {
            ChecksumAlgo::Md5 => 16,
            ChecksumAlgo::Sha1 => 20,
            ChecksumAlgo::Sha256 => 32,
            ChecksumAlgo::Sha512 => 64,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algo: ChecksumAlgo,
    pub digest: Vec<u8>,
}

impl Checksum {
    /// go-getter's `TYPE:HEX`, as Nomad validates it.
    pub fn parse(text: &str) -> Result<Checksum, ChecksumError> {
        let text = text.trim();
        let Some((kind, hex)) = text.split_once(':') else {
            return Err(ChecksumError::NoType { text: text.to_string() });
        };
        let algo = match kind {
            "md5" => ChecksumAlgo::Md5,
            "sha1" => ChecksumAlgo::Sha1,
            "sha256" => ChecksumAlgo::Sha256,
            "sha512" => ChecksumAlgo::Sha512,
            "file" => return Err(ChecksumError::File),
            other => return Err(ChecksumError::UnknownType { kind: other.to_string() }),
        };
        let digest = decode_hex(hex).ok_or_else(|| ChecksumError::NotHex { hex: hex.to_string() })?;
        if digest.len() != algo.len() {
            return Err(ChecksumError::Length { algo: algo.as_str(), digits: algo.len() * 2, hex: hex.to_string() });
        }
        Ok(Checksum { algo, digest })
    }

    pub fn hex(&self) -> String {
        self.digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}
