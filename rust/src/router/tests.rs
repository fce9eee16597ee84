//! Unit and property tests for the router.

use std::borrow::Cow;

use proptest::prelude::*;

use super::*;
use crate::http::percent::decode_strict as percent_decode;

type Owned = Vec<(String, ParamValue<'static>)>;

fn owned(params: &Params<'_, '_>) -> Owned {
    params
        .iter()
        .map(|(name, value)| {
            let value = match value {
                ParamValue::Str(s) => ParamValue::Str(Cow::Owned(s.to_string())),
                ParamValue::Path(s) => ParamValue::Path(Cow::Owned(s.to_string())),
                ParamValue::Int(v) => ParamValue::Int(*v),
                ParamValue::Float(v) => ParamValue::Float(*v),
                ParamValue::Uuid(v) => ParamValue::Uuid(*v),
            };
            (name.to_owned(), value)
        })
        .collect()
}

fn router(routes: &[(&str, &[&str])]) -> Router<String> {
    let mut r = Router::new();
    for (pattern, methods) in routes {
        if let Err(e) = r.insert(pattern, methods, format!("{} {pattern}", methods.join("|"))) {
            panic!("insert {pattern} failed: {e}");
        }
    }
    r
}

/// The value of the found route, or a marker for the other outcomes.
fn hit(r: &Router<String>, method: &str, path: &str) -> String {
    match r.lookup(method, path) {
        Match::Found { value, .. } => value.clone(),
        Match::MethodNotAllowed { allow } => format!("405 {allow}"),
        Match::Options { allow } => format!("OPTIONS {allow}"),
        Match::NotFound => "404".to_owned(),
    }
}

fn params_of(r: &Router<String>, method: &str, path: &str) -> Owned {
    match r.lookup(method, path) {
        Match::Found { params, .. } => owned(&params),
        _ => panic!("{method} {path} not found"),
    }
}

fn one(r: &Router<String>, path: &str) -> Option<ParamValue<'static>> {
    match r.lookup("GET", path) {
        Match::Found { params, .. } => owned(&params).into_iter().next().map(|(_, v)| v),
        _ => None,
    }
}

fn s(v: &str) -> ParamValue<'static> {
    ParamValue::Str(Cow::Owned(v.to_owned()))
}

fn p(v: &str) -> ParamValue<'static> {
    ParamValue::Path(Cow::Owned(v.to_owned()))
}

fn invalid_reason(pattern: &str) -> String {
    let mut r: Router<()> = Router::new();
    match r.insert(pattern, &["GET"], ()) {
        Err(RouteError::InvalidPattern { pattern: p, reason }) => {
            assert_eq!(p, pattern);
            reason
        }
        other => panic!("{pattern}: expected InvalidPattern, got {other:?}"),
    }
}

// ---------------------------------------------------------------- percent_decode

#[test]
fn percent_decode_cases() {
    assert!(matches!(percent_decode("abc"), Some(Cow::Borrowed("abc"))));
    assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
    assert_eq!(percent_decode("%2f%2F").as_deref(), Some("//"));
    assert_eq!(percent_decode("caf%C3%A9").as_deref(), Some("café"));
    assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
    assert_eq!(percent_decode("%zz"), None);
    assert_eq!(percent_decode("%4"), None);
    assert_eq!(percent_decode("%"), None);
    assert_eq!(percent_decode("abc%"), None);
    assert_eq!(percent_decode("%FF"), None);
    assert_eq!(percent_decode("%C3"), None);
    assert_eq!(percent_decode("é%41").as_deref(), Some("éA"));
}

// ---------------------------------------------------------------- converters

#[test]
fn int_converter() {
    let r = router(&[("/n/{v:int}", &["GET"])]);
    assert_eq!(one(&r, "/n/42"), Some(ParamValue::Int(42)));
    assert_eq!(one(&r, "/n/-7"), Some(ParamValue::Int(-7)));
    assert_eq!(one(&r, "/n/-0"), Some(ParamValue::Int(0)));
    assert_eq!(one(&r, "/n/007"), Some(ParamValue::Int(7)));
    assert_eq!(
        one(&r, "/n/9223372036854775807"),
        Some(ParamValue::Int(i64::MAX))
    );
    assert_eq!(
        one(&r, "/n/-9223372036854775808"),
        Some(ParamValue::Int(i64::MIN))
    );
    assert_eq!(one(&r, "/n/%34%32"), Some(ParamValue::Int(42)));
    for bad in [
        "/n/9223372036854775808",
        "/n/-9223372036854775809",
        "/n/99999999999999999999999",
        "/n/+5",
        "/n/-",
        "/n/--1",
        "/n/1.0",
        "/n/1e3",
        "/n/ 1",
        "/n/",
        "/n/١",
    ] {
        assert_eq!(hit(&r, "GET", bad), "404", "{bad}");
    }
}

#[test]
fn float_converter() {
    let r = router(&[("/f/{v:float}", &["GET"])]);
    assert_eq!(one(&r, "/f/1.5"), Some(ParamValue::Float(1.5)));
    assert_eq!(one(&r, "/f/3"), Some(ParamValue::Float(3.0)));
    assert_eq!(one(&r, "/f/-0.25"), Some(ParamValue::Float(-0.25)));
    assert_eq!(one(&r, "/f/-0"), Some(ParamValue::Float(-0.0)));
    for bad in [
        "/f/1.", "/f/.5", "/f/1e5", "/f/inf", "/f/nan", "/f/NaN", "/f/-", "/f/1.2.3", "/f/+1",
        "/f/",
    ] {
        assert_eq!(hit(&r, "GET", bad), "404", "{bad}");
    }
    let huge = format!("/f/{}", "9".repeat(400));
    assert_eq!(hit(&r, "GET", &huge), "404");
}

#[test]
fn uuid_converter() {
    let r = router(&[("/u/{v:uuid}", &["GET"])]);
    let expected = ParamValue::Uuid(0x123e4567_e89b_12d3_a456_426614174000);
    assert_eq!(
        one(&r, "/u/123e4567-e89b-12d3-a456-426614174000"),
        Some(expected.clone())
    );
    assert_eq!(
        one(&r, "/u/123E4567-E89B-12D3-A456-426614174000"),
        Some(expected)
    );
    assert_eq!(
        one(&r, "/u/ffffffff-ffff-ffff-ffff-ffffffffffff"),
        Some(ParamValue::Uuid(u128::MAX))
    );
    for bad in [
        "/u/123e4567-e89b-12d3-a456-42661417400",
        "/u/123e4567-e89b-12d3-a456-4266141740000",
        "/u/123e4567e89b12d3a456426614174000",
        "/u/123e4567-e89b-12d3-a456_426614174000",
        "/u/g23e4567-e89b-12d3-a456-426614174000",
        "/u/123e45-67e89b-12d3-a456-426614174000",
        "/u/{123e4567-e89b-12d3-a456-426614174000}",
    ] {
        assert_eq!(hit(&r, "GET", bad), "404", "{bad}");
    }
}

#[test]
fn str_param_requires_non_empty_segment() {
    let r = router(&[("/s/{v}", &["GET"]), ("/t/{v:str}", &["GET"])]);
    assert_eq!(one(&r, "/s/x"), Some(s("x")));
    assert_eq!(one(&r, "/t/x"), Some(s("x")));
    assert_eq!(hit(&r, "GET", "/s/"), "404");
    assert_eq!(hit(&r, "GET", "/s"), "404");
    assert_eq!(hit(&r, "GET", "/s/x/"), "404");
}

// ---------------------------------------------------------------- priority and backtracking

#[test]
fn static_beats_typed_beats_str() {
    // Inserted in reverse priority order on purpose.
    let r = router(&[
        ("/users/{name}", &["GET"]),
        ("/users/{id:int}", &["GET"]),
        ("/users/me", &["GET"]),
    ]);
    assert_eq!(hit(&r, "GET", "/users/me"), "GET /users/me");
    assert_eq!(hit(&r, "GET", "/users/42"), "GET /users/{id:int}");
    assert_eq!(hit(&r, "GET", "/users/bob"), "GET /users/{name}");
    assert_eq!(
        params_of(&r, "GET", "/users/42"),
        vec![("id".into(), ParamValue::Int(42))]
    );
    assert_eq!(
        params_of(&r, "GET", "/users/bob"),
        vec![("name".into(), s("bob"))]
    );
    assert!(params_of(&r, "GET", "/users/me").is_empty());
}

#[test]
fn typed_priority_int_uuid_float_str_path() {
    let r = router(&[
        ("/x/{all:path}", &["GET"]),
        ("/x/{s}", &["GET"]),
        ("/x/{f:float}", &["GET"]),
        ("/x/{u:uuid}", &["GET"]),
        ("/x/{i:int}", &["GET"]),
    ]);
    assert_eq!(hit(&r, "GET", "/x/5"), "GET /x/{i:int}");
    assert_eq!(hit(&r, "GET", "/x/5.5"), "GET /x/{f:float}");
    assert_eq!(
        hit(&r, "GET", "/x/123e4567-e89b-12d3-a456-426614174000"),
        "GET /x/{u:uuid}"
    );
    assert_eq!(hit(&r, "GET", "/x/abc"), "GET /x/{s}");
    assert_eq!(hit(&r, "GET", "/x/"), "GET /x/{all:path}");
    assert_eq!(hit(&r, "GET", "/x/a/b"), "GET /x/{all:path}");
    // 20 digits overflow i64 but are a valid float.
    assert_eq!(
        hit(&r, "GET", "/x/99999999999999999999"),
        "GET /x/{f:float}"
    );
}

#[test]
fn backtracking_to_lower_priority_branch() {
    let r = router(&[("/a/{x:int}/b", &["GET"]), ("/a/{y}/c", &["GET"])]);
    assert_eq!(hit(&r, "GET", "/a/5/b"), "GET /a/{x:int}/b");
    assert_eq!(hit(&r, "GET", "/a/5/c"), "GET /a/{y}/c");
    assert_eq!(params_of(&r, "GET", "/a/5/c"), vec![("y".into(), s("5"))]);
    assert_eq!(hit(&r, "GET", "/a/z/b"), "404");

    let r = router(&[
        ("/a/b/c", &["GET"]),
        ("/a/{x}/d", &["GET"]),
        ("/{y}/{z}/{w}", &["GET"]),
        ("/{all:path}", &["GET"]),
    ]);
    assert_eq!(hit(&r, "GET", "/a/b/c"), "GET /a/b/c");
    assert_eq!(hit(&r, "GET", "/a/b/d"), "GET /a/{x}/d");
    assert_eq!(hit(&r, "GET", "/a/b/e"), "GET /{y}/{z}/{w}");
    assert_eq!(
        params_of(&r, "GET", "/a/b/e"),
        vec![
            ("y".into(), s("a")),
            ("z".into(), s("b")),
            ("w".into(), s("e"))
        ]
    );
    assert_eq!(hit(&r, "GET", "/a/b/c/d"), "GET /{all:path}");
    assert_eq!(
        params_of(&r, "GET", "/a/b/c/d"),
        vec![("all".into(), p("a/b/c/d"))]
    );
}

#[test]
fn backtracking_discards_params_of_failed_branches() {
    let r = router(&[("/{a:int}/{b:int}/x", &["GET"]), ("/{c}/{d}/y", &["GET"])]);
    assert_eq!(
        params_of(&r, "GET", "/1/2/y"),
        vec![("c".into(), s("1")), ("d".into(), s("2"))]
    );
}

#[test]
fn backtracking_finds_the_branch_with_the_method() {
    let r = router(&[("/users/{id:int}", &["GET"]), ("/users/{name}", &["POST"])]);
    assert_eq!(hit(&r, "POST", "/users/42"), "POST /users/{name}");
    assert_eq!(hit(&r, "GET", "/users/42"), "GET /users/{id:int}");
    // No branch has DELETE: the Allow set is that of the highest-priority match.
    assert_eq!(hit(&r, "DELETE", "/users/42"), "405 GET, HEAD, OPTIONS");
    assert_eq!(hit(&r, "DELETE", "/users/bob"), "405 OPTIONS, POST");
    // The static fast path must not hide a parameter route that has the method.
    let r = router(&[("/users/me", &["GET"]), ("/users/{name}", &["POST"])]);
    assert_eq!(hit(&r, "POST", "/users/me"), "POST /users/{name}");
    assert_eq!(hit(&r, "GET", "/users/me"), "GET /users/me");
    assert_eq!(hit(&r, "PUT", "/users/me"), "405 GET, HEAD, OPTIONS");
}

#[test]
fn many_params_spill_to_heap() {
    let pattern = (0..12).map(|i| format!("/{{p{i}}}")).collect::<String>();
    let path = (0..12).map(|i| format!("/v{i}")).collect::<String>();
    let r = router(&[(&pattern, &["GET"])]);
    let got = params_of(&r, "GET", &path);
    let want: Owned = (0..12)
        .map(|i| (format!("p{i}"), s(&format!("v{i}"))))
        .collect();
    assert_eq!(got, want);
    match r.lookup("GET", &path) {
        Match::Found { params, .. } => {
            assert_eq!(params.len(), 12);
            assert!(!params.is_empty());
            assert_eq!(
                params.get("p11"),
                Some(&ParamValue::Str(Cow::Borrowed("v11")))
            );
            assert_eq!(
                params.get("p3"),
                Some(&ParamValue::Str(Cow::Borrowed("v3")))
            );
            assert_eq!(params.get("nope"), None);
        }
        _ => panic!("not found"),
    }
    // Backtracking across the inline/heap boundary.
    let mut r2 = router(&[(&format!("{pattern}/x"), &["GET"])]);
    let other = (0..12).map(|i| format!("/{{p{i}}}")).collect::<String>() + "/{last}";
    assert!(r2.insert(&other, &["GET"], "other".into()).is_ok());
    let got = params_of(&r2, "GET", &format!("{path}/y"));
    assert_eq!(got.len(), 13);
    assert_eq!(got.last(), Some(&("last".to_owned(), s("y"))));
}

// ---------------------------------------------------------------- methods

#[test]
fn method_not_allowed_allow_strings() {
    let r = router(&[
        ("/a", &["POST", "GET"]),
        ("/b", &["DELETE"]),
        ("/c", &["get", "put", "WEBSOCKET"]),
        ("/d", &["HEAD", "GET"]),
    ]);
    assert_eq!(hit(&r, "PATCH", "/a"), "405 GET, HEAD, OPTIONS, POST");
    assert_eq!(hit(&r, "GET", "/b"), "405 DELETE, OPTIONS");
    assert_eq!(hit(&r, "POST", "/c"), "405 GET, HEAD, OPTIONS, PUT");
    assert_eq!(hit(&r, "POST", "/d"), "405 GET, HEAD, OPTIONS");
    assert_eq!(hit(&r, "GET", "/nope"), "404");
}

/// `(pattern, methods, [(method, outcome at /a)])`.
type Step = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

/// `GET`, `HEAD`, `POST` and `PUT` are answered from a per-node table filled at
/// insert time: it must follow every later insert at the same path, and agree with
/// the full method resolution (HEAD to GET, wildcards, 405 sets).
#[test]
fn per_node_method_slots_follow_later_inserts() {
    let mut r: Router<String> = Router::new();
    let steps: &[Step] = &[
        (
            "/a",
            &["GET"],
            &[
                ("GET", "GET /a"),
                ("HEAD", "GET /a"),
                ("POST", "405 GET, HEAD, OPTIONS"),
                ("PUT", "405 GET, HEAD, OPTIONS"),
                ("DELETE", "405 GET, HEAD, OPTIONS"),
            ],
        ),
        (
            "/a",
            &["HEAD", "POST"],
            &[
                ("GET", "GET /a"),
                ("HEAD", "HEAD|POST /a"),
                ("post", "HEAD|POST /a"),
                ("PUT", "405 GET, HEAD, OPTIONS, POST"),
            ],
        ),
        (
            "/a",
            &["*HTTP"],
            &[
                ("GET", "GET /a"),
                ("PUT", "*HTTP /a"),
                ("PURGE", "*HTTP /a"),
                ("WEBSOCKET", "404"),
            ],
        ),
        (
            "/{x}",
            &["PUT", "WEBSOCKET"],
            &[("PUT", "*HTTP /a"), ("WEBSOCKET", "PUT|WEBSOCKET /{x}")],
        ),
    ];
    for (pattern, methods, probes) in steps {
        let value = format!("{} {pattern}", methods.join("|"));
        assert!(r.insert(pattern, methods, value).is_ok(), "{pattern}");
        for (method, want) in *probes {
            assert_eq!(hit(&r, method, "/a"), *want, "{method} after {pattern}");
        }
    }
}

/// Parameter-free routes are answered from a whole-path table first; whenever the
/// static route does not handle the method, the tree must still be searched.
#[test]
fn route_cache_defers_to_the_tree_when_the_static_route_lacks_the_method() {
    let r = router(&[
        ("/users/me", &["GET"]),
        ("/users/me", &["DELETE"]),
        ("/users/{name}", &["POST", "GET"]),
        ("/", &["GET"]),
        ("/{any:path}", &["PUT"]),
        ("/100%", &["GET"]),
    ]);
    let cases = [
        ("GET", "/users/me", "GET /users/me"),
        ("HEAD", "/users/me", "GET /users/me"),
        ("DELETE", "/users/me", "DELETE /users/me"),
        ("POST", "/users/me", "POST|GET /users/{name}"),
        ("PUT", "/users/me", "PUT /{any:path}"),
        ("PATCH", "/users/me", "405 DELETE, GET, HEAD, OPTIONS"),
        ("GET", "/users/bob", "POST|GET /users/{name}"),
        ("GET", "/users/me/", "405 OPTIONS, PUT"),
        ("GET", "/", "GET /"),
        ("PUT", "/", "PUT /{any:path}"),
        ("GET", "/users/m%65", "GET /users/me"),
        ("GET", "/100%25", "GET /100%"),
        ("GET", "/100%", "404"),
        ("WEBSOCKET", "/users/me", "404"),
    ];
    for (method, path, want) in cases {
        assert_eq!(hit(&r, method, path), want, "{method} {path}");
    }
    // Keys of 63 bytes and more share one length bucket.
    let long = format!("/{}", "a".repeat(70));
    let longer = format!("/{}", "a".repeat(90));
    let r = router(&[(long.as_str(), &["GET"]), ("/{x}", &["GET"])]);
    assert_eq!(hit(&r, "GET", &long), format!("GET {long}"));
    assert_eq!(hit(&r, "GET", &longer), "GET /{x}");
    assert_eq!(hit(&r, "GET", &long[..64]), "GET /{x}");
}

#[test]
fn methods_are_case_insensitive() {
    let r = router(&[("/a", &["get"]), ("/b/{x}", &["Post"])]);
    assert_eq!(hit(&r, "GET", "/a"), "get /a");
    assert_eq!(hit(&r, "get", "/a"), "get /a");
    assert_eq!(hit(&r, "post", "/b/1"), "Post /b/{x}");
    assert_eq!(hit(&r, "head", "/a"), "get /a");
}

#[test]
fn head_falls_back_to_get() {
    let r = router(&[
        ("/a", &["GET"]),
        ("/b", &["GET"]),
        ("/b", &["HEAD"]),
        ("/c/{x}", &["GET"]),
    ]);
    let (Match::Found { route: get_a, .. }, Match::Found { route: head_a, .. }) =
        (r.lookup("GET", "/a"), r.lookup("HEAD", "/a"))
    else {
        panic!("expected found");
    };
    assert_eq!(get_a, head_a);
    assert_eq!(hit(&r, "HEAD", "/b"), "HEAD /b");
    assert_eq!(hit(&r, "HEAD", "/c/1"), "GET /c/{x}");
    let r = router(&[("/p", &["POST"])]);
    assert_eq!(hit(&r, "HEAD", "/p"), "405 OPTIONS, POST");
}

#[test]
fn options_requests() {
    let r = router(&[
        ("/a", &["GET", "POST"]),
        ("/b", &["OPTIONS", "GET"]),
        ("/c/{x}", &["PUT"]),
    ]);
    assert_eq!(hit(&r, "OPTIONS", "/a"), "OPTIONS GET, HEAD, OPTIONS, POST");
    assert_eq!(hit(&r, "OPTIONS", "/b"), "OPTIONS|GET /b");
    assert_eq!(hit(&r, "OPTIONS", "/c/1"), "OPTIONS OPTIONS, PUT");
    assert_eq!(hit(&r, "OPTIONS", "/zzz"), "404");
    assert_eq!(hit(&r, "DELETE", "/b"), "405 GET, HEAD, OPTIONS");
}

#[test]
fn websocket_routes_are_separate() {
    let r = router(&[
        ("/ws", &["WEBSOCKET"]),
        ("/both", &["GET", "WEBSOCKET"]),
        ("/http", &["GET"]),
        ("/ws2/{x}", &["websocket"]),
        ("/ws2/{y:int}", &["GET"]),
    ]);
    assert_eq!(hit(&r, "WEBSOCKET", "/ws"), "WEBSOCKET /ws");
    assert_eq!(hit(&r, "GET", "/ws"), "404");
    assert_eq!(hit(&r, "OPTIONS", "/ws"), "404");
    assert_eq!(hit(&r, "HEAD", "/ws"), "404");
    assert_eq!(hit(&r, "WEBSOCKET", "/http"), "404");
    assert_eq!(hit(&r, "WEBSOCKET", "/both"), "GET|WEBSOCKET /both");
    assert_eq!(hit(&r, "GET", "/both"), "GET|WEBSOCKET /both");
    assert_eq!(hit(&r, "POST", "/both"), "405 GET, HEAD, OPTIONS");
    assert_eq!(hit(&r, "websocket", "/ws2/abc"), "websocket /ws2/{x}");
    // The int branch (HTTP only) does not hide the WebSocket route behind it.
    assert_eq!(hit(&r, "WEBSOCKET", "/ws2/5"), "websocket /ws2/{x}");
    assert_eq!(hit(&r, "GET", "/ws2/5"), "GET /ws2/{y:int}");
    assert_eq!(hit(&r, "POST", "/ws2/5"), "405 GET, HEAD, OPTIONS");
    assert_eq!(hit(&r, "GET", "/ws2/abc"), "404");
}

#[test]
fn arbitrary_method_tokens() {
    let r = router(&[("/a", &["PURGE"])]);
    assert_eq!(hit(&r, "purge", "/a"), "PURGE /a");
    assert_eq!(hit(&r, "GET", "/a"), "405 OPTIONS, PURGE");
    assert_eq!(hit(&r, "", "/a"), "405 OPTIONS, PURGE");
    assert_eq!(hit(&r, "G E T", "/a"), "405 OPTIONS, PURGE");
}

// ---------------------------------------------------------------- percent-decoding in lookup

#[test]
fn percent_decoding_in_paths() {
    let r = router(&[
        ("/files/{name}", &["GET"]),
        ("/café", &["GET"]),
        ("/raw/{rest:path}", &["GET"]),
        ("/a b/x", &["GET"]),
    ]);
    assert_eq!(
        params_of(&r, "GET", "/files/a%2Fb"),
        vec![("name".into(), s("a/b"))]
    );
    assert_eq!(
        params_of(&r, "GET", "/files/%E2%9C%93"),
        vec![("name".into(), s("✓"))]
    );
    assert_eq!(hit(&r, "GET", "/files/a/b"), "404");
    assert_eq!(hit(&r, "GET", "/caf%C3%A9"), "GET /café");
    assert_eq!(hit(&r, "GET", "/café"), "GET /café");
    assert_eq!(hit(&r, "GET", "/a%20b/x"), "GET /a b/x");
    assert_eq!(hit(&r, "GET", "/files/%zz"), "404");
    assert_eq!(hit(&r, "GET", "/files/%FF"), "404");
    assert_eq!(hit(&r, "GET", "/files/%"), "404");
    assert_eq!(hit(&r, "GET", "/caf%C3"), "404");
    assert_eq!(
        params_of(&r, "GET", "/raw/a%2Fb/c%20d"),
        vec![("rest".into(), p("a/b/c d"))]
    );
    assert_eq!(hit(&r, "GET", "/raw/ok/%zz"), "404");
    // Decoding failure of one segment also blocks lower-priority branches.
    let r = router(&[("/{all:path}", &["GET"])]);
    assert_eq!(hit(&r, "GET", "/x/%C3%28"), "404");
    assert_eq!(
        params_of(&r, "GET", "/x/%C3%A9"),
        vec![("all".into(), p("x/é"))]
    );
}

#[test]
fn decoded_values_borrow_when_possible() {
    let r = router(&[("/{a}/{b:path}", &["GET"])]);
    match r.lookup("GET", "/x/y/z") {
        Match::Found { params, .. } => {
            for (_, v) in params.iter() {
                assert!(matches!(
                    v,
                    ParamValue::Str(Cow::Borrowed(_)) | ParamValue::Path(Cow::Borrowed(_))
                ));
            }
        }
        _ => panic!("not found"),
    }
}

#[test]
fn percent_in_static_pattern_is_literal() {
    let r = router(&[("/100%", &["GET"])]);
    assert_eq!(hit(&r, "GET", "/100%25"), "GET /100%");
    assert_eq!(hit(&r, "GET", "/100%"), "404");
}

// ---------------------------------------------------------------- slashes and catch-alls

#[test]
fn trailing_slash_is_significant() {
    let r = router(&[
        ("/users", &["GET"]),
        ("/items/", &["GET"]),
        ("/p/{x}/", &["GET"]),
    ]);
    assert_eq!(hit(&r, "GET", "/users"), "GET /users");
    assert_eq!(hit(&r, "GET", "/users/"), "404");
    assert_eq!(hit(&r, "GET", "/items/"), "GET /items/");
    assert_eq!(hit(&r, "GET", "/items"), "404");
    assert_eq!(hit(&r, "GET", "/p/1/"), "GET /p/{x}/");
    assert_eq!(hit(&r, "GET", "/p/1"), "404");
    let r = router(&[("/users", &["GET"]), ("/users/", &["POST"])]);
    assert_eq!(hit(&r, "POST", "/users/"), "POST /users/");
    assert_eq!(hit(&r, "POST", "/users"), "405 GET, HEAD, OPTIONS");
}

/// Paths up to 64 bytes are split with a precomputed mask of their slashes, longer
/// ones by searching for each `/`: both must split the same way.
#[test]
fn long_and_short_paths_split_alike() {
    let seg = "abcdefghij";
    let r = router(&[
        ("/a/{x}/{rest:path}", &["GET"]),
        ("/a/{x}/b/{y:int}", &["GET"]),
        ("/{x}/{y}/{z}/{w}/{v}/{u}/{t}", &["GET"]),
    ]);
    for pad in [
        0usize, 40, 50, 52, 53, 54, 55, 60, 61, 62, 63, 64, 65, 70, 200,
    ] {
        let x = "x".repeat(pad.max(1));
        let path = format!("/a/{x}/b/7");
        assert_eq!(hit(&r, "GET", &path), "GET /a/{x}/b/{y:int}", "{path}");
        assert_eq!(
            params_of(&r, "GET", &path),
            vec![("x".into(), s(&x)), ("y".into(), ParamValue::Int(7))]
        );
        let path = format!("/a/{x}/c/d%2Fe/");
        assert_eq!(
            params_of(&r, "GET", &path),
            vec![("x".into(), s(&x)), ("rest".into(), p("c/d/e/"))],
            "{path}"
        );
        let tail = format!("{seg}{x}");
        let path = format!("/1/2/3/4/5/6/{tail}");
        assert_eq!(
            params_of(&r, "GET", &path).last(),
            Some(&("t".into(), s(&tail)))
        );
        assert_eq!(hit(&r, "GET", &format!("{path}/")), "404", "{path}/");
        assert_eq!(hit(&r, "GET", &format!("/1/2/3/4/5/6//{tail}")), "404");
    }
}

#[test]
fn root_and_odd_paths() {
    let r = router(&[("/", &["GET"]), ("/a//b", &["GET"])]);
    assert_eq!(hit(&r, "GET", "/"), "GET /");
    assert_eq!(hit(&r, "GET", ""), "404");
    assert_eq!(hit(&r, "GET", "//"), "404");
    assert_eq!(hit(&r, "GET", "a"), "404");
    assert_eq!(hit(&r, "GET", "/a//b"), "GET /a//b");
    assert_eq!(hit(&r, "GET", "/a/b"), "404");
}

#[test]
fn catch_all_empty_and_multi_segment() {
    let r = router(&[
        ("/static/{file:path}", &["GET"]),
        ("/{all:path}", &["POST"]),
    ]);
    assert_eq!(
        params_of(&r, "GET", "/static/"),
        vec![("file".into(), p(""))]
    );
    assert_eq!(
        params_of(&r, "GET", "/static/css/site.css"),
        vec![("file".into(), p("css/site.css"))]
    );
    assert_eq!(
        params_of(&r, "GET", "/static/a//b/"),
        vec![("file".into(), p("a//b/"))]
    );
    assert_eq!(hit(&r, "GET", "/static"), "405 OPTIONS, POST");
    assert_eq!(params_of(&r, "POST", "/"), vec![("all".into(), p(""))]);
    assert_eq!(
        params_of(&r, "POST", "/static/x"),
        vec![("all".into(), p("static/x"))]
    );
    let r = router(&[("/static/{file:path}", &["GET"])]);
    assert_eq!(hit(&r, "GET", "/static"), "404");
}

#[test]
fn catch_all_after_params() {
    let r = router(&[("/u/{id:int}/{rest:path}", &["GET"])]);
    assert_eq!(
        params_of(&r, "GET", "/u/3/a/b"),
        vec![("id".into(), ParamValue::Int(3)), ("rest".into(), p("a/b"))]
    );
    assert_eq!(hit(&r, "GET", "/u/x/a/b"), "404");
}

// ---------------------------------------------------------------- pattern validation

#[test]
fn invalid_patterns() {
    assert!(invalid_reason("users").contains("must start with `/`"));
    assert!(invalid_reason("").contains("must start with `/`"));
    assert!(invalid_reason("/x/{id:bool}").contains("unknown parameter type `bool`"));
    assert!(invalid_reason("/x/{id:}").contains("unknown parameter type ``"));
    assert!(invalid_reason("/x/{id:Int}").contains("unknown parameter type"));
    assert!(invalid_reason("/x/a{id}").contains("whole segment"));
    assert!(invalid_reason("/x/{id}b").contains("whole segment"));
    assert!(invalid_reason("/x/{a}{b}").contains("braces"));
    assert!(invalid_reason("/x/{id").contains("unbalanced"));
    assert!(invalid_reason("/x/id}").contains("unbalanced"));
    assert!(invalid_reason("/x/{{id}}").contains("braces"));
    assert!(invalid_reason("/x/{}").contains("empty parameter name"));
    assert!(invalid_reason("/x/{:int}").contains("empty parameter name"));
    assert!(invalid_reason("/x/{1id}").contains("invalid parameter name `1id`"));
    assert!(invalid_reason("/x/{i-d}").contains("invalid parameter name"));
    assert!(invalid_reason("/x/{ id }").contains("invalid parameter name"));
    assert!(invalid_reason("/x/{id}/{id:int}").contains("duplicate parameter name `id`"));
    assert!(invalid_reason("/x/{id}/{id:path}").contains("duplicate parameter name `id`"));
    assert!(invalid_reason("/x/{rest:path}/y").contains("must be the last segment"));
    assert!(invalid_reason("/x/{rest:path}/").contains("must be the last segment"));
    // Valid edge cases.
    let mut r: Router<()> = Router::new();
    for ok in ["/", "/_/{_}", "/{A_1:str}", "/{x:path}", "/a//b", "/a/"] {
        assert!(r.insert(ok, &["GET"], ()).is_ok(), "{ok}");
    }
}

#[test]
fn invalid_methods() {
    let mut r: Router<()> = Router::new();
    assert!(matches!(
        r.insert("/a", &[], ()),
        Err(RouteError::InvalidPattern { reason, .. }) if reason.contains("no methods")
    ));
    assert!(matches!(
        r.insert("/a", &["GE T"], ()),
        Err(RouteError::InvalidPattern { reason, .. }) if reason.contains("invalid method")
    ));
    assert!(matches!(
        r.insert("/a", &[""], ()),
        Err(RouteError::InvalidPattern { .. })
    ));
    assert!(r.is_empty());
    // Duplicates within one insert are merged.
    assert!(r.insert("/a", &["GET", "get"], ()).is_ok());
}

#[test]
fn error_display() {
    let e = RouteError::InvalidPattern {
        pattern: "x".into(),
        reason: "a pattern must start with `/`".into(),
    };
    assert_eq!(
        e.to_string(),
        "invalid route pattern `x`: a pattern must start with `/`"
    );
    let e: Box<dyn std::error::Error> = Box::new(e);
    assert!(e.to_string().contains("invalid route pattern"));
}

// ---------------------------------------------------------------- conflicts

fn conflict(r: &mut Router<String>, pattern: &str, methods: &[&str]) -> (String, String, String) {
    let before = r.len();
    match r.insert(pattern, methods, "new".into()) {
        Err(e @ RouteError::Conflict { .. }) => {
            assert_eq!(r.len(), before);
            let msg = e.to_string();
            let RouteError::Conflict {
                new_route,
                existing_route,
                ..
            } = e
            else {
                unreachable!()
            };
            assert!(
                msg.contains(&new_route) && msg.contains(&existing_route),
                "{msg}"
            );
            (new_route, existing_route, msg)
        }
        other => panic!("{pattern}: expected a conflict, got {other:?}"),
    }
}

#[test]
fn conflict_same_shape_and_method() {
    let mut r = router(&[
        ("/users/{id}", &["GET", "POST"]),
        ("/users/{id:int}", &["GET"]),
    ]);
    let (new, old, msg) = conflict(&mut r, "/users/{id}", &["post"]);
    assert_eq!(new, "POST /users/{id}");
    assert_eq!(old, "GET|POST /users/{id}");
    assert!(msg.contains("POST"), "{msg}");
    let (new, old, _) = conflict(&mut r, "/users/{id:int}", &["PUT", "GET"]);
    assert_eq!(new, "PUT|GET /users/{id:int}");
    assert_eq!(old, "GET /users/{id:int}");
    // Static duplicate.
    let mut r = router(&[("/a/b", &["GET"])]);
    let (new, old, _) = conflict(&mut r, "/a/b", &["GET"]);
    assert_eq!((new.as_str(), old.as_str()), ("GET /a/b", "GET /a/b"));
    // Catch-all duplicate.
    let mut r = router(&[("/s/{f:path}", &["GET"])]);
    let (_, old, _) = conflict(&mut r, "/s/{f:path}", &["GET"]);
    assert_eq!(old, "GET /s/{f:path}");
    // Different methods on the same shape are fine, as are different shapes.
    assert!(r.insert("/s/{f:path}", &["POST"], "ok".into()).is_ok());
    assert!(r.insert("/s/{f:int}", &["GET"], "ok".into()).is_ok());
    assert!(r
        .insert("/s/{g:float}/{f:path}", &["GET"], "ok".into())
        .is_ok());
}

#[test]
fn conflict_same_kind_different_name() {
    let mut r = router(&[("/users/{id}", &["GET"])]);
    let (new, old, msg) = conflict(&mut r, "/users/{name}/posts", &["POST"]);
    assert_eq!(new, "POST /users/{name}/posts");
    assert_eq!(old, "GET /users/{id}");
    assert!(msg.contains("`name`") && msg.contains("`id`"), "{msg}");
    // Typed params with different names at the same position.
    let mut r = router(&[("/a/{x:int}/b", &["GET"])]);
    let (_, old, _) = conflict(&mut r, "/a/{y:int}", &["GET"]);
    assert_eq!(old, "GET /a/{x:int}/b");
    // Deeper position, after a shared prefix.
    let mut r = router(&[("/a/{x:uuid}/{y:float}", &["GET"])]);
    conflict(&mut r, "/a/{x:uuid}/{z:float}/c", &["GET"]);
    // Catch-alls with different names.
    let mut r = router(&[("/s/{file:path}", &["GET"])]);
    let (_, old, _) = conflict(&mut r, "/s/{rest:path}", &["POST"]);
    assert_eq!(old, "GET /s/{file:path}");
    // Different types at the same position, or different prefixes, are fine.
    let mut r = router(&[("/x/{a:int}", &["GET"])]);
    for (pattern, ok) in [
        ("/x/{b}", true),
        ("/x/{c:uuid}", true),
        ("/x/{d:float}", true),
        ("/y/{b:int}", true),
    ] {
        assert_eq!(
            r.insert(pattern, &["GET"], "v".into()).is_ok(),
            ok,
            "{pattern}"
        );
    }
}

#[test]
fn failed_insert_leaves_router_unchanged() {
    let mut r = router(&[("/a/{id}", &["GET"]), ("/b", &["GET"])]);
    let before: Vec<String> = ["/a/1", "/b", "/a/1/x", "/c"]
        .iter()
        .flat_map(|p| ["GET", "POST", "OPTIONS"].map(|m| hit(&r, m, p)))
        .collect();
    // Conflict detected only at the end (after new nodes would have been needed).
    assert!(r
        .insert("/a/{id}/x/{other}/{name:path}", &["GET"], "ok".into())
        .is_ok());
    assert!(r
        .insert("/a/{id}/x/{o2}/y", &["GET"], "bad".into())
        .is_err());
    assert!(r.insert("/a/{nope}/x", &["POST"], "bad".into()).is_err());
    assert!(r.insert("/b", &["POST", "GET"], "bad".into()).is_err());
    assert!(r.insert("/c/{bad", &["GET"], "bad".into()).is_err());
    assert_eq!(r.len(), 3);
    assert_eq!(hit(&r, "POST", "/b"), "405 GET, HEAD, OPTIONS");
    assert_eq!(hit(&r, "GET", "/a/1/x/2/y"), "ok");
    let after: Vec<String> = ["/a/1", "/b", "/a/1/x", "/c"]
        .iter()
        .flat_map(|p| ["GET", "POST", "OPTIONS"].map(|m| hit(&r, m, p)))
        .collect();
    assert_eq!(before, after);
}

#[test]
fn route_ids_and_patterns() {
    let mut r: Router<u32> = Router::default();
    assert!(r.is_empty());
    assert_eq!(r.insert("/a", &["GET"], 10).ok(), Some(RouteId(0)));
    assert!(r.insert("/a", &["GET"], 11).is_err());
    assert_eq!(r.insert("/b/{x:int}", &["GET"], 12).ok(), Some(RouteId(1)));
    assert_eq!(r.len(), 2);
    assert_eq!(r.route_pattern(RouteId(1)), Some("/b/{x:int}"));
    assert_eq!(r.route_pattern(RouteId(2)), None);
    match r.lookup("GET", "/b/5") {
        Match::Found { value, route, .. } => assert_eq!((*value, route), (12, RouteId(1))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn large_static_fanout_uses_map() {
    let names: Vec<String> = (0..50).map(|i| format!("n{i}")).collect();
    let mut r: Router<usize> = Router::new();
    for (i, n) in names.iter().enumerate() {
        assert!(r.insert(&format!("/{n}/x"), &["GET"], i).is_ok());
        assert!(r
            .insert(&format!("/{n}/{{id:int}}"), &["GET"], 100 + i)
            .is_ok());
    }
    for (i, n) in names.iter().enumerate() {
        assert!(
            matches!(r.lookup("GET", &format!("/{n}/x")), Match::Found { value, .. } if *value == i)
        );
        assert!(
            matches!(r.lookup("GET", &format!("/{n}/7")), Match::Found { value, .. } if *value == 100 + i)
        );
        assert!(
            matches!(r.lookup("GET", &format!("/%6E{}/x", &n[1..])), Match::Found { value, .. } if *value == i)
        );
    }
    assert!(matches!(r.lookup("GET", "/n50/x"), Match::NotFound));
}

// ---------------------------------------------------------------- property tests

#[derive(Debug, Clone)]
enum RSeg {
    Static(&'static str),
    Param(&'static str, ParamKind),
}

#[derive(Debug, Clone)]
struct RRoute {
    segs: Vec<RSeg>,
    methods: Vec<String>,
    pattern: String,
}

const WORDS: &[&str] = &["a", "b", "users", "me", "", "42"];
const NAMES: &[&str] = &["x", "y", "id"];
const METHODS: &[&str] = &["GET", "POST", "HEAD", "OPTIONS", "WEBSOCKET", "DELETE"];

fn render(segs: &[RSeg]) -> String {
    segs.iter()
        .map(|s| match s {
            RSeg::Static(w) => format!("/{w}"),
            RSeg::Param(n, ParamKind::Str) => format!("/{{{n}}}"),
            RSeg::Param(n, k) => {
                let t = match k {
                    ParamKind::Int => "int",
                    ParamKind::Float => "float",
                    ParamKind::Uuid => "uuid",
                    ParamKind::Path => "path",
                    ParamKind::Str => "str",
                };
                format!("/{{{n}:{t}}}")
            }
        })
        .collect()
}

fn seg_strategy() -> impl Strategy<Value = RSeg> {
    let kind = prop_oneof![
        Just(ParamKind::Str),
        Just(ParamKind::Int),
        Just(ParamKind::Float),
        Just(ParamKind::Uuid),
    ];
    prop_oneof![
        3 => proptest::sample::select(WORDS).prop_map(RSeg::Static),
        2 => (proptest::sample::select(NAMES), kind).prop_map(|(n, k)| RSeg::Param(n, k)),
    ]
}

fn route_strategy() -> impl Strategy<Value = RRoute> {
    (
        proptest::collection::vec(seg_strategy(), 1..4),
        proptest::option::of(proptest::sample::select(&["rest", "p"][..])),
        proptest::sample::subsequence(METHODS, 1..3),
    )
        .prop_map(|(mut segs, catch_all, methods)| {
            if let Some(name) = catch_all {
                segs.push(RSeg::Param(name, ParamKind::Path));
            }
            let pattern = render(&segs);
            RRoute {
                segs,
                methods: methods
                    .iter()
                    .map(std::string::ToString::to_string)
                    .collect(),
                pattern,
            }
        })
}

fn path_strategy() -> impl Strategy<Value = String> {
    let seg = proptest::sample::select(
        &[
            "a",
            "b",
            "users",
            "me",
            "",
            "42",
            "-7",
            "-0",
            "3.5",
            "1.",
            "99999999999999999999",
            "123e4567-e89b-12d3-a456-426614174000",
            "123E4567-E89B-12D3-A456-426614174000",
            "%61",
            "%34%32",
            "a%2Fb",
            "%zz",
            "%FF",
            "x y",
        ][..],
    );
    proptest::collection::vec(seg, 0..6).prop_map(|segs| format!("/{}", segs.join("/")))
}

fn rank(s: &RSeg) -> u8 {
    match s {
        RSeg::Static(_) => 0,
        RSeg::Param(_, ParamKind::Int) => 1,
        RSeg::Param(_, ParamKind::Uuid) => 2,
        RSeg::Param(_, ParamKind::Float) => 3,
        RSeg::Param(_, ParamKind::Str) => 4,
        RSeg::Param(_, ParamKind::Path) => 5,
    }
}

/// Same tree position: identical static texts and kinds (names ignored).
fn same_shape(a: &[RSeg], b: &[RSeg]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (RSeg::Static(p), RSeg::Static(q)) => p == q,
            (RSeg::Param(_, k), RSeg::Param(_, l)) => k == l,
            _ => false,
        })
}

/// Reference for `insert()`: Ok unless a name repeats or one of the two conflict rules fires.
fn ref_accepts(existing: &[RRoute], new: &RRoute) -> bool {
    let names: Vec<&str> = new
        .segs
        .iter()
        .filter_map(|s| match s {
            RSeg::Param(n, _) => Some(*n),
            RSeg::Static(_) => None,
        })
        .collect();
    if (1..names.len()).any(|i| names[..i].contains(&names[i])) {
        return false;
    }
    for old in existing {
        if same_shape(&old.segs, &new.segs) && old.methods.iter().any(|m| new.methods.contains(m)) {
            return false;
        }
        for i in 0..old.segs.len().min(new.segs.len()) {
            if let (RSeg::Param(a, k), RSeg::Param(b, l)) = (&old.segs[i], &new.segs[i]) {
                if k == l && a != b && same_shape(&old.segs[..i], &new.segs[..i]) {
                    return false;
                }
            }
        }
    }
    true
}

fn ref_int(s: &str) -> Option<i64> {
    let d = s.strip_prefix('-').unwrap_or(s);
    if d.is_empty() || !d.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn ref_float(s: &str) -> Option<f64> {
    let d = s.strip_prefix('-').unwrap_or(s);
    let digits = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit());
    let ok = match d.split_once('.') {
        Some((a, b)) => digits(a) && digits(b),
        None => digits(d),
    };
    if !ok {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

fn ref_uuid(s: &str) -> Option<u128> {
    let groups: Vec<&str> = s.split('-').collect();
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    if lens != [8, 4, 4, 4, 12]
        || !groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return None;
    }
    u128::from_str_radix(&groups.concat(), 16).ok()
}

/// Full-path match of one route, with its params.
fn ref_match(route: &RRoute, path: &str) -> Option<Owned> {
    let raw: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    let mut params = Owned::new();
    for (i, seg) in route.segs.iter().enumerate() {
        if let RSeg::Param(n, ParamKind::Path) = seg {
            let rest = raw.get(i..)?;
            if rest.is_empty() {
                return None;
            }
            let joined = rest.join("/");
            let dec = percent_decode(&joined)?;
            params.push((n.to_string(), p(&dec)));
            return Some(params);
        }
        let dec = percent_decode(raw.get(i)?)?;
        match seg {
            RSeg::Static(w) => {
                if *w != dec {
                    return None;
                }
            }
            RSeg::Param(n, ParamKind::Int) => {
                params.push((n.to_string(), ParamValue::Int(ref_int(&dec)?)));
            }
            RSeg::Param(n, ParamKind::Float) => {
                params.push((n.to_string(), ParamValue::Float(ref_float(&dec)?)));
            }
            RSeg::Param(n, ParamKind::Uuid) => {
                params.push((n.to_string(), ParamValue::Uuid(ref_uuid(&dec)?)));
            }
            RSeg::Param(n, _) => {
                if dec.is_empty() {
                    return None;
                }
                params.push((n.to_string(), s(&dec)));
            }
        }
    }
    (raw.len() == route.segs.len()).then_some(params)
}

#[derive(Debug, PartialEq)]
enum RefOutcome {
    Found(usize, Owned),
    NotAllowed(String),
    Options(String),
    NotFound,
}

fn ref_lookup(routes: &[RRoute], method: &str, path: &str) -> RefOutcome {
    let method = method.to_ascii_uppercase();
    let mut matched: Vec<(usize, Owned)> = routes
        .iter()
        .enumerate()
        .filter_map(|(i, r)| ref_match(r, path).map(|ps| (i, ps)))
        .collect();
    let key = |i: usize| routes[i].segs.iter().map(rank).collect::<Vec<u8>>();
    matched.sort_by_key(|(i, _)| key(*i));
    // Group the matches by node (equal rank sequences), in priority order.
    let mut groups: Vec<Vec<(usize, Owned)>> = Vec::new();
    for m in matched {
        match groups.last_mut() {
            Some(g) if key(g[0].0) == key(m.0) => g.push(m),
            _ => groups.push(vec![m]),
        }
    }
    let find = |g: &[(usize, Owned)], want: &str| {
        g.iter()
            .find(|(i, _)| routes[*i].methods.iter().any(|m| m == want))
            .cloned()
    };
    for g in &groups {
        let hit = find(g, &method).or_else(|| {
            if method == "HEAD" {
                find(g, "GET")
            } else {
                None
            }
        });
        if let Some((i, ps)) = hit {
            return RefOutcome::Found(i, ps);
        }
    }
    if method == "WEBSOCKET" {
        return RefOutcome::NotFound;
    }
    for g in &groups {
        let mut allow: Vec<String> = g
            .iter()
            .flat_map(|(i, _)| routes[*i].methods.clone())
            .filter(|m| m != "WEBSOCKET")
            .collect();
        if allow.is_empty() {
            continue;
        }
        if allow.iter().any(|m| m == "GET") {
            allow.push("HEAD".into());
        }
        allow.push("OPTIONS".into());
        allow.sort();
        allow.dedup();
        let allow = allow.join(", ");
        return if method == "OPTIONS" {
            RefOutcome::Options(allow)
        } else {
            RefOutcome::NotAllowed(allow)
        };
    }
    RefOutcome::NotFound
}

fn outcome(r: &Router<usize>, method: &str, path: &str) -> RefOutcome {
    match r.lookup(method, path) {
        Match::Found {
            value,
            route,
            params,
        } => {
            assert_eq!(*value, route.0);
            RefOutcome::Found(route.0, owned(&params))
        }
        Match::MethodNotAllowed { allow } => RefOutcome::NotAllowed(allow.to_owned()),
        Match::Options { allow } => RefOutcome::Options(allow.to_owned()),
        Match::NotFound => RefOutcome::NotFound,
    }
}

proptest! {
    // No regression files: the crate's source tree is not a place for them.
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn lookup_agrees_with_reference(
        table in proptest::collection::vec(route_strategy(), 1..10),
        probes in proptest::collection::vec(
            (proptest::sample::select(&["GET", "get", "POST", "HEAD", "OPTIONS", "WEBSOCKET", "DELETE", "PATCH"][..]),
             path_strategy()),
            1..20),
    ) {
        let mut router: Router<usize> = Router::new();
        let mut accepted: Vec<RRoute> = Vec::new();
        for route in &table {
            let methods: Vec<&str> = route.methods.iter().map(std::string::String::as_str).collect();
            let expected = ref_accepts(&accepted, route);
            let got = router.insert(&route.pattern, &methods, accepted.len());
            prop_assert_eq!(got.is_ok(), expected, "insert {} {:?}: {:?}", route.pattern, route.methods, got);
            if got.is_ok() {
                accepted.push(route.clone());
            }
        }
        prop_assert_eq!(router.len(), accepted.len());
        for (i, r) in accepted.iter().enumerate() {
            prop_assert_eq!(router.route_pattern(RouteId(i)), Some(r.pattern.as_str()));
        }
        // Paths built from the routes themselves, so that matches are frequent.
        let mut paths: Vec<String> = probes.iter().map(|(_, p)| p.clone()).collect();
        for r in &accepted {
            paths.push(r.pattern.replace("{x}", "me").replace("{id:int}", "-3")
                .replace("{x:int}", "42").replace("{y:float}", "3.5")
                .replace("{id:uuid}", "123e4567-e89b-12d3-a456-426614174000")
                .replace("{rest:path}", "a/b").replace("{p:path}", ""));
        }
        for (i, path) in paths.iter().enumerate() {
            let method = probes[i % probes.len()].0;
            prop_assert_eq!(outcome(&router, method, path), ref_lookup(&accepted, method, path),
                "{} {}", method, path);
        }
    }

    #[test]
    fn lookup_never_panics(method in ".{0,10}", path in ".{0,64}") {
        let mut r: Router<()> = Router::new();
        for pattern in ["/", "/a/{x}", "/a/{y:int}/b", "/{f:float}/{u:uuid}", "/s/{p:path}", "/{all:path}"] {
            let _ = r.insert(pattern, &["GET", "WEBSOCKET"], ());
        }
        let _ = r.lookup(&method, &path);
        let _ = r.lookup(&method, &format!("/{path}"));
        let _ = percent_decode(&path);
    }

    #[test]
    fn insert_never_panics(pattern in "[/{}:a-z%]{0,24}", method in "[A-Za-z ]{0,6}") {
        let mut r: Router<()> = Router::new();
        let _ = r.insert("/a/{x}", &["GET"], ());
        let len = r.len();
        match r.insert(&pattern, &[method.as_str()], ()) {
            Ok(_) => prop_assert_eq!(r.len(), len + 1),
            Err(e) => { prop_assert_eq!(r.len(), len); prop_assert!(!e.to_string().is_empty()); }
        }
        let _ = r.lookup("GET", &pattern);
    }
}

// ---------------------------------------------------------------- allocation

/// Counts allocations made by the current thread, so that tests running in parallel
/// do not disturb each other's counts.
mod counting_alloc {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static COUNT: Cell<usize> = const { Cell::new(0) };
    }

    pub struct Counting;

    // SAFETY: defers to `System`; the counter is a const-initialised thread-local
    // without a destructor, so touching it never allocates.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            // SAFETY: forwarded unchanged.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: forwarded unchanged.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            // SAFETY: forwarded unchanged.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    pub fn count() -> usize {
        COUNT.with(Cell::get)
    }
}

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

#[test]
fn lookup_does_not_allocate_without_escapes() {
    let r = router(&[
        ("/users/me", &["GET"]),
        ("/users/{id:int}", &["GET"]),
        ("/users/{name}/posts/{post:uuid}", &["GET", "POST"]),
        ("/a/{x:int}/b", &["GET"]),
        ("/a/{y}/c", &["GET"]),
        ("/files/{rest:path}", &["GET"]),
        ("/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", &["GET"]),
    ]);
    let probes = [
        ("GET", "/users/me"),
        ("HEAD", "/users/me"),
        ("GET", "/users/42"),
        (
            "GET",
            "/users/bob/posts/123e4567-e89b-12d3-a456-426614174000",
        ),
        (
            "DELETE",
            "/users/bob/posts/123e4567-e89b-12d3-a456-426614174000",
        ),
        ("OPTIONS", "/users/42"),
        ("GET", "/a/5/c"),
        ("GET", "/files/x/y/z"),
        ("GET", "/1/2/3/4/5/6/7/8"),
        ("GET", "/nope/nope"),
    ];
    for (method, path) in probes {
        let before = counting_alloc::count();
        let outcome = r.lookup(method, path);
        let after = counting_alloc::count();
        assert!(!matches!(outcome, Match::NotFound) || path == "/nope/nope");
        drop(outcome);
        assert_eq!(after, before, "{method} {path} allocated");
    }
    // Control: the counter does see the allocation a `%` escape needs.
    let before = counting_alloc::count();
    let outcome = r.lookup(
        "GET",
        "/users/b%20b/posts/123e4567-e89b-12d3-a456-426614174000",
    );
    assert!(matches!(outcome, Match::Found { .. }));
    assert!(counting_alloc::count() > before);
}

// ---------------------------------------------------------------- wildcard method

#[test]
fn wildcard_method_matches_any_method_after_exact_ones() {
    let mut r = Router::new();
    r.insert("/mount/{rest:path}", &["*"], "mount").unwrap();
    r.insert("/mount/{rest:path}", &["GET"], "get").unwrap();
    for method in ["POST", "PURGE", "WEBSOCKET", "OPTIONS", "DELETE"] {
        match r.lookup(method, "/mount/a/b") {
            Match::Found { value, params, .. } => {
                assert_eq!(*value, "mount", "{method}");
                assert!(matches!(params.get("rest"), Some(ParamValue::Path(p)) if p == "a/b"));
            }
            other => panic!("{method}: {other:?}"),
        }
    }
    assert!(matches!(
        r.lookup("GET", "/mount/x"),
        Match::Found { value: &"get", .. }
    ));
    assert!(matches!(
        r.lookup("HEAD", "/mount/x"),
        Match::Found { value: &"get", .. }
    ));
}

#[test]
fn wildcard_method_conflicts_only_with_another_wildcard() {
    let mut r = Router::new();
    r.insert("/m/{rest:path}", &["*"], 1).unwrap();
    let err = r.insert("/m/{rest:path}", &["*"], 2).unwrap_err();
    assert!(err.to_string().contains("* /m/{rest:path}"), "{err}");
}

#[test]
fn values_iterates_in_insertion_order() {
    let mut r = Router::new();
    r.insert("/a", &["GET"], 'a').unwrap();
    r.insert("/b", &["GET"], 'b').unwrap();
    assert_eq!(r.values().copied().collect::<String>(), "ab");
}
