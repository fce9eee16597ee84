//! Captured path parameters, stored inline for the common case.

use std::borrow::Cow;
use std::fmt;

use super::ParamKind;

/// The converted value of one path parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue<'p> {
    /// `{name}` / `{name:str}`: the percent-decoded segment (never empty).
    Str(Cow<'p, str>),
    /// `{name:int}`.
    Int(i64),
    /// `{name:float}`.
    Float(f64),
    /// `{name:uuid}`, as the 128-bit big-endian value.
    Uuid(u128),
    /// `{name:path}`: the percent-decoded rest of the path (may be empty).
    Path(Cow<'p, str>),
}

impl ParamValue<'_> {
    /// The converter that produced this value.
    pub fn kind(&self) -> ParamKind {
        match self {
            ParamValue::Str(_) => ParamKind::Str,
            ParamValue::Int(_) => ParamKind::Int,
            ParamValue::Float(_) => ParamKind::Float,
            ParamValue::Uuid(_) => ParamKind::Uuid,
            ParamValue::Path(_) => ParamKind::Path,
        }
    }
}

/// Number of parameters held without a heap allocation.
const INLINE: usize = 8;

/// What an unused inline place holds (nothing to drop).
const VACANT: ParamValue<'static> = ParamValue::Int(0);

/// The parameters captured by a match, in pattern order.
///
/// The first eight values live in an inline array; only further ones spill to the
/// heap. The names are the matched route's, attached once the route is known, so
/// the search itself only stores values.
#[derive(Clone)]
pub struct Params<'r, 'p> {
    names: &'r [Box<str>],
    inline: [ParamValue<'p>; INLINE],
    len: usize,
    spill: Vec<ParamValue<'p>>,
}

impl<'r, 'p> Params<'r, 'p> {
    #[inline]
    pub(crate) fn new() -> Self {
        Params {
            names: &[],
            inline: [VACANT; INLINE],
            len: 0,
            spill: Vec::new(),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, value: ParamValue<'p>) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = value,
            None => self.spill.push(value),
        }
        self.len += 1;
    }

    #[inline]
    pub(crate) fn truncate(&mut self, len: usize) {
        while self.len > len {
            self.len -= 1;
            match self.inline.get_mut(self.len) {
                Some(slot) => *slot = VACANT,
                None => {
                    self.spill.pop();
                }
            }
        }
    }

    /// Attaches the matched route's parameter names (in pattern order).
    #[inline]
    pub(crate) fn set_names(&mut self, names: &'r [Box<str>]) {
        self.names = names;
    }

    /// `(name, value)` pairs in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = (&'r str, &ParamValue<'p>)> + '_ {
        let inline = self.inline.get(..self.len.min(INLINE)).unwrap_or(&[]);
        let names: &'r [Box<str>] = self.names;
        names
            .iter()
            .map(|name| &**name)
            .zip(inline.iter().chain(self.spill.iter()))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value of the parameter called `name`.
    pub fn get(&self, name: &str) -> Option<&ParamValue<'p>> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

impl Default for Params<'_, '_> {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Params<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}
