//! Where a camera stands and how it looks: the physical ranges of the
//! contract. Every change is a new placement version in the ledger.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Violation;

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
/// is present; each is checked against its physical range.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Placement {
    /// Position in metres from the set's origin, −1000..=1000.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = -1000, maximum = 1000, example = 1.5)]
    pub x: Option<f64>,
    /// Position in metres, −1000..=1000.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = -1000, maximum = 1000, example = -2.0)]
    pub y: Option<f64>,
    /// Position in metres, −1000..=1000.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = -1000, maximum = 1000, example = 0.0)]
    pub z: Option<f64>,
    /// Lens height above the floor in metres, 0..=100.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 100, example = 1.6)]
    pub height_m: Option<f64>,
    /// Distance to the subject in metres, 0..=1000.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1000, example = 3.2)]
    pub distance_m: Option<f64>,
    /// Pan in degrees, −180..=180.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = -180, maximum = 180, example = 15.0)]
    pub pan_deg: Option<f64>,
    /// Tilt in degrees, −90..=90.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = -90, maximum = 90, example = -5.0)]
    pub tilt_deg: Option<f64>,
    /// Roll in degrees, −180..=180.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = -180, maximum = 180, example = 0.0)]
    pub roll_deg: Option<f64>,
    /// Lens focal length in millimetres (35 mm equivalent), 1..=2000.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 2000, example = 26.0)]
    pub focal_length_mm: Option<f64>,
    /// Zoom factor, 0.1..=200 (0.5 is an ultra-wide lens).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0.1, maximum = 200, example = 1.0)]
    pub zoom: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orientation: Option<Orientation>,
    /// Free notes, at most 1000 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1000, example = "on the apple box, left of the key light")]
    pub notes: Option<String>,
}

pub(crate) const NOTES_MAX: usize = 1000;

impl Placement {
    /// The ranges of the contract. Returns one violation per bad field.
    pub fn violations(&self, pointer: &str) -> Vec<Violation> {
        let mut out = Vec::new();
        let ranges: [(&str, Option<f64>, f64, f64, &str); 10] = [
            ("x", self.x, -1000.0, 1000.0, "metres"),
            ("y", self.y, -1000.0, 1000.0, "metres"),
            ("z", self.z, -1000.0, 1000.0, "metres"),
            ("heightM", self.height_m, 0.0, 100.0, "metres"),
            ("distanceM", self.distance_m, 0.0, 1000.0, "metres"),
            ("panDeg", self.pan_deg, -180.0, 180.0, "degrees"),
            ("tiltDeg", self.tilt_deg, -90.0, 90.0, "degrees"),
            ("rollDeg", self.roll_deg, -180.0, 180.0, "degrees"),
            ("focalLengthMm", self.focal_length_mm, 1.0, 2000.0, "millimetres"),
            ("zoom", self.zoom, 0.1, 200.0, "x"),
        ];
        for (name, value, lo, hi, unit) in ranges {
            if let Some(v) = value
                && !(v.is_finite() && (lo..=hi).contains(&v))
            {
                out.push(Violation::new(
                    format!("{pointer}/{name}"),
                    "out_of_range",
                    format!("{name} must be between {lo} and {hi} {unit}"),
                ));
            }
        }
        if let Some(n) = &self.notes
            && n.chars().count() > NOTES_MAX
        {
            out.push(Violation::new(
                format!("{pointer}/notes"),
                "too_long",
                format!("notes must be at most {NOTES_MAX} characters"),
            ));
        }
        if *self == Placement::default() {
            out.push(Violation::new(pointer, "empty", "a placement needs at least one field"));
        }
        out
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
        assert!(v.iter().all(|v| v.code == "out_of_range"));
    }

    #[test]
    fn empty_placement_is_refused() {
        let v = Placement::default().violations("/placement");
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].code, "empty");
    }

    #[test]
    fn nan_is_out_of_range() {
        let p = Placement { x: Some(f64::NAN), ..Default::default() };
        assert_eq!(p.violations("")[0].pointer, "/x");
    }
}
