#!/bin/sh
# Build app.jar from src/Main.java with this machine's JDK (javac and jar).
set -eu
cd "$(dirname "$0")"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
javac --release 17 -d "$out" src/Main.java
jar --create --file app.jar --main-class Main -C "$out" .
echo "made $(pwd)/app.jar"
