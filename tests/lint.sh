#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# make lint: clang-format must agree with the tree, banned functions
# (curl's list) must not appear in C sources, and the include graph has no
# cycle.
cd "$(dirname "$0")/.." || exit 1
rc=0
files=$(git ls-files '*.c' '*.h'; git ls-files -o --exclude-standard '*.c' '*.h')
for f in $files; do
	[ -f "$f" ] || continue
	if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "lint: $f: not clang-formatted (make format)"
		rc=1
	fi
done
banned='\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|gets)[[:space:]]*\('
if grep -nE "$banned" $files; then
	echo "lint: banned function above (use snprintf, memcpy, strtol...)"
	rc=1
fi
# the module graph: no include cycle, no upward include
if ! python3 tests/deps_graph.py >/dev/null; then
	python3 tests/deps_graph.py | grep -v ' -> '
	echo "lint: include graph above (make deps-graph)"
	rc=1
fi
[ $rc = 0 ] && echo "lint: clean"
exit $rc
