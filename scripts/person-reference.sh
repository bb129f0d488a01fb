#!/usr/bin/env bash
# Regenerates crates/vigia-detect/tests/person_reference.toml: the person
# model's outputs on a few images of the labelled set, computed by
# TensorFlow itself (PyPI tensorflow-cpu, in a throwaway virtualenv) on the
# input tensors vigia's own preprocessing makes. The test
# person_reference.rs then holds tract to those numbers (within 0.01).
# Not run by CI: the fixture is committed; run this after changing the
# model or the preprocessing.
set -euo pipefail
cd "$(dirname "$0")/.."
# The labelled set needs the opencv-doc footage: run scripts/test.sh once first.
export VIGIA_FIXTURES="${VIGIA_FIXTURES:-$PWD/fixtures-cache/opencv-doc}"
. scripts/person-fixtures.sh
venv=${VIGIA_TF_VENV:-/var/tmp/vigia-tf-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q tensorflow-cpu==2.21.0
files=(darknet/person.jpg skimage/astronaut.png skimage/chelsea.png darknet/dog.jpg darknet/horses.jpg)
inputs=$(mktemp -d)
trap 'rm -rf "$inputs"' EXIT
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/vigia-rel}" cargo run -q --release -p vigia-detect --example model_inputs -- "$inputs" "${files[@]/#/$VIGIA_PERSON_SET/}"
TF_CPP_MIN_LOG_LEVEL=2 "$venv/bin/python" scripts/person_reference.py "$VIGIA_PERSON_MODEL" "$inputs" "${files[@]}" \
    > crates/vigia-detect/tests/person_reference.toml
echo "wrote crates/vigia-detect/tests/person_reference.toml" >&2
