//! Opaque global IDs ("Kind:number", base64url) that `node(id:)` resolves, and cursors.

use async_graphql::ID;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::error::bad_input;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ambito,
    EnteGestore,
    Comune,
    Project,
    Study,
    Case,
    Intervention,
    Interview,
    Code,
    Quotation,
    Discontinuity,
    Memo,
    User,
}

impl Kind {
    const ALL: [Kind; 13] = [
        Kind::Ambito,
        Kind::EnteGestore,
        Kind::Comune,
        Kind::Project,
        Kind::Study,
        Kind::Case,
        Kind::Intervention,
        Kind::Interview,
        Kind::Code,
        Kind::Quotation,
        Kind::Discontinuity,
        Kind::Memo,
        Kind::User,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Ambito => "Ambito",
            Kind::EnteGestore => "EnteGestore",
            Kind::Comune => "Comune",
            Kind::Project => "Project",
            Kind::Study => "Study",
            Kind::Case => "Case",
            Kind::Intervention => "Intervention",
            Kind::Interview => "Interview",
            Kind::Code => "Code",
            Kind::Quotation => "Quotation",
            Kind::Discontinuity => "Discontinuity",
            Kind::Memo => "Memo",
            Kind::User => "User",
        }
    }
}

impl Kind {
    /// The kind the audit log and memos name in lower case ("quotation", "ente_gestore").
    pub fn of_entity(entity: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| {
            // "EnteGestore" → "ente_gestore", compared as it is spelt out.
            let snake = k.name().char_indices().flat_map(|(i, c)| {
                let underscore = (c.is_ascii_uppercase() && i > 0).then_some('_');
                underscore.into_iter().chain([c.to_ascii_lowercase()])
            });
            snake.eq(entity.chars())
        })
    }
}

pub fn encode(kind: Kind, id: i64) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{id}", kind.name())))
}

/// Decodes any global ID into its kind and number.
pub fn decode_any(id: &str) -> Option<(Kind, i64)> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(id.trim()).ok()?).ok()?;
    let (name, num) = raw.split_once(':')?;
    let kind = Kind::ALL.into_iter().find(|k| k.name() == name)?;
    Some((kind, num.parse().ok()?))
}

/// Decodes an ID that must be of `kind`: anything else is BAD_USER_INPUT.
pub fn decode(id: &ID, kind: Kind) -> async_graphql::Result<i64> {
    match decode_any(id) {
        Some((k, n)) if k == kind => Ok(n),
        _ => Err(bad_input(format!("{:?} is not a {} ID", id.0, kind.name()))),
    }
}

/// Most IDs one list argument takes. A list goes to the database as one statement's bound
/// values, and SQLite binds at most 32,766: a longer list failed there, as an internal
/// error. No list a person builds comes near.
pub const MAX_IDS_PER_LIST: usize = 5_000;

/// Decodes a list of IDs that must all be of `kind`; a list longer than `MAX_IDS_PER_LIST`
/// is BAD_USER_INPUT.
pub fn decode_all(ids: &[ID], kind: Kind) -> async_graphql::Result<Vec<i64>> {
    if ids.len() > MAX_IDS_PER_LIST {
        return Err(bad_input(format!(
            "a list of {} {} IDs: a list holds at most {MAX_IDS_PER_LIST}",
            ids.len(),
            kind.name()
        )));
    }
    ids.iter().map(|id| decode(id, kind)).collect()
}

/// A study given on the command line: its global ID or its number.
pub fn parse_study_ref(s: &str) -> Result<i64, String> {
    if let Ok(n) = s.parse() {
        return Ok(n);
    }
    match decode_any(s) {
        Some((Kind::Study, n)) => Ok(n),
        _ => Err(format!("{s:?} is neither a study number nor a Study ID")),
    }
}

pub fn encode_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("cursor:{id}"))
}

pub fn decode_cursor(cursor: Option<&str>) -> async_graphql::Result<Option<i64>> {
    let Some(c) = cursor else { return Ok(None) };
    URL_SAFE_NO_PAD
        .decode(c.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("cursor:")?.parse().ok())
        .map(Some)
        .ok_or_else(|| bad_input(format!("{c:?} is not a valid cursor")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names the audit log and memos write (`audit::record`, `memos::Target::kind`).
    #[test]
    fn entities_named_in_lower_case_are_kinds() {
        for (entity, kind) in [
            ("study", Kind::Study),
            ("case", Kind::Case),
            ("intervention", Kind::Intervention),
            ("interview", Kind::Interview),
            ("code", Kind::Code),
            ("quotation", Kind::Quotation),
            ("discontinuity", Kind::Discontinuity),
            ("memo", Kind::Memo),
            ("user", Kind::User),
            ("ente_gestore", Kind::EnteGestore),
        ] {
            assert_eq!(Kind::of_entity(entity), Some(kind), "{entity}");
        }
        for other in ["api_token", "Quotation", "entegestore", ""] {
            assert_eq!(Kind::of_entity(other), None, "{other}");
        }
    }

    #[test]
    fn ids_round_trip_and_check_their_kind() {
        let id = encode(Kind::Quotation, 42);
        assert_eq!(decode_any(&id), Some((Kind::Quotation, 42)));
        assert_eq!(decode(&id, Kind::Quotation).unwrap(), 42);
        assert!(decode(&id, Kind::Code).is_err());
        assert!(decode(&ID("garbage!".into()), Kind::Code).is_err());
        assert_eq!(decode_cursor(Some(&encode_cursor(7))).unwrap(), Some(7));
        assert!(decode_cursor(Some("nope")).is_err());
        assert_eq!(parse_study_ref("3").unwrap(), 3);
        assert_eq!(parse_study_ref(&encode(Kind::Study, 9)).unwrap(), 9);
    }
}
