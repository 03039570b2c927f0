#!/usr/bin/env python3
"""m7bridgectl doctor against fake /proc, /sys, /dev, /etc and device trees.

Each test builds a board tree (an NXP BSP layout or a mainline one), breaks one thing,
and checks that the matching check turns warn or fail (and nothing else does) and that
the exit status follows. Paths come from M7B_BUILD_ROOT / M7B_SOURCE_ROOT (set by meson).
"""
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BUILD = os.environ.get("M7B_BUILD_ROOT", "build")
CTL = os.path.join(BUILD, "tools", "m7bridgectl")
DAEMON = os.path.join(BUILD, "daemon", "m7bridged")
SIM = os.path.join(BUILD, "firmware", "m7sim")
# The daemon's configuration where this build's daemon (and doctor) look for it.
CONF = os.environ.get("M7B_SYSCONFDIR", "/etc").lstrip("/") + "/m7bridge/m7bridge.conf"

RSC_CARVEOUT, RSC_TRACE, RSC_VDEV = 0, 2, 3


def resource_table(trace=True, vdev=True):
    """A remoteproc resource table as rpmsg-lite's rsc_table.c lays it out."""
    entries = []
    if vdev:
        # fw_rsc_vdev: type id notifyid dfeatures gfeatures config_len status num_vrings
        # reserved[2], then two fw_rsc_vdev_vring (da align num notifyid reserved).
        e = struct.pack("<IIIIIIBBBB", RSC_VDEV, 7, 0, 1, 0, 0, 0, 2, 0, 0)
        e += struct.pack("<IIIII", 0x55000000, 0x1000, 256, 0, 0)
        e += struct.pack("<IIIII", 0x55008000, 0x1000, 256, 1, 0)
        entries.append(e)
    if trace:
        entries.append(struct.pack("<IIII32s", RSC_TRACE, 0x20000000, 4096, 0, b"m7trace"))
    entries.append(struct.pack("<IIII", RSC_CARVEOUT, 0, 0, 0) + bytes(40))
    head = 16 + 4 * len(entries)
    offs, body = [], b""
    for e in entries:
        offs.append(head + len(body))
        body += e
    return struct.pack("<IIII", 1, len(entries), 0, 0) + b"".join(
        struct.pack("<I", o) for o in offs) + body


def elf32(sections):
    """A minimal ELF32 little-endian ARM image with the given (name, bytes) sections."""
    shstr = b"\0" + b"".join(n.encode() + b"\0" for n, _ in sections) + b".shstrtab\0"
    data, offs, off = b"", [], 52
    for _, b in sections:
        offs.append(off + len(data))
        data += b
    shstr_off = off + len(data)
    data += shstr
    while (off + len(data)) % 4:
        data += b"\0"
    shoff = off + len(data)
    names, pos = [], 1
    for n, _ in sections:
        names.append(pos)
        pos += len(n) + 1
    sh = bytes(40)
    for i, (n, b) in enumerate(sections):
        sh += struct.pack("<IIIIIIIIII", names[i], 1, 2, 0x1ff000 + i * 0x1000, offs[i],
                          len(b), 0, 0, 4, 0)
    sh += struct.pack("<IIIIIIIIII", pos, 3, 0, 0, shstr_off, len(shstr), 0, 0, 1, 0)
    nsec = len(sections) + 2
    ident = b"\x7fELF" + bytes([1, 1, 1]) + bytes(9)
    hdr = ident + struct.pack("<HHIIIIIHHHHHH", 2, 40, 1, 0x1ffe0000, 0, shoff, 0x5000200,
                              52, 0, 0, 40, nsec, nsec - 1)
    return hdr + data + sh


class Board:
    """A fake root: what doctor reads on an i.MX8MP board."""

    def __init__(self, layout="nxp"):
        self.root = tempfile.mkdtemp(prefix="m7b-doctor-")
        self.layout = layout
        nxp = layout == "nxp"
        self.write("proc/cmdline", "console=ttymxc1,115200 root=/dev/mmcblk2p2 rootwait"
                   + (" clk-imx8mp.mcore_booted=1" if nxp else "") + "\n")
        # NXP: U-Boot's bootaux started the M7 and Linux attached; mainline: Linux runs it.
        self.rproc("remoteproc0", "imx-rproc", "attached" if nxp else "running",
                   "unknown" if nxp else "m7_app.elf")
        self.write("lib/firmware/m7_app.elf", elf32([(".text", bytes(64)),
                                                       (".resource_table", resource_table())]),
                   mode="wb")
        dt = "proc/device-tree" if nxp else "sys/firmware/devicetree/base"
        self.dt = dt
        for node in ("vdev0vring0@55000000", "vdev0vring1@55008000",
                     "vdevbuffer@55400000" if nxp else "vdev0buffer@55400000",
                     "rsc-table@550ff000"):
            self.write(f"{dt}/reserved-memory/{node}/reg", b"\0" * 8, mode="wb")
        self.write(f"{dt}/imx8mp-cm7/compatible", b"fsl,imx8mp-cm7\0", mode="wb")
        self.write(f"{dt}/imx8mp-cm7/mboxes", b"\0" * 24, mode="wb")
        mu = f"{dt}/soc@0/bus@30c00000/mailbox@30aa0000" if nxp else \
            f"{dt}/soc@0/bus@30800000/mailbox@30aa0000"
        self.write(f"{mu}/compatible", b"fsl,imx8mp-mu\0fsl,imx6sx-mu\0", mode="wb")
        self.write(f"{mu}/status", b"okay\0", mode="wb")
        if nxp:
            self.mkdir("sys/module/imx_rpmsg_tty")
            self.channel("virtio0.rpmsg-virtual-tty-channel-1.-1.30", "imx_rpmsg_tty")
            self.tty = "ttyRPMSG30"
        else:
            self.mkdir("sys/bus/rpmsg/drivers/rpmsg_tty")  # built in: no /sys/module entry
            self.channel("virtio0.rpmsg-tty.-1.1024", "rpmsg_tty")
            self.tty = "ttyRPMSG0"
        self.write(f"dev/{self.tty}", "")
        os.chmod(self.path(f"dev/{self.tty}"), 0o660)
        self.process(412, "m7bridged", f"/dev/{self.tty}")
        self.process(1, "systemd", "/dev/null")
        self.mkdir("var/log/journal" if nxp else "run/log/journal")
        self.write(CONF,
                   f"[daemon]\nkernel_log = auto\n[channel m7]\ndevice = /dev/{self.tty}\n"
                   "remoteproc = remoteproc0\nfirmware = m7_app.elf\n")

    def path(self, rel):
        return os.path.join(self.root, rel)

    def mkdir(self, rel):
        os.makedirs(self.path(rel), exist_ok=True)

    def write(self, rel, text, mode="w"):
        os.makedirs(os.path.dirname(self.path(rel)), exist_ok=True)
        with open(self.path(rel), mode) as f:
            f.write(text)

    def remove(self, rel):
        p = self.path(rel)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)

    def rproc(self, inst, name, state, firmware):
        for k, v in (("name", name), ("state", state), ("firmware", firmware)):
            self.write(f"sys/class/remoteproc/{inst}/{k}", v + "\n")

    def channel(self, dev, driver):
        self.mkdir(f"sys/bus/rpmsg/devices/{dev}")
        if driver:
            self.mkdir(f"sys/bus/rpmsg/drivers/{driver}")
            os.symlink(f"../../../../bus/rpmsg/drivers/{driver}",
                       self.path(f"sys/bus/rpmsg/devices/{dev}/driver"))

    def process(self, pid, comm, target):
        self.write(f"proc/{pid}/comm", comm + "\n")
        self.mkdir(f"proc/{pid}/fd")
        os.symlink(target, self.path(f"proc/{pid}/fd/3"))

    def doctor(self, *extra, socket=None):
        args = [CTL] + (["-s", socket] if socket else []) + ["-t", "5000", "doctor", "--json",
                                                           "--root", self.root]
        args += list(extra) if extra or socket else ["--no-daemon"]
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
        try:
            rep = json.loads(r.stdout)
        except ValueError:
            raise AssertionError(f"doctor printed no JSON (rc {r.returncode}): "
                                 f"{r.stdout!r} {r.stderr!r}")
        return r.returncode, rep

    def close(self):
        shutil.rmtree(self.root, ignore_errors=True)


def levels(rep, check):
    return [c["level"] for c in rep["checks"] if c["check"] == check]


class Doctor(unittest.TestCase):
    def setUp(self):
        self.boards = []

    def tearDown(self):
        for b in self.boards:
            b.close()

    def board(self, layout="nxp"):
        b = Board(layout)
        self.boards.append(b)
        return b

    def assertOnly(self, rep, check, level, rc=None, code=None, subject=None):
        """check reports level (with a fix line) and every other check stays ok."""
        got = [c for c in rep["checks"] if c["check"] == check and
               (subject is None or c.get("subject") == subject)]
        self.assertTrue(got, f"no {check} item: {rep}")
        self.assertIn(level, [c["level"] for c in got], json.dumps(rep, indent=1))
        for c in got:
            if c["level"] != "ok":
                self.assertTrue(c.get("fix"), f"{check} {c['level']} without a fix: {c}")
        others = [c for c in rep["checks"] if c["check"] != check and c["level"] != "ok"]
        self.assertEqual(others, [], "other checks not ok")
        if rc is not None:
            self.assertEqual(code, rc)

    # --- whole layouts -------------------------------------------------------------------
    def test_nxp_bsp_layout_all_ok(self):
        b = self.board("nxp")
        rc, rep = b.doctor()
        self.assertEqual([c for c in rep["checks"] if c["level"] != "ok"], [])
        self.assertEqual(rc, 0)
        self.assertEqual(rep["fail"] + rep["warn"], 0)
        names = {c["check"] for c in rep["checks"]}
        for want in ("cmdline", "remoteproc", "firmware", "reserved-memory", "mailbox",
                     "tty-driver", "rpmsg-channel", "tty", "tty-holder", "kernel-log",
                     "config", "channel"):
            self.assertIn(want, names)
        text = json.dumps(rep)
        self.assertIn("imx_rpmsg_tty", text)
        self.assertIn("attached", text)
        self.assertIn("trace 'm7trace'", text)
        self.assertIn("m7bridged (pid 412)", text)

    def test_mainline_layout_all_ok(self):
        b = self.board("mainline")
        rc, rep = b.doctor()
        self.assertEqual([c for c in rep["checks"] if c["level"] != "ok"], [])
        self.assertEqual(rc, 0)
        text = json.dumps(rep)
        self.assertIn("rpmsg_tty (mainline", text)
        self.assertIn("not needed", text)
        self.assertIn("/dev/ttyRPMSG0", text)

    def test_text_output_and_help(self):
        b = self.board("nxp")
        b.write("proc/cmdline", "root=/dev/mmcblk2p2\n")
        r = subprocess.run([CTL, "doctor", "--root", b.root, "--no-daemon"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stdout, r"(?m)^fail  cmdline .*mcore_booted")
        self.assertRegex(r.stdout, r"(?m)^ +fix: add clk-imx8mp.mcore_booted=1")
        self.assertRegex(r.stdout, r"(?m)^\d+ ok, 0 warn, 1 fail$")
        r = subprocess.run([CTL, "doctor", "--bogus"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        r = subprocess.run([CTL, "--help"], capture_output=True, text=True)
        self.assertIn("doctor", r.stdout)

    # --- kernel command line -------------------------------------------------------------
    def test_usage_errors_are_one_line(self):
        """A mistyped --root is a usage error, not a board with nothing on it; a bad
        option is one line, as for every command."""
        b = self.board("nxp")
        for args, said in ((["--root", b.path("nonexistent")], "No such file or directory"),
                           (["--root", b.path("proc/cmdline")], "not a directory"),
                           (["--bogus"], "--bogus"), (["extra"], "'extra'"),
                           (["--config", ""], "--config needs a path"),
                           (["--root", ""], "--root needs a path")):
            r = subprocess.run([CTL, "doctor", "--no-daemon", *args], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
            self.assertEqual(r.stdout, "", args)
            self.assertEqual(len(r.stderr.splitlines()), 1, (args, r.stderr))
            self.assertIn(said, r.stderr)

    def test_cmdline_missing_mcore_booted_fails_when_attached(self):
        b = self.board("nxp")
        b.write("proc/cmdline", "root=/dev/mmcblk2p2 clk-imx8mp.mcore_booted=10\n")
        rc, rep = b.doctor()
        self.assertOnly(rep, "cmdline", "fail", 1, rc)

    def test_cmdline_unreadable_warns(self):
        b = self.board("mainline")
        b.remove("proc/cmdline")
        rc, rep = b.doctor()
        self.assertOnly(rep, "cmdline", "warn", 3, rc)

    # --- remoteproc ----------------------------------------------------------------------
    def test_json_of_bytes_that_are_not_utf8(self):
        """sysfs and /proc quote what the kernel and other programs chose: a byte that
        is no UTF-8 becomes U+FFFD, so that --json stays JSON."""
        b = self.board()
        b.write("sys/class/remoteproc/remoteproc0/name", b"imx\xff-rproc\n", mode="wb")
        b.write("sys/class/remoteproc/remoteproc0/state", b"running\xc3\n", mode="wb")
        b.write("proc/412/comm", b"m7\xfebridged\n", mode="wb")
        _, rep = b.doctor()
        summaries = " ".join(c["summary"] for c in rep["checks"])
        self.assertIn("imx\ufffd-rproc in state 'running\ufffd'", summaries)
        self.assertIn("held by m7\ufffdbridged (pid 412)", summaries)

    def test_no_board_every_check_says_what_it_saw(self):
        """A root with nothing of a board in it: each check still has its line (a fix
        with each warn and fail), none is silently left out."""
        b = self.board()
        for rel in ("proc", "sys", "dev", "lib", "var", "run", "etc", "usr"):
            if os.path.exists(b.path(rel)):
                b.remove(rel)
        rc, rep = b.doctor()
        self.assertEqual(rc, 1)
        names = [c["check"] for c in rep["checks"]]
        for want in ("cmdline", "remoteproc", "firmware", "reserved-memory", "mailbox",
                     "tty-driver", "rpmsg-channel", "tty", "kernel-log", "config"):
            self.assertIn(want, names)
        for c in rep["checks"]:
            self.assertTrue(c["summary"], c)
            if c["level"] != "ok":
                self.assertTrue(c.get("fix"), c)

    def test_daemon_path_from_an_empty_environment(self):
        """An empty $M7BRIDGE_SOCKET counts as unset: the daemon line names the default
        path that was tried, not an empty one."""
        b = self.board()
        env = dict(os.environ, M7BRIDGE_SOCKET="")
        r = subprocess.run([CTL, "doctor", "--json", "--root", b.root], capture_output=True,
                           text=True, timeout=60, env=env)
        rep = json.loads(r.stdout)
        got = [c["summary"] for c in rep["checks"] if c["check"] == "daemon"]
        self.assertEqual(len(got), 1, rep)
        self.assertTrue(got[0].startswith("daemon not reachable at /run/m7bridge/"), got)

    def test_remoteproc_missing_fails(self):
        b = self.board("mainline")
        b.remove("sys/class/remoteproc")
        rc, rep = b.doctor()
        self.assertIn("fail", levels(rep, "remoteproc"))
        self.assertEqual(rc, 1)

    def test_remoteproc_offline_warns(self):
        b = self.board("mainline")
        b.rproc("remoteproc0", "imx-rproc", "offline", "m7_app.elf")
        b.remove("sys/bus/rpmsg/devices/virtio0.rpmsg-tty.-1.1024")
        rc, rep = b.doctor()
        self.assertIn("warn", levels(rep, "remoteproc"))
        self.assertIn("warn", levels(rep, "rpmsg-channel"))  # no channel, M7 not running
        self.assertEqual(rc, 3)
        # The configuration's channel for remoteproc0 has autostart on (the default).
        fix = [c["fix"] for c in rep["checks"] if c["check"] == "remoteproc"][0]
        self.assertIn("m7bridged starts it (channel m7, autostart on)", fix)
        self.assertNotIn("echo start", fix)

    def test_remoteproc_offline_not_ours_to_start(self):
        """autostart = false, or no file to start: the fix is to start it by hand."""
        for name, conf, fw in (
                ("autostart off", "autostart = false\nfirmware = m7_app.elf\n", "m7_app.elf"),
                ("no firmware", "", "unknown"),
                ("other instance", "firmware = m7_app.elf\n", "m7_app.elf")):
            with self.subTest(name):
                b = self.board("mainline")
                b.rproc("remoteproc0", "imx-rproc", "offline", fw)
                rp = "remoteproc1" if name == "other instance" else "imx-rproc"
                b.write(CONF, f"[channel m7]\ndevice = /dev/{b.tty}\nremoteproc = {rp}\n"
                        + conf)
                rc, rep = b.doctor()
                fix = [c["fix"] for c in rep["checks"] if c["check"] == "remoteproc"][0]
                self.assertEqual(fix, "echo start > /sys/class/remoteproc/remoteproc0/state")

    def test_remoteproc_crashed_fails(self):
        b = self.board("mainline")
        b.rproc("remoteproc0", "imx-rproc", "crashed", "m7_app.elf")
        rc, rep = b.doctor()
        self.assertOnly(rep, "remoteproc", "fail", 1, rc)

    # --- firmware ------------------------------------------------------------------------
    def test_firmware_missing_fails(self):
        b = self.board("mainline")
        b.remove("lib/firmware/m7_app.elf")
        rc, rep = b.doctor()
        self.assertIn("fail", levels(rep, "firmware"))
        self.assertIn("fail", levels(rep, "channel"))  # the configured firmware too
        self.assertEqual(rc, 1)

    def test_firmware_without_resource_table_fails(self):
        b = self.board("mainline")
        b.write("lib/firmware/m7_app.elf", elf32([(".text", bytes(64))]), mode="wb")
        rc, rep = b.doctor()
        self.assertOnly(rep, "firmware", "fail", 1, rc)
        self.assertIn("No resource table", json.dumps(rep))

    def test_firmware_without_trace_warns(self):
        b = self.board("nxp")
        b.write("lib/firmware/m7_app.elf",
                elf32([(".resource_table", resource_table(trace=False))]), mode="wb")
        rc, rep = b.doctor()
        self.assertOnly(rep, "firmware", "warn", 3, rc)

    def test_firmware_without_vdev_fails(self):
        b = self.board("mainline")
        b.write("lib/firmware/m7_app.elf",
                elf32([(".resource_table", resource_table(vdev=False))]), mode="wb")
        rc, rep = b.doctor()
        self.assertOnly(rep, "firmware", "fail", 1, rc)

    def test_firmware_not_elf_and_truncated_fail(self):
        b = self.board("mainline")
        b.write("lib/firmware/m7_app.elf", b"\x00\x10\x00\x20" * 64, mode="wb")
        rc, rep = b.doctor()
        self.assertOnly(rep, "firmware", "fail", 1, rc)
        img = elf32([(".resource_table", resource_table())])
        b.write("lib/firmware/m7_app.elf", img[:-30], mode="wb")
        rc, rep = b.doctor()
        self.assertOnly(rep, "firmware", "fail", 1, rc)

    def test_firmware_unknown_without_config_warns(self):
        b = self.board("nxp")
        b.write(CONF, "[channel m7]\ndevice = /dev/ttyRPMSG30\n")
        rc, rep = b.doctor()
        self.assertOnly(rep, "firmware", "warn", 3, rc)

    # --- device tree ---------------------------------------------------------------------
    def test_reserved_memory_vring_missing_fails(self):
        b = self.board("mainline")
        b.remove(f"{b.dt}/reserved-memory/vdev0vring1@55008000")
        rc, rep = b.doctor()
        self.assertOnly(rep, "reserved-memory", "fail", 1, rc)
        self.assertIn("vdev0vring1", json.dumps(rep))

    def test_rsc_table_missing_fails_when_attached_warns_when_running(self):
        b = self.board("nxp")
        b.remove(f"{b.dt}/reserved-memory/rsc-table@550ff000")
        rc, rep = b.doctor()
        self.assertOnly(rep, "reserved-memory", "fail", 1, rc)
        m = self.board("mainline")
        m.remove(f"{m.dt}/reserved-memory/rsc-table@550ff000")
        rc, rep = m.doctor()
        self.assertOnly(rep, "reserved-memory", "warn", 3, rc)

    def test_no_device_tree_fails(self):
        b = self.board("mainline")
        b.remove("sys/firmware")
        rc, rep = b.doctor()
        self.assertIn("fail", levels(rep, "reserved-memory"))
        self.assertEqual(rc, 1)

    def test_mailbox_cases(self):
        b = self.board("nxp")
        b.remove(f"{b.dt}/imx8mp-cm7/mboxes")
        rc, rep = b.doctor()
        self.assertOnly(rep, "mailbox", "fail", 1, rc)
        b = self.board("nxp")
        b.write(f"{b.dt}/soc@0/bus@30c00000/mailbox@30aa0000/status", b"disabled\0",
                mode="wb")
        rc, rep = b.doctor()
        self.assertOnly(rep, "mailbox", "fail", 1, rc)
        self.assertIn("disabled", json.dumps(rep))
        b = self.board("mainline")
        b.remove(f"{b.dt}/imx8mp-cm7")
        rc, rep = b.doctor()
        self.assertOnly(rep, "mailbox", "fail", 1, rc)

    # --- rpmsg tty driver and channels ---------------------------------------------------
    def test_no_tty_driver_fails(self):
        b = self.board("nxp")
        b.remove("sys/module/imx_rpmsg_tty")
        b.remove("sys/bus/rpmsg/drivers")
        b.remove("sys/bus/rpmsg/devices/virtio0.rpmsg-virtual-tty-channel-1.-1.30/driver")
        rc, rep = b.doctor()
        self.assertIn("fail", levels(rep, "tty-driver"))
        self.assertIn("fail", levels(rep, "rpmsg-channel"))
        self.assertIn("modprobe imx_rpmsg_tty", json.dumps(rep))
        self.assertEqual(rc, 1)

    def test_nxp_channel_name_with_mainline_driver_fails(self):
        # The classic mismatch: SDK firmware announces the NXP name, the kernel is mainline.
        b = self.board("mainline")
        b.remove("sys/bus/rpmsg/devices/virtio0.rpmsg-tty.-1.1024")
        b.channel("virtio0.rpmsg-virtual-tty-channel-1.-1.30", None)
        rc, rep = b.doctor()
        self.assertOnly(rep, "rpmsg-channel", "fail", 1, rc)
        self.assertIn("'rpmsg-tty'", json.dumps(rep))

    def test_no_channel_while_running_fails(self):
        b = self.board("nxp")
        b.remove("sys/bus/rpmsg/devices")
        rc, rep = b.doctor()
        self.assertOnly(rep, "rpmsg-channel", "fail", 1, rc)

    # --- ttys ----------------------------------------------------------------------------
    def test_tty_mode_warns(self):
        b = self.board("nxp")
        os.chmod(b.path("dev/ttyRPMSG30"), 0o600)
        rc, rep = b.doctor()
        self.assertOnly(rep, "tty", "warn", 3, rc)
        self.assertIn("0600", json.dumps(rep))

    def test_tty_group_the_daemon_is_not_in_warns(self):
        """Mode 0660 is not enough: the shipped unit runs the daemon as m7bridge, which
        cannot open a root:dialout tty (a kernel without the udev rule)."""
        b = self.board("nxp")
        b.write("etc/group", "root:x:0:\ndialout:x:20:\nm7bridge:x:990:\n")
        b.write("etc/passwd", "root:x:0:0::/root:/bin/sh\n"
                "m7bridge:x:990:990::/nonexistent:/usr/sbin/nologin\n")
        tty = b.path("dev/ttyRPMSG30")
        os.chown(tty, 0, 20)
        rc, rep = b.doctor()
        self.assertOnly(rep, "tty", "warn", 3, rc)
        self.assertIn("the daemon's user m7bridge cannot read and write it",
                      json.dumps(rep))
        # The rule's group, the daemon's own node, or a node for everybody: fine.
        for uid, gid, mode in ((0, 990, 0o660), (990, 20, 0o660), (0, 0, 0o666)):
            os.chown(tty, uid, gid)
            os.chmod(tty, mode)
            rc, rep = b.doctor()
            self.assertEqual(rc, 0, (uid, gid, oct(mode), json.dumps(rep, indent=1)))

    def test_tty_missing_fails(self):
        b = self.board("mainline")
        b.remove("dev/ttyRPMSG0")
        rc, rep = b.doctor()
        self.assertIn("fail", levels(rep, "tty"))
        self.assertIn("fail", levels(rep, "channel"))  # the configured device is missing
        self.assertEqual(rc, 1)

    def test_tty_held_by_another_process_warns_two_readers_fail(self):
        b = self.board("nxp")
        b.remove("proc/412")
        b.process(977, "minicom", "/dev/ttyRPMSG30")
        rc, rep = b.doctor()
        self.assertOnly(rep, "tty-holder", "warn", 3, rc)
        self.assertIn("minicom (pid 977)", json.dumps(rep))
        b.process(412, "m7bridged", "/dev/ttyRPMSG30")
        rc, rep = b.doctor()
        self.assertOnly(rep, "tty-holder", "fail", 1, rc)

    def test_text_output_shows_control_characters_as_placeholders(self):
        # Names from the system (a tty holder's comm, sysfs) reach the terminal as one
        # line each, without escape sequences.
        b = self.board("nxp")
        b.remove("proc/412")
        b.process(977, "mini\x1b[31mcom\x07", "/dev/ttyRPMSG30")
        r = subprocess.run([CTL, "doctor", "--root", b.root, "--no-daemon"],
                           capture_output=True, timeout=60)
        text = r.stdout.decode("utf-8")
        self.assertNotIn("\x1b", text)
        self.assertNotIn("\x07", text)
        self.assertIn("mini?[31mcom? (pid 977)", text)
        rc, rep = b.doctor()  # --json keeps the name as read
        self.assertTrue(any("mini\x1b[31mcom\x07 (pid 977)" in c["summary"]
                            for c in rep["checks"]), rep)

    # --- kernel log ----------------------------------------------------------------------
    def test_kernel_log_cases(self):
        b = self.board("nxp")
        b.write(CONF,
                "[daemon]\nkernel_log = off\n[channel m7]\ndevice = /dev/ttyRPMSG30\n"
                "firmware = m7_app.elf\n")
        rc, rep = b.doctor()
        self.assertOnly(rep, "kernel-log", "warn", 3, rc)
        # No journal: /dev/kmsg, which the shipped unit hides from the daemon.
        b = self.board("nxp")
        b.remove("var/log/journal")
        b.write("dev/kmsg", "")
        b.write("lib/systemd/system/m7bridged.service",
                "[Service]\nExecStart=/usr/sbin/m7bridged\nProtectKernelLogs=yes\n")
        rc, rep = b.doctor()
        self.assertOnly(rep, "kernel-log", "fail", 1, rc)
        b.write("lib/systemd/system/m7bridged.service", "[Service]\nProtectKernelLogs=no\n")
        rc, rep = b.doctor()
        self.assertEqual([c for c in rep["checks"] if c["level"] != "ok"], [])
        b.remove("dev/kmsg")
        rc, rep = b.doctor()
        self.assertOnly(rep, "kernel-log", "fail", 1, rc)
        # kmsg_path names the source the daemon reads: that one, not /dev/kmsg.
        b.write("run/m7-kmsg", "")
        b.write(CONF, "[daemon]\nkernel_log = kmsg\nkmsg_path = /run/m7-kmsg\n"
                "[channel m7]\ndevice = /dev/ttyRPMSG30\nfirmware = m7_app.elf\n")
        rc, rep = b.doctor()
        self.assertEqual([c for c in rep["checks"] if c["level"] != "ok"], [])
        self.assertIn("/run/m7-kmsg", [c for c in rep["checks"]
                                       if c["check"] == "kernel-log"][0]["summary"])
        b.write("dev/kmsg", "")
        b.remove("run/m7-kmsg")
        rc, rep = b.doctor()
        self.assertOnly(rep, "kernel-log", "fail", 1, rc)

    # --- configuration -------------------------------------------------------------------
    def test_config_cases(self):
        b = self.board("mainline")
        b.remove(CONF)
        rc, rep = b.doctor()
        self.assertOnly(rep, "config", "warn", 3, rc)
        b.write(CONF, "[daemon]\nlog_level = info\n")
        rc, rep = b.doctor()
        self.assertOnly(rep, "config", "fail", 1, rc)
        b.write(CONF, "[daemon\nlog_level = info\n")
        rc, rep = b.doctor()
        self.assertOnly(rep, "config", "fail", 1, rc)
        b.write(CONF,
                "[channel m7]\ndevice = /dev/ttyRPMSG30\nremoteproc = remoteproc0\n")
        rc, rep = b.doctor()
        self.assertOnly(rep, "channel", "fail", 1, rc, subject="m7")
        b.write(CONF,
                "[channel m7]\ndevice = /dev/ttyRPMSG0\nremoteproc = remoteproc7\n")
        rc, rep = b.doctor()
        self.assertOnly(rep, "channel", "fail", 1, rc, subject="m7")
        # --config picks another file, relative to the root.
        b.write("srv/other.conf", "[channel m7]\ndevice = /dev/ttyRPMSG0\n")
        rc, rep = b.doctor("--no-daemon", "--config", "/srv/other.conf")
        self.assertEqual(rc, 0, rep)
        # A name too long to report whole is said so, not cut to another file's name.
        rc, rep = b.doctor("--no-daemon", "--config", "/srv" + "/d" * 150 + "/m7.conf")
        item = [c for c in rep["checks"] if c["check"] == "config"][0]
        self.assertEqual(item["level"], "warn", item)
        self.assertIn("File name too long", item["summary"])
        # A relative name is below the root too (not glued to the root's own name).
        rc, rep = b.doctor("--no-daemon", "--config", "srv/other.conf")
        self.assertEqual(rc, 0, rep)
        self.assertEqual([c["subject"] for c in rep["checks"] if c["check"] == "config"],
                         ["/srv/other.conf"])

    def daemon_says(self, b):
        """What m7bridged --check-config says of the board's file, named as on the board."""
        r = subprocess.run([DAEMON, "--check-config", "-c", b.path(CONF)],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 78, r.stderr)
        msg = r.stderr.strip().splitlines()[-1]
        self.assertTrue(msg.startswith("m7bridged: "), msg)
        return msg[len("m7bridged: "):].replace(b.path(CONF), "/" + CONF)

    def test_config_the_daemon_refuses_fails_with_its_message(self):
        """What the daemon refuses at start (it exits 78) is no "config ok": doctor
        fails config with the daemon's own file:line: message."""
        good = "[channel m7]\ndevice = /dev/ttyRPMSG0\nremoteproc = remoteproc0\n"
        for text, where in (
                (good + "colour = blue\n", ":4: [channel m7] colour: unknown key"),
                (good + "send_timeout_ms = soon\n", ":4: [channel m7] send_timeout_ms:"),
                (good + "max_clients = 4\n",
                 ":4: [channel m7] max_clients: unknown key here: it belongs in [daemon]"),
                ("[daemon]\nremoteproc = remoteproc0\n" + good,
                 ":2: [daemon] remoteproc: unknown key here"),
                (good + "remoteproc = remoteproc0\n", ":4: [channel m7] remoteproc: given"),
                ("[daemon]\nlog_level = loud\n" + good, ":2: [daemon] log_level: expected"),
                # Accounts the daemon could not start with, at their line.
                ("[daemon]\nuser = no-such-user-m7b\n" + good,
                 ":2: [daemon] user: no user named 'no-such-user-m7b'"),
                ("[daemon]\nmax_clients = 4\nsocket_group = no-such-group-m7b\n" + good,
                 ":3: [daemon] socket_group: no group named 'no-such-group-m7b'"),
                # The daemon's longest messages come whole, not cut at the report's width.
                ("[channel " + "m" * 63 + "]\nrpmsg = " + "r" * 180 + "\n",
                 ":2: [channel " + "m" * 63 + "] rpmsg: expected")):
            b = self.board("mainline")
            b.write(CONF, text)
            rc, rep = b.doctor()
            self.assertOnly(rep, "config", "fail", 1, rc)
            item = [c for c in rep["checks"] if c["check"] == "config"][0]
            self.assertIn("/" + CONF + where, item["summary"])
            self.assertEqual(item["summary"], self.daemon_says(b))
            self.assertEqual(levels(rep, "channel"), [])

    def test_config_disabled_channel_is_not_checked(self):
        """enabled = false keeps a channel configured but closed: its tty need not be
        there yet (a second M7, a board variant), and doctor does not fail it."""
        b = self.board("mainline")
        b.write(CONF, "[channel m7]\ndevice = /dev/ttyRPMSG0\nremoteproc = remoteproc0\n"
                "[channel spare]\ndevice = /dev/ttyRPMSG9\nremoteproc = remoteproc3\n"
                "enabled = false\n")
        rc, rep = b.doctor()
        self.assertEqual(rc, 0, json.dumps(rep, indent=1))
        item = [c for c in rep["checks"] if c.get("subject") == "spare"][0]
        self.assertEqual(item["level"], "ok", item)
        self.assertIn("enabled = false", item["summary"])
        # Enabled, the same channel fails: its tty is missing.
        b.write(CONF, "[channel m7]\ndevice = /dev/ttyRPMSG0\nremoteproc = remoteproc0\n"
                "[channel spare]\ndevice = /dev/ttyRPMSG9\n")
        rc, rep = b.doctor()
        self.assertOnly(rep, "channel", "fail", 1, rc, subject="spare")

    def rpmsg_board(self):
        """A mainline board whose sysfs links lead from the remoteproc to its rpmsg
        endpoint and on to the tty, as the daemon follows them for rpmsg = ..."""
        b = self.board("mainline")
        rp = "sys/devices/platform/imx8mp-cm7/remoteproc/remoteproc0"
        dev = "virtio0.rpmsg-tty.-1.1024"
        for k, v in (("name", "imx-rproc"), ("state", "running"), ("firmware", "m7_app.elf")):
            b.write(f"{rp}/{k}", v + "\n")
        b.mkdir(f"{rp}/remoteproc0#vdev0buffer/virtio0/{dev}")
        real = f"{rp}/remoteproc0#vdev0buffer/virtio0/{dev}"

        def link(rel, target):
            if os.path.lexists(b.path(rel)):
                b.remove(rel)
            os.makedirs(os.path.dirname(b.path(rel)), exist_ok=True)
            os.symlink(os.path.relpath(b.path(target), os.path.dirname(b.path(rel))),
                       b.path(rel))
        link("sys/class/remoteproc/remoteproc0", rp)
        link(f"{real}/driver", "sys/bus/rpmsg/drivers/rpmsg_tty")
        link(f"sys/bus/rpmsg/devices/{dev}", real)
        link("sys/class/tty/ttyRPMSG0/device", real)
        return b

    def test_config_rpmsg_channel(self):
        """A channel given as rpmsg = (docs/CONFIG.md) is resolved as the daemon does,
        not failed for want of a device."""
        b = self.rpmsg_board()
        b.write(CONF, "[channel m7]\nrpmsg = imx-rproc:1024\nremoteproc = remoteproc0\n")
        rc, rep = b.doctor()
        self.assertEqual(rc, 0, json.dumps(rep, indent=1))
        item = [c for c in rep["checks"] if c["check"] == "channel"][0]
        self.assertIn("rpmsg imx-rproc:1024 is /dev/ttyRPMSG0, present", item["summary"])
        # An endpoint the firmware did not announce.
        b.write(CONF, "[channel m7]\nrpmsg = imx-rproc:30\n")
        rc, rep = b.doctor()
        self.assertOnly(rep, "channel", "fail", 1, rc, subject="m7")
        item = [c for c in rep["checks"] if c["check"] == "channel"][0]
        self.assertIn("no rpmsg endpoint 30 on imx-rproc", item["summary"])
        # A malformed value, both keys: the daemon refuses the file, and so does doctor.
        for text, summary in (("rpmsg = imx-rproc", ":2: [channel m7] rpmsg: expected"),
                              ("rpmsg = 0:1024\ndevice = /dev/ttyRPMSG0",
                               ":1: [channel m7] rpmsg: give device or rpmsg, not both")):
            b.write(CONF, f"[channel m7]\n{text}\n")
            rc, rep = b.doctor()
            self.assertOnly(rep, "config", "fail", 1, rc)
            item = [c for c in rep["checks"] if c["check"] == "config"][0]
            self.assertIn(summary, item["summary"])
            self.assertEqual(item["summary"], self.daemon_says(b))
        # [channel  m7] is channel m7, as the daemon reads it.
        b.write(CONF, "[channel  m7]\nrpmsg = 0:1024\n")
        rc, rep = b.doctor()
        self.assertEqual([c["subject"] for c in rep["checks"] if c["check"] == "channel"],
                         ["m7"])

    def test_files_that_are_not_regular(self):
        # A tree copied off a board may hold a FIFO or a device where a file belongs:
        # doctor says so and never blocks reading it.
        b = self.board("mainline")
        b.remove(CONF)
        os.mkfifo(b.path(CONF))
        rc, rep = b.doctor()
        self.assertOnly(rep, "config", "warn", 3, rc)
        item = [c for c in rep["checks"] if c["check"] == "config"][0]
        self.assertIn("not a regular file", item["summary"])
        b.remove(CONF)
        b.write(CONF, "[channel m7]\ndevice = /dev/ttyRPMSG0\nremoteproc = remoteproc0\n")
        b.remove("proc/cmdline")
        os.mkfifo(b.path("proc/cmdline"))
        rc, rep = b.doctor()
        self.assertIn("warn", levels(rep, "cmdline"), rep)
        # A directory where the firmware file belongs: said so, not "Invalid argument".
        b.remove("lib/firmware/m7_app.elf")
        b.mkdir("lib/firmware/m7_app.elf")
        rc, rep = b.doctor()
        item = [c for c in rep["checks"] if c["check"] == "firmware"][0]
        self.assertEqual(item["level"], "fail", item)
        self.assertIn("not a regular file", item["summary"])

    # --- the daemon ----------------------------------------------------------------------
    def test_daemon_unreachable_warns(self):
        b = self.board("mainline")
        rc, rep = b.doctor(socket=os.path.join(b.root, "nobody.sock"))
        self.assertOnly(rep, "daemon", "warn", 3, rc)

    def test_daemon_busy_is_no_advice_to_start_it(self):
        """A daemon with no slot left sends VERSION and ERROR busy (no id) in one write
        and closes (an older one sent the ERROR in place of VERSION): it runs, so the
        advice is about its slots, not 'systemctl start'."""
        busy = b'{"class":"ERROR","code":"busy","message":"too many clients"}\n'
        version = b'{"class":"VERSION","release":"9","proto_major":1,"proto_minor":1}\n'
        for order, greeting in (("new", version + busy), ("old", busy)):
            b = self.board("mainline")
            sock = os.path.join(b.root, "busy.sock")
            srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            srv.bind(sock)
            srv.listen(4)

            def serve(srv=srv, greeting=greeting):
                try:
                    c, _ = srv.accept()
                except OSError:
                    return
                with c:
                    c.sendall(greeting)
            t = threading.Thread(target=serve, daemon=True)
            t.start()
            try:
                rc, rep = b.doctor(socket=sock)
            finally:
                srv.close()
            self.assertOnly(rep, "daemon", "warn", 3, rc)
            item = [c for c in rep["checks"] if c["check"] == "daemon"][0]
            self.assertIn("refused the connection: too many clients (busy)",
                          item["summary"], order)
            self.assertIn("max_clients", item["fix"], order)

    def test_daemon_that_never_answers(self):
        """A socket that accepts and stays mute: a hung daemon, not one to start."""
        b = self.board("mainline")
        sock = os.path.join(b.root, "mute.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(sock)
        srv.listen(4)
        try:
            r = subprocess.run([CTL, "-s", sock, "-t", "300", "doctor", "--json", "--root",
                                b.root], capture_output=True, text=True, timeout=60)
        finally:
            srv.close()
        rep = json.loads(r.stdout)
        self.assertOnly(rep, "daemon", "warn", 3, r.returncode)
        item = [c for c in rep["checks"] if c["check"] == "daemon"][0]
        self.assertIn("systemctl restart", item["fix"])

    def test_daemon_channels_from_status(self):
        for exe in (DAEMON, SIM):
            if not os.access(exe, os.X_OK):
                self.skipTest(f"{exe} not built")
        b = self.board("mainline")
        link = b.path("dev/ttyRPMSG0")
        b.remove("dev/ttyRPMSG0")
        sock = b.path("m7bridge.sock")
        log = open(b.path("run.log"), "wb")
        sim = subprocess.Popen([SIM, "--link", link, "--source", "2:rate=20"],
                               stdout=log, stderr=subprocess.STDOUT)
        daemon = None
        try:
            end = time.monotonic() + 30
            while not os.path.exists(link) and time.monotonic() < end:
                time.sleep(0.05)
            daemon = subprocess.Popen([DAEMON, "-f", "-s", sock, "-C", f"m7={link}",
                                       "-C", f"gone={b.path('dev/ttyRPMSG9')}"],
                                      stdout=log, stderr=subprocess.STDOUT)
            while time.monotonic() < end:
                rc, rep = b.doctor(socket=sock)
                st = {c.get("subject"): c["level"] for c in rep["checks"]
                      if c["check"] == "daemon-channel"}
                if st.get("m7") == "ok":
                    break
                time.sleep(0.2)
            self.assertEqual(st.get("m7"), "ok", rep)
            self.assertEqual(st.get("gone"), "fail", rep)
            self.assertIn("ok", levels(rep, "daemon"))
            self.assertEqual(rc, 1)
        finally:
            for p in (daemon, sim):
                if p:
                    p.terminate()
                    p.wait(30)
            log.close()


if __name__ == "__main__":
    if not os.access(CTL, os.X_OK):
        print(f"{CTL} not built", file=sys.stderr)
        sys.exit(77)
    unittest.main(verbosity=2)
