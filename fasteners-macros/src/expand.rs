//! Code generation: wraps a function body in the guards of its locks.

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{AttrStyle, Block, Expr, Item, ItemFn, Pat, Path, Signature, Stmt, Token};

use crate::args::{Args, Krate, LockKind, Locks, Side, Wait};
use crate::{check, module};

/// Expands one attribute; on a mistake, emits the error and the untouched
/// item (if it is one), so that one typo gives one error rather than a cascade.
pub(crate) fn attribute(kind: LockKind, args: TokenStream, item: TokenStream) -> TokenStream {
    match expand(kind, args, item.clone()) {
        Ok(tokens) => tokens,
        Err(err) => {
            let mut tokens = err.to_compile_error();
            // Tokens that are not an item would only be parsed again as
            // something else, with errors of their own.
            if syn::parse2::<Item>(item.clone()).is_ok() {
                tokens.extend(item);
            }
            tokens
        }
    }
}

fn expand(kind: LockKind, args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    // What the attribute is on comes first: on a closure or a struct, a
    // mistake in the arguments is beside the point.
    let target = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(func)) => Target::Function(Box::new(func)),
        Ok(Item::Mod(module)) => Target::Module(module),
        Ok(Item::Verbatim(tokens)) => return Err(check::verbatim_item(kind, tokens)),
        Ok(other) => return Err(check::not_a_function(kind, &other)),
        Err(_) => return Err(check::not_an_item(kind, item)),
    };
    let args = Args::parse(kind, args, Span::call_site())?;
    match target {
        Target::Function(func) => function(kind, &args, *func),
        Target::Module(module) => module::expand(kind, &args, module),
    }
}

/// What an attribute can go on.
enum Target {
    Function(Box<ItemFn>),
    Module(syn::ItemMod),
}

fn function(kind: LockKind, args: &Args, func: ItemFn) -> syn::Result<TokenStream> {
    let has_self = func.sig.receiver().is_some();
    check::signature(kind, args, &func.sig)?;
    check::static_expressions(kind, args, Some(&func.sig))?;
    check::stacked(kind, args, &func.attrs, has_self)?;
    let plan = Plan {
        kind,
        krate: args.krate(),
        wait: args.wait.clone(),
        returns_result: args.returns_result,
        places: places(kind, args, &func.sig)?,
        reentry: None,
    };
    Ok(wrap(&plan, func))
}

/// What one function's expansion takes, and how.
pub(crate) struct Plan {
    pub(crate) kind: LockKind,
    /// The path of the `fasteners` crate (`::fasteners`, or `crate = path`).
    pub(crate) krate: Krate,
    pub(crate) wait: Wait,
    pub(crate) returns_result: Option<Span>,
    pub(crate) places: Vec<Place>,
    /// For a module's lock: the static recording which threads hold it, so
    /// that a function of the module called from another one does not take
    /// it again.
    pub(crate) reentry: Option<TokenStream>,
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
pub(crate) fn wrap(plan: &Plan, func: ItemFn) -> TokenStream {
    let acquire = acquire(plan, &func.sig);
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
    quote!(#(#outer)* #vis #sig #body)
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

/// One lock to take: where it is, how to name it in a panic, where errors point.
#[derive(Clone)]
pub(crate) struct Place {
    /// `&self.field`, a `&'static` reference to a static, or a block giving
    /// the function's file lock.
    pub(crate) reference: TokenStream,
    pub(crate) description: String,
    pub(crate) span: Span,
}

// Input:
//     #[locked(lock = [a, crate::B], timeout = t)]
//     fn f(&self) -> io::Result<()> { body }
// Output (before the body):
//     let __fasteners_timeout = ::fasteners::__private::timeout(t);
//     let __fasteners_deadline = ::fasteners::__private::Deadline::after(__fasteners_timeout);
//     let __fasteners_guard_0 = match ::fasteners::TimedLockable::try_lock_for(
//         &self.a,
//         __fasteners_deadline.remaining(),
//     ) {
//         ::core::result::Result::Ok(g) => g,
//         ::core::result::Result::Err(e) => {
//             return ::core::result::Result::Err(::core::convert::From::from(e));
//         }
//     };
//     let __fasteners_guard_1 = /* the same for crate::B */;
// A function that does not return a `Result` takes each lock with
// `::fasteners::__private::guard_or_panic(call, "#[locked] on `f` could not take `self.a`")`.
// With a module's lock (`reentry`), the guards are taken only if this thread
// does not hold them yet:
//     let __fasteners_guards = if Holders::is_mine(&H) { None } else {
//         /* the lines above */
//         Some((Holders::enter(&H), __fasteners_guard_1, __fasteners_guard_0))
//     };
fn acquire(plan: &Plan, sig: &Signature) -> TokenStream {
    let Plan {
        kind,
        krate,
        places,
        ..
    } = plan;
    let mut tokens = TokenStream::new();
    let timeout = match &plan.wait {
        Wait::Timeout(_, expr) => {
            let timeout = Ident::new("__fasteners_timeout", Span::mixed_site());
            let span = expr.span();
            let krate = krate.at(span);
            tokens.extend(quote_spanned! {span=>
                let #timeout = #krate::__private::timeout(#expr);
            });
            if places.len() > 1 {
                let deadline = Ident::new("__fasteners_deadline", Span::mixed_site());
                tokens.extend(quote! {
                    let #deadline = #krate::__private::Deadline::after(#timeout);
                });
                Some(quote!(#deadline.remaining()))
            } else {
                Some(timeout.into_token_stream())
            }
        }
        Wait::Forever | Wait::NonBlocking(_) => None,
    };
    let non_blocking = matches!(plan.wait, Wait::NonBlocking(_));
    let is_async = sig.asyncness.is_some();
    let mut guards = Vec::new();
    for (i, place) in places.iter().enumerate() {
        let guard = if places.len() == 1 {
            Ident::new("__fasteners_guard", Span::mixed_site())
        } else {
            format_ident!("__fasteners_guard_{}", i, span = Span::mixed_site())
        };
        let call = Call {
            krate,
            side: kind.side(),
            place,
            timeout: timeout.as_ref(),
            non_blocking,
        };
        let call = if is_async {
            call.asynchronous()
        } else {
            call.synchronous()
        };
        let guarded = match check::result_type(plan.returns_result, sig) {
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
                quote!(#krate::__private::guard_or_panic(#call, #message))
            }
        };
        tokens.extend(quote!(let #guard = #guarded;));
        guards.push(guard);
    }
    match &plan.reentry {
        None => tokens,
        Some(holders) => {
            let all = Ident::new("__fasteners_guards", Span::mixed_site());
            guards.reverse();
            // The mark goes first in the tuple, so that it is dropped (this
            // thread no longer holds the lock) before the locks are released.
            quote! {
                let #all = if #krate::__private::Holders::is_mine(#holders) {
                    ::core::option::Option::None
                } else {
                    #tokens
                    ::core::option::Option::Some((
                        #krate::__private::Holders::enter(#holders),
                        #(#guards),*
                    ))
                };
            }
        }
    }
}

/// Resolves `lock = ...` by the documented rule: a single identifier in a
/// method with `self` is a field; any other path (or any path in a function
/// without `self`) is a static, or, for a single identifier in a function
/// without `self`, possibly a parameter.
fn places(kind: LockKind, args: &Args, sig: &Signature) -> syn::Result<Vec<Place>> {
    let krate = args.krate();
    let receiver = sig.receiver().map(|r| r.self_token);
    Ok(match &args.locks {
        Locks::DefaultField(span) => match receiver {
            Some(receiver) => vec![field(&Ident::new("lock", *span), receiver)],
            None => return Err(check::default_field_without_self(kind, *span, sig)),
        },
        Locks::Named(paths) => paths
            .iter()
            .map(|path| match (path.get_ident(), receiver) {
                (Some(ident), Some(receiver)) => field(ident, receiver),
                _ => {
                    let is_parameter = path
                        .get_ident()
                        .is_some_and(|ident| check::parameters(sig).contains(ident));
                    static_item(&krate, path, is_parameter)
                }
            })
            .collect(),
        Locks::File(expr) | Locks::Key(expr) => {
            let lock = Ident::new("__FASTENERS_LOCK", Span::mixed_site());
            let named = matches!(args.locks, Locks::Key(_));
            let init = file_lock_init(kind, args, named, expr);
            let span = init.span;
            let krate = krate.at(span);
            let lock_type = &init.lock_type;
            let value = &init.value;
            vec![Place {
                reference: quote_spanned! {span=>
                    {
                        static #lock: #krate::__private::LazyLock<#lock_type> =
                            #krate::__private::LazyLock::new(|| #value);
                        #krate::__private::LazyLock::force(&#lock)
                    }
                },
                description: init.description,
                span,
            }]
        }
    })
}

// Input:
//     macro_rules! m { ($f:ident) => { fn get(&self) { .. } } }  // with #[locked(lock = $f)]
// Output (the lock reference):
//     &self.f
// where `self` resolves as the receiver's `self` does (it is located at the
// field name, for messages): a `$field` given to a `macro_rules!` comes from
// the macro's caller, whose `self` is not the method's.
fn field(ident: &Ident, receiver: Token![self]) -> Place {
    let span = ident.span();
    let self_token = syn::token::SelfValue {
        span: span.resolved_at(receiver.span),
    };
    Place {
        reference: quote_spanned!(span=> &#self_token.#ident),
        description: format!("`self.{ident}`"),
        span,
    }
}

// Input:
//     #[locked(lock = crate::LOCK)]
// Output (the lock reference):
//     {
//         use crate::LOCK as __fasteners_static;
//         ::fasteners::__private::static_lock(&__fasteners_static)
//     }
// Imported rather than written `&crate::LOCK`: the `self::` that names a
// static from a method would trip `unused_qualifications` in an expression,
// and its suggested fix would turn the static into a field. A single name
// is written `&LOCK`. `static_lock` takes a `&'static`: a `const` lock would
// be a fresh value at every use, excluding nothing, and a borrow of it does
// not live long enough (E0716 at the name). A parameter of the function is
// borrowed as it is.
fn static_item(krate: &Krate, path: &Path, is_parameter: bool) -> Place {
    let span = path.span();
    let krate = krate.at(span);
    let alias = Ident::new("__fasteners_static", Span::mixed_site().located_at(span));
    let starts_with_self_type = path.segments.first().is_some_and(|s| s.ident == "Self");
    let reference = if is_parameter {
        quote_spanned!(span=> &#path)
    } else if path.get_ident().is_some() || starts_with_self_type {
        quote_spanned!(span=> #krate::__private::static_lock(&#path))
    } else {
        quote_spanned! {span=>
            {
                use #path as #alias;
                #krate::__private::static_lock(&#alias)
            }
        }
    };
    Place {
        reference,
        description: format!("`{}`", path.to_token_stream().to_string().replace(' ', "")),
        span,
    }
}

/// How a file lock of `#[interprocess_*]` is made.
pub(crate) struct FileLockInit {
    /// `::fasteners::InterProcessLock` or `::fasteners::InterProcessReaderWriterLock`.
    pub(crate) lock_type: TokenStream,
    /// `Type::new(path)` or `Type::named(name)`, then `.on_wait(f)` if given.
    pub(crate) value: TokenStream,
    pub(crate) description: String,
    pub(crate) span: Span,
}

// Input:
//     #[interprocess_read_locked(path_expr, on_wait = f)]
// Output (the lock reference):
//     {
//         static __FASTENERS_LOCK: ::fasteners::__private::LazyLock<
//             ::fasteners::InterProcessReaderWriterLock,
//         > = ::fasteners::__private::LazyLock::new(|| {
//             ::fasteners::InterProcessReaderWriterLock::new(path_expr).on_wait(f)
//         });
//         ::fasteners::__private::LazyLock::force(&__FASTENERS_LOCK)
//     }
// (`name = expr` makes it with `::named(expr)` instead.) One lock object per
// annotated function, created on the first call. Being a static initializer,
// `path_expr` cannot use the function's parameters, generics or `Self`:
// `check::static_expressions` says so before rustc would.
pub(crate) fn file_lock_init(
    kind: LockKind,
    args: &Args,
    named: bool,
    expr: &Expr,
) -> FileLockInit {
    let krate = args.krate();
    let span = expr.span();
    let (constructor, description) = if named {
        let name = expr.to_token_stream().to_string().replace(' ', "");
        (Ident::new("named", span), format!("the lock named {name}"))
    } else {
        (Ident::new("new", span), "its lock file".to_owned())
    };
    let krate = krate.at(span);
    let lock_type = match kind.side() {
        Side::Exclusive => quote_spanned!(span=> #krate::InterProcessLock),
        Side::Read | Side::Write => quote_spanned!(span=> #krate::InterProcessReaderWriterLock),
    };
    let on_wait = args.on_wait.as_ref().map(|f| {
        let span = f.span();
        quote_spanned!(span=> .on_wait(#f))
    });
    FileLockInit {
        value: quote_spanned!(span=> #lock_type::#constructor(#expr) #on_wait),
        lock_type,
        description,
        span,
    }
}

/// One lock's acquisition call.
struct Call<'a> {
    krate: &'a Krate,
    side: Side,
    place: &'a Place,
    timeout: Option<&'a TokenStream>,
    non_blocking: bool,
}

impl Call<'_> {
    /// The trait call taking one lock. Absolute trait paths rather than
    /// method syntax: std's `Mutex` has inherent `lock`/`try_lock` that method
    /// syntax would pick; and a field that is not a lock gets a plain "trait
    /// bound not satisfied" error pointing at the attribute's argument.
    fn synchronous(&self) -> TokenStream {
        let Place {
            reference, span, ..
        } = self.place;
        let (krate, side) = (&self.krate.at(*span), self.side);
        match (side, self.timeout, self.non_blocking) {
            (Side::Exclusive, Some(timeout), _) => {
                quote_spanned!(*span=> #krate::TimedLockable::try_lock_for(#reference, #timeout))
            }
            (Side::Exclusive, None, true) => {
                quote_spanned!(*span=> #krate::Lockable::try_lock(#reference))
            }
            (Side::Exclusive, None, false) => {
                quote_spanned!(*span=> #krate::Lockable::lock(#reference))
            }
            (Side::Read, Some(timeout), _) => quote_spanned! {*span=>
                #krate::SharedTimedLockable::try_lock_shared_for(#reference, #timeout)
            },
            (Side::Read, None, true) => {
                quote_spanned!(*span=> #krate::SharedLockable::try_lock_shared(#reference))
            }
            (Side::Read, None, false) => {
                quote_spanned!(*span=> #krate::SharedLockable::lock_shared(#reference))
            }
            // The write side is the `Lockable` part of a `SharedLockable`; the
            // helpers require `SharedLockable` so that `#[write_locked]` on a
            // plain mutex is an error, not a silent `#[locked]`.
            (Side::Write, Some(timeout), _) => quote_spanned! {*span=>
                #krate::__private::try_lock_write_for(#reference, #timeout)
            },
            (Side::Write, None, true) => {
                quote_spanned!(*span=> #krate::__private::try_lock_write(#reference))
            }
            (Side::Write, None, false) => {
                quote_spanned!(*span=> #krate::__private::lock_write(#reference))
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
    fn asynchronous(&self) -> TokenStream {
        let Place {
            reference, span, ..
        } = self.place;
        let (krate, side) = (&self.krate.at(*span), self.side);
        match (side, self.timeout, self.non_blocking) {
            (Side::Exclusive, Some(timeout), _) => quote_spanned! {*span=>
                #krate::AsyncTimedLockable::lock_async_for(#reference, #timeout).await
            },
            (Side::Exclusive, None, true) => {
                quote_spanned!(*span=> #krate::AsyncLockable::try_lock_async(#reference))
            }
            (Side::Exclusive, None, false) => {
                quote_spanned!(*span=> #krate::AsyncLockable::lock_async(#reference).await)
            }
            (Side::Read, Some(timeout), _) => quote_spanned! {*span=>
                #krate::AsyncSharedTimedLockable::lock_shared_async_for(#reference, #timeout).await
            },
            (Side::Read, None, true) => quote_spanned! {*span=>
                #krate::AsyncSharedLockable::try_lock_shared_async(#reference)
            },
            (Side::Read, None, false) => quote_spanned! {*span=>
                #krate::AsyncSharedLockable::lock_shared_async(#reference).await
            },
            (Side::Write, Some(timeout), _) => quote_spanned! {*span=>
                #krate::__private::lock_write_async_for(#reference, #timeout).await
            },
            (Side::Write, None, true) => {
                quote_spanned!(*span=> #krate::__private::try_lock_write_async(#reference))
            }
            (Side::Write, None, false) => {
                quote_spanned!(*span=> #krate::__private::lock_write_async(#reference).await)
            }
        }
    }
}
