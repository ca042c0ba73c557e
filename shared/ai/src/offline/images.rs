//! Image prompts from an article's headings, and deterministic PNG rendering.
//!
//! Prompts: one featured image from the title (`<h1>`), then one per `<h2>` in
//! order, up to the requested maximum. Images: a real PNG (via the `png` crate)
//! painted from a seed hashed from the prompt — a diagonal two-colour gradient with
//! soft translucent circles and bands — so every prompt has its own recognisable,
//! byte-identical picture without any model or network.

use crate::{AiError, ArticleOut, ImageOut, ImagePromptOut};

use super::text::{self, SplitMix64};

/// Default width when the caller passes 0 (16:9 social/featured size).
pub const DEFAULT_WIDTH: u32 = 1024;
/// Default height when the caller passes 0.
pub const DEFAULT_HEIGHT: u32 = 576;
/// Largest side accepted, to keep memory bounded (4096² RGB ≈ 48 MiB).
pub const MAX_SIDE: u32 = 4096;

/// Headings of an article in document order: the `<h1>` text (if any) first, then
/// each `<h2>`, entities decoded.
pub fn headings(html: &str) -> (Option<String>, Vec<String>) {
    let grab = |tag: &str| -> Vec<String> {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        let mut out = Vec::new();
        let mut rest = html;
        while let Some(s) = rest.find(&open) {
            let after = &rest[s + open.len()..];
            match after.find(&close) {
                Some(e) => {
                    let inner = text::html_text(&after[..e]);
                    let inner = inner.split_whitespace().collect::<Vec<_>>().join(" ");
                    if !inner.is_empty() {
                        out.push(inner);
                    }
                    rest = &after[e + close.len()..];
                }
                None => break,
            }
        }
        out
    };
    (grab("h1").into_iter().next(), grab("h2"))
}

/// Builds up to `max` prompts: featured (title) first, then one per H2.
pub fn image_prompts(article: &ArticleOut, max: usize) -> Result<Vec<ImagePromptOut>, AiError> {
    let (h1, h2s) = headings(&article.html);
    let title = if article.title.trim().is_empty() { h1.unwrap_or_default() } else { article.title.trim().to_string() };
    if title.is_empty() {
        return Err(AiError::InvalidInput("article has no title to illustrate".into()));
    }
    let mut out = Vec::new();
    if max == 0 {
        return Ok(out);
    }
    out.push(ImagePromptOut {
        prompt: format!(
            "Editorial featured image for an article titled \"{title}\": a clear visual metaphor for the topic, \
             clean modern composition, soft natural lighting, rich but balanced colours, high detail, no text or logos"
        ),
        alt_text: format!("Featured image for {title}"),
        placement: "featured".into(),
        heading: title.clone(),
    });
    for h in h2s.into_iter().take(max - 1) {
        out.push(ImagePromptOut {
            prompt: format!(
                "Illustration for the section \"{h}\" of an article about \"{title}\": realistic scene showing the idea \
                 in everyday use, natural colours, shallow depth of field, no text or logos"
            ),
            alt_text: format!("Illustration of {}", h.trim_end_matches(['?', '!', '.', ':']).to_lowercase()),
            placement: "in_article".into(),
            heading: h,
        });
    }
    Ok(out)
}

/// HSV (all 0–1) to 8-bit RGB.
fn hsv(h: f64, s: f64, v: f64) -> [f64; 3] {
    let h6 = (h.rem_euclid(1.0)) * 6.0;
    let i = h6.floor();
    let f = h6 - i;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    let (r, g, b) = match i as u32 {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    [r * 255.0, g * 255.0, b * 255.0]
}

/// Renders the deterministic RGB picture for `prompt` (see the module docs).
fn paint(prompt: &str, width: u32, height: u32) -> Vec<u8> {
    let mut rng = SplitMix64::new(text::stable_hash(prompt));
    let base_hue = rng.unit();
    let c1 = hsv(base_hue, 0.55 + 0.3 * rng.unit(), 0.85);
    let c2 = hsv(base_hue + 0.35 + 0.3 * rng.unit(), 0.6, 0.45 + 0.3 * rng.unit());
    let (w, h) = (f64::from(width), f64::from(height));
    let circles: Vec<(f64, f64, f64, [f64; 3], f64)> = (0..3 + rng.below(4))
        .map(|_| {
            let r = (0.08 + 0.25 * rng.unit()) * w.min(h) * 1.5;
            (rng.unit() * w, rng.unit() * h, r, hsv(base_hue + rng.unit() * 0.5, 0.5, 0.95), 0.25 + 0.35 * rng.unit())
        })
        .collect();
    let band_y = (0.55 + 0.3 * rng.unit()) * h;
    let band_slope = (rng.unit() - 0.5) * 0.6;
    let band_color = hsv(base_hue + 0.5, 0.3, 0.25);

    let mut data = Vec::with_capacity((width as usize) * (height as usize) * 3);
    for y in 0..height {
        let fy = f64::from(y);
        for x in 0..width {
            let fx = f64::from(x);
            let t = ((fx / w) + (fy / h)) / 2.0;
            let mut px = [0.0; 3];
            for c in 0..3 {
                px[c] = c1[c] * (1.0 - t) + c2[c] * t;
            }
            for (cx, cy, r, col, alpha) in &circles {
                let d2 = (fx - cx).powi(2) + (fy - cy).powi(2);
                if d2 < r * r {
                    let edge = 1.0 - (d2.sqrt() / r);
                    let a = alpha * edge.min(0.15) / 0.15;
                    for c in 0..3 {
                        px[c] = px[c] * (1.0 - a) + col[c] * a;
                    }
                }
            }
            if fy > band_y + band_slope * (fx - w / 2.0) {
                for c in 0..3 {
                    px[c] = px[c] * 0.6 + band_color[c] * 0.4;
                }
            }
            for v in px {
                data.push(v.round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    data
}

/// Renders `prompt` as a PNG of the given size (0 → default 1024×576).
pub fn render_png(prompt: &str, width: u32, height: u32) -> Result<ImageOut, AiError> {
    let width = if width == 0 { DEFAULT_WIDTH } else { width };
    let height = if height == 0 { DEFAULT_HEIGHT } else { height };
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(AiError::InvalidInput(format!("image sides must be at most {MAX_SIDE}, got {width}x{height}")));
    }
    if prompt.trim().is_empty() {
        return Err(AiError::InvalidInput("image prompt is empty".into()));
    }
    let pixels = paint(prompt, width, height);
    let mut png_bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png_bytes, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        // Smooth gradients compress well even at the fast level, at a fraction of the time.
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().map_err(|e| AiError::Provider(format!("png header: {e}")))?;
        writer.write_image_data(&pixels).map_err(|e| AiError::Provider(format!("png data: {e}")))?;
        writer.finish().map_err(|e| AiError::Provider(format!("png finish: {e}")))?;
    }
    Ok(ImageOut { png: png_bytes, width, height })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article() -> ArticleOut {
        ArticleOut {
            title: "Best Running Shoes".into(),
            html: "<h1>Best Running Shoes</h1>\n<p>x</p>\n<h2>Trail &amp; Road</h2>\n<p>y</p>\n<h2>Our Verdict</h2>\n"
                .into(),
            word_count: 7,
            meta_description: String::new(),
        }
    }

    #[test]
    fn prompts_follow_headings() {
        let p = image_prompts(&article(), 5).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].placement, "featured");
        assert_eq!(p[0].heading, "Best Running Shoes");
        assert_eq!(p[1].placement, "in_article");
        assert_eq!(p[1].heading, "Trail & Road");
        assert_eq!(p[2].alt_text, "Illustration of our verdict");
        assert_eq!(image_prompts(&article(), 2).unwrap().len(), 2);
        assert!(image_prompts(&article(), 0).unwrap().is_empty());
    }

    /// Walks the PNG chunk list, checking each CRC; returns chunk types in order.
    fn chunks(bytes: &[u8]) -> Vec<String> {
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let mut pos = 8;
        let mut out = Vec::new();
        while pos < bytes.len() {
            let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
            let kind = &bytes[pos + 4..pos + 8];
            let crc = u32::from_be_bytes(bytes[pos + 8 + len..pos + 12 + len].try_into().unwrap());
            let h = crc32fast_like(&bytes[pos + 4..pos + 8 + len]);
            assert_eq!(h, crc, "bad CRC in chunk {}", String::from_utf8_lossy(kind));
            out.push(String::from_utf8_lossy(kind).into_owned());
            pos += 12 + len;
        }
        out
    }

    /// Bitwise CRC-32 (IEEE), independent of the encoder's implementation.
    fn crc32fast_like(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn png_is_valid_decodable_and_deterministic() {
        let img = render_png("a red bicycle at sunset", 64, 48).unwrap();
        assert_eq!((img.width, img.height), (64, 48));
        let kinds = chunks(&img.png);
        assert_eq!(kinds.first().map(String::as_str), Some("IHDR"));
        assert!(kinds.iter().any(|k| k == "IDAT"));
        assert_eq!(kinds.last().map(String::as_str), Some("IEND"));
        let decoder = png::Decoder::new(std::io::Cursor::new(img.png.clone()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (64, 48));
        assert_eq!(render_png("a red bicycle at sunset", 64, 48).unwrap(), img);
        assert_ne!(render_png("a blue boat", 64, 48).unwrap().png, img.png);
    }

    #[test]
    fn default_size_and_limits() {
        let img = render_png("default", 0, 0).unwrap();
        assert_eq!((img.width, img.height), (DEFAULT_WIDTH, DEFAULT_HEIGHT));
        assert!(matches!(render_png("x", 5000, 10), Err(AiError::InvalidInput(_))));
        assert!(matches!(render_png("  ", 10, 10), Err(AiError::InvalidInput(_))));
    }
}
