"""Fixtures for the sandbox tests: real FMUs from ../shared/fmus and hostile FMUs built from C."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_FMUS = Path(os.environ.get("FMU_GATEWAY_SHARED_FMUS", REPO.parent / "shared" / "fmus"))
HOSTILE_SOURCE = Path(__file__).resolve().parent / "hostile" / "hostile.c"

HOSTILE_MODES = (
    "good",
    "segfault",
    "abort",
    "loop",
    "alloc",
    "forkbomb",
    "connect",
    "readfile",
    "bigfile",
    "env",
    "switch",
)


def on_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def missing_requirement(reason: str) -> NoReturn:
    """Skip locally, but fail on CI, where every prerequisite must be present."""
    if on_ci():
        pytest.fail(f"{reason} (required because CI=true)")
    pytest.skip(reason)


def shared_fmu(relative: str) -> Path:
    """Path of an FMU under ../shared/fmus; skips (fails on CI) when the folder is absent."""
    if not SHARED_FMUS.is_dir():
        missing_requirement(f"shared FMU folder {SHARED_FMUS} is absent")
    path = SHARED_FMUS / relative
    if not path.is_file():
        missing_requirement(f"shared FMU {relative} is absent from {SHARED_FMUS}")
    return path


def _model_description(identifier: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<fmiModelDescription fmiVersion="2.0" modelName="{identifier}" guid="{{{uuid.uuid4()}}}"
    numberOfEventIndicators="0">
  <CoSimulation modelIdentifier="{identifier}" canHandleVariableCommunicationStepSize="true"/>
  <DefaultExperiment startTime="0" stopTime="1" stepSize="0.1"/>
  <ModelVariables>
    <ScalarVariable name="y" valueReference="0" causality="output" variability="continuous">
      <Real/>
    </ScalarVariable>
    <ScalarVariable name="target" valueReference="1" causality="parameter" variability="fixed">
      <String start=""/>
    </ScalarVariable>
    <ScalarVariable name="u" valueReference="2" causality="input" variability="continuous">
      <Real start="0"/>
    </ScalarVariable>
  </ModelVariables>
  <ModelStructure>
    <Outputs><Unknown index="1"/></Outputs>
  </ModelStructure>
</fmiModelDescription>
"""


def build_hostile_fmu(mode: str, out_dir: Path) -> Path:
    """Compile hostile.c with -DHOSTILE_<MODE> into an FMI 2.0 CS FMU in out_dir."""
    import fmpy

    gcc = shutil.which("gcc")
    if gcc is None:
        missing_requirement("gcc is needed to build the hostile test FMUs")
    identifier = f"hostile_{mode}"
    headers = Path(fmpy.__file__).parent / "c-code"
    build = out_dir / f"build-{mode}"
    build.mkdir(parents=True, exist_ok=True)
    library = build / f"{identifier}.so"
    subprocess.run(
        [
            gcc,
            "-shared",
            "-fPIC",
            "-O0",
            "-Wall",
            f"-DHOSTILE_{mode.upper()}",
            f"-I{headers}",
            "-o",
            str(library),
            str(HOSTILE_SOURCE),
        ],
        check=True,
        capture_output=True,
    )
    fmu = out_dir / f"{identifier}.fmu"
    with zipfile.ZipFile(fmu, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("modelDescription.xml", _model_description(identifier))
        archive.write(library, f"binaries/linux64/{identifier}.so")
    return fmu


@pytest.fixture(scope="session")
def hostile_fmu(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Factory: hostile_fmu("segfault") -> path of the built FMU (built once per session)."""
    out_dir = tmp_path_factory.mktemp("hostile-fmus")
    built: dict[str, Path] = {}

    def get(mode: str) -> Path:
        if mode not in HOSTILE_MODES:
            raise ValueError(mode)
        if mode not in built:
            built[mode] = build_hostile_fmu(mode, out_dir)
        return built[mode]

    return get
