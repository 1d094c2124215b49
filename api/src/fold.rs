//! A serde adapter that folds the field names of JSON objects to lower case
//! while they stream by, so that a request body is deserialised in one pass
//! without building a `serde_json::Value` first.
//!
//! Only objects read as structs are folded (a request's top level and a
//! batch's `updates`); maps and free-form values (`work_times`) pass
//! through untouched, exactly the objects that
//! [`crate::extract::parse_json`]'s careful path folds.
//!
//! The adapter is the fast path only: it gives up on anything it would
//! decide differently from the careful path (two keys that fold to the same
//! field make the derived struct report a duplicate) and on every error,
//! and the careful path then parses the body again and writes the message.
//! So a body it accepts is one the careful path accepts the same way.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};

/// Wraps a deserializer: structs below it get their keys folded.
pub struct Folding<D>(pub D);

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Self::Error> {
                self.0.$method($($arg,)* visitor)
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Folding<D> {
    type Error = D::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_struct(name, fields, FoldKeys(visitor))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_option(Optional(visitor))
    }

    forward! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }
}

/// `Some(…)` goes on through [`Folding`] (a batch's `updates` is an
/// optional struct).
struct Optional<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for Optional<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none()
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_some(Folding(d))
    }
}

/// A struct's visitor, handed an object whose keys are folded.
///
/// Only an object is a struct here: serde's derived visitors would also
/// take an array and fill the fields by position (`["title", 2]` for a
/// task), which no client means; and the message says "a JSON object",
/// not the name of a Rust type.
struct FoldKeys<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for FoldKeys<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(FoldMap(map))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _seq: A) -> Result<V::Value, A::Error> {
        Err(serde::de::Error::invalid_type(
            serde::de::Unexpected::Seq,
            &self,
        ))
    }
}

struct FoldMap<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for FoldMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(Key(seed))
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.0.next_value_seed(Value(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

/// A value inside a folded object: deserialised through [`Folding`].
struct Value<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Value<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Folding(d))
    }
}

/// A key of a folded object.
struct Key<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Key<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(KeyDeserializer(d))
    }
}

struct KeyDeserializer<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for KeyDeserializer<D> {
    type Error = D::Error;

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_identifier(Lower(visitor))
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(Lower(visitor))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_str(Lower(visitor))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_string(Lower(visitor))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct
        enum ignored_any
    }
}

/// Hands a key on in lower case.
struct Lower<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for Lower<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<V::Value, E> {
        if has_upper(s) {
            self.0.visit_string(s.to_ascii_lowercase())
        } else {
            self.0.visit_borrowed_str(s)
        }
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<V::Value, E> {
        if has_upper(s) {
            self.0.visit_string(s.to_ascii_lowercase())
        } else {
            self.0.visit_str(s)
        }
    }

    fn visit_string<E: serde::de::Error>(self, mut s: String) -> Result<V::Value, E> {
        s.make_ascii_lowercase();
        self.0.visit_string(s)
    }
}

fn has_upper(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_uppercase())
}
