#!/bin/bash
# `meson install` into a temp DESTDIR: every file lands where systemd, udev, man,
# bash-completion and pkg-config look, and a client builds against the installed
# libm7bridge with pkg-config alone and runs. Usage: test_install.sh BUILD_DIR SOURCE_DIR [SANITIZE]
set -u
build=$1 src=$2 sanitize=${3:-none}
fails=0
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; fails=$((fails + 1)); }

if ! meson install -C "$build" --no-rebuild --destdir "$dest" >"$dest.log" 2>&1; then
	cat "$dest.log"; rm -f "$dest.log"
	echo "not ok - meson install"; exit 1
fi
rm -f "$dest.log"
prefix=$(meson introspect "$build" --buildoptions | python3 -c \
	'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')

# Where each piece must be (relative to DESTDIR; the unit dir comes from systemd.pc).
unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo "$prefix/lib/systemd/system")
for f in "$unitdir/m7bridged.service" "$unitdir/m7bridged.socket" \
	"$prefix/sbin/m7bridged" "$prefix/bin/m7bridgectl" \
	"$prefix/include/m7bridge/client.h" "$prefix/include/m7bridge/wire.h"; do
	[ -e "$dest$f" ] && ok "installed $f" || bad "missing $f"
done
# The configuration file (from the commented example) and the docs the man pages name.
sysconfdir=$(meson introspect "$build" --buildoptions | python3 -c \
	'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="sysconfdir"))')
case $sysconfdir in /*) ;; *) sysconfdir=$prefix/$sysconfdir ;; esac
conf=$dest$sysconfdir/m7bridge/m7bridge.conf
[ -f "$conf" ] && ok "installed $sysconfdir/m7bridge/m7bridge.conf" || bad "missing $conf"
if [ -f "$conf" ] && [ -x "$build/daemon/m7bridged" ]; then
	"$build/daemon/m7bridged" --check-config -c "$conf" >/dev/null 2>&1 &&
		ok "the installed configuration passes --check-config" ||
		bad "the installed configuration fails --check-config"
fi
# A second install keeps an edited configuration file.
if [ -f "$conf" ]; then
	echo "# edited" >>"$conf"
	meson install -C "$build" --no-rebuild --destdir "$dest" >/dev/null 2>&1
	tail -n1 "$conf" | grep -qx '# edited' && ok "reinstall keeps the edited configuration" ||
		bad "reinstall overwrote the configuration"
fi
for f in CONFIG.md CLIENT-PROTOCOL.md RECOVERY.md m7bridge.conf.example; do
	[ -n "$(find "$dest$prefix/share/doc" -path "*/m7bridge/$f" | head -1)" ] &&
		ok "installed doc/m7bridge/$f" || bad "missing doc/m7bridge/$f"
done
# The installed docs name each other as docs/NAME.md: every one named is installed too.
docdir=$(dirname "$(find "$dest$prefix/share/doc" -path '*/m7bridge/CONFIG.md' | head -1)")
for name in $(cat "$docdir"/*.md | grep -o 'docs/[A-Za-z0-9_-]*\.md' | sort -u); do
	[ -f "$docdir/${name#docs/}" ] && ok "installed $name, which the installed docs name" ||
		bad "the installed docs name $name, which is not installed"
done
# m7sim is for PCs: installed only with -Dsim=true.
sim=$(meson introspect "$build" --buildoptions | python3 -c \
	'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="sim"))')
if [ "$sim" = True ]; then
	[ -e "$dest$prefix/bin/m7sim" ] && ok "m7sim installed (sim=true)" || bad "m7sim missing with sim=true"
else
	[ ! -e "$dest$prefix/bin/m7sim" ] && ok "m7sim not installed (sim=false)" || bad "m7sim installed with sim=false"
fi

# Man pages are built only when scdoc is there.
if command -v scdoc >/dev/null; then
	for f in man1/m7bridgectl.1 man8/m7bridged.8 man5/m7bridge.conf.5; do
		[ -e "$dest$prefix/share/man/$f" ] && ok "installed man/$f" || bad "missing man/$f"
	done
	grep -q "doc/m7bridge/CLIENT-PROTOCOL" "$dest$prefix/share/man/man1/m7bridgectl.1" &&
		! grep -q "source tree" "$dest$prefix/share/man/man1/m7bridgectl.1" &&
		ok "m7bridgectl(1) points at the installed docs" || bad "m7bridgectl(1) points elsewhere"
fi
for pat in "sysusers.d/m7bridge.conf" "tmpfiles.d/m7bridge.conf" "rules.d/70-m7bridge.rules" \
	"completions/m7bridgectl" "libm7bridge.so.0" "pkgconfig/libm7bridge.pc"; do
	[ -n "$(find "$dest" -path "*/$pat" | head -1)" ] && ok "installed */$pat" || bad "missing */$pat"
done

# The shared library: SONAME libm7bridge.so.0 and only m7b_ symbols exported.
lib=$(find "$dest" -name 'libm7bridge.so.0.*' | head -1)
if [ -n "$lib" ]; then
	readelf -d "$lib" | grep -q 'SONAME.*\[libm7bridge.so.0\]' && ok "SONAME libm7bridge.so.0" ||
		bad "SONAME"
	others=$(nm -D --defined-only "$lib" | awk '$2 ~ /[TDBR]/ {print $3}' | sed 's/@.*//' |
		grep -v -e '^m7b_' -e '^LIBM7BRIDGE_0$' -e '^_' | head -5)
	[ -z "$others" ] && ok "exports only m7b_ symbols" || bad "also exports: $others"
fi

# A client built with pkg-config only (the C example), linked and run against DESTDIR.
pcdir=$(dirname "$(find "$dest" -name libm7bridge.pc | head -1)")
export PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$dest
san=""
[ "$sanitize" != none ] && san="-fsanitize=$sanitize"
if cc $san -o "$dest/m7watch" "$src/examples/c/m7watch.c" \
	$(pkg-config --cflags --libs libm7bridge) 2>"$dest/cc.log"; then
	ok "C example builds with pkg-config"
	libdir=$(dirname "$lib")
	out=$(LD_LIBRARY_PATH=$libdir "$dest/m7watch" -s "$dest/absent.sock" -r 1 2>&1)
	rc=$?
	[ $rc -eq 69 ] && echo "$out" | grep -q "absent.sock" && ok "runs against the installed library" ||
		bad "run: rc=$rc $out"
else
	bad "C example does not build: $(cat "$dest/cc.log")"
fi
# A client's own compiler flags: strict ISO C (no GNU extensions) with warnings as errors.
for std in c99 c11; do
	if cc -std=$std -Wall -Wextra -Wpedantic -Werror -fsyntax-only "$src/examples/c/m7watch.c" \
		$(pkg-config --cflags libm7bridge) 2>"$dest/cc.log"; then
		ok "C example and headers build with -std=$std -Wall -Wextra -Wpedantic -Werror"
	else
		bad "C example with -std=$std: $(head -n 5 "$dest/cc.log")"
	fi
done

echo "# $fails failed"
[ "$fails" -eq 0 ]
