#!/usr/bin/env bash
# Converts an Excel report to PDF with LibreOffice, then the first pages to PNG, to check by eye
# that each sheet prints within the page width (A4 landscape, fit to width) with its header rows.
# Not run in CI. Needs LibreOffice Calc and poppler (Debian: apt-get install -y
# libreoffice-calc-nogui poppler-utils).
#
#   bench/report_pdf.sh bao_cao_04_2026Q1.xlsx [out_dir]
#
# Produces <out_dir>/<name>.pdf and <out_dir>/<name>-<page>.png (first 6 pages, 80 dpi).
set -euo pipefail
xlsx=${1:?usage: bench/report_pdf.sh <report.xlsx> [out_dir]}
out=${2:-$(dirname "$xlsx")}
mkdir -p "$out"
soffice=$(command -v soffice || command -v libreoffice || true)
if [ -z "$soffice" ]; then
  echo "LibreOffice not found: apt-get install -y libreoffice-calc-nogui poppler-utils" >&2
  exit 1
fi
# A private profile, so a running LibreOffice does not capture the conversion.
profile=$(mktemp -d)
"$soffice" -env:UserInstallation=file://"$profile" --headless --convert-to pdf --outdir "$out" "$xlsx"
rm -rf "$profile"
name=$(basename "${xlsx%.*}")
pdf="$out/$name.pdf"
if command -v pdfinfo >/dev/null; then
  pdfinfo "$pdf" | grep -E 'Pages|Page size'
fi
if command -v pdftoppm >/dev/null; then
  pdftoppm -png -r 80 -l 6 "$pdf" "$out/$name"
  ls "$out/$name"*.png
fi
