#!/usr/bin/env bash
# Install a real consensus client, Lodestar 1.5.1 (npm: @chainsafe/lodestar), into .tools/lodestar
# for tests/integration/test_real_lodestar.py. Idempotent: nothing is done when the installed tree
# matches tests/fixtures/beacon/lodestar-install/ and `lodestar --version` answers.
#
# Only the npm registry is contacted. Why 1.5.1 and the pins: /work/notes/lodestar-attempt.md,
# summarised in tests/fixtures/beacon/lodestar/README.md (the reachable registry has no complete
# @lodestar/* set of a newer release; the overrides pin the set and multiaddr/mafmt 11).
#   - `npm ci` from the committed lockfile (883 packages, integrity-checked), install scripts
#     skipped: blst's and snappy's would download prebuilt binaries from GitHub.
#   - blst: its shipped prebuild for this Node's ABI is used as is (nothing built or fetched).
#   - snappy, bcrypto: built here with node-gyp against the local Node headers (--nodedir, so
#     node-gyp downloads nothing): needs g++, make, python3 and /usr/include/node (Debian's
#     libnode-dev for its nodejs 18; NodeSource's nodejs package ships them itself).
#   - Promise.withResolvers polyfill (Node < 22), loaded by the .tools/lodestar/bin/lodestar wrapper.
# On failure: one line on stderr and in .tools/lodestar/FAILED (the test fails with it), exit 1.
set -euo pipefail
self=$(readlink -f "$0")
cd "$(dirname "$self")/.."
repo=$PWD
src=tests/fixtures/beacon/lodestar-install
dir=.tools/lodestar
log=$dir/install.log
bin=$dir/bin/lodestar
want=1.5.1
limit=${LODESTAR_INSTALL_TIMEOUT:-900}   # seconds for npm ci, each native build gets 300
mkdir -p "$dir"

fail() {
  echo "$*" > "$dir/FAILED"
  echo "lodestar: install failed: $* (log: $dir/install.log)" >&2
  exit 1
}

stamp=$(cat "$src/package.json" "$src/package-lock.json" "$src/polyfill.cjs" "$self" | sha256sum | cut -c1-16)
if [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$stamp" ] && [ -x "$bin" ] \
   && timeout 60 "$bin" --version 2>/dev/null | grep -q "v$want"; then
  rm -f "$dir/FAILED"
  exit 0
fi

for tool in node npm g++ make python3; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool not found (Debian: apt-get install nodejs npm g++ make python3)"
done
node_abi=$(node -p process.versions.modules)
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || fail "Node.js $(node --version) is too old for Lodestar 1.5.1 (needs >= 18)"
# Node's own headers: the prefix node.h sits under (node-gyp would download them otherwise).
nodedir=""
for prefix in "$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")" /usr /usr/local; do
  if [ -f "$prefix/include/node/node.h" ] && [ -f "$prefix/include/node/common.gypi" ]; then nodedir=$prefix; break; fi
done
[ -n "$nodedir" ] || fail "no Node.js headers (include/node/node.h) for $(node --version) (Debian nodejs 18: apt-get install libnode-dev)"

echo "lodestar: installing @chainsafe/lodestar $want into $dir (npm ci, log: $log)"
start=$(date +%s)
rm -rf "$dir/node_modules" "$dir/bin" "$dir/.installed"
cp "$src/package.json" "$src/package-lock.json" "$src/polyfill.cjs" "$dir/"
: > "$log"
(cd "$dir" && NPM_CONFIG_UPDATE_NOTIFIER=false timeout "$limit" npm ci --ignore-scripts --no-audit --no-fund \
   --loglevel=warn) >> "$log" 2>&1 \
  || fail "npm ci failed or took over ${limit}s (rc $?): $(grep -m1 -E 'npm (ERR|error)' "$log" | cut -c1-200)"

nm=$dir/node_modules
blst_prebuild=$nm/@chainsafe/blst/prebuild/linux-x64-$node_abi-binding.node
[ "$(uname -m)" = x86_64 ] || fail "only x86_64 is covered (blst's prebuilds are chosen for linux-x64)"
[ -f "$blst_prebuild" ] || fail "@chainsafe/blst ships no prebuild for Node ABI $node_abi ($(node --version)); not building it"
for pkg in snappy bcrypto; do
  echo "lodestar: node-gyp rebuild $pkg --nodedir=$nodedir" >> "$log"
  (cd "$nm/$pkg" && timeout 300 node "$repo/$nm/node-gyp/bin/node-gyp.js" rebuild --nodedir="$nodedir" -j 2) >> "$log" 2>&1 \
    || fail "building $pkg's native module with node-gyp failed (g++/make/python3 and $nodedir/include/node needed)"
done

mkdir -p "$dir/bin"
cat > "$bin" <<EOF
#!/bin/sh
# Lodestar $want from scripts/lodestar.sh (Promise.withResolvers polyfill for Node < 22).
here=\$(dirname "\$(readlink -f "\$0")")/..
NODE_OPTIONS="\${NODE_OPTIONS:+\$NODE_OPTIONS }--require \$here/polyfill.cjs" exec node "\$here/node_modules/@chainsafe/lodestar/lib/index.js" "\$@"
EOF
chmod 755 "$bin"
version=$(timeout 60 "$bin" --version 2>>"$log" | grep -m1 -o 'Version: v[^ ]*' | cut -d' ' -f2) || true
case "$version" in
  *"v$want"*) ;;
  *) fail "lodestar --version did not answer v$want (got: '$(echo "$version" | cut -c1-100)'; stderr in the log)" ;;
esac
echo "$stamp" > "$dir/.installed"
rm -f "$dir/FAILED"
echo "lodestar: $version installed in $(( $(date +%s) - start )) s"
