//! The functions of numbers: least and greatest, rounding, logarithms and
//! powers, and `parseint` in bases from 2 to 62.

use super::super::kind;
use super::error::FuncError;
use super::{R, finite, n, num, whole};
use hcl::Value;

pub fn min(a: Vec<Value>) -> R {
    Ok(num(a.iter().map(n).collect::<Result<Vec<_>, _>>()?.into_iter().fold(f64::INFINITY, f64::min)))
}
pub fn max(a: Vec<Value>) -> R {
    Ok(num(a.iter().map(n).collect::<Result<Vec<_>, _>>()?.into_iter().fold(f64::NEG_INFINITY, f64::max)))
}
pub fn abs(a: Vec<Value>) -> R {
    Ok(num(n(&a[0])?.abs()))
}
pub fn ceil(a: Vec<Value>) -> R {
    Ok(num(n(&a[0])?.ceil()))
}
pub fn floor(a: Vec<Value>) -> R {
    Ok(num(n(&a[0])?.floor()))
}
// `log` and `pow` are the libm crate's (musl's), not the C library's: the
// only uses of libm.so, whose loading alone (its IFUNC resolvers) kept
// about 300 KiB of its pages in supd's memory.
pub fn log(a: Vec<Value>) -> R {
    finite(libm::log(n(&a[0])?) / libm::log(n(&a[1])?))
}
pub fn pow(a: Vec<Value>) -> R {
    finite(libm::pow(n(&a[0])?, n(&a[1])?))
}
pub fn signum(a: Vec<Value>) -> R {
    let x = n(&a[0])?;
    Ok(Value::from(if x > 0.0 {
        1
    } else if x < 0.0 {
        -1
    } else {
        0
    }))
}
/// A string of digits in a base from 2 to 62, as Go's big.Int reads it:
/// an optional sign; letters for the digits above 9, either case up to
/// base 36, above it `a`–`z` before `A`–`Z`.
pub fn parseint(a: Vec<Value>) -> R {
    let Value::String(t) = &a[0] else {
        return Err(FuncError::Invalid(format!("the first argument must be a string, not a {}", kind(&a[0]))));
    };
    let base = whole(&a[1])?;
    if !(2..=62).contains(&base) {
        return Err(FuncError::Invalid("the base must be a whole number from 2 to 62".into()));
    }
    let bad = || FuncError::Invalid(format!("cannot parse {t:?} as a base {base} integer"));
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t.as_str()),
    };
    if digits.is_empty() {
        return Err(bad());
    }
    let mut v: u128 = 0;
    for c in digits.chars() {
        let d = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'a'..='z' => c as u32 - 'a' as u32 + 10,
            'A'..='Z' if base <= 36 => c as u32 - 'A' as u32 + 10,
            'A'..='Z' => c as u32 - 'A' as u32 + 36,
            _ => return Err(bad()),
        };
        if i64::from(d) >= base {
            return Err(bad());
        }
        v = v
            .checked_mul(base as u128)
            .and_then(|v| v.checked_add(u128::from(d)))
            .ok_or_else(|| FuncError::Invalid(format!("{t:?} is too large")))?;
    }
    if negative {
        if v > i64::MAX as u128 + 1 {
            return Err(FuncError::Invalid(format!("{t:?} is too small (at least {})", i64::MIN)));
        }
        Ok(Value::from((-(v as i128)) as i64))
    } else {
        u64::try_from(v)
            .map(Value::from)
            .map_err(|_| FuncError::Invalid(format!("{t:?} is too large (at most {})", u64::MAX)))
    }
}
