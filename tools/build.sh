# tools/build.sh -- sourced by run.sh and test.sh: the Debian packages chatr
# needs, and an out-of-tree build.  POSIX sh.

# Packages to build chatr, run it and test it.
CHATR_PKGS_BUILD="autoconf automake make gcc pkgconf libfcgi-dev libjson-c-dev libdb5.3-dev libcurl4-openssl-dev libssl-dev libpsl-dev"
CHATR_PKGS_RUN="lighttpd lighttpd-modules-lua curl procps:pkill"
CHATR_PKGS_TEST="apache2:apache2 jq valgrind nodejs:node npm:npm haproxy iproute2:ss openssl:openssl logrotate:logrotate debhelper:dh lintian:lintian dpkg-dev:dpkg-buildpackage"
# For the browser test and the skills.md examples; their tests skip
# (saying so) when these cannot be installed.
CHATR_PKGS_OPTIONAL="chromium fonts-noto-color-emoji python3-requests"

# Install the packages named in $@ that are missing: with apt-get when
# root, else print the exact command and fail.  PACKAGE:COMMAND counts as
# present when COMMAND is on the PATH, however it was installed (Node.js
# from NodeSource brings its own npm, which Debian's npm package conflicts
# with).
chatr_packages() {
	missing=
	for p in "$@"; do
		case $p in
		*:*)
			command -v "${p#*:}" >/dev/null 2>&1 && continue
			p=${p%%:*}
			;;
		esac
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q 'install ok installed'; then
			missing="$missing $p"
		fi
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "chatr needs these Debian packages:$missing" >&2
		echo "install them with:  sudo apt-get install -y$missing" >&2
		return 1
	fi
	echo "installing:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q $missing >&2; then
		apt-get update -q >&2 && apt-get install -y -q $missing >&2
	fi
}

# As chatr_packages, but a failure is only reported.
chatr_packages_optional() {
	chatr_packages "$@" || echo "optional packages missing:$missing (their tests will skip)" >&2
}

# Build the source tree $1 in the directory $2 (configure arguments
# follow).  Runs autoreconf and configure only when needed.
chatr_build() {
	src=$1
	bld=$2
	shift 2
	if [ ! -x "$src/configure" ] || [ "$src/configure.ac" -nt "$src/configure" ] ||
	    [ "$src/Makefile.am" -nt "$src/Makefile.in" ]; then
		(cd "$src" && autoreconf -fi) >&2 || return 1
	fi
	mkdir -p "$bld"
	if [ ! -f "$bld/Makefile" ] || [ "$src/configure" -nt "$bld/config.status" ]; then
		(cd "$bld" && "$src/configure" -q "$@") >&2 || return 1
	fi
	make -C "$bld" -j"$(nproc 2>/dev/null || echo 2)" >&2
}
