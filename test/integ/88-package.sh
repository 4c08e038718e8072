#!/bin/bash
# 88-package.sh -- the Debian package: dpkg-buildpackage -us -uc -b on a
# copy of the source, then the .deb's files, its control data, its
# conffiles and maintainer scripts, the installed config and units, and
# lintian finding nothing.  (Installing it is not done here.)  Once per
# suite: the sanitizer pass skips it, as it runs none of chatr's programs.
. "$(dirname "$0")/lib.sh"
if [ -n "$MEMCHECK" ]; then
	skip "the package is built in the plain pass only"
	exit 0
fi
for c in dpkg-buildpackage dh lintian; do
	if ! command -v "$c" >/dev/null; then
		skip "$c is not installed"
		exit 0
	fi
done

# A copy of the source: the files git knows in a checkout, else the tree
# (a release tarball).
mkdir -p "$T/pkg/chatr"
if git -C "$top_srcdir" rev-parse --git-dir >/dev/null 2>&1; then
	git -C "$top_srcdir" ls-files -z | (cd "$top_srcdir" && xargs -0 cp --parents -t "$T/pkg/chatr")
else
	cp -a "$top_srcdir/." "$T/pkg/chatr"
fi
check "dpkg-buildpackage -us -uc -b builds the package" \
    eval '(cd "$T/pkg/chatr" && dpkg-buildpackage -us -uc -b) >"$T/var/log/dpkg-buildpackage.log" 2>&1'
deb=$(ls "$T"/pkg/chatr_*.deb 2>/dev/null | head -n 1)
check "it made a .deb" test -n "$deb" -a -s "$deb"
[ -n "$deb" ] || exit 0
dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|' >"$T/files"
for f in /usr/sbin/chatrd /usr/sbin/chatrctl /usr/sbin/chatr-sse-relay \
    /usr/sbin/chatr-www /usr/libexec/chatr/chatr-messages \
    /usr/libexec/chatr/chatr-register /usr/libexec/chatr/chatr-metrics \
    /usr/libexec/chatr/chatr-repl /lib/systemd/system/chatr.service \
    /lib/systemd/system/chatr-lighttpd.service \
    /usr/lib/tmpfiles.d/chatr.conf /etc/logrotate.d/chatr \
    /etc/chatr/chatr.conf /etc/chatr/lighttpd.conf \
    /usr/share/chatr/www/index.html /usr/share/chatr/www/skills.md.in \
    /usr/share/chatr/errors/503.html /usr/share/chatr/errors/retry-after.lua \
    /usr/share/man/man8/chatrctl.8.gz /usr/share/man/man8/chatrd.8.gz \
    /usr/share/man/man8/chatr-sse-relay.8.gz /usr/share/man/man8/chatr-www.8.gz \
    /usr/share/man/man5/chatr.conf.5.gz /usr/share/man/man7/chatr.7.gz; do
	check "the package holds $f" grep -qx "$f" "$T/files"
done
dpkg-deb -f "$deb" Depends >"$T/depends"
check "it depends on lighttpd, adduser and the libraries it links" \
    eval 'grep -q "lighttpd" "$T/depends" && grep -q adduser "$T/depends" && grep -q "libdb5.3" "$T/depends" && grep -q libjson-c "$T/depends" && grep -q libfcgi "$T/depends"'
mkdir -p "$T/ctrl" "$T/root"
dpkg-deb -e "$deb" "$T/ctrl"
dpkg-deb -x "$deb" "$T/root"
check "the config files are conffiles" \
    eval 'grep -qx /etc/chatr/chatr.conf "$T/ctrl/conffiles" && grep -qx /etc/chatr/lighttpd.conf "$T/ctrl/conffiles" && grep -qx /etc/logrotate.d/chatr "$T/ctrl/conffiles"'
check "postinst makes the chatr system user" \
    grep -q 'adduser --system --group --home /var/lib/chatr' "$T/ctrl/postinst"
check "postinst enables both units" \
    eval 'grep -q "deb-systemd-helper enable .chatr.service" "$T/ctrl/postinst" && grep -q "deb-systemd-helper enable .chatr-lighttpd.service" "$T/ctrl/postinst"'
check "and starts them" \
    grep -q "deb-systemd-invoke .*chatr-lighttpd.service.*chatr.service" "$T/ctrl/postinst"
check "postinst creates the tmpfiles.d directories" \
    grep -q 'systemd-tmpfiles .*--create chatr.conf' "$T/ctrl/postinst"
check "postinst writes the site with chatr-www" grep -q 'chatr-www -c /etc/chatr/chatr.conf' "$T/ctrl/postinst"
check "postrm removes the store and logs on purge only" \
    eval 'grep -A2 "= purge" "$T/ctrl/postrm" | grep -q "rm -rf /var/lib/chatr /var/log/chatr"'
check "the maintainer scripts are valid sh" \
    eval 'for s in postinst postrm prerm; do [ ! -f "$T/ctrl/$s" ] || sh -n "$T/ctrl/$s" || exit 1; done'
check "chatr.service runs chatrd as chatr with the packaged config" \
    eval 'grep -qx "ExecStart=/usr/sbin/chatrd -c /etc/chatr/chatr.conf" "$T/root/lib/systemd/system/chatr.service" && grep -qx "User=chatr" "$T/root/lib/systemd/system/chatr.service"'
check "chatr.service is also chatr-relay.service (chatrd runs the relay)" \
    grep -qx 'Alias=chatr-relay.service' "$T/root/lib/systemd/system/chatr.service"
check "chatr-lighttpd.service runs lighttpd with chatr's lighttpd.conf" \
    grep -qx 'ExecStart=/usr/sbin/lighttpd -D -f /etc/chatr/lighttpd.conf' "$T/root/lib/systemd/system/chatr-lighttpd.service"
check "the packaged chatr.conf keeps the store in /var/lib/chatr" \
    grep -qx 'CHATR_VAR = /var/lib/chatr' "$T/root/etc/chatr/chatr.conf"
check "the packaged lighttpd.conf points at the installed paths" \
    eval 'grep -q "^var.chatr_var *= \"/var/lib/chatr\"" "$T/root/etc/chatr/lighttpd.conf" && grep -q "^var.chatr_errors *= \"/usr/share/chatr/errors\"" "$T/root/etc/chatr/lighttpd.conf"'
check "the packaged lighttpd.conf is valid for lighttpd" \
    eval 'sed -e "s|\"/usr/share/chatr/|\"$T/root/usr/share/chatr/|" "$T/root/etc/chatr/lighttpd.conf" >"$T/l.conf" && lighttpd -tt -f "$T/l.conf"'
check "it holds only the settings, and includes the packaged body" \
    grep -qx 'include "/usr/share/chatr/lighttpd-chatr.conf"' "$T/root/etc/chatr/lighttpd.conf"
check "the packaged chatrctl runs and knows its commands" \
    eval '"$T/root/usr/sbin/chatrctl" help | grep -q "^  backup DIR"'
changes=$(ls "$T"/pkg/chatr_*.changes 2>/dev/null | head -n 1)
lintian --tag-display-limit 0 "$deb" >"$T/lintian.out" 2>&1
check "lintian finds no error and no warning" \
    eval '! grep -E "^(E|W): " "$T/lintian.out"'
