//! `Content-Type` / `Content-Disposition` parsing: names are unique lowercase
//! tokens, and a parsed value written back with every parameter quoted parses to
//! the same value.
#![no_main]

use covet_core::http::content_type::{is_tchar, parse, parse_disposition, ContentType};
use libfuzzer_sys::fuzz_target;

fn write(ct: &ContentType<'_>) -> String {
    let mut out = ct.media_type.clone();
    for (name, value) in &ct.params {
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
        out.push_str(&format!("; {name}=\"{escaped}\""));
    }
    out
}

fn check(ct: &ContentType<'_>) {
    assert_eq!(ct.media_type, ct.media_type.to_ascii_lowercase());
    let mut names = std::collections::HashSet::new();
    for (name, _) in &ct.params {
        assert!(!name.is_empty() && name.bytes().all(is_tchar));
        assert_eq!(*name, name.to_ascii_lowercase());
        assert!(names.insert(name.as_str()), "duplicate {name}");
        assert!(ct.param(name).is_some());
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ct) = parse(text) {
        check(&ct);
        assert_eq!(ct.media_type.matches('/').count(), 1);
        let written = write(&ct);
        assert_eq!(parse(&written).as_ref(), Ok(&ct), "{written:?}");
    }
    if let Ok(cd) = parse_disposition(text) {
        check(&cd);
        assert!(!cd.media_type.contains('/'));
        let written = write(&cd);
        assert_eq!(parse_disposition(&written).as_ref(), Ok(&cd), "{written:?}");
    }
});
