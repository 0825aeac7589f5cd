#!/usr/bin/env bash
# Renders a Word document (the implementation review of `tonghop export review`) to PDF with
# LibreOffice, then every page to PNG, to check the Decree 30 layout by eye. Not run in CI. Needs
# LibreOffice Writer and poppler (Debian: apt-get install -y libreoffice-writer-nogui poppler-utils).
#
#   scripts/render-review.sh bao_cao_so_ket.docx out_dir
#
# Produces <out_dir>/<name>.pdf and <out_dir>/<name>-<page>.png (80 dpi), and prints their names.
# To render the sample of the unit tests:
#
#   TONGHOP_REVIEW_DOCX=/tmp/review-sample.docx cargo test -p tonghop-export --lib write_sample -- --ignored
#   scripts/render-review.sh /tmp/review-sample.docx /tmp/review-pages
set -euo pipefail
docx=${1:?usage: scripts/render-review.sh <review.docx> <out_dir>}
out=${2:?usage: scripts/render-review.sh <review.docx> <out_dir>}
[ -f "$docx" ] || { echo "$docx: no such file" >&2; exit 1; }
soffice=$(command -v soffice || command -v libreoffice || true)
if [ -z "$soffice" ]; then
  echo "LibreOffice not found: apt-get install -y libreoffice-writer-nogui poppler-utils" >&2
  exit 1
fi
command -v pdftoppm >/dev/null || { echo "pdftoppm not found: apt-get install -y poppler-utils" >&2; exit 1; }
mkdir -p "$out"
# A private profile, so a running LibreOffice does not capture the conversion.
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$soffice" -env:UserInstallation=file://"$profile" --headless --convert-to pdf --outdir "$out" "$docx" >&2
name=$(basename "${docx%.*}")
pdf="$out/$name.pdf"
[ -f "$pdf" ] || { echo "LibreOffice wrote no $pdf" >&2; exit 1; }
rm -f "$out/$name"-[0-9]*.png
pdftoppm -png -r 80 "$pdf" "$out/$name"
echo "$pdf"
ls "$out/$name"-[0-9]*.png
