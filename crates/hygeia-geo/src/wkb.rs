//! Well-Known Binary, read defensively and written simply.
//!
//! The reader checks every declared count against the bytes that remain before allocating (a
//! 9-byte input cannot ask for 20 GB), caps collection nesting, and reports the byte offset of any
//! problem. It accepts ISO WKB (type + 1000/2000/3000) and EWKB (high-bit flags, optional SRID);
//! Z and M values are read and dropped.

use geo::{Coord, Geometry, GeometryCollection, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon};

use crate::GeoError;

const MAX_DEPTH: usize = 16;

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn fail<T>(&self, message: impl Into<String>) -> Result<T, GeoError> {
        Err(GeoError::Wkb { offset: self.at, message: message.into() })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], GeoError> {
        match self.bytes.get(self.at..self.at.saturating_add(n)) {
            Some(slice) if slice.len() == n => {
                self.at += n;
                Ok(slice)
            }
            _ => self.fail(format!("{n} more bytes expected, {} left", self.bytes.len().saturating_sub(self.at))),
        }
    }

    fn u32(&mut self, little: bool) -> Result<u32, GeoError> {
        let b: [u8; 4] = self.take(4)?.try_into().expect("4 bytes");
        Ok(if little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    }

    fn f64(&mut self, little: bool) -> Result<f64, GeoError> {
        let b: [u8; 8] = self.take(8)?.try_into().expect("8 bytes");
        Ok(if little { f64::from_le_bytes(b) } else { f64::from_be_bytes(b) })
    }

    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.at)
    }

    /// A count of items each at least `min_size` bytes long, checked against what remains.
    fn count(&mut self, little: bool, min_size: usize) -> Result<usize, GeoError> {
        let count = self.u32(little)? as usize;
        if count.saturating_mul(min_size) > self.remaining() {
            return self.fail(format!("{count} items declared, but only {} bytes remain", self.remaining()));
        }
        Ok(count)
    }
}

/// Parses one geometry, which must use up the whole input.
pub fn decode(bytes: &[u8]) -> Result<Geometry<f64>, GeoError> {
    let mut reader = Reader { bytes, at: 0 };
    let geometry = read_geometry(&mut reader, 0)?;
    if reader.remaining() != 0 {
        return reader.fail(format!("{} bytes after the geometry", reader.remaining()));
    }
    Ok(geometry)
}

fn read_geometry(r: &mut Reader<'_>, depth: usize) -> Result<Geometry<f64>, GeoError> {
    if depth > MAX_DEPTH {
        return r.fail("geometry collections nested too deep");
    }
    let little = match r.take(1)?[0] {
        0 => false,
        1 => true,
        other => return r.fail(format!("byte order must be 0 or 1, not {other}")),
    };
    let raw = r.u32(little)?;
    // EWKB flags, then ISO's thousands.
    let (mut has_z, mut has_m) = (raw & 0x8000_0000 != 0, raw & 0x4000_0000 != 0);
    if raw & 0x2000_0000 != 0 {
        r.u32(little)?; // SRID: WGS84 is assumed throughout.
    }
    let code = raw & 0x0FFF_FFFF;
    let base = code % 1000;
    match code / 1000 {
        0 => {}
        1 => has_z = true,
        2 => has_m = true,
        3 => (has_z, has_m) = (true, true),
        _ => return r.fail(format!("unknown geometry type {code}")),
    }
    let dims = 2 + usize::from(has_z) + usize::from(has_m);
    let coord = |r: &mut Reader<'_>| -> Result<Coord<f64>, GeoError> {
        let x = r.f64(little)?;
        let y = r.f64(little)?;
        for _ in 2..dims {
            r.f64(little)?;
        }
        Ok(Coord { x, y })
    };
    let line = |r: &mut Reader<'_>| -> Result<LineString<f64>, GeoError> {
        let n = r.count(little, dims * 8)?;
        (0..n).map(|_| coord(r)).collect::<Result<Vec<_>, _>>().map(LineString::new)
    };
    let polygon = |r: &mut Reader<'_>| -> Result<Polygon<f64>, GeoError> {
        let rings = r.count(little, 4)?;
        let mut all = (0..rings).map(|_| line(r)).collect::<Result<Vec<_>, _>>()?;
        if all.is_empty() {
            return Ok(Polygon::new(LineString::new(Vec::new()), Vec::new()));
        }
        let exterior = all.remove(0);
        Ok(Polygon::new(exterior, all))
    };
    // Each member of a multi-geometry is a whole WKB geometry of the matching type.
    let member = |r: &mut Reader<'_>, expected: u32| -> Result<Geometry<f64>, GeoError> {
        let start = r.at;
        let geometry = read_geometry(r, depth + 1)?;
        let ok = matches!(
            (expected, &geometry),
            (1, Geometry::Point(_)) | (2, Geometry::LineString(_)) | (3, Geometry::Polygon(_))
        ) || (expected == 1 && matches!(geometry, Geometry::MultiPoint(ref m) if m.0.is_empty()));
        if !ok {
            return Err(GeoError::Wkb { offset: start, message: format!("expected a member of type {expected}") });
        }
        Ok(geometry)
    };
    Ok(match base {
        1 => {
            let c = coord(r)?;
            // An empty point is written with NaN coordinates.
            if c.x.is_nan() && c.y.is_nan() {
                Geometry::MultiPoint(MultiPoint(Vec::new()))
            } else {
                Geometry::Point(Point(c))
            }
        }
        2 => Geometry::LineString(line(r)?),
        3 => Geometry::Polygon(polygon(r)?),
        4 => {
            let n = r.count(little, 5 + dims * 8)?;
            let mut points = Vec::with_capacity(n);
            for _ in 0..n {
                if let Geometry::Point(p) = member(r, 1)? {
                    points.push(p);
                }
            }
            Geometry::MultiPoint(MultiPoint(points))
        }
        5 => {
            let n = r.count(little, 9)?;
            let mut lines = Vec::with_capacity(n);
            for _ in 0..n {
                if let Geometry::LineString(l) = member(r, 2)? {
                    lines.push(l);
                }
            }
            Geometry::MultiLineString(MultiLineString(lines))
        }
        6 => {
            let n = r.count(little, 9)?;
            let mut polygons = Vec::with_capacity(n);
            for _ in 0..n {
                if let Geometry::Polygon(p) = member(r, 3)? {
                    polygons.push(p);
                }
            }
            Geometry::MultiPolygon(MultiPolygon(polygons))
        }
        7 => {
            let n = r.count(little, 5)?;
            let members = (0..n).map(|_| read_geometry(r, depth + 1)).collect::<Result<Vec<_>, _>>()?;
            Geometry::GeometryCollection(GeometryCollection(members))
        }
        _ => return r.fail(format!("unsupported geometry type {code}")),
    })
}

/// ISO WKB, little-endian, 2D.
pub fn encode_multipolygon(shape: &MultiPolygon<f64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + shape.0.len() * 64);
    out.push(1);
    out.extend_from_slice(&6u32.to_le_bytes());
    out.extend_from_slice(&(shape.0.len() as u32).to_le_bytes());
    for polygon in &shape.0 {
        out.push(1);
        out.extend_from_slice(&3u32.to_le_bytes());
        let rings: Vec<&LineString<f64>> = std::iter::once(polygon.exterior()).chain(polygon.interiors()).collect();
        out.extend_from_slice(&(rings.len() as u32).to_le_bytes());
        for ring in rings {
            out.extend_from_slice(&(ring.0.len() as u32).to_le_bytes());
            for c in &ring.0 {
                out.extend_from_slice(&c.x.to_le_bytes());
                out.extend_from_slice(&c.y.to_le_bytes());
            }
        }
    }
    out
}

/// The WKB inside a GeoPackage geometry blob (`GP` magic, version, flags, SRS id, envelope).
pub fn gpkg_payload(blob: &[u8]) -> Result<&[u8], GeoError> {
    let fail = |offset: usize, message: &str| Err(GeoError::Wkb { offset, message: message.to_owned() });
    if blob.len() < 8 || &blob[..2] != b"GP" {
        return fail(0, "not a GeoPackage geometry: the blob must start with \"GP\"");
    }
    let flags = blob[3];
    let envelope = match (flags >> 1) & 0b111 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        _ => return fail(3, "unknown envelope indicator"),
    };
    let start = 8 + envelope;
    match blob.get(start..) {
        Some(payload) => Ok(payload),
        None => fail(blob.len(), "the blob ends inside its envelope"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    fn square() -> MultiPolygon<f64> {
        MultiPolygon(vec![
            polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 1.0), (x: 0.0, y: 0.0)],
        ])
    }

    #[test]
    fn round_trip() {
        let bytes = encode_multipolygon(&square());
        assert_eq!(decode(&bytes).unwrap(), Geometry::MultiPolygon(square()));
    }

    #[test]
    fn big_endian_ewkb_point_with_srid_and_z() {
        let mut bytes = vec![0u8];
        bytes.extend_from_slice(&(0x8000_0001u32 | 0x2000_0000).to_be_bytes());
        bytes.extend_from_slice(&4326u32.to_be_bytes());
        for v in [2.5f64, -1.0, 300.0] {
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(decode(&bytes).unwrap(), Geometry::Point(Point::new(2.5, -1.0)));
    }

    #[test]
    fn hostile_inputs_fail_cleanly() {
        // A multipoint claiming 2^32-1 members in 9 bytes: refused before any allocation.
        let mut huge = vec![1u8];
        huge.extend_from_slice(&4u32.to_le_bytes());
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode(&huge), Err(GeoError::Wkb { offset: 9, .. })));
        assert!(decode(&[]).is_err());
        assert!(decode(&[7]).is_err());
        assert!(decode(&[1, 99, 0, 0, 0]).is_err());
        let mut trailing = encode_multipolygon(&square());
        trailing.push(0);
        assert!(decode(&trailing).is_err());
        // Collections nested past the limit.
        let mut nested = Vec::new();
        for _ in 0..40 {
            nested.push(1u8);
            nested.extend_from_slice(&7u32.to_le_bytes());
            nested.extend_from_slice(&1u32.to_le_bytes());
        }
        assert!(decode(&nested).is_err());
        // A multipolygon whose member is a point.
        let mut wrong_member = vec![1u8];
        wrong_member.extend_from_slice(&6u32.to_le_bytes());
        wrong_member.extend_from_slice(&1u32.to_le_bytes());
        wrong_member.push(1);
        wrong_member.extend_from_slice(&1u32.to_le_bytes());
        wrong_member.extend_from_slice(&0f64.to_le_bytes());
        wrong_member.extend_from_slice(&0f64.to_le_bytes());
        assert!(decode(&wrong_member).is_err());
    }

    #[test]
    fn every_truncation_of_a_valid_blob_is_an_error() {
        let bytes = encode_multipolygon(&square());
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "prefix of {len} bytes");
        }
    }

    #[test]
    fn gpkg_header_is_skipped() {
        let wkb = encode_multipolygon(&square());
        let mut blob = b"GP\x00\x03".to_vec(); // flags: little-endian header, 32-byte envelope
        blob.extend_from_slice(&4326u32.to_le_bytes());
        blob.extend_from_slice(&[0u8; 32]);
        blob.extend_from_slice(&wkb);
        assert_eq!(gpkg_payload(&blob).unwrap(), &wkb[..]);
        assert!(gpkg_payload(b"GP\x00\x09\x00\x00\x00\x00").is_err(), "envelope past the end");
        assert!(gpkg_payload(b"XX").is_err());
    }
}
