//! The CSV writer of every table download, so that each gets the same two guards: cells a
//! spreadsheet would run as a formula are neutralised, and a byte-order mark says UTF-8; and
//! the same choice of separator.

use std::borrow::Cow;

/// Excel on Windows reads a CSV without it in the local code page: "città" shows "cittÃ ".
const BOM: &str = "\u{FEFF}";

/// What separates the cells. Excel splits a CSV it opens at its locale's list separator:
/// in an Italian one that is `;`, and a comma-separated table showed each row in one column,
/// cut wherever a text held a `;` (so that a cell could begin in the middle of a text, past
/// the guard against formulas). With `;` every cell holding one is quoted, and the cuts are
/// the table's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Separator {
    /// For R, pandas, LibreOffice and Excel in an English locale.
    #[default]
    Comma,
    /// For Excel in an Italian (French, German…) locale.
    Semicolon,
}

pub struct Table(csv::Writer<Vec<u8>>);

impl Table {
    pub fn new(separator: Separator) -> Self {
        let delimiter = match separator {
            Separator::Comma => b',',
            Separator::Semicolon => b';',
        };
        Self(
            csv::WriterBuilder::new()
                .delimiter(delimiter)
                .from_writer(BOM.as_bytes().to_vec()),
        )
    }

    pub fn row<I, S>(&mut self, cells: I) -> Result<(), csv::Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for cell in cells {
            self.0.write_field(neutralise(cell.as_ref()).as_bytes())?;
        }
        self.0.write_record(None::<&[u8]>)
    }

    pub fn finish(self) -> Result<String, csv::Error> {
        let bytes = self.0.into_inner().map_err(|e| e.into_error())?;
        Ok(String::from_utf8(bytes).expect("CSV of UTF-8 strings is UTF-8"))
    }
}

/// A cell that Excel or LibreOffice Calc would read as a formula (`=…`, `+…`, `-…`, `@…`, or
/// a tab or CR before one) gets a leading `'`, as OWASP advises against CSV injection: the
/// spreadsheet then shows it as text. Transcripts and labels are text; no table here holds a
/// negative number that this would turn into text.
fn neutralise(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_the_table_starts_with_a_bom() {
        let mut t = Table::new(Separator::Comma);
        t.row(["città", "=1+1", "+39 011", "-2", "@SUM(A1)", "\t=x", "\r=x"])
            .unwrap();
        t.row(["a = b", "1-2", "", "'=già", "", "", ""]).unwrap();
        let csv = t.finish().unwrap();
        assert_eq!(
            csv,
            "\u{FEFF}città,'=1+1,'+39 011,'-2,'@SUM(A1),'\t=x,\"'\r=x\"\na = b,1-2,,'=già,,,\n"
        );
        // A CSV reader sees the cells, the mark is not part of the first one.
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(csv.as_bytes());
        let first = r.records().next().unwrap().unwrap();
        assert_eq!(&first[0], "città");
        assert_eq!(&first[1], "'=1+1");
    }

    #[test]
    fn with_semicolons_a_cell_holding_one_is_quoted_and_commas_are_text() {
        let mut t = Table::new(Separator::Semicolon);
        t.row(["città, paese", "spesa; =2+2", "=1+1"]).unwrap();
        let csv = t.finish().unwrap();
        assert_eq!(csv, "\u{FEFF}città, paese;\"spesa; =2+2\";'=1+1\n");
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .delimiter(b';')
            .from_reader(csv.as_bytes());
        let row = r.records().next().unwrap().unwrap();
        assert_eq!(row.len(), 3);
        assert_eq!(&row[1], "spesa; =2+2");
    }
}
