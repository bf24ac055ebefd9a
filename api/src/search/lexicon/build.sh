#!/usr/bin/env bash
# Rebuilds it_forms.fst and it_lemmas.txt from PyPI's spacy-lookups-data (Morph-it!; see NOTICE).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="${SPACY_LOOKUPS_DATA_VERSION:-1.0.5}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps "spacy-lookups-data==$version" -d "$work"
python3 -m zipfile -e "$work"/spacy_lookups_data-*.whl "$work/wheel"
cargo run --quiet --release -p api --example build_lexicon -- \
  "$work/wheel/spacy_lookups_data/data" "$here"
ls -l "$here"/it_forms.fst "$here"/it_lemmas.txt
