//! Where a camera stands and how it looks: the physical ranges of the
//! contract. Every change is a new placement version in the ledger.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Violation, ViolationCode};

/// How the device is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Orientation {
    Portrait,
    PortraitUpsideDown,
    LandscapeLeft,
    LandscapeRight,
}

/// Placement metadata of one camera. All fields are optional, at least one
/// is present; each is checked against its physical range ([`PLACEMENT_RANGES`], which
/// also writes the fields' schema).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Placement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub z: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height_m: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pan_deg: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tilt_deg: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roll_deg: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub focal_length_mm: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zoom: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orientation: Option<Orientation>,
    /// Free notes, at most [`PLACEMENT_NOTES_MAX`] characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// The physical range of one numeric placement field.
pub struct Range {
    /// The field's name on the wire.
    pub field: &'static str,
    pub min: f64,
    pub max: f64,
    pub unit: &'static str,
    /// What the field means, for the schema.
    pub doc: &'static str,
    pub example: f64,
    get: fn(&Placement) -> Option<f64>,
}

/// Every numeric placement field with its inclusive range: the one table
/// from which both the check ([`Placement::violations`]) and the OpenAPI
/// schema are made. The Convex side keeps the same table
/// (`PLACEMENT_RANGES` in `convex/wire.ts`; `tests/limits.rs` compares them).
pub const PLACEMENT_RANGES: [Range; 10] = [
    Range {
        field: "x",
        min: -1000.0,
        max: 1000.0,
        unit: "metres",
        doc: "Position in metres from the set's origin",
        example: 1.5,
        get: |p| p.x,
    },
    Range {
        field: "y",
        min: -1000.0,
        max: 1000.0,
        unit: "metres",
        doc: "Position in metres",
        example: -2.0,
        get: |p| p.y,
    },
    Range {
        field: "z",
        min: -1000.0,
        max: 1000.0,
        unit: "metres",
        doc: "Position in metres",
        example: 0.0,
        get: |p| p.z,
    },
    Range {
        field: "heightM",
        min: 0.0,
        max: 100.0,
        unit: "metres",
        doc: "Lens height above the floor in metres",
        example: 1.6,
        get: |p| p.height_m,
    },
    Range {
        field: "distanceM",
        min: 0.0,
        max: 1000.0,
        unit: "metres",
        doc: "Distance to the subject in metres",
        example: 3.2,
        get: |p| p.distance_m,
    },
    Range {
        field: "panDeg",
        min: -180.0,
        max: 180.0,
        unit: "degrees",
        doc: "Pan in degrees",
        example: 15.0,
        get: |p| p.pan_deg,
    },
    Range {
        field: "tiltDeg",
        min: -90.0,
        max: 90.0,
        unit: "degrees",
        doc: "Tilt in degrees",
        example: -5.0,
        get: |p| p.tilt_deg,
    },
    Range {
        field: "rollDeg",
        min: -180.0,
        max: 180.0,
        unit: "degrees",
        doc: "Roll in degrees",
        example: 0.0,
        get: |p| p.roll_deg,
    },
    Range {
        field: "focalLengthMm",
        min: 1.0,
        max: 2000.0,
        unit: "millimetres",
        doc: "Lens focal length in millimetres (35 mm equivalent)",
        example: 26.0,
        get: |p| p.focal_length_mm,
    },
    Range {
        field: "zoom",
        min: 0.1,
        max: 200.0,
        unit: "x",
        doc: "Zoom factor (0.5 is an ultra-wide lens)",
        example: 1.0,
        get: |p| p.zoom,
    },
];

/// The longest placement note, in characters.
pub const PLACEMENT_NOTES_MAX: usize = 1000;

impl Placement {
    /// The ranges of the contract. Returns one violation per bad field.
    pub fn violations(&self, pointer: &str) -> Vec<Violation> {
        let mut out = Vec::new();
        for r in &PLACEMENT_RANGES {
            if let Some(v) = (r.get)(self)
                && !(v.is_finite() && (r.min..=r.max).contains(&v))
            {
                out.push(Violation::new(
                    format!("{pointer}/{}", r.field),
                    ViolationCode::OutOfRange,
                    format!("{} must be between {} and {} {}", r.field, r.min, r.max, r.unit),
                ));
            }
        }
        if let Some(n) = &self.notes
            && n.chars().count() > PLACEMENT_NOTES_MAX
        {
            out.push(Violation::new(
                format!("{pointer}/notes"),
                ViolationCode::TooLong,
                format!("notes must be at most {PLACEMENT_NOTES_MAX} characters"),
            ));
        }
        if *self == Placement::default() {
            out.push(Violation::new(pointer, ViolationCode::Empty, "a placement needs at least one field"));
        }
        out
    }
}

impl utoipa::PartialSchema for Placement {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            AdditionalProperties, KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type,
        };
        use utoipa::openapi::{Ref, schema::SchemaType};
        let nullable = |t: Type| SchemaType::from_iter([t, Type::Null]);
        let mut obj = ObjectBuilder::new().description(Some(
            "Placement metadata of one camera. All fields are optional, at least one\nis present; each is checked against its physical range.",
        ));
        for r in &PLACEMENT_RANGES {
            let field = ObjectBuilder::new()
                .schema_type(nullable(Type::Number))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)))
                .description(Some(format!("{}, {}..={}.", r.doc, r.min, r.max)))
                .examples([serde_json::json!(r.example)])
                .minimum(Some(r.min))
                .maximum(Some(r.max));
            obj = obj.property(r.field, field);
        }
        let orientation = OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .item(Ref::from_schema_name("Orientation"));
        let notes = ObjectBuilder::new()
            .schema_type(nullable(Type::String))
            .description(Some(format!("Free notes, at most {PLACEMENT_NOTES_MAX} characters.")))
            .examples([serde_json::json!("on the apple box, left of the key light")])
            .max_length(Some(PLACEMENT_NOTES_MAX));
        obj.property("orientation", orientation)
            .property("notes", notes)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .into()
    }
}

impl ToSchema for Placement {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        schemas.push(("Orientation".into(), <Orientation as utoipa::PartialSchema>::schema()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_out_of_range_field_is_named() {
        let p = Placement { pan_deg: Some(181.0), tilt_deg: Some(-90.0), zoom: Some(0.0), ..Default::default() };
        let v = p.violations("/placement");
        let pointers: Vec<_> = v.iter().map(|v| v.pointer.as_str()).collect();
        assert_eq!(pointers, ["/placement/panDeg", "/placement/zoom"]);
        assert!(v.iter().all(|v| v.code == ViolationCode::OutOfRange));
    }

    #[test]
    fn empty_placement_is_refused() {
        let v = Placement::default().violations("/placement");
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].code, ViolationCode::Empty);
    }

    #[test]
    fn nan_is_out_of_range() {
        let p = Placement { x: Some(f64::NAN), ..Default::default() };
        assert_eq!(p.violations("")[0].pointer, "/x");
    }
}
