#!/usr/bin/env python3
"""The i.MX8MP port's CMake project, configured and built the way a board user does,
against the stand-in SDK (tests/sdk) in both layouts NXP ships: mcux-sdk 2.x and the
24.12+/25.x mcuxsdk. Fails on any compiler or linker warning; checks the ELF's
.resource_table (the rpmsg vdev and the RSC_TRACE entry naming the trace ring), the
GNU build-id note and the announced channel name; another capture UART with the board's
own pad file, and the configure errors without one. Exit 77 (skip) only when cmake or
arm-none-eabi-gcc is missing."""
import os
import shutil
import struct
import subprocess
import sys
import tempfile

SRC = os.environ.get("M7B_SOURCE_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
PORT = os.path.join(SRC, "firmware", "port", "imx8mp")
MAKE_SDK = os.path.join(SRC, "tests", "sdk", "make-sdk.py")
ELF = "m7bridge-imx8mp.elf"

RSC_TRACE, RSC_VDEV, VIRTIO_ID_RPMSG = 2, 3, 7
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
    return cond


# The host build's flags (a sanitizer run, a cross file) must not reach the Cortex-M7
# compiler: CMake would take them from the environment.
CLEAN_ENV = {k: v for k, v in os.environ.items()
             if k not in ("CC", "CFLAGS", "CPPFLAGS", "LDFLAGS", "ASM", "ASMFLAGS",
                          "CMAKE_TOOLCHAIN_FILE", "CMAKE_GENERATOR", "CMAKE_BUILD_TYPE")}


def run(cmd, cwd=None):
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, env=CLEAN_ENV)
    return r.returncode, r.stdout


def section(elf, name, tmp):
    out = os.path.join(tmp, name.strip(".") + ".bin")
    rc, text = run(["arm-none-eabi-objcopy", "-O", "binary", "--only-section=" + name, elf, out])
    if rc != 0 or not os.path.exists(out):
        return None
    with open(out, "rb") as f:
        return f.read()


def symbol(elf, name):
    rc, text = run(["arm-none-eabi-nm", elf])
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16)
    return None


def check_resource_table(tag, elf, tmp):
    rc, text = run(["arm-none-eabi-readelf", "-S", "-W", elf])
    if not check(".resource_table" in text, tag + ": ELF has a .resource_table section"):
        return
    t = section(elf, ".resource_table", tmp)
    if not check(t is not None and len(t) >= 16, tag + ": .resource_table readable"):
        return
    ver, num = struct.unpack_from("<II", t, 0)
    check(ver == 1 and num == 2, tag + ": table version 1 with 2 entries (got %d, %d)" % (ver, num))
    offsets = struct.unpack_from("<%dI" % num, t, 16)
    kinds = {}
    for off in offsets:
        kinds[struct.unpack_from("<I", t, off)[0]] = off
    if check(RSC_VDEV in kinds, tag + ": a vdev entry"):
        o = kinds[RSC_VDEV]
        _, vid, notify, dfeat, gfeat, cfglen, status, nvr = struct.unpack_from("<6IBB", t, o)
        check(vid == VIRTIO_ID_RPMSG and dfeat & 1 and nvr == 2,
              tag + ": vdev is rpmsg (id 7), name service, 2 vrings")
        for i, da in enumerate((0x55000000, 0x55008000)):
            vda, align, n, nid, _ = struct.unpack_from("<5I", t, o + 28 + 20 * i)
            check((vda, align, n, nid) == (da, 0x1000, 256, i),
                  tag + ": vring %d at 0x%x align 0x1000, 256 buffers (got 0x%x 0x%x %d %d)"
                  % (i, da, vda, align, n, nid))
    if check(RSC_TRACE in kinds, tag + ": an RSC_TRACE entry"):
        o = kinds[RSC_TRACE]
        _, da, length, _ = struct.unpack_from("<4I", t, o)
        name = t[o + 16:o + 48].split(b"\0")[0]
        buf = symbol(elf, "imx8mp_trace_buf")
        check(buf is not None and da == buf and length == 4096 and name == b"m7bridge-trace",
              tag + ": trace entry names the ring (da 0x%x, ring at %s, len %d, %r)"
              % (da, hex(buf) if buf is not None else None, length, name))


def check_image(tag, elf, tmp, ns_name):
    rc, text = run(["arm-none-eabi-readelf", "-n", elf])
    check("NT_GNU_BUILD_ID" in text, tag + ": GNU build-id note present")
    start = symbol(elf, "__m7b_build_id_start")
    end = symbol(elf, "__m7b_build_id_end")
    check(start is not None and end is not None and end - start >= 16 + 20,
          tag + ": build-id note between the port's linker symbols")
    check(symbol(elf, "__m7b_noinit_start") is not None, tag + ": no-init persist section")
    n = section(elf, ".m7b_ns_name", tmp)
    check(n is not None and n.split(b"\0")[0] == ns_name.encode(),
          tag + ": announced channel name %r (got %r)" % (ns_name, n))


def load_segments(elf):
    """(vaddr, paddr, memsz) of each PT_LOAD."""
    rc, text = run(["arm-none-eabi-readelf", "-l", "-W", elf])
    segs = []
    for line in text.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            segs.append((int(f[2], 16), int(f[3], 16), int(f[5], 16)))
    return segs


ITCM_END = 0x20000  # imx_rproc's ITCM window: da + len must stay below it


def check_loadable(tag, elf):
    """remoteproc loads each segment at its physical address and zeroes memsz there."""
    segs = load_segments(elf)
    bad = [s for s in segs if s[1] < ITCM_END and s[1] + s[2] >= ITCM_END]
    check(segs and not bad, tag + ": every segment in ITCM fits it at its load address "
          "(vaddr, paddr, memsz: %s)" % ", ".join("0x%x 0x%x 0x%x" % s for s in segs))
    return segs


def build(tag, sdk, tmp, extra=()):
    bdir = os.path.join(tmp, "build-" + tag)
    rc, out = run(["cmake", "-S", PORT, "-B", bdir, "-DMCUX_SDK_ROOT=" + sdk] + list(extra))
    if not check(rc == 0, tag + ": cmake configure"):
        print(out)
        return None
    rc, out = run(["cmake", "--build", bdir, "-j", "2"])
    warn = [line for line in out.splitlines() if "warning" in line.lower()]
    if not check(rc == 0, tag + ": cmake build"):
        print(out)
        return None
    check(not warn, tag + ": zero warnings" + ("" if not warn else ":\n  " + "\n  ".join(warn)))
    elf = os.path.join(bdir, ELF)
    return elf if check(os.path.exists(elf), tag + ": " + ELF + " produced") else None


def main():
    for tool in ("cmake", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None:
            print("SKIP: %s not installed" % tool)
            return 77
    with tempfile.TemporaryDirectory(prefix="m7b-imx8mp-") as tmp:
        for layout in ("mcux-sdk-2x", "mcuxsdk-25x"):
            sdk = os.path.join(tmp, "sdk-" + layout)
            rc, out = run([sys.executable, MAKE_SDK, layout, sdk])
            if not check(rc == 0, layout + ": stand-in SDK assembled"):
                print(out)
                continue
            elf = build(layout, sdk, tmp)
            if elf:
                check_resource_table(layout, elf, tmp)
                check_image(layout, elf, tmp, "rpmsg-virtual-tty-channel-1")
                segs = check_loadable(layout, elf)
        # A trace ring that still fits DTCM but makes the RAM segment, zeroed at its
        # load address in ITCM, too large for the kernel: the link fails and says why.
        ram = [s for s in segs if s[0] == 0x20000000] if elf else []
        if check(len(ram) == 1, "the RAM segment starts at DTCM"):
            _, paddr, memsz = ram[0]
            big = 4096 + (ITCM_END - paddr - memsz) + 64
            check(memsz - 4096 + big < 0x20000, "a trace ring of %d bytes fits DTCM" % big)
            bdir = os.path.join(tmp, "build-bigtrace")
            rc, out = run(["cmake", "-S", PORT, "-B", bdir, "-DMCUX_SDK_ROOT=" + sdk,
                           "-DM7B_TRACE_SIZE=%d" % big])
            if rc == 0:
                rc, out = run(["cmake", "--build", bdir, "-j", "2"])
            check(rc != 0 and "RAM segment too large for remoteproc" in out,
                  "trace ring of %d bytes: the link fails and says why" % big)
        # The mainline kernel's name, chosen at build time.
        sdk = os.path.join(tmp, "sdk-mcuxsdk-25x")
        elf = build("mainline-name", sdk, tmp, ["-DM7B_NS_NAME=rpmsg-tty", "-DM7B_TICK_GPT=ON"])
        if elf:
            check_image("mainline-name", elf, tmp, "rpmsg-tty")
        # Another UART than the EVK's UART4: the board's pads come from a file of its own,
        # and without one configure stops and names the variable to set.
        rc, out = run(["cmake", "-S", PORT, "-B", os.path.join(tmp, "build-uart2-nopads"),
                       "-DMCUX_SDK_ROOT=" + sdk, "-DM7B_CAPTURE_UART=2"])
        check(rc != 0 and "M7B_CAPTURE_PINS_C" in out,
              "UART2 without pads: configure fails and names M7B_CAPTURE_PINS_C")
        rc, out = run(["cmake", "-S", PORT, "-B", os.path.join(tmp, "build-uart9"),
                       "-DMCUX_SDK_ROOT=" + sdk, "-DM7B_CAPTURE_UART=9"])
        check(rc != 0 and "M7B_CAPTURE_UART must be" in out, "UART9: configure fails and says why")
        for bad in ("M7B_CAPTURE_BAUD=115k", "M7B_CAPTURE_BAUD=0", "M7B_TRACE_SIZE=4K"):
            rc, out = run(["cmake", "-S", PORT, "-B", os.path.join(tmp, "build-badnum"),
                           "-DMCUX_SDK_ROOT=" + sdk, "-D" + bad])
            check(rc != 0 and "must be a positive decimal number" in out,
                  bad + ": configure fails and says why")
        pads = os.path.join(tmp, "board_pads.c")
        with open(pads, "w") as f:
            f.write('#include "fsl_iomuxc.h"\n#include "pin_mux.h"\n'
                    "void BOARD_InitCapturePins(void)\n{\n}\n")
        elf = build("uart2", sdk, tmp, ["-DM7B_CAPTURE_UART=2", "-DM7B_CAPTURE_PINS_C=" + pads])
        if elf:
            # One definition only (the port's UART4 table is left out), the board's.
            check(symbol(elf, "BOARD_InitCapturePins") is not None,
                  "uart2: the board's BOARD_InitCapturePins is linked")
        # A tree that is no SDK: a clear configure error, not a half-built image.
        rc, out = run(["cmake", "-S", PORT, "-B", os.path.join(tmp, "build-nosdk"),
                       "-DMCUX_SDK_ROOT=" + os.path.join(tmp, "empty")])
        check(rc != 0 and "no MIMX8ML8 device" in out, "no SDK: configure fails and says why")
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
