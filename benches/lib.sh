# shellcheck shell=bash
# Shell helpers shared by the benchmark scripts (sourced, not run).

# Prints a free TCP port on 127.0.0.1 (a random guess without python3).
free_port() {
    if command -v python3 >/dev/null; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
    else
        echo $((20000 + RANDOM % 40000))
    fi
}

# Waits (bounded) until something listens on 127.0.0.1:$1, without
# connecting (a connection would be a job to the daemon).
wait_listening() {
    local hex i
    hex=$(printf ':%04X ' "$1")
    for ((i = 0; i < 100; i++)); do
        grep -q "0100007F${hex}[0-9A-F:]* 0A " /proc/net/tcp && return 0
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2
    return 1
}

# Prints the port our daemon, started with `--port 0 --log-stderr` into the
# file $1, listens on, once (bounded wait) it has logged it.
ours_port() {
    local i port
    for ((i = 0; i < 100; i++)); do
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$1" 2>/dev/null | head -1)
        [[ -n $port ]] && { echo "$port"; return 0; }
        sleep 0.05
    done
    cat "$1" >&2
    return 1
}
