//! The segment tree and the lookup algorithm.

use std::borrow::Cow;

use super::convert::{parse_float, parse_int, parse_uuid};
use super::method::{Method, INDEXED};
use super::pattern::{normalize_methods, parse_pattern, Segment};
use super::scan::scan;
use super::statics::StaticChildren;
use super::{Match, ParamKind, ParamValue, Params, RouteError, RouteId};
use crate::http::percent::decode_strict as percent_decode;

use super::{ANY_HTTP_METHOD, ANY_METHOD, WEBSOCKET};

#[derive(Debug)]
struct CatchAll {
    name: Box<str>,
    endpoint: Endpoint,
    first_route: usize,
}

/// The method table of one route shape.
#[derive(Debug, Default)]
struct Endpoint {
    /// `(uppercase method, route index)`.
    methods: Vec<(Box<str>, usize)>,
    /// Precomputed `Allow` header value.
    allow: Box<str>,
    /// Whether any method besides `WEBSOCKET` is registered.
    has_http: bool,
    /// `resolve` answered in advance for each indexed method.
    by_method: [Option<usize>; INDEXED.len()],
}

impl Endpoint {
    fn exact(&self, method: &str) -> Option<usize> {
        self.methods
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(method))
            .map(|&(_, route)| route)
    }

    /// Exact method, `GET` for a `HEAD` request, the HTTP wildcard for any method
    /// but `WEBSOCKET`, then the `*` wildcard.
    fn resolve(&self, method: &str) -> Option<usize> {
        self.exact(method)
            .or_else(|| {
                if method.eq_ignore_ascii_case("HEAD") {
                    self.exact("GET")
                } else {
                    None
                }
            })
            .or_else(|| {
                if method.eq_ignore_ascii_case(WEBSOCKET) {
                    None
                } else {
                    self.exact(ANY_HTTP_METHOD)
                }
            })
            .or_else(|| self.exact(ANY_METHOD))
    }

    /// `resolve` by index for the common methods, by name for the rest.
    #[inline]
    fn resolve_as(&self, method: Method, name: &str) -> Option<usize> {
        match method.index() {
            Some(i) => self.by_method.get(i).copied().flatten(),
            None => self.resolve(name),
        }
    }

    fn add(&mut self, methods: &[String], route: usize) {
        for method in methods {
            self.methods.push((method.as_str().into(), route));
        }
        let mut allow: Vec<&str> = self
            .methods
            .iter()
            .map(|(m, _)| &**m)
            .filter(|m| *m != WEBSOCKET && *m != ANY_METHOD && *m != ANY_HTTP_METHOD)
            .collect();
        self.has_http = !allow.is_empty()
            || self.exact(ANY_METHOD).is_some()
            || self.exact(ANY_HTTP_METHOD).is_some();
        if allow.contains(&"GET") {
            allow.push("HEAD");
        }
        allow.push("OPTIONS");
        allow.sort_unstable();
        allow.dedup();
        self.allow = allow.join(", ").into();
        self.by_method = INDEXED.map(|(name, _)| self.resolve(name));
    }
}

/// One position in the tree, laid out in one cache line: a lookup reads one line
/// per segment, plus the static table it probes.
#[derive(Debug)]
#[repr(align(64))]
struct Node {
    statics: StaticChildren,
    /// Parameter children (0 = none; the root is never a child), in priority order:
    /// `int`, `uuid`, `float`, `str`.
    params: [u32; 4],
    /// The route each of the first `FAST` indexed methods resolves to at this
    /// node's endpoint (`NO_ROUTE`: none, or ask the endpoint), so the common
    /// requests are answered without reading the endpoint.
    fast: [u32; FAST],
    /// The routes ending here.
    ends: Option<Box<Ends>>,
}

/// The method tables of the routes ending at a node: without and with a catch-all.
#[derive(Debug, Default)]
struct Ends {
    endpoint: Option<Endpoint>,
    catch_all: Option<CatchAll>,
}

/// Position of a single-segment parameter kind in `Node::params`.
fn param_slot(kind: ParamKind) -> Option<usize> {
    match kind {
        ParamKind::Int => Some(0),
        ParamKind::Uuid => Some(1),
        ParamKind::Float => Some(2),
        ParamKind::Str => Some(3),
        ParamKind::Path => None,
    }
}

impl Node {
    fn endpoint(&self) -> Option<&Endpoint> {
        self.ends.as_ref().and_then(|e| e.endpoint.as_ref())
    }

    fn catch_all(&self) -> Option<&CatchAll> {
        self.ends.as_ref().and_then(|e| e.catch_all.as_ref())
    }

    /// The parameter child of `kind`.
    fn param(&self, kind: ParamKind) -> Option<usize> {
        let child = *self.params.get(param_slot(kind)?)?;
        (child != 0).then_some(child as usize)
    }
}

/// Node numbers are stored in 32 bits; `insert` refuses to grow the tree past it.
const MAX_NODES: usize = u32::MAX as usize;

/// Methods answered from the node itself: `GET`, `HEAD`, `POST`, `PUT`.
const FAST: usize = 4;
const NO_ROUTE: u32 = u32::MAX;

impl Default for Node {
    fn default() -> Self {
        Node {
            statics: StaticChildren::default(),
            params: [0; 4],
            fast: [NO_ROUTE; FAST],
            ends: None,
        }
    }
}

/// The bit of a key length in `Router::static_lengths`.
#[inline]
fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

/// What only `insert` reads about a node.
#[derive(Debug)]
struct NodeInfo {
    /// The route that created the node, for conflict messages.
    first_route: usize,
    /// The parameter's name, on a node reached through a parameter edge.
    name: Box<str>,
}

#[derive(Debug)]
struct Route<T> {
    value: T,
    /// The parameter names, in pattern order (a match's values come in this order).
    names: Box<[Box<str>]>,
    pattern: Box<str>,
    methods: Vec<String>,
}

/// A router from `(method, raw path)` to values of type `T`.
#[derive(Debug)]
pub struct Router<T> {
    routes: Vec<Route<T>>,
    /// Arena; index 0 is the root (the position of the first segment).
    nodes: Vec<Node>,
    /// The route cache: every parameter-free pattern (without `%`), minus its
    /// leading `/`, to its node, so a static path is one table probe.
    static_paths: StaticChildren,
    /// Bit `min(len, 63)` is set for each key length in `static_paths`, so that
    /// most paths of parameterised routes skip the probe.
    static_lengths: u64,
    /// Per node, what only `insert` reads.
    info: Vec<NodeInfo>,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Mutable state of one lookup.
struct Search<'r, 'p, 'm> {
    method: Method,
    /// The method's name, for methods without an index.
    method_name: &'m str,
    /// Whether the path has `%` escapes; without them segments are used as they are.
    escaped: bool,
    /// The `/` positions of the path after its leading `/` (short paths only).
    slashes: Option<u64>,
    /// Length of the path after its leading `/`: every `rest` is a suffix of it.
    base_len: usize,
    /// False for `WEBSOCKET` lookups: HTTP-only paths do not "exist" for them.
    http: bool,
    /// The parameters, collected straight into the answer (see `lookup`).
    params: &'m mut Params<'r, 'p>,
    /// Allow string of the highest-priority matching path that has HTTP methods.
    first_allow: Option<&'r str>,
}

impl<'r> Search<'r, '_, '_> {
    /// `rest` split at its first `/`: the segment, and what follows the `/`.
    #[inline]
    fn split<'p>(&self, rest: &'p str) -> (&'p str, Option<&'p str>) {
        let end = match self.slashes {
            Some(mask) => {
                let offset = self.base_len.saturating_sub(rest.len());
                let ahead = mask.checked_shr(offset as u32).unwrap_or(0);
                (ahead != 0).then(|| ahead.trailing_zeros() as usize)
            }
            None => rest.bytes().position(|b| b == b'/'),
        };
        // A `/` is ASCII, so both sides of it are on character boundaries.
        match end.and_then(|end| rest.get(..end).zip(rest.get(end + 1..))) {
            Some((segment, next)) => (segment, Some(next)),
            None => (rest, None),
        }
    }

    fn check(&mut self, endpoint: &'r Endpoint) -> Option<usize> {
        let found = endpoint.resolve_as(self.method, self.method_name);
        if found.is_none() && self.http && endpoint.has_http && self.first_allow.is_none() {
            self.first_allow = Some(&endpoint.allow);
        }
        found
    }
}

impl<T> Router<T> {
    pub fn new() -> Self {
        Router {
            routes: Vec::new(),
            nodes: vec![Node::default()],
            static_paths: StaticChildren::default(),
            static_lengths: 0,
            info: vec![NodeInfo {
                first_route: 0,
                name: Box::default(),
            }],
        }
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The registered values, in insertion order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.routes.iter().map(|r| &r.value)
    }

    /// The pattern a route was registered with.
    pub fn route_pattern(&self, id: RouteId) -> Option<&str> {
        self.routes.get(id.0).map(|r| &*r.pattern)
    }

    fn render(&self, route: usize) -> String {
        match self.routes.get(route) {
            Some(r) => format!("{} {}", r.methods.join("|"), r.pattern),
            None => String::from("<unknown route>"),
        }
    }

    /// Registers `value` for `pattern` and `methods` (case-insensitive; `WEBSOCKET`
    /// marks a WebSocket route). On error the router is left unchanged.
    pub fn insert(
        &mut self,
        pattern: &str,
        methods: &[&str],
        value: T,
    ) -> Result<RouteId, RouteError> {
        let segments = parse_pattern(pattern)?;
        let methods = normalize_methods(pattern, methods)?;
        self.check_conflicts(pattern, &segments, &methods)?;
        if self.nodes.len() + segments.len() >= MAX_NODES {
            return Err(RouteError::InvalidPattern {
                pattern: pattern.to_owned(),
                reason: format!("the router holds at most {MAX_NODES} route segments"),
            });
        }

        let route = self.routes.len();
        let mut node = 0;
        let mut catch_all = None;
        let mut names: Vec<Box<str>> = Vec::new();
        for segment in &segments {
            if let Segment::Param { name, .. } = *segment {
                names.push(name.into());
            }
            match *segment {
                Segment::Static(text) => node = self.static_child(node, text, route),
                Segment::Param {
                    name,
                    kind: ParamKind::Path,
                } => catch_all = Some(name),
                Segment::Param { name, kind } => node = self.param_child(node, kind, name, route),
            }
        }
        if let Some(n) = self.nodes.get_mut(node) {
            let ends = n.ends.get_or_insert_with(Box::default);
            let endpoint = match catch_all {
                Some(name) => {
                    &mut ends
                        .catch_all
                        .get_or_insert_with(|| CatchAll {
                            name: name.into(),
                            endpoint: Endpoint::default(),
                            first_route: route,
                        })
                        .endpoint
                }
                None => ends.endpoint.get_or_insert_with(Endpoint::default),
            };
            endpoint.add(&methods, route);
            if catch_all.is_none() {
                let by_method = endpoint.by_method;
                for (fast, resolved) in n.fast.iter_mut().zip(by_method) {
                    *fast = resolved
                        .and_then(|r| u32::try_from(r).ok())
                        .unwrap_or(NO_ROUTE);
                }
            }
        }
        let all_static = segments.iter().all(|s| matches!(s, Segment::Static(_)));
        if let Some(key) = pattern
            .strip_prefix('/')
            .filter(|p| all_static && !p.contains('%'))
        {
            if self.static_paths.get(key.as_bytes()).is_none() {
                self.static_paths.insert(key, node);
                self.static_lengths |= length_bit(key.len());
            }
        }
        self.routes.push(Route {
            pattern: pattern.into(),
            methods,
            names: names.into(),
            value,
        });
        Ok(RouteId(route))
    }

    fn new_node(&mut self, route: usize, name: &str) -> usize {
        self.nodes.push(Node::default());
        self.info.push(NodeInfo {
            first_route: route,
            name: name.into(),
        });
        self.nodes.len() - 1
    }

    fn static_child(&mut self, node: usize, text: &str, route: usize) -> usize {
        if let Some(child) = self
            .nodes
            .get(node)
            .and_then(|n| n.statics.get(text.as_bytes()))
        {
            return child;
        }
        let child = self.new_node(route, "");
        if let Some(n) = self.nodes.get_mut(node) {
            n.statics.insert(text, child);
        }
        child
    }

    fn param_child(&mut self, node: usize, kind: ParamKind, name: &str, route: usize) -> usize {
        if let Some(child) = self.nodes.get(node).and_then(|n| n.param(kind)) {
            return child;
        }
        let child = self.new_node(route, name);
        // `insert` keeps the node count below `MAX_NODES`.
        let number = u32::try_from(child).unwrap_or(0);
        if let Some(slot) = param_slot(kind)
            .and_then(|i| self.nodes.get_mut(node).and_then(|n| n.params.get_mut(i)))
        {
            *slot = number;
        }
        child
    }

    /// Read-only walk along the new route's shape looking for conflicts.
    fn check_conflicts(
        &self,
        pattern: &str,
        segments: &[Segment<'_>],
        methods: &[String],
    ) -> Result<(), RouteError> {
        let new_route = || format!("{} {}", methods.join("|"), pattern);
        let name_conflict = |position: usize,
                             kind: ParamKind,
                             new: &str,
                             old: &str,
                             route: usize| {
            RouteError::Conflict {
                new_route: new_route(),
                existing_route: self.render(route),
                reason: format!(
                    "parameter `{new}` and existing parameter `{old}` have the same type ({kind:?}) \
                     at segment {}; parameters at the same position must share a name",
                    position + 1
                ),
            }
        };
        let method_conflict = |endpoint: &Endpoint| -> Result<(), RouteError> {
            for method in methods {
                if let Some(route) = endpoint.exact(method) {
                    return Err(RouteError::Conflict {
                        new_route: new_route(),
                        existing_route: self.render(route),
                        reason: format!(
                            "both routes handle method {method} for the same path shape"
                        ),
                    });
                }
            }
            Ok(())
        };

        let mut node = 0;
        for (position, segment) in segments.iter().enumerate() {
            let Some(n) = self.nodes.get(node) else {
                return Ok(());
            };
            let next = match *segment {
                Segment::Static(text) => n.statics.get(text.as_bytes()),
                Segment::Param {
                    name,
                    kind: ParamKind::Path,
                } => {
                    return match n.catch_all() {
                        Some(ca) if &*ca.name != name => Err(name_conflict(
                            position,
                            ParamKind::Path,
                            name,
                            &ca.name,
                            ca.first_route,
                        )),
                        Some(ca) => method_conflict(&ca.endpoint),
                        None => Ok(()),
                    };
                }
                Segment::Param { name, kind } => match n.param(kind) {
                    Some(child) => {
                        let (old, first) = self
                            .info
                            .get(child)
                            .map_or(("", 0), |i| (&*i.name, i.first_route));
                        if old != name {
                            return Err(name_conflict(position, kind, name, old, first));
                        }
                        Some(child)
                    }
                    None => None,
                },
            };
            match next {
                Some(child) => node = child,
                None => return Ok(()),
            }
        }
        match self.nodes.get(node).and_then(Node::endpoint) {
            Some(endpoint) => method_conflict(endpoint),
            None => Ok(()),
        }
    }

    /// Matches `method` and the raw (percent-encoded) `path`.
    pub fn lookup<'r, 'p>(&'r self, method: &str, path: &'p str) -> Match<'r, 'p, T> {
        let (Some(rest), Some(root), Some(first)) = (
            path.strip_prefix('/'),
            self.nodes.first(),
            self.routes.first(),
        ) else {
            return Match::NotFound;
        };
        let parsed = Method::parse(method);
        // A parameter-free route is the highest-priority match for its path, so
        // if it handles the method it is the answer.
        let cached = (self.static_lengths & length_bit(rest.len()) != 0)
            .then(|| self.static_paths.get(rest.as_bytes()))
            .flatten()
            .and_then(|node| self.nodes.get(node))
            .and_then(|node| parsed.index().and_then(|i| node.fast.get(i)))
            .filter(|&&route| route != NO_ROUTE)
            .and_then(|&route| self.routes.get(route as usize).map(|r| (route, r)));
        if let Some((route, r)) = cached {
            return Match::Found {
                value: &r.value,
                route: RouteId(route as usize),
                params: Params::new(),
            };
        }
        // Parameters are pushed straight into the `Found` that is returned:
        // collecting them apart and moving them in afterwards cost one more copy
        // of ~300 bytes just written (measured: a quarter of a small-table lookup).
        let mut answer = Match::Found {
            value: &first.value,
            route: RouteId(0),
            params: Params::new(),
        };
        let Match::Found {
            value,
            route: id,
            params,
        } = &mut answer
        else {
            return Match::NotFound;
        };
        let scanned = scan(rest.as_bytes());
        let mut search = Search {
            method: parsed,
            method_name: method,
            escaped: scanned.escaped,
            slashes: scanned.slashes,
            base_len: rest.len(),
            http: parsed != Method::WebSocket,
            params,
            first_allow: None,
        };
        let found = self.visit(root, Some(rest), &mut search);
        let first_allow = search.first_allow;
        match found.and_then(|route| self.routes.get(route).map(|r| (route, r))) {
            Some((route, r)) => {
                *value = &r.value;
                *id = RouteId(route);
                params.set_names(&r.names);
            }
            // Returned as they are: copying the whole `answer` costs more.
            None => {
                return match first_allow {
                    Some(allow) if parsed == Method::Options => Match::Options { allow },
                    Some(allow) => Match::MethodNotAllowed { allow },
                    None => Match::NotFound,
                };
            }
        }
        answer
    }

    /// Depth-first search in priority order. `rest` is the path after the `/` that
    /// precedes this node's segment, or `None` when the path ended at this node.
    fn visit<'r, 'p>(
        &'r self,
        node: &'r Node,
        rest: Option<&'p str>,
        search: &mut Search<'r, 'p, '_>,
    ) -> Option<usize> {
        let Some(rest) = rest else {
            let fast = search
                .method
                .index()
                .and_then(|i| node.fast.get(i))
                .copied()
                .unwrap_or(NO_ROUTE);
            if fast != NO_ROUTE {
                return Some(fast as usize);
            }
            return node.endpoint().and_then(|ep| search.check(ep));
        };
        let (segment, next) = search.split(rest);
        // A segment that does not decode matches nothing (and neither does a
        // catch-all over it, since the remainder fails to decode too).
        let decoded = if search.escaped {
            percent_decode(segment)?
        } else {
            Cow::Borrowed(segment)
        };

        if let Some(child) = node
            .statics
            .get(decoded.as_bytes())
            .and_then(|i| self.nodes.get(i))
        {
            if let Some(route) = self.visit(child, next, search) {
                return Some(route);
            }
        }

        let mark = search.params.len();
        let [int, uuid, float, string] = node.params;
        if int != 0 {
            if let Some(v) = parse_int(&decoded) {
                if let Some(route) = self.visit_param(int, ParamValue::Int(v), next, search, mark) {
                    return Some(route);
                }
            }
        }
        if uuid != 0 {
            if let Some(v) = parse_uuid(&decoded) {
                if let Some(route) = self.visit_param(uuid, ParamValue::Uuid(v), next, search, mark)
                {
                    return Some(route);
                }
            }
        }
        if float != 0 {
            if let Some(v) = parse_float(&decoded) {
                if let Some(route) =
                    self.visit_param(float, ParamValue::Float(v), next, search, mark)
                {
                    return Some(route);
                }
            }
        }
        if string != 0 && !decoded.is_empty() {
            if let Some(route) =
                self.visit_param(string, ParamValue::Str(decoded), next, search, mark)
            {
                return Some(route);
            }
        }
        if let Some(ca) = node.catch_all() {
            let rest = if search.escaped {
                percent_decode(rest)
            } else {
                Some(Cow::Borrowed(rest))
            };
            if let Some(rest) = rest {
                search.params.push(ParamValue::Path(rest));
                if let Some(route) = search.check(&ca.endpoint) {
                    return Some(route);
                }
                search.params.truncate(mark);
            }
        }
        None
    }

    fn visit_param<'r, 'p>(
        &'r self,
        child: u32,
        value: ParamValue<'p>,
        next: Option<&'p str>,
        search: &mut Search<'r, 'p, '_>,
        mark: usize,
    ) -> Option<usize> {
        let child = self.nodes.get(child as usize)?;
        search.params.push(value);
        let found = self.visit(child, next, search);
        if found.is_none() {
            search.params.truncate(mark);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::Node;

    /// A lookup reads one node per segment: a node that grows past one cache line
    /// costs a second miss per segment on large tables.
    #[test]
    fn node_fits_one_cache_line() {
        assert_eq!(std::mem::size_of::<Node>(), 64);
        assert_eq!(std::mem::align_of::<Node>(), 64);
    }
}
