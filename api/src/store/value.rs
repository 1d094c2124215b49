//! Reading script replies (`redis::Value`) without surprises.

use redis::Value;
use taskmaster_shared::model::Fields;

/// A bulk or simple string (or an integer, rendered), as UTF-8.
pub fn string(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Okay => Some("OK".into()),
        _ => None,
    }
}

pub fn u64_of(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => u64::try_from(*i).ok(),
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
        other => string(other)?.parse().ok(),
    }
}

/// An array reply (nil and an empty array are both empty).
pub fn array(v: Value) -> Option<Vec<Value>> {
    match v {
        Value::Array(items) => Some(items),
        Value::Nil => Some(Vec::new()),
        _ => None,
    }
}

/// A flat `field value field value …` reply (HGETALL) as a map.
pub fn fields(v: Value) -> Fields {
    let items = array(v).unwrap_or_default();
    let mut out = Fields::with_capacity(items.len() / 2);
    let mut it = items.iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        if let (Some(k), Some(v)) = (string(k), string(v)) {
            out.insert(k, v);
        }
    }
    out
}
