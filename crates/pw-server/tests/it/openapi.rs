//! The OpenAPI document (`crates/pw-server/openapi.json`, issue 14.9) against the router and a
//! real controller: every route documented and nothing else, an operationId each, the refusals
//! every kind of route can answer, links that name real operations, parameters and response
//! fields, request patterns that agree with the shared validators, and enumerations the server
//! enforces. Schemathesis drives the rest against a real controller (scripts/api-fuzz.sh).

use std::collections::BTreeSet;

use pw_server::{Access, ROUTES};
use serde_json::{Value, json};

use crate::support::TestController;

fn document() -> Value {
    serde_json::from_str(pw_server::OPENAPI_JSON).expect("openapi.json is JSON")
}

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    doc["paths"]
        .get(path)
        .and_then(|p| p.get(method))
        .unwrap_or_else(|| panic!("{method} {path} undocumented"))
}

fn access(method: &str, path: &str) -> Access {
    pw_server::access(&method.to_ascii_uppercase().parse().unwrap(), path)
}

/// The value at a local `$ref` (`#/components/schemas/X`).
fn resolve<'a>(doc: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("local reference");
            let target = doc.pointer(pointer);
            resolve(
                doc,
                target.unwrap_or_else(|| panic!("{reference} resolves")),
            )
        }
        None => node,
    }
}

fn media_schema<'a>(doc: &'a Value, content: &'a Value) -> Option<&'a Value> {
    content
        .get("application/json")
        .and_then(|m| m.get("schema"))
        .map(|s| resolve(doc, s))
}

fn statuses(op: &Value) -> BTreeSet<&str> {
    op["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[tokio::test]
async fn every_route_is_documented_in_the_openapi_document_and_nothing_else() {
    let t = TestController::start().await;
    let (status, doc) = t.get_json("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc, document(), "the server serves the file");
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in ROUTES {
        let operation = operation(&doc, method, path);
        // The documented role is the enforced one (`pw_server::access`).
        let documented = operation.get("x-required-role").and_then(Value::as_str);
        match access(method, path) {
            Access::Operator(role) => {
                assert_eq!(documented, Some(role.as_str()), "{method} {path}");
                assert!(operation.get("security").is_none(), "{method} {path}");
            }
            _ => assert_eq!(documented, None, "{method} {path}"),
        }
    }
    assert_eq!(doc["security"], json!([{"operatorToken": []}]));
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        ROUTES.len(),
        "the document lists routes that do not exist"
    );
    // Every route in ROUTES answers something other than the JSON 404 of unknown routes.
    for (method, path) in ROUTES {
        let url = t.http(&path.replace("{id}", "x"));
        let request = match *method {
            "get" => t.api().get(url),
            _ => t.api().post(url).json(&json!({})),
        };
        let body = request.send().await.unwrap().text().await.unwrap();
        assert!(
            !body.contains("\"not_found\""),
            "{method} {path} is not routed"
        );
    }
}

#[test]
fn every_operation_has_a_unique_operation_id() {
    let doc = document();
    let mut seen = BTreeSet::new();
    for (method, path) in ROUTES {
        let id = operation(&doc, method, path)["operationId"].as_str();
        let id = id.unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(
            id.chars().all(|c| c.is_ascii_alphanumeric()) && !id.is_empty(),
            "{method} {path}: operationId {id:?}"
        );
        assert!(seen.insert(id), "operationId {id} is used twice");
    }
}

/// The statuses a route must document, from how the server is built: the authentication
/// middleware (401/403), the JSON extractor `ApiJson` (400/413/415/422), path extractors (400).
fn required_statuses(doc: &Value, method: &str, path: &str) -> Vec<&'static str> {
    let op = operation(doc, method, path);
    let mut needed = Vec::new();
    match access(method, path) {
        Access::Operator(_) => needed.extend(["401", "403"]),
        Access::Agent if *path == *"/api/v1/enroll" => needed.push("403"),
        Access::Agent => needed.extend(["401", "403"]),
        _ => {}
    }
    if op["requestBody"]["content"]
        .get("application/json")
        .is_some()
    {
        needed.extend(["400", "413", "415", "422"]);
    }
    if path.contains('{') {
        needed.extend(["400", "404"]);
    }
    needed
}

#[test]
fn every_operation_documents_the_refusals_it_can_answer() {
    let doc = document();
    let mut missing = Vec::new();
    for (method, path) in ROUTES {
        let op = operation(&doc, method, path);
        let documented = statuses(op);
        for status in required_statuses(&doc, method, path) {
            if !documented.contains(status) {
                missing.push(format!("{method} {path}: {status}"));
            }
        }
        // Every refusal of the API is the JSON error (the page's own answers are HTML).
        for status in documented.iter().filter(|s| s.starts_with('4')) {
            let content = &op["responses"][*status]["content"];
            if content.get("text/html").is_some() {
                continue;
            }
            let schema = media_schema(&doc, content);
            let is_error = schema.is_some_and(|s| s["required"] == json!(["error"]));
            assert!(is_error, "{method} {path} {status}: not the Error schema");
        }
    }
    assert!(missing.is_empty(), "undocumented statuses: {missing:#?}");
}

/// Sends each JSON route a `text/plain` body as the admin: 415 `not_json`, the JSON error, and
/// documented (the emergency route used axum's own extractor and answered another code).
#[tokio::test]
async fn json_routes_refuse_another_media_type_with_a_documented_415() {
    let t = TestController::start().await;
    let doc = document();
    for (method, path) in ROUTES {
        let op = operation(&doc, method, path);
        let json_body = op["requestBody"]["content"].get("application/json");
        if json_body.is_none() || !matches!(access(method, path), Access::Operator(_)) {
            continue;
        }
        let url = t.http(&path.replace("{id}", "1").replace("{host}", "h"));
        let method: reqwest::Method = method.to_ascii_uppercase().parse().unwrap();
        let answer = t
            .api()
            .request(method.clone(), url)
            .header("content-type", "text/plain")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap();
        assert_eq!(status, 415, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "not_json", "{method} {path}");
        assert!(statuses(op).contains("415"), "{method} {path}");
    }
}

/// Where a link expression `$response.body#/a/0/b` leads in the response schema.
fn schema_at<'a>(doc: &'a Value, schema: &'a Value, pointer: &str) -> Option<&'a Value> {
    let mut node = resolve(doc, schema);
    for token in pointer.split('/').skip(1) {
        node = if token.parse::<usize>().is_ok() {
            resolve(doc, node.get("items")?)
        } else {
            resolve(doc, node.get("properties")?.get(token)?)
        };
    }
    Some(node)
}

#[test]
fn links_name_real_operations_parameters_and_response_fields() {
    let doc = document();
    let by_id: Vec<(&str, &str, &Value)> = ROUTES
        .iter()
        .map(|(m, p)| (*m, *p, operation(&doc, m, p)))
        .collect();
    let find = |id: &str| by_id.iter().find(|(_, _, op)| op["operationId"] == id);
    let mut links = 0;
    for (method, path, op) in &by_id {
        for (status, response) in op["responses"].as_object().unwrap() {
            let Some(found) = response.get("links").and_then(Value::as_object) else {
                continue;
            };
            let body = media_schema(&doc, &response["content"]).expect("a JSON response");
            for (name, link) in found {
                let at = format!("{method} {path} {status} link {name}");
                let target = link["operationId"].as_str().unwrap();
                let (_, target_path, target_op) = find(target).unwrap_or_else(|| panic!("{at}"));
                let mut expressions = Vec::new();
                for (param, expression) in link["parameters"].as_object().into_iter().flatten() {
                    assert!(
                        target_path.contains(&format!("{{{param}}}")),
                        "{at}: {target} has no path parameter {param}"
                    );
                    expressions.push(expression);
                }
                for (field, expression) in link["requestBody"].as_object().into_iter().flatten() {
                    let schema = media_schema(&doc, &target_op["requestBody"]["content"]);
                    let known = schema.and_then(|s| s["properties"].get(field));
                    assert!(known.is_some(), "{at}: {target} takes no {field}");
                    expressions.push(expression);
                }
                for expression in expressions {
                    let pointer = expression.as_str().unwrap();
                    let pointer = pointer.strip_prefix("$response.body#").unwrap();
                    let field = schema_at(&doc, body, pointer);
                    assert!(field.is_some(), "{at}: {pointer} is not in the response");
                }
                links += 1;
            }
        }
    }
    assert!(links >= 20, "only {links} links");
    // Every operation that creates an id links to those that use it.
    for creator in [
        "createRollout",
        "createPlan",
        "createCommand",
        "createOperator",
    ] {
        let (_, _, op) = find(creator).unwrap();
        let created = op["responses"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(s, _)| s.starts_with('2'));
        assert!(created.unwrap().1.get("links").is_some(), "{creator}");
    }
}

#[test]
fn every_reference_resolves() {
    fn walk(doc: &Value, node: &Value, count: &mut usize) {
        match node {
            Value::Object(map) => {
                if map.contains_key("$ref") {
                    resolve(doc, node);
                    *count += 1;
                }
                map.values().for_each(|v| walk(doc, v, count));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(doc, v, count)),
            _ => {}
        }
    }
    let doc = document();
    let mut count = 0;
    walk(&doc, &doc, &mut count);
    assert!(count > 100, "{count} references");
    // OpenAPI 3.1 has no `nullable` (a JSON Schema type list says it).
    assert!(!pw_server::OPENAPI_JSON.contains("\"nullable\""));
}

/// A regex from a documented pattern, anchored as JSON Schema means it.
fn pattern(doc: &Value, pointer: &str) -> regex::Regex {
    let text = doc.pointer(pointer).and_then(Value::as_str);
    let text = text.unwrap_or_else(|| panic!("{pointer} has a pattern"));
    regex::Regex::new(text).unwrap()
}

#[test]
fn patterns_agree_with_the_shared_validators() {
    let doc = document();
    let name = pattern(
        &doc,
        "/components/schemas/PackagePin/properties/name/pattern",
    );
    let version = pattern(
        &doc,
        "/components/schemas/PackagePin/properties/version/pattern",
    );
    let long = "a".repeat(128);
    let too_long = "a".repeat(129);
    let names = [
        "openssl",
        "libc6",
        "g++",
        "libstdc++6",
        "python3.11",
        "a",
        "_a",
        "-rf",
        ".x",
        "",
        "a b",
        "<script>x",
        "x;y",
        "ñ",
        "a\n",
        &long,
        &too_long,
    ];
    for sample in names {
        let valid = pw_model::PackageName::validate(sample).is_ok();
        assert_eq!(name.is_match(sample), valid, "package name {sample:?}");
    }
    let long = "1".repeat(256);
    let too_long = "1".repeat(257);
    let versions = [
        "1.2-3",
        "2:1.0~rc1+deb12u1",
        "1.0^git",
        "1_0",
        "",
        ":1",
        "~1",
        "1;rm -rf /",
        "1 2",
        "1\n",
        &long,
        &too_long,
    ];
    for sample in versions {
        let valid = pw_rollout::ExactVersion::parse(sample).is_ok();
        assert_eq!(version.is_match(sample), valid, "version {sample:?}");
    }
    let unit = "/components/schemas/CommandRestartServices/properties/units/items/pattern";
    let unit = pattern(&doc, unit);
    let long = format!("{}.service", "a".repeat(248));
    let too_long = format!("{}.service", "a".repeat(249));
    let units = [
        "cron.service",
        "getty@tty1.service",
        "a\\x2d.service",
        ".service",
        "-x.service",
        ".x.service",
        "cron",
        "cron.timer",
        "cron service.service",
        &long,
        &too_long,
    ];
    for sample in units {
        let valid = pw_model::is_service_unit(sample);
        assert_eq!(unit.is_match(sample), valid, "unit {sample:?}");
    }
}

/// Every enumerated query parameter is enforced: a value outside the enumeration is 400 (the
/// page's `lang` was documented as an enumeration but never refused anything).
#[tokio::test]
async fn query_enumerations_are_enforced() {
    let t = TestController::start().await;
    let doc = document();
    let mut checked = 0;
    for (method, path) in ROUTES {
        let op = operation(&doc, method, path);
        for param in op["parameters"].as_array().into_iter().flatten() {
            let schema = resolve(&doc, &param["schema"]);
            if param["in"] != "query" || schema.get("enum").is_none() {
                continue;
            }
            let name = param["name"].as_str().unwrap();
            let url = t.http(&format!("{}?{name}=AAA", path.replace("{id}", "x")));
            let method: reqwest::Method = method.to_ascii_uppercase().parse().unwrap();
            let answer = t.api().request(method, url).send().await.unwrap();
            assert_eq!(answer.status(), 400, "{path}?{name}=AAA is accepted");
            checked += 1;
        }
    }
    assert!(checked >= 1);
}
