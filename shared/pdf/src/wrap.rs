//! Line breaking by measured width: words wrap at spaces, a word wider than the column is
//! cut between characters, so no text ever runs past its column or off the page.

use crate::fonts::Face;

/// The rows `text` takes in a column `width` points wide at `size` points. A newline in
/// the text starts a new row. Always at least one row (an empty one for empty text).
pub(crate) fn wrap(face: &Face, size: f32, text: &str, width: f32) -> Vec<String> {
    let space = face.char_width(' ', size);
    let mut rows = Vec::new();
    for paragraph in text.split('\n') {
        let mut row = String::new();
        let mut row_width = 0.0;
        for word in paragraph.split(|c: char| c.is_whitespace()).filter(|w| !w.is_empty()) {
            let word_width = face.width(word, size);
            if !row.is_empty() && row_width + space + word_width <= width {
                row.push(' ');
                row.push_str(word);
                row_width += space + word_width;
                continue;
            }
            if !row.is_empty() {
                rows.push(std::mem::take(&mut row));
            }
            if word_width <= width {
                row.push_str(word);
                row_width = word_width;
            } else {
                let mut pieces = cut(face, size, word, width);
                let last = pieces.pop().unwrap_or_default();
                rows.append(&mut pieces);
                row_width = face.width(&last, size);
                row = last;
            }
        }
        rows.push(row);
    }
    rows
}

/// `word` cut into pieces that each fit `width`: after the last `-`, `/` or similar
/// that fits (URLs, paths, compound words), otherwise between any two characters. Each
/// piece holds at least one character, so even an absurdly narrow column makes progress.
fn cut(face: &Face, size: f32, word: &str, width: f32) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut piece = String::new();
    let mut piece_width = 0.0;
    for ch in word.chars() {
        let ch_width = face.char_width(ch, size);
        if !piece.is_empty() && piece_width + ch_width > width {
            let split = piece
                .char_indices()
                .rev()
                .filter(|(_, c)| BREAK_AFTER.contains(c))
                .map(|(at, c)| at + c.len_utf8())
                .find(|at| *at < piece.len())
                .unwrap_or(piece.len());
            let carried = piece.split_off(split);
            pieces.push(std::mem::replace(&mut piece, carried));
            piece_width = face.width(&piece, size);
            if !piece.is_empty() && piece_width + ch_width > width {
                pieces.push(std::mem::take(&mut piece));
                piece_width = 0.0;
            }
        }
        piece.push(ch);
        piece_width += ch_width;
    }
    pieces.push(piece);
    pieces
}

/// Characters after which a word too long for its column is best cut.
const BREAK_AFTER: [char; 10] = ['-', '/', '\\', '_', '.', ',', ';', '&', '=', '?'];

/// `text` on one row of `width` points: as is when it fits, otherwise cut and ended
/// with an ellipsis. Newlines become spaces.
pub(crate) fn fit(face: &Face, size: f32, text: &str, width: f32) -> String {
    let flat: String = text.chars().map(|c| if c.is_whitespace() { ' ' } else { c }).collect();
    let flat = flat.trim();
    if face.width(flat, size) <= width {
        return flat.to_owned();
    }
    let budget = width - face.char_width('…', size);
    let mut out = String::new();
    let mut used = 0.0;
    for ch in flat.chars() {
        let ch_width = face.char_width(ch, size);
        if used + ch_width > budget {
            break;
        }
        out.push(ch);
        used += ch_width;
    }
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

/// At most `max` rows; when rows were dropped the last kept one ends with an ellipsis.
pub(crate) fn at_most(face: &Face, size: f32, mut rows: Vec<String>, max: usize, width: f32) -> Vec<String> {
    if rows.len() > max {
        rows.truncate(max);
        if let Some(last) = rows.last_mut() {
            *last = fit(face, size, &format!("{last} …"), width);
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fonts::{Faces, Weight};

    fn face() -> &'static Face {
        Faces::get().unwrap().face(Weight::Regular)
    }

    #[test]
    fn words_wrap_at_spaces_within_the_width() {
        let text = "Monthly plan for the professional tier including priority support and onboarding";
        let rows = wrap(face(), 9.0, text, 120.0);
        assert!(rows.len() > 2, "{rows:?}");
        assert!(rows.iter().all(|r| face().width(r, 9.0) <= 120.0), "{rows:?}");
        assert_eq!(rows.join(" "), text);
    }

    #[test]
    fn a_word_wider_than_the_column_is_cut_between_characters() {
        let word = "x".repeat(400);
        let rows = wrap(face(), 9.0, &format!("a {word} b"), 100.0);
        assert!(rows.len() > 5);
        assert!(rows.iter().all(|r| face().width(r, 9.0) <= 100.0));
        assert_eq!(rows.concat().replace(' ', ""), format!("a{word}b"));
    }

    #[test]
    fn a_long_url_is_cut_after_its_separators() {
        let url = format!("https://example.com/{}", "segment-".repeat(40));
        let rows = wrap(face(), 9.0, &url, 150.0);
        assert!(rows.len() > 3);
        assert!(rows[..rows.len() - 1].iter().all(|r| r.ends_with('-') || r.ends_with('/')), "{rows:?}");
        assert!(rows.iter().all(|r| face().width(r, 9.0) <= 150.0));
        assert_eq!(rows.concat(), url);
        // A separator early in a long piece: what follows it still fits.
        let rows = wrap(face(), 9.0, &format!("a-{}", "b".repeat(200)), 60.0);
        assert!(rows.iter().all(|r| face().width(r, 9.0) <= 60.0), "{rows:?}");
    }

    #[test]
    fn newlines_start_rows_and_empty_text_is_one_empty_row() {
        assert_eq!(wrap(face(), 9.0, "one\ntwo", 500.0), ["one", "two"]);
        assert_eq!(wrap(face(), 9.0, "", 500.0), [""]);
        assert_eq!(wrap(face(), 9.0, "w", 0.1), ["w"]);
    }

    #[test]
    fn fit_cuts_with_an_ellipsis() {
        assert_eq!(fit(face(), 9.0, "short", 200.0), "short");
        let long = fit(face(), 9.0, &"abc ".repeat(100), 100.0);
        assert!(long.ends_with('…'));
        assert!(face().width(&long, 9.0) <= 100.0);
    }

    #[test]
    fn at_most_marks_dropped_rows() {
        let rows: Vec<String> = (0..5).map(|i| format!("row {i}")).collect();
        let kept = at_most(face(), 9.0, rows, 3, 200.0);
        assert_eq!(kept, ["row 0", "row 1", "row 2 …"]);
    }
}
