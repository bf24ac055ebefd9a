//! Deleting discontinuity judgments and interventions: who may, what goes with a judgment
//! (its evidence, its cause links both ways, a new version for the judgments that followed
//! from it), what the analyses count afterwards, and deletions racing the tags that would
//! link to what they delete (PostgreSQL; one after the other on SQLite).

use serde_json::{json, Value};
use tests::{audit_summary, error_code, id_number, with_paused, TestServer};

const TRANSCRIPT: &str = "R: Prima nessuno guardava alle fasce grigie.";
const TAG: &str = "mutation($i: TagDiscontinuityInput!) { tagDiscontinuity(input: $i) { id version evaluator { id } evidence { id } causes { id } } }";
const DELETE: &str = "mutation($i: ID!, $v: Int!) { deleteDiscontinuity(id: $i, version: $v) }";
const DELETE_INTERVENTION: &str = "mutation($i: ID!) { deleteIntervention(id: $i) }";
const DELETE_CASE: &str = "mutation($i: ID!) { deleteCase(id: $i) }";
const JUDGMENT: &str = "query($j: ID!) { node(id: $j) { ... on Discontinuity { version causes { id } effects { id } evidence { id } } } }";

/// A private study made by an admin, with one case, one interview and one quotation, and
/// tokens for each role.
struct Setup {
    server: TestServer,
    admin: String,
    owner: String,
    eva: String,
    ugo: String,
    analyst: String,
    viewer: String,
    /// A member of another study only.
    outsider: String,
    study: Value,
    case: Value,
    interview: Value,
    quote: Value,
}

async fn setup() -> Setup {
    let server = TestServer::empty().await;
    let admin = server.admin().await;
    let c = server.corpus(&admin, "Ritiri", &[TRANSCRIPT]).await;
    let n = num(&c.study);
    let quote = server
        .ok(
            Some(&admin),
            "mutation($i: ID!) { createQuotation(input: {interviewId: $i, start: 3, end: 20, codeIds: []}) { id } }",
            json!({"i": c.interviews[0]["id"]}),
        )
        .await["createQuotation"]["id"]
        .clone();
    let other = server.corpus(&admin, "Altro studio", &[]).await;
    Setup {
        owner: server.token("olga", "owner", Some(n)).await,
        eva: server.token("eva", "evaluator", Some(n)).await,
        ugo: server.token("ugo", "evaluator", Some(n)).await,
        analyst: server.token("ada", "analyst", Some(n)).await,
        viewer: server.token("vera", "viewer", Some(n)).await,
        outsider: server
            .token("otto", "evaluator", Some(num(&other.study)))
            .await,
        server,
        admin,
        study: c.study,
        case: c.case,
        interview: c.interviews[0]["id"].clone(),
        quote,
    }
}

fn num(id: &Value) -> i64 {
    id_number(id.as_str().unwrap())
}

impl Setup {
    /// Tags a judgment of the case (the consensus with `consensus`), which must succeed.
    async fn tag(&self, token: &str, input: Value) -> Value {
        let mut i = json!({"caseId": self.case, "intensity": "SIGNIFICANT"});
        for (k, v) in input.as_object().unwrap() {
            i[k] = v.clone();
        }
        self.server.ok(Some(token), TAG, json!({"i": i})).await["tagDiscontinuity"].clone()
    }

    async fn delete(&self, token: &str, judgment: &Value, version: i64) -> Value {
        self.server
            .gql(
                Some(token),
                DELETE,
                json!({"i": judgment["id"], "v": version}),
            )
            .await
    }

    async fn delete_intervention(&self, token: &str, intervention: &Value) -> Value {
        self.server
            .gql(Some(token), DELETE_INTERVENTION, json!({"i": intervention}))
            .await
    }

    async fn judgment(&self, id: &Value) -> Value {
        self.server
            .ok(Some(&self.admin), JUDGMENT, json!({"j": id}))
            .await["node"]
            .clone()
    }

    async fn count(&self, sql: &str) -> i64 {
        self.server.count(sql).await
    }

    async fn judgments(&self) -> i64 {
        self.count("SELECT count(*) FROM discontinuity").await
    }

    /// The study's audit entries of `operation`, oldest first.
    async fn audit(&self, operation: &str) -> Vec<Value> {
        self.server
            .ok(
                Some(&self.admin),
                "query($s: ID!) { auditLog(studyId: $s, first: 100) { edges { node { operation entity entityId summary user { name } } } } }",
                json!({"s": self.study}),
            )
            .await["auditLog"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"].clone())
            .filter(|n| n["operation"] == operation)
            .collect()
    }
}

/// An evaluator deletes her own judgment, not another's nor the consensus; owners and
/// admins delete any; analysts and viewers are FORBIDDEN, callers who cannot read the study
/// NOT_FOUND; a stale version is a CONFLICT; a refusal deletes nothing.
#[tokio::test]
async fn evaluators_delete_their_own_judgments_and_owners_and_admins_any() {
    let s = setup().await;
    let dim = |d: &str| json!({"dimension": d});
    let by_eva = s.tag(&s.eva, dim("PROBLEM_DEFINITION")).await;
    let by_ugo = s.tag(&s.ugo, dim("PROBLEM_DEFINITION")).await;
    let also_ugo = s.tag(&s.ugo, dim("ACTOR_NETWORK")).await;
    let consensus = s
        .tag(
            &s.owner,
            json!({"dimension": "PROBLEM_DEFINITION", "consensus": true}),
        )
        .await;
    let other_consensus = s
        .tag(
            &s.admin,
            json!({"dimension": "ACTOR_NETWORK", "consensus": true}),
        )
        .await;
    assert_eq!(s.judgments().await, 5);

    let refused = [
        (&s.ugo, &by_eva, 1, "FORBIDDEN", "another evaluator's"),
        (
            &s.eva,
            &consensus,
            1,
            "FORBIDDEN",
            "the consensus, by an evaluator",
        ),
        (&s.analyst, &by_eva, 1, "FORBIDDEN", "an analyst"),
        (&s.viewer, &by_eva, 1, "FORBIDDEN", "a viewer"),
        (
            &s.outsider,
            &by_eva,
            1,
            "NOT_FOUND",
            "a caller who cannot read the study",
        ),
        (&s.eva, &by_eva, 2, "CONFLICT", "a stale version"),
    ];
    for (token, judgment, version, code, who) in refused {
        assert_eq!(
            error_code(&s.delete(token, judgment, version).await),
            code,
            "{who}"
        );
    }
    let anonymous = s
        .server
        .gql(None, DELETE, json!({"i": by_eva["id"], "v": 1}))
        .await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
    assert_eq!(s.judgments().await, 5, "a refusal deletes nothing");

    for (token, judgment) in [
        (&s.eva, &by_eva),
        (&s.owner, &by_ugo),
        (&s.owner, &consensus),
        (&s.admin, &also_ugo),
        (&s.admin, &other_consensus),
    ] {
        let deleted = s.delete(token, judgment, 1).await;
        assert_eq!(
            deleted["data"]["deleteDiscontinuity"], judgment["id"],
            "{deleted}"
        );
        assert!(s.judgment(&judgment["id"]).await.is_null());
    }
    assert_eq!(s.judgments().await, 0);
    assert_eq!(
        error_code(&s.delete(&s.admin, &by_eva, 1).await),
        "NOT_FOUND",
        "deleted already"
    );
    // A tag sent with the version of a judgment deleted since does not bring it back; a
    // tag without one judges the cell anew.
    let stale = s
        .server
        .gql(
            Some(&s.eva),
            TAG,
            json!({"i": {"caseId": s.case, "dimension": "PROBLEM_DEFINITION", "intensity": "PARTIAL", "expectedVersion": 1}}),
        )
        .await;
    assert_eq!(error_code(&stale), "CONFLICT", "{stale}");
    assert_eq!(s.judgments().await, 0);
    let anew = s.tag(&s.eva, dim("PROBLEM_DEFINITION")).await;
    // Above the deleted judgment's version 1, which no longer edits the cell.
    assert_eq!(anew["version"], 2);
    assert_ne!(anew["id"], by_eva["id"]);
}

/// A deleted judgment takes its evidence rows and its cause links (both ways) with it; the
/// judgment that followed from it loses that cause with a new version and an audit entry,
/// the one it followed from is unchanged; the deletion is logged with what the judgment was.
/// Agreement and the comparison no longer count it.
#[tokio::test]
async fn a_deleted_judgment_takes_its_evidence_and_links_and_the_judgments_citing_it_move_on() {
    let s = setup().await;
    let problem = s
        .tag(
            &s.eva,
            json!({"dimension": "PROBLEM_DEFINITION", "evidenceQuotationIds": [s.quote]}),
        )
        .await;
    let theory = s
        .tag(
            &s.eva,
            json!({"dimension": "INTERVENTION_THEORY", "intensity": "PARADIGMATIC", "kind": "NEW_PROBLEM",
                   "evidenceQuotationIds": [s.quote], "causeIds": [problem["id"]]}),
        )
        .await;
    let instruments = s
        .tag(
            &s.eva,
            json!({"dimension": "POLICY_INSTRUMENTS", "causeIds": [theory["id"]]}),
        )
        .await;
    // Ugo judges the same unit as Eva's theory judgment: one unit, two evaluators.
    s.tag(
        &s.ugo,
        json!({"dimension": "INTERVENTION_THEORY", "intensity": "PARTIAL"}),
    )
    .await;
    let eva_id = theory["evaluator"]["id"].clone();
    let agreement = || async {
        s.server
            .ok(
                Some(&s.admin),
                "query($s: ID!) { discontinuityAgreement(studyId: $s) { units evaluators } }",
                json!({"s": s.study}),
            )
            .await["discontinuityAgreement"]
            .clone()
    };
    let compared = || async {
        let groups = s
            .server
            .ok(
                Some(&s.admin),
                "query($s: ID!, $e: ID) { discontinuityComparison(studyId: $s, evaluatorId: $e) { dimension discontinuities { id } } }",
                json!({"s": s.study, "e": eva_id}),
            )
            .await["discontinuityComparison"]
            .clone();
        let mut ids: Vec<Value> = groups
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["discontinuities"].as_array().unwrap().clone())
            .map(|d| d["id"].clone())
            .collect();
        ids.sort_by_key(num);
        ids
    };
    let cascade = || async {
        s.server
            .ok(
                Some(&s.admin),
                "query($c: ID!, $e: ID) { node(id: $c) { ... on Case { cascade(evaluatorId: $e) { cause { id } effect { id } } } } }",
                json!({"c": s.case, "e": eva_id}),
            )
            .await["node"]["cascade"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(agreement().await, json!({"units": 1, "evaluators": 2}));
    assert_eq!(
        compared().await,
        vec![
            problem["id"].clone(),
            theory["id"].clone(),
            instruments["id"].clone()
        ]
    );
    assert_eq!(cascade().await, 2);

    let deleted = s.delete(&s.eva, &theory, 1).await;
    assert!(deleted.get("errors").is_none(), "{deleted}");

    let t = num(&theory["id"]);
    assert_eq!(
        s.count(&format!(
            "SELECT count(*) FROM discontinuity_evidence WHERE discontinuity_id = {t}"
        ))
        .await,
        0
    );
    assert_eq!(
        s.count(&format!(
            "SELECT count(*) FROM discontinuity_cause WHERE cause_id = {t} OR effect_id = {t}"
        ))
        .await,
        0
    );
    // The quotation is still the evidence of the judgment that had it too.
    assert_eq!(
        s.judgment(&problem["id"]).await,
        json!({"version": 1, "causes": [], "effects": [], "evidence": [{"id": s.quote}]}),
        "the judgment it followed from is unchanged"
    );
    assert_eq!(
        s.judgment(&instruments["id"]).await,
        json!({"version": 2, "causes": [], "effects": [], "evidence": []}),
        "the judgment that followed from it lost the link, with a new version"
    );
    // An evaluator still holding the old version is told it changed.
    let stale = s
        .server
        .gql(
            Some(&s.eva),
            TAG,
            json!({"i": {"caseId": s.case, "dimension": "POLICY_INSTRUMENTS", "intensity": "NONE", "expectedVersion": 1}}),
        )
        .await;
    assert_eq!(error_code(&stale), "CONFLICT", "{stale}");

    let log = s.audit("deleteDiscontinuity").await;
    assert_eq!(log.len(), 2, "{log:#?}");
    let entry = log.iter().find(|e| e["entityId"] == theory["id"]).unwrap();
    assert_eq!(entry["entity"], "discontinuity");
    assert_eq!(entry["user"]["name"], "eva");
    assert_eq!(
        audit_summary(entry),
        json!({
            "before": {
                "case": num(&s.case), "intervention": null, "dimension": "INTERVENTION_THEORY",
                "intensity": "PARADIGMATIC", "kind": "NEW_PROBLEM", "covid_effect": null,
                "evaluator": num(&eva_id), "consensus": false, "version": 1,
                "evidence": [num(&s.quote)], "causes": [num(&problem["id"])],
            },
            "effects": [num(&instruments["id"])],
        })
    );
    let citing = log
        .iter()
        .find(|e| e["entityId"] == instruments["id"])
        .unwrap();
    assert_eq!(
        audit_summary(citing),
        json!({
            "before": {"version": 1, "causes": [t]},
            "after": {"version": 2, "causes": []},
            "consensus": false,
            "evaluator": num(&eva_id),
            "causeDeleted": t,
        })
    );

    assert_eq!(
        agreement().await,
        json!({"units": 0, "evaluators": 0}),
        "Ugo's judgment is compared with nobody now"
    );
    assert_eq!(
        compared().await,
        vec![problem["id"].clone(), instruments["id"].clone()]
    );
    assert_eq!(cascade().await, 0);
}

/// An intervention is deleted only once no judgment is about it, by owners and admins; with
/// its judgments, interventions and interviews deleted, the case can be deleted too.
#[tokio::test]
async fn interventions_go_once_no_judgment_is_about_them_and_then_the_case_can_go() {
    let s = setup().await;
    let intervention = s
        .server
        .ok(
            Some(&s.owner),
            "mutation($c: ID!) { createIntervention(input: {caseId: $c, label: \"Sportello\"}) { id } }",
            json!({"c": s.case}),
        )
        .await["createIntervention"]["id"]
        .clone();
    let on_it = s
        .tag(
            &s.eva,
            json!({"dimension": "ACTOR_NETWORK", "interventionId": intervention}),
        )
        .await;
    let consensus = s
        .tag(
            &s.owner,
            json!({"dimension": "ACTOR_NETWORK", "interventionId": intervention, "consensus": true,
                   "evidenceQuotationIds": [s.quote]}),
        )
        .await;
    for (token, code) in [
        (&s.eva, "FORBIDDEN"),
        (&s.analyst, "FORBIDDEN"),
        (&s.outsider, "NOT_FOUND"),
    ] {
        assert_eq!(
            error_code(&s.delete_intervention(token, &intervention).await),
            code
        );
    }
    let refused = s.delete_intervention(&s.owner, &intervention).await;
    assert_eq!(error_code(&refused), "CONFLICT");
    let message = refused["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("2 discontinuity judgments"), "{message}");
    let refused = s
        .server
        .gql(Some(&s.owner), DELETE_CASE, json!({"i": s.case}))
        .await;
    assert_eq!(error_code(&refused), "CONFLICT");

    assert!(s.delete(&s.eva, &on_it, 1).await.get("errors").is_none());
    let message = s.delete_intervention(&s.admin, &intervention).await["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("1 discontinuity judgment is"), "{message}");
    assert!(s
        .delete(&s.owner, &consensus, 1)
        .await
        .get("errors")
        .is_none());
    let deleted = s.delete_intervention(&s.owner, &intervention).await;
    assert_eq!(
        deleted["data"]["deleteIntervention"], intervention,
        "{deleted}"
    );
    assert!(s
        .server
        .ok(
            Some(&s.admin),
            "query($c: ID!) { node(id: $c) { ... on Case { interventions { id } } } }",
            json!({"c": s.case}),
        )
        .await["node"]["interventions"]
        .as_array()
        .unwrap()
        .is_empty());
    let log = s.audit("deleteIntervention").await;
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["entityId"], intervention);
    assert_eq!(
        audit_summary(&log[0]),
        json!({"before": {"case": num(&s.case), "label": "Sportello"}})
    );
    assert_eq!(
        error_code(&s.delete_intervention(&s.owner, &intervention).await),
        "NOT_FOUND"
    );

    // Emptied of judgments, interventions and (the consent withdrawn) its interview, the
    // case is deleted.
    s.server
        .ok(
            Some(&s.owner),
            "mutation($i: ID!) { deleteInterview(id: $i, version: 1) }",
            json!({"i": s.interview}),
        )
        .await;
    let deleted = s
        .server
        .ok(Some(&s.owner), DELETE_CASE, json!({"i": s.case}))
        .await;
    assert_eq!(deleted["deleteCase"], s.case);
}

/// A tag naming a judgment as its cause while that judgment is deleted. Tagged first, the
/// deletion waits for it, then takes the new link away and gives the citing judgment a new
/// version (before, it read who cited the judgment before the tag committed, and the link
/// went with the judgment unseen, the citing judgment keeping its version). Deleted first,
/// the tag waits and finds the cause gone: NOT_FOUND, and no link.
#[tokio::test]
async fn a_cause_named_while_its_judgment_is_deleted_is_withdrawn_with_a_new_version() {
    let s = setup().await;
    let cause = s
        .tag(&s.eva, json!({"dimension": "PROBLEM_DEFINITION"}))
        .await;
    let effect = s.tag(&s.eva, json!({"dimension": "ACTOR_NETWORK"})).await;
    let cite = |dimension: &str, cause: &Value, version: Option<i64>| {
        s.server.gql(
            Some(&s.eva),
            TAG,
            json!({"i": {"caseId": s.case, "dimension": dimension, "intensity": "PARTIAL",
                         "causeIds": [cause["id"]], "expectedVersion": version}}),
        )
    };

    let (tagged, deleted) = with_paused(
        &s.server,
        &["tagDiscontinuity"],
        cite("ACTOR_NETWORK", &cause, Some(1)),
        s.delete(&s.owner, &cause, 1),
    )
    .await;
    assert!(tagged.get("errors").is_none(), "{tagged}");
    assert_eq!(tagged["data"]["tagDiscontinuity"]["version"], 2);
    assert!(deleted.get("errors").is_none(), "{deleted}");
    assert_eq!(
        s.judgment(&effect["id"]).await,
        json!({"version": 3, "causes": [], "effects": [], "evidence": []}),
        "the tag's link is withdrawn with a version of its own"
    );
    assert_eq!(s.count("SELECT count(*) FROM discontinuity_cause").await, 0);

    let cause = s
        .tag(&s.eva, json!({"dimension": "POLICY_INSTRUMENTS"}))
        .await;
    let (deleted, tagged) = with_paused(
        &s.server,
        &["deleteDiscontinuity"],
        s.delete(&s.owner, &cause, 1),
        cite("INTERVENTION_THEORY", &cause, None),
    )
    .await;
    assert!(deleted.get("errors").is_none(), "{deleted}");
    assert_eq!(error_code(&tagged), "NOT_FOUND", "{tagged}");
    assert_eq!(s.count("SELECT count(*) FROM discontinuity_cause").await, 0);
    assert_eq!(
        s.count("SELECT count(*) FROM discontinuity WHERE dimension = 'INTERVENTION_THEORY'")
            .await,
        0
    );
}

/// A judgment made about an intervention while it is deleted: made first, the deletion
/// waits for it and refuses (CONFLICT); deleted first, the tag waits and finds no
/// intervention. Never a judgment left about an intervention that is gone.
#[tokio::test]
async fn a_judgment_made_while_its_intervention_is_deleted_stops_the_deletion_or_is_not_found() {
    let s = setup().await;
    let create = |label: &str| {
        let label = label.to_owned();
        let s = &s;
        async move {
            s.server
                .ok(
                    Some(&s.owner),
                    "mutation($c: ID!, $l: String!) { createIntervention(input: {caseId: $c, label: $l}) { id } }",
                    json!({"c": s.case, "l": label}),
                )
                .await["createIntervention"]["id"]
                .clone()
        }
    };
    let tag = |intervention: &Value| {
        s.server.gql(
            Some(&s.eva),
            TAG,
            json!({"i": {"caseId": s.case, "dimension": "ACTOR_NETWORK", "intensity": "PARTIAL",
                         "interventionId": intervention}}),
        )
    };
    let delete = |intervention: &Value| {
        s.server.gql(
            Some(&s.owner),
            DELETE_INTERVENTION,
            json!({"i": intervention}),
        )
    };

    let first = create("Sportello").await;
    let (tagged, deleted) = with_paused(
        &s.server,
        &["tagDiscontinuity"],
        tag(&first),
        delete(&first),
    )
    .await;
    assert!(tagged.get("errors").is_none(), "{tagged}");
    assert_eq!(error_code(&deleted), "CONFLICT", "{deleted}");
    assert_eq!(
        s.count(&format!(
            "SELECT count(*) FROM discontinuity WHERE intervention_id = {}",
            num(&first)
        ))
        .await,
        1
    );

    let second = create("Consorzio").await;
    let (deleted, tagged) = with_paused(
        &s.server,
        &["deleteIntervention"],
        delete(&second),
        tag(&second),
    )
    .await;
    assert!(deleted.get("errors").is_none(), "{deleted}");
    assert_eq!(error_code(&tagged), "NOT_FOUND", "{tagged}");
    assert_eq!(
        s.count(&format!(
            "SELECT count(*) FROM discontinuity WHERE intervention_key = {}",
            num(&second)
        ))
        .await,
        0
    );
}

/// A judgment deleted and its cell tagged anew: the new judgment's versions start above the
/// deleted one's, so a tag sent with a version read from the deleted judgment is CONFLICT
/// and leaves the new one as it is (versions restarted at 1, and it overwrote it).
#[tokio::test]
async fn a_version_read_from_a_deleted_judgment_does_not_overwrite_its_successor() {
    let s = setup().await;
    let o = Some(s.owner.as_str());
    let cell = |intensity: &str, expected: Option<i32>| json!({"i": {"caseId": s.case, "dimension": "POLICY_INSTRUMENTS", "intensity": intensity, "consensus": true, "expectedVersion": expected}});
    let first = s.server.ok(o, TAG, cell("PARTIAL", None)).await["tagDiscontinuity"].clone();
    assert_eq!(first["version"], 1);
    s.server
        .ok(o, DELETE, json!({"i": first["id"], "v": 1}))
        .await;
    let again = s.server.ok(o, TAG, cell("PARADIGMATIC", None)).await["tagDiscontinuity"].clone();
    assert_ne!(again["id"], first["id"]);
    assert_eq!(again["version"], 2);
    let stale = s
        .server
        .gql(Some(&s.admin), TAG, cell("NONE", Some(1)))
        .await;
    assert_eq!(error_code(&stale), "CONFLICT", "{stale}");
    let now = s
        .server
        .ok(
            o,
            "query($j: ID!) { node(id: $j) { ... on Discontinuity { version intensity } } }",
            json!({"j": again["id"]}),
        )
        .await;
    assert_eq!(
        now["node"],
        json!({"version": 2, "intensity": "PARADIGMATIC"})
    );
    // The version read from the new one is the one that edits it.
    let edited = s.server.ok(o, TAG, cell("NONE", Some(2))).await["tagDiscontinuity"].clone();
    assert_eq!(edited["version"], 3);
}
