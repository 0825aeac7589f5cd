//! The map of provinces as a tile-grid cartogram, drawn on the server as SVG: one equal tile per
//! province of today's 34, placed roughly where the province lies (north at the top), and two
//! tiles for the archipelagos, Hoàng Sa (part of Đà Nẵng) and Trường Sa (part of Khánh Hòa), which
//! are always shown. No boundary data set we may ship exists; equal tiles also keep a small
//! province as visible as a large one.

use std::fmt::Write as _;

/// Where each post-2025 province sits: (code, column, row).
const TILES: [(&str, u32, u32); 34] = [
    ("12", 1, 0),  // Lai Châu
    ("15", 2, 0),  // Lào Cai
    ("08", 3, 0),  // Tuyên Quang
    ("04", 4, 0),  // Cao Bằng
    ("11", 0, 1),  // Điện Biên
    ("14", 1, 1),  // Sơn La
    ("25", 2, 1),  // Phú Thọ
    ("19", 3, 1),  // Thái Nguyên
    ("20", 4, 1),  // Lạng Sơn
    ("01", 2, 2),  // Hà Nội
    ("24", 3, 2),  // Bắc Ninh
    ("22", 4, 2),  // Quảng Ninh
    ("37", 2, 3),  // Ninh Bình
    ("33", 3, 3),  // Hưng Yên
    ("31", 4, 3),  // Hải Phòng
    ("38", 2, 4),  // Thanh Hóa
    ("40", 2, 5),  // Nghệ An
    ("42", 3, 6),  // Hà Tĩnh
    ("44", 3, 7),  // Quảng Trị
    ("46", 4, 8),  // Huế
    ("48", 4, 9),  // Đà Nẵng
    ("51", 4, 10), // Quảng Ngãi
    ("52", 4, 11), // Gia Lai
    ("66", 4, 12), // Đắk Lắk
    ("68", 3, 13), // Lâm Đồng
    ("56", 4, 13), // Khánh Hòa
    ("80", 1, 14), // Tây Ninh
    ("79", 2, 14), // Hồ Chí Minh
    ("75", 3, 14), // Đồng Nai
    ("91", 0, 15), // An Giang
    ("82", 1, 15), // Đồng Tháp
    ("86", 2, 15), // Vĩnh Long
    ("96", 0, 16), // Cà Mau
    ("92", 1, 16), // Cần Thơ
];

/// The archipelagos: (label line 1, line 2, the province they belong to, column, row).
const ARCHIPELAGOS: [(&str, &str, &str, u32, u32); 2] = [("QĐ Hoàng Sa", "(TP Đà Nẵng)", "48", 6, 9), ("QĐ Trường Sa", "(Khánh Hòa)", "56", 6, 14)];

const TILE_W: u32 = 62;
const TILE_H: u32 = 40;
const GAP: u32 = 4;

/// What one tile shows.
pub struct Tile {
    /// The province's short name ("Cao Bằng").
    pub name: String,
    /// The value as written on the tile ("95,3 %", or "—").
    pub value: String,
    /// The status class (`met`, `near`, `far`, `none`): the tile's colour.
    pub class: &'static str,
    /// Where a click leads.
    pub href: String,
}

/// The province codes the grid places (today's 34).
#[cfg(test)]
fn codes() -> impl Iterator<Item = &'static str> {
    TILES.iter().map(|t| t.0)
}

/// The SVG of the grid; `tile` says what a province's tile shows (none: drawn empty, no link).
pub fn svg(title: &str, tile: impl Fn(&str) -> Option<Tile>) -> String {
    let columns = TILES.iter().map(|t| t.1).chain(ARCHIPELAGOS.iter().map(|a| a.3 + 1)).max().unwrap_or(0) + 1;
    let rows = TILES.iter().map(|t| t.2).max().unwrap_or(0) + 1;
    let (width, height) = (columns * (TILE_W + GAP), rows * (TILE_H + GAP));
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="tile-map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{}">"#,
        super::format::xml(title)
    );
    for (code, column, row) in TILES {
        let shown = tile(code);
        let (x, y) = (column * (TILE_W + GAP), row * (TILE_H + GAP));
        match &shown {
            Some(t) => {
                let label = format!("{}: {}", t.name, t.value);
                let _ = write!(
                    out,
                    r#"<a href="{}" class="tile" data-code="{code}" aria-label="{}"><title>{}</title><rect x="{x}" y="{y}" width="{TILE_W}" height="{TILE_H}" rx="4" class="{}"/><text x="{}" y="{}" class="tile-name">{}</text><text x="{}" y="{}" class="tile-value">{}</text></a>"#,
                    super::format::xml(&t.href),
                    super::format::xml(&label),
                    super::format::xml(&label),
                    t.class,
                    x + TILE_W / 2,
                    y + 16,
                    super::format::xml(&t.name),
                    x + TILE_W / 2,
                    y + 32,
                    super::format::xml(&t.value),
                );
            }
            None => {
                let _ = write!(out, r#"<rect x="{x}" y="{y}" width="{TILE_W}" height="{TILE_H}" rx="4" class="none"/>"#);
            }
        }
    }
    for (line1, line2, province, column, row) in ARCHIPELAGOS {
        let (x, y, w) = (column * (TILE_W + GAP), row * (TILE_H + GAP), 2 * TILE_W + GAP);
        let label = format!("{line1} {line2}");
        let (href, class) = tile(province).map_or((None, "none"), |t| (Some(t.href), t.class));
        let body = format!(
            r#"<title>{}</title><rect x="{x}" y="{y}" width="{w}" height="{TILE_H}" rx="4" class="{class} archipelago"/><text x="{}" y="{}" class="tile-name">{}</text><text x="{}" y="{}" class="tile-name">{}</text>"#,
            super::format::xml(&label),
            x + w / 2,
            y + 16,
            super::format::xml(line1),
            x + w / 2,
            y + 32,
            super::format::xml(line2),
        );
        match href {
            Some(href) => {
                let _ = write!(
                    out,
                    r#"<a href="{}" class="tile archipelago" data-code="{province}" aria-label="{}">{body}</a>"#,
                    super::format::xml(&href),
                    super::format::xml(&label)
                );
            }
            None => {
                let _ = write!(out, r#"<g class="archipelago" aria-label="{}">{body}</g>"#, super::format::xml(&label));
            }
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_places_every_province_once_and_no_two_on_one_tile() {
        let mut places = std::collections::HashSet::new();
        let mut codes = std::collections::HashSet::new();
        for (code, column, row) in TILES {
            assert!(places.insert((column, row)), "two provinces on tile ({column}, {row})");
            assert!(codes.insert(code), "{code} placed twice");
        }
        for (_, _, province, column, row) in ARCHIPELAGOS {
            assert!(codes.contains(province));
            for c in column..=column + 1 {
                assert!(!places.contains(&(c, row)), "an archipelago covers a province");
            }
        }
        // The grid's provinces are the unit list's 34.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let registry = tonghop_core::UnitRegistry::load(&root.join("reference/admin-units")).unwrap();
        let mut listed: Vec<&str> = registry.at_level(tonghop_core::Epoch::Post2025, tonghop_core::Level::Province).map(|u| u.code.as_str()).collect();
        let mut placed: Vec<&str> = super::codes().collect();
        listed.sort();
        placed.sort();
        assert_eq!(placed, listed);
    }

    #[test]
    fn the_archipelagos_are_drawn_even_without_figures_and_names_are_escaped() {
        let svg = svg("Bản đồ", |code| {
            (code == "48").then(|| Tile { name: "Đà <Nẵng>".into(), value: "95,0 %".into(), class: "met", href: "/tong-quan?unit=48&a=1".into() })
        });
        assert!(svg.contains("<title>QĐ Hoàng Sa (TP Đà Nẵng)</title>"));
        assert!(svg.contains("<title>QĐ Trường Sa (Khánh Hòa)</title>"));
        assert!(svg.contains("Đà &lt;Nẵng&gt;"));
        assert!(svg.contains(r#"href="/tong-quan?unit=48&amp;a=1""#));
        assert_eq!(svg.matches("<a ").count(), 2, "Đà Nẵng and Hoàng Sa link; the rest have no figures");
    }
}
