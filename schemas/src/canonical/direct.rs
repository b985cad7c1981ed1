//! The canonical encoding written straight from `Serialize`, without a `serde_json::Value`
//! tree in between: what hashing an event costs on the proxy's path is mostly this.
//!
//! Each object's members are written one after the other at the end of the output, then put
//! in canonical order in place (one copy per object); arrays and scalars are written as they
//! come. The result is byte for byte what [`super::to_canonical_bytes`] gives for
//! `serde_json::to_value` of the same value, including its rules for duplicate names (the
//! last one wins), map keys (strings, integers and booleans become names), bytes (arrays of
//! integers) and non-finite floats (`null`); the tests in `canonical::tests` compare the two.
//!
//! Not here: the escaping and ordering rules themselves (`canonical`).

use std::borrow::Cow;

use serde::ser::{self, Serialize};

use super::{CanonicalError, utf16_order, write_string};

/// Canonical bytes of `value`, leaving out the top-level object members named in `skip`.
pub fn to_canonical_vec<T: Serialize + ?Sized>(
    value: &T,
    skip: &[&str],
) -> Result<Vec<u8>, CanonicalError> {
    to_canonical_text(value, skip).map(String::into_bytes)
}

/// [`to_canonical_vec`], as the text it is.
pub fn to_canonical_text<T: Serialize + ?Sized>(
    value: &T,
    skip: &[&str],
) -> Result<String, CanonicalError> {
    let mut out = String::with_capacity(512);
    value.serialize(Writer {
        out: &mut out,
        skip,
    })?;
    Ok(out)
}

impl ser::Error for CanonicalError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        CanonicalError::NotJson {
            reason: msg.to_string(),
        }
    }
}

/// Writes one value at the end of `out`; `skip` applies to the object it writes, if any.
struct Writer<'a> {
    out: &'a mut String,
    skip: &'a [&'a str],
}

fn integer(out: &mut String, n: impl std::fmt::Display) {
    use std::fmt::Write as _;
    // Writing to a String cannot fail.
    let _ = write!(out, "{n}");
}

fn float(out: &mut String, value: f64) -> Result<(), CanonicalError> {
    if value.is_finite() {
        let number =
            serde_json::Number::from_f64(value).map_or_else(String::new, |n| n.to_string());
        return Err(CanonicalError::NonInteger { number });
    }
    out.push_str("null");
    Ok(())
}

fn out_of_range(value: impl std::fmt::Display) -> CanonicalError {
    CanonicalError::NotJson {
        reason: format!("number {value} out of range"),
    }
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = CanonicalError;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Variant<Array<'a>>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Variant<Object<'a>>;

    fn serialize_bool(self, v: bool) -> Result<(), CanonicalError> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), CanonicalError> {
        integer(self.out, v);
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result<(), CanonicalError> {
        integer(self.out, v);
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result<(), CanonicalError> {
        integer(self.out, v);
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), CanonicalError> {
        integer(self.out, v);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), CanonicalError> {
        match (u64::try_from(v), i64::try_from(v)) {
            (Ok(n), _) => integer(self.out, n),
            (_, Ok(n)) => integer(self.out, n),
            _ => return Err(out_of_range(v)),
        }
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), CanonicalError> {
        integer(self.out, v);
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result<(), CanonicalError> {
        integer(self.out, v);
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result<(), CanonicalError> {
        integer(self.out, v);
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), CanonicalError> {
        integer(self.out, v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), CanonicalError> {
        let n = u64::try_from(v).map_err(|_| out_of_range(v))?;
        integer(self.out, n);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), CanonicalError> {
        float(self.out, f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), CanonicalError> {
        float(self.out, v)
    }
    fn serialize_char(self, v: char) -> Result<(), CanonicalError> {
        write_string(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), CanonicalError> {
        write_string(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), CanonicalError> {
        self.out.push('[');
        for (index, byte) in v.iter().enumerate() {
            if index > 0 {
                self.out.push(',');
            }
            integer(self.out, *byte);
        }
        self.out.push(']');
        Ok(())
    }
    fn serialize_none(self) -> Result<(), CanonicalError> {
        self.out.push_str("null");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), CanonicalError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), CanonicalError> {
        self.out.push_str("null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), CanonicalError> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), CanonicalError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), CanonicalError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), CanonicalError> {
        // A one-member object is in canonical order as written.
        self.out.push('{');
        write_string(self.out, variant);
        self.out.push(':');
        value.serialize(Writer {
            out: self.out,
            skip: &[],
        })?;
        self.out.push('}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Array<'a>, CanonicalError> {
        self.out.push('[');
        Ok(Array {
            out: self.out,
            first: true,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Array<'a>, CanonicalError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Array<'a>, CanonicalError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Variant<Array<'a>>, CanonicalError> {
        self.out.push('{');
        write_string(self.out, variant);
        self.out.push(':');
        Ok(Variant(self.serialize_seq(Some(len))?))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Object<'a>, CanonicalError> {
        let start = self.out.len();
        Ok(Object {
            out: self.out,
            skip: self.skip,
            start,
            members: Vec::new(),
            key: None,
        })
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Object<'a>, CanonicalError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Variant<Object<'a>>, CanonicalError> {
        self.out.push('{');
        write_string(self.out, variant);
        self.out.push(':');
        let inner = Writer {
            out: self.out,
            skip: &[],
        };
        Ok(Variant(inner.serialize_map(Some(len))?))
    }
}

/// An array being written.
struct Array<'a> {
    out: &'a mut String,
    first: bool,
}

impl Array<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CanonicalError> {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        value.serialize(Writer {
            out: self.out,
            skip: &[],
        })
    }

    fn close(self) {
        self.out.push(']');
    }
}

/// serde's three sequence shapes are one JSON array: each trait forwards to [`Array`].
macro_rules! array_shape {
    ($shape:ident, $add:ident) => {
        impl ser::$shape for Array<'_> {
            type Ok = ();
            type Error = CanonicalError;
            fn $add<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Self::Error> {
                self.element(value)
            }
            fn end(self) -> Result<(), CanonicalError> {
                self.close();
                Ok(())
            }
        }
    };
}

array_shape!(SerializeSeq, serialize_element);
array_shape!(SerializeTuple, serialize_element);
array_shape!(SerializeTupleStruct, serialize_field);

/// A container inside a one-member `{"variant": …}` object.
struct Variant<C>(C);

impl ser::SerializeTupleVariant for Variant<Array<'_>> {
    type Ok = ();
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Self::Error> {
        self.0.element(value)
    }
    fn end(self) -> Result<(), CanonicalError> {
        let out = self.0.out;
        out.push_str("]}");
        Ok(())
    }
}

impl ser::SerializeStructVariant for Variant<Object<'_>> {
    type Ok = ();
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Self::Error> {
        self.0.member(Cow::Borrowed(key), value)
    }
    fn end(self) -> Result<(), CanonicalError> {
        let out = self.0.close();
        out.push('}');
        Ok(())
    }
}

/// One member written: its name, and where its value's text lies in the output.
struct Member {
    name: Cow<'static, str>,
    value: std::ops::Range<usize>,
}

/// An object being written: member values go to the end of `out` as they come, and
/// `close` puts the members in canonical order.
struct Object<'a> {
    out: &'a mut String,
    skip: &'a [&'a str],
    start: usize,
    members: Vec<Member>,
    key: Option<Cow<'static, str>>,
}

impl<'a> Object<'a> {
    fn member<T: Serialize + ?Sized>(
        &mut self,
        name: Cow<'static, str>,
        value: &T,
    ) -> Result<(), CanonicalError> {
        let from = self.out.len();
        value.serialize(Writer {
            out: self.out,
            skip: &[],
        })?;
        let to = self.out.len();
        self.members.push(Member {
            name,
            value: from..to,
        });
        Ok(())
    }

    fn close(self) -> &'a mut String {
        let Object {
            out,
            skip,
            start,
            mut members,
            ..
        } = self;
        let written = out.split_off(start);
        // Stable, so that among equal names the last written stays last: it is the one kept.
        members.sort_by(|a, b| utf16_order(&a.name, &b.name));
        out.push('{');
        let mut first = true;
        for (index, member) in members.iter().enumerate() {
            let shadowed = members
                .get(index + 1)
                .is_some_and(|next| next.name == member.name);
            if shadowed || skip.contains(&member.name.as_ref()) {
                continue;
            }
            if !first {
                out.push(',');
            }
            first = false;
            write_string(out, &member.name);
            out.push(':');
            let at = member.value.start - start..member.value.end - start;
            out.push_str(written.get(at).unwrap_or_default());
        }
        out.push('}');
        out
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = CanonicalError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Self::Error> {
        self.key = Some(Cow::Owned(key.serialize(KeyWriter)?));
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Self::Error> {
        let name = self.key.take().ok_or_else(|| CanonicalError::NotJson {
            reason: "a map value without its key".to_owned(),
        })?;
        self.member(name, value)
    }
    fn end(self) -> Result<(), CanonicalError> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = CanonicalError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Self::Error> {
        self.member(Cow::Borrowed(key), value)
    }
    fn end(self) -> Result<(), CanonicalError> {
        self.close();
        Ok(())
    }
}

/// A map key as a member name, with `serde_json`'s rules: strings, characters, integers,
/// booleans and unit variants; anything else is not a JSON name.
struct KeyWriter;

fn not_a_key() -> CanonicalError {
    CanonicalError::NotJson {
        reason: "key must be a string".to_owned(),
    }
}

impl ser::Serializer for KeyWriter {
    type Ok = String;
    type Error = CanonicalError;
    type SerializeSeq = ser::Impossible<String, CanonicalError>;
    type SerializeTuple = ser::Impossible<String, CanonicalError>;
    type SerializeTupleStruct = ser::Impossible<String, CanonicalError>;
    type SerializeTupleVariant = ser::Impossible<String, CanonicalError>;
    type SerializeMap = ser::Impossible<String, CanonicalError>;
    type SerializeStruct = ser::Impossible<String, CanonicalError>;
    type SerializeStructVariant = ser::Impossible<String, CanonicalError>;

    fn serialize_bool(self, v: bool) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_i8(self, v: i8) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_i128(self, v: i128) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_u128(self, v: u128) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_f32(self, _v: f32) -> Result<String, CanonicalError> {
        Err(not_a_key())
    }
    fn serialize_f64(self, _v: f64) -> Result<String, CanonicalError> {
        Err(not_a_key())
    }
    fn serialize_char(self, v: char) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<String, CanonicalError> {
        Ok(v.to_owned())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String, CanonicalError> {
        Err(not_a_key())
    }
    fn serialize_none(self) -> Result<String, CanonicalError> {
        Err(not_a_key())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<String, CanonicalError> {
        Err(not_a_key())
    }
    fn serialize_unit(self) -> Result<String, CanonicalError> {
        Err(not_a_key())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<String, CanonicalError> {
        Err(not_a_key())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String, CanonicalError> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String, CanonicalError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String, CanonicalError> {
        Err(not_a_key())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, CanonicalError> {
        Err(not_a_key())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, CanonicalError> {
        Err(not_a_key())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, CanonicalError> {
        Err(not_a_key())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, CanonicalError> {
        Err(not_a_key())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, CanonicalError> {
        Err(not_a_key())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, CanonicalError> {
        Err(not_a_key())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, CanonicalError> {
        Err(not_a_key())
    }
}
