#!/usr/bin/env python3
"""Validates Plotly figure JSON files with plotly.py's own validators.

    tests/visualizations/.venv/bin/python tests/visualizations/validate_plotly.py FILE.json...

Each file must be strict JSON (no NaN or Infinity, which plotly.js cannot read) holding a
figure `{"data": [...], "layout": {...}}` that `plotly.graph_objects.Figure(...)` accepts: it
raises on any unknown property or invalid value. Warnings count as errors. Prints one line per
file; exits 1 naming every file that failed (and why), 2 on bad usage.
"""

import json
import sys
import warnings


def reject_constant(name):
    raise ValueError(f"{name} is not JSON (plotly.js cannot read it; write null)")


def check(path, go):
    with open(path, encoding="utf-8") as f:
        figure = json.load(f, parse_constant=reject_constant)
    if not isinstance(figure, dict) or set(figure) - {"data", "layout", "frames"}:
        raise ValueError("not a figure: expected an object with 'data' and 'layout'")
    if not isinstance(figure.get("data"), list) or not isinstance(figure.get("layout"), dict):
        raise ValueError("'data' must be a list and 'layout' an object")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = go.Figure(figure)
    types = [trace.type for trace in fig.data]
    return f"{len(types)} trace(s) [{', '.join(types)}], layout keys: {', '.join(sorted(figure['layout']))}"


def main(paths):
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    import plotly
    import plotly.graph_objects as go

    print(f"validating {len(paths)} file(s) with plotly.py {plotly.__version__}")
    failed = []
    for path in paths:
        try:
            print(f"ok   {path}: {check(path, go)}")
        except Exception as e:  # noqa: BLE001 - every failure is reported with its file
            message = " ".join(str(e).split())
            print(f"FAIL {path}: {type(e).__name__}: {message}")
            failed.append(path)
    if failed:
        print(f"{len(failed)} of {len(paths)} file(s) invalid: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"all {len(paths)} file(s) valid")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
