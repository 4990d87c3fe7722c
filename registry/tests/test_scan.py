"""Tests for registry.scan: ELF symbol analysis, archive layout findings, risk score."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from fmugateway.testing import list_shared_fmus, require_shared_fmus
from registry.inspection import InspectionError, inspect_fmu
from registry.scan import (
    SEVERITIES,
    Finding,
    risk_level,
    risk_score,
    runtime_glibc_version,
    scan_fmu,
)
from registry.tests import fmu_builders as fb


@pytest.fixture(scope="module")
def so_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("so")


@pytest.fixture(scope="module")
def clean_so(so_dir: Path) -> bytes:
    return fb.compile_c(fb.CLEAN_FMI2_SOURCE, so_dir / "clean.so").read_bytes()


@pytest.fixture(scope="module")
def network_so(so_dir: Path) -> bytes:
    return fb.compile_c(fb.NETWORK_FMI2_SOURCE, so_dir / "network.so").read_bytes()


def scan(path: Path):
    return scan_fmu(path, inspect_fmu(path))


def test_clean_binary_has_no_serious_findings(tmp_path: Path, clean_so: bytes) -> None:
    report = scan(fb.valid_fmu(tmp_path / "clean.fmu", clean_so))
    assert report.scanned_binaries == ["binaries/linux64/model.so"]
    assert not [f for f in report.findings if f.severity in ("critical", "high", "medium")]
    assert report.risk_score < 10
    json.dumps(report.to_dict())


def test_network_and_system_imports_are_high(
    tmp_path: Path, clean_so: bytes, network_so: bytes
) -> None:
    clean = scan(fb.valid_fmu(tmp_path / "clean.fmu", clean_so))
    hostile = scan(fb.valid_fmu(tmp_path / "net.fmu", network_so))
    by_code = {f.code: f for f in hostile.findings}
    assert by_code["network_access"].severity == "high"
    assert by_code["network_access"].location is not None
    assert by_code["network_access"].location.path == "binaries/linux64/model.so"
    assert {"socket", "connect"} <= set(by_code["network_access"].location.symbol.split(", "))
    assert by_code["process_spawn"].severity == "high"
    assert "system" in by_code["process_spawn"].location.symbol
    assert hostile.risk_score > clean.risk_score
    assert hostile.risk_score >= 40
    assert hostile.risk_level in ("high", "critical")


def test_missing_library(tmp_path: Path, so_dir: Path) -> None:
    # Link against a stub whose soname the runtime does not have, then ship only the model.
    stub = fb.compile_c(
        "int gfortran_stub(void) { return 1; }\n",
        so_dir / "libgfortran_stub.so",
        flags=["-Wl,-soname,libgfortran.so.3"],
    )
    source = (
        fb.CLEAN_FMI2_SOURCE + "int gfortran_stub(void);\nint use(void){return gfortran_stub();}\n"
    )
    model = fb.compile_c(source, so_dir / "needs_gfortran.so", flags=[str(stub)])
    report = scan(fb.valid_fmu(tmp_path / "x.fmu", model.read_bytes()))
    missing = [f for f in report.findings if f.code == "missing_library"]
    assert [(f.severity, f.location.symbol) for f in missing] == [("high", "libgfortran.so.3")]


def test_bundled_library_is_not_missing(tmp_path: Path, so_dir: Path) -> None:
    stub = fb.compile_c(
        "int helper_stub(void) { return 1; }\n",
        so_dir / "libhelper_stub.so",
        flags=["-Wl,-soname,libhelper.so.1"],
    )
    source = fb.CLEAN_FMI2_SOURCE + "int helper_stub(void);\nint use(void){return helper_stub();}\n"
    model = fb.compile_c(
        source, so_dir / "needs_helper.so", flags=[str(stub), "-Wl,-rpath,$ORIGIN"]
    )
    path = fb.valid_fmu(
        tmp_path / "x.fmu",
        model.read_bytes(),
        extra={"binaries/linux64/libhelper.so.1": stub.read_bytes()},
    )
    report = scan(path)
    assert "missing_library" not in report.codes()
    assert "unsafe_rpath" not in report.codes()
    assert len(report.scanned_binaries) == 2


def test_glibc_too_new(tmp_path: Path, so_dir: Path) -> None:
    if runtime_glibc_version() is None:
        pytest.skip("not a glibc runtime")
    data = fb.compile_c(fb.PUTS_FMI2_SOURCE, so_dir / "puts.so").read_bytes()
    # puts@GLIBC_2.2.5 on x86-64: rewrite the version string to something from the future.
    data = fb.patch_bytes(data, b"GLIBC_2.2.5", b"GLIBC_9.9.9")
    report = scan(fb.valid_fmu(tmp_path / "x.fmu", data))
    finding = next(f for f in report.findings if f.code == "glibc_too_new")
    assert finding.severity == "high"
    assert finding.location.symbol == "GLIBC_9.9.9"


def test_missing_fmi_exports(tmp_path: Path, so_dir: Path) -> None:
    lib = fb.compile_c("int unrelated(void) { return 0; }\n", so_dir / "noexports.so")
    report = scan(fb.valid_fmu(tmp_path / "x.fmu", lib.read_bytes()))
    finding = next(f for f in report.findings if f.code == "missing_fmi_exports")
    assert "fmi2Instantiate" in finding.location.symbol


def test_relative_rpath(tmp_path: Path, so_dir: Path) -> None:
    lib = fb.compile_c(fb.CLEAN_FMI2_SOURCE, so_dir / "rpath.so", flags=["-Wl,-rpath,."])
    report = scan(fb.valid_fmu(tmp_path / "x.fmu", lib.read_bytes()))
    assert "unsafe_rpath" in report.codes()


def test_archive_layout_findings(tmp_path: Path, clean_so: bytes, so_dir: Path) -> None:
    exe = fb.compile_c(fb.EXECUTABLE_SOURCE, so_dir / "prog", shared=False, flags=["-no-pie"])
    extra: dict[str, bytes | str] = {
        "resources/helper": exe.read_bytes(),
        "resources/install.sh": "#!/bin/sh\necho hi\n",
        "resources/run": "#!/usr/bin/env python3\nprint(1)\n",
        "resources/tool.exe": b"MZ" + b"\0" * 100,
        "resources/lib.dll": b"MZ" + b"\0" * 100,
        "sources/build.py": "print('build')\n",
        "sources/model.c": "int x;\n",
        "documentation/index.html": "<html></html>",
        "__MACOSX/._modelDescription.xml": b"\0" * 10,
    }
    report = scan(fb.valid_fmu(tmp_path / "x.fmu", clean_so, extra=extra))
    found = {(f.code, f.location.path if f.location else None): f.severity for f in report.findings}
    assert found[("binary_outside_binaries", "resources/helper")] == "critical"
    assert found[("binary_outside_binaries", "resources/tool.exe")] == "high"
    assert found[("windows_binary_misplaced", "resources/tool.exe")] == "high"
    assert found[("windows_binary_misplaced", "resources/lib.dll")] == "medium"
    assert found[("script_file", "resources/install.sh")] == "medium"
    assert found[("script_file", "resources/run")] == "medium"  # shebang, no suffix
    assert found[("script_file", "sources/build.py")] == "low"
    assert found[("sources_included", "sources/")] == "info"
    assert found[("documentation_included", "documentation/")] == "info"
    assert found[("macos_metadata", "__MACOSX/")] == "info"
    assert report.risk_level == "critical"


def test_risk_score_formula() -> None:
    def f(sev: str, code: str) -> Finding:
        return Finding(sev, code, "t", None, "r")

    assert risk_score([]) == 0 and risk_level(0) == "none"
    assert risk_score([f("info", "a")]) == 0
    assert risk_score([f("low", "a")]) == 2
    assert risk_score([f("medium", "a")]) == 8
    assert risk_score([f("high", "a")]) == 20
    assert risk_score([f("critical", "a")]) == 50
    # a code counts once, at its worst severity
    assert risk_score([f("high", "a"), f("high", "a"), f("low", "a")]) == 20
    assert risk_score([f("high", "a"), f("high", "b"), f("medium", "c")]) == 48
    assert risk_score([f("critical", c) for c in "abc"]) == 100
    assert [risk_level(s) for s in (1, 19, 20, 39, 40, 69, 70, 100)] == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
        "critical",
        "critical",
    ]


@pytest.mark.parametrize("relative", list_shared_fmus() or ["<absent>"])
def test_shared_fmus_scan(relative: str) -> None:
    folder = require_shared_fmus()
    path = folder / relative
    try:
        inspection = inspect_fmu(path)
    except InspectionError:
        return  # rejected FMUs are never scanned (see test_inspection)
    report = scan_fmu(path, inspection)
    assert 0 <= report.risk_score <= 100
    assert all(f.severity in SEVERITIES for f in report.findings)
    json.dumps(report.to_dict())
    if relative.startswith("Dymola/20") and "2016" not in relative:
        # Dymola's license check really imports socket / popen: reported, sandbox contains it.
        assert {"network_access", "process_spawn"} <= report.codes()
    if relative.startswith("FMUSDK-via-PyFMI/"):
        assert report.risk_score == 0
        assert "sources_included" in report.codes()


def test_shared_fmus_scan_fast() -> None:
    folder = require_shared_fmus()
    for relative in list_shared_fmus():
        path = folder / relative
        try:
            inspection = inspect_fmu(path)
        except InspectionError:
            continue
        started = time.perf_counter()
        scan_fmu(path, inspection)
        elapsed = time.perf_counter() - started
        assert elapsed < 1.0, (relative, elapsed)  # target 200 ms, see bench/


RUNTIME_TRICKS_SOURCE = (
    fb.CLEAN_FMI2_SOURCE
    + r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <fcntl.h>
static void *work(void *arg) { return arg; }
int tricks(int pid) {
    pthread_t thread;
    pthread_create(&thread, NULL, work, NULL);
    int fd = memfd_create("buffer", 0);
    int shm = shm_open("/fmu", O_CREAT | O_RDWR, 0600);
    return kill(pid, SIGTERM) + fd + shm;
}
"""
)


def test_threads_signals_memory_files_and_shared_memory_are_informational(
    tmp_path: Path, so_dir: Path, clean_so: bytes
) -> None:
    library = fb.compile_c(RUNTIME_TRICKS_SOURCE, so_dir / "tricks.so", flags=["-pthread"])
    report = scan(fb.valid_fmu(tmp_path / "tricks.fmu", library.read_bytes()))
    by_code = {f.code: f for f in report.findings}
    expected = {
        "thread_creation": "pthread_create",
        "process_signals": "kill",
        "memory_files": "memfd_create",
        "shared_memory": "shm_open",
    }
    for code, symbol in expected.items():
        assert by_code[code].severity == "info", code
        assert symbol in by_code[code].location.symbol.split(", "), code
    clean = scan(fb.valid_fmu(tmp_path / "clean.fmu", clean_so))
    assert report.risk_score == clean.risk_score  # informational: no weight


def test_renamed_only_library_is_a_low_finding_and_checked_for_exports(
    tmp_path: Path, so_dir: Path
) -> None:
    lib = fb.compile_c("int unrelated(void) { return 0; }\n", so_dir / "renamed.so")
    path = fb.write_fmu(
        tmp_path / "x.fmu",
        {"binaries/linux64/exported-by-tool.so": lib.read_bytes()},
        model_description=fb.model_description_xml(),
    )
    report = scan(path)
    by_code = {f.code: f for f in report.findings}
    mismatch = by_code["binary_name_mismatch"]
    assert mismatch.severity == "low"
    assert mismatch.location.path == "binaries/linux64/exported-by-tool.so"
    assert "not_runnable" not in by_code
    assert by_code["missing_fmi_exports"].location.path == "binaries/linux64/exported-by-tool.so"
