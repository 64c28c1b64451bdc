//! Property tests: decoding never panics, pages round-trip, the canonical query ignores
//! parameter order, and a signature covers every part it signs.

use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;
use wks_waiter::{
    model::{Subtask, SubtaskPage},
    signing::{canonical_query, sign, AccessKey, SignableRequest},
    Credentials,
};

mod support;

use support::Rng;

const VALID_PAGE: &str = r#"{"total_count":2,"jobs":[{"status":"RUNNING","process":40,
"entities":{"user_name":"user-test-01","product_id":"workspace.c2.large.windows",
"desktop_id":"9d30c8ac-77b5-4453-80da-8f027223ee99","desktop_name":"d1"},
"job_id":"0e2dae94-23ff-449a-bb9c-1b808cf2106d","job_type":"createDesktops",
"begin_time":"2020-04-10 06:45:14","end_time":"","id":"e43caef5-e478-4624-9e8c-b0b636331cbc"},
{"status":"FAILED","error_code":"WKS.0120","fail_reason":"no capacity \u00e9","id":"x2"}]}"#;

fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
        prop_oneof![
            Just("WAITING"),
            Just("RUNNING"),
            Just("SUCCESS"),
            Just("FAILED"),
            Just("FAIL")
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        let keys = prop_oneof![
            Just("total_count".to_owned()),
            Just("jobs".to_owned()),
            Just("status".to_owned()),
            Just("entities".to_owned()),
            Just("process".to_owned()),
            Just("end_time".to_owned()),
            Just("id".to_owned()),
            "[a-z_]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(keys, inner, 0..6)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

/// An optional string field; empty strings read back as absent, so none are generated.
fn text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(".{1,16}")
}

fn subtask() -> impl Strategy<Value = Subtask> {
    (
        (text(), text(), text(), text(), text()),
        (
            prop::option::of(prop_oneof![
                Just("WAITING".to_owned()),
                Just("RUNNING".to_owned()),
                Just("SUCCESS".to_owned()),
                Just("FAILED".to_owned()),
                "[A-Z]{1,10}"
            ]),
            prop::option::of(0u32..=100),
            text(),
            text(),
        ),
    )
        .prop_map(
            |((id, job_id, desktop, user, host), (status, process, code, reason))| {
                // A listed subtask always has an id.
                let id = id.unwrap_or_else(|| "s".to_owned());
                serde_json::from_value(serde_json::json!({
                    "id": id, "job_id": job_id, "host": host, "status": status, "process": process,
                    "error_code": code, "fail_reason": reason,
                    "entities": { "desktop_id": desktop, "user_name": user },
                }))
                .unwrap()
            },
        )
}

fn key(sk: &str) -> AccessKey {
    match Credentials::access_key("AK", sk).unwrap() {
        Credentials::AccessKey(key) => key,
        _ => unreachable!(),
    }
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = SubtaskPage::from_json(&bytes);
    }

    #[test]
    fn decoding_mutated_pages_never_panics(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        // Random bytes rarely get past the first one; damage a real page instead, so the
        // decoder is driven deep into subtasks, entities and statuses before it fails.
        let mut bytes = VALID_PAGE.as_bytes().to_vec();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        bytes.truncate(cut.index(bytes.len() + 1).max(1));
        let _ = SubtaskPage::from_json(&bytes);
    }

    #[test]
    fn decoding_arbitrary_json_never_panics(value in arbitrary_json()) {
        let text = serde_json::to_vec(&value).unwrap();
        let _ = SubtaskPage::from_json(&text);
        let _ = serde_json::from_value::<SubtaskPage>(value);
    }

    #[test]
    fn valid_pages_round_trip(total in any::<u64>(), jobs in prop::collection::vec(subtask(), 0..8)) {
        let page = SubtaskPage::new(total, jobs);
        let text = serde_json::to_string(&page).unwrap();
        prop_assert_eq!(serde_json::from_str::<SubtaskPage>(&text).unwrap(), page);
    }

    #[test]
    fn any_value_in_an_optional_field_costs_that_field_only(
        field in prop_oneof![
            Just("status"), Just("process"), Just("entities"), Just("end_time"),
            Just("job_id"), Just("error_code"), Just("novel"),
        ],
        value in arbitrary_json(),
    ) {
        let mut page: serde_json::Value = serde_json::from_str(VALID_PAGE).unwrap();
        page["jobs"][0][field] = value;
        let decoded = SubtaskPage::from_json(&serde_json::to_vec(&page).unwrap());
        let decoded = decoded.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(decoded.subtasks.len(), 2);
        prop_assert_eq!(decoded.subtasks[1].fail_reason.as_deref(), Some("no capacity é"));
    }

    #[test]
    fn a_subtask_without_a_usable_id_makes_the_page_malformed_naming_its_index(
        jobs in prop::collection::vec(subtask(), 1..8),
        broken in any::<prop::sample::Index>(),
        id in prop_oneof![
            Just(serde_json::Value::Null),
            Just(serde_json::json!("")),
            Just(serde_json::json!(7)),
            Just(serde_json::json!(["a"])),
        ],
    ) {
        let index = broken.index(jobs.len());
        let mut page = serde_json::to_value(SubtaskPage::new(jobs.len() as u64, jobs)).unwrap();
        page["jobs"][index]["id"] = id;
        let err = SubtaskPage::from_json(&serde_json::to_vec(&page).unwrap()).unwrap_err();
        let expected = format!("jobs[{index}].id is missing");
        prop_assert!(err.to_string().contains(&expected), "{}", err);
    }

    #[test]
    fn canonical_query_is_independent_of_order(
        pairs in prop::collection::vec(("[a-z_]{1,6}", ".{0,8}"), 0..8),
        seed in any::<u64>(),
    ) {
        let mut shuffled = pairs.clone();
        // A deterministic shuffle from the seed.
        let mut rng = Rng(seed);
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let canonical = |p: &[(String, String)]| canonical_query(p.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        prop_assert_eq!(canonical(&pairs), canonical(&shuffled));
    }

    #[test]
    fn signatures_change_when_any_signed_part_changes(
        part in 0usize..7,
        sk in "[A-Za-z0-9]{8,40}",
        path in "/[a-z0-9/]{0,20}",
        query in "[a-z]{1,5}=[a-z0-9]{0,5}",
        header in "[ -~]{1,16}",
        body in prop::collection::vec(any::<u8>(), 0..32),
        secs in 0u64..4_000_000_000,
    ) {
        let headers = [("x-project-id", header.as_str())];
        let base = SignableRequest { method: "GET", path: &path, query: &query, headers: &headers, body: &body };
        let time = UNIX_EPOCH + Duration::from_secs(secs);
        let original = sign(&base, &key(&sk), time).signature;
        let changed_header = format!("{}x", header.trim());
        let changed_headers = [("x-project-id", changed_header.as_str())];
        let changed_path = format!("{path}/x");
        let changed_query = format!("{query}&z=1");
        let mut changed_body = body.clone();
        changed_body.push(b'x');
        let changed_sk = format!("{sk}x");
        let mut request = base;
        let mut signing_key = key(&sk);
        let mut at = time;
        match part {
            0 => request.method = "POST",
            1 => request.path = &changed_path,
            2 => request.query = &changed_query,
            3 => request.headers = &changed_headers,
            4 => request.body = &changed_body,
            5 => signing_key = key(&changed_sk),
            _ => at = time + Duration::from_secs(1),
        }
        prop_assert_ne!(sign(&request, &signing_key, at).signature, original);
    }
}

#[test]
fn the_page_the_mutations_start_from_is_valid() {
    let page = SubtaskPage::from_json(VALID_PAGE.as_bytes()).unwrap();
    assert_eq!((page.total_count, page.subtasks.len()), (2, 2));
    assert_eq!(
        page.subtasks[1].fail_reason.as_deref(),
        Some("no capacity é")
    );
}
