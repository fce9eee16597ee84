//! The request methods that method tables answer by index instead of by name.

/// A request method as the lookup sees it: the common ones by index, the rest
/// (any other HTTP token) as `Other`, resolved by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
    Options,
    WebSocket,
    Other,
}

/// The indexed methods with their canonical names, in `Method` order.
pub(crate) const INDEXED: [(&str, Method); 8] = [
    ("GET", Method::Get),
    ("HEAD", Method::Head),
    ("POST", Method::Post),
    ("PUT", Method::Put),
    ("DELETE", Method::Delete),
    ("PATCH", Method::Patch),
    ("OPTIONS", Method::Options),
    (super::WEBSOCKET, Method::WebSocket),
];

impl Method {
    /// Classifies `method` (any letter case, as route methods are matched).
    #[inline]
    pub(crate) fn parse(method: &str) -> Method {
        // The exact spelling first: servers pass methods uppercase.
        match method {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "HEAD" => Method::Head,
            _ => INDEXED
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(method))
                .map_or(Method::Other, |&(_, m)| m),
        }
    }

    /// Position in a method table; `None` for `Other`.
    #[inline]
    pub(crate) fn index(self) -> Option<usize> {
        match self {
            Method::Other => None,
            indexed => Some(indexed as usize),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Method, INDEXED};

    #[test]
    fn method_parse_table() {
        let cases = [
            ("GET", Method::Get),
            ("get", Method::Get),
            ("Get", Method::Get),
            ("HEAD", Method::Head),
            ("POST", Method::Post),
            ("pUt", Method::Put),
            ("DELETE", Method::Delete),
            ("PATCH", Method::Patch),
            ("OPTIONS", Method::Options),
            ("WEBSOCKET", Method::WebSocket),
            ("websocket", Method::WebSocket),
            ("PURGE", Method::Other),
            ("GETS", Method::Other),
            ("", Method::Other),
            ("*", Method::Other),
            ("*HTTP", Method::Other),
        ];
        for (text, want) in cases {
            assert_eq!(Method::parse(text), want, "{text}");
        }
    }

    #[test]
    fn indexed_methods_are_in_enum_order() {
        for (i, &(name, method)) in INDEXED.iter().enumerate() {
            assert_eq!(method.index(), Some(i), "{name}");
            assert_eq!(Method::parse(name), method);
        }
        assert_eq!(Method::Other.index(), None);
    }
}
