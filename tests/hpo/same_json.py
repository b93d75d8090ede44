"""Whether two JSON fixture files hold the same data, floats equal to 12 significant digits.

Byte equality is too strict for fixtures computed with NumPy: its SIMD kernels (AVX2 or
AVX-512, picked at run time by the CPU) may round the last bit of `exp`/`log` differently,
so the same pinned scripts give last-digit differences on another machine. The Rust tests
compare with far looser tolerances; this check proves the committed files come from the
scripts. Exit 0 when equal; else the path of the first difference on stderr and exit 1.

    python same_json.py COMMITTED.json REGENERATED.json
"""
import json
import math
import sys


def first_difference(a, b, path="$"):
    if isinstance(a, bool) or isinstance(b, bool) or not (
        isinstance(a, (int, float)) and isinstance(b, (int, float))
    ):
        if type(a) is not type(b):
            return f"{path}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return f"{path}: keys {sorted(a)} vs {sorted(b)}"
        for key in a:
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    if isinstance(a, (int, float)) and not isinstance(a, bool):
        if math.isnan(a) and math.isnan(b):
            return None
        if a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300):
            return None
        return f"{path}: {a!r} vs {b!r}"
    return None if a == b else f"{path}: {a!r} vs {b!r}"


with open(sys.argv[1]) as f1, open(sys.argv[2]) as f2:
    difference = first_difference(json.load(f1), json.load(f2))
if difference:
    print(difference, file=sys.stderr)
    sys.exit(1)
