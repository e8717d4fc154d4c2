//! What the expansion cannot honour, rejected before any code is generated,
//! each error pointing at the offending token and saying what to write.

use proc_macro2::{Ident, Span, TokenStream};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::{Attribute, Expr, FnArg, Item, Meta, ReturnType, Signature, Type};

use crate::args::{lock_identity, Args, LockKind, Locks};

/// `const fn`, an option that can fail on a function that cannot say so,
/// `returns_result` on a function returning nothing.
pub(crate) fn signature(kind: LockKind, args: &Args, sig: &Signature) -> syn::Result<()> {
    let name = kind.name();
    if let Some(constness) = &sig.constness {
        return Err(syn::Error::new_spanned(
            constness,
            format!(
                "#[{name}] cannot go on a `const fn`: a lock is taken at run time; remove `const`"
            ),
        ));
    }
    if let (Some(span), ReturnType::Default) = (args.returns_result, &sig.output) {
        return Err(syn::Error::new(
            span,
            format!(
                "`returns_result` says that `{}` returns a `Result`, but it returns nothing; \
                 give it a return type such as `fasteners::Result<()>`, or remove `returns_result`",
                sig.ident
            ),
        ));
    }
    if result_type(args.returns_result, sig).is_none() {
        if let Some((span, option)) = args.wait.option_span() {
            return Err(syn::Error::new(
                span,
                format!(
                    "#[{name}({option})] may not get the lock, so `{}` must return \
                     `Result<_, E>` with `E: From<fasteners::Error>` \
                     (e.g. `fasteners::Result<_>` or `std::io::Result<_>`); if it returns one \
                     under another name (a type alias), say so with `returns_result`: \
                     #[{name}({option}, returns_result)]",
                    sig.ident
                ),
            ));
        }
    }
    Ok(())
}

pub(crate) fn default_field_without_self(
    kind: LockKind,
    span: Span,
    sig: &Signature,
) -> syn::Error {
    let name = kind.name();
    syn::Error::new(
        span,
        format!(
            "#[{name}] without `lock = ...` locks the field `self.lock`, but `{}` has no `self`; \
             name a static lock instead: #[{name}(lock = MY_LOCK)]",
            sig.ident
        ),
    )
}

/// The return type if the lock's error can go out through it: a type
/// written as a `Result` (`Result<T, E>`, `io::Result<T>`,
/// `fasteners::Result<T>`), or any type with `returns_result`. Any other
/// function panics instead.
pub(crate) fn result_type(returns_result: Option<Span>, sig: &Signature) -> Option<&Type> {
    let ReturnType::Type(_, ty) = &sig.output else {
        return None;
    };
    let spelled_result = match &**ty {
        Type::Path(path) => {
            path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "Result")
        }
        _ => false,
    };
    (spelled_result || returns_result.is_some()).then_some(&**ty)
}

/// The names the parameters of `sig` bind, `self` included.
pub(crate) fn parameters(sig: &Signature) -> Vec<Ident> {
    let mut names = Names::default();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => names
                .bound
                .push(Ident::new("self", receiver.self_token.span)),
            FnArg::Typed(typed) => names.visit_pat(&typed.pat),
        }
    }
    names.bound
}

/// The names an expression binds (closure parameters, `let`s, patterns)
/// and the ones it reads.
#[derive(Default)]
struct Names {
    bound: Vec<Ident>,
    /// Single-segment value paths (`p`, `self`), not in call position.
    values: Vec<Ident>,
    /// The first segment of every path (`T` in `T::PATH`, `Self`).
    first_segments: Vec<Ident>,
}

impl<'ast> Visit<'ast> for Names {
    fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
        self.bound.push(pat.ident.clone());
        visit::visit_pat_ident(self, pat);
    }

    fn visit_expr_path(&mut self, expr: &'ast syn::ExprPath) {
        if expr.qself.is_none() {
            if let Some(ident) = expr.path.get_ident() {
                self.values.push(ident.clone());
            }
        }
        visit::visit_expr_path(self, expr);
    }

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        // `lock_path()` calls a function: its name is not a value.
        match &*call.func {
            Expr::Path(func) => {
                if let Some(qself) = &func.qself {
                    self.visit_qself(qself);
                }
                self.visit_path(&func.path);
                call.args.iter().for_each(|arg| self.visit_expr(arg));
            }
            _ => visit::visit_expr_call(self, call),
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if let Some(first) = path.segments.first() {
            self.first_segments.push(first.ident.clone());
        }
        visit::visit_path(self, path);
    }
}

/// The expressions of `#[interprocess_*]` run in a static initializer, once:
/// rustc's own errors for a parameter, a local of an enclosing function or a
/// generic there (E0434, E0435, E0401) speak of constants and of a static
/// the user never wrote.
pub(crate) fn static_expressions(
    kind: LockKind,
    args: &Args,
    sig: Option<&Signature>,
) -> syn::Result<()> {
    let mut exprs: Vec<(&Expr, &str, bool)> = Vec::new();
    match &args.locks {
        Locks::File(path) => exprs.push((path, "path", true)),
        Locks::Key(name) => exprs.push((name, "name", true)),
        Locks::DefaultField(_) | Locks::Named(_) => {}
    }
    // A function's name is a fine `on_wait` value: only parameters are sure there.
    if let Some(on_wait) = &args.on_wait {
        exprs.push((on_wait, "`on_wait` callback", false));
    }
    let parameters = sig.map(parameters).unwrap_or_default();
    let generics: Vec<Ident> = sig
        .map(|sig| {
            sig.generics
                .params
                .iter()
                .filter_map(|param| match param {
                    syn::GenericParam::Type(ty) => Some(ty.ident.clone()),
                    syn::GenericParam::Const(c) => Some(c.ident.clone()),
                    syn::GenericParam::Lifetime(_) => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let name = kind.name();
    for (expr, what, lower_case_is_local) in exprs {
        let example = match what {
            "path" => format!("#[{name}(std::env::temp_dir().join(\"app.lock\"))]"),
            "name" => format!("#[{name}(name = \"app\")] or #[{name}(name = APP_NAME)]"),
            _ => format!("#[{name}(\"/tmp/app.lock\", on_wait = fasteners::notice::cargo_style)]"),
        };
        let mut names = Names::default();
        names.visit_expr(expr);
        for value in &names.values {
            if parameters.contains(value) || value == "self" {
                return Err(syn::Error::new(
                    value.span(),
                    format!(
                        "#[{name}] evaluates the {what} once, on the first call, so it cannot use the \
                         parameter `{value}`; use a constant, a static or a function call, \
                         as in {example}",
                    ),
                ));
            }
            let text = value.to_string();
            let looks_local = text.starts_with(|c: char| c.is_lowercase() || c == '_');
            if lower_case_is_local && looks_local && !names.bound.contains(value) {
                return Err(syn::Error::new(
                    value.span(),
                    format!(
                        "#[{name}] evaluates the {what} once, on the first call, in a static of its own, \
                         so the {what} must not use locals or parameters, and `{value}` looks like one \
                         (statics and constants are named in upper case); use a constant, a static \
                         or a function call, as in {example}",
                    ),
                ));
            }
        }
        for first in &names.first_segments {
            if first == "Self" {
                return Err(syn::Error::new(
                    first.span(),
                    format!(
                        "#[{name}] evaluates the {what} once, in a static of its own, so it cannot \
                         use `Self`; name the type, as in #[{name}(Service::LOCK_PATH)]",
                    ),
                ));
            }
            if generics.contains(first) {
                return Err(syn::Error::new(
                    first.span(),
                    format!(
                        "#[{name}] evaluates the {what} once, in one static for every instance of \
                         the function, so it cannot use the generic parameter `{first}`; \
                         use a path that does not depend on it",
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Stacked attributes that take a lock already taken by this one (which
/// is above them, or on the enclosing module): they would deadlock, or fail
/// at run time with `WouldDeadlock`. Only locks written the same way are seen.
pub(crate) fn stacked(
    kind: LockKind,
    args: &Args,
    attrs: &[Attribute],
    has_self: bool,
) -> syn::Result<()> {
    let taken = identities(&args.locks, has_self);
    for attr in attrs {
        let Some(other) = attr
            .path()
            .segments
            .last()
            .and_then(|segment| LockKind::from_name(&segment.ident.to_string()))
        else {
            continue;
        };
        let tokens = match &attr.meta {
            Meta::Path(_) => TokenStream::new(),
            Meta::List(list) => list.tokens.clone(),
            Meta::NameValue(_) => continue,
        };
        // An attribute with a mistake of its own reports it when it expands.
        let name_span = attr
            .path()
            .segments
            .last()
            .map_or(attr.span(), |s| s.ident.span());
        let Ok(other_args) = Args::parse(other, tokens, name_span) else {
            continue;
        };
        for (identity, description, span) in identities(&other_args.locks, has_self) {
            if taken.iter().any(|(taken, _, _)| *taken == identity) {
                return Err(syn::Error::new(
                    span,
                    format!(
                        "{description} is already taken by #[{}]; taking it again in #[{}] would \
                         deadlock (or fail at run time): remove one of the two attributes",
                        kind.name(),
                        other.name()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Each lock of `locks`: how it is written, how to name it, where it is.
fn identities(locks: &Locks, has_self: bool) -> Vec<(String, String, Span)> {
    match locks {
        Locks::DefaultField(span) => vec![(
            "field lock".to_owned(),
            "the field `self.lock`".to_owned(),
            *span,
        )],
        Locks::Named(paths) => paths
            .iter()
            .map(|path| match path.get_ident() {
                Some(ident) if has_self => (
                    format!("field {ident}"),
                    format!("the field `self.{ident}`"),
                    ident.span(),
                ),
                _ => {
                    let written = lock_identity(path);
                    (
                        format!("static {written}"),
                        format!("the lock `{written}`"),
                        path.span(),
                    )
                }
            })
            .collect(),
        Locks::File(path) => {
            let written = path.to_token_stream().to_string();
            vec![(
                format!("file {written}"),
                format!("the lock file {written}"),
                path.span(),
            )]
        }
        Locks::Key(name) => {
            let written = name.to_token_stream().to_string();
            vec![(
                format!("name {written}"),
                format!("the lock named {written}"),
                name.span(),
            )]
        }
    }
}

/// An item that is neither a function nor a module.
pub(crate) fn not_a_function(kind: LockKind, item: &Item) -> syn::Error {
    let (what, span) = match item {
        Item::Const(item) => ("a constant", item.const_token.span),
        Item::Enum(item) => ("an enum", item.enum_token.span),
        Item::ExternCrate(item) => ("an `extern crate`", item.extern_token.span),
        Item::ForeignMod(item) => ("an `extern` block", item.abi.extern_token.span),
        Item::Impl(item) => ("an `impl` block", item.impl_token.span),
        Item::Macro(item) => ("a macro", item.mac.path.span()),
        Item::Static(item) => ("a static", item.static_token.span),
        Item::Struct(item) => ("a struct", item.struct_token.span),
        Item::Trait(item) => ("a trait", item.trait_token.span),
        Item::TraitAlias(item) => ("a trait alias", item.trait_token.span),
        Item::Type(item) => ("a type alias", item.type_token.span),
        Item::Union(item) => ("a union", item.union_token.span),
        Item::Use(item) => ("a `use`", item.use_token.span),
        _ => ("this item", item.span()),
    };
    let advice = if matches!(item, Item::Impl(_) | Item::Trait(_)) {
        "; put it on each method instead"
    } else {
        ""
    };
    syn::Error::new(
        span,
        format!(
            "#[{}] goes on a function or method with a body, or on an inline module of them, \
             not on {what}{advice}",
            kind.name()
        ),
    )
}

/// An item syn keeps as tokens: a method without a body, most often.
pub(crate) fn verbatim_item(kind: LockKind, tokens: TokenStream) -> syn::Error {
    match syn::parse2::<syn::TraitItemFn>(tokens.clone()) {
        Ok(method) if method.default.is_none() => syn::Error::new(
            method
                .semi_token
                .map_or_else(|| method.sig.span(), |semi| semi.span),
            format!(
                "#[{}] goes on a function or method with a body; `{}` has none here: \
                 put the attribute on the implementations",
                kind.name(),
                method.sig.ident
            ),
        ),
        _ => syn::Error::new(
            tokens.span(),
            format!(
                "#[{}] goes on a function or method with a body, or on an inline module of them",
                kind.name()
            ),
        ),
    }
}

/// Tokens that are not an item (a closure, a statement).
pub(crate) fn not_an_item(kind: LockKind, tokens: TokenStream) -> syn::Error {
    let what = if syn::parse2::<syn::ExprClosure>(tokens.clone()).is_ok() {
        "a closure; call a locked function from the closure instead"
    } else {
        "this"
    };
    syn::Error::new(
        tokens.span(),
        format!(
            "#[{}] goes on a function or method with a body, or on an inline module of them, \
             not on {what}",
            kind.name()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error `static_expressions` finds in `#[interprocess_locked(args)]`
    /// on a function with signature `sig`, if any.
    fn static_error(args: &str, sig: &str) -> Option<String> {
        let kind = LockKind::InterprocessLocked;
        let args = Args::parse(kind, args.parse().unwrap(), Span::call_site()).unwrap();
        let sig: Signature = syn::parse_str(sig).unwrap();
        static_expressions(kind, &args, Some(&sig))
            .err()
            .map(|err| err.to_string())
    }

    #[test]
    fn a_file_locks_expressions_use_nothing_of_the_call() {
        let sig = "fn run<T>(user: &str)";
        let fine = [
            r#""/a""#,
            "LOCK_PATH",
            r#"paths::lock_path("a")"#,
            r#"name = APP"#,
            r#""/a", on_wait = report"#,
            r#""/a", on_wait = |path| drop(path)"#,
        ];
        for args in fine {
            assert_eq!(static_error(args, sig), None, "{args}");
        }
        let refused = [
            ("lock_path(user)", "cannot use the parameter `user`"),
            ("scratch", "`scratch` looks like one"),
            (
                "scratch",
                r#"as in #[interprocess_locked(std::env::temp_dir().join("app.lock"))]"#,
            ),
            ("_scratch", "`_scratch` looks like one"),
            (r#""/a", on_wait = user"#, "the `on_wait` callback once"),
            (
                "name = user",
                r#"as in #[interprocess_locked(name = "app")] or"#,
            ),
            ("Self::PATH", "cannot use `Self`"),
            ("T::PATH", "the generic parameter `T`"),
        ];
        for (args, message) in refused {
            let error = static_error(args, sig).unwrap_or_else(|| panic!("{args} was taken"));
            assert!(error.contains(message), "{args}: {error}");
        }
    }

    #[test]
    fn an_item_that_is_not_a_function_is_named_in_the_error() {
        let items = [
            ("const C: u8 = 1;", "a constant"),
            ("enum E {}", "an enum"),
            ("extern crate std;", "an `extern crate`"),
            ("extern \"C\" {}", "an `extern` block"),
            (
                "impl S {}",
                "an `impl` block; put it on each method instead",
            ),
            ("m!();", "a macro"),
            ("static S: u8 = 1;", "a static"),
            ("struct S;", "a struct"),
            ("trait T {}", "a trait; put it on each method instead"),
            ("trait A = B;", "a trait alias"),
            ("type T = u8;", "a type alias"),
            ("union U { a: u8 }", "a union"),
            ("use std::io;", "a `use`"),
            ("mod m;", "this item"),
        ];
        for (source, what) in items {
            let item: Item = syn::parse_str(source).unwrap();
            let message = not_a_function(LockKind::Locked, &item).to_string();
            assert!(
                message.ends_with(&format!("not on {what}")),
                "{source}: {message}"
            );
        }
    }

    #[test]
    fn a_method_without_a_body_is_told_so() {
        let without = verbatim_item(LockKind::Locked, "fn run(&self);".parse().unwrap());
        assert!(
            without.to_string().contains("`run` has none here"),
            "{without}"
        );
        let with = verbatim_item(LockKind::Locked, "fn run(&self) {}".parse().unwrap());
        assert!(!with.to_string().contains("has none"), "{with}");
    }
}
