#!/usr/bin/env bash
# The main job: installs dependencies, builds, and runs the engine demo against a store in
# ./demo-store (kept between runs, so a second run shows the objects surviving a restart).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
scripts/build.sh release
exec build-release/tools/edgecache-store-demo --store demo-store "$@"
