#!/bin/sh
# Fetches the source of the nginx that nginx-dev was built from into
# build/nginx-src/nginx-<version>/, for the module's fuzz targets (fuzz/):
# they link a few of nginx's core files (string, inet, array and pool
# functions) that nginx-dev ships only the headers of.  The repository
# carries no copy of them.
#
#   sh scripts/nginx-src.sh        (scripts/deps.sh test runs it)
#
# The source comes from Debian with apt, which checks it against the
# archive's signed index: `apt-get source` of nginx-dev's own version,
# through deb-src entries made from the Debian mirrors this machine is
# configured with.  apt runs on a private state directory in build/apt, so
# the machine's apt configuration and package lists are left as they are,
# and no root is needed.  Only the upstream tarball is fetched (the files
# the targets compile are not touched by Debian's patches).  Nothing is
# fetched when the right version is there already.
set -eu

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
OUT=$ROOT/build/nginx-src
APT=$ROOT/build/apt

die() {
    echo "nginx-src: $*" >&2
    exit 1
}

ver=$(dpkg-query -W -f='${Version}' nginx-dev 2>/dev/null) \
    || die "nginx-dev is not installed (sh scripts/deps.sh)"
# 1.22.1-9+deb12u11 -> 1.22.1
upstream=$(echo "$ver" | sed 's/^[0-9]*://; s/-[^-]*$//')
dir=$OUT/nginx-$upstream

if [ -f "$dir/src/core/ngx_string.c" ] \
    && [ "$(cat "$OUT/version" 2>/dev/null)" = "$ver" ]
then
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get is missing"

. /etc/os-release
codename=${VERSION_CODENAME:-bookworm}

rm -rf "$APT"
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/dl"

# deb-src twins of the machine's Debian entries (one-line and deb822
# formats), of this release's suites only: another vendor's repository
# may well have no sources.
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v c="$codename" '
        $1 == "deb" {
            i = 2
            if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
            if ($(i + 1) !~ "^" c) next
            sub(/^deb/, "deb-src"); print
        }' "$f"
done > "$APT/sources.list"

for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v c="$codename" '
        function flush(    i, j, nu, ns, u, s, opt) {
            if (types ~ /(^| )deb( |$)/ && uris != "" && suites != "") {
                nu = split(uris, u, " ")
                ns = split(suites, s, " ")
                opt = signed != "" ? "[signed-by=" signed "] " : ""
                for (i = 1; i <= nu; i++)
                    for (j = 1; j <= ns; j++)
                        if (s[j] ~ "^" c)
                            print "deb-src " opt u[i] " " s[j] " " comps
            }
            types = uris = suites = comps = signed = ""
        }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        {
            v = $0; sub(/^[^:]*:[ \t]*/, "", v)
            k = tolower($1)
            if (k == "types:") types = v
            else if (k == "uris:") uris = v
            else if (k == "suites:") suites = v
            else if (k == "components:") comps = v
            else if (k == "signed-by:") signed = v
        }
        END { flush() }' "$f"
done >> "$APT/sources.list"

[ -s "$APT/sources.list" ] \
    || die "no Debian $codename entry in /etc/apt/sources.list{,.d}"

aptq() {
    apt-get -q \
        -o Dir::Etc::SourceList="$APT/sources.list" \
        -o Dir::Etc::SourceParts=/nonexistent \
        -o Dir::State::Lists="$APT/lists" \
        -o Dir::Cache="$APT/cache" \
        -o Debug::NoLocking=1 \
        "$@"
}

echo "nginx-src: fetching the source of nginx $ver from Debian" >&2
aptq update >"$APT/update.log" 2>&1 || {
    cat "$APT/update.log" >&2
    die "apt-get update of the deb-src entries failed"
}

# nginx-dev's own version; any version of the same upstream release has
# the same tarball when that one is gone from the mirror
(cd "$APT/dl" && aptq source --download-only --tar-only "nginx=$ver") \
    >"$APT/source.log" 2>&1 \
    || (cd "$APT/dl" && aptq source --download-only --tar-only nginx) \
    >>"$APT/source.log" 2>&1 || true

tarball=$APT/dl/nginx_$upstream.orig.tar.gz
[ -f "$tarball" ] || {
    cat "$APT/source.log" >&2
    die "apt-get source nginx gave no nginx_$upstream.orig.tar.gz"
}

rm -rf "$dir"
mkdir -p "$OUT"
tar -xzf "$tarball" -C "$OUT"
[ -f "$dir/src/core/ngx_string.c" ] || die "$tarball has no nginx-$upstream/"
echo "$ver" > "$OUT/version"
rm -rf "$APT"
echo "nginx-src: nginx $upstream source in $dir" >&2
