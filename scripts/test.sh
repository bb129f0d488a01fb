#!/usr/bin/env bash
# Runs every vigia test. On a fresh Debian machine with Rust it first installs
# the Debian packages the tests use (when missing) and fetches the real
# footage fixtures, then runs `cargo test --workspace`.
#
#   scripts/test.sh            # everything
#   scripts/test.sh -p vigia-node   # extra arguments go to cargo test
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v ffmpeg >/dev/null || need_pkgs+=(ffmpeg)           # video file source, clip checks (ffprobe)
compgen -G '/usr/lib/llvm-*/lib/libclang.so*' >/dev/null \
    || need_pkgs+=(libclang-dev)                               # v4l crate's bindgen (libclang-cpp does not do)
command -v pkg-config >/dev/null || need_pkgs+=(pkg-config)
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)              # browser end-to-end tests
command -v chromedriver >/dev/null || need_pkgs+=(chromium-driver)
python3 -m pip --version >/dev/null 2>&1 || need_pkgs+=(python3-pip)  # person model and scikit-image images (pip download)
{ [ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null; } || need_pkgs+=(mosquitto)  # MQTT tests (vigia-notify)
# SSH link interop/refusal tests (tests/link_interop.rs, tests/link_refusals.rs):
# a stock sshd as the node's plain SFTP target, stock ssh/sftp/scp against vigia's server.
{ [ -x /usr/sbin/sshd ] || command -v sshd >/dev/null; } || need_pkgs+=(openssh-server)
{ command -v ssh && command -v sftp && command -v scp && command -v ssh-keygen; } >/dev/null || need_pkgs+=(openssh-client)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    echo "[test.sh] installing Debian packages: ${need_pkgs[*]}" >&2
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# Real footage: vtest.avi (pedestrians) and tree.avi (foliage, exposure
# changes) from Debian's opencv-doc. Use the installed package if present,
# else extract just those two files from its .deb (no mathjax & co).
if [ -z "${VIGIA_FIXTURES:-}" ]; then
    if [ -f /usr/share/doc/opencv-doc/examples/data/vtest.avi ] && [ -f /usr/share/doc/opencv-doc/examples/data/tree.avi ]; then
        export VIGIA_FIXTURES=/usr/share/doc/opencv-doc/examples/data
    else
        export VIGIA_FIXTURES="$PWD/fixtures-cache/opencv-doc"
        if [ ! -f "$VIGIA_FIXTURES/vtest.avi" ] || [ ! -f "$VIGIA_FIXTURES/tree.avi" ]; then
            echo "[test.sh] extracting vtest.avi and tree.avi from Debian's opencv-doc package" >&2
            mkdir -p "$VIGIA_FIXTURES"
            tmp=$(mktemp -d)
            (cd "$tmp" && apt-get download opencv-doc >/dev/null 2>&1) || {
                SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
                $SUDO apt-get update -qq && (cd "$tmp" && apt-get download opencv-doc >/dev/null)
            }
            for f in vtest.avi tree.avi; do
                dpkg-deb --fsys-tarfile "$tmp"/opencv-doc_*.deb \
                    | tar -xO "./usr/share/doc/opencv-doc/examples/data/$f" > "$VIGIA_FIXTURES/$f"
            done
            rm -rf "$tmp"
        fi
    fi
fi
echo "[test.sh] fixtures: $VIGIA_FIXTURES" >&2

# Person detection: the model and the labelled image set.
. scripts/person-fixtures.sh

# cargo prints one "test result" line per test binary (the last ones are
# often empty doc-test runs); close with the totals so the end of the log
# says what ran.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "totals: %d passed, %d failed, %d skipped\n", p, f, i }' "$log"
exit "$status"
