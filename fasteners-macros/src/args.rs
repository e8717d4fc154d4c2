//! Parsing of the attribute arguments.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{bracketed, Expr, LitBool, LitStr, Path, Result, Token};

use crate::suggest::did_you_mean;

mod kw {
    syn::custom_keyword!(returns_result);
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

    /// Every attribute.
    const ALL: [LockKind; 6] = [
        LockKind::Locked,
        LockKind::ReadLocked,
        LockKind::WriteLocked,
        LockKind::InterprocessLocked,
        LockKind::InterprocessReadLocked,
        LockKind::InterprocessWriteLocked,
    ];

    /// The attribute named `name` (the last segment of its path), if it is one of ours.
    pub(crate) fn from_name(name: &str) -> Option<LockKind> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    pub(crate) fn side(self) -> Side {
        match self {
            LockKind::Locked | LockKind::InterprocessLocked => Side::Exclusive,
            LockKind::ReadLocked | LockKind::InterprocessReadLocked => Side::Read,
            LockKind::WriteLocked | LockKind::InterprocessWriteLocked => Side::Write,
        }
    }

    pub(crate) fn is_interprocess(self) -> bool {
        matches!(
            self,
            LockKind::InterprocessLocked
                | LockKind::InterprocessReadLocked
                | LockKind::InterprocessWriteLocked
        )
    }

    /// The options this attribute takes, for "did you mean".
    fn keys(self) -> &'static [&'static str] {
        if self.is_interprocess() {
            &[
                "name",
                "timeout",
                "blocking",
                "on_wait",
                "returns_result",
                "crate",
            ]
        } else {
            &["lock", "timeout", "blocking", "returns_result", "crate"]
        }
    }

    /// The valid forms, for messages.
    fn forms(self) -> String {
        let name = self.name();
        if self.is_interprocess() {
            format!(
                "#[{name}(\"/tmp/app.lock\")] or #[{name}(name = \"app\")], then any of \
                 `timeout = Duration`, `blocking = false`, `on_wait = |path| ..`, \
                 `returns_result`, `crate = path`"
            )
        } else {
            format!(
                "#[{name}(lock = field)], #[{name}(lock = [a, b])] or #[{name}(lock = crate::STATIC)], \
                 and any of `timeout = Duration`, `blocking = false`, `returns_result`, `crate = path`"
            )
        }
    }
}

/// The parsed arguments of one attribute.
pub(crate) struct Args {
    pub(crate) locks: Locks,
    pub(crate) wait: Wait,
    /// `crate = path`: where the `fasteners` crate is, for a renamed
    /// dependency or a crate re-exporting the attributes.
    pub(crate) krate: Option<Path>,
    /// `returns_result`: the function returns a `Result` whatever its name.
    pub(crate) returns_result: Option<Span>,
    /// `on_wait = expr` (file locks): called when an acquisition has to wait.
    pub(crate) on_wait: Option<Box<Expr>>,
}

/// Where the lock (or locks) come from.
pub(crate) enum Locks {
    /// No `lock =`: the field `self.lock`; the span is the attribute's.
    DefaultField(Span),
    /// `lock = a` or `lock = [a, b]`: fields of `self`, or statics (see `expand`).
    Named(Vec<Path>),
    /// `#[interprocess_*(path)]`: the lock file's path.
    File(Box<Expr>),
    /// `#[interprocess_*(name = "db")]`: a named lock of the runtime crate.
    Key(Box<Expr>),
}

/// How long to wait for the lock.
#[derive(Clone)]
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
    /// Parses the arguments of `#[kind(tokens)]`; `attribute` is the span of
    /// the whole attribute (the default lock `self.lock` points there).
    pub(crate) fn parse(kind: LockKind, tokens: TokenStream, attribute: Span) -> Result<Args> {
        let parser = |input: ParseStream| parse_args(input, kind, attribute);
        parser.parse2(tokens)
    }

    /// The path of the `fasteners` crate in the generated code.
    pub(crate) fn krate(&self) -> Krate {
        Krate(self.krate.clone())
    }
}

/// The path of the `fasteners` crate: `::fasteners`, or `crate = path`.
#[derive(Clone)]
pub(crate) struct Krate(Option<Path>);

impl Krate {
    /// The path located at `span` (resolving as written): a message about a
    /// call through it then points at the user's token, not at the whole
    /// attribute.
    pub(crate) fn at(&self, span: Span) -> TokenStream {
        match &self.0 {
            None => quote::quote_spanned!(span=> ::fasteners),
            Some(path) => path
                .to_token_stream()
                .into_iter()
                .map(|mut token| {
                    token.set_span(token.span().located_at(span));
                    token
                })
                .collect(),
        }
    }
}

impl ToTokens for Krate {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(self.at(Span::call_site()));
    }
}

/// Everything given so far; with the span of the key where a message needs it.
#[derive(Default)]
struct Seen {
    lock: Option<Locks>,
    path: Option<Box<Expr>>,
    name: Option<(Span, Box<Expr>)>,
    timeout: Option<(Span, Box<Expr>)>,
    blocking: Option<(Span, bool)>,
    returns_result: Option<Span>,
    krate: Option<Path>,
    on_wait: Option<Box<Expr>>,
    /// The first option's key, for "the path comes first".
    first_key: Option<Span>,
}

// Input (any order of the options; a file lock's path first):
//     lock = [a, crate::B], timeout = t, returns_result, crate = ::fast
//     "/tmp/app.lock", blocking = false, on_wait = report
//     name = "db", timeout = t
fn parse_args(input: ParseStream, kind: LockKind, attribute: Span) -> Result<Args> {
    let mut seen = Seen::default();
    if kind.is_interprocess() && !input.is_empty() && !starts_with_key(input) {
        seen.path = Some(input.parse()?);
        parse_separator(input, kind)?;
    }
    while !input.is_empty() {
        parse_option(input, kind, &mut seen)?;
        parse_separator(input, kind)?;
    }
    let locks = if kind.is_interprocess() {
        match (seen.path, seen.name) {
            (Some(path), None) => Locks::File(path),
            (None, Some((_, name))) => Locks::Key(name),
            (Some(_), Some((span, _))) => {
                return Err(syn::Error::new(
                    span,
                    format!(
                        "#[{name}] takes either the lock file's path or `name = ...`, not both; \
                         keep one, as in #[{name}(\"/tmp/app.lock\")] or #[{name}(name = \"app\")]",
                        name = kind.name()
                    ),
                ))
            }
            (None, None) => {
                return Err(syn::Error::new(
                    seen.first_key.unwrap_or(attribute),
                    format!(
                        "#[{name}] needs the lock file's path first, or a name: \
                         #[{name}(\"/tmp/app.lock\")], #[{name}(name = \"app\")] or \
                         #[{name}(\"/tmp/app.lock\", timeout = Duration::from_secs(1))]",
                        name = kind.name(),
                    ),
                ))
            }
        }
    } else {
        seen.lock.unwrap_or(Locks::DefaultField(attribute))
    };
    let wait = match (seen.timeout, seen.blocking) {
        (Some((span, expr)), _) => Wait::Timeout(span, expr),
        (None, Some((span, false))) => Wait::NonBlocking(span),
        (None, _) => Wait::Forever,
    };
    Ok(Args {
        locks,
        wait,
        krate: seen.krate,
        returns_result: seen.returns_result,
        on_wait: seen.on_wait,
    })
}

/// Whether the input starts with `key =` or `returns_result` (an option, not a path).
fn starts_with_key(input: ParseStream) -> bool {
    let lone_flag = input.peek(kw::returns_result) && (input.peek2(Token![,]) || peek_end(input));
    let key_value = input.peek(syn::Ident::peek_any)
        && !input.peek(Token![self])
        && input.peek2(Token![=])
        && !input.peek2(Token![==])
        && !input.peek2(Token![=>]);
    lone_flag || key_value
}

/// Whether the input holds exactly one token tree.
fn peek_end(input: ParseStream) -> bool {
    let fork = input.fork();
    fork.parse::<proc_macro2::TokenTree>().is_ok() && fork.is_empty()
}

/// One `key = value` (or `returns_result`).
fn parse_option(input: ParseStream, kind: LockKind, seen: &mut Seen) -> Result<()> {
    let Ok(key) = input.fork().call(syn::Ident::parse_any) else {
        return Err(syn::Error::new(
            input.span(),
            format!(
                "unexpected argument in #[{}]; expected {}",
                kind.name(),
                kind.forms()
            ),
        ));
    };
    let name = key.to_string();
    let span = key.span();
    if !kind.keys().contains(&name.as_str()) {
        return Err(unknown_key(kind, &key));
    }
    seen.first_key.get_or_insert(span);
    input.call(syn::Ident::parse_any)?;
    let duplicate = match name.as_str() {
        "lock" => seen.lock.is_some(),
        "name" => seen.name.is_some(),
        "timeout" => seen.timeout.is_some(),
        "blocking" => seen.blocking.is_some(),
        "returns_result" => seen.returns_result.is_some(),
        "crate" => seen.krate.is_some(),
        _ => seen.on_wait.is_some(),
    };
    if duplicate {
        return Err(syn::Error::new(
            span,
            format!("duplicate `{name}` in #[{}]; give it once", kind.name()),
        ));
    }
    if name == "returns_result" {
        if input.peek(Token![=]) {
            return Err(syn::Error::new(
                input.span(),
                format!(
                    "`returns_result` takes no value: write #[{}(timeout = .., returns_result)]",
                    kind.name()
                ),
            ));
        }
        seen.returns_result = Some(span);
        return Ok(());
    }
    expect_eq(input, &name, span, kind)?;
    match name.as_str() {
        "lock" => seen.lock = Some(parse_lock_value(input, kind)?),
        "name" => seen.name = Some((span, input.parse()?)),
        "timeout" => {
            if let Some((_, false)) = seen.blocking {
                return Err(exclusive(span, kind));
            }
            seen.timeout = Some((span, input.parse()?));
        }
        "blocking" => {
            let value: LitBool = input.parse().map_err(|err| {
                syn::Error::new(
                    err.span(),
                    format!(
                        "`blocking` takes `true` or `false`, as in #[{}(blocking = false)]",
                        kind.name()
                    ),
                )
            })?;
            if !value.value && seen.timeout.is_some() {
                return Err(exclusive(span, kind));
            }
            seen.blocking = Some((span, value.value));
        }
        "crate" => seen.krate = Some(parse_crate_path(input, kind)?),
        _ => seen.on_wait = Some(input.parse()?),
    }
    Ok(())
}

/// `crate = path`, or `crate = "path"` as serde and tokio write it.
fn parse_crate_path(input: ParseStream, kind: LockKind) -> Result<Path> {
    let bad = |span| {
        syn::Error::new(
            span,
            format!(
                "`crate` takes the path of the `fasteners` crate, as in #[{name}(crate = ::fasteners)] \
                 or, through a crate that re-exports it, #[{name}(crate = my_crate::fasteners)]",
                name = kind.name()
            ),
        )
    };
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        return lit
            .parse_with(Path::parse_mod_style)
            .map_err(|_| bad(lit.span()));
    }
    let fork = input.fork();
    match fork.call(Path::parse_mod_style) {
        Ok(_) => input.call(Path::parse_mod_style),
        Err(_) => Err(bad(input.span())),
    }
}

/// `a`, `path::TO::STATIC` or `[a, b, c]`.
fn parse_lock_value(input: ParseStream, kind: LockKind) -> Result<Locks> {
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
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
            list.push(parse_lock_path(&content, kind)?);
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
    } else {
        vec![parse_lock_path(input, kind)?]
    };
    let names: Vec<String> = paths.iter().map(lock_identity).collect();
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

/// One lock of `lock = ...`: a path without generics, as any static can be
/// named (`name`, `self::NAME`, `super::NAME`, `crate::a::b::NAME`, `::dep::NAME`).
fn parse_lock_path(input: ParseStream, kind: LockKind) -> Result<Path> {
    let starts_like_a_path = input.peek(syn::Ident::peek_any) || input.peek(Token![::]);
    let path = if starts_like_a_path {
        input.call(Path::parse_mod_style).ok()
    } else {
        None
    };
    let Some(path) = path else {
        return Err(syn::Error::new(
            input.span(),
            format!(
                "`lock` takes a field name, a list of them or a static's path, as in \
                 #[{name}(lock = name)], #[{name}(lock = [a, b])] or #[{name}(lock = crate::LOCK)]",
                name = kind.name(),
            ),
        ));
    };
    if input.peek(Token![.]) {
        return Err(syn::Error::new(
            input.span(),
            format!(
                "name the field alone: #[{}(lock = field)] locks `self.field`",
                kind.name()
            ),
        ));
    }
    Ok(path)
}

/// How a lock is written, for telling when two names are the same lock:
/// `self::X` and `X` are.
pub(crate) fn lock_identity(path: &Path) -> String {
    let text = path.to_token_stream().to_string().replace(' ', "");
    text.strip_prefix("self::")
        .map(str::to_owned)
        .unwrap_or(text)
}

fn expect_eq(input: ParseStream, key: &str, key_span: Span, kind: LockKind) -> Result<()> {
    if input.peek(Token![=]) && !input.peek(Token![==]) {
        input.parse::<Token![=]>()?;
        return Ok(());
    }
    let example = match key {
        "lock" => "lock = name",
        "name" => "name = \"app\"",
        "timeout" => "timeout = Duration::from_secs(1)",
        "blocking" => "blocking = false",
        "crate" => "crate = ::fasteners",
        _ => "on_wait = |path| eprintln!(\"waiting for {}\", path.display())",
    };
    // After a lone key (`#[locked(blocking)]`) the key itself is at fault.
    let span = if input.is_empty() || input.peek(Token![,]) {
        key_span
    } else {
        input.span()
    };
    Err(syn::Error::new(
        span,
        format!(
            "expected `=` after `{key}`, as in #[{}({example})]",
            kind.name()
        ),
    ))
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

/// An option this attribute does not take: which one was meant, or where it belongs.
fn unknown_key(kind: LockKind, key: &syn::Ident) -> syn::Error {
    let name = key.unraw().to_string();
    let other_side = match name.as_str() {
        "lock" => Some("`lock = ...` names an in-process lock; a file lock is named by its path or `name = ...`"),
        "name" | "on_wait" => Some("a key or `on_wait` belongs to the file-lock attributes (#[interprocess_locked] and its read/write forms)"),
        "path" | "file" => Some("give the path alone, first"),
        _ => None,
    };
    let hint = match (did_you_mean(&name, kind.keys()), other_side) {
        (Some(close), _) => format!("did you mean `{close}`? "),
        (None, Some(why)) => format!("{why}; "),
        (None, None) => String::new(),
    };
    syn::Error::new(
        key.span(),
        format!(
            "unknown argument `{name}` in #[{}]; {hint}expected {}",
            kind.name(),
            kind.forms()
        ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use LockKind::{InterprocessLocked, Locked};

    fn parse(kind: LockKind, args: &str) -> Result<Args> {
        Args::parse(kind, args.parse().unwrap(), Span::call_site())
    }

    /// The message of the error `#[kind(args)]` is.
    fn error(kind: LockKind, args: &str) -> String {
        match parse(kind, args) {
            Ok(_) => panic!("#[{}({args})] was taken", kind.name()),
            Err(err) => err.to_string(),
        }
    }

    /// What the arguments name: `file <path>`, `key <name>`, `fields <a, b>`
    /// or `self.lock`.
    fn lock_of(kind: LockKind, args: &str) -> String {
        let parsed =
            parse(kind, args).unwrap_or_else(|err| panic!("#[{}({args})]: {err}", kind.name()));
        match parsed.locks {
            Locks::File(path) => format!("file {}", path.to_token_stream()),
            Locks::Key(name) => format!("key {}", name.to_token_stream()),
            Locks::Named(paths) => {
                let names: Vec<String> = paths.iter().map(lock_identity).collect();
                format!("fields {}", names.join(", "))
            }
            Locks::DefaultField(_) => "self.lock".to_owned(),
        }
    }

    #[test]
    fn each_attribute_is_known_by_its_name() {
        for kind in LockKind::ALL {
            assert!(LockKind::from_name(kind.name()) == Some(kind));
        }
        assert!(LockKind::from_name("lock").is_none());
    }

    #[test]
    fn a_file_locks_first_argument_is_its_path_unless_it_is_an_option() {
        let cases = [
            (r#""/tmp/a.lock""#, r#"file "/tmp/a.lock""#),
            (r#""/tmp/a.lock", returns_result"#, r#"file "/tmp/a.lock""#),
            ("lock_path(\"a\"), timeout = t", "file lock_path (\"a\")"),
            // A path that merely starts with the flag's name.
            ("returns_result::PATH", "file returns_result :: PATH"),
            ("returns_result.path()", "file returns_result . path ()"),
            (r#"name = "db""#, r#"key "db""#),
            (r#"timeout = t, name = "db""#, r#"key "db""#),
        ];
        for (args, expected) in cases {
            assert_eq!(lock_of(InterprocessLocked, args), expected, "{args}");
        }
        let no_path = "needs the lock file's path first";
        for args in ["", "returns_result", "returns_result, timeout = t"] {
            assert!(error(InterprocessLocked, args).contains(no_path), "{args}");
        }
    }

    #[test]
    fn an_in_process_lock_takes_no_path() {
        assert_eq!(lock_of(Locked, ""), "self.lock");
        assert_eq!(lock_of(Locked, "lock = [a, self::B]"), "fields a, B");
        assert!(error(Locked, "LOCK").starts_with("unknown argument `LOCK` in #[locked]"));
    }

    /// Each option: the attribute that takes it, its key, one use, and
    /// the example its message gives after a missing `=` (if it takes a value).
    const OPTIONS: [(LockKind, &str, &str, Option<&str>); 7] = [
        (Locked, "lock", "lock = a", Some("lock = name")),
        (
            Locked,
            "timeout",
            "timeout = t",
            Some("timeout = Duration::from_secs(1)"),
        ),
        (
            Locked,
            "blocking",
            "blocking = true",
            Some("blocking = false"),
        ),
        (Locked, "returns_result", "returns_result", None),
        (
            Locked,
            "crate",
            "crate = ::fasteners",
            Some("crate = ::fasteners"),
        ),
        (
            InterprocessLocked,
            "name",
            r#"name = "a""#,
            Some(r#"name = "app""#),
        ),
        (
            InterprocessLocked,
            "on_wait",
            "on_wait = report",
            Some("on_wait = |path|"),
        ),
    ];

    #[test]
    fn each_option_is_taken_once() {
        for (kind, key, option, _) in OPTIONS {
            let message = error(kind, &format!("{option}, {option}"));
            assert!(
                message.starts_with(&format!("duplicate `{key}`")),
                "{message}"
            );
        }
    }

    #[test]
    fn options_keep_their_values() {
        let args = parse(
            InterprocessLocked,
            r#"name = "db", crate = ::my::fasteners, on_wait = report, returns_result"#,
        )
        .unwrap();
        assert!(matches!(&args.locks, Locks::Key(_)));
        let krate = args
            .krate
            .as_ref()
            .map(|path| path.to_token_stream().to_string());
        assert_eq!(krate.as_deref(), Some(":: my :: fasteners"));
        let on_wait = args
            .on_wait
            .as_ref()
            .map(|expr| expr.to_token_stream().to_string());
        assert_eq!(on_wait.as_deref(), Some("report"));
        assert!(args.returns_result.is_some());
        let quoted = parse(Locked, r#"crate = "my::fasteners""#).unwrap();
        let krate = quoted.krate.map(|path| path.to_token_stream().to_string());
        assert_eq!(krate.as_deref(), Some("my :: fasteners"));
    }

    #[test]
    fn a_timeout_excludes_not_blocking_in_either_order() {
        for args in [
            "timeout = t, blocking = false",
            "blocking = false, timeout = t",
        ] {
            assert!(error(Locked, args).contains("exclude each other"), "{args}");
        }
        let blocking = parse(Locked, "timeout = t, blocking = true").unwrap();
        assert!(matches!(blocking.wait, Wait::Timeout(..)));
        let non_blocking = parse(Locked, "blocking = false").unwrap();
        assert!(matches!(non_blocking.wait, Wait::NonBlocking(_)));
    }

    #[test]
    fn a_key_without_equals_is_shown_how_to_write_it() {
        let keys = OPTIONS
            .iter()
            .filter_map(|&(kind, key, _, example)| Some((kind, key, example?)));
        for (kind, key, example) in keys {
            // (A file lock's first argument without `=` is its path.)
            let path = if kind.is_interprocess() {
                r#""/a", "#
            } else {
                ""
            };
            for args in [
                format!("{path}{key}"),
                format!("{path}{key} x"),
                format!("{path}{key} == x"),
            ] {
                let message = error(kind, &args);
                let expected = format!(
                    "expected `=` after `{key}`, as in #[{}({example}",
                    kind.name()
                );
                assert!(message.starts_with(&expected), "{args}: {message}");
            }
        }
    }

    #[test]
    fn an_option_of_the_other_attributes_says_where_it_belongs() {
        let cases = [
            (
                InterprocessLocked,
                r#""/a", lock = x"#,
                "names an in-process lock",
            ),
            (
                Locked,
                r#"name = "a""#,
                "belongs to the file-lock attributes",
            ),
            (Locked, "on_wait = f", "belongs to the file-lock attributes"),
            (
                InterprocessLocked,
                r#"path = "/a""#,
                "give the path alone, first",
            ),
            (
                InterprocessLocked,
                r#"file = "/a""#,
                "give the path alone, first",
            ),
        ];
        for (kind, args, hint) in cases {
            assert!(error(kind, args).contains(hint), "{args}");
        }
    }

    #[test]
    fn a_misuse_lists_the_valid_forms() {
        let message = error(Locked, "lokc = a");
        assert!(message.contains("did you mean `lock`?"), "{message}");
        assert!(message.contains("#[locked(lock = field)], #[locked(lock = [a, b])]"));
        let message = error(InterprocessLocked, r#""/a", 42"#);
        assert!(
            message.contains(r#"#[interprocess_locked("/tmp/app.lock")] or"#),
            "{message}"
        );
    }
}
