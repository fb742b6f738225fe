"""llmperf.charts.enable() in a live notebook: Vega goes into the page once, and nothing else changes.

The browser side (every chart draws in JupyterLab with the network cut) is tests/test_jupyterlab.py; here the
Python side: when it happens, what it displays, and what it does when it cannot.
"""
import warnings

import pytest

import llmperf.charts as C


def test_not_live_under_nbclient_or_pytest(monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert not C._live_session()
    monkeypatch.setenv("JPY_SESSION_NAME", "/tmp/x.ipynb")
    assert C._live_session() == ("ipykernel" in __import__("sys").modules)


def test_offline_vega_displays_the_bundle_then_empties_the_output(monkeypatch):
    import IPython.display as D

    shown = []

    class Handle:
        def update(self, obj):
            shown.append(("update", obj.data))

    def fake_display(obj, display_id=None):
        shown.append(("display", obj.data))
        assert display_id is True
        return Handle()

    monkeypatch.setattr(D, "display", fake_display)
    C.offline_vega()
    assert [k for k, _ in shown] == ["display", "update"]
    first, last = shown[0][1], shown[1][1]
    assert first.startswith("<script>") and "window.vegaEmbed=" in first and "VEGA_DEBUG" in first
    assert last == ""  # the saved notebook keeps an empty output, not 0.9 MB


def test_enable_warns_and_goes_on_without_a_bundle(monkeypatch):
    def no_bundle():
        raise ImportError("No module named 'vl_convert'")

    monkeypatch.setattr(C, "vega_bundle", no_bundle)
    with pytest.warns(UserWarning, match="CDN"):
        C.enable(live=True)


def test_enable_does_nothing_extra_when_not_live(monkeypatch):
    monkeypatch.setattr(C, "offline_vega", lambda: pytest.fail("offline_vega must not run"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        C.enable(live=False)


def test_the_bundle_is_the_books_own_file():
    from pathlib import Path

    root = Path(C.__file__).resolve().parents[2]
    assert C.vega_bundle() == (root / "_static" / "vega-bundle.js").read_text(encoding="utf-8")
