#!/usr/bin/env bash
# Builds axprobe's .deb and .rpm: the static binaries exactly as the Dockerfile builds them,
# then the packages with nfpm through build/package (its own Go module, so nfpm never enters
# the main go.mod). What goes where: docs/DEPLOY.md ("Packages").
#
#   scripts/build-packages.sh [OUTDIR]        # default OUTDIR: dist/
#   VERSION=1.2.0 scripts/build-packages.sh   # default: from git (see below)
#
# Prints the paths of the packages written. The version: $VERSION if set; else the last
# tag vX.Y.Z with commits since it as X.Y.Z+git<n>.<hash>; else 0.0.0~git<date>.<hash>.
# Files carry the last commit's time, so the same commit gives the same contents.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(realpath -m "${1:-$repo/dist}")
cd "$repo"

version=${VERSION:-}
if [[ -z $version ]]; then
	hash=$(git rev-parse --short=7 HEAD 2>/dev/null || echo unknown)
	if desc=$(git describe --tags --match 'v[0-9]*' 2>/dev/null); then
		version=${desc#v}
		if [[ $version =~ ^([0-9][0-9.]*)-([0-9]+)-g[0-9a-f]+$ ]]; then
			version="${BASH_REMATCH[1]}+git${BASH_REMATCH[2]}.$hash"
		fi
	else
		version="0.0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || date -u +%Y%m%d).$hash"
	fi
fi
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

mkdir -p "$out/bin"
for cmd in axprobe axprobe-monitor; do
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$out/bin/$cmd" "./cmd/$cmd"
done
(cd build/package && go run . --repo "$repo" --bin "$out/bin" --version "$version" --out "$out")
