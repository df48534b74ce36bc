#!/usr/bin/env bash
# Software Vulkan for the webgpu backend: Mesa >= 25 lavapipe from Debian bookworm-backports, downloaded with
# apt into a cache folder and extracted there (never installed system-wide; the system's Mesa is untouched).
# Debian bookworm's own Mesa 22.3 lavapipe is rejected by Dawn ("shaderUniform*ArrayDynamicIndexing required").
#
#   eval "$(.ci/lavapipe.sh)"     # prints: export VK_DRIVER_FILES=... LD_LIBRARY_PATH=...
#
# Cache: $ABLATE_LAVAPIPE_DIR (default ~/.cache/ablate/lavapipe). Logs go to stderr; stdout is only the exports.
set -euo pipefail
DIR="${ABLATE_LAVAPIPE_DIR:-$HOME/.cache/ablate/lavapipe}"
ROOT="$DIR/root"
ICD="$ROOT/usr/share/vulkan/icd.d/lvp_icd.json"
LIB="$ROOT/usr/lib/x86_64-linux-gnu"
if [ ! -f "$DIR/.done" ]; then
  echo "lavapipe: fetching Mesa 25 (bookworm-backports) into $DIR" >&2
  rm -rf "$DIR" && mkdir -p "$DIR/apt/lists/partial" "$DIR/apt/cache/archives/partial" "$DIR/debs" "$ROOT"
  KEY=/usr/share/keyrings/debian-archive-keyring.gpg
  printf 'deb [signed-by=%s] http://deb.debian.org/debian bookworm main\ndeb [signed-by=%s] http://deb.debian.org/debian bookworm-backports main\n' "$KEY" "$KEY" >"$DIR/sources.list"
  APT=(-o "Dir::Etc::sourcelist=$DIR/sources.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::lists=$DIR/apt/lists"
    -o "Dir::Cache=$DIR/apt/cache" -o "APT::Sandbox::User=root")
  apt-get "${APT[@]}" update -qq >&2
  # The driver and the newer libdrm it needs from backports; the Vulkan loader (not installed on a bare Debian).
  (cd "$DIR/debs" && apt-get "${APT[@]}" download -qq mesa-vulkan-drivers/bookworm-backports libdrm2/bookworm-backports \
    libdrm-amdgpu1/bookworm-backports libvulkan1 >&2)
  for d in "$DIR"/debs/*.deb; do dpkg-deb -x "$d" "$ROOT"; done
  missing=$(LD_LIBRARY_PATH="$LIB" ldd "$LIB/libvulkan_lvp.so" | grep 'not found' || true)
  if [ -n "$missing" ]; then
    echo "lavapipe: libvulkan_lvp.so has unresolved libraries (install them with apt):" >&2
    echo "$missing" >&2
    exit 1
  fi
  ls "$DIR"/debs >"$DIR/.done"
fi
[ -f "$ICD" ] || { echo "lavapipe: $ICD missing; remove $DIR and rerun" >&2; exit 1; }
echo "lavapipe: $(cat "$DIR/.done" | grep mesa-vulkan) in $DIR" >&2
echo "export VK_DRIVER_FILES='$ICD' VK_ICD_FILENAMES='$ICD' LD_LIBRARY_PATH='$LIB'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
