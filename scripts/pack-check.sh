#!/usr/bin/env bash
# The package as a user gets it: `npm pack` from a clean copy of the sources (so `prepack` must build), then
# `npm install -g` of the tarball into a throwaway prefix (a global install: dependencies only), then the
# installed command from a directory that is not the repository:
#   --version, usage (no args: exit 2), verify on the vendor vector, setup --dry-run against the test engine,
#   check-config and run --once on the config.example.yaml inside the installed package.
# Changes nothing outside its temporary directory (and the test engine it starts on PACK_CHECK_ENGINE_PORT,
# default 9275, stopped at the end; an engine already answering there is used and left running).
#
#   npm run pack:check          PACK_CHECK_KEEP=1 keeps the temporary directory of a failed run
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${PACK_CHECK_ENGINE_PORT:-9275}"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/hemfwd-pack-check.XXXXXX")"
ENGINE_STARTED=0

cleanup() {
  local status=$?
  if [ "$ENGINE_STARTED" = 1 ]; then
    node "$ROOT/test/engine/engine.mjs" stop --port "$PORT" >/dev/null 2>&1 || true
  fi
  if [ "$status" -ne 0 ] && [ -n "${PACK_CHECK_KEEP:-}" ]; then
    echo "pack-check: kept $TMP" >&2
  else
    rm -rf "$TMP"
  fi
  exit "$status"
}
trap cleanup EXIT

say() { printf 'pack-check: %s\n' "$*"; }
fail() {
  printf 'pack-check: FAIL: %s\n' "$*" >&2
  exit 1
}
# expect_status WANT LABEL -- COMMAND...: runs COMMAND with its output in $TMP/out and $TMP/err.
expect_status() {
  local want=$1 label=$2
  shift 3
  local got=0
  "$@" >"$TMP/out" 2>"$TMP/err" || got=$?
  if [ "$got" -ne "$want" ]; then
    printf -- '--- stdout\n' >&2
    tail -n 30 "$TMP/out" >&2
    printf -- '--- stderr\n' >&2
    tail -n 30 "$TMP/err" >&2
    fail "$label: exit $got, expected $want"
  fi
}
# expect_output FILE TEXT LABEL: FILE ($TMP/out or $TMP/err) contains TEXT (a fixed string).
expect_output() {
  if ! grep -qF -- "$2" "$1"; then
    printf -- '--- %s\n' "$1" >&2
    tail -n 30 "$1" >&2
    fail "$3: no \"$2\" in its output"
  fi
}

NAME="$(node -p "require('$ROOT/package.json').name")"
VERSION="$(node -p "require('$ROOT/package.json').version")"
say "node $(node --version), npm $(npm --version), $NAME@$VERSION"

# --- 1. A clean copy of the sources: what a clone has (tracked and not-ignored files), no dist/.
STAGE="$TMP/src"
mkdir -p "$STAGE"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard) |
    (cd "$ROOT" && while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done) |
    (cd "$ROOT" && tar --null -T - -cf -) | tar -C "$STAGE" -xf -
else
  tar -C "$ROOT" --exclude=./node_modules --exclude=./dist --exclude=./.git --exclude=./data \
    --exclude=./coverage --exclude=./test/engine/target --exclude='*.tgz' -cf - . | tar -C "$STAGE" -xf -
fi
[ ! -e "$STAGE/dist" ] || fail "the clean copy has a dist/"
# The build tools (devDependencies) of the checkout: prepack needs tsc.
ln -s "$ROOT/node_modules" "$STAGE/node_modules"

# --- 2. npm pack (prepack builds dist/ from scratch).
(cd "$STAGE" && npm pack --pack-destination "$TMP" --loglevel=warn >"$TMP/pack.log" 2>&1) ||
  { tail -n 40 "$TMP/pack.log" >&2; fail "npm pack"; }
TARBALL="$TMP/$NAME-$VERSION.tgz"
[ -f "$TARBALL" ] || fail "npm pack made no $TARBALL"
tar -tzf "$TARBALL" | sort >"$TMP/contents"
say "tarball $(basename "$TARBALL"): $(wc -l <"$TMP/contents") files, $(du -k "$TARBALL" | cut -f1) KiB:" \
  "$(sed -E 's#^package/##; s#^(dist/[^/]+|[^/]+)/.*#\1/#' "$TMP/contents" | sort -u | tr '\n' ' ')"

# Every file of mappings/ (setup reads them from the package) and of deploy/ (the service files a user copies
# out of the installed package, when the sources have them).
{
  printf '%s\n' package.json README.md config.example.yaml dist/cli/main.js
  (cd "$STAGE" && find mappings deploy -type f 2>/dev/null || true)
} >"$TMP/wanted"
while read -r f; do
  grep -qxF "package/$f" "$TMP/contents" || fail "the tarball lacks $f"
done <"$TMP/wanted"
# Nothing the runtime does not need: no sources, tests, benchmarks, build scripts or source maps.
if grep -E '^package/(src|test|bench|scripts|dist/(src|test|bench|scripts))/|\.(ts|map)$|^package/(node_modules|data)/' \
  "$TMP/contents" >"$TMP/extra"; then
  head -n 20 "$TMP/extra" >&2
  fail "the tarball ships files the runtime does not need"
fi
# dist/ was built by prepack in the clean copy, which had none: no stale files of an older build.
[ -f "$STAGE/dist/cli/main.js" ] || fail "prepack did not build dist/cli"

# --- 3. A global install, into a prefix of its own: dependencies only (no devDependencies).
PREFIX="$TMP/prefix"
npm install -g --prefix "$PREFIX" --prefer-offline --no-audit --no-fund --loglevel=warn "$TARBALL" \
  >"$TMP/install.log" 2>&1 || { tail -n 40 "$TMP/install.log" >&2; fail "npm install -g"; }
PKG="$PREFIX/lib/node_modules/$NAME"
[ -f "$PKG/package.json" ] || fail "no $PKG after npm install -g"
# The devDependencies that nothing at runtime needs: every copy of them in the lockfile is dev-only
# (not @types/node, say: a dependency of a dependency has one of its own).
DEV_ONLY="$(node -p "const l = Object.entries(require('$STAGE/package-lock.json').packages);
  Object.keys(require('$STAGE/package.json').devDependencies || {})
    .filter((n) => l.every(([k, v]) => !k.endsWith('node_modules/' + n) || v.dev)).join(' ')")"
[ -n "$DEV_ONLY" ] || fail "found no dev-only packages in package-lock.json"
for dev in $DEV_ONLY; do
  [ ! -e "$PKG/node_modules/$dev" ] || fail "a global install got the devDependency $dev"
done
for dep in $(node -p "Object.keys(require('$PKG/package.json').dependencies || {}).join(' ')"); do
  [ -e "$PKG/node_modules/$dep" ] || [ -e "$PREFIX/lib/node_modules/$dep" ] || fail "the dependency $dep is not installed"
done
say "installed into $PREFIX with $(npm ls -g --prefix "$PREFIX" --all --parseable 2>/dev/null | grep -c /node_modules/"$NAME"/node_modules/) dependencies (none of: $DEV_ONLY)"

# --- 4. The command, from a directory that is not the repository.
export PATH="$PREFIX/bin:$PATH"
unset ELASTICSEARCH_URL ELASTICSEARCH_API_KEY ELASTICSEARCH_USERNAME ELASTICSEARCH_PASSWORD ELASTICSEARCH_BEARER
WORK="$TMP/work"
mkdir -p "$WORK"
cd "$WORK"
[ "$(command -v hem-forwarder)" = "$PREFIX/bin/hem-forwarder" ] ||
  fail "hem-forwarder resolves to $(command -v hem-forwarder), not $PREFIX/bin/hem-forwarder"

expect_status 0 'hem-forwarder --version' -- hem-forwarder --version
[ "$(cat "$TMP/out")" = "hem-forwarder $VERSION" ] ||
  fail "hem-forwarder --version printed '$(cat "$TMP/out")', expected 'hem-forwarder $VERSION'"
say "hem-forwarder --version: $(cat "$TMP/out")"

expect_status 2 'hem-forwarder (no arguments)' -- hem-forwarder
cat "$TMP/out" "$TMP/err" >"$TMP/both"
expect_output "$TMP/both" 'usage: hem-forwarder' 'hem-forwarder (no arguments)'
say "hem-forwarder (no arguments): usage, exit 2"

cp "$ROOT/test/vectors/docs-log-62310ba5.log" "$ROOT/test/vectors/docs-logger-key.json" "$WORK/"
expect_status 0 'verify' -- hem-forwarder verify --key-file docs-logger-key.json docs-log-62310ba5.log
expect_output "$TMP/out" 'docs-log-62310ba5.log: valid (7/7 records verified, 1 key segment)' verify
expect_output "$TMP/out" 'Results: 1/1 files valid; 7/7 records verified' verify
say "verify: $(tail -n 1 "$TMP/out")"

# The config shipped in the package, as a user would first try it.
expect_status 0 'check-config' -- hem-forwarder check-config --config "$PKG/config.example.yaml"
say "check-config on $PKG/config.example.yaml: exit 0"

if node "$ROOT/test/engine/engine.mjs" status --port "$PORT" >/dev/null 2>&1; then
  ENGINE_URL="http://127.0.0.1:$PORT"
  say "using the engine already running on $ENGINE_URL"
else
  ENGINE_STARTED=1
  ENGINE_URL="$(node "$ROOT/test/engine/engine.mjs" start --port "$PORT" | sed -n 's/^ENGINE_URL=//p')"
  [ -n "$ENGINE_URL" ] || fail "the test engine did not start on port $PORT"
  say "started the test engine on $ENGINE_URL"
fi
expect_status 0 'setup --dry-run' -- hem-forwarder setup --dry-run --elasticsearch "$ENGINE_URL"
expect_output "$TMP/out" 'index_template logs-encedo_hem.audit' 'setup --dry-run'
expect_output "$TMP/out" 'dry run, nothing changed' 'setup --dry-run'
say "setup --dry-run: $(tail -n 1 "$TMP/out")"

expect_status 0 'run --once' -- hem-forwarder run --once --config "$PKG/config.example.yaml"
expect_output "$TMP/out" 'Summary: 1 device(s); 6 files ingested (1 INVALID)' 'run --once'
expect_output "$TMP/out" 'output: NDJSON files in data/out' 'run --once'
ls "$WORK"/data/out/*.ndjson >/dev/null 2>&1 || fail "run --once wrote no NDJSON files under $WORK/data/out"
[ -f "$WORK/data/state/custody-key.pem" ] || fail "run --once wrote no state under $WORK/data/state"
[ ! -e "$PKG/data" ] || fail "run --once wrote into the installed package ($PKG/data)"
say "run --once: $(grep -F 'Summary:' "$TMP/out")"
say "run --once: $(cat "$WORK"/data/out/*.ndjson | wc -l) documents in $(ls "$WORK"/data/out | wc -l) NDJSON file(s) under ./data/out"

say "OK"
