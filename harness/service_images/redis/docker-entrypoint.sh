#!/bin/bash
# The official redis image's entrypoint contract, reimplemented for the stand-in.
set -e

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec setpriv --reuid=redis --regid=redis --init-groups "${BASH_SOURCE[0]}" "$@"
fi

# Without a config file, listen on every interface of the container without protected mode:
# the container's network is the boundary, as in the official image.
if [ "$1" = 'redis-server' ] && [ "${2%.conf}" = "${2:-}" ]; then
	set -- "$@" --protected-mode no --bind '* -::*'
fi

exec "$@"
