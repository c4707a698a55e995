#!/usr/bin/env python3
"""A strict parser of the Prometheus text exposition format 0.0.4, for tests.

    promtext.py check FILE                 parse FILE; exit 1 naming the first problem
    promtext.py get FILE 'name{a="b"}'...  print each series' value (0 for an absent
                                           series of a counter; any other absent is an error)

Beyond the format's grammar (comments, metric and label names, quoted label
values with their three escapes, values, no duplicate series), it holds the
exporter to the conventions: every family has one HELP and one TYPE line,
before its samples, which are contiguous; counters end in _total; a
histogram has _bucket series with ascending le bounds, cumulative counts,
an le="+Inf" bucket equal to _count, and a _sum.
"""
import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class Error(Exception):
    pass


def parse_value(text, where):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        raise Error(f"{where}: bad value {text!r}")
    return float(text)


def parse_labels(text, pos, where):
    """Parses {a="b",...} starting at text[pos] == '{'; returns (labels, next pos)."""
    labels = {}
    pos += 1
    while True:
        if text[pos:pos + 1] == "}":
            return labels, pos + 1
        m = re.match(r"[a-zA-Z_][a-zA-Z0-9_]*", text[pos:])
        if not m:
            raise Error(f"{where}: bad label name at column {pos + 1}")
        name = m.group(0)
        pos += len(name)
        if text[pos:pos + 2] != '="':
            raise Error(f"{where}: expected =\" after label {name}")
        pos += 2
        value = []
        while True:
            if pos >= len(text):
                raise Error(f"{where}: unterminated label value")
            c = text[pos]
            if c == "\\":
                esc = text[pos + 1:pos + 2]
                if esc not in ("\\", '"', "n"):
                    raise Error(f"{where}: bad escape \\{esc} in label {name}")
                value.append("\n" if esc == "n" else esc)
                pos += 2
            elif c == '"':
                pos += 1
                break
            elif c == "\n":
                raise Error(f"{where}: raw newline in label value")
            else:
                value.append(c)
                pos += 1
        if name in labels:
            raise Error(f"{where}: label {name} twice")
        labels[name] = "".join(value)
        if text[pos:pos + 1] == ",":
            pos += 1
        elif text[pos:pos + 1] != "}":
            raise Error(f"{where}: expected , or }} after label {name}")


def family_of(sample, families):
    for suffix in ("_bucket", "_sum", "_count", ""):
        base = sample[: len(sample) - len(suffix)] if suffix else sample
        if sample.endswith(suffix) and base in families:
            if suffix and families[base]["type"] not in ("histogram", "summary"):
                continue
            return base
    return None


def parse(text):
    """Returns {family: {"type", "help", "samples": {(name, labels): value}}}."""
    if text and not text.endswith("\n"):
        raise Error("the last line has no newline")
    families, current, seen = {}, None, set()
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = f"line {n}"
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) < 3 or parts[1] not in ("HELP", "TYPE"):
                continue  # a plain comment
            kind, name = parts[1], parts[2]
            if not NAME.match(name):
                raise Error(f"{where}: bad metric name {name!r}")
            fam = families.setdefault(name, {"type": None, "help": None, "samples": {}})
            if fam["samples"]:
                raise Error(f"{where}: {kind} of {name} after its samples")
            key = kind.lower()
            if fam[key] is not None:
                raise Error(f"{where}: second {kind} line for {name}")
            rest = parts[3] if len(parts) > 3 else ""
            if kind == "TYPE" and rest not in TYPES:
                raise Error(f"{where}: unknown type {rest!r}")
            fam[key] = rest
            if kind == "TYPE" and rest == "counter" and not name.endswith("_total"):
                raise Error(f"{where}: counter {name} does not end in _total")
            current = name
            continue
        if line.strip() == "":
            raise Error(f"{where}: blank line")
        m = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line)
        if not m:
            raise Error(f"{where}: bad sample line {line!r}")
        name, pos, labels = m.group(0), m.end(), {}
        if line[pos:pos + 1] == "{":
            labels, pos = parse_labels(line, pos, where)
        fields = line[pos:].split()
        if not line[pos:].startswith(" ") or len(fields) not in (1, 2):
            raise Error(f"{where}: expected ' VALUE [TIMESTAMP]' after the series")
        value = parse_value(fields[0], where)
        base = family_of(name, families)
        if base is None or families[base]["type"] is None or families[base]["help"] is None:
            raise Error(f"{where}: sample {name} has no HELP and TYPE before it")
        if base != current:
            raise Error(f"{where}: samples of {base} are not together")
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise Error(f"{where}: duplicate series {name}{labels}")
        seen.add(key)
        families[base]["samples"][key] = value
    for name, fam in families.items():
        if fam["type"] == "histogram":
            check_histogram(name, fam["samples"])
    return families


def check_histogram(name, samples):
    groups = {}
    for (sname, labels), value in samples.items():
        rest = tuple(kv for kv in labels if kv[0] != "le")
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if sname == name + "_bucket":
            le = dict(labels).get("le")
            if le is None:
                raise Error(f"{name}: a bucket without le")
            g["buckets"].append((parse_value(le, name), value))
        elif sname == name + "_sum":
            g["sum"] = value
        elif sname == name + "_count":
            g["count"] = value
        else:
            raise Error(f"{name}: unexpected series {sname}")
    for rest, g in groups.items():
        bounds = [b for b, _ in g["buckets"]]
        if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            raise Error(f"{name}{rest}: le bounds not ascending")
        if not bounds or bounds[-1] != math.inf:
            raise Error(f"{name}{rest}: no le=\"+Inf\" bucket")
        counts = [c for _, c in g["buckets"]]
        if any(b < a for a, b in zip(counts, counts[1:])):
            raise Error(f"{name}{rest}: buckets not cumulative: {counts}")
        if g["count"] is None or g["sum"] is None:
            raise Error(f"{name}{rest}: _sum or _count missing")
        if counts[-1] != g["count"]:
            raise Error(f"{name}{rest}: +Inf bucket {counts[-1]} != _count {g['count']}")


def series_key(spec):
    m = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", spec)
    if not m:
        raise Error(f"bad series {spec!r}")
    labels = {}
    if spec[m.end():m.end() + 1] == "{":
        labels, end = parse_labels(spec, m.end(), spec)
        if end != len(spec):
            raise Error(f"bad series {spec!r}")
    return (m.group(0), tuple(sorted(labels.items())))


def main(argv):
    if len(argv) < 3 or argv[1] not in ("check", "get"):
        sys.exit(__doc__)
    with open(argv[2], encoding="utf-8") as f:
        text = f.read()
    try:
        families = parse(text)
        values = {}
        for fam in families.values():
            values.update(fam["samples"])
        for spec in argv[3:]:
            key = series_key(spec)
            base = family_of(key[0], families)
            if key not in values and (base is None or families[base]["type"] != "counter"):
                raise Error(f"no series {spec} (only a counter's may be absent)")
            v = values.get(key, 0.0)
            print(int(v) if v.is_integer() else repr(v))
    except Error as e:
        sys.exit(f"promtext: {argv[2]}: {e}")


if __name__ == "__main__":
    main(sys.argv)
