#!/bin/sh
# Secrets as files: for every TRADEBOT_<NAME>_FILE=/run/secrets/x, export TRADEBOT_<NAME> with the
# file's content (compose secrets, Kubernetes secret volumes), then run tradebot. Nothing is
# written anywhere; the values live only in this process's environment.
set -eu
for var in $(env | sed -n 's/^\(TRADEBOT_[A-Z0-9_]*\)_FILE=.*/\1/p'); do
    file=$(printenv "${var}_FILE")
    if [ ! -r "$file" ]; then
        echo "error: ${var}_FILE: cannot read $file" >&2
        exit 2
    fi
    value=$(cat "$file")
    export "$var=$value"
    unset "${var}_FILE"
done
exec tradebot "$@"
