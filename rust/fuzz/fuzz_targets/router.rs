//! The router with random route tables and random request paths: inserting and
//! looking up never panics, a failed insert changes nothing, a match is consistent
//! with the matched pattern, and the answer does not depend on insertion order.
//!
//! Input: text, one instruction per line. `R METHOD[,METHOD...] PATTERN` registers
//! a route, `Q METHOD PATH` looks a raw path up; other lines are ignored.
#![no_main]

use covet_core::router::{param_names, Match, ParamValue, Router};
use libfuzzer_sys::fuzz_target;

/// What a lookup answered, in terms that do not depend on route ids.
#[derive(Debug, PartialEq)]
enum Answer {
    Found(String, Vec<(String, String)>),
    MethodNotAllowed(String),
    Options(String),
    NotFound,
}

fn answer(router: &Router<String>, method: &str, path: &str) -> Answer {
    match router.lookup(method, path) {
        Match::Found {
            value,
            route,
            params,
        } => {
            let pattern = router
                .route_pattern(route)
                .expect("a found route has a pattern");
            assert!(value.ends_with(pattern));
            let names = param_names(pattern).expect("a registered pattern parses");
            let got: Vec<&str> = params.iter().map(|(name, _)| name).collect();
            assert_eq!(got, names, "params of {pattern} for {path}");
            assert_eq!(params.len(), names.len());
            let params = params
                .iter()
                .map(|(name, v)| {
                    if let ParamValue::Str(s) = v {
                        assert!(!s.is_empty(), "an empty str parameter");
                        let escaped_slash = path.to_ascii_lowercase().contains("%2f");
                        assert!(!s.contains('/') || escaped_slash, "a '/' in a segment");
                    }
                    (name.to_owned(), format!("{v:?}"))
                })
                .collect();
            Answer::Found(value.clone(), params)
        }
        Match::MethodNotAllowed { allow } => {
            assert!(!allow.is_empty());
            Answer::MethodNotAllowed(allow.to_owned())
        }
        Match::Options { allow } => {
            assert!(!allow.is_empty());
            Answer::Options(allow.to_owned())
        }
        Match::NotFound => Answer::NotFound,
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut routes: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut queries: Vec<(&str, &str)> = Vec::new();
    for line in text.split('\n') {
        let mut words = line.splitn(3, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some("R"), Some(methods), Some(pattern)) => {
                routes.push((pattern, methods.split(',').collect()));
            }
            (Some("Q"), Some(method), Some(path)) => queries.push((method, path)),
            _ => {}
        }
    }
    let mut router: Router<String> = Router::new();
    let mut accepted: Vec<(&str, &[&str])> = Vec::new();
    for (pattern, methods) in routes.iter().take(64) {
        let before = router.len();
        let value = format!("{} {pattern}", methods.join("|"));
        match router.insert(pattern, methods, value) {
            Ok(id) => {
                assert_eq!(id.0, before);
                assert_eq!(router.route_pattern(id), Some(*pattern));
                accepted.push((pattern, methods));
            }
            Err(_) => assert_eq!(router.len(), before),
        }
    }
    // The routes accepted, inserted in reverse order, answer every request alike.
    let mut reversed: Router<String> = Router::new();
    for (pattern, methods) in accepted.iter().rev() {
        let value = format!("{} {pattern}", methods.join("|"));
        assert!(
            reversed.insert(pattern, methods, value).is_ok(),
            "{pattern} was accepted in the other order"
        );
    }
    for (method, path) in queries.iter().take(64) {
        let forward = answer(&router, method, path);
        assert_eq!(answer(&reversed, method, path), forward, "{method} {path}");
    }
});
