#!/bin/bash
# The official postgres image's entrypoint contract, reimplemented for the stand-in.
set -Eeo pipefail

# file_env VAR [DEFAULT]: VAR from itself or from the file ${VAR}_FILE names, never both.
file_env() {
	local var="$1" file_var="${1}_FILE" default="${2:-}" value
	if [ "${!var:-}" ] && [ "${!file_var:-}" ]; then
		echo >&2 "error: both $var and $file_var are set (but are exclusive)"
		exit 1
	fi
	value="$default"
	if [ "${!var:-}" ]; then
		value="${!var}"
	elif [ "${!file_var:-}" ]; then
		value="$(<"${!file_var}")"
	fi
	export "$var"="$value"
	unset "$file_var"
}

if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

# `postgres --version`, `--help` and the like only print: no data directory for them.
wants_help() {
	local arg
	for arg; do
		case "$arg" in
			-'?' | --help | --describe-config | -V | --version) return 0 ;;
		esac
	done
	return 1
}
if [ "$1" = 'postgres' ] && wants_help "$@"; then
	exec "$@"
fi

if [ "$1" = 'postgres' ] && [ "$(id -u)" = '0' ]; then
	mkdir -p "$PGDATA"
	chown -R postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ "$1" = 'postgres' ]; then
	file_env POSTGRES_USER postgres
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_DB "$POSTGRES_USER"
	file_env POSTGRES_INITDB_ARGS
	if [ ! -s "$PGDATA/PG_VERSION" ]; then
		if [ -z "$POSTGRES_PASSWORD" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != 'trust' ]; then
			cat >&2 <<-'MESSAGE'
				Error: Database is uninitialized and superuser password is not specified.
				       You must specify POSTGRES_PASSWORD to a non-empty value for the
				       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".
			MESSAGE
			exit 1
		fi
		# shellcheck disable=SC2086 - the arguments are words, as in the official image
		initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
			$POSTGRES_INITDB_ARGS
		printf '\nhost all all all %s\n' "${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" \
			>>"$PGDATA/pg_hba.conf"
		# A server on the Unix socket only, for the initialisation; the port opens later.
		PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
		export PGPASSWORD="$POSTGRES_PASSWORD"
		if [ "$POSTGRES_DB" != 'postgres' ]; then
			psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --dbname postgres \
				--set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db" ;'
		fi
		for script in /docker-entrypoint-initdb.d/*; do
			case "$script" in
				*.sh) echo "running $script"; . "$script" ;;
				*.sql) echo "running $script"; psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" \
					--no-password --dbname "$POSTGRES_DB" -f "$script" ;;
				*) [ -e "$script" ] && echo "ignoring $script" ;;
			esac
		done
		unset PGPASSWORD
		pg_ctl -D "$PGDATA" -m fast -w stop
		echo
		echo 'PostgreSQL init process complete; ready for start up.'
		echo
	else
		echo
		echo 'PostgreSQL Database directory appears to contain a database; Skipping initialization'
		echo
	fi
fi

exec "$@"
