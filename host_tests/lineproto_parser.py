"""An Influx line protocol parser written from the protocol reference, for
the tests (independent of lib/monitoring/lineproto.py).

    measurement(,tag_key=tag_value)* field_key=field_value(,field_key=field_value)* [timestamp]

Escapes: in the measurement `\\,` and `\\ `; in tag keys, tag values and
field keys `\\,` `\\=` `\\ `; in string field values `\\"` and `\\\\`. A
backslash before any other character is a literal backslash.
Inside a quoted string field value every other character stands for itself,
LF and CR included (InfluxDB's parser and Telegraf's store them): a line
ends at the first LF outside quotes.
"""


class ParseError(ValueError):
    pass


def _scan(s, i, stops, escapable):
    """Read until an unescaped char of ``stops``; returns (text, index)."""
    out = []
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n and s[i + 1] in escapable:
            out.append(s[i + 1])
            i += 2
            continue
        if c in stops:
            break
        if c in "\n\r":  # only a string value may hold them
            raise ParseError("newline outside a string value")
        out.append(c)
        i += 1
    return "".join(out), i


def _value(text):
    if text.endswith("i"):
        v = int(text[:-1])
        if not -(1 << 63) <= v < (1 << 63):
            raise ParseError("int out of range")
        return v
    if text in ("t", "T", "true", "True", "TRUE"):
        return True
    if text in ("f", "F", "false", "False", "FALSE"):
        return False
    v = float(text)
    if v != v or v in (float("inf"), float("-inf")):
        raise ParseError("not a finite float")
    return v


def parse_line(line):
    """(measurement, {tags}, {fields}, timestamp or None) of one line (str,
    without the LF that ends it). Raises ParseError."""
    m, i = _scan(line, 0, ", ", ", ")
    if not m:
        raise ParseError("empty measurement")
    tags = {}
    while i < len(line) and line[i] == ",":
        k, i = _scan(line, i + 1, "=", ",= ")
        if i >= len(line) or line[i] != "=":
            raise ParseError("tag without =")
        v, i = _scan(line, i + 1, ", ", ",= ")
        if not k or not v:
            raise ParseError("empty tag key or value")
        tags[k] = v
    if i >= len(line) or line[i] != " ":
        raise ParseError("no fields")
    i += 1
    fields = {}
    while True:
        k, i = _scan(line, i, "=", ",= ")
        if i >= len(line) or not k:
            raise ParseError("field without =")
        i += 1
        if i < len(line) and line[i] == '"':
            i += 1
            out = []
            while True:
                if i >= len(line):
                    raise ParseError("unterminated string")
                c = line[i]
                if c == "\\" and i + 1 < len(line) and line[i + 1] in '"\\':
                    out.append(line[i + 1])
                    i += 2
                    continue
                if c == '"':
                    i += 1
                    break
                out.append(c)
                i += 1
            fields[k] = "".join(out)
        else:
            j = i
            while j < len(line) and line[j] not in ", ":
                j += 1
            if "\n" in line[i:j] or "\r" in line[i:j]:
                raise ParseError("newline outside a string value")
            fields[k] = _value(line[i:j])
            i = j
        if i < len(line) and line[i] == ",":
            i += 1
            continue
        break
    ts = None
    if i < len(line):
        if line[i] != " ":
            raise ParseError("junk after fields")
        t = line[i + 1:]
        if not t.lstrip("-").isdigit():
            raise ParseError("bad timestamp")
        ts = int(t)
    return m, tags, fields, ts
