#!/usr/bin/env bash
# The man pages (docs/man/, installed by meson and the Debian packages) against the programs:
#  - every option `ckptd --help` lists is in ckptd(8), and every --option ckptd(8) names is one
#    ckptd lists (a removed option cannot linger in the page);
#  - the same for ckptstat(1) (its options and positional arguments), and for ckptctl(8): its
#    options, every subcommand `ckptctl --help` lists, and every option of each subcommand;
#  - every option in hotspare-kvstore's usage is in hotspare-kvstore(1), and back;
#  - every configuration key ckptd's parser accepts (engine/src/daemon/config.cpp) is described
#    in ckptd.conf(5), and ckptd accepts every key ckptd.conf(5) describes (a wrong value for
#    it is refused for its value, not as an unknown key);
#  - every page renders without a groff warning (man --warnings), when man-db is installed.
# Usage: manpages_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
man="$src/docs/man"
ckptd="$build/engine/ckptd"
ckptctl="$build/tools/ckptctl/ckptctl"
ckptstat="$build/tools/ckptstat/ckptstat"
kvstore="$build/examples/kvstore/hotspare-kvstore"
errors=0
miss() { echo "FAIL: $*"; errors=$((errors + 1)); }

# A page as plain text: roff's \- becomes -, font changes and other escapes go.
plain() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(aq/'"'"'/g' -e 's/\\e/\\/g' "$1"; }
# The option names (-x and --long) in CLI11 help text: lines "  -c,--config TEXT  ...".
help_options() {
    sed -n 's/^  \(-[^ ]*\).*/\1/p' | tr ',' '\n' | grep -E '^-' | grep -vxE -- '-h|--help' || true
}
# The names in one section of CLI11 help text ("Subcommands:", "Positionals:").
help_section() { # TITLE
    awk -v t="$1" '$0 == t {on = 1; next} /^[^ ]/ {on = 0} on && /^  [a-z]/ {print $1}'
}
has_word() { # PAGE_TEXT WORD: WORD appears delimited (not as part of a longer option)
    grep -qE -- "(^|[^-A-Za-z0-9_])$(sed 's/[.]/\\./g' <<< "$2")([^-A-Za-z0-9_]|$)" <<< "$1"
}
check_page() { # TOOL PAGE HELP_TEXT...: every option in the help texts is in the page, and back
    local tool=$1 page=$2
    shift 2
    check_listed "$tool" "$page" "$(printf '%s\n' "$@" | help_options | sort -u)"
}
check_listed() { # TOOL PAGE OPTIONS
    local tool=$1 page=$2 listed=$3 text
    text=$(plain "$page")
    [ -n "$listed" ] || miss "$tool --help lists no option: the help format changed, fix this test"
    for o in $listed; do has_word "$text" "$o" || miss "$tool: option $o (in --help) is not in $(basename "$page")"; done
    # Back: every --long option the page names is one the tool lists.
    for o in $(grep -oE -- '(^|[^-A-Za-z0-9])--[a-z][-a-z0-9]*' <<< "$text" | sed 's/^[^-]*//' | sort -u); do
        [ "$o" = --help ] && continue
        grep -qx -- "$o" <<< "$listed" || miss "$(basename "$page") names $o, which $tool --help does not list"
    done
    echo "$tool: $(wc -w <<< "$listed") options checked against $(basename "$page")"
}

for b in "$ckptd" "$ckptctl" "$ckptstat" "$kvstore"; do [ -x "$b" ] || { echo "FAIL: $b was not built"; exit 1; }; done

# ckptd(8)
check_page ckptd "$man/ckptd.8" "$("$ckptd" --help)"

# ckptstat(1): options, and the positional arguments as words of the page.
stat_help=$("$ckptstat" --help)
check_page ckptstat "$man/ckptstat.1" "$stat_help"
for p in $(help_section Positionals: <<< "$stat_help"); do
    has_word "$(plain "$man/ckptstat.1")" "$p" || miss "ckptstat: argument $p (in --help) is not in ckptstat.1"
done

# ckptctl(8): every subcommand, and the options of each.
ctl_help=$("$ckptctl" --help)
subs=$(help_section Subcommands: <<< "$ctl_help")
[ -n "$subs" ] || miss "ckptctl --help lists no subcommand: the help format changed, fix this test"
ctl_text=$(plain "$man/ckptctl.8")
helps=("$ctl_help")
for s in $subs; do
    grep -qE "^\.(B|BI|BR) $(sed 's/-/\\\\-/g' <<< "$s")( |$)" "$man/ckptctl.8" ||
        miss "ckptctl: subcommand $s (in --help) has no entry in ckptctl.8"
    helps+=("$("$ckptctl" "$s" --help)")
done
# Back: every subcommand entry of the page is one ckptctl lists.
# (the tag line after each .TP of the SUBCOMMANDS section, outside the .RS blocks of options)
page_subs=$(awk '/^\.SH / {on = ($2 == "SUBCOMMANDS"); next}
    on && /^\.RS/ {d++} on && /^\.RE/ {d--}
    on && d == 0 && tp {print $2} {tp = on && d == 0 && /^\.TP/}' "$man/ckptctl.8" | sed 's/\\-/-/g')
[ -n "$page_subs" ] || miss "found no subcommand entry in ckptctl.8: its layout changed, fix this test"
for s in $page_subs; do
    grep -qx -- "$s" <<< "$subs" || miss "ckptctl.8 describes subcommand $s, which ckptctl --help does not list"
done
check_page ckptctl "$man/ckptctl.8" "${helps[@]}"

# hotspare-kvstore(1): its usage text ("[--socket CKPTD_SOCKET] ...") is not CLI11's.
check_listed hotspare-kvstore "$man/hotspare-kvstore.1" \
    "$("$kvstore" --help 2>&1 | grep -oE -- '--[a-z][-a-z]*' | grep -vx -- --help | sort -u || true)"

# ckptd.conf(5): the parser's keys, and back.
keys=$(grep -oE 'key == "[a-z0-9_]+"' "$src/engine/src/daemon/config.cpp" | sed 's/.*"\(.*\)"/\1/' | sort -u)
[ "$(wc -l <<< "$keys")" -ge 10 ] ||
    miss "found only $(wc -l <<< "$keys") keys in engine/src/daemon/config.cpp: the parser changed shape, fix this test"
page_keys=$(sed -n 's/^\.BR \([a-z0-9_\\-]*\) " = .*/\1/p' "$man/ckptd.conf.5" | sed 's/\\-/-/g' | sort -u)
for k in $keys; do grep -qx "$k" <<< "$page_keys" || miss "configuration key $k (accepted by ckptd) is not in ckptd.conf.5"; done
for k in $page_keys; do
    out=$("$ckptd" --check --set "$k=@not-a-value@" 2>&1) || true
    if grep -q "unknown key" <<< "$out"; then miss "ckptd.conf.5 describes key $k, which ckptd refuses: $out"; fi
done
echo "ckptd.conf: $(wc -w <<< "$keys") parser keys, $(wc -w <<< "$page_keys") keys in ckptd.conf.5"

# Every page renders cleanly.
if command -v man >/dev/null; then
    for page in "$man"/*.[1-8]; do
        warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null) || true
        [ -z "$warn" ] || miss "$(basename "$page") renders with warnings: $warn"
    done
fi

[ "$errors" -eq 0 ] || { echo "$errors problem(s)"; exit 1; }
echo "man pages: every option, subcommand and configuration key is documented"
