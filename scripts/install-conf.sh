#!/bin/sh
# meson install script: puts the example configuration in place as the configuration
# file, unless one is already there (a reinstall must not undo the admin's edits).
# Usage: install-conf.sh EXAMPLE DIR NAME   (DIR absolute; honours DESTDIR)
set -eu
example=$1 dir=${DESTDIR:-}$2 name=$3
if [ -e "$dir/$name" ]; then
	echo "Keeping existing $dir/$name"
	exit 0
fi
install -d -m 0755 "$dir"
install -m 0644 "$example" "$dir/$name"
echo "Installing $example to $dir/$name"
