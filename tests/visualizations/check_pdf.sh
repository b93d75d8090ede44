#!/usr/bin/env bash
# Checks a PDF page by page:
#
#   tests/visualizations/check_pdf.sh FILE.pdf [--expect-text TEXT]... [--pages N]
#
# - every page, rendered with `pdftoppm -r 50 -gray`, has drawn (non-white) pixels: no blank page;
# - with --expect-text, `pdftotext` finds TEXT on EVERY page (white space is compared loosely, so
#   text wrapped over lines still matches; e.g. the medical disclaimer); may be given again;
# - with --pages, the PDF has exactly N pages.
# Prints what it checked per page; exits 1 naming each failure, 2 on bad usage.
# Needs poppler-utils (pdfinfo, pdftoppm, pdftotext) and python3.
set -euo pipefail

usage() {
  echo "usage: $0 FILE.pdf [--expect-text TEXT]... [--pages N]" >&2
  exit 2
}

[[ $# -ge 1 ]] || usage
pdf="$1"
shift
texts=()
want_pages=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --expect-text)
      [[ $# -ge 2 && -n "$2" ]] || usage
      texts+=("$2")
      shift 2
      ;;
    --pages)
      [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || usage
      want_pages="$2"
      shift 2
      ;;
    *) usage ;;
  esac
done
[[ -f "$pdf" ]] || {
  echo "FAIL $pdf: no such file" >&2
  exit 1
}
for tool in pdfinfo pdftoppm pdftotext python3; do
  command -v "$tool" >/dev/null || {
    echo "FAIL: $tool is missing (run tests/visualizations/setup.sh)" >&2
    exit 1
  }
done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/ets-check-pdf.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

if ! info="$(pdfinfo "$pdf" 2>"$tmp/pdfinfo.err")"; then
  echo "FAIL $pdf: not a readable PDF: $(tr '\n' ' ' <"$tmp/pdfinfo.err")"
  exit 1
fi
pages="$(awk '/^Pages:/ {print $2}' <<<"$info")"
echo "checking $pdf: $pages page(s)"
failures=()
if [[ -n "$want_pages" && "$pages" != "$want_pages" ]]; then
  failures+=("expected $want_pages page(s), found $pages")
fi
if [[ "$pages" -eq 0 ]]; then
  failures+=("the PDF has no page")
fi

# One grey PGM per page (page-1.pgm, ...; pdftoppm pads the number to the page count's width).
pdftoppm -r 50 -gray "$pdf" "$tmp/page"

# Loose text match: runs of white space (and soft hyphenation breaks) count as one space.
normalize() { tr -s '[:space:]' ' ' | sed 's/^ //; s/ $//'; }

for ((page = 1; page <= pages; page++)); do
  image="$(printf '%s\n' "$tmp"/page-*.pgm | grep -E "page-0*$page\.pgm$" || true)"
  if [[ -z "$image" ]]; then
    failures+=("page $page: pdftoppm wrote no image")
    continue
  fi
  # Share of pixels darker than near-white (P5 binary PGM, 8 bit).
  drawn="$(python3 - "$image" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
fields, pos = [], 0
while len(fields) < 4:
    while data[pos:pos + 1].isspace():
        pos += 1
    if data[pos:pos + 1] == b"#":
        pos = data.index(b"\n", pos)
        continue
    end = pos
    while not data[end:end + 1].isspace():
        end += 1
    fields.append(data[pos:end])
    pos = end
magic, width, height, maxval = fields[0], int(fields[1]), int(fields[2]), int(fields[3])
assert magic == b"P5" and maxval < 256, (magic, maxval)
pixels = data[pos + 1:pos + 1 + width * height]
dark = sum(1 for p in pixels if p < 245)
print(f"{dark} {width * height}")
PY
)"
  read -r dark total <<<"$drawn"
  line="page $page: $dark of $total pixels drawn at 50 dpi"
  if [[ "$dark" -eq 0 ]]; then
    failures+=("page $page is blank")
    line+=" (BLANK)"
  fi
  if [[ ${#texts[@]} -gt 0 ]]; then
    page_text="$(pdftotext -f "$page" -l "$page" "$pdf" - 2>/dev/null | normalize)"
    for text in "${texts[@]}"; do
      want="$(printf '%s' "$text" | normalize)"
      if [[ "$page_text" == *"$want"* ]]; then
        line+=", has \"$text\""
      else
        failures+=("page $page does not contain \"$text\"")
        line+=", MISSING \"$text\""
      fi
    done
  fi
  echo "  $line"
done

if [[ ${#failures[@]} -gt 0 ]]; then
  echo "FAIL $pdf:"
  printf '  - %s\n' "${failures[@]}"
  exit 1
fi
echo "ok   $pdf: $pages page(s), none blank${texts:+, expected text on every page}"
