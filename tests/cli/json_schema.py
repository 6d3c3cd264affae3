"""json_schema.py - for the CLI tests: the JSON schema tables of
docs/cli.md (rows "| object | `field` | kind | meaning |") and a check that
an object has exactly the fields of its table, of the kinds it says."""
import re
import sys

KINDS = {"integer": (int,), "string": (str,), "array": (list,), "boolean": (bool,),
         "ratio": (float, int, type(None)), "bytes": (int, type(None)),
         "protection": (str, type(None)), "count": (int, type(None)),
         "optstring": (str, type(None)), "optinteger": (int, type(None)),
         "optboolean": (bool, type(None))}


def tables(doc_path):
    """{object: {field: kind}} of every schema row of doc_path."""
    want = {}
    rows = re.findall(r"^ *\| (\w+) \| `(\w+)` \| (\w+) \|", open(doc_path).read(), re.M)
    for obj, key, kind in rows:
        want.setdefault(obj, {})[key] = kind
    return want


def check(want, obj, name):
    """Exit with a message unless obj has exactly the fields of table name."""
    if name not in want:
        sys.exit("docs/cli.md has no table for %s" % name)
    got, exp = set(obj), set(want[name])
    if got != exp:
        sys.exit("%s: undocumented %s, missing %s" % (name, sorted(got - exp), sorted(exp - got)))
    for k, v in obj.items():
        kind = want[name][k]
        if not isinstance(v, KINDS[kind]) or (isinstance(v, bool) and "boolean" not in kind):
            sys.exit("%s.%s = %r is not %s" % (name, k, v, kind))
