//! The one parser of macro arguments: the `_options` of the log and span macros, the arguments of
//! `#[instrument(…)]` and the `#[bud(…)]` options of the derive. Each macro describes its arguments as
//! [`ArgSpec`]s — a name, the type of its value, and what a wrong value is told — and gets typed [`ArgValue`]s back,
//! each name at most once. What the values mean, and which combinations are allowed, each macro then checks in the
//! struct it builds from them.

use proc_macro2::Span;
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{Expr, ExprArray, Ident, LitBool, LitStr, Token};

use crate::level::Level;

/// The type of an argument's value.
#[derive(Clone, Copy)]
pub(crate) enum ArgType {
    /// A bare name (`record_return`, `skip`): no value.
    Flag,
    /// A string literal.
    Str,
    /// An array of string literals (`["billing"]`).
    Strs,
    /// A level named by a string literal (`"debug"`); with `or_expr`, also any expression of type `Level`.
    Level { or_expr: bool },
    /// Any expression.
    Expr,
    /// An array of expressions.
    Exprs,
    /// `true`, `false`, or an array of names (`[request, user_id]`).
    NamesOrBool,
}

/// One argument a macro accepts.
pub(crate) struct ArgSpec {
    pub(crate) name: &'static str,
    pub(crate) ty: ArgType,
    /// The error for a value of the wrong shape.
    pub(crate) expected: &'static str,
    /// The error for a wrong element of an array value (`expected` when the same).
    pub(crate) element: &'static str,
    /// An example of the argument, for the error of a missing `=`.
    pub(crate) example: &'static str,
}

impl ArgSpec {
    pub(crate) const fn new(name: &'static str, ty: ArgType, expected: &'static str) -> ArgSpec {
        ArgSpec { name, ty, expected, element: expected, example: "" }
    }

    pub(crate) const fn element(self, element: &'static str) -> ArgSpec {
        ArgSpec { element, ..self }
    }

    pub(crate) const fn example(self, example: &'static str) -> ArgSpec {
        ArgSpec { example, ..self }
    }
}

/// A value, typed by its [`ArgType`].
pub(crate) enum ArgValue {
    Flag,
    Str(LitStr),
    Strs(Vec<LitStr>),
    Level(Level, Span),
    LevelExpr(Expr),
    Expr(Expr),
    Exprs(Vec<Expr>),
    Bool(bool),
    Names(Vec<Ident>),
}

/// An argument as given: its name and typed value.
pub(crate) struct Arg {
    pub(crate) name: Ident,
    pub(crate) value: ArgValue,
}

/// Reads the value of `spec` from `input` (after its `=`).
pub(crate) fn parse_value(input: ParseStream<'_>, spec: &ArgSpec) -> syn::Result<ArgValue> {
    let expected = |span: Span| syn::Error::new(span, spec.expected);
    let element = |span: Span| syn::Error::new(span, spec.element);
    Ok(match spec.ty {
        ArgType::Flag => ArgValue::Flag,
        ArgType::Str => ArgValue::Str(input.parse().map_err(|err| expected(err.span()))?),
        ArgType::Strs => {
            let array: ExprArray = input.parse().map_err(|err| expected(err.span()))?;
            let mut strings = Vec::with_capacity(array.elems.len());
            for item in array.elems {
                match item {
                    Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(string), .. }) => strings.push(string),
                    other => return Err(element(other.span())),
                }
            }
            ArgValue::Strs(strings)
        }
        ArgType::Level { or_expr } => {
            if input.peek(LitStr) || !or_expr {
                let literal: LitStr = input.parse().map_err(|err| expected(err.span()))?;
                ArgValue::Level(Level::from_literal(&literal)?, literal.span())
            } else {
                ArgValue::LevelExpr(input.parse()?)
            }
        }
        ArgType::Expr => ArgValue::Expr(input.parse()?),
        ArgType::Exprs => {
            let array: ExprArray = input.parse().map_err(|err| expected(err.span()))?;
            ArgValue::Exprs(array.elems.into_iter().collect())
        }
        ArgType::NamesOrBool => {
            if input.peek(LitBool) {
                ArgValue::Bool(input.parse::<LitBool>()?.value)
            } else {
                let array: ExprArray = input.parse().map_err(|err| expected(err.span()))?;
                let mut names = Vec::with_capacity(array.elems.len());
                for item in array.elems {
                    match item {
                        Expr::Path(path) if path.path.get_ident().is_some() => {
                            names.extend(path.path.get_ident().cloned())
                        }
                        other => return Err(element(other.span())),
                    }
                }
                ArgValue::Names(names)
            }
        }
    })
}

/// How a macro words the errors of its argument list.
pub(crate) struct Wording {
    /// Where a name was expected (`#[instrument(42)]`).
    pub(crate) not_a_name: &'static str,
    /// An unknown name.
    pub(crate) unknown: fn(&str) -> String,
    /// A name given twice.
    pub(crate) duplicate: fn(&str) -> String,
    /// A name that takes a value, without `=` (with the spec's example).
    pub(crate) missing_equals: fn(&str, &str) -> String,
}

/// Names already given, so that each is given once.
#[derive(Default)]
pub(crate) struct Seen(Vec<String>);

impl Seen {
    /// Records `name`, an error worded by `duplicate` when it was given before.
    pub(crate) fn first(&mut self, name: &Ident, duplicate: impl FnOnce(&str) -> String) -> syn::Result<()> {
        let key = name.to_string();
        if self.0.contains(&key) {
            return Err(syn::Error::new(name.span(), duplicate(&key)));
        }
        self.0.push(key);
        Ok(())
    }
}

/// Parses `name = value, name, …` (a trailing comma allowed): every name one of `specs`, each at most once.
pub(crate) fn parse_list(input: ParseStream<'_>, specs: &[ArgSpec], wording: &Wording) -> syn::Result<Vec<Arg>> {
    let mut args = Vec::new();
    let mut seen = Seen::default();
    while !input.is_empty() {
        let name: Ident = input.parse().map_err(|err| syn::Error::new(err.span(), wording.not_a_name))?;
        let key = name.to_string();
        let Some(spec) = specs.iter().find(|spec| spec.name == key) else {
            return Err(syn::Error::new(name.span(), (wording.unknown)(&key)));
        };
        seen.first(&name, wording.duplicate)?;
        let value = match spec.ty {
            ArgType::Flag => {
                if input.peek(Token![=]) {
                    return Err(syn::Error::new(name.span(), format!("`{key}` takes no value: write `{key}` alone")));
                }
                ArgValue::Flag
            }
            _ => {
                input
                    .parse::<Token![=]>()
                    .map_err(|_| syn::Error::new(name.span(), (wording.missing_equals)(&key, spec.example)))?;
                parse_value(input, spec)?
            }
        };
        args.push(Arg { name, value });
        if !input.is_empty() {
            input.parse::<Token![,]>()?;
        }
    }
    Ok(args)
}

/// The candidate `name` is most likely a typo of (at most a third of its characters off, and at least one), for a
/// "did you mean" in an error.
pub(crate) fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Edit distance by characters, a swap of neighbours counting as one edit (optimal string alignment).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod closest_tests {
    use super::closest;

    #[test]
    fn typos_find_their_name() {
        assert_eq!(closest("usr_id", ["user_id", "model"]), Some("user_id"));
        assert_eq!(closest("modle", ["user_id", "model"]), Some("model"));
        assert_eq!(closest("prompt", ["user_id", "model"]), None);
        assert_eq!(closest("x", ["y"]), Some("y"));
    }
}
