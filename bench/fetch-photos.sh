#!/bin/sh
# Puts real colour photographs in bench/photos/ for the codec benchmark (bench/codec.ts): the sample
# photos Debian's python3-skimage package ships (scikit-image's data directory; the documentation
# of skimage.data gives each one's source and licence). Needs apt-get and dpkg-deb; nothing is installed. Skips when the
# folder already holds images. bench/photos/ is gitignored: the photos are not committed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dest="$here/photos"
if [ -d "$dest" ] && [ -n "$(ls -A "$dest" 2>/dev/null)" ]; then
  echo "bench/photos already has $(ls "$dest" | wc -l) files; nothing to do"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download python3-skimage >/dev/null 2>&1) || {
  echo "fetch-photos: 'apt-get download python3-skimage' failed (no Debian package source?)" >&2
  exit 1
}
dpkg-deb -x "$tmp"/python3-skimage_*.deb "$tmp/x"
src=$(find "$tmp/x" -type d -path '*/skimage/data' | head -n 1)
[ -n "$src" ] || { echo "fetch-photos: no skimage/data directory in the package" >&2; exit 1; }
mkdir -p "$dest"
# Colour photographs only (no synthetic, gray or microscopy images; one of the stereo pair).
n=0
for f in astronaut.png chelsea.png coffee.png motorcycle_left.png hubble_deep_field.jpg rocket.jpg retina.jpg; do
  if [ -f "$src/$f" ]; then cp "$src/$f" "$dest/"; n=$((n + 1)); fi
done
echo "copied $n photographs to bench/photos/"
