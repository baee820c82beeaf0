"""Convert a workflow made with ComfyUI-AnimateDiff-Evolved, the old ComfyUI AnimateDiff pack or FizzNodes' batch
prompt schedules to this pack's nodes.

    python -m tools.convert_workflow IN.json -o OUT.json [--strict]

The report goes to stderr: every node converted (old id and type -> new nodes) and every option this pack does not
reproduce, with its node id and value. OUT is written atomically (a temporary file renamed into place) and never over
IN. Exit status: 0 converted (or nothing to convert: OUT is a copy), 1 refused under --strict (nothing written),
2 not a workflow or not convertible (nothing written).
"""
import argparse
import json
import os
import sys
import tempfile

if __package__ in (None, ""):  # run as a script: python tools/convert_workflow.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tools.convert import ConversionError, NotAWorkflow, StrictRefused, convert_workflow  # noqa: E402
from tools.convert.report import REFUSING  # noqa: E402

EXIT_OK, EXIT_REFUSED, EXIT_BAD_INPUT = 0, 1, 2


def read_workflow(path: str):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except UnicodeDecodeError as err:
        raise NotAWorkflow(f"{path}: not a text file ({err.reason})")
    except json.JSONDecodeError as err:
        raise NotAWorkflow(f"{path}: not JSON (line {err.lineno}, column {err.colno}: {err.msg})")


def write_atomically(path: str, data) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".convert-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, ensure_ascii=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def same_file(a: str, b: str) -> bool:
    if os.path.exists(b):
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.convert_workflow", description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="the workflow to convert (UI or API format JSON)")
    parser.add_argument("-o", "--output", required=True, help="where to write the converted workflow")
    parser.add_argument("--strict", action="store_true",
                        help="refuse (exit 1, nothing written) if any option would not be reproduced")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.input):
        print(f"error: {args.input}: no such file", file=sys.stderr)
        return EXIT_BAD_INPUT
    if same_file(args.input, args.output):
        print(f"error: the output {args.output} is the input file: choose another name (the input is never "
              f"overwritten)", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        result = convert_workflow(read_workflow(args.input), strict=args.strict)
    except StrictRefused as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except ConversionError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for line in result.lines:
        print(line, file=sys.stderr)
    write_atomically(args.output, result.workflow)
    if result.changed:
        refusing = sum(1 for e in result.report if e.kind in REFUSING)
        print(f"wrote {args.output}: {refusing} difference(s) from the original listed above" if refusing else
              f"wrote {args.output}: everything converted", file=sys.stderr)
    else:
        print(f"wrote {args.output}: nothing to convert (no AnimateDiff-Evolved, old AnimateDiff or FizzNodes "
              f"nodes), an unchanged copy", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
