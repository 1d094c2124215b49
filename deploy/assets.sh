#!/usr/bin/env bash
# The front-end packages the api embeds, from the npm registry:
#
#   ./deploy/assets.sh           # (re)install them into api/assets/vendor/
#   ./deploy/assets.sh --check   # prove the committed copies are the registry's
#
# api/assets/assets.lock names each package, its version, the integrity
# the registry states for its tarball (checked here as npm checks it) and
# the files taken from it. The copies are committed, so building needs no
# network and no npm; CI runs --check so they cannot drift from the
# registry's bytes. No page loads anything from a CDN.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOCK=$ROOT/api/assets/assets.lock
VENDOR=$ROOT/api/assets/vendor
REGISTRY=${NPM_REGISTRY:-https://registry.npmjs.org}
CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1
say() { printf '[assets] %s\n' "$*" >&2; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
status=0
while read -r package version integrity files; do
    case "$package" in ''|'#'*) continue ;; esac
    tarball="$WORK/$package-$version.tgz"
    curl -sfL --retry 3 -o "$tarball" "$REGISTRY/$package/-/$package-$version.tgz" \
        || { say "could not download $package@$version"; exit 1; }
    algo=${integrity%%-*}
    actual="$algo-$(python3 -c 'import base64, hashlib, sys
print(base64.b64encode(hashlib.new(sys.argv[1], open(sys.argv[2], "rb").read()).digest()).decode())' "$algo" "$tarball")"
    if [ "$actual" != "$integrity" ]; then
        say "$package@$version: the tarball's integrity is $actual, not $integrity"
        exit 1
    fi
    mkdir -p "$WORK/$package"
    tar -xzf "$tarball" -C "$WORK/$package"
    IFS=, read -ra wanted <<<"$files"
    for file in "${wanted[@]}"; do
        from="$WORK/$package/package/$file"
        to="$VENDOR/$package/$(basename "$file")"
        if [ "$CHECK" -eq 1 ]; then
            if cmp -s "$from" "$to"; then
                say "ok: $package@$version $file"
            else
                say "DIFFERS: $to is not $package@$version's $file"
                status=1
            fi
        else
            mkdir -p "$(dirname "$to")"
            cp "$from" "$to"
            say "installed $package@$version $file"
        fi
    done
done <"$LOCK"
exit "$status"
