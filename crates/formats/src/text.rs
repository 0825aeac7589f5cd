//! The text side shared by the CSV readers ([`crate::csv_long`] and [`crate::dhis2::read_csv`]):
//! choosing the encoding from the first bytes, transcoding to UTF-8 as the file streams, choosing
//! the delimiter from the header line, and handing out rows one at a time without allocating per
//! row. Also the small helpers every reader uses to word a [`Problem`].

use std::io::{BufRead, BufReader, Cursor, Read};
use std::sync::{Mutex, PoisonError};

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1258};
use encoding_rs_io::DecodeReaderBytesBuilder;

use crate::{Error, Location, Problem, Result, Sink};

/// The UTF-8 byte order mark.
pub(crate) const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The longest header line looked at to choose the delimiter.
const MAX_HEADER: u64 = 1 << 20;

/// How the bytes of a text file are to be turned into UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sniffed {
    /// The encoding of the content.
    pub encoding: &'static Encoding,
    /// Length of the byte order mark at the start, to be skipped.
    pub bom: usize,
}

/// Chooses the encoding of a text file from its first bytes (`head`, possibly cut anywhere):
/// a byte order mark wins, then the encoding the caller forces, then UTF-16 without a BOM (every
/// other byte zero), then UTF-8 when the head is valid UTF-8 (a character cut at the end of the
/// head is allowed), and Windows-1258, the Vietnamese code page, otherwise.
pub(crate) fn sniff(head: &[u8], forced: Option<&'static Encoding>) -> Sniffed {
    if head.starts_with(UTF8_BOM) {
        return Sniffed { encoding: UTF_8, bom: 3 };
    }
    if head.starts_with(b"\xFF\xFE") {
        return Sniffed { encoding: UTF_16LE, bom: 2 };
    }
    if head.starts_with(b"\xFE\xFF") {
        return Sniffed { encoding: UTF_16BE, bom: 2 };
    }
    if let Some(encoding) = forced {
        return Sniffed { encoding, bom: 0 };
    }
    if let Some(encoding) = utf16_without_bom(head) {
        return Sniffed { encoding, bom: 0 };
    }
    let encoding = match std::str::from_utf8(head) {
        Ok(_) => UTF_8,
        // Only an incomplete character at the very end: the head was cut inside it.
        Err(e) if e.error_len().is_none() => UTF_8,
        Err(_) => WINDOWS_1258,
    };
    Sniffed { encoding, bom: 0 }
}

/// UTF-16 text without a byte order mark: ASCII characters with a zero byte beside each one.
fn utf16_without_bom(head: &[u8]) -> Option<&'static Encoding> {
    let sample = &head[..head.len().min(64) & !1];
    if sample.len() < 8 {
        return None;
    }
    let pairs = sample.chunks_exact(2);
    let (mut zero_first, mut zero_second) = (0, 0);
    let n = pairs.len();
    for pair in pairs {
        match (pair[0], pair[1]) {
            (0, b) if b != 0 => zero_first += 1,
            (a, 0) if a != 0 => zero_second += 1,
            _ => {}
        }
    }
    if zero_second == n {
        Some(UTF_16LE)
    } else if zero_first == n {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// Decodes a head of a file for looking at it (format detection): the sniffed encoding, the BOM
/// skipped, a character cut at the end dropped.
pub(crate) fn decode_head(head: &[u8]) -> (Sniffed, String) {
    let sniffed = sniff(head, None);
    let body = &head[sniffed.bom.min(head.len())..];
    let text = if sniffed.encoding == UTF_8 {
        match std::str::from_utf8(body) {
            Ok(s) => s.to_string(),
            Err(e) if e.error_len().is_none() => String::from_utf8_lossy(&body[..e.valid_up_to()]).into_owned(),
            Err(_) => String::from_utf8_lossy(body).into_owned(),
        }
    } else {
        let mut body = body;
        if sniffed.encoding == UTF_16LE || sniffed.encoding == UTF_16BE {
            body = &body[..body.len() & !1];
        }
        sniffed.encoding.decode_without_bom_handling(body).0.into_owned()
    };
    (sniffed, text)
}

/// Chooses the field delimiter from the header line: whichever of `,` `;` and tab occurs most
/// outside quotes; `,` when none does.
pub(crate) fn delimiter(line: &[u8]) -> u8 {
    let (mut comma, mut semicolon, mut tab) = (0usize, 0usize, 0usize);
    let mut quoted = false;
    for &b in line {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => comma += 1,
            b';' if !quoted => semicolon += 1,
            b'\t' if !quoted => tab += 1,
            b'\n' => break,
            _ => {}
        }
    }
    if tab > comma && tab >= semicolon {
        b'\t'
    } else if semicolon > comma {
        b';'
    } else {
        b','
    }
}

/// CSV parsers built for earlier files, by delimiter and comment byte, set aside when their file
/// is done. Building one (its state machine) costs more than reading a small submission; a
/// parser is taken by one file at a time, and reset for the next.
static PARSERS: Mutex<Vec<(ParserKey, csv_core::Reader)>> = Mutex::new(Vec::new());

/// What a CSV parser is built for: the delimiter and the comment byte.
type ParserKey = (u8, Option<u8>);

/// Parsers set aside at most (a few per thread reading files at once).
const PARSERS_KEPT: usize = 32;

/// A CSV parser for `delimiter` and `comment`, in its starting state: one set aside, or a new one.
/// Quoting, doubled quotes and line terminators (`\n`, `\r` or `\r\n`) are `csv_core`'s
/// defaults, as in the `csv` crate.
fn take_parser(delimiter: u8, comment: Option<u8>) -> csv_core::Reader {
    let mut kept = PARSERS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(i) = kept.iter().position(|(key, _)| *key == (delimiter, comment)) {
        return kept.swap_remove(i).1;
    }
    drop(kept);
    csv_core::ReaderBuilder::new().delimiter(delimiter).comment(comment).build()
}

/// Sets a parser aside for the next file, reset to its starting state.
fn set_aside(delimiter: u8, comment: Option<u8>, mut parser: csv_core::Reader) {
    parser.reset();
    let mut kept = PARSERS.lock().unwrap_or_else(PoisonError::into_inner);
    if kept.len() < PARSERS_KEPT {
        kept.push(((delimiter, comment), parser));
    }
}

/// Rows of a delimited text file, read one at a time into reused buffers.
pub(crate) struct Rows<'s> {
    input: Box<dyn BufRead + 's>,
    parser: csv_core::Reader,
    /// The row being read: its fields' bytes one after another, and where each field ends.
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// The last row handed out.
    record: csv::StringRecord,
    /// Line feeds among the bytes consumed so far, and whether the last byte consumed was one:
    /// a row's line is that of its last byte less the line feeds inside its quoted fields (the
    /// `csv` crate's record positions are off by one after a CRLF or a blank line).
    line_feeds: u64,
    after_line_feed: bool,
    finished: bool,
    name: String,
    delimiter: u8,
    comment: Option<u8>,
}

impl Drop for Rows<'_> {
    fn drop(&mut self) {
        set_aside(self.delimiter, self.comment, std::mem::take(&mut self.parser));
    }
}

impl std::fmt::Debug for Rows<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Opens a delimited text file for reading rows: encoding from the first bytes (or `forced`),
/// transcoded to UTF-8 as it streams when it is not UTF-8; delimiter from the header line.
/// Lines starting with `comment` are skipped when it is given.
pub(crate) fn open<'s>(source: &'s mut dyn BufRead, name: &str, forced: Option<&'static Encoding>, comment: Option<u8>) -> Result<Rows<'s>> {
    let io_err = |source| Error::Io { name: name.to_string(), source };
    let head = source.fill_buf().map_err(io_err)?;
    let sniffed = sniff(head, forced);
    let bom = sniffed.bom.min(head.len());
    tracing::debug!(name, encoding = sniffed.encoding.name(), "text encoding chosen");
    source.consume(bom);
    // The header line is read ahead to choose the delimiter, then put back in front of the rest.
    let mut first = Vec::new();
    let (delimiter, input): (u8, Box<dyn BufRead + 's>) = if sniffed.encoding == UTF_8 {
        (&mut *source).take(MAX_HEADER).read_until(b'\n', &mut first).map_err(io_err)?;
        (delimiter(&first), Box::new(Cursor::new(first).chain(source)))
    } else {
        let decoded = DecodeReaderBytesBuilder::new().encoding(Some(sniffed.encoding)).build(source);
        let mut decoded = BufReader::with_capacity(64 * 1024, decoded);
        (&mut decoded).take(MAX_HEADER).read_until(b'\n', &mut first).map_err(io_err)?;
        (delimiter(&first), Box::new(Cursor::new(first).chain(decoded)))
    };
    Ok(Rows {
        input,
        parser: take_parser(delimiter, comment),
        bytes: vec![0; 1024],
        ends: vec![0; 32],
        record: csv::StringRecord::new(),
        line_feeds: 0,
        after_line_feed: false,
        finished: false,
        name: name.to_string(),
        delimiter,
        comment,
    })
}

impl Rows<'_> {
    /// The next row that has something in it, with its 1-based line number. Blank rows (no
    /// field, or only empty fields) are skipped; a row that is not valid UTF-8 goes to `sink` as
    /// a `row_unreadable` problem and is skipped. `None` at the end of the file.
    pub(crate) fn next(&mut self, sink: &mut dyn Sink) -> Result<Option<(u64, &csv::StringRecord)>> {
        while let Some((line, fields)) = self.parse()? {
            let ends = &self.ends[..fields];
            let bytes = &self.bytes[..ends.last().copied().unwrap_or(0)];
            // Fields split at delimiters, which are ASCII: valid text splits into valid fields.
            let text = std::str::from_utf8(bytes).ok().filter(|text| ends.iter().all(|&end| text.is_char_boundary(end)));
            let Some(text) = text else {
                let mut start = 0;
                let shown: Vec<String> = ends
                    .iter()
                    .map(|&end| {
                        let field = String::from_utf8_lossy(&bytes[start..end]).into_owned();
                        start = end;
                        field
                    })
                    .collect();
                sink.problem(problem(
                    Location::Line(line),
                    "*",
                    Some(shorten(&shown.join(&char::from(self.delimiter).to_string()))),
                    "row_unreadable",
                    "không đọc được dòng này vì không phải văn bản UTF-8 hợp lệ (hãy lưu tệp dưới dạng CSV UTF-8)".to_string(),
                    "the row cannot be read: it is not valid UTF-8 text (save the file as CSV UTF-8)".to_string(),
                ));
                continue;
            };
            self.record.clear();
            let mut start = 0;
            for &end in ends {
                self.record.push_field(&text[start..end]);
                start = end;
            }
            if self.record.iter().any(|field| !field.trim().is_empty()) {
                return Ok(Some((line, &self.record)));
            }
        }
        Ok(None)
    }

    /// Parses the next row into `bytes` and `ends`: its line and number of fields, `None` at the
    /// end of the file. The line is that of the row's last byte (its terminator, or its last
    /// character at the end of the file) less the line feeds inside quoted fields.
    fn parse(&mut self) -> Result<Option<(u64, usize)>> {
        use csv_core::ReadRecordResult;
        if self.finished {
            return Ok(None);
        }
        let (mut written, mut fields) = (0, 0);
        loop {
            let input = self.input.fill_buf().map_err(|source| Error::Io { name: self.name.clone(), source })?;
            // An empty input tells the parser the file has ended.
            let (result, read, wrote, ended) = self.parser.read_record(input, &mut self.bytes[written..], &mut self.ends[fields..]);
            let consumed = &input[..read];
            self.line_feeds += consumed.iter().filter(|&&b| b == b'\n').count() as u64;
            if let Some(&last) = consumed.last() {
                self.after_line_feed = last == b'\n';
            }
            self.input.consume(read);
            written += wrote;
            fields += ended;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => self.bytes.resize(self.bytes.len() * 2, 0),
                ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                ReadRecordResult::Record => {
                    let inner = self.bytes[..written].iter().filter(|&&b| b == b'\n').count() as u64;
                    let before = self.line_feeds - u64::from(self.after_line_feed);
                    return Ok(Some(((before + 1).saturating_sub(inner).max(1), fields)));
                }
                ReadRecordResult::End => {
                    self.finished = true;
                    return Ok(None);
                }
            }
        }
    }
}

/// A [`Problem`] whose messages start with the location (`Dòng 7: ...`, `line 7: ...`).
pub(crate) fn problem(location: Location, field: &str, value: Option<String>, reason: &'static str, message_vi: String, message_en: String) -> Problem {
    Problem {
        message_vi: format!("{}: {message_vi}", location.vi()),
        message_en: format!("{}: {message_en}", location.en()),
        location,
        field: field.to_string(),
        value,
        reason,
    }
}

/// `text` cut to at most 200 characters, for quoting in a problem.
pub(crate) fn shorten(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// `Some(trimmed)` unless empty.
pub(crate) fn non_empty(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

/// A line number where `pos` (a byte offset into `bytes`) sits, with the column (1-based, in bytes).
pub(crate) fn line_column(bytes: &[u8], pos: usize) -> (usize, usize) {
    let pos = pos.min(bytes.len());
    let before = &bytes[..pos];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = pos - before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"\xEF\xBB\xBFa,b", None), Sniffed { encoding: UTF_8, bom: 3 });
        assert_eq!(sniff(b"\xFF\xFEa\0", None), Sniffed { encoding: UTF_16LE, bom: 2 });
        assert_eq!(sniff(b"\xFE\xFF\0a", None), Sniffed { encoding: UTF_16BE, bom: 2 });
        assert_eq!(sniff("Trạm".as_bytes(), None).encoding, UTF_8);
        // "Trạm" cut in the middle of "ạ".
        assert_eq!(sniff(&"Trạm".as_bytes()[..3], None).encoding, UTF_8);
        assert_eq!(sniff(b"Tra\xF2m y t\xEA\xEC", None).encoding, WINDOWS_1258);
        assert_eq!(sniff(b"abc", Some(WINDOWS_1258)).encoding, WINDOWS_1258);
        assert_eq!(sniff(b"p\0e\0r\0i\0o\0d\0", None).encoding, UTF_16LE);
        assert_eq!(sniff(b"\0p\0e\0r\0i\0o\0d", None).encoding, UTF_16BE);
    }

    #[test]
    fn delimiters() {
        assert_eq!(delimiter(b"a,b,c\n1;2;3;4;5"), b',');
        assert_eq!(delimiter(b"a;b;c"), b';');
        assert_eq!(delimiter(b"a\tb\tc"), b'\t');
        assert_eq!(delimiter(b"\"a;b\",c"), b',');
        assert_eq!(delimiter(b"abc"), b',');
    }

    #[test]
    fn positions() {
        assert_eq!(line_column(b"ab\ncd", 4), (2, 2));
        assert_eq!(line_column(b"ab", 0), (1, 1));
        assert_eq!(line_column(b"ab", 99), (1, 3));
    }

    #[test]
    fn shortening() {
        assert_eq!(shorten("abc"), "abc");
        let long = "ạ".repeat(300);
        assert_eq!(shorten(&long).chars().count(), 201);
    }
}

#[cfg(test)]
mod line_tests {
    use super::*;
    use crate::Collect;

    fn lines(text: &str) -> Vec<(u64, String)> {
        let mut sink = Collect::default();
        let mut source = text.as_bytes();
        let mut rows = open(&mut source, "t.csv", None, None).unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        while let Some((line, row)) = rows.next(&mut sink).unwrap_or_else(|e| panic!("{e}")) {
            out.push((line, row.iter().collect::<Vec<_>>().join("|")));
        }
        out
    }

    #[test]
    fn line_numbers_after_crlf_blank_lines_and_quoted_newlines() {
        let expected = |v: &[(u64, &str)]| v.iter().map(|(l, s)| (*l, s.to_string())).collect::<Vec<_>>();
        assert_eq!(lines("a,b\r\nc,d\r\n\r\ne,f\r\n"), expected(&[(1, "a|b"), (2, "c|d"), (4, "e|f")]));
        assert_eq!(lines("a\tb\n\n\nc\td"), expected(&[(1, "a|b"), (4, "c|d")]));
        assert_eq!(lines("a,\"x\r\ny\"\r\nc,\"1\n2\n3\"\nd,e"), expected(&[(1, "a|x\r\ny"), (3, "c|1\n2\n3"), (6, "d|e")]));
        assert_eq!(lines("\n\na,b\n"), expected(&[(3, "a|b")]));
        assert_eq!(lines("a,b\r c,d\r"), expected(&[(1, "a|b"), (1, " c|d")]));
    }

    /// Gives `data`, then fails.
    struct FailsAfter(&'static [u8]);

    impl Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other("disk gone"));
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_parser_set_aside_in_the_middle_of_a_quoted_field_starts_the_next_file_afresh() {
        // Parsers are set aside and taken again (by any test of this process): every file must
        // start from the parser's first state.
        for _ in 0..3 {
            let mut sink = Collect::default();
            let mut failing = BufReader::new(FailsAfter(b"h,i\nx,\"open quote"));
            let mut rows = open(&mut failing, "t.csv", None, None).unwrap_or_else(|e| panic!("{e}"));
            assert!(rows.next(&mut sink).unwrap_or_else(|e| panic!("{e}")).is_some());
            assert!(matches!(rows.next(&mut sink), Err(Error::Io { .. })));
            drop(rows);
            assert_eq!(lines("a,b\nc,d\n"), vec![(1, "a|b".to_string()), (2, "c|d".to_string())]);
        }
    }
}
