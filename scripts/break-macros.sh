#!/usr/bin/env bash
# Breaks the attribute macros on purpose, one breakage at a time, and checks
# that the tests named for it fail; restores the source after each. Not run
# by CI (each breakage rebuilds the macros and what uses them).
# Usage: bash scripts/break-macros.sh [NAME...]
set -uo pipefail
cd "$(dirname "$0")/.."

# name | file | perl substitution | test target
breakages=(
  "self-from-the-field-span|fasteners-macros/src/expand.rs|s/span: span\.resolved_at\(receiver\.span\),/span,/|--test macros_paths"
  "functions-not-locked|fasteners-macros/src/expand.rs|s/let acquire = acquire\(plan, &func\.sig\);/let acquire = { let _ = acquire(plan, &func.sig); TokenStream::new() };/|--test macros_serial"
  "module-functions-not-locked|fasteners-macros/src/module.rs|s/content\.extend\(wrap\(&plan, func\.clone\(\)\)\);/let _ = &plan; content.extend(func.to_token_stream());/|--test macros_module"
  "no-reentry-in-a-module|fasteners/src/macro_support.rs|s/\.contains\(&me\)/.contains(\&me) \&\& me != me/|--test macros_module"
  "module-path-inside-the-module|fasteners-macros/src/module.rs|s/quote!\(\{ use super::#ident as #alias; &#alias \}\)/quote!({ use self::#ident as #alias; \&#alias })/|--test macros_module"
  "crate-path-ignored|fasteners-macros/src/args.rs|s/Some\(path\) => path\n/Some(_) => quote::quote_spanned!(span=> ::fasteners),\n            Some(path) => path\n/|-p fasteners-reexport"
  "const-lock-accepted|fasteners-macros/src/expand.rs|s/#krate::__private::static_lock\(&#alias\)/\&#alias/|--test compiletest"
  "stacked-locks-unchecked|fasteners-macros/src/check.rs|s/\*taken == identity\)/*taken == identity \&\& identity.is_empty())/|--test compiletest"
  "on-wait-dropped|fasteners-macros/src/expand.rs|s/quote_spanned!\(span=> \.on_wait\(#f\)\)/quote!()/|--test macros_named"
  "no-suggestions|fasteners-macros/src/suggest.rs|s/3\.\.=5 => 1,\n\s*_ => 2,/_ => 0,/|-p fasteners-macros --lib"
)

. scripts/breakage-runner.sh
run_breakages "$@"
