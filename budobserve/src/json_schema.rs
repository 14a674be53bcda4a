//! The JSON schema of a value recorded as JSON, built from its type as serde sees it — never from its data. A
//! struct's fields are its properties (their names are the type's); a map is an object whose keys (data: user ids,
//! tokens) are never written — with `additionalProperties` when its values share one shape; a sequence's items are
//! described by its first element. A `serde_json::Value` object is a map to serde: it is described as one.

use serde::ser::{self, Serialize};
use serde_json::{Map, Value as Json, json};

/// How deep a schema describes nested values.
const MAX_DEPTH: usize = 4;

/// The schema of `value`'s type (`None` when serializing it fails).
pub(crate) fn of<T: Serialize + ?Sized>(value: &T) -> Option<Json> {
    value.serialize(Schema { depth: 0 }).ok()
}

/// One span's schemas merged into one (a late value's entry is written as a schema of its own): the properties
/// of each, a later one's replacing an earlier one's of the same key. `None` when none is a schema object.
pub(crate) fn merge<'a>(schemas: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut properties = Map::new();
    let mut any = false;
    for text in schemas {
        if let Ok(Json::Object(mut schema)) = serde_json::from_str::<Json>(text) {
            any = true;
            if let Some(Json::Object(entries)) = schema.remove("properties") {
                properties.extend(entries);
            }
        }
    }
    any.then(|| json!({ "type": "object", "properties": properties }).to_string())
}

/// `schema` with only the properties `keep` holds; `None` when none is left (or it is not a schema object).
pub(crate) fn retain(schema: &str, keep: impl Fn(&str) -> bool) -> Option<String> {
    let Ok(Json::Object(mut schema)) = serde_json::from_str::<Json>(schema) else { return None };
    let Some(Json::Object(properties)) = schema.get_mut("properties") else { return None };
    properties.retain(|key, _| keep(key));
    if properties.is_empty() { None } else { Some(Json::Object(schema).to_string()) }
}

/// Serializing fails only when a value's own `Serialize` does: the schema is then left out.
#[derive(Debug)]
pub(crate) struct Failed;

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no schema")
    }
}

impl std::error::Error for Failed {}

impl ser::Error for Failed {
    fn custom<T: std::fmt::Display>(_: T) -> Failed {
        Failed
    }
}

fn typed(kind: &str) -> Json {
    json!({ "type": kind })
}

/// A serializer whose output is the schema of what it is given.
#[derive(Clone, Copy)]
struct Schema {
    depth: usize,
}

impl Schema {
    /// The schema of a nested value, or just its type past the depth limit.
    fn nested<T: Serialize + ?Sized>(self, value: &T) -> Result<Json, Failed> {
        if self.depth >= MAX_DEPTH {
            return Ok(json!({}));
        }
        value.serialize(Schema { depth: self.depth + 1 })
    }

    fn variant(name: &'static str, schema: Json) -> Json {
        let mut properties = Map::new();
        properties.insert(name.to_owned(), schema);
        json!({ "type": "object", "properties": properties })
    }
}

/// An array: described by its first element.
struct Items {
    schema: Schema,
    first: Option<Json>,
    variant: Option<&'static str>,
}

impl Items {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Failed> {
        if self.first.is_none() {
            self.first = Some(self.schema.nested(value)?);
        }
        Ok(())
    }

    fn done(self) -> Json {
        let array = match self.first {
            Some(items) if self.schema.depth < MAX_DEPTH => json!({ "type": "array", "items": items }),
            _ => typed("array"),
        };
        match self.variant {
            Some(name) => Schema::variant(name, array),
            None => array,
        }
    }
}

/// An object: a struct's named fields, or a map's values (never its keys).
struct Object {
    schema: Schema,
    properties: Map<String, Json>,
    /// A map's values' schema, while they all share it.
    values: Option<Json>,
    /// A map's values differ in shape: only `object` is said.
    mixed: bool,
    variant: Option<&'static str>,
}

impl Object {
    fn done(self) -> Json {
        let object = if !self.properties.is_empty() {
            json!({ "type": "object", "properties": self.properties })
        } else if let Some(values) = self.values.filter(|_| !self.mixed) {
            json!({ "type": "object", "additionalProperties": values })
        } else {
            typed("object")
        };
        match self.variant {
            Some(name) => Schema::variant(name, object),
            None => object,
        }
    }
}

/// Serde's four array-like shapes (sequence, tuple, tuple struct, tuple variant) are one thing to a schema.
macro_rules! items {
    ($($trait:ident :: $method:ident),* $(,)?) => {$(
        impl ser::$trait for Items {
            type Ok = Json;
            type Error = Failed;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Failed> {
                self.push(value)
            }
            fn end(self) -> Result<Json, Failed> {
                Ok(self.done())
            }
        }
    )*};
}

items!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

impl ser::SerializeMap for Object {
    type Ok = Json;
    type Error = Failed;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, _key: &T) -> Result<(), Failed> {
        // A map's keys are data: never part of the schema.
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Failed> {
        if self.mixed {
            return Ok(());
        }
        let schema = self.schema.nested(value)?;
        match &self.values {
            None => self.values = Some(schema),
            Some(values) if *values == schema => {}
            Some(_) => self.mixed = true,
        }
        Ok(())
    }
    fn end(self) -> Result<Json, Failed> {
        Ok(self.done())
    }
}

impl ser::SerializeStruct for Object {
    type Ok = Json;
    type Error = Failed;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Failed> {
        let schema = self.schema.nested(value)?;
        self.properties.insert(key.to_owned(), schema);
        Ok(())
    }
    fn end(self) -> Result<Json, Failed> {
        Ok(self.done())
    }
}

impl ser::SerializeStructVariant for Object {
    type Ok = Json;
    type Error = Failed;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Failed> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<Json, Failed> {
        Ok(self.done())
    }
}

impl ser::Serializer for Schema {
    type Ok = Json;
    type Error = Failed;
    type SerializeSeq = Items;
    type SerializeTuple = Items;
    type SerializeTupleStruct = Items;
    type SerializeTupleVariant = Items;
    type SerializeMap = Object;
    type SerializeStruct = Object;
    type SerializeStructVariant = Object;

    fn serialize_bool(self, _: bool) -> Result<Json, Failed> {
        Ok(typed("boolean"))
    }
    fn serialize_i8(self, _: i8) -> Result<Json, Failed> {
        Ok(typed("integer"))
    }
    fn serialize_i16(self, _: i16) -> Result<Json, Failed> {
        Ok(typed("integer"))
    }
    fn serialize_i32(self, _: i32) -> Result<Json, Failed> {
        Ok(typed("integer"))
    }
    fn serialize_i64(self, _: i64) -> Result<Json, Failed> {
        Ok(typed("integer"))
    }
    fn serialize_i128(self, _: i128) -> Result<Json, Failed> {
        Ok(typed("integer"))
    }
    fn serialize_u8(self, _: u8) -> Result<Json, Failed> {
        Ok(typed("integer"))
    }
    fn serialize_u16(self, _: u16) -> Result<Json, Failed> {
        Ok(typed("integer"))
    }
    fn serialize_u32(self, _: u32) -> Result<Json, Failed> {
        Ok(typed("integer"))
    }
    fn serialize_u64(self, _: u64) -> Result<Json, Failed> {
        Ok(typed("integer"))
    }
    fn serialize_u128(self, _: u128) -> Result<Json, Failed> {
        Ok(typed("integer"))
    }
    fn serialize_f32(self, _: f32) -> Result<Json, Failed> {
        Ok(typed("number"))
    }
    fn serialize_f64(self, _: f64) -> Result<Json, Failed> {
        Ok(typed("number"))
    }
    fn serialize_char(self, _: char) -> Result<Json, Failed> {
        Ok(typed("string"))
    }
    fn serialize_str(self, _: &str) -> Result<Json, Failed> {
        Ok(typed("string"))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Json, Failed> {
        Ok(json!({ "type": "array", "items": typed("integer") }))
    }
    fn serialize_none(self) -> Result<Json, Failed> {
        Ok(typed("null"))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Json, Failed> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Json, Failed> {
        Ok(typed("null"))
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Json, Failed> {
        Ok(typed("null"))
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<Json, Failed> {
        Ok(typed("string"))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<Json, Failed> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Json, Failed> {
        Ok(Schema::variant(variant, self.nested(value)?))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Items, Failed> {
        Ok(Items { schema: self, first: None, variant: None })
    }
    fn serialize_tuple(self, _: usize) -> Result<Items, Failed> {
        Ok(Items { schema: self, first: None, variant: None })
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Items, Failed> {
        Ok(Items { schema: self, first: None, variant: None })
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Items, Failed> {
        Ok(Items { schema: self, first: None, variant: Some(variant) })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Object, Failed> {
        Ok(Object { schema: self, properties: Map::new(), values: None, mixed: false, variant: None })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Object, Failed> {
        Ok(Object { schema: self, properties: Map::new(), values: None, mixed: false, variant: None })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Object, Failed> {
        Ok(Object { schema: self, properties: Map::new(), values: None, mixed: false, variant: Some(variant) })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(serde::Serialize)]
    struct Order {
        id: u32,
        items: Vec<&'static str>,
        total: f64,
        by_user: BTreeMap<String, u32>,
        note: Option<String>,
    }

    #[test]
    fn structs_give_their_fields_maps_never_their_keys() {
        let order = Order {
            id: 7,
            items: vec!["gpu"],
            total: 9.5,
            by_user: BTreeMap::from([("sk-proj-SecretUsedAsAKey0123456789".to_owned(), 1)]),
            note: None,
        };
        let schema = of(&order).unwrap();
        assert_eq!(
            schema,
            json!({"type": "object", "properties": {
                "id": {"type": "integer"},
                "items": {"type": "array", "items": {"type": "string"}},
                "total": {"type": "number"},
                "by_user": {"type": "object", "additionalProperties": {"type": "integer"}},
                "note": {"type": "null"}
            }})
        );
        assert!(!schema.to_string().contains("SecretUsedAsAKey"));
        let mixed = serde_json::json!({"id": 7, "name": "gpu"});
        assert_eq!(of(&mixed).unwrap(), json!({"type": "object"}));
    }
}
