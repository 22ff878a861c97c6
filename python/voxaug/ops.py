# SPDX-License-Identifier: MIT
"""Every voxaug op as a Python class, generated at import from the C library's op table (vxa_ops_json), so
this listing, `voxaug ops` and the README's table are one source.

    from voxaug import ops
    pipe = voxaug.Pipeline(ops.Flip(axes=[0, 1, 2], p_axis=0.5) + ops.Rotate((-15, 15), plane=[0, 1])
                           + ops.Zoom((0.9, 1.1)) + ops.Zscore(nonzero=1) + ops.RandomCrop(128))

Values: a number, a name where the parameter takes names (mode="reflect"), or for a parameter of several
values a list (one per axis). A 2-tuple (lo, hi) is a range drawn per sample, as [lo,hi] in the spec text
(TorchIO's convention); in a list, each element may be one. Parameters that shape the output (crop sizes,
axes, planes) take no ranges: a tuple there is a list of values. Every op takes p= (its probability).
Each class's docstring lists its parameters, defaults and SciPy equivalent; str(op) is its spec text.
"""
import ctypes
import json
import keyword
import numbers

from ._capi import lib

__all__ = ["Op", "Compose", "TABLE"]


def _table():
    need = ctypes.c_size_t()
    lib.vxa_ops_json(None, 0, ctypes.byref(need))
    buf = ctypes.create_string_buffer(need.value)
    if lib.vxa_ops_json(buf, need.value, None) != 0:
        raise ImportError("voxaug: the library's op table did not fit the size it asked for")
    return json.loads(buf.value.decode("utf-8"))["ops"]


TABLE = _table()  # the library's op table: a list of {"name", "kind", "doc", "scipy", "params": [...]}


def _num(x):
    if isinstance(x, bool):
        return "1" if x else "0"
    if isinstance(x, numbers.Integral):
        return str(int(x))
    if isinstance(x, numbers.Real):
        r = repr(float(x))
        return r[:-2] if r.endswith(".0") else r
    raise TypeError(f"expected a number, got {x!r}")


class Compose:
    """Ops in order; op + op, Compose + op and Compose + Compose make one; voxaug.Pipeline takes it."""

    def __init__(self, ops=()):
        self.ops = []
        for o in ops:
            self.ops.extend(o.ops if isinstance(o, Compose) else [o])

    @property
    def spec(self):
        return " ".join(o.spec for o in self.ops)

    def __add__(self, other):
        return Compose([self, other])

    def __radd__(self, other):
        return Compose([other, self])

    def __iter__(self):
        return iter(self.ops)

    def __len__(self):
        return len(self.ops)

    def __str__(self):
        return self.spec

    def __repr__(self):
        return f"voxaug.ops.Compose([{', '.join(map(repr, self.ops))}])"


class Op:
    """An op of the library's table with its values; subclasses are generated, one per op."""
    name = ""
    params = ()

    def __init__(self, *args, p=1.0, **kwargs):
        names = [pd["name"] for pd in self.params]
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} positional values, got {len(args)}")
        values = dict(zip(names, args))
        for k, v in kwargs.items():
            k2 = k[:-1] if k.endswith("_") and keyword.iskeyword(k[:-1]) else k
            if k2 not in names:
                raise TypeError(f"{type(self).__name__} has no parameter {k!r} (it takes {', '.join(names) or 'p only'})")
            if k2 in values:
                raise TypeError(f"{type(self).__name__} got {k!r} twice")
            values[k2] = v
        for pd in self.params:
            if pd["required"] and pd["name"] not in values:
                raise TypeError(f"{type(self).__name__} needs {pd['name']!r}")
        self.values = values
        self.p = p
        self.spec = self._format()  # checks the values' form now (bounds: the library's parser, in Pipeline)

    def _value(self, pd, v):
        fixed = pd["fixed"]
        if pd.get("path"):  # a file name (the library checks its characters and reads it)
            return str(v)
        if pd.get("pairs"):  # {from: to, ...} or [(from, to), ...]
            items = v.items() if isinstance(v, dict) else v
            return ",".join(f"{_num(a)}:{_num(b)}" for a, b in items)
        if isinstance(v, str):
            if not pd["choices"] or v not in pd["choices"]:
                raise ValueError(f"{self.name}: {pd['name']}={v!r} is not one of {pd['choices']}")
            return v
        if isinstance(v, tuple) and len(v) == 2 and not fixed and all(isinstance(t, numbers.Real) for t in v):
            return f"[{_num(v[0])},{_num(v[1])}]"
        if isinstance(v, (list, tuple)):
            return ",".join(self._value(pd, t) if isinstance(t, (tuple, str)) else _num(t) for t in v)
        if hasattr(v, "tolist"):  # a NumPy scalar or array
            return self._value(pd, v.tolist())
        return _num(v)

    def _format(self):
        parts = [f"{pd['name']}={self._value(pd, self.values[pd['name']])}" for pd in self.params
                 if pd["name"] in self.values]
        if self.p != 1:
            parts.append(f"p={_num(self.p)}")
        return f"{self.name}({', '.join(parts)})"

    def __add__(self, other):
        return Compose([self, other])

    def __radd__(self, other):
        return Compose([other, self])

    def __str__(self):
        return self.spec

    def __repr__(self):
        args = [f"{k}={v!r}" for k, v in self.values.items()]
        if self.p != 1:
            args.append(f"p={self.p!r}")
        return f"voxaug.ops.{type(self).__name__}({', '.join(args)})"

    def __eq__(self, other):
        return isinstance(other, Op) and self.spec == other.spec

    def __hash__(self):
        return hash(self.spec)


def _class_name(name):
    return "".join(w[:1].upper() + w[1:] for w in name.split("_"))


def _doc(d):
    lines = [d["doc"], "", f"Spec: {d['name']}(...); kind: {d['kind']}.", "", "Parameters:"]
    for pd in d["params"]:
        if pd["required"]:
            dflt = "required"
        elif pd["auto"]:
            dflt = "default: from the input"
        elif pd["choices"]:
            dflt = f"default {pd['choices'][int(pd['default'][0])]}; one of {', '.join(pd['choices'])}"
        else:
            dv = pd["default"][:1] if len(set(pd["default"])) == 1 else pd["default"]
            dflt = "default " + ", ".join(_num(x) for x in dv)
        kind = [f"{pd['count']} values (one broadcasts)" if pd["count"] > 1 and not pd["list"] else
                f"1 to {pd['count']} values" if pd["list"] else "1 value"]
        kind.append("integers" if pd["int"] else "numbers")
        kind.append("fixed (no ranges)" if pd["fixed"] else "a (lo, hi) tuple draws per sample")
        if pd["lo"] is not None and pd["hi"] is not None and not pd["choices"]:
            kind.append(f"in [{_num(pd['lo'])}, {_num(pd['hi'])}]")
        lines.append(f"    {pd['name']}: {pd['doc']} ({dflt}; {'; '.join(kind)})")
    lines.append("    p: probability that the op runs (default 1)")
    if d["scipy"]:
        lines += ["", f"SciPy / NumPy equivalent: {d['scipy']}"]
    return "\n".join(lines)


class _Group(Op):
    """A composition op (one_of, some_of, shuffle): the ops it picks from come first, as Op objects (or spec
    text), then its own parameters by keyword: OneOf(Rotate((-15, 15)), Zoom((0.9, 1.1)), weights=[2, 1], p=0.8),
    SomeOf(Noise(0.1), Gamma((0.7, 1.5)), n=(1, 2)), Shuffle(...)."""

    def __init__(self, *ops, p=1.0, **kwargs):
        if not ops:
            raise TypeError(f"{type(self).__name__} needs the ops it picks from")
        self.ops = list(ops)
        super().__init__(p=p, **kwargs)

    def _format(self):
        inner = [o if isinstance(o, str) else o.spec for o in self.ops]
        own = super()._format()[len(self.name) + 1:-1]
        return f"{self.name}({', '.join(inner + ([own] if own else []))})"


def _make(d):
    base = _Group if d["kind"] == "composition" else Op
    return type(_class_name(d["name"]), (base,), {"name": d["name"], "params": tuple(d["params"]), "kind": d["kind"],
                                                  "__doc__": _doc(d), "__module__": __name__})


for _d in TABLE:
    _cls = _make(_d)
    globals()[_cls.__name__] = _cls
    __all__.append(_cls.__name__)
del _d, _cls
