"""The sandbox's extraction makes FMUs loadable that the registry accepts but plain fmpy does
not: a member stored twice with identical bytes, a lone library not named after the
modelIdentifier (``fmusandbox.cache``)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from fmusandbox.cache import FmuCache, FmuCacheError
from registry.tests import fmu_builders as fb

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")


def cache(tmp_path: Path) -> FmuCache:
    return FmuCache(tmp_path / "cache", max_entries=4, max_unpacked_bytes=64 * 1024**2)


def test_a_lone_misnamed_library_is_linked_under_the_model_identifier(tmp_path: Path) -> None:
    path = fb.write_fmu(
        tmp_path / "x.fmu",
        {"binaries/linux64/exported-by-tool.so": b"\x7fELF library bytes"},
        model_description=fb.model_description_xml("Plant"),
    )
    root = cache(tmp_path).get(path)
    linked = root / "binaries" / "linux64" / "Plant.so"
    original = root / "binaries" / "linux64" / "exported-by-tool.so"
    assert linked.read_bytes() == b"\x7fELF library bytes"
    assert linked.stat().st_ino == original.stat().st_ino  # a hard link, no copy


def test_fmi1_model_identifier_and_fmi3_folder_are_linked(tmp_path: Path) -> None:
    xml = fb.model_description_xml("Ignored").replace(
        'fmiVersion="2.0"', 'fmiVersion="3.0" modelIdentifier="RootId"'
    )
    path = fb.write_fmu(
        tmp_path / "x.fmu",
        {"binaries/x86_64-linux/lib.so": b"lib"},
        model_description=xml,
    )
    folder = cache(tmp_path).get(path) / "binaries" / "x86_64-linux"
    assert {p.name for p in folder.iterdir()} == {"lib.so", "RootId.so", "Ignored.so"}


@pytest.mark.parametrize(
    "files",
    [
        {"binaries/linux64/a.so": b"a", "binaries/linux64/b.so": b"b"},  # which one?
        {"binaries/linux64/model.so": b"m"},  # already named right
        {"binaries/win64/other.dll": b"MZ"},  # not a runtime folder
    ],
)
def test_nothing_is_linked_otherwise(tmp_path: Path, files: dict) -> None:
    path = fb.write_fmu(tmp_path / "x.fmu", files, model_description=fb.model_description_xml())
    root = cache(tmp_path).get(path)
    extracted = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert extracted == {"modelDescription.xml", *files}


def test_a_doctype_description_gets_no_link(tmp_path: Path) -> None:
    path = fb.write_fmu(
        tmp_path / "x.fmu",
        {"binaries/linux64/other.so": b"lib"},
        model_description=fb.billion_laughs_model_description(),
    )
    root = cache(tmp_path).get(path)
    assert [p.name for p in (root / "binaries" / "linux64").iterdir()] == ["other.so"]


def test_an_identical_duplicate_member_is_extracted_once(tmp_path: Path) -> None:
    path = tmp_path / "x.fmu"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("modelDescription.xml", fb.model_description_xml())
        archive.writestr("resources/", b"")
        archive.writestr("resources/", b"")
        for _ in range(2):
            archive.writestr("resources/table.csv", "t,y\n0,1\n")
    root = cache(tmp_path).get(path)
    assert (root / "resources" / "table.csv").read_text(encoding="utf-8") == "t,y\n0,1\n"


def test_a_duplicate_member_with_other_bytes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.fmu"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("modelDescription.xml", fb.model_description_xml())
        archive.writestr("resources/table.csv", "t,y\n0,1\n")
        archive.writestr("resources/table.csv", "t,y\n0,2\n")
    with pytest.raises(FmuCacheError, match="duplicate archive member"):
        cache(tmp_path).get(path)
