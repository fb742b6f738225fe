"""What the book's notebooks use to put computed numbers into their prose.

A chapter computes a number in a code cell and names it with :func:`glue`;
its markdown says ``{eval}`name```. The same name works in three places:

- **JupyterLab with jupyterlab-myst** evaluates ``{eval}`name``` in the
  kernel: :func:`glue` binds ``name`` in the notebook's namespace to the
  formatted text, so a learner running the chapter live reads the numbers.
- **The static book** (Jupyter Book 1, notebooks not re-executed) reads the
  stored glue record that :func:`glue` writes into the cell's outputs; the
  book's Sphinx extension ``_ext/llmperf_eval.py`` resolves ``{eval}`` roles
  from those records.
- **nbval** compares the stored record with a fresh run, so every number in
  the prose is tested.

The value is formatted once, here, at the precision a reader needs, so the
stored text does not depend on the last bits of a float (which differ from one
BLAS kernel or CPU to another). Nothing here needs myst-nb: the glue record is
the one myst-nb's ``glue(..., display=False)`` writes.
"""
from __future__ import annotations

import math
from numbers import Integral, Real

__all__ = ["Text", "glue", "fmt", "significant", "source", "tidy"]

_GLUE_PREFIX = "application/papermill.record/"


class Text(str):
    """A string that displays without quotes (``{eval}`` shows its text/plain)."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p, cycle):  # IPython
        p.text(str(self))


def significant(x: float, digits: int = 3) -> str:
    """``x`` with ``digits`` significant figures, thousands separated; an exponent only below 10^-4.

    >>> significant(989.4), significant(0.0045242), significant(123456.7), significant(2.0)
    ('989', '0.00452', '123,457', '2.00')
    >>> significant(0.0000519123), significant(-1.5722733e-05)
    ('5.19e-5', '-1.57e-5')
    """
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"cannot show a non-finite number ({x}) in the book")
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    if mag < -4:  # 0.0000519 is hard to read: 5.19e-5
        mant, exp = f"{x:.{digits - 1}e}".split("e")
        return f"{mant}e{int(exp)}"
    decimals = max(digits - 1 - mag, 0)
    out = f"{round(x, decimals):,.{decimals}f}"
    # rounding can carry into a new digit (999.6 -> 1,000): recompute once
    if decimals and len(out.replace(",", "").replace("-", "").replace(".", "").lstrip("0")) > digits:
        out = f"{round(x, decimals - 1):,.{decimals - 1}f}"
    return out


def fmt(value, spec: str | None = None) -> str:
    """Format a value for prose: a Python format spec, or 3 significant figures.

    ``spec`` is any ``format()`` spec (``".0f"``, ``",d"``, ``".1%"``), or
    ``"sig4"`` for 4 significant figures. Integers print exactly with
    thousands separators; strings pass through.
    """
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalar -> Python
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    if spec is None or spec.startswith("sig"):
        n = int(spec[3:]) if spec else 3
        if isinstance(value, Integral):
            return f"{int(value):,d}"
        return significant(value, n)
    if isinstance(value, Real) and not math.isfinite(float(value)):
        raise ValueError(f"cannot show a non-finite number ({value}) in the book")
    return format(value, spec)


def glue(name: str, value, spec: str | None = None) -> Text:
    """Name ``value`` (formatted with ``spec``) for the prose's ``{eval}`name``` roles.

    Binds ``name`` in the running notebook's namespace (for jupyterlab-myst),
    writes a myst-nb glue record into the cell's outputs (for the static book
    and nbval) and returns the formatted :class:`Text`.
    """
    if not name.isidentifier():
        raise ValueError(f"glue name {name!r} must be a Python identifier")
    text = Text(fmt(value, spec))
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python: just return the text
        return text
    ip = get_ipython()
    if ip is None:
        return text
    ip.user_ns[name] = text
    display({_GLUE_PREFIX + "text/plain": str(text)}, raw=True,
            metadata={"scrapbook": {"name": name, "mime_prefix": _GLUE_PREFIX}})
    return text


def tidy(df, digits: int = 3, missing: str = "–", int_columns=None):
    """A copy of a table for display: floats at ``digits`` significant figures, integers
    exact with separators, missing values as ``missing`` (say what the dash means nearby).

    Returns a DataFrame of strings, so its stored text and HTML are the same on every
    machine. Index and column labels are kept.
    """
    import pandas as pd

    out = pd.DataFrame(index=df.index, columns=df.columns, dtype=object)
    int_columns = set(int_columns or ())
    for col in df.columns:
        s = df[col]
        for idx, v in s.items():
            if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
                out.at[idx, col] = missing
            elif isinstance(v, (bool, str)) or not isinstance(v, (Integral, Real)) and not hasattr(v, "item"):
                out.at[idx, col] = str(v)
            else:
                vv = v.item() if hasattr(v, "item") else v
                if isinstance(vv, bool) or isinstance(vv, str):
                    out.at[idx, col] = str(vv)
                elif isinstance(vv, Integral) or col in int_columns or (
                        isinstance(vv, float) and vv.is_integer() and abs(vv) < 1e15 and col in int_columns):
                    out.at[idx, col] = f"{int(vv):,d}"
                elif not math.isfinite(float(vv)):
                    out.at[idx, col] = missing
                else:
                    out.at[idx, col] = significant(vv, digits)
    return out


def source(obj, language: str = "python"):
    """The source code of a function or class, shown as a code block.

    Use it (in a ``remove-input`` cell) where a page shows the code that does
    the work: its output is Markdown with a fenced code block, which the static
    book, JupyterLab with jupyterlab-myst, Colab and a plain Jupyter all
    render. A ``{literalinclude}`` directive shows in the static book only:
    jupyterlab-myst renders it as nothing.
    """
    import inspect
    import re
    import textwrap

    from IPython.display import Markdown

    text = textwrap.dedent(inspect.getsource(obj)).rstrip()
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    return Markdown(f"{fence}{language}\n{text}\n{fence}")
