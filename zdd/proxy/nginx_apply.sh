# Runs inside the proxy container, in a subshell of zdd's shell there (POSIX sh), after
# `set -- FILE SERVERS DRAIN_TICKS [CONFIRM [WINDOW [COUNT]]]`; its stderr is merged into its
# stdout.
# Writes the upstream servers (nothing more when FILE already holds them), tests and reloads
# nginx, waits until the new worker generation serves, then until every worker of the old
# generation has exited (their in-flight requests are done), at most DRAIN_TICKS x 50 ms
# (DRAIN_TICKS 0: no wait). CONFIRM (IP:PORT, or several separated by spaces) is then
# requested from here. WINDOW `on` starts the `zdd` access log (LOG, emptied; the map file
# WINDOW_MAP turns it on) with the reload, `off` stops it; empty: left as it is. COUNT: the
# drained servers' addresses as /proc/net/tcp writes them (`030012AC:0BB8`, space-separated):
# nginx's connections to them are counted before the reload and after the drain, printed as
# `connections BEFORE AFTER`.
# Exit: 0 done; 3 nginx -t refused the config; 5 the reload failed (the previous file is
# put back in both cases); 4 no new workers after the reload. Prints `unchanged`,
# `drained TICKS` or `drain-timeout ALIVE` on stdout.
set -eu
LOG=/tmp/zdd-traffic.log               # the `zdd` access log (nginx.conf: access_log)
WINDOW_MAP=/etc/nginx/zdd/window.map   # included by the map that turns it on
file=$1 servers=$2 ticks=$3 confirm=${4:-} window=${5:-} count=${6:-}

workers() {
    for dir in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' 2> /dev/null < "$dir/cmdline") || continue
        case "$cmd" in "nginx: worker process"*) printf '%s ' "${dir#/proc/}" ;; esac
    done
}

connections() { # established (01), from this proxy to the COUNT addresses
    n=0
    for address in $count; do
        c=$(grep -c " $address 01 " /proc/net/tcp 2> /dev/null) || :
        n=$((n + ${c:-0}))
    done
    echo "$n"
}

mkdir -p "${file%/*}"
# One apply at a time in this proxy: the apply of a zdd that was killed may still run when
# the next zdd (or the guardian's heal) applies. The holder is its shell's pid ($$ in this
# subshell). A lock is taken over when its holder is gone or is this very shell (an apply of
# ours that was cut short), and after the longest a live apply can take (its drain + 60 s).
lock=${file%/*/*}/.apply.lock
n=0
until mkdir "$lock" 2> /dev/null; do
    holder=$(cat "$lock/pid" 2> /dev/null) || holder=
    n=$((n + 1))
    if { [ -n "$holder" ] && { [ "$holder" = "$$" ] || ! kill -0 "$holder" 2> /dev/null; }; } \
        || [ "$n" -ge $((ticks + 1200)) ]; then
        rm -rf "$lock"
        continue
    fi
    sleep 0.05
done
echo $$ > "$lock/pid"
trap '[ "$(cat "$lock/pid" 2> /dev/null)" != "$$" ] || rm -rf "$lock"' EXIT
printf '%s' "$servers" > "$file.next"
if [ -z "$confirm$window" ] && [ -f "$file" ] && cmp -s "$file.next" "$file"; then
    rm -f "$file.next"
    echo unchanged
    exit 0
fi
if [ -f "$file" ]; then cp "$file" "$file.prev"; else : > "$file.prev"; fi
old=$(workers)
[ -z "$count" ] || open=$(connections)
mv "$file.next" "$file"
case "$window" in
    on) : > "$LOG" && printf 'default 1;\n' > "$WINDOW_MAP" ;;
    off) rm -f "$WINDOW_MAP" ;;
esac
if ! out=$(nginx -t 2>&1); then
    mv "$file.prev" "$file"
    [ "$window" != on ] || rm -f "$WINDOW_MAP"
    printf '%s\n' "$out" | grep -m 1 emerg >&2 || printf '%s\n' "$out" | head -n 1 >&2
    exit 3
fi
if ! nginx -s reload; then
    mv "$file.prev" "$file"
    [ "$window" != on ] || rm -f "$WINDOW_MAP"
    exit 5
fi

i=0
while :; do
    fresh=0
    for pid in $(workers); do
        case " $old " in *" $pid "*) ;; *) fresh=1 ;; esac
    done
    [ "$fresh" = 1 ] && break
    i=$((i + 1))
    if [ "$i" -ge 200 ]; then echo "no new nginx workers 10 s after reload" >&2; exit 4; fi
    sleep 0.05
done
[ "$window" != off ] || : > "$LOG"

j=0
while [ "$ticks" -gt 0 ]; do
    alive=0
    for pid in $old; do [ -d "/proc/$pid" ] && alive=$((alive + 1)); done
    if [ "$alive" = 0 ]; then echo "drained $j"; break; fi
    j=$((j + 1))
    if [ "$j" -ge "$ticks" ]; then echo "drain-timeout $alive"; break; fi
    sleep 0.05
done

[ -z "$count" ] || echo "connections $open $(connections)"

# not through a proxy the environment names (the docker CLI's `proxies` put one in containers)
unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY
for address in $confirm; do
    # Any HTTP answer proves nginx reaches the container; only no answer (000) fails, after
    # 10 tries a second apart, 2 s each: with compose v1 a new container can take the address
    # its old one just left, and the proxy's stale neighbour entry answers nothing for seconds
    # (one 5 s try, then three, failed a healthy container in CI).
    tries=0
    code=
    while [ "$tries" -lt 10 ]; do
        tries=$((tries + 1))
        if command -v curl > /dev/null 2>&1; then
            code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$address/") || :
        elif command -v wget > /dev/null 2>&1; then
            code=$(wget -S -O /dev/null -T 2 "http://$address/" 2>&1 | grep -m 1 -o 'HTTP/[0-9.]* [0-9]*' | cut -d' ' -f2) || :
        else
            code=skip
        fi
        case "${code:-000}" in 000) [ "$tries" -lt 10 ] && sleep 1 ;; *) break ;; esac
    done
    echo "confirm ${code:-000} $address"
done
