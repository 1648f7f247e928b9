"""The roofline: the limit arithmetic, the probes, and their disk cache (reused, measured
again when corrupt, foreign or implausible, never written without a cache)."""

from __future__ import annotations

import json
import os

import pytest

from runtime import roofline
from runtime.profiler import KernelStats, ProfileReport
from runtime.roofline import Ceiling, Machine

CEILING = Ceiling(threads=1, bytes_per_s=10e9, flops_per_s=100e9)  # ridge: 10 FLOP/byte


def test_a_low_intensity_kernel_is_memory_bound():
    r = roofline.roof(flops=1_000, nbytes=1_000_000, seconds=200e-6, ceiling=CEILING)
    assert r.bound == "memory" and r.intensity == pytest.approx(1e-3)
    assert r.limit_flops_per_s == pytest.approx(10e9 * 1e-3)  # bandwidth x intensity
    assert r.fraction == pytest.approx((1e6 / 10e9) / 200e-6)  # 100 us of 200 us: 50%


def test_a_high_intensity_kernel_is_compute_bound():
    r = roofline.roof(flops=10**9, nbytes=10**6, seconds=0.02, ceiling=CEILING)
    assert r.bound == "compute" and r.limit_flops_per_s == pytest.approx(100e9)
    achieved = 10**9 / 0.02
    assert r.fraction == pytest.approx(achieved / r.limit_flops_per_s)


def test_steps_that_move_nothing_have_no_roof():
    assert roofline.roof(0, 0, 1e-6, CEILING) is None
    assert roofline.roof(10, 10, 0.0, CEILING) is None  # never timed


def _report(machine: Machine) -> ProfileReport:
    kernels = [KernelStats("slow_copy", "kernel", ("a",), calls=1, total_s=1e-3, bytes=10**6),
               KernelStats("fast_copy", "kernel", ("b",), calls=1, total_s=2e-4, bytes=10**6),
               KernelStats("view", "view", ("c",), calls=1, total_s=1e-6)]
    return ProfileReport(kernels, calls=1, wall_s=2e-3, machine=machine)


MACHINE = Machine("test cpu", 2, CEILING, Ceiling(2, 20e9, 200e9))


def test_report_rows_carry_the_limit_and_sort_by_it():
    report = _report(MACHINE)
    rows = {r["name"]: r for r in report.as_dicts()}
    assert rows["slow_copy"]["% of limit"] == pytest.approx(0.1)
    assert rows["fast_copy"]["% of limit"] == pytest.approx(0.5)
    assert rows["view"]["% of limit"] is None and rows["view"]["bound"] is None
    assert [k.name for k in report.sorted("limit").kernels] == ["slow_copy", "fast_copy",
                                                               "view"]
    assert [k.name for k in report.sorted("time").kernels] == ["slow_copy", "fast_copy",
                                                              "view"]
    assert [k.name for k in report.sorted("name").kernels] == ["fast_copy", "slow_copy",
                                                              "view"]
    text = str(report)
    assert "% limit" in text and "10.0%" in text and "memory" in text
    with pytest.raises(ValueError, match="cannot sort a profile by 'speed'"):
        report.sorted("speed")


def test_a_parallel_kernel_is_measured_against_all_threads():
    k = KernelStats("par", "kernel", ("a",), calls=1, total_s=1e-3, bytes=10**6,
                    parallel=True)
    row = ProfileReport([k], calls=1, wall_s=1e-3, machine=MACHINE).as_dicts()[0]
    assert row["% of limit"] == pytest.approx((1e6 / 20e9) / 1e-3)


@pytest.fixture
def fake_probe(tmp_path, monkeypatch):
    """A temporary cache and a probe that counts its runs instead of measuring."""
    monkeypatch.setenv("GRAPHJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("GRAPHJIT_NO_CACHE", raising=False)
    monkeypatch.setattr(roofline, "_measured", {})
    runs = []

    def measure(threads):
        runs.append(threads)
        return (Ceiling(1, 5e9 + len(runs), 50e9),
                Ceiling(threads, 9e9, 90e9))
    monkeypatch.setattr(roofline, "measure", measure)
    return runs


def _forget(monkeypatch) -> None:
    monkeypatch.setattr(roofline, "_measured", {})  # as a new process would


def test_the_probe_runs_once_and_its_cache_is_reused(fake_probe, monkeypatch):
    first = roofline.machine()
    assert len(fake_probe) == 1 and roofline.machine() is first
    _forget(monkeypatch)
    assert roofline.machine() == first and len(fake_probe) == 1  # read from disk
    path = roofline.cache_path(roofline.machine_key())
    assert os.path.dirname(os.path.dirname(path)) == os.environ["GRAPHJIT_CACHE_DIR"]
    again = roofline.machine(remeasure=True)  # asked for: measured and cached anew
    assert len(fake_probe) == 2 and again != first
    _forget(monkeypatch)
    assert roofline.machine() == again and len(fake_probe) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign", "implausible",
                                    "wrong type"])
def test_a_damaged_or_foreign_cache_file_is_measured_again(fake_probe, monkeypatch, damage):
    roofline.machine()
    path = roofline.cache_path(roofline.machine_key())
    text = open(path).read()
    data = json.loads(text)
    if damage == "garbage":
        text = "\x00not json"
    elif damage == "truncated":
        text = text[: len(text) // 2]
    elif damage == "foreign":
        data["key"]["cpu"] = "another cpu"
        text = json.dumps(data)
    elif damage == "implausible":
        data["all_threads"]["bytes_per_s"] = -1.0
        text = json.dumps(data)
    else:
        data["one_thread"] = [1, 2, 3]
        text = json.dumps(data)
    with open(path, "w") as f:
        f.write(text)
    _forget(monkeypatch)
    again = roofline.machine()
    assert len(fake_probe) == 2 and again.one_thread.bytes_per_s == 5e9 + 2
    assert roofline.load(path, roofline.machine_key()) == again  # rewritten, valid


def test_without_a_cache_nothing_is_written(fake_probe, monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHJIT_NO_CACHE", "1")
    roofline.machine()
    assert len(fake_probe) == 1 and not (tmp_path / "roofline").exists()


def test_the_probes_measure_positive_rates():
    assert roofline.measure_bandwidth(1, nbytes=3 << 20) > 1e6
    assert roofline.measure_fma(1, seconds=1e-3) > 1e6
    assert roofline.measure_gemm(64) > 1e6
