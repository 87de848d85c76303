//! Line charts as PNG files, with no dependency: a small RGB canvas, thick line segments, and a PNG encoder with
//! stored (uncompressed) deflate blocks. There is no text: the key (colours, axis ranges) goes into `report.md`.
//!
//! A plotting crate would add a font stack and an image encoder to a build that runs on two cores; these charts
//! need neither.

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub color: [u8; 3],
    /// (x, y) points in order of x.
    pub points: Vec<(f64, f64)>,
}

/// A panel: its lines and the axis ranges they are drawn in.
#[derive(Debug, Clone)]
pub struct Panel {
    pub series: Vec<Series>,
}

impl Panel {
    /// `(x_min, x_max, y_min, y_max)` over every finite point, widened where a range is empty.
    pub fn ranges(&self) -> (f64, f64, f64, f64) {
        let pts = self.series.iter().flat_map(|s| s.points.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in pts {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
        if x0 > x1 {
            return (0.0, 1.0, 0.0, 1.0);
        }
        let widen = |a: f64, b: f64| if b - a < 1e-12 { (a - 0.5, b + 0.5) } else { (a, b) };
        let ((x0, x1), (y0, y1)) = (widen(x0, x1), widen(y0, y1));
        (x0, x1, y0, y1)
    }
}

/// The colours of successive groups and their names (for the key).
pub const PALETTE: [([u8; 3], &str); 10] = [
    ([31, 119, 180], "blue"),
    ([255, 127, 14], "orange"),
    ([44, 160, 44], "green"),
    ([214, 39, 40], "red"),
    ([148, 103, 189], "purple"),
    ([140, 86, 75], "brown"),
    ([227, 119, 194], "pink"),
    ([127, 127, 127], "grey"),
    ([188, 189, 34], "olive"),
    ([23, 190, 207], "cyan"),
];

/// An RGB canvas.
struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Self {
        Self { width, height, pixels: vec![255; width * height * 3] }
    }

    fn dot(&mut self, x: i64, y: i64, color: [u8; 3], radius: i64) {
        for dy in -radius..=radius {
            for dx in -radius..=radius {
                let (px, py) = (x + dx, y + dy);
                if px >= 0 && py >= 0 && (px as usize) < self.width && (py as usize) < self.height {
                    let at = (py as usize * self.width + px as usize) * 3;
                    self.pixels[at..at + 3].copy_from_slice(&color);
                }
            }
        }
    }

    fn line(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), color: [u8; 3], radius: i64) {
        let steps = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as i64).max(1);
        for i in 0..=steps {
            let t = i as f64 / steps as f64;
            self.dot((x0 + t * (x1 - x0)).round() as i64, (y0 + t * (y1 - y0)).round() as i64, color, radius);
        }
    }
}

/// Draw `panels` side by side, each `panel_w × height` pixels, and encode the image as PNG.
pub fn chart_png(panels: &[Panel], panel_w: usize, height: usize) -> Vec<u8> {
    let mut c = Canvas::new(panel_w * panels.len().max(1), height);
    let margin = 30.0;
    for (i, panel) in panels.iter().enumerate() {
        let left = (i * panel_w) as f64 + margin;
        let (w, h) = (panel_w as f64 - 2.0 * margin, height as f64 - 2.0 * margin);
        let (x0, x1, y0, y1) = panel.ranges();
        let map = |x: f64, y: f64| (left + (x - x0) / (x1 - x0) * w, margin + (1.0 - (y - y0) / (y1 - y0)) * h);
        for k in 0..=4 {
            let f = k as f64 / 4.0;
            let grid = [225, 225, 225];
            c.line((left, margin + f * h), (left + w, margin + f * h), grid, 0);
            c.line((left + f * w, margin), (left + f * w, margin + h), grid, 0);
        }
        let frame = [60, 60, 60];
        c.line((left, margin), (left, margin + h), frame, 0);
        c.line((left, margin + h), (left + w, margin + h), frame, 0);
        for s in &panel.series {
            let pts: Vec<(f64, f64)> =
                s.points.iter().filter(|(x, y)| x.is_finite() && y.is_finite()).map(|&(x, y)| map(x, y)).collect();
            for pair in pts.windows(2) {
                c.line(pair[0], pair[1], s.color, 1);
            }
            for &p in &pts {
                c.dot(p.0.round() as i64, p.1.round() as i64, s.color, 2);
            }
        }
    }
    encode_png(c.width, c.height, &c.pixels)
}

/// PNG of 8-bit RGB `pixels` (row-major), deflate with stored blocks.
pub fn encode_png(width: usize, height: usize, pixels: &[u8]) -> Vec<u8> {
    let mut raw = Vec::with_capacity((width * 3 + 1) * height);
    for row in pixels.chunks(width * 3).take(height) {
        raw.push(0); // filter: none
        raw.extend_from_slice(row);
    }
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(width as u32).to_be_bytes());
    ihdr.extend_from_slice(&(height as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit, RGB, deflate, adaptive filters, no interlace
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    for (kind, data) in [(b"IHDR", ihdr.as_slice()), (b"IDAT", z.as_slice()), (b"IEND", &[][..])] {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    out
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_known_values() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }

    #[test]
    fn png_has_signature_chunks_and_size() {
        let png = encode_png(2, 1, &[255, 0, 0, 0, 255, 0]);
        assert_eq!(&png[..8], &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]);
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(u32::from_be_bytes([png[16], png[17], png[18], png[19]]), 2);
        assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND");
        let panel = Panel { series: vec![Series { color: PALETTE[0].0, points: vec![(0.0, 1.0), (1.0, 0.5)] }] };
        let chart = chart_png(&[panel.clone(), panel], 100, 80);
        assert_eq!(&chart[12..16], b"IHDR");
        assert_eq!(u32::from_be_bytes([chart[16], chart[17], chart[18], chart[19]]), 200);
    }
}
