"""Tests of the hardware catalog and of Hardware's validation.

Expected numbers are typed in from the vendor documents named beside them,
not copied from llmperf/data/hardware.json.
"""
import json
import math
import pickle
import re
import subprocess
import sys
from dataclasses import FrozenInstanceError
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, strategies as st

from llmperf.hardware import (CATEGORIES, Hardware, HardwareError, get_hardware, hardware_names,
                              list_hardware, load_hardware_file)

GiB = 2**30

REQUIRED = [
    "v100-sxm2-32gb", "t4", "l4", "a10", "a100-sxm-40gb", "a100-sxm-80gb", "a100-pcie-80gb", "h100-sxm",
    "h100-pcie", "h200", "mi300x", "rtx-4090", "l40s", "b200", "mi250x",
    "snapdragon-8-gen-3", "apple-m2", "apple-m2-pro", "apple-m2-max", "apple-m3-max", "jetson-orin-nx-16gb",
    "jetson-agx-orin-64gb", "dimensity-9300", "tensor-g3", "core-ultra-7-155h", "raspberry-pi-5",
]

# NVIDIA Ampere / Hopper / Ada data-center parts: int8 Tensor Core rate is twice bf16.
NVIDIA_INT8_IS_2X_BF16 = ["a10", "a100-sxm-40gb", "a100-sxm-80gb", "a100-pcie-80gb", "h100-sxm",
                          "h100-pcie", "h200", "l4", "l40s", "jetson-agx-orin-64gb", "jetson-orin-nx-16gb"]


def all_hardware():
    return [get_hardware(n) for n in hardware_names()]


def minimal(**changes):
    d = {
        "name": "my-gpu",
        "display_name": "My GPU",
        "category": "datacenter",
        "memory_bytes": 80 * GiB,
        "memory_bandwidth_bytes_per_s": 2e12,
        "peak_flop_per_s": {"bf16": 400e12, "fp32": 50e12},
    }
    d.update(changes)
    return d


# -- the catalog -------------------------------------------------------------

def test_catalog_is_large_and_names_are_unique_slugs():
    names = hardware_names()
    assert len(names) >= 24
    assert len(set(names)) == len(names)
    for n in names:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", n), n


def test_required_devices_are_present():
    missing = sorted(set(REQUIRED) - set(hardware_names()))
    assert not missing


@pytest.mark.parametrize("name", hardware_names())
def test_every_device_is_well_formed(name):
    h = get_hardware(name)
    assert h.name == name
    assert h.category in ("datacenter", "workstation", "edge")
    assert h.source.strip() and "http" in h.source
    assert h.notes.strip()
    numbers = [h.memory_bytes, h.memory_bandwidth_bytes_per_s, *h.peak_flop_per_s.values()]
    if h.interconnect_bandwidth_bytes_per_s is not None:
        numbers.append(h.interconnect_bandwidth_bytes_per_s)
    for x in numbers:
        assert isinstance(x, float) and math.isfinite(x) and x > 0
    # Orders of magnitude that catch unit slips (GB for B, TFLOP/s for FLOP/s).
    assert 1 * GiB <= h.memory_bytes <= 1024 * GiB
    assert 1e10 <= h.memory_bandwidth_bytes_per_s <= 1e14
    for dtype, peak in h.peak_flop_per_s.items():
        assert 1e11 <= peak <= 1e16, (dtype, peak)
    assert 10 <= h.ridge_point <= 1000
    if h.category == "edge":
        assert h.interconnect_bandwidth_bytes_per_s is None


def test_edge_entries_say_which_unit_and_memory():
    for h in all_hardware():
        if h.category == "edge":
            text = h.notes.lower()
            assert any(unit in text for unit in ("gpu", "npu", "cpu")), h.name
            assert "shared" in text or "unified" in text, h.name


# Published figures, each with its source. tol is relative.
ANCHORS = [
    # NVIDIA H100 datasheet, SXM column: BF16 1,979 TFLOPS and FP8 3,958 TFLOPS "with sparsity"; 3.35 TB/s;
    # NVLink 900 GB/s (bidirectional, so 450 GB/s per direction).
    ("h100-sxm", "bf16", 1979e12 / 2, 0.005),
    ("h100-sxm", "fp8", 3958e12 / 2, 0.005),
    ("h100-sxm", "fp32", 67e12, 0.005),
    ("h100-sxm", "bandwidth", 3.35e12, 1e-9),
    ("h100-sxm", "interconnect", 900e9 / 2, 1e-9),
    # NVIDIA H100 datasheet, PCIe column: BF16 1,513 TFLOPS with sparsity; 2 TB/s.
    ("h100-pcie", "bf16", 1513e12 / 2, 0.005),
    ("h100-pcie", "bandwidth", 2.0e12, 1e-9),
    # NVIDIA H200 datasheet: 4.8 TB/s; same Tensor Core peaks as H100 SXM.
    ("h200", "bandwidth", 4.8e12, 1e-9),
    ("h200", "bf16", 1979e12 / 2, 0.005),
    # NVIDIA A100 datasheet: BF16 312 TFLOPS dense, INT8 624 TOPS dense, FP32 19.5; 2,039 / 1,555 / 1,935 GB/s.
    ("a100-sxm-80gb", "bf16", 312e12, 1e-9),
    ("a100-sxm-80gb", "int8", 624e12, 1e-9),
    ("a100-sxm-80gb", "fp32", 19.5e12, 1e-9),
    ("a100-sxm-80gb", "bandwidth", 2.039e12, 1e-9),
    ("a100-sxm-40gb", "bandwidth", 1.555e12, 1e-9),
    ("a100-pcie-80gb", "bandwidth", 1.935e12, 1e-9),
    # AMD MI300X data sheet: 5.3 TB/s; FP16 1307.4, FP8 2614.9 TFLOPs dense.
    ("mi300x", "bandwidth", 5.3e12, 1e-9),
    ("mi300x", "fp16", 1307.4e12, 1e-9),
    ("mi300x", "fp8", 2614.9e12, 1e-9),
    # AMD MI250X: FP16/BF16 383 TFLOPs; HBM2e 8192-bit at 3.2 Gbit/s.
    ("mi250x", "bf16", 383e12, 1e-9),
    ("mi250x", "bandwidth", 8192 * 3.2e9 / 8, 1e-9),
    # NVIDIA Ada whitepaper, RTX 4090: FP32 82.6; FP16 Tensor with FP32 accumulate 165.2 dense;
    # GDDR6X 384-bit x 21 Gbit/s.
    ("rtx-4090", "fp32", 82.6e12, 1e-9),
    ("rtx-4090", "bf16", 165.2e12, 1e-9),
    ("rtx-4090", "bandwidth", 384 * 21e9 / 8, 1e-9),
    # NVIDIA V100 datasheet, SXM2: 125 TFLOPS Tensor, 15.7 FP32, 900 GB/s.
    ("v100-sxm2-32gb", "fp16", 125e12, 1e-9),
    ("v100-sxm2-32gb", "fp32", 15.7e12, 1e-9),
    ("v100-sxm2-32gb", "bandwidth", 900e9, 1e-9),
    # NVIDIA T4 datasheet: FP16 65, INT8 130 TOPS, FP32 8.1; GDDR6 256-bit x 10 Gbit/s.
    ("t4", "fp16", 65e12, 1e-9),
    ("t4", "int8", 130e12, 1e-9),
    ("t4", "bandwidth", 256 * 10e9 / 8, 1e-9),
    # NVIDIA L4 datasheet: BF16 242 and FP8 485 "with sparsity"; 300 GB/s.
    ("l4", "bf16", 242e12 / 2, 0.005),
    ("l4", "fp8", 485e12 / 2, 0.005),
    ("l4", "bandwidth", 300e9, 1e-9),
    # NVIDIA A10 datasheet: BF16 125 dense, 600 GB/s.
    ("a10", "bf16", 125e12, 1e-9),
    ("a10", "bandwidth", 600e9, 1e-9),
    # NVIDIA L40S datasheet: BF16 733 and FP8 1,466 with sparsity (its dense column prints 362.05 for
    # BF16, within 1.5% of 733 / 2); 864 GB/s.
    ("l40s", "bf16", 733e12 / 2, 0.015),
    ("l40s", "fp8", 1466e12 / 2, 0.005),
    ("l40s", "bandwidth", 864e9, 1e-9),
    # Jetson module data sheets: LPDDR5 128-bit / 256-bit at 6400 MT/s.
    ("jetson-orin-nx-16gb", "bandwidth", 128 * 6400e6 / 8, 1e-9),
    ("jetson-agx-orin-64gb", "bandwidth", 256 * 6400e6 / 8, 1e-9),
    # Jetson AGX Orin technical brief: GPU 170 sparse INT8 TOPS.
    ("jetson-agx-orin-64gb", "int8", 170e12 / 2, 0.01),
    # Apple newsroom: M2 100 GB/s and 3.6 TFLOPS; M2 Pro 200 GB/s; M2 Max 400 GB/s.
    ("apple-m2", "bandwidth", 100e9, 1e-9),
    ("apple-m2", "fp32", 3.6e12, 1e-9),
    ("apple-m2-pro", "bandwidth", 200e9, 1e-9),
    ("apple-m2-max", "bandwidth", 400e9, 1e-9),
    # Raspberry Pi 5: LPDDR4X-4267 on a 32-bit bus; 4 x Cortex-A76 at 2.4 GHz, 2 x 128-bit FMA per cycle.
    ("raspberry-pi-5", "bandwidth", 4267e6 * 32 / 8, 1e-3),
    ("raspberry-pi-5", "fp32", 4 * 2.4e9 * 2 * 4 * 2, 1e-9),
    # Snapdragon 8 Gen 3: LPDDR5X "4800 MHz" = 9600 MT/s on 4 x 16-bit channels.
    ("snapdragon-8-gen-3", "bandwidth", 9600e6 * 64 / 8, 1e-9),
    # Core Ultra 7 155H: LPDDR5X-7467 on 128 bits.
    ("core-ultra-7-155h", "bandwidth", 7467e6 * 128 / 8, 1e-3),
]


@pytest.mark.parametrize("name, what, expected, tol", ANCHORS)
def test_datasheet_anchor(name, what, expected, tol):
    h = get_hardware(name)
    if what == "bandwidth":
        got = h.memory_bandwidth_bytes_per_s
    elif what == "interconnect":
        got = h.interconnect_bandwidth_bytes_per_s
    else:
        got = h.peak_for(what)
    assert got == pytest.approx(expected, rel=tol)


@pytest.mark.parametrize("name, gb", [("h100-sxm", 80), ("a100-sxm-40gb", 40), ("h200", 141),
                                      ("mi300x", 192), ("rtx-4090", 24), ("t4", 16)])
def test_capacity_is_the_advertised_size_in_gb_or_gib(name, gb):
    assert gb * 1e9 <= get_hardware(name).memory_bytes <= gb * GiB


# -- dense, not sparse ---------------------------------------------------------

@pytest.mark.parametrize("name", NVIDIA_INT8_IS_2X_BF16)
def test_nvidia_int8_is_twice_bf16(name):
    h = get_hardware(name)
    assert h.peak_for("int8") == pytest.approx(2 * h.peak_for("bf16"), rel=0.01)


def test_fp8_is_twice_bf16_wherever_both_exist():
    checked = 0
    for h in all_hardware():
        p = h.peak_flop_per_s
        if "fp8" in p and "bf16" in p:
            assert p["fp8"] == pytest.approx(2 * p["bf16"], rel=0.01), h.name
            checked += 1
    assert checked >= 6


def test_peaks_are_ordered_by_precision():
    for h in all_hardware():
        p = h.peak_flop_per_s
        for low, high in [("fp32", "bf16"), ("fp32", "fp16"), ("tf32", "bf16"), ("fp32", "tf32"),
                          ("int8", "int4"), ("bf16", "fp8")]:
            if low in p and high in p:
                assert p[high] >= p[low], (h.name, low, high)


def test_sparse_headlines_are_explained():
    for name in ["h100-sxm", "h100-pcie", "h200", "a100-sxm-80gb", "l4", "b200", "mi300x"]:
        assert "spars" in get_hardware(name).sparse_note.lower(), name


# -- ridge point ---------------------------------------------------------------

def test_ridge_point_by_hand():
    h = get_hardware("a100-sxm-80gb")
    assert h.ridge_point == pytest.approx(312e12 / 2.039e12)  # 153.0 FLOP/B
    assert h.ridge_point_for("int8") == pytest.approx(624e12 / 2.039e12)
    assert h.ridge_point_for("float32") == pytest.approx(19.5e12 / 2.039e12)


def test_ridge_point_falls_back_to_fp16_then_largest_float():
    v100 = get_hardware("v100-sxm2-32gb")  # no bf16
    assert v100.ridge_point == pytest.approx(125e12 / 900e9)
    h = Hardware.from_dict(minimal(peak_flop_per_s={"fp32": 10e12, "int8": 80e12}))
    assert h.ridge_point == pytest.approx(10e12 / 2e12)  # int8 is not FLOP


@given(st.floats(min_value=1e-3, max_value=1e3))
def test_scaling_bandwidth_scales_ridge_inversely(factor):
    h = Hardware.from_dict(minimal())
    faster = h.replace(memory_bandwidth_bytes_per_s=h.memory_bandwidth_bytes_per_s * factor)
    assert faster.ridge_point * factor == pytest.approx(h.ridge_point)
    assert h.memory_bandwidth_bytes_per_s == 2e12  # the original is untouched


# -- round trips and files -----------------------------------------------------

@pytest.mark.parametrize("name", hardware_names())
def test_round_trip_through_dict_and_json(name):
    h = get_hardware(name)
    assert Hardware.from_dict(h.to_dict()) == h
    assert Hardware.from_dict(json.loads(json.dumps(h.to_dict()))) == h
    assert pickle.loads(pickle.dumps(h)) == h
    assert hash(h) == hash(Hardware.from_dict(h.to_dict()))


def test_catalog_file_is_a_list_in_to_dict_format():
    path = Path(__file__).resolve().parents[1] / "llmperf" / "data" / "hardware.json"
    raw = json.loads(path.read_text())
    assert isinstance(raw, list)
    for entry in raw:
        assert list(entry) == list(Hardware.from_dict(entry).to_dict())


def test_user_json_file(tmp_path):
    path = tmp_path / "gpu.json"
    path.write_text(json.dumps(minimal(peak_flop_per_s={"bfloat16": 400e12})))
    for arg in (path, str(path)):
        h = get_hardware(arg)
        assert h.name == "my-gpu"
        assert h.peak_for("bf16") == 400e12
        assert h.interconnect_bandwidth_bytes_per_s is None
    assert load_hardware_file(path) == get_hardware(path)


def test_user_yaml_file(tmp_path):
    pytest.importorskip("yaml")
    path = tmp_path / "board.yaml"
    path.write_text(
        "name: my-board\n"
        "display_name: My edge board\n"
        "category: edge\n"
        "memory_bytes: 8589934592\n"
        "memory_bandwidth_bytes_per_s: 51.2e9\n"   # PyYAML reads this as a string
        "peak_flop_per_s:\n"
        "  float16: 2.0e+12\n"
        "  int8: 4000000000000\n"
        "notes: NPU peaks, vendor claim\n")
    h = get_hardware(str(path))
    assert h.memory_bandwidth_bytes_per_s == 51.2e9
    assert h.peak_flop_per_s == {"fp16": 2e12, "int8": 4e12}
    assert h.ridge_point == pytest.approx(2e12 / 51.2e9)
    assert h.source == ""


def test_malformed_json_file_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"name": "x", ')
    with pytest.raises(HardwareError, match=r"broken\.json.*JSON"):
        get_hardware(path)


def test_malformed_yaml_file_names_the_file(tmp_path):
    pytest.importorskip("yaml")
    path = tmp_path / "broken.yml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(HardwareError, match=r"broken\.yml.*YAML"):
        load_hardware_file(path)


def test_file_holding_a_list_is_rejected(tmp_path):
    path = tmp_path / "two.json"
    path.write_text(json.dumps([minimal(), minimal(name="other")]))
    with pytest.raises(HardwareError, match=r"two\.json.*one device"):
        get_hardware(path)


def test_bad_entry_in_file_names_file_and_key(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(minimal(memory_bandwidth_bytes_per_s=-1)))
    with pytest.raises(HardwareError, match=r"bad\.json.*memory_bandwidth_bytes_per_s"):
        get_hardware(path)


def test_missing_file_and_wrong_suffix(tmp_path):
    with pytest.raises(HardwareError, match="nothere.json"):
        get_hardware(tmp_path / "nothere.json")
    with pytest.raises(HardwareError, match=r"\.json, \.yaml or \.yml"):
        load_hardware_file(tmp_path / "gpu.txt")


# -- validation messages -------------------------------------------------------

def test_errors_are_value_errors():
    assert issubclass(HardwareError, ValueError)


def test_unknown_key_is_named():
    with pytest.raises(HardwareError, match="'bandwith'"):
        Hardware.from_dict(minimal(bandwith=1e12))


@pytest.mark.parametrize("key", ["name", "memory_bytes", "memory_bandwidth_bytes_per_s", "peak_flop_per_s"])
def test_missing_required_key_is_named(key):
    d = minimal()
    del d[key]
    with pytest.raises(HardwareError, match=f"missing.*{key}"):
        Hardware.from_dict(d)


@pytest.mark.parametrize("bad", [-1.0, 0.0, float("nan"), float("inf"), "fast", True, None])
def test_bandwidth_must_be_positive_and_finite(bad):
    with pytest.raises(HardwareError, match="memory_bandwidth_bytes_per_s"):
        Hardware.from_dict(minimal(memory_bandwidth_bytes_per_s=bad))


def test_bad_peak_value_names_the_dtype():
    with pytest.raises(HardwareError, match=r"peak_flop_per_s\['bf16'\]"):
        Hardware.from_dict(minimal(peak_flop_per_s={"bf16": -5.0}))


def test_unknown_dtype_key_is_named():
    with pytest.raises(HardwareError, match="'fp12'"):
        Hardware.from_dict(minimal(peak_flop_per_s={"fp12": 1e12}))


def test_dtype_keys_are_canonicalised_and_duplicates_rejected():
    h = Hardware.from_dict(minimal(peak_flop_per_s={"float16": 1e14, "BFloat16": 1e14, "e4m3": 2e14}))
    assert set(h.peak_flop_per_s) == {"fp16", "bf16", "fp8"}
    with pytest.raises(HardwareError, match="twice"):
        Hardware.from_dict(minimal(peak_flop_per_s={"fp16": 1e14, "float16": 1e14}))
    with pytest.raises(HardwareError, match="non-empty"):
        Hardware.from_dict(minimal(peak_flop_per_s={}))


def test_category_and_name_are_checked():
    with pytest.raises(HardwareError, match="category 'cloud'"):
        Hardware.from_dict(minimal(category="cloud"))
    with pytest.raises(HardwareError, match="slug"):
        Hardware.from_dict(minimal(name="My GPU"))
    assert set(CATEGORIES) == {"datacenter", "workstation", "edge"}


def test_peak_for_missing_dtype_names_device_and_dtypes():
    with pytest.raises(HardwareError, match=r"a100-sxm-80gb.*fp8.*bf16"):
        get_hardware("a100-sxm-80gb").peak_for("fp8")


def test_peak_for_accepts_aliases():
    h = get_hardware("h100-sxm")
    assert h.peak_for("bfloat16") == h.peak_for("bf16")
    with pytest.raises(ValueError):
        h.peak_for("fp12")


def test_replace_validates():
    h = get_hardware("h100-sxm")
    with pytest.raises(HardwareError, match="memory_bandwidth_bytes_per_s"):
        h.replace(memory_bandwidth_bytes_per_s=-3e12)
    with pytest.raises(HardwareError):
        h.replace(bandwidth=1e12)
    bigger = h.replace(memory_bytes=96 * GiB, name="h100-96gb")
    assert bigger.memory_bytes == 96 * GiB and h.memory_bytes == 80 * GiB


def test_hardware_is_frozen():
    h = get_hardware("t4")
    with pytest.raises(FrozenInstanceError):
        h.memory_bytes = 1.0


# -- lookup ----------------------------------------------------------------------

def test_lookup_is_case_insensitive_and_passes_hardware_through():
    h = get_hardware("H100-SXM")
    assert h.name == "h100-sxm"
    assert get_hardware(h) is h
    assert get_hardware(" h100_sxm ") == h


def test_unknown_name_lists_known_and_suggests():
    with pytest.raises(HardwareError) as info:
        get_hardware("h100sxm")
    msg = str(info.value)
    assert "unknown hardware 'h100sxm'" in msg
    assert "'h100-sxm'" in msg and "mi300x" in msg and "JSON/YAML" in msg


def test_callers_cannot_change_the_catalog():
    h = get_hardware("l4")
    h.peak_flop_per_s["bf16"] = 1.0  # documented read-only, but must not leak
    assert get_hardware("l4").peak_for("bf16") == pytest.approx(121e12, rel=0.005)


# -- table -------------------------------------------------------------------------

def test_list_hardware_has_one_row_per_device():
    df = list_hardware()
    assert isinstance(df, pd.DataFrame)
    assert list(df["name"]) == hardware_names()
    for column in ["memory (GiB)", "bandwidth (GB/s)", "bf16/fp16 (TFLOP/s)", "int8 (TOP/s)", "ridge (FLOP/B)",
                   "source"]:
        assert column in df.columns
    row = df.set_index("name").loc["h100-sxm"]
    assert row["bandwidth (GB/s)"] == pytest.approx(3350)
    assert row["memory (GiB)"] == pytest.approx(80)
    assert row["bf16/fp16 (TFLOP/s)"] == pytest.approx(989.4, rel=0.005)
    assert math.isnan(df.set_index("name").loc["apple-m2", "int8 (TOP/s)"])


def test_list_hardware_by_category():
    edge = list_hardware("edge")
    assert len(edge) >= 10 and set(edge["category"]) == {"edge"}
    with pytest.raises(HardwareError):
        list_hardware("cloud")


def test_import_does_not_need_yaml():
    code = "import sys, llmperf.hardware; sys.exit('yaml' in sys.modules)"
    repo = Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, "-c", code], cwd=repo).returncode == 0


def test_replaced_figures_do_not_keep_the_datasheet_citation():
    h = get_hardware("snapdragon-8-gen-3")
    x = h.replace(name="what-if", memory_bandwidth_bytes_per_s=50e9)
    assert x.source.startswith("modified from snapdragon-8-gen-3")
    assert "memory_bandwidth_bytes_per_s" in x.source
    assert h.replace(notes="renamed only").source == h.source


def test_effective_dtype_substitutes_only_16_bit_formats():
    m2 = get_hardware("apple-m2")
    assert "bf16" not in m2.peak_flop_per_s and m2.effective_dtype("bf16") == "fp16"
    assert get_hardware("h100-sxm").effective_dtype("bfloat16") == "bf16"
    with pytest.raises(HardwareError, match="fp8"):
        get_hardware("a100-sxm-80gb").effective_dtype("fp8")
