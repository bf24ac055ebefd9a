//! A study's own fields (authors, year, research questions) in a REFI-QDA project's
//! `<Description>`. QDA-XML has no element for them, and other tools show the description as
//! it is: so it is text for the eye, which an import of quaderno's own export reads back.
//!
//! ```text
//! Authors:
//! - Maria Rossi
//! Year: 2023
//! Research questions:
//! - Come cambia la rete degli attori?
//!   (a second line of the same question)
//! ```

const AUTHORS: &str = "Authors:";
const YEAR: &str = "Year:";
const QUESTIONS: &str = "Research questions:";
const ITEM: &str = "- ";
/// Each further line of an entry: entries are labels, which may hold line breaks.
const MORE: &str = "  ";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StudyFields {
    pub authors: Vec<String>,
    pub year: Option<i32>,
    pub research_questions: Vec<String>,
}

/// The description of a study with these fields; `None` when it has none of them.
pub fn describe(fields: &StudyFields) -> Option<String> {
    let mut lines: Vec<String> = Vec::new();
    list(&mut lines, AUTHORS, &fields.authors);
    if let Some(year) = fields.year {
        lines.push(format!("{YEAR} {year}"));
    }
    list(&mut lines, QUESTIONS, &fields.research_questions);
    (!lines.is_empty()).then(|| lines.join("\n"))
}

fn list(lines: &mut Vec<String>, heading: &str, entries: &[String]) {
    if entries.is_empty() {
        return;
    }
    lines.push(heading.to_owned());
    for entry in entries {
        let mut entry_lines = entry.split('\n');
        lines.push(format!("{ITEM}{}", entry_lines.next().unwrap_or_default()));
        lines.extend(entry_lines.map(|l| format!("{MORE}{l}")));
    }
}

/// The fields a description written by `describe` holds; `None` when any line is not of its
/// form (a description another tool wrote, or one edited by hand), which is then no
/// study's fields but text to keep as it is.
pub fn read(description: &str) -> Option<StudyFields> {
    let mut fields = StudyFields::default();
    let mut in_questions: Option<bool> = None;
    for line in description.trim().lines() {
        if line == AUTHORS && fields.authors.is_empty() {
            in_questions = Some(false);
        } else if line == QUESTIONS && fields.research_questions.is_empty() {
            in_questions = Some(true);
        } else if let Some(year) = line.strip_prefix(YEAR) {
            fields.year = Some(year.trim().parse().ok()?);
            in_questions = None;
        } else {
            let list = match in_questions? {
                false => &mut fields.authors,
                true => &mut fields.research_questions,
            };
            if let Some(entry) = line.strip_prefix(ITEM) {
                list.push(entry.to_owned());
            } else {
                let last = list.last_mut()?;
                last.push('\n');
                last.push_str(line.strip_prefix(MORE)?);
            }
        }
    }
    (fields != StudyFields::default()).then_some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_study_s_fields_come_back_from_its_description() {
        let fields = StudyFields {
            authors: vec!["Maria Rossi".into(), "Luca Bianchi".into()],
            year: Some(2023),
            research_questions: vec![
                "Com’è cambiata la rete degli attori?".into(),
                "Perché qui?\n  - e là, più a sud".into(),
            ],
        };
        let text = describe(&fields).unwrap();
        assert!(text.starts_with("Authors:\n- Maria Rossi\n- Luca Bianchi\nYear: 2023\n"));
        assert_eq!(read(&text), Some(fields));
        let only_year = StudyFields {
            year: Some(1999),
            ..Default::default()
        };
        assert_eq!(describe(&only_year).as_deref(), Some("Year: 1999"));
        assert_eq!(read("Year: 1999"), Some(only_year));
        assert_eq!(describe(&StudyFields::default()), None);
    }

    #[test]
    fn other_descriptions_are_no_study_fields() {
        for text in [
            "",
            "Progetto di ricerca sul welfare.",
            "Authors:\n- Rossi\nNote: scritto a mano",
            "- Rossi",
            "Year: duemila",
            "Authors:\n  continua",
            "Authors:\n- Rossi\nAuthors:\n- Bianchi",
        ] {
            assert_eq!(read(text), None, "{text:?}");
        }
    }
}
