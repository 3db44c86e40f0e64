# SPDX-License-Identifier: Apache-2.0
"""The YAML the lab's agent configurations are written in, read into
Python data, and data written back as YAML the agent reads. Standard
library only.

The subset read is the one haproxy-conf/lab/aoai-spoa.yaml and the tests'
edits of it use: block mappings and block lists (a list item may open a
mapping: "- name: x"), flow mappings and lists ({a: 1}, [408, "500-599"]),
plain, single- and double-quoted scalars, comments. Scalars stay text, as
the agent reads them; a plain null (empty, ~, null) is None. Anything else
(anchors, tags, block scalars, several documents) is a LabYamlError with
its line: the lab must not guess at a configuration.

dump() writes JSON, which libyaml reads as YAML: every value quoted
except None (null), so the agent reads the same scalars.
"""
import json
import re

NULLS = ("", "~", "null", "Null", "NULL")


class LabYamlError(ValueError):
    pass


def _strip_comment(line):
    """<line> without its comment (a # at its start or after a space,
    outside quotes)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def _scalar(text, lineno):
    t = text.strip()
    if t[:1] == '"':
        try:
            return json.loads(t)
        except ValueError:
            raise LabYamlError("line %d: bad double-quoted scalar %s"
                               % (lineno, t))
    if t[:1] == "'":
        if len(t) < 2 or t[-1] != "'":
            raise LabYamlError("line %d: bad single-quoted scalar %s"
                               % (lineno, t))
        return t[1:-1].replace("''", "'")
    if t[:1] in ("&", "*", "!", "|", ">"):
        raise LabYamlError("line %d: %s is beyond the lab's YAML"
                           % (lineno, t))
    return None if t in NULLS else t


class _Flow:
    """A flow collection ({...} or [...]) on one line."""

    def __init__(self, text, lineno):
        self.s, self.i, self.lineno = text, 0, lineno

    def fail(self, why):
        raise LabYamlError("line %d: %s in %s" % (self.lineno, why, self.s))

    def ws(self):
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1

    def value(self):
        self.ws()
        ch = self.s[self.i:self.i + 1]
        if ch == "{":
            return self.collection("}", True)
        if ch == "[":
            return self.collection("]", False)
        if ch in ("\"", "'"):
            end = self.i + 1
            while end < len(self.s):
                if self.s[end] == "\\" and ch == "\"":
                    end += 2
                    continue
                if self.s[end] == ch:
                    break
                end += 1
            if end >= len(self.s):
                self.fail("unterminated quote")
            text, self.i = self.s[self.i:end + 1], end + 1
            return _scalar(text, self.lineno)
        m = re.compile(r"[^,\]}]*").match(self.s, self.i)
        self.i = m.end()
        return _scalar(m.group(0), self.lineno)

    def key(self):
        self.ws()
        m = re.compile(r"[^:,\]}]+").match(self.s, self.i)
        if not m:
            self.fail("expected a key")
        self.i = m.end()
        if self.s[self.i:self.i + 1] != ":":
            self.fail("expected ':'")
        self.i += 1
        return _scalar(m.group(0), self.lineno)

    def collection(self, close, mapping):
        self.i += 1
        out = {} if mapping else []
        self.ws()
        if self.s[self.i:self.i + 1] == close:
            self.i += 1
            return out
        while True:
            if mapping:
                k = self.key()
                out[k] = self.value()
            else:
                out.append(self.value())
            self.ws()
            ch = self.s[self.i:self.i + 1]
            self.i += 1
            if ch == close:
                return out
            if ch != ",":
                self.fail("expected ',' or '%s'" % close)


def _inline(text, lineno):
    """The value written after "key:" or "- " on the same line."""
    t = text.strip()
    if t[:1] in ("{", "["):
        f = _Flow(t, lineno)
        v = f.value()
        f.ws()
        if f.i != len(t):
            f.fail("text after the collection")
        return v
    return _scalar(t, lineno)


_KEY = re.compile(r"""^("[^"]*"|'[^']*'|[^\s#'"{}\[\],:][^:#]*?)\s*:(\s|$)""")


def _depth(line):
    """Flow brackets <line> leaves open (quotes skipped)."""
    depth, quote = 0, None
    for ch in line:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
    return depth


def _lines(text):
    """(line number, indent, content) of every line that holds something;
    a flow collection written over several lines is joined into one."""
    out, open_ = [], 0
    for n, raw in enumerate(text.splitlines(), 1):
        if raw.strip() in ("---", "..."):
            raise LabYamlError("line %d: one document, no markers" % n)
        line = _strip_comment(raw).rstrip()
        if not line.strip():
            continue
        if open_ > 0:
            m, ind, prev = out[-1]
            out[-1] = (m, ind, prev + " " + line.strip())
            open_ += _depth(line)
            continue
        if "\t" in line[:len(line) - len(line.lstrip())]:
            raise LabYamlError("line %d: a tab in the indentation" % n)
        out.append((n, len(line) - len(line.lstrip()), line.strip()))
        open_ = _depth(line)
    if open_ > 0:
        raise LabYamlError("line %d: a flow collection left open"
                           % out[-1][0])
    return out


class _Block:
    def __init__(self, lines):
        self.lines, self.k = lines, 0

    def node(self, indent):
        """The block node whose lines start at indentation <indent>."""
        n, ind, text = self.lines[self.k]
        if text == "-" or text.startswith("- "):
            return self.seq(ind)
        if _KEY.match(text):
            return self.mapping(ind)
        self.k += 1
        return _inline(text, n)

    def value(self, parent_indent, rest, n):
        """A key's or an item's value: <rest> on its line, else the more
        indented lines that follow (None when there are none)."""
        if rest.strip():
            return _inline(rest, n)
        if self.k < len(self.lines) and self.lines[self.k][1] > parent_indent:
            return self.node(self.lines[self.k][1])
        return None

    def mapping(self, indent, first=None):
        out = {}
        while self.k < len(self.lines):
            n, ind, text = self.lines[self.k]
            if first is not None:
                ind, text, first = indent, first, None
            elif ind != indent:
                break
            m = _KEY.match(text)
            if not m:
                raise LabYamlError("line %d: expected 'key: value'" % n)
            key = _scalar(m.group(1), n)
            if key in out:
                raise LabYamlError("line %d: key %s twice" % (n, key))
            self.k += 1
            out[key] = self.value(indent, text[m.end(1):].lstrip()[1:], n)
        if self.k < len(self.lines) and self.lines[self.k][1] > indent:
            raise LabYamlError("line %d: unexpected indentation"
                               % self.lines[self.k][0])
        return out

    def seq(self, indent):
        out = []
        while self.k < len(self.lines):
            n, ind, text = self.lines[self.k]
            if ind != indent or not (text == "-" or text.startswith("- ")):
                break
            item = text[1:].lstrip()
            inner = indent + (len(text) - len(item))
            if _KEY.match(item):
                # "- key: v" opens a mapping indented as its first key
                out.append(self.mapping(inner, first=item))
            else:
                self.k += 1
                out.append(self.value(indent, item, n))
        return out


def load(text):
    """The data of YAML <text> (the subset above). Raises LabYamlError."""
    lines = _lines(text)
    if not lines:
        return None
    b = _Block(lines)
    v = b.node(lines[0][1])
    if b.k != len(lines):
        raise LabYamlError("line %d: unexpected indentation" % lines[b.k][0])
    return v


def dump(data):
    """<data> as YAML the agent reads: JSON, one key per line."""
    return json.dumps(data, indent=2) + "\n"
