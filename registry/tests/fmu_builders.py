"""Builders for synthetic and hostile FMU archives (test-only, reused by API tests).

Everything is written into a caller-supplied folder (``tmp_path``). Two writers:

* :func:`write_fmu` uses :mod:`zipfile` for well-behaved archives;
* :func:`write_raw_zip` packs local headers / central directory by hand so tests can
  lie about sizes, offsets, flags and modes (zip bombs, overlapping entries, symlinks)
  and create 100k entries in a fraction of a second.
"""

from __future__ import annotations

import io
import shutil
import stat
import struct
import subprocess
import textwrap
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

# ----------------------------------------------------------------------------- XML

UNITS = '<UnitDefinitions><Unit name="m"/><Unit name="s"/></UnitDefinitions>'


def model_description_xml(
    model_identifier: str = "model",
    *,
    fmi_version: str = "2.0",
    model_name: str = "TestModel",
    kinds: Iterable[str] = ("CoSimulation",),
    prolog: str = "",
) -> str:
    """A small, schema-valid FMI 2.0 model description (3 variables, unit ``m``)."""
    interfaces = "".join(f'<{k} modelIdentifier="{model_identifier}"/>' for k in kinds)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}\n'
        f'<fmiModelDescription fmiVersion="{fmi_version}" modelName="{model_name}" '
        'guid="{8c4e810f-3df3-4a00-8276-176fa3c9f000}" generationTool="fmu_builders" '
        'description="synthetic test model">'
        f"{interfaces}{UNITS}"
        '<DefaultExperiment startTime="0" stopTime="2" stepSize="0.01"/>'
        "<ModelVariables>"
        '<ScalarVariable name="k" valueReference="0" causality="parameter" '
        'variability="fixed" initial="exact" description="gain">'
        '<Real start="1.5" unit="m" min="0" max="10"/></ScalarVariable>'
        '<ScalarVariable name="u" valueReference="1" causality="input">'
        '<Real start="0"/></ScalarVariable>'
        '<ScalarVariable name="y" valueReference="2" causality="output" initial="calculated">'
        '<Real unit="m"/></ScalarVariable>'
        "</ModelVariables>"
        '<ModelStructure><Outputs><Unknown index="3"/></Outputs>'
        '<InitialUnknowns><Unknown index="3"/></InitialUnknowns></ModelStructure>'
        "</fmiModelDescription>\n"
    )


def many_variables_model_description(count: int) -> str:
    """The small description plus ``count`` local variables (~160 bytes each: 100,000 make
    ~16 MB, just under the inspection's size cap)."""
    xml = model_description_xml()
    end = xml.index("</ModelVariables>")
    rows = "".join(
        f'<ScalarVariable name="plant.block{i // 100:04d}.s{i % 100:02d}" '
        f'valueReference="{1000 + i}" causality="local" variability="continuous" '
        'initial="calculated"><Real unit="m"/></ScalarVariable>\n'
        for i in range(count)
    )
    return xml[:end] + rows + xml[end:]


#: FMI 3 with only a Scheduled Execution interface (the runner cannot execute it).
SCHEDULED_ONLY = """<?xml version="1.0" encoding="UTF-8"?>
<fmiModelDescription fmiVersion="3.0" modelName="Tasks" instantiationToken="{t}">
  <ScheduledExecution modelIdentifier="model"/>
  <ModelVariables>
    <Float64 name="time" valueReference="0" causality="independent" variability="continuous"/>
    <Clock name="tick" valueReference="1" causality="input" intervalVariability="constant"
      intervalDecimal="0.1"/>
    <Float64 name="y" valueReference="2" causality="output" variability="discrete"
      clocks="1" initial="exact" start="0"/>
  </ModelVariables>
  <ModelStructure><Output valueReference="2"/></ModelStructure>
</fmiModelDescription>
"""


XXE_PROLOG_TEMPLATE = '<!DOCTYPE fmiModelDescription [<!ENTITY xxe SYSTEM "file://{target}">]>'


def xxe_model_description(target: Path) -> str:
    """External entity reading a local file into modelName."""
    xml = model_description_xml(prolog=XXE_PROLOG_TEMPLATE.format(target=target))
    return xml.replace('modelName="TestModel"', 'modelName="&xxe;"')


def billion_laughs_model_description() -> str:
    lol = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    prolog = "<!DOCTYPE fmiModelDescription [" + "".join(lol) + "]>"
    return model_description_xml(prolog=prolog).replace(
        'description="synthetic', 'description="&lol9;'
    )


def external_dtd_model_description(url: str = "http://127.0.0.1:9/evil.dtd") -> str:
    return model_description_xml(prolog=f'<!DOCTYPE fmiModelDescription SYSTEM "{url}">')


# ----------------------------------------------------------------------------- ELF


def _elf_header(*, elf_class: int, machine: int, e_type: int) -> bytes:
    """A bare ELF header with no sections/segments (enough to fool a magic check)."""
    ident = b"\x7fELF" + bytes([elf_class, 1, 1, 0]) + b"\x00" * 8
    if elf_class == 2:  # 64-bit header: 64 bytes
        return ident + struct.pack(
            "<HHIQQQIHHHHHH", e_type, machine, 1, 0, 0, 0, 0, 64, 0, 0, 64, 0, 0
        )
    return ident + struct.pack("<HHIIIIIHHHHHH", e_type, machine, 1, 0, 0, 0, 0, 52, 0, 0, 40, 0, 0)


def aarch64_shared_object() -> bytes:
    return _elf_header(elf_class=2, machine=183, e_type=3)


def i386_shared_object() -> bytes:
    return _elf_header(elf_class=1, machine=3, e_type=3)


def x86_64_executable_header() -> bytes:
    return _elf_header(elf_class=2, machine=62, e_type=2)


def garbage_elf() -> bytes:
    """ELF magic and a 64-bit x86-64 ET_DYN header pointing at section headers far away."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\x00" * 8
    header = ident + struct.pack(
        "<HHIQQQIHHHHHH", 3, 62, 1, 0, 0, 0x7FFF_FFFF, 0, 64, 0, 0, 64, 50, 7
    )
    return header + b"\xa5" * 200


CLEAN_FMI2_SOURCE = r"""
#include <stddef.h>
void *fmi2Instantiate(const char *n, int t, const char *g, const char *r, const void *f,
                      int v, int l) { return NULL; }
const char *fmi2GetVersion(void) { return "2.0"; }
int fmi2DoStep(void *c, double t, double h, int n) { return 0; }
double model_gain(double x) { return 2.0 * x; }
"""

NETWORK_FMI2_SOURCE = (
    CLEAN_FMI2_SOURCE
    + r"""
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
int phone_home(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a; memset(&a, 0, sizeof a); a.sin_family = AF_INET;
    connect(s, (struct sockaddr *)&a, sizeof a);
    return system("id");
}
"""
)

PUTS_FMI2_SOURCE = CLEAN_FMI2_SOURCE + '\n#include <stdio.h>\nvoid hello(void) { puts("hi"); }\n'

EXECUTABLE_SOURCE = "int main(void) { return 0; }\n"


def require_gcc() -> str:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("gcc is needed to build test binaries")
    return gcc


def compile_c(source: str, out: Path, *, shared: bool = True, flags: Iterable[str] = ()) -> Path:
    """Compile ``source`` with gcc into ``out`` (a .so when ``shared``)."""
    gcc = require_gcc()
    src = out.with_suffix(".c")
    src.write_text(textwrap.dedent(source))
    cmd = [gcc, "-O0", "-o", str(out), str(src)]
    if shared:
        cmd[1:1] = ["-shared", "-fPIC"]
    cmd.extend(flags)
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    return out


def patch_bytes(data: bytes, old: bytes, new: bytes) -> bytes:
    assert len(old) == len(new) and old in data, old
    return data.replace(old, new)


# ----------------------------------------------------------------------------- zip writers


def write_fmu(
    path: Path,
    files: Mapping[str, bytes | str],
    *,
    model_description: str | bytes | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """Write an FMU with ``modelDescription.xml`` (unless None) followed by ``files``."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        if model_description is not None:
            zf.writestr("modelDescription.xml", model_description)
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def valid_fmu(
    path: Path,
    so_bytes: bytes,
    *,
    model_identifier: str = "model",
    extra: Mapping[str, bytes | str] | None = None,
    folder: str = "linux64",
) -> Path:
    files: dict[str, bytes | str] = {f"binaries/{folder}/{model_identifier}.so": so_bytes}
    files.update(extra or {})
    return write_fmu(path, files, model_description=model_description_xml(model_identifier))


@dataclass
class RawEntry:
    name: str
    data: bytes = b""  # raw bytes as stored (already compressed when method=8)
    method: int = 0
    crc: int | None = None  # default: crc32 of ``data`` (right for method 0)
    size: int | None = None  # declared uncompressed size; default len(data)
    flags: int = 0
    external_attr: int = 0
    create_system: int = 3
    offset: int | None = None  # central directory offset override (overlaps)


def deflate(data: bytes, level: int = 9) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def raw_zip_bytes(entries: Iterable[RawEntry]) -> bytes:
    """Hand-packed ZIP (with ZIP64 extras / end records when needed)."""
    out = io.BytesIO()
    central: list[bytes] = []
    count = 0
    for e in entries:
        count += 1
        name = e.name.encode("utf-8")
        size = len(e.data) if e.size is None else e.size
        crc = zlib.crc32(e.data) if e.crc is None else e.crc
        csize = len(e.data)
        extra = b""
        size_field = size
        if size >= 0xFFFFFFFF:
            extra = struct.pack("<HHQ", 1, 8, size)
            size_field = 0xFFFFFFFF
        offset = out.tell()
        out.write(
            struct.pack(
                "<IHHHHHIIIHH",
                0x04034B50,
                45 if extra else 20,
                e.flags,
                e.method,
                0,
                0x21,
                crc,
                csize,
                size_field,
                len(name),
                len(extra),
            )
        )
        out.write(name + extra + e.data)
        central.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                (e.create_system << 8) | 45,
                45 if extra else 20,
                e.flags,
                e.method,
                0,
                0x21,
                crc,
                csize,
                size_field,
                len(name),
                len(extra),
                0,
                0,
                0,
                e.external_attr,
                offset if e.offset is None else e.offset,
            )
            + name
            + extra
        )
    cd_offset = out.tell()
    for record in central:
        out.write(record)
    cd_size = out.tell() - cd_offset
    if count > 0xFFFF:
        zip64_offset = out.tell()
        out.write(
            struct.pack(
                "<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, cd_size, cd_offset
            )
        )
        out.write(struct.pack("<IIQI", 0x07064B50, 0, zip64_offset, 1))
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, cd_size, cd_offset, 0))
    else:
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, cd_size, cd_offset, 0))
    return out.getvalue()


def write_raw_zip(path: Path, entries: Iterable[RawEntry]) -> Path:
    path.write_bytes(raw_zip_bytes(entries))
    return path


def md_entry(xml: str | None = None) -> RawEntry:
    return RawEntry("modelDescription.xml", (xml or model_description_xml()).encode())


# ----------------------------------------------------------------------------- hostile archives


def zip_slip_fmu(path: Path, name: str = "../../evil.sh") -> Path:
    return write_raw_zip(path, [md_entry(), RawEntry(name, b"#!/bin/sh\nrm -rf ~\n")])


def absolute_path_fmu(path: Path) -> Path:
    return write_raw_zip(path, [md_entry(), RawEntry("/etc/cron.d/evil", b"* * * * * root id\n")])


def backslash_fmu(path: Path) -> Path:
    return write_raw_zip(path, [md_entry(), RawEntry("..\\..\\evil.dll", b"MZ")])


def symlink_fmu(path: Path, target: str = "/etc/passwd") -> Path:
    mode = (stat.S_IFLNK | 0o777) << 16
    return write_raw_zip(
        path, [md_entry(), RawEntry("resources/passwd", target.encode(), external_attr=mode)]
    )


def fifo_fmu(path: Path) -> Path:
    mode = (stat.S_IFIFO | 0o644) << 16
    return write_raw_zip(path, [md_entry(), RawEntry("resources/pipe", b"", external_attr=mode)])


def duplicate_entry_fmu(path: Path) -> Path:
    return write_raw_zip(
        path, [md_entry(), RawEntry("resources/a.txt", b"1"), RawEntry("resources/a.txt", b"2")]
    )


def encrypted_entry_fmu(path: Path) -> Path:
    return write_raw_zip(path, [md_entry(), RawEntry("resources/secret", b"x" * 24, flags=0x1)])


def declared_size_bomb_fmu(path: Path, declared: int = 10 * 1024**3) -> Path:
    """A few KB archive whose central directory declares ``declared`` bytes (ZIP64)."""
    zeros = deflate(b"\x00" * 1024)
    return write_raw_zip(
        path,
        [md_entry(), RawEntry("resources/data.bin", zeros, method=8, crc=0, size=declared)],
    )


def zeros_bomb_fmu(path: Path, size: int = 16 * 1024**2) -> Path:
    """A genuine high-ratio entry: ``size`` zero bytes deflate to ~1/1000."""
    zeros = b"\x00" * size
    return write_raw_zip(
        path,
        [
            md_entry(),
            RawEntry(
                "resources/zeros.bin", deflate(zeros), method=8, crc=zlib.crc32(zeros), size=size
            ),
        ],
    )


def overlapping_entries_fmu(path: Path, copies: int = 50) -> Path:
    """Many central-directory records pointing at one entry's data (Fifield-style bomb)."""
    payload = b"A" * 4096
    md = md_entry()
    kernel_offset = 30 + len(md.name.encode()) + len(md.data)  # right after the first entry
    entries = [md, RawEntry("resources/kernel.bin", payload)]
    entries += [
        RawEntry(f"resources/copy{i}.bin", b"", crc=zlib.crc32(payload), offset=kernel_offset)
        for i in range(copies)
    ]
    return write_raw_zip(path, entries)


def many_entries_fmu(path: Path, count: int = 100_000) -> Path:
    entries = [md_entry()]
    entries += (RawEntry(f"resources/f{i}") for i in range(count))
    return write_raw_zip(path, entries)


def lying_size_fmu(path: Path) -> Path:
    """modelDescription.xml declares 200 bytes but its data inflates to ~1 MB."""
    xml = model_description_xml().encode() + b"<!--" + b"x" * 1_000_000 + b"-->"
    return write_raw_zip(
        path,
        [RawEntry("modelDescription.xml", deflate(xml), method=8, size=200, crc=zlib.crc32(xml))],
    )


def polyglot_fmu(path: Path) -> Path:
    """A shell script with a valid FMU appended (zip readers accept the prefix)."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("modelDescription.xml", model_description_xml())
    path.write_bytes(b"#!/bin/sh\necho pwned\nexit 0\n" + inner.getvalue())
    return path
