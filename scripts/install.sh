#!/usr/bin/env sh
# Installs an xai binary and the shipped models: BINARY → PREFIX/bin/xai,
# samples/models/* → PREFIX/share/xai/models/ (where xai looks beside its bin folder).
# Usage: scripts/install.sh BINARY PREFIX
set -eu
binary=$1
prefix=$2
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$prefix/bin" "$prefix/share/xai/models"
cp "$binary" "$prefix/bin/xai.tmp" && mv "$prefix/bin/xai.tmp" "$prefix/bin/xai"
chmod 755 "$prefix/bin/xai"
for model in "$root"/samples/models/*; do
  name=$(basename "$model")
  rm -rf "$prefix/share/xai/models/$name"
  cp -R "$model" "$prefix/share/xai/models/$name"
done
echo "installed $prefix/bin/xai and $(ls "$root/samples/models" | wc -l) models in $prefix/share/xai/models"
