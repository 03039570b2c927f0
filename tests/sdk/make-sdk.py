#!/usr/bin/env python3
"""Assembles a stand-in MCUXpresso SDK tree for the i.MX8MP port's CMake build.

usage: make-sdk.py {mcux-sdk-2x|mcuxsdk-25x} DEST

The files in standin/ are this project's own minimal declarations of what the port and
the parts of rpmsg-lite and FreeRTOS it builds use (nothing is taken from NXP's SDK).
They are kept under names of their own (stub_X for the SDK's X, "fsl_" dropped), so
that no file in this repository carries an SDK file's name; each layout copies them to
where NXP's SDK puts the real ones, under the real names:
  mcux-sdk-2x   a west workspace of mcux-sdk 2.x (core/devices/MIMX8ML8, core/drivers,
                core/boards/evkmimx8mp, core/utilities, middleware/multicore/rpmsg_lite)
  mcuxsdk-25x   a west workspace of the 24.12+/25.x SDK (mcuxsdk/devices/i.MX/i.MX8MP with
                periph/, mcuxsdk/arch/arm/CMSIS, mcuxsdk/examples/_boards,
                mcuxsdk/components, mcuxsdk/middleware/multicore/rpmsg-lite)
Both carry decoys that a by-name search would pick (the Kinetis drivers/uart/fsl_uart.c,
drivers/mu1, the full debug console) and the include chain rpmsg_env.h ->
fsl_debug_console.h.
"""
import os
import shutil
import sys

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "standin")

PERI = ["PERI_GPT.h", "PERI_MU.h", "PERI_UART.h"]
DEVICE = ["fsl_device_registers.h", "MIMX8ML8_cm7.h", "MIMX8ML8_cm7_features.h",
          "system_MIMX8ML8_cm7.c", "system_MIMX8ML8_cm7.h"]
DEVICE_DRIVERS = ["fsl_clock.c", "fsl_clock.h", "fsl_iomuxc.h", "fsl_audiomix.c",
                  "fsl_audiomix.h"]
DRIVERS = {
    "common": ["fsl_common.c", "fsl_common.h"],
    "iuart": ["fsl_uart.c", "fsl_uart.h"],
    "mu": ["fsl_mu.c", "fsl_mu.h"],
    "rdc": ["fsl_rdc.c", "fsl_rdc.h"],
    "gpt": ["fsl_gpt.c", "fsl_gpt.h"],
}
BOARD = ["board.c", "board.h", "clock_config.c", "clock_config.h"]
RPMSG_INC = ["rpmsg_lite.h", "rpmsg_ns.h", "rpmsg_queue.h", "rpmsg_env.h",
             "rpmsg_default_config.h", "rpmsg_compiler.h", "virtqueue.h", "llist.h"]
RPMSG_SRC = {
    "common/llist.c": "llist.c",
    "virtio/virtqueue.c": "virtqueue.c",
    "rpmsg_lite/rpmsg_lite.c": "rpmsg_lite.c",
    "rpmsg_lite/rpmsg_ns.c": "rpmsg_ns.c",
    "rpmsg_lite/rpmsg_queue.c": "rpmsg_queue.c",
    "rpmsg_lite/porting/environment/rpmsg_env_freertos.c": "rpmsg_env_freertos.c",
    "rpmsg_lite/porting/platform/imx8mp_m7/rpmsg_platform.c": "rpmsg_platform.c",
}
FREERTOS = ["tasks.c", "queue.c", "list.c", "timers.c", "event_groups.c", "stream_buffer.c"]


def layout(name):
    """(source in standin/, destination in the SDK tree) pairs."""
    m = []
    if name == "mcux-sdk-2x":
        core = "core"
        dev = core + "/devices/MIMX8ML8"
        m += [("device/" + p, dev + "/" + p) for p in PERI]
        m += [("cmsis/core_cm7.h", core + "/CMSIS/Core/Include/core_cm7.h")]
        m += [("device/cm7_ram.ld", dev + "/gcc/MIMX8ML8xxxxx_cm7_ram.ld")]
        board = core + "/boards/evkmimx8mp"
        console = core + "/utilities"
        rpmsg = "middleware/multicore/rpmsg_lite"
        rtos = "rtos/freertos/freertos-kernel"
    elif name == "mcuxsdk-25x":
        core = "mcuxsdk"
        dev = core + "/devices/i.MX/i.MX8MP/MIMX8ML8"
        m += [("device/" + p, core + "/devices/i.MX/i.MX8MP/periph/" + p) for p in PERI]
        m += [("cmsis/core_cm7.h", core + "/arch/arm/CMSIS/Core/Include/core_cm7.h")]
        m += [("device/cm7_ram.ld", dev + "/gcc/MIMX8ML8xxxLZ_ram.ld")]
        m += [("drivers/fsl_common_arm.c", core + "/drivers/common/fsl_common_arm.c")]
        board = core + "/examples/_boards/evkmimx8mp"
        console = core + "/components"
        rpmsg = core + "/middleware/multicore/rpmsg-lite"
        rtos = core + "/rtos/freertos/freertos-kernel"
    else:
        raise SystemExit("make-sdk.py: unknown layout %r (mcux-sdk-2x, mcuxsdk-25x)" % name)
    m += [("device/" + p, dev + "/" + p) for p in DEVICE]
    m += [("device/startup_MIMX8ML8_cm7.S", dev + "/gcc/startup_MIMX8ML8_cm7.S")]
    m += [("device/" + p, dev + "/drivers/" + p) for p in DEVICE_DRIVERS]
    for folder, files in DRIVERS.items():
        m += [("drivers/" + p, "%s/drivers/%s/%s" % (core, folder, p)) for p in files]
    m += [("board/" + p, board + "/" + p) for p in BOARD]
    m += [("console/fsl_debug_console.h", console + "/debug_console_lite/fsl_debug_console.h")]
    m += [("rpmsg/include/" + p, rpmsg + "/lib/include/" + p) for p in RPMSG_INC]
    m += [("rpmsg/include/environment/freertos/rpmsg_env_specific.h",
           rpmsg + "/lib/include/environment/freertos/rpmsg_env_specific.h"),
          ("rpmsg/include/platform/imx8mp_m7/rpmsg_platform.h",
           rpmsg + "/lib/include/platform/imx8mp_m7/rpmsg_platform.h")]
    m += [("rpmsg/src/" + src, rpmsg + "/lib/" + dst) for dst, src in RPMSG_SRC.items()]
    m += [("freertos/include/FreeRTOS.h", rtos + "/include/FreeRTOS.h"),
          ("freertos/include/task.h", rtos + "/include/task.h"),
          ("freertos/heap_4.c", rtos + "/portable/MemMang/heap_4.c"),
          ("freertos/port/port.c", rtos + "/portable/GCC/ARM_CM4F/port.c"),
          ("freertos/port/portmacro.h", rtos + "/portable/GCC/ARM_CM4F/portmacro.h")]
    m += [("freertos/" + p, rtos + "/" + p) for p in FREERTOS]
    # Decoys: what a search by file name would find first.
    m += [("decoy/kinetis_uart.c", core + "/drivers/uart/fsl_uart.c"),
          ("decoy/kinetis_uart.c", core + "/drivers/uart/fsl_uart.h"),
          ("decoy/mu1.c", core + "/drivers/mu1/fsl_mu.c"),
          ("decoy/mu1.c", core + "/drivers/mu1/fsl_mu.h"),
          ("decoy/full_console.h", console + "/debug_console/fsl_debug_console.h")]
    return m


def stored(src):
    """The stand-in's own file name for the SDK path src (relative to standin/)."""
    folder, name = os.path.split(src)
    if name.startswith("fsl_"):
        name = name[len("fsl_"):]
    return os.path.join(folder, "stub_" + name)


def main(argv):
    if len(argv) != 3:
        raise SystemExit(__doc__)
    name, dest = argv[1], argv[2]
    for src, dst in layout(name):
        out = os.path.join(dest, dst)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        shutil.copyfile(os.path.join(HERE, stored(src)), out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
