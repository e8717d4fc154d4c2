//! Code generation: wraps the function body in the guards of its locks.

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{AttrStyle, Block, Expr, FnArg, ItemFn, Pat, Path, ReturnType, Signature, Stmt, Type};

use crate::args::{Args, LockKind, Locks, Side, Wait};

/// Expands one attribute; on a mistake, emits the error *and* the untouched
/// function, so that one typo gives one error rather than a cascade.
pub(crate) fn attribute(kind: LockKind, args: TokenStream, item: TokenStream) -> TokenStream {
    match expand(kind, args, item.clone()) {
        Ok(tokens) => tokens,
        Err(err) => {
            let mut tokens = err.to_compile_error();
            tokens.extend(item);
            tokens
        }
    }
}

// Input:
//     #[locked(lock = [a, b])]
//     #[inline]
//     pub fn f(&self, x: u32) -> u32 { #![allow(unused)] body }
// Output:
//     #[inline]
//     pub fn f(&self, x: u32) -> u32 {
//         #![allow(unused)]
//         let __fasteners_guard_0 = /* take self.a, see `acquire` */;
//         let __fasteners_guard_1 = /* take self.b */;
//         { body }
//     }
// The guards drop in reverse order of declaration, after the body's value is
// computed: on return, on `?`, on panic.
fn expand(kind: LockKind, args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = Args::parse(kind, args)?;
    let func: ItemFn = syn::parse2(item).map_err(|err| {
        syn::Error::new(
            err.span(),
            format!(
                "#[{}] goes on a function or method with a body ({err})",
                kind.name()
            ),
        )
    })?;
    check_signature(kind, &args, &func.sig)?;

    let acquire = acquire(kind, &args, &func.sig);
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let outer = attrs.iter().filter(|a| matches!(a.style, AttrStyle::Outer));
    let inner = attrs
        .iter()
        .filter(|a| matches!(a.style, AttrStyle::Inner(_)));
    let (earlier_guards, nested) = split_earlier_guards(&block);
    let mut body = Group::new(
        Delimiter::Brace,
        quote! {
            #(#inner)*
            #(#earlier_guards)*
            #acquire
            #nested
        },
    );
    body.set_span(block.brace_token.span.join());
    Ok(quote!(#(#outer)* #vis #sig #body))
}

// Input (the output of an attribute stacked above this one, which expanded first):
//     #[read_locked(lock = b)]
//     fn f(&self) { let __fasteners_guard = /* take self.a */; { body } }
// Output:
//     fn f(&self) {
//         let __fasteners_guard = /* take self.a */;
//         let __fasteners_guard = /* take self.b */;  // a distinct, hygienic binding
//         { body }
//     }
// Attribute macros expand from the top down, each seeing the ones below it
// in its input; putting this attribute's guards *after* those of the
// attributes above keeps the order of stacked Python decorators: the top
// lock is taken first and released last.
fn split_earlier_guards(block: &Block) -> (&[Stmt], TokenStream) {
    let Some((Stmt::Expr(Expr::Block(nested), None), guards)) = block.stmts.split_last() else {
        return (&[], nested_body(block));
    };
    let is_ours = |stmt: &Stmt| match stmt {
        Stmt::Local(local) => matches!(
            &local.pat,
            Pat::Ident(pat) if pat.ident.to_string().starts_with("__fasteners_")
        ),
        _ => false,
    };
    if !guards.is_empty() && guards.iter().all(is_ours) {
        (guards, nested.to_token_stream())
    } else {
        (&[], nested_body(block))
    }
}

/// The user's body as the nested block `{ body }`. Its braces are the
/// macro's (mixed-site), located at the user's braces: rustc then does not
/// take them for braces the user wrote around a lone expression
/// (`unused_braces` on a one-line body such as `{ self.value }`), and its
/// diagnostics still point at the body.
fn nested_body(block: &Block) -> TokenStream {
    let stmts = &block.stmts;
    let mut nested = Group::new(Delimiter::Brace, quote!(#(#stmts)*));
    nested.set_span(Span::mixed_site().located_at(block.brace_token.span.join()));
    nested.into_token_stream()
}

/// Rejects what the expansion cannot honour, pointing at the offending token.
fn check_signature(kind: LockKind, args: &Args, sig: &Signature) -> syn::Result<()> {
    let name = kind.name();
    if let Some(constness) = &sig.constness {
        return Err(syn::Error::new_spanned(
            constness,
            format!(
                "#[{name}] cannot go on a `const fn`: a lock is taken at run time; remove `const`"
            ),
        ));
    }
    if let Locks::DefaultField(span) = args.locks {
        if sig.receiver().is_none() {
            return Err(syn::Error::new(
                span,
                format!(
                    "#[{name}] without `lock = ...` locks the field `self.lock`, but `{}` has no `self`; \
                     name a static lock instead: #[{name}(lock = MY_LOCK)]",
                    sig.ident
                ),
            ));
        }
    }
    if let Locks::File(path) = &args.locks {
        check_path_is_static(kind, path, sig)?;
    }
    if result_type(sig).is_none() {
        if let Some((span, option)) = args.wait.option_span() {
            return Err(syn::Error::new(
                span,
                format!(
                    "#[{name}({option})] may not get the lock, so `{}` must return \
                     `Result<_, E>` with `E: From<fasteners::Error>` \
                     (e.g. `fasteners::Result<_>` or `std::io::Result<_>`)",
                    sig.ident
                ),
            ));
        }
    }
    Ok(())
}

/// The path expression is evaluated in a static initializer, once: rustc's
/// own error for a parameter there ("attempt to use a non-constant value in
/// a constant") would not say why.
fn check_path_is_static(kind: LockKind, path: &Expr, sig: &Signature) -> syn::Result<()> {
    let mut parameters: Vec<Ident> = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => {
                parameters.push(Ident::new("self", receiver.self_token.span));
            }
            FnArg::Typed(typed) => collect_idents(typed.pat.to_token_stream(), &mut parameters),
        }
    }
    let mut used = Vec::new();
    collect_idents(path.to_token_stream(), &mut used);
    match used.iter().find(|ident| parameters.contains(ident)) {
        Some(parameter) => Err(syn::Error::new(
            parameter.span(),
            format!(
                "#[{name}] evaluates the path once, on the first call, so it cannot use the \
                 parameter `{parameter}`; use a constant, a static or a function call, \
                 as in #[{name}(std::env::temp_dir().join(\"app.lock\"))]",
                name = kind.name(),
            ),
        )),
        None => Ok(()),
    }
}

/// The identifiers of `tokens` that can name a local: not a field or method
/// (after `.`), not a path's leading segment (before `::`).
fn collect_idents(tokens: TokenStream, out: &mut Vec<Ident>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, token) in tokens.iter().enumerate() {
        let is_punct = |j: Option<usize>, c: char| matches!(j.and_then(|j| tokens.get(j)), Some(TokenTree::Punct(p)) if p.as_char() == c);
        let after_dot = is_punct(i.checked_sub(1), '.');
        let before_colons = is_punct(Some(i + 1), ':');
        match token {
            TokenTree::Group(group) => collect_idents(group.stream(), out),
            TokenTree::Ident(ident) if !after_dot && !before_colons => out.push(ident.clone()),
            _ => {}
        }
    }
}

/// The return type if it is syntactically a `Result` (`Result<T, E>`,
/// `io::Result<T>`, `fasteners::Result<T>`): the lock's error then goes out
/// through `?`; any other function panics instead.
fn result_type(sig: &Signature) -> Option<&Type> {
    let ReturnType::Type(_, ty) = &sig.output else {
        return None;
    };
    match &**ty {
        Type::Path(path)
            if path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "Result") =>
        {
            Some(ty)
        }
        _ => None,
    }
}

/// One lock to take: where it is, how to name it in a panic, where errors point.
struct Place {
    /// `&self.field`, `&path::TO::STATIC`, or a block giving the function's file lock.
    reference: TokenStream,
    description: String,
    span: Span,
}

// Input:
//     #[locked(lock = [a, crate::B], timeout = t)]
//     fn f(&self) -> io::Result<()> { body }
// Output (before the body):
//     let __fasteners_deadline = ::fasteners::__private::Deadline::after(t);
//     let __fasteners_guard_0 = match ::fasteners::TimedLockable::try_lock_for(
//         &self.a,
//         __fasteners_deadline.remaining(),
//     ) {
//         ::core::result::Result::Ok(g) => g,
//         ::core::result::Result::Err(e) => {
//             return ::core::result::Result::Err(::core::convert::From::from(e));
//         }
//     };
//     let __fasteners_guard_1 = /* the same for &crate::B */;
// A function that does not return a `Result` takes each lock with
// `::fasteners::__private::guard_or_panic(call, "#[locked] on `f` could not take `self.a`")`.
fn acquire(kind: LockKind, args: &Args, sig: &Signature) -> TokenStream {
    let places = places(kind, &args.locks, sig);
    let deadline = Ident::new("__fasteners_deadline", Span::mixed_site());
    let mut tokens = TokenStream::new();
    let timeout = match &args.wait {
        Wait::Timeout(_, expr) if places.len() > 1 => {
            tokens.extend(quote! {
                let #deadline = ::fasteners::__private::Deadline::after(#expr);
            });
            Some(quote!(#deadline.remaining()))
        }
        Wait::Timeout(_, expr) => Some(expr.to_token_stream()),
        Wait::Forever | Wait::NonBlocking(_) => None,
    };
    let non_blocking = matches!(args.wait, Wait::NonBlocking(_));
    let is_async = sig.asyncness.is_some();
    for (i, place) in places.iter().enumerate() {
        let guard = if places.len() == 1 {
            Ident::new("__fasteners_guard", Span::mixed_site())
        } else {
            format_ident!("__fasteners_guard_{}", i, span = Span::mixed_site())
        };
        let call = if is_async {
            async_lock_call(kind.side(), place, timeout.as_ref(), non_blocking)
        } else {
            lock_call(kind.side(), place, timeout.as_ref(), non_blocking)
        };
        let guarded = match result_type(sig) {
            // What `?` would do, spelled out so that an error type lacking
            // `From<fasteners::Error>` is reported at the return type (`?`
            // would report it at the attribute).
            Some(ty) => {
                let error = Ident::new("__fasteners_error", Span::mixed_site());
                let at_return_type = Span::mixed_site().located_at(ty.span());
                let converted = Ident::new("__fasteners_error", at_return_type);
                let from = quote_spanned!(at_return_type=> ::core::convert::From::from(#converted));
                quote! {
                    match #call {
                        ::core::result::Result::Ok(#guard) => #guard,
                        ::core::result::Result::Err(#error) => {
                            return ::core::result::Result::Err(#from);
                        }
                    }
                }
            }
            None => {
                let message = format!(
                    "#[{}] on `{}` could not take {}",
                    kind.name(),
                    sig.ident,
                    place.description
                );
                quote!(::fasteners::__private::guard_or_panic(#call, #message))
            }
        };
        tokens.extend(quote!(let #guard = #guarded;));
    }
    tokens
}

/// Resolves `lock = ...` by the documented rule: a single identifier in a
/// method with `self` is a field; any other path (or any path in a function
/// without `self`) is a static.
fn places(kind: LockKind, locks: &Locks, sig: &Signature) -> Vec<Place> {
    let has_self = sig.receiver().is_some();
    match locks {
        Locks::DefaultField(span) => vec![field(&Ident::new("lock", *span))],
        Locks::Named(paths) => paths
            .iter()
            .map(|path| match path.get_ident() {
                Some(ident) if has_self => field(ident),
                _ => static_item(path),
            })
            .collect(),
        Locks::File(path) => vec![file_lock(kind, path)],
    }
}

fn field(ident: &Ident) -> Place {
    let span = ident.span();
    Place {
        reference: quote_spanned!(span=> &self.#ident),
        description: format!("`self.{ident}`"),
        span,
    }
}

// Input:
//     #[locked(lock = self::LOCK)]
// Output (the lock reference):
//     {
//         use self::LOCK as __fasteners_static;
//         &__fasteners_static
//     }
// Imported rather than written `&self::LOCK`: the `self::` that names a
// static from a method would trip `unused_qualifications` in an expression,
// and its suggested fix would turn the static into a field. A single name
// is written `&LOCK`, which also lets a free function lock a parameter.
fn static_item(path: &Path) -> Place {
    let span = path.span();
    let alias = Ident::new("__fasteners_static", Span::mixed_site().located_at(span));
    let reference = if path.get_ident().is_some() {
        // A single name: a static, or a parameter of the function.
        quote_spanned!(span=> &#path)
    } else {
        quote_spanned! {span=>
            {
                use #path as #alias;
                &#alias
            }
        }
    };
    Place {
        reference,
        description: format!("`{}`", path.to_token_stream().to_string().replace(' ', "")),
        span,
    }
}

// Input:
//     #[interprocess_read_locked(path_expr)]
// Output (the lock reference):
//     {
//         static __FASTENERS_LOCK: ::fasteners::__private::LazyLock<
//             ::fasteners::InterProcessReaderWriterLock,
//         > = ::fasteners::__private::LazyLock::new(|| {
//             ::fasteners::InterProcessReaderWriterLock::new(path_expr)
//         });
//         ::fasteners::__private::LazyLock::force(&__FASTENERS_LOCK)
//     }
// One lock object per annotated function, created on the first call. Being a
// static initializer, `path_expr` cannot use the function's parameters,
// generics or `Self`: a compile error rather than a path silently fixed by
// whichever call came first.
fn file_lock(kind: LockKind, path: &Expr) -> Place {
    let span = path.span();
    let lock_type = match kind.side() {
        Side::Exclusive => quote_spanned!(span=> ::fasteners::InterProcessLock),
        Side::Read | Side::Write => {
            quote_spanned!(span=> ::fasteners::InterProcessReaderWriterLock)
        }
    };
    let lock = Ident::new("__FASTENERS_LOCK", Span::mixed_site());
    Place {
        reference: quote_spanned! {span=>
            {
                static #lock: ::fasteners::__private::LazyLock<#lock_type> =
                    ::fasteners::__private::LazyLock::new(|| #lock_type::new(#path));
                ::fasteners::__private::LazyLock::force(&#lock)
            }
        },
        description: "its lock file".to_owned(),
        span,
    }
}

/// The trait call taking one lock. Absolute trait paths rather than method
/// syntax: std's `Mutex` has inherent `lock`/`try_lock` that method syntax
/// would pick; and a field that is not a lock gets a plain "trait bound not
/// satisfied" error pointing at the attribute's argument.
fn lock_call(
    side: Side,
    place: &Place,
    timeout: Option<&TokenStream>,
    non_blocking: bool,
) -> TokenStream {
    let Place {
        reference, span, ..
    } = place;
    match (side, timeout, non_blocking) {
        (Side::Exclusive, Some(timeout), _) => {
            quote_spanned!(*span=> ::fasteners::TimedLockable::try_lock_for(#reference, #timeout))
        }
        (Side::Exclusive, None, true) => {
            quote_spanned!(*span=> ::fasteners::Lockable::try_lock(#reference))
        }
        (Side::Exclusive, None, false) => {
            quote_spanned!(*span=> ::fasteners::Lockable::lock(#reference))
        }
        (Side::Read, Some(timeout), _) => quote_spanned! {*span=>
            ::fasteners::SharedTimedLockable::try_lock_shared_for(#reference, #timeout)
        },
        (Side::Read, None, true) => {
            quote_spanned!(*span=> ::fasteners::SharedLockable::try_lock_shared(#reference))
        }
        (Side::Read, None, false) => {
            quote_spanned!(*span=> ::fasteners::SharedLockable::lock_shared(#reference))
        }
        // The write side is the `Lockable` part of a `SharedLockable`; the
        // helpers require `SharedLockable` so that `#[write_locked]` on a
        // plain mutex is an error, not a silent `#[locked]`.
        (Side::Write, Some(timeout), _) => quote_spanned! {*span=>
            ::fasteners::__private::try_lock_write_for(#reference, #timeout)
        },
        (Side::Write, None, true) => {
            quote_spanned!(*span=> ::fasteners::__private::try_lock_write(#reference))
        }
        (Side::Write, None, false) => {
            quote_spanned!(*span=> ::fasteners::__private::lock_write(#reference))
        }
    }
}

// Input:
//     #[read_locked(lock = rw, timeout = t)]
//     async fn f(&self) -> fasteners::Result<()> { body }
// Output (the call in `acquire`, the rest as for a sync fn):
//     ::fasteners::AsyncSharedTimedLockable::lock_shared_async_for(&self.rw, t).await
// On an `async fn` the locks are taken through the async traits, awaited in
// the body: the task waits without blocking its thread, and the future is
// `Send` whenever the lock's future and guard are. `blocking = false` needs
// no waiting, so its call is not awaited. A lock without the async traits
// (std's `Mutex`) fails the trait bound, whose message says why.
fn async_lock_call(
    side: Side,
    place: &Place,
    timeout: Option<&TokenStream>,
    non_blocking: bool,
) -> TokenStream {
    let Place {
        reference, span, ..
    } = place;
    match (side, timeout, non_blocking) {
        (Side::Exclusive, Some(timeout), _) => quote_spanned! {*span=>
            ::fasteners::AsyncTimedLockable::lock_async_for(#reference, #timeout).await
        },
        (Side::Exclusive, None, true) => {
            quote_spanned!(*span=> ::fasteners::AsyncLockable::try_lock_async(#reference))
        }
        (Side::Exclusive, None, false) => {
            quote_spanned!(*span=> ::fasteners::AsyncLockable::lock_async(#reference).await)
        }
        (Side::Read, Some(timeout), _) => quote_spanned! {*span=>
            ::fasteners::AsyncSharedTimedLockable::lock_shared_async_for(#reference, #timeout).await
        },
        (Side::Read, None, true) => quote_spanned! {*span=>
            ::fasteners::AsyncSharedLockable::try_lock_shared_async(#reference)
        },
        (Side::Read, None, false) => quote_spanned! {*span=>
            ::fasteners::AsyncSharedLockable::lock_shared_async(#reference).await
        },
        (Side::Write, Some(timeout), _) => quote_spanned! {*span=>
            ::fasteners::__private::lock_write_async_for(#reference, #timeout).await
        },
        (Side::Write, None, true) => {
            quote_spanned!(*span=> ::fasteners::__private::try_lock_write_async(#reference))
        }
        (Side::Write, None, false) => {
            quote_spanned!(*span=> ::fasteners::__private::lock_write_async(#reference).await)
        }
    }
}
