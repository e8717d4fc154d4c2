//! An attribute on an inline module: every function directly in it runs
//! under one lock, shared by them all.

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, Item, ItemMod};

use crate::args::{Args, LockKind, Locks, Wait};
use crate::check;
use crate::expand::{file_lock_init, wrap, Place, Plan};

// Input:
//     #[interprocess_locked(path, timeout = t)]
//     #[cfg(test)]
//     mod tests {
//         #[test] fn a() -> io::Result<()> { body }
//         fn helper() -> io::Result<()> { body }
//         mod nested { .. }
//         struct Fixture;
//     }
// Output:
//     #[cfg(test)]
//     static __fasteners_lock_tests: LazyLock<InterProcessLock> =
//         LazyLock::new(|| InterProcessLock::new(path));
//     #[cfg(test)]
//     static __fasteners_holders_tests: Holders = Holders::new();
//     #[cfg(test)]
//     fn __fasteners_timeout_tests() -> Duration { __private::timeout(t) }
//     #[cfg(test)]
//     mod tests {
//         #[test] fn a() -> io::Result<()> {
//             let __fasteners_guards = /* unless this thread holds it: take
//                 super::__fasteners_lock_tests, waiting at most
//                 super::__fasteners_timeout_tests() */;
//             { body }
//         }
//         fn helper() -> io::Result<()> { /* the same */ }
//         mod nested { .. }
//         struct Fixture;
//     }
// The lock, its path and its timeout are written beside the module, where the
// attribute is, so that they mean what they mean there (`super::LOCK`, a
// function not imported into the module). A function of the module called
// from another (a test calling a helper) finds the lock held by its thread
// and does not take it again. `const fn`s, nested modules and other items are
// left alone.
pub(crate) fn expand(kind: LockKind, args: &Args, module: ItemMod) -> syn::Result<TokenStream> {
    let Some((brace, items)) = &module.content else {
        return Err(syn::Error::new(
            module.semi.map_or_else(|| module.ident.span(), |semi| semi.span),
            format!(
                "#[{name}] on `mod {ident};` cannot see the functions in the module's file; \
                 write the module inline (`mod {ident} {{ ... }}`), or put #[{name}] on its functions",
                name = kind.name(),
                ident = module.ident,
            ),
        ));
    };
    let name = module.ident.unraw();
    let krate = args.krate();
    let cfgs: Vec<&Attribute> = module
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .collect();
    let beside = |ident: &Ident| {
        let alias = Ident::new("__fasteners_item", Span::mixed_site());
        quote!({ use super::#ident as #alias; &#alias })
    };
    let mut hidden = TokenStream::new();

    let places = match &args.locks {
        Locks::DefaultField(span) => {
            return Err(syn::Error::new(
                *span,
                format!(
                    "#[{name}] on a module needs a static to lock: #[{name}(lock = MY_LOCK)]",
                    name = kind.name()
                ),
            ))
        }
        Locks::Named(paths) => paths
            .iter()
            .enumerate()
            .map(|(i, path)| {
                let ident = format_ident!("__fasteners_lock_{}_{}", name, i);
                hidden.extend(quote!(#(#cfgs)* use #path as #ident;));
                let reference = beside(&ident);
                let span = path.span();
                let krate = krate.at(span);
                Place {
                    reference: quote_spanned!(span=> #krate::__private::static_lock(#reference)),
                    description: format!(
                        "`{}`",
                        path.to_token_stream().to_string().replace(' ', "")
                    ),
                    span,
                }
            })
            .collect::<Vec<_>>(),
        Locks::File(expr) | Locks::Key(expr) => {
            check::static_expressions(kind, args, None)?;
            let named = matches!(args.locks, Locks::Key(_));
            let init = file_lock_init(kind, args, named, expr);
            let ident = format_ident!("__fasteners_lock_{}", name);
            let (lock_type, value) = (&init.lock_type, &init.value);
            let krate = krate.at(init.span);
            hidden.extend(quote_spanned! {init.span=>
                #(#cfgs)*
                #[allow(non_upper_case_globals)]
                static #ident: #krate::__private::LazyLock<#lock_type> =
                    #krate::__private::LazyLock::new(|| #value);
            });
            let reference = beside(&ident);
            vec![Place {
                reference: quote_spanned!(init.span=> #krate::__private::LazyLock::force(#reference)),
                description: init.description,
                span: init.span,
            }]
        }
    };

    let holders = format_ident!("__fasteners_holders_{}", name);
    hidden.extend(quote! {
        #(#cfgs)*
        #[allow(non_upper_case_globals)]
        static #holders: #krate::__private::Holders = #krate::__private::Holders::new();
    });
    let wait = match &args.wait {
        Wait::Timeout(span, expr) => {
            let ident = format_ident!("__fasteners_timeout_{}", name);
            let expr_span = expr.span();
            let krate = krate.at(expr_span);
            hidden.extend(quote_spanned! {expr_span=>
                #(#cfgs)*
                #[allow(non_snake_case)]
                fn #ident() -> ::core::time::Duration {
                    #krate::__private::timeout(#expr)
                }
            });
            let alias = Ident::new("__fasteners_item", Span::mixed_site());
            let call = quote!({ use super::#ident as #alias; #alias() });
            Wait::Timeout(*span, Box::new(syn::parse2(call)?))
        }
        other => other.clone(),
    };

    let mut content = TokenStream::new();
    let mut any_wrapped = false;
    for item in items {
        match item {
            Item::Fn(func) if func.sig.constness.is_none() => {
                check::signature(kind, args, &func.sig)?;
                check::stacked(kind, args, &func.attrs, false)?;
                let plan = Plan {
                    kind,
                    krate: krate.clone(),
                    wait: wait.clone(),
                    returns_result: args.returns_result,
                    places: places.clone(),
                    reentry: Some(beside(&holders)),
                };
                content.extend(wrap(&plan, func.clone()));
                any_wrapped = true;
            }
            other => content.extend(other.to_token_stream()),
        }
    }
    if !any_wrapped {
        hidden = TokenStream::new();
    }

    let ItemMod {
        attrs,
        vis,
        unsafety,
        mod_token,
        ident,
        ..
    } = &module;
    let outer = attrs
        .iter()
        .filter(|a| matches!(a.style, syn::AttrStyle::Outer));
    let inner = attrs
        .iter()
        .filter(|a| matches!(a.style, syn::AttrStyle::Inner(_)));
    let mut body = Group::new(Delimiter::Brace, quote!(#(#inner)* #content));
    body.set_span(brace.span.join());
    Ok(quote! {
        #hidden
        #(#outer)* #vis #unsafety #mod_token #ident #body
    })
}
