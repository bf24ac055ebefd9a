//! Transcripts are indexed as passages: speaker turns, or paragraphs where there are no turns,
//! each with its code-point span in the transcript.

/// Longer paragraphs are cut so that a hit points somewhere precise: at the end of a
/// sentence in the second half of the stretch if there is one, else at a space. A phrase is
/// found only within a passage, and analysts search phrases within sentences.
const MAX_PASSAGE: usize = 2000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passage {
    /// Code points, half-open, in transcript coordinates.
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// Whether a line opens a speaker turn: "INT:", "R:", "Intervistatore:", "D. Rossi:"…
pub fn is_turn_start(line: &str) -> bool {
    speaker_of(line).is_some()
}

/// The speaker label a line opens with ("D. Rossi" in "D. Rossi: dunque"), if it opens a turn.
/// A time stamp before it, as transcription software writes ("[00:01:05] INT:"), is passed.
pub fn speaker_of(line: &str) -> Option<&str> {
    turn_of(line).map(|(label, _)| label)
}

/// A line's speaker label and what it says after it (after the colon), if it opens a turn.
pub fn turn_of(line: &str) -> Option<(&str, &str)> {
    let line = after_time_stamp(line.trim_start());
    let (label, said) = line.split_once(':')?;
    let label = label.trim();
    is_speaker_label(label).then_some((label, said))
}

/// `line` without a leading time stamp: "[00:01:05]", "(01:05.3)", or "00:01:05" followed by
/// white space. Anything else is left as it is.
fn after_time_stamp(line: &str) -> &str {
    // h:mm, mm:ss or hh:mm:ss, with a fraction of a second or not: "3:" is no time.
    let stamp = |s: &str| {
        let whole = s.split(['.', ',']).next().unwrap_or(s);
        let parts: Vec<&str> = whole.split(':').collect();
        (2..=3).contains(&parts.len())
            && (1..=2).contains(&parts[0].len())
            && parts[1..].iter().all(|p| p.len() == 2)
            && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
            && s[whole.len()..].bytes().skip(1).all(|b| b.is_ascii_digit())
    };
    let bracketed = [('[', ']'), ('(', ')')]
        .into_iter()
        .find_map(|(open, close)| {
            let (inside, rest) = line.strip_prefix(open)?.split_once(close)?;
            stamp(inside).then_some(rest)
        });
    // Bare, only with its seconds: "10:30 Riunione: …" is a time in a sentence.
    let bare = || {
        let (first, rest) = line.split_once(char::is_whitespace)?;
        (stamp(first) && first.matches(':').count() == 2).then_some(rest)
    };
    bracketed.or_else(bare).map_or(line, str::trim_start)
}

/// Whether a text reads as a speaker label: short, capitalised, letters (Italian surnames
/// keep their apostrophe: "D'Amico"), numbered or not ("R1", "P12", "Intervistato 2": see
/// `without_number`, so that "Nel 2021:", "Alle 9:30" and "Fase 2:" are not speakers); and
/// not one of the keys a transcript's header or an article's front matter is written with
/// ("Data:", "Luogo:", "DOI:", "Art. 55:"), which look like labels but name no one.
pub fn is_speaker_label(label: &str) -> bool {
    let name = without_number(label);
    !name.is_empty()
        && label.chars().count() <= 25
        && name.chars().next().is_some_and(char::is_uppercase)
        && label.split_whitespace().count() <= 3
        && name
            .chars()
            .all(|c| c.is_alphabetic() || matches!(c, ' ' | '.' | '\'' | '’'))
        && !is_metadata_key(name)
}

/// A label without the number of one of several speakers of a kind: one or two digits
/// right after a short abbreviation ("R1", "P12", "INT2" → "R", "P", "INT"), or after a word
/// for a speaker ("Intervistato 2", "Speaker 3"). Any other number stays, and the label is
/// then no speaker's: a year ("Nel 2021"), an hour ("Alle 9" of "Alle 9:30"), a heading
/// ("Fase 2", "Domanda 1").
fn without_number(label: &str) -> &str {
    /// Words that name a speaker by role, numbered when there are several.
    const ROLES: &[&str] = &[
        "intervistato",
        "intervistata",
        "intervistatore",
        "intervistatrice",
        "rispondente",
        "partecipante",
        "testimone",
        "informatore",
        "informatrice",
        "operatore",
        "operatrice",
        "utente",
        "persona",
        "soggetto",
        "relatore",
        "relatrice",
        "esperto",
        "esperta",
        "speaker",
        "respondent",
        "participant",
        "interviewee",
        "interviewer",
    ];
    let digits = label.bytes().rev().take_while(u8::is_ascii_digit).count();
    if !(1..=2).contains(&digits) {
        return label;
    }
    let before = &label[..label.len() - digits];
    let attached = !before.ends_with(char::is_whitespace)
        && (1..=3).contains(&before.chars().count())
        && before.chars().all(char::is_alphabetic);
    let role = before.ends_with(char::is_whitespace)
        && ROLES.contains(&before.trim_end().to_lowercase().as_str());
    if attached || role {
        before.trim_end()
    } else {
        label
    }
}

/// Header and front-matter keys, Italian and English, compared without case: a transcript
/// opens with "Data: 12 marzo 2023" or "Durata: 54 minuti", a paper with "DOI:" and "Parole
/// chiave:". A speaker called "Nota" is less likely than a transcriber's note.
fn is_metadata_key(label: &str) -> bool {
    const KEYS: &[&str] = &[
        // A transcript's header.
        "data",
        "date",
        "luogo",
        "place",
        "location",
        "sede",
        "ora",
        "orario",
        "time",
        "durata",
        "duration",
        "lingua",
        "language",
        "file",
        "audio",
        "registrazione",
        "recording",
        "trascrizione",
        "transcription",
        "trascrittore",
        "trascrittrice",
        "transcriber",
        "partecipanti",
        "participants",
        "presenti",
        "ruolo",
        "role",
        "progetto",
        "project",
        "codice",
        "code",
        "id",
        "oggetto",
        "titolo",
        "title",
        "note",
        "nota",
        "notes",
        // An article's front matter (not its authors: an "Autore:" speaks in an interview
        // with a writer).
        "doi",
        "isbn",
        "issn",
        "url",
        "link",
        "rivista",
        "journal",
        "volume",
        "vol",
        "numero",
        "anno",
        "year",
        "pagine",
        "pagina",
        "pages",
        "page",
        "editore",
        "publisher",
        "abstract",
        "sommario",
        "riassunto",
        "summary",
        "keywords",
        "parole chiave",
        "citazione",
        "citation",
        "licenza",
        "license",
        "copyright",
        "ricevuto",
        "accettato",
        "pubblicato",
        "received",
        "accepted",
        "published",
        "versione",
        "version",
        // What is cited by number ("Art. 55:", "Legge 328:"), in a quoted text.
        "art",
        "articolo",
        "legge",
        "comma",
        "capitolo",
        "cap",
        "allegato",
        "tabella",
        "figura",
        "fig",
        "punto",
    ];
    let label = label.trim_end_matches('.').to_lowercase();
    KEYS.contains(&label.as_str())
}

pub fn split(transcript: &str) -> Vec<Passage> {
    let mut out = Vec::new();
    // (start in code points, text) of the passage being gathered.
    let mut current: Option<(usize, String)> = None;
    let mut cp = 0usize;
    for line in transcript.split_inclusive('\n') {
        let len = line.chars().count();
        let blank = line.trim().is_empty();
        if blank || is_turn_start(line) {
            if let Some((s, t)) = current.take() {
                push_trimmed(&mut out, s, &t);
            }
        }
        if !blank {
            match &mut current {
                Some((_, t)) => t.push_str(line),
                None => current = Some((cp, line.to_owned())),
            }
        }
        cp += len;
    }
    if let Some((s, t)) = current {
        push_trimmed(&mut out, s, &t);
    }
    out
}

/// Adds a passage without its surrounding white space, cut into pieces of bounded length.
fn push_trimmed(out: &mut Vec<Passage>, start: usize, text: &str) {
    let lead = text.chars().take_while(|c| c.is_whitespace()).count();
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return;
    }
    let mut start = start + lead;
    let mut rest = trimmed;
    // Looking only MAX_PASSAGE characters ahead keeps a paragraph of n characters O(n): a
    // one-line transcript of megabytes would otherwise be recounted at every cut, inside the
    // index's one writer.
    while let Some((limit, _)) = rest.char_indices().nth(MAX_PASSAGE) {
        let window = &rest[..limit];
        let cut = sentence_end(window)
            .or_else(|| window.rfind(char::is_whitespace).filter(|&b| b > 0))
            .unwrap_or(limit);
        let head = &rest[..cut];
        out.push(Passage {
            start,
            end: start + head.chars().count(),
            text: head.to_owned(),
        });
        let skipped = &rest[cut..];
        let ws = skipped.chars().take_while(|c| c.is_whitespace()).count();
        start += head.chars().count() + ws;
        rest = skipped.trim_start();
    }
    out.push(Passage {
        start,
        end: start + rest.chars().count(),
        text: rest.to_owned(),
    });
}

/// The byte just after the last sentence end (`.`, `?`, `!` or `…` before white space) in
/// the second half of `window`, if there is one.
fn sentence_end(window: &str) -> Option<usize> {
    window
        .rmatch_indices(['.', '?', '!', '…'])
        .map(|(b, m)| b + m.len())
        .take_while(|&after| after >= window.len() / 2)
        .find(|&after| window[after..].starts_with(char::is_whitespace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::slice;

    #[test]
    fn turns_and_paragraphs_become_passages_with_exact_spans() {
        let t = "INT: Com’è andata?\nR: Bene — più o meno.\ncontinua qui\n\n  Un paragrafo senza turni.\n \nUltimo, città.";
        let p = split(t);
        let texts: Vec<&str> = p.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "INT: Com’è andata?",
                "R: Bene — più o meno.\ncontinua qui",
                "Un paragrafo senza turni.",
                "Ultimo, città."
            ]
        );
        for passage in &p {
            assert_eq!(
                slice(t, passage.start, passage.end),
                Some(passage.text.as_str())
            );
        }
    }

    #[test]
    fn long_paragraphs_are_cut_at_spaces() {
        let t = "parola è ".repeat(600);
        let p = split(&t);
        assert!(p.len() > 1);
        for passage in &p {
            assert!(passage.text.chars().count() <= MAX_PASSAGE);
            assert_eq!(
                slice(&t, passage.start, passage.end),
                Some(passage.text.as_str())
            );
        }
    }

    #[test]
    fn long_paragraphs_are_cut_at_sentence_ends_so_phrases_stay_whole() {
        let t: String = (0..150)
            .map(|n| format!("Frase {n}: i cambiamenti avvenuti nel territorio, però già visti. "))
            .collect();
        let p = split(&t);
        assert!(p.len() > 3, "{} passages", p.len());
        for passage in &p {
            assert!(passage.text.ends_with('.'), "{:?}", &passage.text);
            assert_eq!(
                slice(&t, passage.start, passage.end),
                Some(passage.text.as_str())
            );
        }
        let whole: usize = p
            .iter()
            .map(|p| p.text.matches("cambiamenti avvenuti").count())
            .sum();
        assert_eq!(whole, 150);
    }

    #[test]
    fn speaker_labels() {
        assert!(is_turn_start("INT: sì"));
        assert!(is_turn_start("Intervistatore: allora"));
        assert!(is_turn_start("D. Rossi: dunque"));
        assert!(!is_turn_start(
            "Nel 2021: la pandemia, e poi tutto il resto"
        ));
        assert!(!is_turn_start("senza etichetta"));
        assert!(is_turn_start("D'Amico: sì"));
        assert_eq!(speaker_of("  Intervistata: bene"), Some("Intervistata"));
        assert_eq!(speaker_of("R:"), Some("R"));
        // Time stamps transcription software writes before a turn.
        assert_eq!(speaker_of("[00:00:05] INT: sì"), Some("INT"));
        assert_eq!(speaker_of("(01:05.3) R: bene"), Some("R"));
        assert_eq!(
            speaker_of("00:01:05 Intervistatore: allora"),
            Some("Intervistatore")
        );
        assert_eq!(speaker_of("10:30 la riunione"), None);
        assert_eq!(speaker_of("10:30 Riunione: tutti"), None);
        assert_eq!(speaker_of("[nota] R: no"), None);
        assert_eq!(speaker_of("12.5 R: no"), None);
        assert_eq!(speaker_of("3: Domanda: sì"), None);
        assert_eq!(speaker_of("[3:] R: no"), None);
    }

    /// Several speakers of a kind are numbered: respondents, participants of a focus group.
    #[test]
    fn numbered_speakers_are_speakers() {
        for label in [
            "R1",
            "P12",
            "I2",
            "INT2",
            "Intervistato 1",
            "Speaker 2",
            "Partecipante 12",
        ] {
            assert_eq!(speaker_of(&format!("{label}: sì")), Some(label), "{label}");
        }
        for line in [
            "Nel 2021: la pandemia",
            "Anno 2019: avvio",
            "Art. 55: la co-programmazione",
            "Legge 328: il sistema integrato",
            "Volume 3: i casi",
            "123: numeri",
            "1: uno",
            "Alle 9:30 è arrivata la coordinatrice.",
            "Dalle 14:00 in poi",
            "Fase 2: la riapertura",
            "Domanda 1: il servizio",
            "Intervista 3:",
            "Rossi2: no",
        ] {
            assert_eq!(speaker_of(line), None, "{line}");
        }
        let turns: Vec<String> =
            split("INT: Come va?\nR1: Bene.\nINT: E il lavoro?\nR2: Va bene, però…")
                .into_iter()
                .map(|p| p.text)
                .collect();
        assert_eq!(
            turns,
            [
                "INT: Come va?",
                "R1: Bene.",
                "INT: E il lavoro?",
                "R2: Va bene, però…"
            ]
        );
    }

    #[test]
    fn header_keys_are_not_speakers() {
        for line in [
            "DOI: 10.3280/SP2023-001005",
            "Data: 12 marzo 2023",
            "Luogo: sede del consorzio",
            "Durata: 54 minuti",
            "Parole chiave: welfare, ambiti",
            "NOTE: audio disturbato",
            "Vol.: 3",
        ] {
            assert_eq!(speaker_of(line), None, "{line}");
        }
        // Names and roles that only begin like a key are speakers.
        assert_eq!(speaker_of("Datore: sì"), Some("Datore"));
        assert_eq!(speaker_of("Notaio: bene"), Some("Notaio"));
        assert_eq!(speaker_of("Referente ente: sì"), Some("Referente ente"));
        // Who speaks at a table of co-design, or as a source.
        for label in ["Ente", "Comune", "Ambito", "Fonte", "Subject", "Autrice"] {
            assert_eq!(speaker_of(&format!("{label}: sì")), Some(label));
        }
    }
}
