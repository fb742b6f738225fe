"""An answer box per exercise part that checks in the browser: offline, no kernel.

``selfcheck("roofline-ex1")`` displays, under an exercise, one text box per
part with a *Check* button. The verdict ("correct", or a hint naming the
slip) is computed by a few lines of JavaScript inside the output itself, so
it works in the static book, in a notebook opened from disk, with no network
and no kernel. Its ``text/plain`` is one fixed line, and its HTML is the same
on every run and every CPU (nbval compares it).

What the page stores, and what a determined student can read from it
--------------------------------------------------------------------

The answer is not written in the page. For each part the output stores:

- the tolerance (as the exercise states it: "within 1 %", "exact");
- salted 32-bit FNV-1a hashes of the *buckets* that count as right: the
  number's logarithm cut into steps of a quarter of the tolerance (exact
  counts: the integer itself; words: the lower-cased word);
- hashes of coarser buckets up to a factor of 3 either side, labelled "too
  small" / "too large", for the direction hint.

The browser hashes the bucket of what the student typed (and of the typed
value divided by 1000, 2, 8, 2^30/10^9 ... for the slip hints) and looks it
up. Nobody reads the answer off the page by looking at it, but the hashes are
not a secret: a student who reads the page source and writes a small loop over
candidate buckets recovers every answer to within its tolerance in
milliseconds. The solution of the same exercise sits in a dropdown a few lines
further down anyway; the self-check is for learning, not for grading. Graded
assignments (``LLMPERF_GRADED=1``) show no self-check at all, and grade with
hidden tests (``scripts/assignment.py``).

A verdict at the very edge of a tolerance may differ from :func:`check`'s:
a bucket counts as right when its centre lies inside the tolerance, so the
browser's edge is within a quarter of the tolerance of the exact one (and so
within 1.25 % for a 1 % tolerance). Open design questions (a part with an
``accept`` function) get no box: they are checked live with ``check()``.
"""
from __future__ import annotations

import html
import json
import math
import re

from ._check import _SLIPS

__all__ = ["selfcheck", "selfcheck_data", "verdict"]

#: Buckets per tolerance width (a bucket is a quarter of the tolerance wide).
_SPLIT = 4
#: The direction hints cover answers up to this factor away from the answer.
_BAND = 3.0
#: Coarse buckets for the direction hints: at least 5 % wide (in log space).
_COARSE = 0.05
_NUM = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$", re.I)
_INT = re.compile(r"^[+-]?\d+$")


def _fnv(text: str) -> str:
    h = 0x811C9DC5
    for b in text.encode("utf-8"):
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return f"{h:08x}"


def _stable(x: float) -> float:
    """``x`` rounded to 9 significant figures: the last bits of a float differ from CPU to CPU."""
    return float(f"{x:.9g}")


def _log_bucket(x: float, w: float) -> str:
    return ("p" if x > 0 else "n") + str(math.floor(math.log(abs(x)) / w))


def _part_data(label: str, name: str, part) -> dict | None:
    """What the page stores for one part (None: no box, check it live)."""
    salt = f"{label}|{name}|"
    key = lambda s: _fnv(salt + s)  # noqa: E731
    v = part.value
    base = {"name": name, "what": part.what or name, "unit": part.unit, "salt": salt}
    if part.accept is not None:
        return None
    if isinstance(v, bool):
        return {**base, "kind": "bool", "ok": [key("b" + str(v).lower())], "tol": "true or false"}
    if isinstance(v, str):
        return {**base, "kind": "str", "ok": [key("s" + v.strip().lower())], "tol": "a word"}
    if not isinstance(v, (int, float)):
        return None
    e = _stable(float(v))
    exact = part.rel == 0 and part.abs == 0
    d = {**base}
    zero = e == 0 and part.abs == 0          # right only when it is 0: an exact count of zero
    if (exact and float(v).is_integer()) or zero:
        d.update(kind="int", tol="exact", ok=[key("i" + str(int(float(v)) if zero else int(v)))])
        rel = 0.0
    else:
        rel = part.rel if part.rel > 0 else (1e-6 if exact else 0.0)
        use_log = e != 0 and rel > 0 and rel * abs(e) >= part.abs
        if use_log:
            w = rel / _SPLIT
            lo, hi = abs(e) * (1 - rel), abs(e) * (1 + rel)
            b0, b1 = math.floor(math.log(lo) / w) - 1, math.floor(math.log(hi) / w) + 1
            sign = "p" if e > 0 else "n"
            ok = [key(f"{sign}{b}") for b in range(b0, b1 + 1) if lo <= math.exp((b + 0.5) * w) <= hi]
            ok.append(key(_log_bucket(e, w)))
            d.update(kind="log", w=w)
        else:
            a = part.abs
            w = a / _SPLIT
            b0, b1 = math.floor((e - a) / w) - 1, math.floor((e + a) / w) + 1
            ok = [key(f"l{b}") for b in range(b0, b1 + 1) if e - a <= (b + 0.5) * w <= e + a]
            ok.append(key(f"l{math.floor(e / w)}"))
            d.update(kind="lin", w=w)
        d.update(ok=sorted(set(ok)), tol=f"within {part.rel:.0%}" if part.rel else f"± {part.abs:g}")
    # direction hints: coarse log buckets up to a factor _BAND either side
    if e != 0:
        wc = max(_COARSE, rel)
        lo_edge, hi_edge = abs(e) * (1 - rel), abs(e) * (1 + rel)
        sign = "p" if e > 0 else "n"
        b0 = math.floor(math.log(abs(e) / _BAND) / wc)
        b1 = math.floor(math.log(abs(e) * _BAND) / wc)
        small, large, near = [], [], []
        for b in range(b0, b1 + 1):
            x0, x1 = math.exp(b * wc), math.exp((b + 1) * wc)
            below, above = x0 < lo_edge, x1 > hi_edge
            k = key(f"c{sign}{b}")
            if below and above or (not below and not above):
                near.append(k)
            elif below:
                (large if e < 0 else small).append(k)
            else:
                (small if e < 0 else large).append(k)
        d.update(wc=wc, small=sorted(small), large=sorted(large), near=sorted(near))
    return d


def selfcheck_data(label: str, seed: int | None = None) -> dict:
    """The data the page stores for exercise ``label``: hashes, tolerances, units, slip table."""
    from . import _worked

    w = _worked(label, seed)
    parts, live = [], []
    for name, part in w.parts.items():
        d = _part_data(label, name, part)
        if d is None:
            live.append(name)
        else:
            parts.append(d)
    return {"label": label, "single": set(w.parts) == {"answer"}, "parts": parts, "live": live,
            "slips": [[r, m] for r, m in _SLIPS]}


def _parse(text: str):
    """(kind, value) of what the student typed: ("int", str), ("num", float), or (None, None)."""
    t = re.sub(r"[,_\s\u2009\u202f]", "", str(text))
    if _INT.match(t):
        return "int", str(int(t))
    if _NUM.match(t):
        return "num", float(t)
    return None, None


def _bucket_key(d: dict, x: float, loose: bool = False) -> str | None:
    if x == 0 or not math.isfinite(x):
        return None
    if d["kind"] == "log":
        return d["salt"] + _log_bucket(x, d["w"])
    if d["kind"] == "lin":
        return d["salt"] + f"l{math.floor(x / d['w'])}"
    if d["kind"] == "int":
        r = round(x)
        slack = 0.01 * abs(x) if loose else 1e-9 * max(1.0, abs(x))
        return d["salt"] + f"i{r}" if abs(x - r) <= slack else None
    return None


def _is_ok(d: dict, x: float, loose: bool = False) -> bool:
    if d["kind"] == "lin" and x == 0:
        return _fnv(d["salt"] + "l0") in d["ok"]
    k = _bucket_key(d, x, loose)
    return k is not None and _fnv(k) in d["ok"]


def verdict(d: dict, text: str, slips=None) -> str:
    """What the browser says for ``text`` typed into the box of part ``d`` (the Python mirror of the JS)."""
    what, unit = d["what"], (f" in {d['unit']}" if d["unit"] else "")
    t = str(text).strip()
    if d["kind"] == "bool":
        word = {"true": "true", "yes": "true", "false": "false", "no": "false"}.get(t.lower())
        if word is None:
            return f"'{what}' should be true or false"
        return "correct" if _fnv(d["salt"] + "b" + word) in d["ok"] else f"'{what}' is not right"
    if d["kind"] == "str":
        return "correct" if _fnv(d["salt"] + "s" + t.lower()) in d["ok"] else f"'{what}' is not the expected word"
    kind, val = _parse(t)
    if kind is None:
        return f"'{what}' should be a number{unit} (digits only, no unit; 1.5e9 is fine)"
    if d["kind"] == "int" and kind == "int":
        if _fnv(d["salt"] + "i" + val) in d["ok"]:
            return "correct"
    x = float(val)
    if _is_ok(d, x):
        return "correct"
    if d["kind"] == "int" and x.is_integer() and (_is_ok(d, x + 1) or _is_ok(d, x - 1)):
        return f"'{what}' is off by one: it is an exact count (a whole number)"
    if x != 0 and math.isfinite(x):
        for r, msg in (_SLIPS if slips is None else slips):
            if _is_ok(d, x / r, loose=True):
                return f"'{what}': {msg}"
        if _is_ok(d, -x):
            return f"'{what}' has the wrong sign"
        if "wc" in d:
            k = _fnv(d["salt"] + "c" + _log_bucket(x, d["wc"]))
            if k in d["small"]:
                return f"'{what}' is too small{unit}"
            if k in d["large"]:
                return f"'{what}' is too large{unit}"
            if k in d["near"]:
                return f"'{what}' is close, but not {d['tol']}{unit}"
    return f"'{what}' is not right (more than {_BAND:g}x off{unit}, and not a usual slip)"


# The JavaScript mirror of verdict(): keep the two in step (tests/test_selfcheck_browser.py
# compares them on the same inputs).
_JS = r"""
(function () {
  if (window.llmperfSelfcheck) { window.llmperfSelfcheck.init(); return; }
  function fnv(s) {
    var bytes = new TextEncoder().encode(s), h = 0x811c9dc5;
    for (var i = 0; i < bytes.length; i++) { h ^= bytes[i]; h = Math.imul(h, 0x01000193) >>> 0; }
    return ("0000000" + h.toString(16)).slice(-8);
  }
  function logBucket(x, w) { return (x > 0 ? "p" : "n") + Math.floor(Math.log(Math.abs(x)) / w); }
  function has(list, k) { return list.indexOf(fnv(k)) >= 0; }
  function isOk(d, x, loose) {
    if (!isFinite(x)) return false;
    if (d.kind === "lin" && x === 0) return has(d.ok, d.salt + "l0");
    if (x === 0) return false;
    if (d.kind === "log") return has(d.ok, d.salt + logBucket(x, d.w));
    if (d.kind === "lin") return has(d.ok, d.salt + "l" + Math.floor(x / d.w));
    if (d.kind === "int") {
      var r = Math.round(x);
      var slack = loose ? 0.01 * Math.abs(x) : 1e-9 * Math.max(1, Math.abs(x));
      if (Math.abs(x - r) > slack) return false;
      return has(d.ok, d.salt + "i" + r);
    }
    return false;
  }
  function verdict(d, slips, text) {
    var what = d.what, unit = d.unit ? " in " + d.unit : "", t = String(text).trim();
    if (d.kind === "bool") {
      var word = {"true": "true", "yes": "true", "false": "false", "no": "false"}[t.toLowerCase()];
      if (!word) return "'" + what + "' should be true or false";
      return has(d.ok, d.salt + "b" + word) ? "correct" : "'" + what + "' is not right";
    }
    if (d.kind === "str")
      return has(d.ok, d.salt + "s" + t.toLowerCase()) ? "correct" : "'" + what + "' is not the expected word";
    var s = t.replace(/[,_\s\u2009\u202f]/g, "");
    var isInt = /^[+-]?\d+$/.test(s), isNum = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s);
    if (!isInt && !isNum) return "'" + what + "' should be a number" + unit + " (digits only, no unit; 1.5e9 is fine)";
    if (d.kind === "int" && isInt) {
      var canon = s.replace(/^\+/, "");
      var neg = canon[0] === "-"; canon = canon.replace(/^-/, "").replace(/^0+(?=\d)/, "");
      if (neg && canon !== "0") canon = "-" + canon;
      if (has(d.ok, d.salt + "i" + canon)) return "correct";
    }
    var x = Number(s);
    if (isOk(d, x)) return "correct";
    if (d.kind === "int" && Number.isInteger(x) && (isOk(d, x + 1) || isOk(d, x - 1)))
      return "'" + what + "' is off by one: it is an exact count (a whole number)";
    if (x !== 0 && isFinite(x)) {
      for (var i = 0; i < slips.length; i++) if (isOk(d, x / slips[i][0], true)) return "'" + what + "': " + slips[i][1];
      if (isOk(d, -x)) return "'" + what + "' has the wrong sign";
      if (d.wc !== undefined) {
        var k = d.salt + "c" + logBucket(x, d.wc);
        if (has(d.small, k)) return "'" + what + "' is too small" + unit;
        if (has(d.large, k)) return "'" + what + "' is too large" + unit;
        if (has(d.near, k)) return "'" + what + "' is close, but not " + d.tol + unit;
      }
    }
    return "'" + what + "' is not right (more than 3x off" + unit + ", and not a usual slip)";
  }
  function init() {
    var boxes = document.querySelectorAll("div.llmperf-selfcheck:not([data-ready])");
    for (var b = 0; b < boxes.length; b++) {
      var root = boxes[b], data;
      root.setAttribute("data-ready", "1");
      try { data = JSON.parse(root.getAttribute("data-selfcheck")); } catch (e) { continue; }
      var rows = root.querySelectorAll(".llmperf-sc-part");
      for (var i = 0; i < rows.length; i++) (function (row, d) {
        var input = row.querySelector("input"), button = row.querySelector("button"),
            out = row.querySelector(".llmperf-sc-verdict");
        function run() {
          var v = verdict(d, data.slips, input.value);
          out.textContent = v;
          out.className = "llmperf-sc-verdict " + (v === "correct" ? "llmperf-sc-ok" : "llmperf-sc-no");
        }
        button.addEventListener("click", run);
        input.addEventListener("keydown", function (ev) { if (ev.key === "Enter") run(); });
      })(rows[i], data.parts[i]);
    }
  }
  window.llmperfSelfcheck = {init: init, verdict: verdict, fnv: fnv};
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
"""

_CSS = (".llmperf-selfcheck{border:1px solid #ccd;border-radius:6px;padding:.4em .8em;margin:.5em 0;"
        "font-size:.95em}.llmperf-sc-part{margin:.25em 0}.llmperf-sc-part input{width:11em;margin:0 .4em}"
        ".llmperf-sc-ok{color:#1a7f37;font-weight:bold}.llmperf-sc-no{color:#b35900}"
        ".llmperf-sc-verdict{margin-left:.5em}")


def _html(data: dict) -> str:
    e = html.escape
    rows = []
    for d in data["parts"]:
        name = "Answer" if data["single"] else e(d["name"])
        unit = f" ({e(d['unit'])})" if d["unit"] else ""
        rows.append(
            f'<div class="llmperf-sc-part"><label>{name}{unit}, {e(d["tol"])}: '
            f'<input type="text" autocomplete="off" aria-label="{e(d["what"])}"></label>'
            f'<button type="button">Check</button><span class="llmperf-sc-verdict" aria-live="polite"></span></div>')
    if data["live"]:
        names = ", ".join(e(n) for n in data["live"])
        rows.append(f'<div class="llmperf-sc-live">Open design ({names}): no box here; check it live with '
                    f'<code>check("{e(data["label"])}", ...)</code> in a running notebook.</div>')
    payload = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return (f'<style>{_CSS}</style><div class="llmperf-selfcheck" data-label="{e(data["label"])}" '
            f'data-selfcheck="{e(payload, quote=True)}"><strong>Check your answer</strong> '
            f'(in your browser, nothing is sent)' + "".join(rows) + f"</div><script>{_JS}</script>")


def selfcheck(label: str, seed: int | None = None) -> None:
    """Display the offline answer boxes of exercise ``label`` (the book's numbers, or a seed's variant)."""
    from IPython.display import display

    from . import graded_mode

    if graded_mode():
        plain = f"Self-check for {label} is off in a graded assignment."
        display({"text/plain": plain, "text/html": f"<p>{html.escape(plain)}</p>"}, raw=True)
        return None
    data = selfcheck_data(label, seed)
    plain = f"Self-check for {label}: type your answer in the box in the rendered page."
    display({"text/plain": plain, "text/html": _html(data)}, raw=True)
    return None
