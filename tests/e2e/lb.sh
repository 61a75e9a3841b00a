#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# lb.sh - three `intent serve` replicas behind HAProxy, configured by
# deploy/haproxy.cfg (the file docs/deploy.md shows) and started with the
# arguments of deploy/k8s.yaml. Under load from wrk (tests/e2e/lib/lb_load.lua
# counts every answer that is not 2xx; wrk counts socket errors and timeouts):
#   - one replica is killed with SIGKILL: no request fails (HAProxy sends the
#     requests the dead replica had, or refused, to another one);
#   - a rolling model update, SIGHUP to each replica in turn after the model
#     link moved: no 5xx, no socket error, then every replica answers with
#     the new model;
#   - a rolling restart, SIGTERM (drain, exit 0) and start again: no error.
# Also checks that docs/deploy.md shows the deploy/ files as they are, and
# validates them (haproxy -c, systemd-analyze verify, YAML).
#   bash tests/e2e/lb.sh BUILD_DIR
set -u
build=${1:-build}
cd "$(dirname "$0")/../.."
case $build in /*) ;; *) build=$PWD/$build ;; esac
BIN=$build/intent
PY=/usr/bin/python3
source tests/e2e/lib/serve_model.sh
ok() { echo "ok lb_$1"; }
fail() { echo "FAIL lb_$1: $2"; FAILED=1; }
FAILED=0

# --- the documentation shows the deploy/ files verbatim ----------------------
if ! [ -x "$PY" ] || ! "$PY" -c 'import yaml' 2>/dev/null; then
    echo "skip lb: /usr/bin/python3 with yaml is not installed"
    exit 0
fi
why=$("$PY" - <<'PYEOF' 2>&1
import re, yaml
doc = open("docs/deploy.md").read()
blocks = re.findall(r"^```[a-z]*\n(.*?)^```$", doc, re.S | re.M)
for f in ("deploy/haproxy.cfg", "deploy/k8s.yaml", "deploy/intent.service",
          "deploy/Containerfile"):
    if open(f).read() not in blocks:
        raise SystemExit("docs/deploy.md has no code block equal to " + f)
kinds = [d["kind"] for d in yaml.safe_load_all(open("deploy/k8s.yaml"))]
assert kinds == ["Deployment", "Service", "PodDisruptionBudget"], kinds
PYEOF
)
if [ -z "$why" ]; then ok docs_match; else fail docs_match "$why"; fi

if command -v systemd-analyze >/dev/null; then
    # the unit as installed, with this build's binary in ExecStart
    unit=$(mktemp -d /tmp/intent-lb-unit.XXXXXX)
    sed "s|/usr/local/bin/intent|$BIN|" deploy/intent.service >"$unit/intent.service"
    out=$(systemd-analyze verify --man=no "$unit/intent.service" 2>&1 | grep -v -e 'not-found' \
          -e 'Failed to put bus name' -e 'bus' -e 'Cannot add dependency')
    rm -rf "$unit"
    if [ -z "$out" ]; then ok systemd_unit; else fail systemd_unit "$out"; fi
fi

if ! command -v wrk >/dev/null || ! command -v curl >/dev/null; then
    echo "skip lb: wrk or curl is not installed (scripts/install-deps.sh --test)"
    exit $FAILED
fi

tmp=$(mktemp -d /tmp/intent-lb-e2e.XXXXXX)
declare -A RPID=()
HPID= WPID=
cleanup() {
    [ -n "$WPID" ] && kill "$WPID" 2>/dev/null
    [ -n "$HPID" ] && kill "$HPID" 2>/dev/null
    for p in "${RPID[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Five free ports below the kernel's range for outgoing connections, so that
# a replica started again finds its port unused.
read -r PLB PST P1 P2 P3 < <("$PY" - <<'PYEOF'
import random, socket
got = []
while len(got) < 5:
    p = random.randint(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        got.append(p)
    except OSError:
        pass
    finally:
        s.close()
print(*got)
PYEOF
)
declare -A PORT=([r1]=$P1 [r2]=$P2 [r3]=$P3)
KEY=lb-test-key
export INTENT_SERVE_API_KEY=$KEY

# The replicas' arguments: deploy/k8s.yaml's, with this test's model and address.
mapfile -t ARGS < <("$PY" - <<'PYEOF'
import yaml
dep = next(yaml.safe_load_all(open("deploy/k8s.yaml")))
args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
assert args[0] == "serve", args
for a in args[1:]:
    print(a)
PYEOF
)
make_test_model "$tmp/m1"
make_test_model "$tmp/m2" v2_
ln -s "$tmp/m1" "$tmp/current"

start_replica() { # NAME: starts it on its port, waits for "listening"
    local n=$1 a=() i
    for ((i = 0; i < ${#ARGS[@]}; i++)); do
        case ${ARGS[i]} in
            --model) a+=(--model "$tmp/current"); i=$((i + 1)) ;;
            --host) a+=(--host 127.0.0.1); i=$((i + 1)) ;;
            --port) a+=(--port "${PORT[$n]}"); i=$((i + 1)) ;;
            *) a+=("${ARGS[i]}") ;;
        esac
    done
    "$BIN" serve "${a[@]}" 2>>"$tmp/$n.log" &
    RPID[$n]=$!
    for _ in $(seq 1 600); do # up to 60 s on a busy machine
        grep -q "listening on http://127.0.0.1:${PORT[$n]}" "$tmp/$n.log" && return 0
        kill -0 "${RPID[$n]}" 2>/dev/null || break
        sleep 0.1
    done
    fail "start_$n" "$(tail -3 "$tmp/$n.log")"
    exit 1
}

stats() { curl -s --max-time 5 -o "$tmp/stats.csv" "http://127.0.0.1:$PST/stats;csv"; }
st() { # PROXY SERVER FIELD: a value from the last stats call
    awk -F, -v px="$1" -v sv="$2" -v f="$3" '
        NR == 1 { sub(/^# /, ""); for (i = 1; i <= NF; i++) col[$i] = i; next }
        $1 == px && $2 == sv { print $(col[f]); exit }' "$tmp/stats.csv"
}
wait_for() { # SECONDS COMMAND...: polls until the command succeeds
    local end=$((SECONDS + $1)); shift
    until "$@"; do
        [ $SECONDS -ge $end ] && return 1
        sleep 0.2
    done
}
is_status() { stats && [ "$(st intent "$1" status)" = "$2" ]; }
all_up() { stats && for r in r1 r2 r3; do [ "$(st intent $r status)" = UP ] || return 1; done; }
served_more() { # N: the frontend has answered N more requests than at $FE0
    stats && [ "$(st api FRONTEND req_tot)" -ge $((FE0 + $1)) ]
}

load_start() { # NAME: wrk in the background, output in $tmp/NAME.wrk
    wrk -t2 -c16 -d120s --timeout 10s -s tests/e2e/lib/lb_load.lua \
        -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PLB/classify" >"$tmp/$1.wrk" 2>&1 &
    WPID=$!
    stats
    FE0=$(st api FRONTEND req_tot)
    wait_for 60 served_more 200 || { fail "$1_load" "no traffic through HAProxy"; exit 1; }
}
load_stop() { # NAME: stops wrk (it prints its counts on SIGINT), checks them
    local n=$1
    kill -INT "$WPID"
    wait "$WPID"
    WPID=
    LB=$(grep '^LB ' "$tmp/$n.wrk")
    [ -n "$LB" ] || { fail "${n}_load" "$(tail -5 "$tmp/$n.wrk")"; return 1; }
    echo "# $n: $LB"
    local v
    for k in ok non2xx new old connect read write timeout; do
        v=$(sed -n "s/.* $k=\([0-9]*\).*/\1/p" <<<"$LB")
        printf -v "W_$k" '%s' "$v"
    done
}

# --- SIGTERM under load, no balancer in front --------------------------------
# Each answer after SIGTERM closes its connection and the socket no longer
# listens, so wrk sees refused reconnects (write errors) but never a request
# that was sent and then met a closed connection (a read error).
start_replica r1
wrk -t2 -c16 -d120s --timeout 10s -s tests/e2e/lib/lb_load.lua \
    -H "Authorization: Bearer $KEY" "http://127.0.0.1:$P1/classify" >"$tmp/drain.wrk" 2>&1 &
WPID=$!
logged() { [ "$(grep -c '"request_id"' "$tmp/r1.log")" -ge "$1" ]; }
gone() { ! kill -0 "$1" 2>/dev/null; }
wait_for 60 logged 500 || fail drain_load "$(tail -3 "$tmp/drain.wrk" "$tmp/r1.log")"
kill -TERM "${RPID[r1]}"
if wait_for 30 gone "${RPID[r1]}"; then wait "${RPID[r1]}"; rc=$?; else rc=timeout; fi
unset 'RPID[r1]'
load_stop drain
if [ "$rc" = 0 ] && grep -q 'intent serve: stopped' "$tmp/r1.log" && [ "$W_ok" -ge 400 ] &&
    [ "$W_read" = 0 ] && [ "$W_timeout" = 0 ] && [ "$W_non2xx" = 0 ]; then
    ok sigterm_drain_no_lost_request
else
    fail sigterm_drain_no_lost_request "exit $rc; $LB; $(tail -2 "$tmp/r1.log")"
fi

if ! command -v haproxy >/dev/null; then
    echo "skip lb: haproxy is not installed (scripts/install-deps.sh --test)"
    exit $FAILED
fi
for r in r1 r2 r3; do start_replica $r; done
INTENT_LB_BIND=127.0.0.1:$PLB INTENT_LB_STATS=127.0.0.1:$PST INTENT_R1=127.0.0.1:$P1 \
    INTENT_R2=127.0.0.1:$P2 INTENT_R3=127.0.0.1:$P3 haproxy -c -f deploy/haproxy.cfg \
    >"$tmp/haproxy.check" 2>&1 || { fail haproxy_config "$(cat "$tmp/haproxy.check")"; exit 1; }
ok haproxy_config
INTENT_LB_BIND=127.0.0.1:$PLB INTENT_LB_STATS=127.0.0.1:$PST INTENT_R1=127.0.0.1:$P1 \
    INTENT_R2=127.0.0.1:$P2 INTENT_R3=127.0.0.1:$P3 haproxy -db -f deploy/haproxy.cfg \
    >"$tmp/haproxy.log" 2>&1 &
HPID=$!
if wait_for 60 all_up; then ok replicas_up; else
    fail replicas_up "$(cat "$tmp/haproxy.log" "$tmp/stats.csv" 2>&1 | tail -8)"; exit 1
fi

# --- SIGKILL one replica under load ------------------------------------------
load_start kill
stats
r2_before=$(st intent r2 stot)
kill -9 "${RPID[r2]}"
wait "${RPID[r2]}" 2>/dev/null
unset 'RPID[r2]'
wait_for 30 is_status r2 DOWN; down=$?
FE0=$(st api FRONTEND req_tot)
# the survivors carry the load for a while
wait_for 60 served_more 500 || fail sigkill_load "HAProxy answered too few requests after the kill"
stats
retried="retries $(st intent BACKEND wretr), redispatches $(st intent BACKEND wredis)"
fe_5xx=$(st api FRONTEND hrsp_5xx)
load_stop kill
if [ $down = 0 ] && [ "$r2_before" -gt 0 ] && [ "$W_ok" -ge 500 ] && [ "$W_non2xx" = 0 ] &&
    [ $((W_connect + W_read + W_write + W_timeout)) = 0 ] && [ "$fe_5xx" = 0 ]; then
    ok sigkill_no_failed_request
else
    fail sigkill_no_failed_request "r2 down: $down, r2 had $r2_before, HAProxy 5xx $fe_5xx; $LB"
fi
echo "# kill: r2 had served $r2_before before SIGKILL; HAProxy $retried"

start_replica r2
if wait_for 60 all_up; then ok replica_back; else fail replica_back "$(tail -3 "$tmp/r2.log")"; fi

# --- rolling model update: SIGHUP one replica at a time ----------------------
ln -s "$tmp/m2" "$tmp/current.new"
mv -T "$tmp/current.new" "$tmp/current"
reloads() { curl -s --max-time 5 "http://127.0.0.1:${PORT[$1]}/health" |
            sed -n 's/.*"reloads":\([0-9]*\).*/\1/p'; }
reloaded() { [ "$(reloads "$1")" = "$2" ] &&
             [ "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' \
                  "http://127.0.0.1:${PORT[$1]}/ready")" = 200 ]; }
load_start rolling
stats
fe5_0=$(st api FRONTEND hrsp_5xx)
for r in r1 r2 r3; do
    n=$(reloads $r)
    kill -HUP "${RPID[$r]}"
    wait_for 60 reloaded $r $((n + 1)) || fail "reload_$r" "$(tail -3 "$tmp/$r.log")"
    wait_for 30 is_status $r UP || fail "reload_$r" "HAProxy has $r $(st intent $r status)"
    FE0=$(st api FRONTEND req_tot)
    wait_for 60 served_more 200 || fail "reload_$r" "HAProxy answered too few requests"
done
stats
fe_5xx=$(($(st api FRONTEND hrsp_5xx) - fe5_0))
load_stop rolling
if [ "$W_ok" -ge 600 ] && [ "$W_non2xx" = 0 ] && [ "$fe_5xx" = 0 ] &&
    [ $((W_connect + W_read + W_write + W_timeout)) = 0 ]; then
    ok rolling_update_no_error
else
    fail rolling_update_no_error "HAProxy 5xx $fe_5xx; $LB"
fi
if [ "$W_old" -gt 0 ] && [ "$W_new" -gt 0 ]; then ok rolling_update_switched; else
    fail rolling_update_switched "$LB"
fi
newmodel=0
for r in r1 r2 r3; do
    a=$(curl -s --max-time 10 -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
        -d '{"text":"hola buenos dias"}' "http://127.0.0.1:${PORT[$r]}/classify")
    case $a in *'"intent":"v2_'*) newmodel=$((newmodel + 1)) ;; *) echo "# $r: $a" ;; esac
done
if [ $newmodel = 3 ]; then ok every_replica_new_model; else
    fail every_replica_new_model "$newmodel of 3 replicas answer with the new model"
fi

# --- rolling restart: SIGTERM (drain) and start again ------------------------
load_start restart
stats
fe5_0=$(st api FRONTEND hrsp_5xx)
retr0=$(st intent BACKEND wretr) redis0=$(st intent BACKEND wredis)
drained=0
for r in r1 r2 r3; do
    kill -TERM "${RPID[$r]}"
    wait "${RPID[$r]}" && grep -q 'intent serve: stopped' "$tmp/$r.log" && drained=$((drained + 1))
    unset "RPID[$r]"
    start_replica $r
    wait_for 60 all_up || fail "restart_$r" "HAProxy has $r $(st intent $r status)"
    FE0=$(st api FRONTEND req_tot)
    wait_for 60 served_more 200 || fail "restart_$r" "HAProxy answered too few requests"
done
stats
fe_5xx=$(($(st api FRONTEND hrsp_5xx) - fe5_0))
retried="retries $(($(st intent BACKEND wretr) - retr0)), redispatches $(($(st intent BACKEND wredis) - redis0))"
load_stop restart
echo "# restart: HAProxy $retried"
if [ $drained = 3 ] && [ "$W_ok" -ge 600 ] && [ "$W_non2xx" = 0 ] && [ "$fe_5xx" = 0 ] &&
    [ $((W_connect + W_read + W_write + W_timeout)) = 0 ]; then
    ok rolling_restart_no_error
else
    fail rolling_restart_no_error "$drained of 3 drained and exited 0, HAProxy 5xx $fe_5xx; $LB"
fi
exit $FAILED
