//! Validation of HTTP requests (and JSON answers) against the OpenAPI excerpts of
//! `tests/fixtures/openapi/` (PagerDuty REST `GET /incidents`, Centreon `/login`,
//! `GET /monitoring/resources` and `/monitoring/resources/acknowledge`): the tests check what the
//! code sends against the official specifications, not against hand-written expectations.
//!
//! Checked: the operation exists for the method and path; every query parameter is a known one
//! (name, `type` integer/boolean/string, `enum`, `minimum`/`maximum`, arrays through `items`),
//! the required ones are present; required headers are present and match their schema; the
//! security scheme's header is present unless the operation says `security: []`; a required JSON
//! body is there, and the body matches its schema: `type`, `nullable`, `enum`,
//! `minimum`/`maximum`, `required`, `properties`, `additionalProperties`, `items`,
//! `minItems`/`maxItems`, `allOf`/`oneOf`/`anyOf`, `$ref` (JSON pointers into the same document;
//! a reference to a schema not copied is unconstrained). Not checked: `pattern`, `format`,
//! `uniqueItems`.
//!
//! Self-contained (std and serde_json only), so that any test crate can include it with
//! `#[path]` or through `tests/common/mod.rs`.

#![allow(dead_code)]

use serde_json::Value;

/// The violations of a mock's requests in order, each prefixed with its request's number.
pub fn numbered_violations<'a>(per_request: impl Iterator<Item = &'a [String]>) -> Vec<String> {
    per_request
        .enumerate()
        .flat_map(|(i, vs)| vs.iter().map(move |v| format!("request {i}: {v}")))
        .collect()
}

/// A request as received by a mock.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    /// Path relative to the API base (`/incidents`, `/login`), without the query.
    pub path: String,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One OpenAPI document (an excerpt).
pub struct Spec {
    doc: Value,
}

impl Spec {
    /// `tests/fixtures/openapi/pagerduty-rest.json`.
    pub fn pagerduty_rest() -> Spec {
        Spec::from_str(include_str!("../fixtures/openapi/pagerduty-rest.json"))
    }

    /// `tests/fixtures/openapi/centreon.json`.
    pub fn centreon() -> Spec {
        Spec::from_str(include_str!("../fixtures/openapi/centreon.json"))
    }

    pub fn from_str(text: &str) -> Spec {
        let doc = serde_json::from_str(text).expect("OpenAPI fixture is JSON");
        Spec { doc }
    }

    /// Follows `$ref` chains (JSON pointers in this document). `None`: not copied.
    fn resolve<'a>(&'a self, mut v: &'a Value) -> Option<&'a Value> {
        for _ in 0..32 {
            match v.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    let pointer = r.strip_prefix('#')?;
                    v = self.doc.pointer(pointer)?;
                }
                None => return Some(v),
            }
        }
        None
    }

    /// The operation for `method path`: the path as written, else the first path template
    /// (`/hosts/{host_id}`) whose segments match, with the values of its path parameters.
    fn operation(&self, method: &str, path: &str) -> Option<(&Value, Vec<(String, String)>)> {
        let paths = self.doc.get("paths")?.as_object()?;
        let method = method.to_ascii_lowercase();
        if let Some(op) = paths.get(path).and_then(|p| p.get(&method)) {
            return Some((op, Vec::new()));
        }
        let segments: Vec<&str> = path.split('/').collect();
        paths.iter().find_map(|(template, item)| {
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut values = Vec::new();
            for (part, seg) in parts.iter().zip(&segments) {
                match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) if !seg.is_empty() => {
                        values.push((name.to_owned(), (*seg).to_owned()))
                    }
                    _ if part == seg => {}
                    _ => return None,
                }
            }
            item.get(&method).map(|op| (op, values))
        })
    }

    /// Every way `req` departs from the specification (empty: valid).
    pub fn check_request(&self, req: &HttpRequest) -> Vec<String> {
        let mut errors = Vec::new();
        let Some((op, path_values)) = self.operation(&req.method, &req.path) else {
            return vec![format!(
                "no operation {} {} in the specification",
                req.method, req.path
            )];
        };
        let params: Vec<&Value> = op
            .get("parameters")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|p| self.resolve(p)).collect())
            .unwrap_or_default();
        let param = |place: &str, name: &str| {
            params.iter().copied().find(|p| {
                p.get("in").and_then(Value::as_str) == Some(place)
                    && p.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
        };
        // Query parameters.
        for (name, value) in &req.query {
            match param("query", name) {
                None => errors.push(format!(
                    "query parameter {name:?} is not in the specification"
                )),
                Some(p) => {
                    let schema = p.get("schema").and_then(|s| self.resolve(s));
                    let schema = match schema {
                        Some(s) if s.get("type").and_then(Value::as_str) == Some("array") => {
                            s.get("items").and_then(|i| self.resolve(i))
                        }
                        other => other,
                    };
                    if let Some(s) = schema {
                        let v = scalar(value, s);
                        self.check_value(&v, s, &format!("query {name}"), &mut errors);
                    }
                }
            }
        }
        // Path parameters.
        for (name, value) in &path_values {
            match param("path", name)
                .and_then(|p| p.get("schema"))
                .and_then(|s| self.resolve(s))
            {
                None => errors.push(format!("path parameter {name:?} is not declared")),
                Some(s) => {
                    let v = scalar(value, s);
                    self.check_value(&v, s, &format!("path {name}"), &mut errors);
                }
            }
        }
        // Required parameters; header values.
        for p in &params {
            let place = p.get("in").and_then(Value::as_str).unwrap_or("");
            let name = p.get("name").and_then(Value::as_str).unwrap_or("");
            let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
            match place {
                "query" if required && !req.query.iter().any(|(k, _)| k == name) => {
                    errors.push(format!("required query parameter {name:?} missing"));
                }
                "header" => match req.header(name) {
                    None if required => errors.push(format!("required header {name:?} missing")),
                    None => {}
                    Some(v) => {
                        if let Some(s) = p.get("schema").and_then(|s| self.resolve(s)) {
                            let v = Value::String(v.to_owned());
                            self.check_value(&v, s, &format!("header {name}"), &mut errors);
                        }
                    }
                },
                _ => {}
            }
        }
        // Security: the operation's, else the document's; `[]` means none.
        let security = op.get("security").or_else(|| self.doc.get("security"));
        if let Some(alternatives) = security.and_then(Value::as_array) {
            if !alternatives.is_empty() {
                let satisfied = alternatives.iter().any(|alt| {
                    alt.as_object()
                        .is_some_and(|o| o.keys().all(|scheme| self.scheme_satisfied(scheme, req)))
                });
                if !satisfied {
                    errors.push("no security scheme satisfied (credentials header missing)".into());
                }
            }
        }
        // Body.
        if let Some(rb) = op.get("requestBody").and_then(|b| self.resolve(b)) {
            let required = rb.get("required").and_then(Value::as_bool).unwrap_or(false);
            if req.body.is_empty() {
                if required {
                    errors.push("required request body missing".into());
                }
            } else {
                let ct = req.header("content-type").unwrap_or("");
                if !ct.starts_with("application/json") {
                    errors.push(format!(
                        "body content type {ct:?}, expected application/json"
                    ));
                }
                match serde_json::from_slice::<Value>(&req.body) {
                    Err(e) => errors.push(format!("body is not JSON: {e}")),
                    Ok(v) => {
                        if let Some(s) = rb
                            .pointer("/content/application~1json/schema")
                            .and_then(|s| self.resolve(s))
                        {
                            self.check_value(&v, s, "body", &mut errors);
                        }
                    }
                }
            }
        } else if !req.body.is_empty() {
            errors.push("a body where the operation takes none".into());
        }
        errors
    }

    fn scheme_satisfied(&self, scheme: &str, req: &HttpRequest) -> bool {
        let Some(s) = self
            .doc
            .pointer(&format!("/components/securitySchemes/{scheme}"))
        else {
            return false;
        };
        let name = s.get("name").and_then(Value::as_str).unwrap_or("");
        match s.get("in").and_then(Value::as_str) {
            Some("header") => req.header(name).is_some_and(|v| !v.is_empty()),
            Some("cookie") => req
                .header("cookie")
                .is_some_and(|c| c.contains(&format!("{name}="))),
            _ => false,
        }
    }

    /// Every way a JSON answer to `method path` with `status` departs from the specification.
    pub fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        let Some((op, _)) = self.operation(method, path) else {
            return vec![format!("no operation {method} {path}")];
        };
        let Some(resp) = op
            .get("responses")
            .and_then(|r| r.get(status.to_string()))
            .and_then(|r| self.resolve(r))
        else {
            return vec![format!(
                "status {status} not documented for {method} {path}"
            )];
        };
        if let Some(s) = resp
            .pointer("/content/application~1json/schema")
            .and_then(|s| self.resolve(s))
        {
            self.check_value(body, s, "answer", &mut errors);
        }
        errors
    }

    /// Checks `v` against `schema` (already resolved), appending errors at `at`.
    pub fn check_value(&self, v: &Value, schema: &Value, at: &str, errors: &mut Vec<String>) {
        if v.is_null() && schema.get("nullable").and_then(Value::as_bool) == Some(true) {
            return;
        }
        for key in ["allOf"] {
            if let Some(all) = schema.get(key).and_then(Value::as_array) {
                for s in all {
                    if let Some(s) = self.resolve(s) {
                        self.check_value(v, s, at, errors);
                    }
                }
            }
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(any) = schema.get(key).and_then(Value::as_array) {
                let ok = any.iter().filter_map(|s| self.resolve(s)).any(|s| {
                    let mut e = Vec::new();
                    self.check_value(v, s, at, &mut e);
                    e.is_empty()
                });
                if !ok {
                    errors.push(format!("{at}: matches none of {key}"));
                }
            }
        }
        if let Some(t) = schema.get("type").and_then(Value::as_str) {
            let ok = match t {
                "string" => v.is_string(),
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                "boolean" => v.is_boolean(),
                "object" => v.is_object(),
                "array" => v.is_array(),
                _ => true,
            };
            if !ok {
                errors.push(format!("{at}: {v} is not of type {t}"));
                return;
            }
        }
        if let Some(n) = v.as_f64() {
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
                if n < min {
                    errors.push(format!("{at}: {v} is below the minimum {min}"));
                }
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
                if n > max {
                    errors.push(format!("{at}: {v} is above the maximum {max}"));
                }
            }
        }
        if let Some(e) = schema.get("enum").and_then(Value::as_array) {
            if !e.contains(v) {
                errors.push(format!(
                    "{at}: {v} is not one of {}",
                    Value::Array(e.clone())
                ));
            }
        }
        if let Some(obj) = v.as_object() {
            if let Some(req) = schema.get("required").and_then(Value::as_array) {
                for r in req.iter().filter_map(Value::as_str) {
                    if !obj.contains_key(r) {
                        errors.push(format!("{at}: required property {r:?} missing"));
                    }
                }
            }
            let props = schema.get("properties").and_then(Value::as_object);
            for (k, val) in obj {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => {
                        if let Some(s) = self.resolve(s) {
                            self.check_value(val, s, &format!("{at}.{k}"), errors);
                        }
                    }
                    None => match schema.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            errors.push(format!("{at}: property {k:?} not allowed"))
                        }
                        Some(s @ Value::Object(_)) => {
                            if let Some(s) = self.resolve(s) {
                                self.check_value(val, s, &format!("{at}.{k}"), errors);
                            }
                        }
                        _ => {}
                    },
                }
            }
        }
        if let Some(items) = v.as_array() {
            let len = items.len() as u64;
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
                if len < min {
                    errors.push(format!("{at}: {len} items, at least {min} expected"));
                }
            }
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
                if len > max {
                    errors.push(format!("{at}: {len} items, at most {max} allowed"));
                }
            }
            if let Some(s) = schema.get("items").and_then(|s| self.resolve(s)) {
                for (i, item) in items.iter().enumerate() {
                    self.check_value(item, s, &format!("{at}[{i}]"), errors);
                }
            }
        }
    }
}

/// A query or header text as the JSON value its schema expects (integers, booleans).
fn scalar(text: &str, schema: &Value) -> Value {
    match schema.get("type").and_then(Value::as_str) {
        Some("integer") => text
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(text.to_owned())),
        Some("boolean") => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(text.to_owned()),
        },
        _ => Value::String(text.to_owned()),
    }
}
