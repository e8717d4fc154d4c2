//! Parsing of the attribute arguments.

use proc_macro2::Span;
use quote::ToTokens;
use syn::parse::{ParseStream, Parser};
use syn::{bracketed, Expr, LitBool, Path, Result, Token};

mod kw {
    syn::custom_keyword!(lock);
    syn::custom_keyword!(timeout);
    syn::custom_keyword!(blocking);
}

/// Which attribute is being expanded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockKind {
    Locked,
    ReadLocked,
    WriteLocked,
    InterprocessLocked,
    InterprocessReadLocked,
    InterprocessWriteLocked,
}

/// Which side of the lock the body runs under.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// `Lockable`: any exclusive lock.
    Exclusive,
    /// `SharedLockable`, shared side.
    Read,
    /// `SharedLockable`, exclusive side.
    Write,
}

impl LockKind {
    /// The attribute's name, for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            LockKind::Locked => "locked",
            LockKind::ReadLocked => "read_locked",
            LockKind::WriteLocked => "write_locked",
            LockKind::InterprocessLocked => "interprocess_locked",
            LockKind::InterprocessReadLocked => "interprocess_read_locked",
            LockKind::InterprocessWriteLocked => "interprocess_write_locked",
        }
    }

    pub(crate) fn side(self) -> Side {
        match self {
            LockKind::Locked | LockKind::InterprocessLocked => Side::Exclusive,
            LockKind::ReadLocked | LockKind::InterprocessReadLocked => Side::Read,
            LockKind::WriteLocked | LockKind::InterprocessWriteLocked => Side::Write,
        }
    }

    fn is_interprocess(self) -> bool {
        matches!(
            self,
            LockKind::InterprocessLocked
                | LockKind::InterprocessReadLocked
                | LockKind::InterprocessWriteLocked
        )
    }
}

/// The parsed arguments of one attribute.
pub(crate) struct Args {
    pub(crate) locks: Locks,
    pub(crate) wait: Wait,
}

/// Where the lock (or locks) come from.
pub(crate) enum Locks {
    /// No `lock =`: the field `self.lock`; the span is the attribute's.
    DefaultField(Span),
    /// `lock = a` or `lock = [a, b]`: fields of `self`, or statics (see `expand`).
    Named(Vec<Path>),
    /// `#[interprocess_*(path)]`: the lock file's path.
    File(Box<Expr>),
}

/// How long to wait for the lock.
pub(crate) enum Wait {
    Forever,
    /// `blocking = false`; the span is the key's.
    NonBlocking(Span),
    /// `timeout = expr`; the span is the key's.
    Timeout(Span, Box<Expr>),
}

impl Wait {
    /// The span of the option that makes the attribute fallible, if any.
    pub(crate) fn option_span(&self) -> Option<(Span, &'static str)> {
        match self {
            Wait::Forever => None,
            Wait::NonBlocking(span) => Some((*span, "blocking = false")),
            Wait::Timeout(span, _) => Some((*span, "timeout = ...")),
        }
    }
}

impl Args {
    pub(crate) fn parse(kind: LockKind, tokens: proc_macro2::TokenStream) -> Result<Args> {
        let parser = |input: ParseStream| {
            if kind.is_interprocess() {
                parse_interprocess(input, kind)
            } else {
                parse_in_process(input, kind)
            }
        };
        parser.parse2(tokens)
    }
}

/// `#[locked]`, `#[locked(lock = a, timeout = t)]`, `#[read_locked(lock = [a, b], blocking = false)]`.
fn parse_in_process(input: ParseStream, kind: LockKind) -> Result<Args> {
    let mut locks = None;
    let mut wait = WaitParser::default();
    while !input.is_empty() {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::lock) {
            let key: kw::lock = input.parse()?;
            if locks.is_some() {
                return Err(duplicate(key.span, "lock", kind));
            }
            expect_eq(input, "lock", kind)?;
            locks = Some(parse_lock_value(input, kind)?);
        } else if !wait.parse_option(input, kind)? {
            return Err(unknown_argument(
                input,
                kind,
                "`lock = field`, `lock = [a, b]`, `lock = path::TO::STATIC`, \
                 `timeout = Duration` or `blocking = false`",
            ));
        }
        parse_separator(input, kind)?;
    }
    Ok(Args {
        locks: locks.unwrap_or_else(|| Locks::DefaultField(Span::call_site())),
        wait: wait.finish(),
    })
}

/// `#[interprocess_locked(path)]`, `#[interprocess_locked(path, timeout = t)]`.
fn parse_interprocess(input: ParseStream, kind: LockKind) -> Result<Args> {
    let starts_with_option = (input.peek(syn::Ident) || input.peek(Token![self]))
        && input.peek2(Token![=])
        && !input.peek2(Token![==])
        && !input.peek2(Token![=>]);
    if input.is_empty() || starts_with_option {
        return Err(syn::Error::new(
            if input.is_empty() { Span::call_site() } else { input.span() },
            format!(
                "#[{name}] needs the lock file's path first, as in \
                 #[{name}(\"/tmp/app.lock\")] or #[{name}(\"/tmp/app.lock\", timeout = Duration::from_secs(1))]",
                name = kind.name(),
            ),
        ));
    }
    let path: Expr = input.parse()?;
    parse_separator(input, kind)?;
    let mut wait = WaitParser::default();
    while !input.is_empty() {
        if !wait.parse_option(input, kind)? {
            return Err(unknown_argument(
                input,
                kind,
                "the path, then `timeout = Duration` or `blocking = false`",
            ));
        }
        parse_separator(input, kind)?;
    }
    Ok(Args {
        locks: Locks::File(Box::new(path)),
        wait: wait.finish(),
    })
}

/// The options every attribute takes: `timeout = expr`, `blocking = bool`.
#[derive(Default)]
struct WaitParser {
    timeout: Option<(Span, Box<Expr>)>,
    blocking: Option<(Span, bool)>,
}

impl WaitParser {
    /// Parses one option if the input starts with one; `Ok(false)` if it does not.
    fn parse_option(&mut self, input: ParseStream, kind: LockKind) -> Result<bool> {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::timeout) {
            let key: kw::timeout = input.parse()?;
            if self.timeout.is_some() {
                return Err(duplicate(key.span, "timeout", kind));
            }
            if let Some((_, false)) = self.blocking {
                return Err(exclusive(key.span, kind));
            }
            expect_eq(input, "timeout", kind)?;
            self.timeout = Some((key.span, input.parse()?));
            Ok(true)
        } else if lookahead.peek(kw::blocking) {
            let key: kw::blocking = input.parse()?;
            if self.blocking.is_some() {
                return Err(duplicate(key.span, "blocking", kind));
            }
            expect_eq(input, "blocking", kind)?;
            let value: LitBool = input.parse().map_err(|err| {
                syn::Error::new(
                    err.span(),
                    format!(
                        "`blocking` takes `true` or `false`, as in #[{}(blocking = false)]",
                        kind.name()
                    ),
                )
            })?;
            if !value.value && self.timeout.is_some() {
                return Err(exclusive(key.span, kind));
            }
            self.blocking = Some((key.span, value.value));
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn finish(self) -> Wait {
        match (self.timeout, self.blocking) {
            (Some((span, expr)), _) => Wait::Timeout(span, expr),
            (None, Some((span, false))) => Wait::NonBlocking(span),
            (None, _) => Wait::Forever,
        }
    }
}

/// `a`, `path::TO::STATIC` or `[a, b, c]`.
fn parse_lock_value(input: ParseStream, kind: LockKind) -> Result<Locks> {
    let bad_value = |span| {
        syn::Error::new(
            span,
            format!(
                "`lock` takes a field name, a list of them or a static's path, as in \
                 #[{name}(lock = name)], #[{name}(lock = [a, b])] or #[{name}(lock = crate::LOCK)]",
                name = kind.name(),
            ),
        )
    };
    if input.peek(syn::LitStr) {
        let lit: syn::LitStr = input.parse()?;
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "write the lock's name without quotes: #[{}(lock = {})]",
                kind.name(),
                lit.value(),
            ),
        ));
    }
    let paths: Vec<Path> = if input.peek(syn::token::Bracket) {
        let content;
        let brackets = bracketed!(content in input);
        let mut list = Vec::new();
        while !content.is_empty() {
            list.push(LockPath::parse(&content, kind)?.0);
            if !content.is_empty() {
                content.parse::<Token![,]>()?;
            }
        }
        if list.is_empty() {
            return Err(syn::Error::new(
                brackets.span.join(),
                format!(
                    "the list of locks is empty; name at least one, as in #[{}(lock = [a, b])]",
                    kind.name()
                ),
            ));
        }
        list
    } else if input.peek(syn::Ident) || input.peek(Token![::]) || input.peek(Token![self]) {
        vec![LockPath::parse(input, kind)?.0]
    } else {
        return Err(bad_value(input.span()));
    };
    let names: Vec<String> = paths
        .iter()
        .map(|p| p.to_token_stream().to_string())
        .collect();
    for (i, path) in paths.iter().enumerate() {
        if names[..i].contains(&names[i]) {
            return Err(syn::Error::new_spanned(
                path,
                format!(
                    "this lock is already listed in #[{}(lock = [...])]; taking it twice would deadlock",
                    kind.name()
                ),
            ));
        }
    }
    Ok(Locks::Named(paths))
}

/// One lock of `lock = ...`: a path without generics (`name`, `crate::LOCK`).
struct LockPath(Path);

impl LockPath {
    fn parse(input: ParseStream, kind: LockKind) -> Result<LockPath> {
        let path = Path::parse_mod_style(input)?;
        if input.peek(Token![.]) {
            return Err(syn::Error::new(
                input.span(),
                format!(
                    "name the field alone: #[{}(lock = field)] locks `self.field`",
                    kind.name()
                ),
            ));
        }
        Ok(LockPath(path))
    }
}

fn expect_eq(input: ParseStream, key: &str, kind: LockKind) -> Result<()> {
    if input.peek(Token![=]) && !input.peek(Token![==]) {
        input.parse::<Token![=]>()?;
        Ok(())
    } else {
        let example = match key {
            "lock" => "lock = name",
            "timeout" => "timeout = Duration::from_secs(1)",
            _ => "blocking = false",
        };
        Err(syn::Error::new(
            input.span(),
            format!(
                "expected `=` after `{key}`, as in #[{}({example})]",
                kind.name()
            ),
        ))
    }
}

fn parse_separator(input: ParseStream, kind: LockKind) -> Result<()> {
    if input.is_empty() {
        return Ok(());
    }
    input.parse::<Token![,]>().map(drop).map_err(|err| {
        syn::Error::new(
            err.span(),
            format!(
                "expected `,` between the arguments of #[{}(...)]",
                kind.name()
            ),
        )
    })
}

fn unknown_argument(input: ParseStream, kind: LockKind, expected: &str) -> syn::Error {
    let found = match input.cursor().ident() {
        Some((ident, _)) => format!("unknown argument `{ident}`"),
        None => "unexpected argument".to_owned(),
    };
    syn::Error::new(
        input.span(),
        format!("{found} in #[{}]; expected {expected}", kind.name()),
    )
}

fn duplicate(span: Span, key: &str, kind: LockKind) -> syn::Error {
    syn::Error::new(
        span,
        format!("duplicate `{key}` in #[{}]; give it once", kind.name()),
    )
}

fn exclusive(span: Span, kind: LockKind) -> syn::Error {
    syn::Error::new(
        span,
        format!(
            "`timeout` and `blocking = false` exclude each other in #[{}]; keep one",
            kind.name()
        ),
    )
}
