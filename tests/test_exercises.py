"""Exercises: every label in the book has a worked, checkable answer, with variants and hints.

Generic over every registered label (chapters add exercises without touching
this file). The expectations are built here by hand: a slip is the answer
multiplied by the slip's factor (1000 for ms/s, 8 for bits/bytes, 2^30/10^9
for GiB/GB ...), and the hint must name that slip in words a student reads.
"""
import json
import math
import re
from pathlib import Path

import pytest

from llmperf import exercises
from llmperf.exercises import Part, Worked
from llmperf.exercises._check import check_form, form_spec
from llmperf.exercises._selfcheck import selfcheck_data, verdict

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
LABEL = re.compile(r"\{exercise-start\}\s*\n:label:\s*(\S+)")
LABELS = exercises.labels()


def _labels(nb_path):
    cells = json.loads(nb_path.read_text())["cells"]
    return [m for c in cells if c["cell_type"] == "markdown" for m in LABEL.findall("".join(c["source"]))]


def _numeric(part):
    return part.accept is None and isinstance(part.value, (int, float)) and not isinstance(part.value, bool)


def _with(w, name, value):
    """The answer of ``w`` with part ``name`` replaced by ``value`` (a bare value for single-part answers)."""
    if set(w.parts) == {"answer"}:
        return value
    return {**w.answer, name: value}


# hand-made: (factor the answer is multiplied by, words the hint must contain)
SLIPS = [
    (1000, "1000"),                 # ms given where s is asked (or GB where TB ...)
    (1 / 1000, "1000"),
    (2, "factor of 2"),             # multiply-add counted twice, K and V, the causal half
    (1 / 2, "factor of 2"),
    (8, "bits"),                    # bits for bytes
    (1 / 8, "bits"),
    (2 ** 30 / 1e9, "GB"),          # a size in GB where GiB is asked
    (1e9 / 2 ** 30, "GiB"),
    (1e12, "10^12"),                # FLOP/s where TFLOP/s is asked
]


def test_no_chapter_module_failed_to_load():
    exercises.labels()
    assert exercises._LOAD_ERRORS == {}


def test_each_chapter_has_at_least_six_exercises():
    for nb in NOTEBOOKS:
        assert len(_labels(nb)) >= 6, nb.name


def test_every_exercise_in_the_book_has_a_registered_answer_and_back():
    in_book = {label for nb in NOTEBOOKS for label in _labels(nb)}
    assert in_book == set(LABELS)


@pytest.mark.parametrize("label", LABELS)
def test_every_label_has_a_worked_solution_with_units_and_a_form(label):
    w = exercises.worked(label)
    assert isinstance(w, Worked) and w.label == label
    assert w.prompt.strip() and w.solution.strip() and w.parts
    assert "{'" not in w.solution and "<function" not in w.solution  # no dict reprs, no dumped source
    form = w.form()
    for name, p in w.parts.items():
        assert isinstance(p, Part)
        if name != "answer":
            assert f"'{name}'" in form
        if _numeric(p):
            assert p.rel >= 0 and p.abs >= 0
            if p.rel == 0 and p.abs == 0:
                assert float(p.value).is_integer(), f"{label}:{name} exact but not a count"
                assert "exact" in form
            else:
                assert f"{p.rel:.0%}" in form or f"{p.abs:g}" in form  # the tolerance is stated


@pytest.mark.parametrize("label", LABELS)
def test_the_answer_checks_against_itself_and_prints_one_line(label, capsys):
    res = exercises.check(label, exercises.answer(label))
    out = capsys.readouterr().out
    assert res.correct is True and bool(res) and res.hint == ""
    assert out == f"{label}: correct\n"


@pytest.mark.parametrize("label", LABELS)
def test_a_wrong_part_is_rejected_with_a_hint_naming_that_part(label):
    w = exercises.worked(label)
    for name, p in w.parts.items():
        if _numeric(p):
            wrong = p.value * 1.37 + (1 if p.value == 0 else 0)   # 37 % off: no slip, outside any tolerance
        elif isinstance(p.value, bool):
            wrong = not p.value
        elif isinstance(p.value, str):
            wrong = p.value + "-not"
        else:
            continue
        res = exercises.check(label, _with(w, name, wrong), quiet=True)
        assert not res.correct, (label, name)
        assert (p.what or name) in res.hint, res.hint
        others = [q.what or n for n, q in w.parts.items() if n != name and (q.what or n) not in (p.what or name)]
        assert not any(f"'{o}'" in res.hint for o in others), res.hint  # only the wrong part is named


@pytest.mark.parametrize("label", LABELS)
def test_each_common_slip_is_recognised(label):
    w = exercises.worked(label)
    tried = 0
    for name, p in w.parts.items():
        if not _numeric(p) or p.value == 0 or (p.rel == 0 and abs(p.value) < 10):
            continue  # a slip of a tiny exact count is also "off by one"
        for factor, words in SLIPS:
            res = exercises.check(label, _with(w, name, p.value * factor), quiet=True)
            assert not res.correct
            assert words in res.hint and (p.what or name) in res.hint, (label, name, factor, res.hint)
            tried += 1
    if any(_numeric(p) and p.value != 0 and not (p.rel == 0 and abs(p.value) < 10) for p in w.parts.values()):
        assert tried


def test_slips_named_by_the_unit_written_with_the_answer():
    """FLOP for FLOP/s, bits for bytes, GB for GiB: recognised when the student writes the unit."""
    w = Worked("p", {"rate": Part(989.4, "TFLOP/s", rel=0.01, what="peak"),
                     "size": Part(14.96, "GiB", rel=0.01, what="weights"),
                     "time": Part(12.5, "ms", rel=0.01, what="step")}, "s", label="t")
    from llmperf.exercises._check import judge
    ok, hint = judge(w, {"rate": "989.4 TFLOP", "size": 14.96, "time": 12.5})
    assert not ok and "FLOP count where a rate in FLOP/s" in hint and "'peak'" in hint
    ok, hint = judge(w, {"rate": 989.4, "size": f"{14.96 * 8} Gibit", "time": 12.5})
    assert not ok and "bits where bytes" in hint
    # the same quantity in another unit of the same kind is right: 14.96 GiB = 16.06 GB
    ok, hint = judge(w, {"rate": "989.4e12 FLOP/s", "size": "16.06 GB", "time": "0.0125 s"})
    assert ok, hint
    ok, hint = judge(w, {"rate": 989.4, "size": 16.06, "time": 12.5})  # GB numbers where GiB asked
    assert not ok and "GB (10^9 bytes) where GiB" in hint


def test_exact_counts_are_exact_and_an_off_by_one_is_named():
    w = Worked("p", {"answer": Part(4096, "tokens", rel=0, what="window")}, "s", label="t")
    from llmperf.exercises._check import judge
    assert judge(w, 4096) == (True, "")
    ok, hint = judge(w, 4097)
    assert not ok and "off by one" in hint
    assert not judge(w, 4096.5)[0]
    assert judge(w, "4,096")[0]


@pytest.mark.parametrize("label", [l for l in LABELS if exercises.variant_count(l) > 1])
def test_variants_are_reproducible_distinct_and_checked_against_their_own_answer(label, capsys):
    a1, a1_again, a2 = (exercises.variant(label, s) for s in (1, 1, 2))
    assert a1.prompt == a1_again.prompt and a1.params == a1_again.params
    assert a1.params != a2.params and a1.prompt != a2.prompt   # two seeds, two exercises
    assert exercises.check(label, a1.answer, seed=1).correct
    assert exercises.check(label, a2.answer, seed=2).correct
    if any(_numeric(p) and not math.isclose(p.value, a2.parts[n].value, rel_tol=0.05)
           for n, p in a1.parts.items() if _numeric(p)):
        assert not exercises.check(label, a1.answer, seed=2).correct  # the key is the seed's own


@pytest.mark.parametrize("label", LABELS)
def test_every_exercise_with_numbers_has_at_least_three_variants(label):
    w = exercises.worked(label)
    if any(_numeric(p) for p in w.parts.values()):
        assert exercises.variant_count(label) >= 3


def test_consecutive_seeds_walk_through_every_variant():
    label = max(LABELS, key=exercises.variant_count)
    n = exercises.variant_count(label)
    assert len({tuple(sorted(exercises.variant(label, s).params.items())) for s in range(n)}) == n


def test_a_bad_seed_and_an_unknown_label_are_clear_errors():
    with pytest.raises(KeyError, match="no exercise"):
        exercises.answer("nope-ex1")
    with pytest.raises(ValueError, match="seed"):
        exercises.variant(LABELS[0], seed=-1)


def test_graded_mode_hands_out_no_answers(monkeypatch, capsys):
    label = next(l for l in LABELS if any(_numeric(p) for p in exercises.worked(l).parts.values()))
    right = exercises.answer(label)
    monkeypatch.setenv("LLMPERF_GRADED", "1")
    assert exercises.graded_mode()
    with pytest.raises(PermissionError):
        exercises.answer(label)
    with pytest.raises(PermissionError):
        exercises.worked(label)
    v = exercises.variant(label, seed=3)
    assert v.prompt and v.solution == ""
    assert all(p.value is None for p in v.parts.values())
    capsys.readouterr()
    res = exercises.check(label, right)
    out = capsys.readouterr().out
    assert not res.correct and "form is right" in res.hint and "correct" not in out.replace("is correct", "")
    nums = re.findall(r"\d+\.\d+", json.dumps(right))
    assert not any(n in out for n in nums)
    assert "form is not right" in exercises.check(label, "nonsense" if isinstance(right, dict) else {"x": 1},
                                                  quiet=True).hint
    from llmperf.exercises import selfcheck
    selfcheck(label)
    assert "off in a graded assignment" in capsys.readouterr().out


def test_form_checks_say_nothing_about_the_value():
    spec = {"bf16": "number", "bound": "word", "fits": "bool"}
    assert check_form(spec, {"bf16": 1e9, "bound": "nonsense", "fits": False}) is None
    assert "no answer" in check_form(spec, ...)
    assert "missing 'fits'" in check_form(spec, {"bf16": 1.0, "bound": "memory"})
    assert "number" in check_form(spec, {"bf16": "lots", "bound": "memory", "fits": True})
    assert check_form({"answer": "number"}, 3) is None and check_form({"answer": "number"}, {"a": 1})


# ---- the self-check boxes: the page's data gives the same verdicts as check() ----

@pytest.mark.parametrize("label", LABELS)
def test_selfcheck_data_accepts_the_answer_and_names_slips_without_storing_the_answer(label):
    w = exercises.worked(label)
    data = selfcheck_data(label)
    boxed = {d["name"]: d for d in data["parts"]}
    assert set(boxed) | set(data["live"]) == set(w.parts)
    for name, p in w.parts.items():
        if name in data["live"]:
            assert p.accept is not None or not isinstance(p.value, (int, float, str))
            continue
        d = boxed[name]
        v = p.value
        if isinstance(v, (bool, str)):
            assert verdict(d, str(v)) == "correct"
            assert verdict(d, str(v) + "x") != "correct"
            continue
        text = str(int(v)) if p.rel == 0 and p.abs == 0 else repr(float(v))
        assert verdict(d, text) == "correct", (name, text)
        if abs(v) >= 1e-3 and not (p.rel == 0 and abs(v) < 10):
            # not in plain sight: no number stored for the part is near the answer, hashes are 8 hex digits
            # (numbers with 3 significant digits or more: "1.0" in a unit text gives nothing away)
            texts = [repr(d[k]) for k in ("w", "wc") if k in d] + [
                x for k in ("name", "what", "unit", "tol", "salt")
                for x in re.findall(r"\d[\d,]*\.?\d*(?:e[+-]?\d+)?", d[k])]
            shown = [float(x.replace(",", "")) for x in texts
                     if len(re.sub(r"e.*", "", x).replace(",", "").replace(".", "").strip("0")) >= 3]
            assert not any(math.isclose(x, abs(v), rel_tol=0.05) for x in shown), (name, shown)
            assert all(re.fullmatch(r"[0-9a-f]{8}", h) for k in ("ok", "small", "large", "near") for h in d[k])
            assert verdict(d, repr(v * 1.37)) != "correct"
            assert "too large" in verdict(d, repr(v * 1.37)) or "wrong sign" in verdict(d, repr(v * 1.37))
            assert verdict(d, repr(v * 1000)).endswith(exercises.check(
                label, _with(w, name, v * 1000), quiet=True).hint.split(": ", 1)[1])
            assert "factor of 2" in verdict(d, repr(v * 2)) and "bits" in verdict(d, repr(v * 8))
        if p.rel:
            assert verdict(d, repr(v * (1 + p.rel / 2))) == "correct"      # inside the tolerance
            assert verdict(d, repr(v * (1 + 2 * p.rel))) != "correct"      # outside it


def test_selfcheck_output_is_fixed_text_and_the_same_every_time():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    InteractiveShell.instance()
    label = LABELS[0]
    with capture_output() as one:
        exercises.selfcheck(label)
    with capture_output() as two:
        exercises.selfcheck(label)
    (a,), (b,) = one.outputs, two.outputs
    assert a.data == b.data
    assert a.data["text/plain"] == f"Self-check for {label}: type your answer in the box in the rendered page."
    html = a.data["text/html"]
    assert "<script>" in html and "http" not in html.replace("aria-live", "")   # no network
    assert html.count('class="llmperf-sc-part"') == len(selfcheck_data(label)["parts"])


def test_the_instructor_page_lists_exactly_the_exercises_that_need_a_live_kernel():
    text = (ROOT / "book" / "instructor.md").read_text()
    section = text.split("### Exercises that need a live kernel", 1)[1].split("\n#", 1)[0]
    listed = set(re.findall(r"^- `([\w-]+)`$", section, flags=re.M))
    need_kernel = {l for l in LABELS if any(p.accept is not None for p in exercises.worked(l).parts.values())}
    assert listed == need_kernel


# ---- the student edition (scripts/student_edition.py) ----

def test_student_edition_removes_every_solution_and_keeps_every_exercise(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "student"
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "student_edition.py"), "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    for nb in NOTEBOOKS:
        teacher = json.loads(nb.read_text())
        student = json.loads((out / nb.name).read_text())
        tagged = [c for c in teacher["cells"] if "solution" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) >= 3 * 6 and json.dumps(teacher["cells"]).count("{solution-start}") >= 6
        assert len(student["cells"]) == len(teacher["cells"]) - len(tagged)
        text = json.dumps(student["cells"])
        assert "solution-start" not in text and "solution-end" not in text
        assert "worked(" not in text and "llmperf/exercises/" not in text
        assert _labels(out / nb.name) == _labels(nb)            # the exercises stay
        assert text.count("llmperf-selfcheck") == json.dumps(teacher["cells"]).count("llmperf-selfcheck")


def test_student_edition_refuses_a_notebook_that_still_gives_an_answer(tmp_path):
    import subprocess
    import sys

    import nbformat

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("```{exercise-start}\n:label: x-ex1\n```\nWhat is 2 + 2?"),
        nbformat.v4.new_markdown_cell("````{solution-start} x-ex1\n:class: dropdown\n````"),  # untagged
        nbformat.v4.new_code_cell('worked("x-ex1")', metadata={"tags": ["solution"]}),
        nbformat.v4.new_markdown_cell("````{solution-end}\n````", metadata={"tags": ["solution"]}),
    ])
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "student_edition.py"), "--out", str(tmp_path / "o"),
                        str(path)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "solution directive" in p.stderr and not (tmp_path / "o" / "x.ipynb").exists()
    nb.cells[1].metadata["tags"] = ["solution"]
    nbformat.write(nb, path)
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "student_edition.py"), "--out", str(tmp_path / "o"),
                        str(path)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert len(nbformat.read(tmp_path / "o" / "x.ipynb", as_version=4).cells) == 1
