//! Reading the JSON of a token: its segments decoded without allocating when they fit, and
//! every member as its JSON type, so that the checks can tell "absent" from "wrong type".

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::b64;
use crate::error::VerifyError;

/// A JSON member as the verifier sees it: absent, or its JSON type with borrowed text.
#[derive(Default)]
pub(crate) enum Field<'a> {
    #[default]
    Missing,
    Str(Cow<'a, str>),
    Int(i64),
    Strs(Vec<Cow<'a, str>>),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor(PhantomData))
    }
}

struct FieldVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for FieldVisitor<'a> {
    type Value = Field<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any json value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Field::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Field::Other, Field::Int))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut strs = Vec::new();
        let mut all_strings = true;
        while let Some(item) = seq.next_element::<Field<'a>>()? {
            match item {
                Field::Str(s) if all_strings => strs.push(s),
                _ => all_strings = false,
            }
        }
        Ok(if all_strings {
            Field::Strs(strs)
        } else {
            Field::Other
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Other)
    }
}

impl<'a> Field<'a> {
    /// A required string claim.
    pub(crate) fn string(self, name: &'static str) -> Result<Cow<'a, str>, VerifyError> {
        match self {
            Self::Str(s) => Ok(s),
            Self::Missing => Err(VerifyError::MissingClaim(name)),
            _ => Err(VerifyError::InvalidClaim(name)),
        }
    }

    /// A required integer claim (a float, even a whole one, is not an integer).
    pub(crate) fn int(&self, name: &'static str) -> Result<i64, VerifyError> {
        match self {
            Self::Int(i) => Ok(*i),
            Self::Missing => Err(VerifyError::MissingClaim(name)),
            _ => Err(VerifyError::InvalidClaim(name)),
        }
    }
}

/// Any value present, including `null`: a `crit` member of any shape is refused.
#[derive(Default)]
pub(crate) struct Present(pub(crate) bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| Present(true))
    }
}

/// Parses a JSON object (never an array, which serde would also map onto a struct).
pub(crate) fn json_object<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, VerifyError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(bytes).map_err(|_| VerifyError::Json),
        _ => Err(VerifyError::Json),
    }
}

/// Decodes a segment into `stack` when it fits (the usual case, no allocation), else
/// into `heap`.
pub(crate) fn decode_segment<'b>(
    seg: &[u8],
    stack: &'b mut [u8],
    heap: &'b mut Vec<u8>,
) -> Result<&'b [u8], VerifyError> {
    match b64::decode_slice(seg, stack) {
        Ok(n) => stack.get(..n).ok_or(VerifyError::Base64),
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
            *heap = b64::decode(seg).map_err(|_| VerifyError::Base64)?;
            Ok(heap)
        }
        Err(base64::DecodeSliceError::DecodeError(_)) => Err(VerifyError::Base64),
    }
}
