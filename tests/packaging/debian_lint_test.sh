#!/usr/bin/env bash
# The fast part of the Debian packaging checks (CI; the slow end-to-end one is debian_test.sh):
#  - debian/ builds a source package (dpkg-source, native) that lintian finds no error or
#    warning in (its default level);
#  - the shared libraries of this build export exactly what debian/libckpt0.symbols and
#    debian/libsackpt1.symbols list (dpkg-gensymbols -c4: a symbol gone, or new and not listed,
#    fails: the ABI changed without the symbols file and the soversion saying so);
#  - their SONAMEs are the package names' (libckpt.so.0 for libckpt0, libSaCkpt.so.1 for libsackpt1).
# Inline functions the libraries emit out of line are `(optional)` in the symbols files: whether
# they are emitted depends on the compiler's inlining. A sanitizer build inlines differently, so
# there (SANITIZE other than none) a symbol the file does not list is not an error, only a symbol
# it lists (and not optional) that is missing (dpkg-gensymbols -c1 instead of -c4).
# Usage: debian_lint_test.sh BUILD_DIR SOURCE_DIR [SANITIZE]
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
level=4
[ "${3:-none}" = none ] || level=1
for t in lintian dpkg-source dpkg-gensymbols; do
    command -v "$t" >/dev/null || { echo "SKIP: $t is missing (scripts/install-deps.sh installs it)"; exit 77; }
done
tmp=$(mktemp -d /tmp/hotspare-deblint.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# Symbols and SONAMEs, against this build's libraries (a plain or sanitizer build alike: the
# version scripts decide what is exported).
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
check_lib() { # PACKAGE FILE SONAME
    local pkg=$1 file=$2 soname=$3 got
    [ -f "$file" ] || fail "$file was not built"
    got=$(readelf -d "$file" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    [ "$got" = "$soname" ] || fail "$(basename "$file") has SONAME '$got', $pkg expects $soname"
    mkdir -p "$tmp/$pkg/usr/lib/$arch"
    cp "$file" "$tmp/$pkg/usr/lib/$arch/"
    ln -sf "$(basename "$file")" "$tmp/$pkg/usr/lib/$arch/$soname"
    (cd "$src" && dpkg-gensymbols -c$level -p"$pkg" -P"$tmp/$pkg" -I"debian/$pkg.symbols" -O"$tmp/$pkg.symbols" \
        -v"$(dpkg-parsechangelog -S Version)") > "$tmp/$pkg.diff" 2>&1 ||
        { cat "$tmp/$pkg.diff"; fail "$pkg: the exported symbols differ from debian/$pkg.symbols (above)"; }
    echo "$pkg: $(grep -c '^ ' "$tmp/$pkg.symbols") symbols, as debian/$pkg.symbols lists"
}
check_lib libckpt0 "$(ls "$build"/client/libckpt.so.0.* | head -n 1)" libckpt.so.0
check_lib libsackpt1 "$(ls "$build"/sa/libSaCkpt.so.1.* | head -n 1)" libSaCkpt.so.1

# The source package, from the files git knows (no build directories).
mkdir -p "$tmp/src/hotspare"
(cd "$src" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -xf - -C "$tmp/src/hotspare"
(cd "$tmp/src" && dpkg-source -b hotspare > "$tmp/source.log" 2>&1) || { cat "$tmp/source.log"; fail "dpkg-source -b failed"; }
lintian --fail-on error,warning "$tmp"/src/*.dsc > "$tmp/lintian.log" 2>&1 ||
    { cat "$tmp/lintian.log"; fail "lintian reports errors or warnings on the source package"; }
cat "$tmp/lintian.log"
echo "debian/: source package lintian-clean; symbols files and SONAMEs match the libraries"
