//! `GET /api/openapi.json`: the OpenAPI 3.1 document of the API, made from
//! the code: the answers' schemas from the wire types the browser decodes
//! (`netloom_core::api` and the simulator's), the request bodies' from the
//! types the handlers read. The table of operations below is the one place
//! that lists the routes and their status codes; a test checks it against
//! the router, and schemathesis checks the server against it (e2e/tests/api_fuzz.rs).

use axum::Json;
use netloom_core::api::{
    Design, DesignInfo, Health, JobCancel, JobLog, JobStarted, PlanView, RealPath, Status,
    Validation,
};
use netloom_core::reach::ReachReport;
use netloom_core::trace::Trace;
use netloom_core::ErrorBody;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::designs::{NewDesign, Save};
use super::jobs::JobBody;
use super::simulate::SimulateBody;
use super::TextBody;

/// The example of a topology text in request bodies: the fuzzer's valid
/// case. Jobs have none, so a fuzz run never deploys anything.
pub const EXAMPLE_LAB: &str = "version: 1\nname: example\nhosts:\n  - name: node1\n    \
bridges: [{name: br0}]\n    vms:\n      - {name: vm1, nics: [{bridge: br0, ip: 10.0.0.1/24}]}\n      \
- {name: vm2, nics: [{bridge: br0, ip: 10.0.0.2/24}]}\n";

/// What every refusal looks like, by status code.
fn refusal(code: u16) -> &'static str {
    match code {
        400 => "bad input (malformed JSON, or a field's value); `path` names the field",
        401 => "missing or wrong token",
        403 => "another origin, or deploying without root",
        404 => "no such thing",
        405 => "the endpoint does not take that method",
        409 => "conflict: a stale revision, a busy topology, or a finished job",
        413 => "over a limit (body, topology budget, quota, pairs); the message names it",
        415 => "the body is not `application/json`",
        422 => "the topology has problems (all listed), or a field is missing or of the wrong type",
        429 => "the server runs as many of these as it allows at once",
        503 => "observing this machine failed",
        _ => "refused",
    }
}

/// One operation of the document.
struct Op {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    body: Option<Value>,
    /// Status code and its schema (`None`: no body; a string: that content type).
    answer: (u16, Answer),
    errors: Vec<u16>,
    /// Query parameters: (name, schema, required).
    query: Vec<(&'static str, Value, bool)>,
}

enum Answer {
    Json(Value),
    Empty,
    EventStream,
    Pcap,
}

impl Op {
    fn new(method: &'static str, path: &'static str, summary: &'static str) -> Op {
        Op {
            method,
            path,
            summary,
            body: None,
            answer: (200, Answer::Empty),
            errors: vec![401],
            query: Vec::new(),
        }
    }

    fn query(mut self, name: &'static str, schema: Value, required: bool) -> Op {
        self.query.push((name, schema, required));
        self
    }

    /// Takes a JSON body: malformed (400), wrong type (415), over the size (413) or shape (422).
    fn body(mut self, schema: Value) -> Op {
        self.body = Some(schema);
        self.errors.extend([400, 413, 415, 422]);
        self
    }

    fn answer(mut self, code: u16, a: Answer) -> Op {
        self.answer = (code, a);
        self
    }

    fn errors(mut self, codes: &[u16]) -> Op {
        self.errors.extend_from_slice(codes);
        self
    }

    fn operation(&self, error: &Value) -> Value {
        let mut responses = Map::new();
        let (code, answer) = &self.answer;
        let ok = match answer {
            Answer::Json(s) => json!({
                "description": "success",
                "content": {"application/json": {"schema": s}},
            }),
            Answer::Empty => json!({"description": "done"}),
            Answer::EventStream => json!({
                "description": "Server-Sent Events: `start`, `step`/`probe`..., `done`; \
                                each `data` is a `JobEvent`",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }),
            Answer::Pcap => json!({
                "description": "pcap (nanosecond timestamps, Ethernet), streamed until a limit",
                "content": {"application/vnd.tcpdump.pcap": {"schema": {"type": "string", "format": "binary"}}},
            }),
        };
        responses.insert(code.to_string(), ok);
        let mut errors = self.errors.clone();
        // Writes and event streams must come from the app's own origin.
        if self.method != "get" || self.path.ends_with("/events") || self.path.ends_with("/capture")
        {
            errors.push(403);
        }
        errors.sort_unstable();
        errors.dedup();
        for e in errors {
            responses.insert(
                e.to_string(),
                json!({
                    "description": refusal(e),
                    "content": {"application/json": {"schema": error}},
                }),
            );
        }
        let mut op = json!({"summary": self.summary, "responses": responses});
        let query = self.query.iter().map(|(name, schema, required)| {
            json!({"name": name, "in": "query", "required": required, "schema": schema})
        });
        let params: Vec<Value> = self
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| {
                json!({"name": name, "in": "path", "required": true,
                       "schema": {"type": "integer", "format": "int64"}})
            })
            .chain(query)
            .collect();
        if !params.is_empty() {
            op["parameters"] = json!(params);
        }
        if let Some(b) = &self.body {
            op["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": b}},
            });
        }
        op
    }
}

/// A request body's schema, inline (as the handler deserializes it).
fn input<T: JsonSchema>() -> Value {
    let mut s = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    if let Some(o) = s.as_object_mut() {
        o.remove("title");
    }
    s
}

fn out<T: JsonSchema>(g: &mut SchemaGenerator) -> Answer {
    Answer::Json(g.subschema_for::<T>().to_value())
}

/// Every operation of the API.
fn operations(g: &mut SchemaGenerator) -> Vec<Op> {
    let mut ops = designs(g);
    ops.extend(deploying(g));
    ops.extend(packets(g));
    ops
}

/// The server itself, validation, and stored designs.
fn designs(g: &mut SchemaGenerator) -> Vec<Op> {
    let text = input::<TextBody>;
    vec![
        Op::new("get", "/api/health", "the server is up; its version")
            .answer(200, out::<Health>(g)),
        Op::new("get", "/api/openapi.json", "this document")
            .answer(200, Answer::Json(json!({"type": "object"}))),
        Op::new(
            "post",
            "/api/validate",
            "every problem of a topology text, warnings included",
        )
        .body(text())
        .answer(200, out::<Validation>(g)),
        Op::new("get", "/api/designs", "the stored designs").answer(200, out::<Vec<DesignInfo>>(g)),
        Op::new("post", "/api/designs", "store a new design")
            .body(input::<NewDesign>())
            .answer(201, out::<DesignInfo>(g)),
        Op::new("get", "/api/designs/{id}", "a stored design with its text")
            .answer(200, out::<Design>(g))
            .errors(&[404]),
        Op::new(
            "put",
            "/api/designs/{id}",
            "save a new revision (text, name or both)",
        )
        .body(input::<Save>())
        .answer(200, out::<DesignInfo>(g))
        .errors(&[404, 409]),
        Op::new("delete", "/api/designs/{id}", "delete a stored design")
            .answer(204, Answer::Empty)
            .errors(&[404]),
    ]
}

/// Plans, status and jobs.
fn deploying(g: &mut SchemaGenerator) -> Vec<Op> {
    let text = input::<TextBody>;
    vec![
        Op::new(
            "post",
            "/api/plan",
            "what apply would create, change and remove, per host",
        )
        .body(text())
        .answer(200, out::<PlanView>(g))
        .errors(&[429, 503]),
        Op::new("post", "/api/status", "what is deployed now, and the drift")
            .body(text())
            .answer(200, out::<Status>(g))
            .errors(&[429, 503]),
        Op::new("post", "/api/jobs", "start an apply, verify or destroy job")
            .body(input::<JobBody>())
            .answer(202, out::<JobStarted>(g))
            .errors(&[409, 429]),
        Op::new("get", "/api/jobs/{id}", "a job's log so far")
            .answer(200, out::<JobLog>(g))
            .errors(&[404]),
        Op::new(
            "delete",
            "/api/jobs/{id}",
            "a job waiting for its topology's lock gives up",
        )
        .answer(202, out::<JobCancel>(g))
        .errors(&[404, 409]),
        Op::new(
            "get",
            "/api/jobs/{id}/events",
            "a job's events as they happen",
        )
        .answer(200, Answer::EventStream)
        .errors(&[404, 429]),
    ]
}

/// Live captures and the simulator.
fn packets(g: &mut SchemaGenerator) -> Vec<Op> {
    let text = input::<TextBody>;
    vec![
        Op::new(
            "get",
            "/api/designs/{id}/capture",
            "a live capture on one link of an applied design",
        )
        .query("link", json!({"type": "string"}), true)
        .query(
            "seconds",
            json!({"type": "integer", "minimum": 1, "maximum": 600}),
            false,
        )
        .query("count", json!({"type": "integer", "minimum": 0}), false)
        .query(
            "snaplen",
            json!({"type": "integer", "minimum": 1, "maximum": 262_144}),
            false,
        )
        .answer(200, Answer::Pcap)
        .errors(&[400, 404, 409, 429, 503]),
        Op::new("post", "/api/simulate", "the trace of one simulated probe")
            .body(input::<SimulateBody>())
            .answer(200, out::<Trace>(g))
            .errors(&[]),
        Op::new(
            "post",
            "/api/simulate/real",
            "the trace, and the probe sent for real on the design applied here",
        )
        .body(input::<SimulateBody>())
        .answer(200, out::<RealPath>(g))
        .errors(&[409]),
        Op::new(
            "post",
            "/api/reach",
            "the predicted reachability of every sender/address pair",
        )
        .body(text())
        .answer(200, out::<ReachReport>(g)),
    ]
}

/// The whole document.
pub fn document() -> Value {
    let mut g = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .for_serialize()
        .into_generator();
    let error = g.subschema_for::<ErrorBody>().to_value();
    let mut paths = Map::new();
    for op in operations(&mut g) {
        let item = paths.entry(op.path).or_insert_with(|| json!({}));
        item[op.method] = op.operation(&error);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "netloom serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The API of `netloom serve`: designs, the simulator, deploying. \
                            See docs/web-api.md.",
        },
        "paths": paths,
        "components": {
            "schemas": g.take_definitions(true),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": super::auth::COOKIE},
            },
        },
        "security": [{"bearer": []}, {"cookie": []}],
    })
}

pub async fn serve() -> Json<Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{call, state};
    use super::*;
    use axum::http::{Method, StatusCode};

    /// Every operation of the document is a route of the server (not its
    /// 404/405 fallbacks), and the document is what the server serves.
    #[tokio::test]
    async fn the_document_lists_the_routes_of_the_server() {
        let app = super::super::app(state());
        let (status, served) = call(&app, Method::GET, "/api/openapi.json", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(served, document());
        let mut g = SchemaGenerator::default();
        let ops = operations(&mut g);
        assert_eq!(ops.len(), 18);
        for op in ops {
            let uri = op.path.replace("{id}", "999999");
            let method: Method = op.method.to_uppercase().parse().unwrap();
            let (status, body) = call(&app, method, &uri, None).await;
            let missing = body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("no API endpoint") || m.contains("that method"));
            assert!(!missing, "{} {uri}: {status} {body}", op.method);
        }
        let schemas = &served["components"]["schemas"];
        for name in [
            "Health",
            "PlanView",
            "Status",
            "JobEvent",
            "Trace",
            "ErrorBody",
        ] {
            assert!(schemas[name].is_object(), "{name} in {schemas}");
        }
        // A MAC address is a string on the wire (serde `into = "String"`).
        assert_eq!(schemas["Mac"]["type"], "string", "{}", schemas["Mac"]);
    }
}
