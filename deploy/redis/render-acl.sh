#!/usr/bin/env bash
# Renders deploy/redis/users.acl.template into a Redis ACL file (the
# `aclfile` of deploy/redis.conf) on stdout:
#
#   API_REDIS_PASSWORD=... SYNCD_REDIS_PASSWORD=... \
#       deploy/redis/render-acl.sh tm: > /etc/redis/users.acl
#
# Two users, each with only what its process needs: `taskmaster-api` and
# `taskmaster-syncd` may run reads, writes, scripts, pub/sub, MULTI and the
# two exceptions below on keys and channels under the key prefix only
# (REDIS_KEY_PREFIX); everything in @dangerous (CONFIG, FLUSHALL, KEYS,
# DEBUG, SHUTDOWN, MIGRATE, ...) and SCRIPT FLUSH/KILL, FUNCTION and
# MOVE are denied. The exceptions: INFO (the create scripts read the
# server's run id, see docs/design.md) and SORT, in a selector of its own
# that may read (only read) any key: Redis allows SORT's GET patterns (the
# task lists) only to a user that may read every key.
# Passwords are stored as SHA-256 hashes, never in clear. The `default`
# user is switched off: give operators a user of their own (a second
# argument, a whole `user ...` line, is appended as is).
set -euo pipefail
prefix=${1:?usage: render-acl.sh PREFIX [EXTRA_USER_LINE]}
: "${API_REDIS_PASSWORD:?set API_REDIS_PASSWORD}"
: "${SYNCD_REDIS_PASSWORD:?set SYNCD_REDIS_PASSWORD}"
case "$prefix" in *[!A-Za-z0-9:_.-]*) echo "render-acl.sh: bad prefix $prefix" >&2; exit 64;; esac
hash() { printf '#%s' "$(printf '%s' "$1" | sha256sum | cut -d' ' -f1)"; }
template=$(dirname "$0")/users.acl.template
sed -e "s/@PREFIX@/$prefix/g" \
    -e "s/@API_PASSWORD@/$(hash "$API_REDIS_PASSWORD")/" \
    -e "s/@SYNCD_PASSWORD@/$(hash "$SYNCD_REDIS_PASSWORD")/" "$template"
echo "${2:-user default off}"
