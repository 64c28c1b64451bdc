//! `--jobs-from FILE|-`: the jobs to wait on, one ID per line or the JSON responses of the
//! operations that created them, and the desktops those operations reported as failed at
//! submission.
//!
//! The responses are read as their operations return them (see
//! `shared/api/jobs-and-limits.md`): `{"job_id": …}` for most; `jobs[].job_id` for
//! per-desktop jobs; `success_job_ids[]` and `failed_operation_list[]` for batch actions,
//! whose failed desktops never become subtasks and so are reported here; an error body
//! (`error_code`, `error_msg`) when the operation failed as a whole; and some actions
//! return no job at all. Documents may be concatenated, one per line, or in a JSON array,
//! and mixed with plain IDs.

use std::io::Read;

use serde::Serialize;
use serde_json::{Map, Value};

/// A desktop (or a whole operation) that failed when it was submitted: it never became a
/// subtask, so no wait can see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubmissionFailure {
    /// Where it was read: `responses.json line 3`.
    pub source: String,
    /// The `job_id` of the response that reported it, if any.
    pub job_id: Option<String>,
    /// The desktop, when the response names one (`null`: the operation failed as a whole).
    pub desktop_id: Option<String>,
    /// The service's `error_code`.
    pub error_code: Option<String>,
    /// The service's `error_msg`.
    pub error_msg: Option<String>,
}

/// What an input named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Submitted {
    /// Job IDs, in the order read, each once.
    pub job_ids: Vec<String>,
    /// Desktops (or operations) that failed at submission.
    pub failures: Vec<SubmissionFailure>,
    /// Responses that named no job and reported no failure: nothing to wait on for them.
    pub without_jobs: Vec<String>,
}

impl Submitted {
    fn add_job(&mut self, id: &str) {
        if !self.job_ids.iter().any(|known| known == id) {
            self.job_ids.push(id.to_owned());
        }
    }
}

/// Reads `path` (`-`: standard input) whole and parses it.
///
/// # Errors
///
/// A one-line message naming the input: unreadable, not UTF-8, or not parseable.
pub fn read(path: &str) -> Result<Submitted, String> {
    let (name, bytes) = if path == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .map_err(|e| format!("--jobs-from -: cannot read standard input: {e}"))?;
        ("standard input".to_owned(), bytes)
    } else {
        let bytes =
            std::fs::read(path).map_err(|e| format!("--jobs-from {path}: cannot read it: {e}"))?;
        (path.to_owned(), bytes)
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "--jobs-from {name}: not valid UTF-8 (at byte {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    parse(&text, &name)
}

/// Parses `text`, read from `name`.
///
/// # Errors
///
/// Invalid JSON, a value that is neither a job ID nor a response, a field of the wrong
/// type, or a line that is not one job ID — each naming `name`, the line and the value.
pub fn parse(text: &str, name: &str) -> Result<Submitted, String> {
    let mut submitted = Submitted::default();
    let mut rest = text;
    let mut line = 1;
    loop {
        let trimmed = rest.trim_start();
        line += rest[..rest.len() - trimmed.len()].matches('\n').count();
        rest = trimmed;
        let Some(first) = rest.chars().next() else {
            break;
        };
        let source = format!("{name} line {line}");
        let consumed = if matches!(first, '{' | '[' | '"') {
            let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
            match stream.next() {
                Some(Ok(value)) => {
                    take_value(&value, &source, &mut submitted)?;
                    stream.byte_offset()
                }
                Some(Err(e)) => return Err(format!("--jobs-from {source}: not valid JSON: {e}")),
                None => rest.len(),
            }
        } else {
            let end = rest.find('\n').unwrap_or(rest.len());
            let entry = rest[..end].trim();
            // Comments, for lists kept by hand.
            if !entry.starts_with('#') {
                if entry.contains(char::is_whitespace) {
                    return Err(format!(
                        "--jobs-from {source}: `{}` is not one job ID (give one ID per line, or JSON)",
                        entry.escape_debug()
                    ));
                }
                submitted.add_job(entry);
            }
            end
        };
        line += rest[..consumed].matches('\n').count();
        rest = &rest[consumed..];
    }
    Ok(submitted)
}

fn take_value(value: &Value, source: &str, submitted: &mut Submitted) -> Result<(), String> {
    match value {
        Value::String(id) => {
            submitted.add_job(id);
            Ok(())
        }
        Value::Object(response) => take_response(response, source, submitted),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                take_value(item, &format!("{source} item {}", i + 1), submitted)?;
            }
            Ok(())
        }
        other => Err(format!(
            "--jobs-from {source}: expected a job ID or an operation's JSON response, found {other}"
        )),
    }
}

/// A string field of `object`, absent and `null` alike being `None`.
fn string_field<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    source: &str,
) -> Result<Option<&'a str>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text).filter(|t| !t.is_empty()).map(String::as_str)),
        Some(other) => Err(format!(
            "--jobs-from {source}: `{key}` should be a string, found {other}"
        )),
    }
}

fn array_field<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    source: &str,
) -> Result<&'a [Value], String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(format!(
            "--jobs-from {source}: `{key}` should be an array, found {other}"
        )),
    }
}

fn take_response(
    response: &Map<String, Value>,
    source: &str,
    submitted: &mut Submitted,
) -> Result<(), String> {
    let before = (submitted.job_ids.len(), submitted.failures.len());
    let job_id = string_field(response, "job_id", source)?;
    let mut named_job = false;
    if let Some(id) = job_id {
        submitted.add_job(id);
        named_job = true;
    }
    for (i, job) in array_field(response, "jobs", source)?.iter().enumerate() {
        let at = format!("{source} jobs[{i}]");
        let Value::Object(job) = job else {
            return Err(format!(
                "--jobs-from {at}: should be an object, found {job}"
            ));
        };
        if let Some(id) = string_field(job, "job_id", &at)? {
            submitted.add_job(id);
            named_job = true;
        }
    }
    for (i, id) in array_field(response, "success_job_ids", source)?
        .iter()
        .enumerate()
    {
        match id {
            Value::String(id) if !id.is_empty() => {
                submitted.add_job(id);
                named_job = true;
            }
            other => {
                return Err(format!(
                    "--jobs-from {source} success_job_ids[{i}]: should be a job ID, found {other}"
                ))
            }
        }
    }
    for (i, failed) in array_field(response, "failed_operation_list", source)?
        .iter()
        .enumerate()
    {
        let at = format!("{source} failed_operation_list[{i}]");
        let Value::Object(failed) = failed else {
            return Err(format!(
                "--jobs-from {at}: should be an object, found {failed}"
            ));
        };
        submitted.failures.push(SubmissionFailure {
            source: source.to_owned(),
            job_id: job_id.map(str::to_owned),
            desktop_id: string_field(failed, "desktop_id", &at)?.map(str::to_owned),
            error_code: string_field(failed, "error_code", &at)?.map(str::to_owned),
            error_msg: string_field(failed, "error_msg", &at)?.map(str::to_owned),
        });
    }
    let error_code = string_field(response, "error_code", source)?;
    let error_msg = string_field(response, "error_msg", source)?;
    if !named_job && (error_code.is_some() || error_msg.is_some()) {
        // The operation itself was refused: nothing of it will ever run.
        submitted.failures.push(SubmissionFailure {
            source: source.to_owned(),
            job_id: None,
            desktop_id: None,
            error_code: error_code.map(str::to_owned),
            error_msg: error_msg.map(str::to_owned),
        });
    }
    if (submitted.job_ids.len(), submitted.failures.len()) == before && !named_job {
        let keys: Vec<&str> = response.keys().map(String::as_str).collect();
        submitted.without_jobs.push(format!(
            "{source}: a response without any job ID (keys: {}): nothing to wait on for it",
            if keys.is_empty() {
                "none".to_owned()
            } else {
                keys.join(", ")
            }
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(submitted: &Submitted) -> Vec<&str> {
        submitted.job_ids.iter().map(String::as_str).collect()
    }

    #[test]
    fn one_id_per_line_with_blanks_and_comments() {
        let got = parse("job-1\n\n  job-2  \n# a comment\njob-1\n", "ids.txt").unwrap();
        assert_eq!(ids(&got), ["job-1", "job-2"]);
        assert!(got.failures.is_empty() && got.without_jobs.is_empty());
        let err = parse("job-1\njob 2\n", "ids.txt").unwrap_err();
        assert_eq!(
            err,
            "--jobs-from ids.txt line 2: `job 2` is not one job ID (give one ID per line, or JSON)"
        );
    }

    #[test]
    fn every_response_shape_gives_its_jobs() {
        let text = r#"{"job_id": "a"}
{"job_id": "b", "jobs": [{"job_id": "b1", "desktop_id": "d"}, {"job_id": "b2"}]}{"job_id":"c","success_job_ids":["c1","c"],
 "failed_operation_list":[{"desktop_id":"d-9","error_code":"WKS.0001","error_msg":"bad state"}]}
[{"job_id": "e"}, "f"]
"g"
plain-id
"#;
        let got = parse(text, "-").unwrap();
        assert_eq!(
            ids(&got),
            ["a", "b", "b1", "b2", "c", "c1", "e", "f", "g", "plain-id"]
        );
        assert_eq!(
            got.failures,
            [SubmissionFailure {
                source: "- line 2".into(),
                job_id: Some("c".into()),
                desktop_id: Some("d-9".into()),
                error_code: Some("WKS.0001".into()),
                error_msg: Some("bad state".into()),
            }]
        );
    }

    #[test]
    fn responses_without_jobs_and_refused_operations_are_reported() {
        let text =
            "{\"request_id\": \"r\"}\n{\"error_code\": \"WKS.0108\", \"error_msg\": \"quota\"}\n\
                    {\"failed_operation_list\": [{\"desktop_id\": \"d\"}]}";
        let got = parse(text, "out.json").unwrap();
        assert!(got.job_ids.is_empty());
        assert_eq!(
            got.without_jobs,
            ["out.json line 1: a response without any job ID (keys: request_id): nothing to wait on for it"]
        );
        assert_eq!(got.failures.len(), 2);
        assert_eq!(got.failures[0].desktop_id, None);
        assert_eq!(got.failures[0].error_code.as_deref(), Some("WKS.0108"));
        assert_eq!(got.failures[0].source, "out.json line 2");
        assert_eq!(got.failures[1].desktop_id.as_deref(), Some("d"));
        assert_eq!(got.failures[1].job_id, None);
    }

    #[test]
    fn bad_input_names_the_place_and_the_value() {
        for (text, expected) in [
            ("{\"job_id\": 42}", "--jobs-from f line 1: `job_id` should be a string, found 42"),
            ("\n\n{\"job_id\": ", "--jobs-from f line 3: not valid JSON: EOF while parsing"),
            ("[1]", "--jobs-from f line 1 item 1: expected a job ID or an operation's JSON response, found 1"),
            (
                "{\"success_job_ids\": [\"\"]}",
                "--jobs-from f line 1 success_job_ids[0]: should be a job ID, found \"\"",
            ),
            (
                "{\"jobs\": {\"job_id\": \"x\"}}",
                "--jobs-from f line 1: `jobs` should be an array",
            ),
        ] {
            let err = parse(text, "f").unwrap_err();
            assert!(err.starts_with(expected), "{text}: {err}");
        }
    }

    #[test]
    fn empty_input_names_nothing() {
        assert_eq!(parse(" \n\n", "f").unwrap(), Submitted::default());
    }
}
