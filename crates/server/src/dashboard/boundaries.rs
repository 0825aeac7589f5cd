//! A boundary file an operator may configure (`[dashboard] boundaries`, GeoJSON), drawn instead
//! of the tile grid: one shape per province of today's 34, keyed by the official code. It is
//! checked when the service starts, every problem at once: every code of the epoch present once,
//! no unknown code, polygons only, and the two archipelagos inside their provinces (a part of
//! province 48 Đà Nẵng in the Hoàng Sa area, a part of province 56 Khánh Hòa in the Trường Sa
//! area). No boundary data set with a licence we can ship exists, so none comes with tonghop.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;
use tonghop_core::{Epoch, Level, UnitRegistry};

use super::format::xml;
use super::map::Tile;

/// A ring of (longitude, latitude) points.
type Ring = Vec<(f64, f64)>;

/// A range of degrees (from, to).
type Degrees = (f64, f64);

/// The areas the archipelagos lie in: (label, its province, longitude range, latitude range).
const ARCHIPELAGOS: [(&str, &str, Degrees, Degrees); 2] =
    [("QĐ Hoàng Sa (TP Đà Nẵng)", "48", (111.0, 113.0), (15.6, 17.3)), ("QĐ Trường Sa (Khánh Hòa)", "56", (111.4, 117.9), (6.2, 12.2))];

/// The width of the drawn map, in SVG units.
const WIDTH: f64 = 560.0;

/// The provinces' shapes, checked.
#[derive(Debug)]
pub struct Boundaries {
    /// By province code: its polygons, each an outer ring and its holes.
    shapes: BTreeMap<String, Vec<Vec<Ring>>>,
    /// (west, south, east, north) of every shape.
    extent: (f64, f64, f64, f64),
}

impl Boundaries {
    /// Reads and checks `path`: the province code of each feature is its property `code_property`
    /// (a string, or a number written without leading zeros). Every problem is returned at once.
    pub fn load(path: &Path, code_property: &str, registry: &UnitRegistry) -> Result<Boundaries, Vec<String>> {
        let name = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| vec![format!("dashboard.boundaries: cannot read {name}: {e}")])?;
        let json: Value = serde_json::from_str(&text).map_err(|e| vec![format!("dashboard.boundaries: {name} is not JSON: {e}")])?;
        let Some(features) = json.get("features").and_then(Value::as_array).filter(|_| json["type"] == "FeatureCollection") else {
            return Err(vec![format!("dashboard.boundaries: {name} is not a GeoJSON FeatureCollection (TopoJSON is not read: convert it with `topo2geo`)")]);
        };
        let provinces: BTreeMap<&str, &str> = registry.at_level(Epoch::Post2025, Level::Province).map(|u| (u.code.as_str(), u.name.as_str())).collect();
        let (mut shapes, mut problems) = (BTreeMap::new(), Vec::new());
        for (i, feature) in features.iter().enumerate() {
            let at = format!("dashboard.boundaries: {name}, feature {}", i + 1);
            let code = match &feature["properties"][code_property] {
                Value::String(s) => s.trim().to_string(),
                Value::Number(n) if n.as_u64().is_some() => format!("{:02}", n.as_u64().unwrap_or_default()),
                _ => {
                    problems.push(format!("{at}: no property {code_property:?} with the province's code (set dashboard.boundary_code_property)"));
                    continue;
                }
            };
            if !provinces.contains_key(code.as_str()) {
                problems.push(format!("{at}: {code:?} is not the code of a province after 2025-07-01"));
                continue;
            }
            let polygons = match polygons(&feature["geometry"]) {
                Ok(p) => p,
                Err(e) => {
                    problems.push(format!("{at} ({code}): {e}"));
                    continue;
                }
            };
            if shapes.insert(code.clone(), polygons).is_some() {
                problems.push(format!("{at}: province {code} has a shape already"));
            }
        }
        let missing: Vec<String> = provinces.iter().filter(|(code, _)| !shapes.contains_key(**code)).map(|(code, name)| format!("{code} {name}")).collect();
        if !missing.is_empty() {
            problems.push(format!("dashboard.boundaries: {name} has no shape for {} of the 34 provinces: {}", missing.len(), missing.join(", ")));
        }
        for (label, province, (west, east), (south, north)) in ARCHIPELAGOS {
            let inside = shapes.get(province).is_some_and(|polygons: &Vec<Vec<Ring>>| {
                polygons.iter().any(|p| p[0].iter().all(|&(lon, lat)| (west..=east).contains(&lon) && (south..=north).contains(&lat)))
            });
            if shapes.contains_key(province) && !inside {
                problems.push(format!(
                    "dashboard.boundaries: {name}: province {province} has no part in the area of {label} ({west}–{east}° E, {south}–{north}° N); the archipelago belongs to it"
                ));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let points = shapes.values().flatten().flatten().flatten();
        let extent = points.fold((f64::MAX, f64::MAX, f64::MIN, f64::MIN), |(w, s, e, n), &(lon, lat)| (w.min(lon), s.min(lat), e.max(lon), n.max(lat)));
        Ok(Boundaries { shapes, extent })
    }

    /// The SVG of the map; `tile` says what a province shows, as for the tile grid.
    pub fn svg(&self, title: &str, tile: impl Fn(&str) -> Option<Tile>) -> String {
        let (west, south, east, north) = self.extent;
        // Equirectangular, shrunk east–west by the cosine of the middle latitude.
        let stretch = ((south + north) / 2.0).to_radians().cos();
        let scale = WIDTH / ((east - west) * stretch).max(f64::EPSILON);
        let height = (north - south) * scale;
        let project = |(lon, lat): (f64, f64)| ((lon - west) * stretch * scale, (north - lat) * scale);
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<svg class="boundary-map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0}" width="{WIDTH}" height="{height:.0}" role="img" aria-label="{}">"#,
            xml(title)
        );
        for (code, polygons) in &self.shapes {
            let mut d = String::new();
            for ring in polygons.iter().flatten() {
                let mut last: Option<(f64, f64)> = None;
                for &point in ring {
                    let (x, y) = project(point);
                    // Points closer than half a unit to the last one drawn add nothing visible.
                    if last.is_some_and(|(lx, ly)| (x - lx).abs() < 0.5 && (y - ly).abs() < 0.5) {
                        continue;
                    }
                    let _ = write!(d, "{}{x:.1},{y:.1}", if last.is_none() { "M" } else { "L" });
                    last = Some((x, y));
                }
                d.push('Z');
            }
            match tile(code) {
                Some(t) => {
                    let label = format!("{}: {}", t.name, t.value);
                    let _ = write!(
                        out,
                        r#"<a href="{}" class="tile" data-code="{code}" aria-label="{}"><title>{}</title><path d="{d}" class="{}" fill-rule="evenodd"/></a>"#,
                        xml(&t.href),
                        xml(&label),
                        xml(&label),
                        t.class
                    );
                }
                None => {
                    let _ = write!(out, r#"<path d="{d}" class="none" fill-rule="evenodd"/>"#);
                }
            }
        }
        for (label, _, (w, e), (s, n)) in ARCHIPELAGOS {
            let (x, y) = project(((w + e) / 2.0, (s + n) / 2.0));
            let _ = write!(out, r#"<text x="{x:.1}" y="{y:.1}" class="map-label">{}</text>"#, xml(label));
        }
        out.push_str("</svg>");
        out
    }
}

/// The polygons of a GeoJSON geometry (Polygon or MultiPolygon).
fn polygons(geometry: &Value) -> Result<Vec<Vec<Ring>>, String> {
    let ring = |v: &Value| -> Result<Ring, String> {
        let points = v.as_array().ok_or("a ring is not an array of positions")?;
        let ring: Ring = points
            .iter()
            .map(|p| match (p.get(0).and_then(Value::as_f64), p.get(1).and_then(Value::as_f64)) {
                (Some(lon), Some(lat)) if (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat) => Ok((lon, lat)),
                _ => Err(format!("{p} is not a [longitude, latitude] position")),
            })
            .collect::<Result<_, _>>()?;
        if ring.len() < 4 {
            return Err("a ring has fewer than 4 positions".into());
        }
        Ok(ring)
    };
    let polygon =
        |v: &Value| -> Result<Vec<Ring>, String> { v.as_array().filter(|r| !r.is_empty()).ok_or("a polygon has no ring")?.iter().map(ring).collect() };
    let coordinates = &geometry["coordinates"];
    match geometry["type"].as_str() {
        Some("Polygon") => Ok(vec![polygon(coordinates)?]),
        Some("MultiPolygon") => coordinates.as_array().ok_or("MultiPolygon without coordinates")?.iter().map(polygon).collect(),
        Some(other) => Err(format!("a {other} geometry: only Polygon and MultiPolygon are drawn")),
        None => Err("no geometry".into()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A GeoJSON of squares: one per province of `codes` (row by row), with a part in each
    /// archipelago's area for 48 and 56 unless `archipelagos` is false.
    pub(crate) fn squares(codes: &[&str], archipelagos: bool) -> Value {
        let square =
            |lon: f64, lat: f64, size: f64| serde_json::json!([[[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]]);
        let features: Vec<Value> = codes
            .iter()
            .enumerate()
            .map(|(i, code)| {
                let (lon, lat) = (103.0 + (i % 5) as f64, 22.0 - (i / 5) as f64 * 2.0);
                let mut parts = vec![square(lon, lat, 0.9)];
                if archipelagos && *code == "48" {
                    parts.push(square(112.0, 16.5, 0.2));
                }
                if archipelagos && *code == "56" {
                    parts.push(square(114.0, 9.0, 0.2));
                }
                serde_json::json!({ "type": "Feature", "properties": { "code": code }, "geometry": { "type": "MultiPolygon", "coordinates": parts } })
            })
            .collect();
        serde_json::json!({ "type": "FeatureCollection", "features": features })
    }

    fn registry() -> UnitRegistry {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        UnitRegistry::load(&root.join("reference/admin-units")).unwrap()
    }

    fn codes(registry: &UnitRegistry) -> Vec<String> {
        registry.at_level(Epoch::Post2025, Level::Province).map(|u| u.code.clone()).collect()
    }

    #[test]
    fn a_complete_file_is_drawn_with_a_link_per_province_and_the_archipelagos_named() {
        let registry = registry();
        let all = codes(&registry);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vn.geojson");
        std::fs::write(&path, squares(&all.iter().map(String::as_str).collect::<Vec<_>>(), true).to_string()).unwrap();
        let b = Boundaries::load(&path, "code", &registry).unwrap();
        let svg = b.svg("Bản đồ", |code| Some(Tile { name: code.into(), value: "—".into(), class: "none", href: format!("/tong-quan?unit={code}") }));
        assert_eq!(svg.matches("<a href=").count(), 34);
        assert!(svg.contains("QĐ Hoàng Sa (TP Đà Nẵng)") && svg.contains("QĐ Trường Sa (Khánh Hòa)"));
    }

    #[test]
    fn every_problem_of_a_file_is_named_at_once() {
        let registry = registry();
        let all = codes(&registry);
        let mut some: Vec<&str> = all.iter().map(String::as_str).filter(|c| *c != "01" && *c != "04").collect();
        some.push("99");
        some.push("79");
        let mut json = squares(&some, false);
        json["features"][0]["geometry"] = serde_json::json!({ "type": "Point", "coordinates": [105.0, 21.0] });
        json["features"][1]["properties"] = serde_json::json!({ "name": "no code" });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vn.geojson");
        std::fs::write(&path, json.to_string()).unwrap();
        let problems = Boundaries::load(&path, "code", &registry).unwrap_err().join("\n");
        for expected in [
            "is not the code of a province after 2025-07-01",
            "province 79 has a shape already",
            "only Polygon and MultiPolygon are drawn",
            "no property \"code\"",
            "01 Hà Nội",
            "04 Cao Bằng",
            "province 48 has no part in the area of QĐ Hoàng Sa (TP Đà Nẵng)",
            "province 56 has no part in the area of QĐ Trường Sa (Khánh Hòa)",
        ] {
            assert!(problems.contains(expected), "{expected:?} not in:\n{problems}");
        }
        std::fs::write(&path, "{\"type\": \"Topology\"}").unwrap();
        assert!(Boundaries::load(&path, "code", &registry).unwrap_err()[0].contains("TopoJSON is not read"));
    }
}
