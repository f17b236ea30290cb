#!/usr/bin/env bash
# The library exports its public API (WMARK_API) and hides internals: in libwmark.a a
# public function has DEFAULT visibility and an internal one (src/ only) is HIDDEN,
# which is what a shared build then exports or keeps private.
set -euo pipefail
lib="$1"
symbols=$(readelf -sW "$lib" | awk '$5 == "GLOBAL" && $7 != "UND" {print $6, $8}' | c++filt)
expect() {  # visibility, demangled name prefix
  if ! grep -q "^$1 $2" <<<"$symbols"; then
    echo "expected $2 to be $1; found: $(grep -F " $2" <<<"$symbols" | head -3)" >&2
    exit 1
  fi
}
expect DEFAULT 'wmark::check_model('
expect DEFAULT 'wmark::Verifier::verify('
expect DEFAULT 'wmark::as_network('
expect HIDDEN 'wmark::font5x7::glyph('
echo "visibility ok: $(grep -c '^DEFAULT wmark::' <<<"$symbols") exported, $(grep -c '^HIDDEN wmark::' <<<"$symbols") hidden wmark symbols"
