"""The test tree works with the README's one command (`python -m pytest -q`, pytest's default import mode): no two
test modules share a base name, since neither tier is a package."""
import collections
import os

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_test_module_names_are_unique_across_tiers():
    names = collections.defaultdict(list)
    for folder, _, files in os.walk(TESTS):
        for f in files:
            if f.startswith("test_") and f.endswith(".py"):
                names[f].append(os.path.relpath(os.path.join(folder, f), TESTS))
    assert {n: p for n, p in names.items() if len(p) > 1} == {}
