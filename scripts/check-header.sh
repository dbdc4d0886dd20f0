#!/usr/bin/env bash
# Checks the public C header (include/lmbatch.h, or the file given) for CI:
#   1. every macro, type, tag, enum constant and function it declares starts with LM_, lm_ or
#      LMBATCH_ (a VMS has its own MAX_IN_FLIGHT, OK, ERROR, STATUS...);
#   2. it compiles as C and as C++ with -Wall -Wextra -Werror after a VMS's common names are
#      defined as macros, and leaves those macros as they were (no redefinition, no change).
# The scan is itself checked first: on a copy with planted unprefixed names it must fail.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
header="${1:-$root/include/lmbatch.h}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Prints each declared name that lacks the prefix; exit status 1 if there is one.
unprefixed() {
  local file="$1"
  # Macros: what the header defines beyond its own system includes.
  grep -E '^#include <' "$file" >"$work/includes.h" || true
  cc -E -dM -x c "$work/includes.h" | awk '{print $2}' | sed 's/(.*//' | sort -u >"$work/base"
  cc -E -dM -x c "$file" | awk '{print $2}' | sed 's/(.*//' | sort -u >"$work/all"
  # Declarations: the header preprocessed as C, its system includes left out.
  sed -E 's/^#include <.*>//' "$file" >"$work/own.h"
  cc -E -P -x c "$work/own.h" >"$work/decls"
  python3 - "$work/decls" "$work/base" "$work/all" ${LMBATCH_CHECK_HEADER_VERBOSE:+-v} <<'PY'
import re, sys
decls, base, every = (open(p).read() for p in sys.argv[1:4])
macros = sorted(set(every.split()) - set(base.split()))
text = re.sub(r'"(\\.|[^"\\])*"', '""', decls)
names = set(m for m in macros)
ident = r'[A-Za-z_]\w*'
# enum and struct tags, and enum constants (first identifier of each item of an enum body)
for kind, tag, body in re.findall(r'\b(enum|struct|union)\s+(%s)?\s*(\{[^{}]*\})?' % ident, text):
    if tag:
        names.add(tag)
    if kind == 'enum' and body:
        for item in body[1:-1].split(','):
            m = re.match(r'\s*(%s)' % ident, item)
            if m:
                names.add(m.group(1))
# top-level statements: typedef names and function names
depth, statement, statements = 0, [], []
for ch in text:
    if ch == '{':
        depth += 1
    elif ch == '}':
        depth -= 1
    elif ch == ';' and depth == 0:
        statements.append(''.join(statement)); statement = []; continue
    statement.append(ch)
for s in statements:
    flat = re.sub(r'\{[^{}]*\}', ' ', s)
    while re.search(r'\{[^{}]*\}', flat):
        flat = re.sub(r'\{[^{}]*\}', ' ', flat)
    if re.match(r'\s*typedef\b', flat):
        m = re.search(r'\(\s*\*\s*(%s)\s*\)' % ident, flat) or re.search(r'(%s)\s*(\[[^\]]*\]\s*)*$' % ident, flat.strip())
        if m:
            names.add(m.group(1))
    else:
        m = re.search(r'(%s)\s*\(' % ident, flat)
        if m:
            names.add(m.group(1))
        else:
            m = re.search(r'(%s)\s*(\[[^\]]*\]\s*)*(=.*)?$' % ident, flat.strip(), re.S)
            if m and flat.strip():
                names.add(m.group(1))
bad = sorted(n for n in names if not re.match(r'(LM_|lm_|LMBATCH_)', n))
for n in bad:
    print(n)
print("%d declared names scanned: %s" % (len(names), " ".join(sorted(names))) if "-v" in sys.argv else "", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}

# 0. The scan must catch planted names of every kind.
{ sed '$d' "$header"
  cat <<'C'
#define MAX_IN_FLIGHT 2
typedef struct planted_struct { int x; } planted_type;
enum planted_enum { PLANTED_CONSTANT = 1 };
typedef void (*planted_fn)(int);
int planted_function(int a);
C
  tail -n 1 "$header"; } >"$work/planted.h"
if caught="$(unprefixed "$work/planted.h" 2>/dev/null)"; then
  echo "check-header: the scan missed every planted name" >&2; exit 1
fi
for name in MAX_IN_FLIGHT planted_struct planted_type planted_enum PLANTED_CONSTANT planted_fn planted_function; do
  grep -qx "$name" <<<"$caught" || { echo "check-header: the scan missed $name" >&2; exit 1; }
done

# 1. The header itself.
if ! bad="$(unprefixed "$header")"; then
  echo "check-header: names in $header without the LM_/lm_/LMBATCH_ prefix:" >&2
  echo "$bad" >&2
  exit 1
fi

# 2. Next to a VMS's own common names, as C and as C++.
common=(MAX_IN_FLIGHT OK ERROR STATUS SUCCESS FAILURE TIMEOUT PENDING NOT_FOUND EXPIRED CANCELLED
  INTERNAL PANIC AUTO CPU TENSORRT ONNXRUNTIME BGR8 RGB8 GRAY8 MAX_BATCH API_VERSION VERSION_MAJOR
  VERSION_MINOR QUEUE_FULL NULL_ARGUMENT INVALID_ARGUMENT BUFFER_TOO_SMALL MODEL_ERROR)
{
  for i in "${!common[@]}"; do echo "#define ${common[$i]} $((1000 + i))"; done
  echo "#include \"$header\""
  echo "#include \"$header\""
  for i in "${!common[@]}"; do
    echo "VMS_ASSERT(${common[$i]} == $((1000 + i)), \"${common[$i]} changed\");"
  done
} >"$work/vms.inc"
printf '#define VMS_ASSERT _Static_assert\n#include "vms.inc"\nint main(void) { return 0; }\n' >"$work/vms.c"
printf '#define VMS_ASSERT static_assert\n#include "vms.inc"\nint main() { return 0; }\n' >"$work/vms.cpp"
cc -std=c11 -Wall -Wextra -Werror -pedantic -fsyntax-only "$work/vms.c"
c++ -std=c++17 -Wall -Wextra -Werror -pedantic -fsyntax-only "$work/vms.cpp"
echo "check-header: $header is prefixed and compiles as C and C++ next to ${#common[@]} common names"
