# Scenarios of issue 13 ("Performance"), sourced by bench/run.sh (not run on their own): they use
# its helpers (start, node_config, qrow/run_queued, ...). Opt-in: SCENARIOS=flags,colocated,hop,zipf.
#
#   flags      our node with each io_uring ring set-up (FLAG_SETUPS, chosen per process through
#              CACHE_URING_SETUP / CACHE_URING_ENTRIES, src/node/uring.rs) and with epoll, the bare
#              responder with the same set-ups, and nginx: GET hit, then GET hit pipelined x DEPTH;
#              the pipelined round also has the bare responder sending our head's bytes
#              (bench/bare.rs same-head, default ring): ours ÷ it is our user-space work alone.
#              The default ring, epoll and nginx again under cache-client bench (its epoll and
#              its io_uring driver), a generator that costs less per answer than wrk.
#              All servers 1 worker on SERVER_CPU, rows interleaved round by round.
#   colocated  the shipped 3-node local cluster (config/node1..3.yaml, only the ports moved) as a
#              user starts it: threads: 0 and pin_threads: auto, each node taking its share of the
#              CPUs (src/cpus.rs; unpinned where the nodes outnumber the CPUs); the same with
#              pin_threads: true (each pinned to CPU i mod CPUs, the default before 2026-12-05
#              evening); with threads: 1 on each; and with worker_scheduling: batch (opt-in:
#              woken workers do not preempt, see config/example.yaml). 1000 uniform keys via node 1.
#              First, the same-run "before": version 1 (V1_COMMIT, the release the issue measured,
#              built from this repository's history into TARGET/v1 by build_v1) with its own
#              shipped configs; skipped with a note when the history is not there.
#   hop        bench/hop.rs (the mesh round trip between two pinned cores), bench/idle_hop.rs (what
#              a hop adds to a GET on a quiet node, idle_poll brief and always), bench/wake.rs (a
#              sleeping thread woken by a futex, an eventfd or a message through io_uring), then
#              one node with threads: 2 (HOP_CPUS, default SERVER_CPU and CLIENT_CPU) against one
#              with threads: 1 (SERVER_CPU): uniform GET, server CPU per request; and the
#              split without the hop (two threads: 1 nodes placed as the threads: 2 node's
#              workers, cache-client bench dealing the connections between them).
#   zipf       two 3-node clusters (1 worker each, all on SERVER_CPU, as the cluster scenario),
#              hot_keys.enabled true and false: Zipf(ZIPF_S) GETs over KEYS keys sent to all three
#              nodes by cache-client bench; then GETs of one key (HOT_KEY) all sent to a node
#              that does not own it, the case read copies are for.
# shellcheck shell=bash
# shellcheck disable=SC2153 # PORT, RUNS and the other knobs are set by run.sh

# Ring set-ups of the flags scenario: SETUP or SETUP:ENTRIES (see src/node/uring.rs).
FLAG_SETUPS="${FLAG_SETUPS:-plain coop single_defer}"
# What the node uses when CACHE_URING_SETUP is unset (RingSetup::default in src/node/uring.rs).
RING_DEFAULT="${RING_DEFAULT:-coop}"
ZIPF_S="${ZIPF_S:-0.99}"
# hot_keys.min_reads_per_sec of the zipf clusters (unset: the node's default). A key is hot above
# that many reads per second on one core: a machine that delivers only a few thousand req/s in
# total never makes the top key of Zipf 0.99 over 100k keys (~8 % of reads) hot at the default.
HOT_MIN_READS="${HOT_MIN_READS:-}"
COLO_KEYS="${COLO_KEYS:-1000}"
P_FLAGS=$((PORT + 40)) P_COLO=$((PORT + 60)) P_HOP=$((PORT + 66)) P_ZIPF=$((PORT + 70))

# ring_env SETUP[:ENTRIES] -> "env CACHE_URING_SETUP=.. [CACHE_URING_ENTRIES=..]" words.
ring_env() {
  local setup="${1%%:*}" entries=""
  [ "$setup" = "$1" ] || entries="${1#*:}"
  printf 'env CACHE_URING_SETUP=%s' "$setup"
  [ -z "$entries" ] || printf ' CACHE_URING_ENTRIES=%s' "$entries"
}

scenario_flags() {
  local i=0 spec tag cfg port ids=() ours=() bare=() nginx url
  # Our node and the bare responder per ring set-up, then epoll; ports P_FLAGS + 2i, + 2i + 1.
  for spec in $FLAG_SETUPS epoll; do
    tag="${spec//:/_}"
    port=$((P_FLAGS + 2 * i))
    if [ "$spec" = epoll ]; then
      cfg="$(node_config "flags-$tag" "$port" 1 epoll)"
      start_node "flags-$tag" "$SERVER_CPU" "$cfg"
      ours+=("$LAST_PID")
      start "bare-$tag" "$SERVER_CPU" "$BARE_BIN" serve "127.0.0.1:$((port + 1))" epoll
    else
      cfg="$(node_config "flags-$tag" "$port" 1 uring)"
      # shellcheck disable=SC2046 # ring_env's words are meant to split
      start "flags-$tag" "$SERVER_CPU" $(ring_env "$spec") "$NODE_BIN" --config "$cfg"
      ours+=("$LAST_PID")
      # shellcheck disable=SC2046
      start "bare-$tag" "$SERVER_CPU" $(ring_env "$spec") "$BARE_BIN" serve "127.0.0.1:$((port + 1))" uring
    fi
    bare+=("$LAST_PID")
    ids+=("$tag")
    i=$((i + 1))
  done
  local p_nginx=$((P_FLAGS + 2 * i))
  mkdir -p "$OUT/nginx-flags"
  sed -e "s|@PORT@|$p_nginx|" -e "s|@DIR@|$OUT/nginx-flags|g" -e "s|@BODY@|{\"key\":\"bench:hit\",\"value\":$HIT_VALUE}|" \
    "$ROOT/bench/nginx.conf" >"$OUT/nginx-flags/nginx.conf"
  start nginx-flags "$SERVER_CPU" nginx -p "$OUT/nginx-flags" -c "$OUT/nginx-flags/nginx.conf" -e "$OUT/nginx-flags/error.log"
  nginx=$LAST_PID
  wait_http "http://127.0.0.1:$p_nginx/"
  # The bare responder with our head's bytes (bench/bare.rs same-head), default ring: the same
  # bytes on the wire, so ours ÷ this is our user-space work alone (pipelined row only).
  local p_same=$((p_nginx + 1)) same
  # shellcheck disable=SC2046
  start "bare-same-head" "$SERVER_CPU" $(ring_env "$RING_DEFAULT") "$BARE_BIN" serve "127.0.0.1:$p_same" uring same-head
  same=$LAST_PID
  wait_http "http://127.0.0.1:$p_same/"
  for i in "${!ids[@]}"; do
    port=$((P_FLAGS + 2 * i))
    wait_http "http://127.0.0.1:$port/api/v1/health"
    wait_http "http://127.0.0.1:$((port + 1))/"
    put_hit_key "$port"
  done
  printf '%s\n' "${ids[@]}" >"$OUT/flags.tsv"
  echo "default=$RING_DEFAULT" >>"$OUT/flags.meta"
  local kind script tail name cmp
  for kind in hit p16; do
    if [ "$kind" = hit ]; then
      script=get_hit.lua tail="" name="GET hit"
    else
      script=pipeline.lua tail=" -- $DEPTH" name="GET hit pipelined x$DEPTH"
    fi
    qrow "flags_nginx_$kind" flags "nginx return 200: $name" wrk - "$([ $kind = p16 ] && echo 1 || echo 0)" "$nginx" -- \
      "$WRK -d\${D}s -s $LUA/$script http://127.0.0.1:$p_nginx/$tail"
    for i in "${!ids[@]}"; do
      port=$((P_FLAGS + 2 * i))
      url="http://127.0.0.1:$port$HIT_PATH"
      # GET hit rows compare with nginx (the issue's ≥ 1.1x target), pipelined ones with epoll.
      cmp="flags_nginx_$kind"
      [ "$kind" = hit ] || cmp="flags_epoll_p16_ours"
      [ "${ids[$i]}" != epoll ] || [ "$kind" = hit ] || cmp=-
      qrow "flags_${ids[$i]}_${kind}_ours" flags "ours, ${ids[$i]}: $name" wrk "$cmp" \
        "$([ $kind = p16 ] && echo 1 || echo 0)" "${ours[$i]}" -- "$WRK -d\${D}s -s $LUA/$script $url$tail"
      qrow "flags_${ids[$i]}_${kind}_bare" flags "bare responder, ${ids[$i]}: $name" wrk "flags_${ids[$i]}_${kind}_ours" \
        "$([ $kind = p16 ] && echo 1 || echo 0)" "${bare[$i]}" -- \
        "$WRK -d\${D}s -s $LUA/$script http://127.0.0.1:$((port + 1))/$tail"
    done
    if [ "$kind" = p16 ]; then
      qrow flags_same_head_p16 flags "bare responder, $RING_DEFAULT, our head's bytes: $name" wrk \
        "flags_${RING_DEFAULT//:/_}_p16_ours" 1 "$same" -- "$WRK -d\${D}s -s $LUA/$script http://127.0.0.1:$p_same/$tail"
    fi
    flags_other_generator "$kind" "$name" "$p_nginx" "$nginx" "${ids[*]}" "${ours[*]}"
    log "flags: $name, ${#ids[@]} set-ups + nginx"
    run_queued
  done
  stop_all
}

# flags_other_generator KIND NAME NGINX_PORT NGINX_PID "IDS" "OUR_PIDS": queue the default ring,
# epoll and nginx once more under cache-client bench, with its epoll and its io_uring driver. wrk
# is busy 96-100 % in the flags rows on a 2-CPU host, so their req/s is its ceiling as much as the
# servers'; this generator costs less per answer, and its two drivers shape the load two ways: with
# epoll the requests arrive spread out as wrk's do, with io_uring each round's requests leave in one
# submission and arrive together, so a server's batches grow. Shown beside the verdicts (which stay
# on wrk, the issue's generator), not instead of them.
flags_other_generator() {
  local kind="$1" name="$2" p_nginx="$3" nginx="$4" i gen port pipelined=0 depth=1
  local -a ids ours
  read -r -a ids <<<"$5"
  read -r -a ours <<<"$6"
  [ "$kind" = hit ] || { pipelined=1 depth="$DEPTH"; }
  local args="bench -c $CONNS -t $CLIENT_THREADS -P $depth --key ${HIT_PATH##*/} --json -q -d \${D}s"
  for gen in epoll uring; do
    qrow "flags_nginx_${kind}_cc_$gen" flags "nginx return 200: $name (cache-client bench, $gen)" cc - \
      "$pipelined" "$nginx" -- "taskset -c $CLIENT_CPU $CLIENT_BIN --nodes 127.0.0.1:$p_nginx $args --driver $gen"
    for i in "${!ids[@]}"; do
      [ "${ids[$i]}" = "${RING_DEFAULT//:/_}" ] || [ "${ids[$i]}" = epoll ] || continue
      port=$((P_FLAGS + 2 * i))
      qrow "flags_${ids[$i]}_${kind}_cc_$gen" flags "ours, ${ids[$i]}: $name (cache-client bench, $gen)" cc - \
        "$pipelined" "${ours[$i]}" -- "taskset -c $CLIENT_CPU $CLIENT_BIN --nodes 127.0.0.1:$port $args --driver $gen"
    done
  done
}

# The shipped configs with only their ports moved to BASE..BASE+2 (node n: 800n -> BASE+n-1), plus
# EXTRA lines; written to OUT/NAME/nodeN.yaml.
shipped_configs() { # NAME BASE [EXTRA [CONFIG_DIR]]
  local dir="$OUT/$1" n
  mkdir -p "$dir"
  for n in 1 2 3; do
    sed -e "s/:8001/:$2/g" -e "s/:8002/:$(($2 + 1))/g" -e "s/:8003/:$(($2 + 2))/g" \
      "${4:-$ROOT/config}/node$n.yaml" >"$dir/node$n.yaml"
    [ -z "${3:-}" ] || printf '%s\n' "$3" >>"$dir/node$n.yaml"
  done
}

wait_cluster() { # PORT: until that node sees three members up, none of them still syncing
  local i doc
  for i in $(seq 50); do
    # A member that is still catching up from its peers coordinates nothing: a write sent to a
    # node that sees every member of the key's replica set syncing gets 503 (degraded).
    doc="$(curl -s "http://127.0.0.1:$1/admin/cluster")"
    case "$doc" in
    *'"nodes_up":3'*'"status":"healthy"'* | *'"status":"healthy"'*'"nodes_up":3'*)
      case "$doc" in *'"state":"syncing"'*) ;; *) return 0 ;; esac
      ;;
    esac
    sleep 0.2
  done
  log "  node on $1 does not see 3 members up and synced yet (going on)"
}

# Version 1, the release the issue's "before" figures were measured on: the last commit before
# the version-2 work began.
V1_COMMIT="${V1_COMMIT:-4393800}"

# Where version 1's sources go: outside this workspace (cargo would take them for a member).
V1_SRC="${TMPDIR:-/tmp}/dcache-v1-$V1_COMMIT"

# Build version 1's cache-node from this repository's history (once; TARGET/v1) and print its
# path; its sources (configs included) stay in V1_SRC. Fails without the history.
build_v1() {
  local src="$V1_SRC" out="$TARGET/v1"
  if [ ! -x "$out/release/cache-node" ] || [ ! -d "$src/config" ]; then
    git -C "$ROOT" cat-file -e "$V1_COMMIT^{commit}" 2>/dev/null || return 1
    rm -rf "$src" && mkdir -p "$src" || return 1
    git -C "$ROOT" archive "$V1_COMMIT" | tar -x -C "$src" || return 1
    (cd "$src" && CARGO_TARGET_DIR="$out" cargo build --release --bin cache-node -q) >&2 || return 1
  fi
  echo "$out/release/cache-node"
}

scenario_colocated() {
  local name base n pids all_cpus="0-$(($(nproc) - 1))" v=0 names="shipped pinned threads1 batch" bin
  if [ -x "${V1_BIN:-}" ]; then
    names="v1 $names"
  else
    log "colocated: no version 1 build ($V1_COMMIT not in this clone's history?): no same-run before row"
  fi
  # Version 1 as shipped then, shipped as is, then with one setting changed on each node: all
  # clusters up at once, rows interleaved.
  for name in $names; do
    base=$((P_COLO + v * 3)) bin="$NODE_BIN"
    case "$name" in
      v1) shipped_configs colo-v1 "$base" "" "$V1_SRC/config" && bin="$V1_BIN" ;;
      shipped) shipped_configs colo-shipped "$base" ;;
      pinned) shipped_configs colo-pinned "$base" "pin_threads: true" ;;
      batch) shipped_configs colo-batch "$base" "worker_scheduling: batch" ;;
      *) shipped_configs colo-threads1 "$base" "threads: 1" ;;
    esac
    pids=()
    for n in 1 2 3; do
      # All CPUs allowed: the nodes pin themselves, as they would when a user starts them.
      start "colo-$name-$n" "$all_cpus" "$bin" --config "$OUT/colo-$name/node$n.yaml"
      pids+=("$LAST_PID")
    done
    for n in 0 1 2; do wait_http "http://127.0.0.1:$((base + n))/api/v1/health"; done
    wait_cluster "$base"
    preload "127.0.0.1:$base" "$COLO_KEYS"
    local cmp=- label
    case "$name" in
      v1) label="3 nodes, version 1 ($V1_COMMIT) with its shipped configs: GET, $COLO_KEYS keys uniform via node 1" ;;
      shipped)
        label="3 nodes, shipped configs (threads: 0, pin_threads: auto): GET, $COLO_KEYS keys uniform via node 1"
        [ -z "${V1_BIN:-}" ] || cmp=colo_v1 ;;
      pinned)
        label="3 nodes, shipped configs + pin_threads: true: GET, $COLO_KEYS keys uniform via node 1"
        cmp=colo_shipped ;;
      batch)
        label="3 nodes, shipped configs + worker_scheduling: batch (opt-in): GET, $COLO_KEYS keys uniform via node 1"
        cmp=colo_shipped ;;
      *)
        label="3 nodes, shipped configs + threads: 1: GET, $COLO_KEYS keys uniform via node 1"
        cmp=colo_shipped ;;
    esac
    qrow "colo_$name" colocated "$label" wrk "$cmp" 0 "${pids[*]}" -- \
      "$WRK -d\${D}s -s $LUA/get_keys.lua http://127.0.0.1:$base -- $COLO_KEYS uniform"
    v=$((v + 1))
  done
  grep -h "members of the cluster run on this host" "$OUT"/logs/colo-*.log >"$OUT/colocated.txt" 2>/dev/null || true
  run_queued
  stop_all
}

scenario_hop() {
  if [ -x "${HOP_BIN:-}" ]; then
    log "hop: bench/hop.rs (BENCH_SAMPLES=$RUNS)"
    BENCH_SAMPLES="$RUNS" "$HOP_BIN" --bench >"$OUT/hop.txt" 2>&1 || log "  hop bench failed (see hop.txt)"
  else
    log "hop: no bench/hop.rs binary (SKIP_BUILD without one): skipped"
  fi
  if [ -x "${IDLE_HOP_BIN:-}" ]; then
    log "hop: bench/idle_hop.rs (a GET's hop on a quiet node, idle_poll brief and always)"
    "$IDLE_HOP_BIN" --bench >"$OUT/idle_hop.txt" 2>&1 || log "  idle_hop bench failed (see idle_hop.txt)"
  fi
  if [ -x "${WAKE_BIN:-}" ]; then
    log "hop: bench/wake.rs (waking a sleeping thread: futex, eventfd, a message through io_uring)"
    "$WAKE_BIN" --bench >"$OUT/wake.txt" 2>&1 || log "  wake bench failed (see wake.txt)"
  fi
  local one two cfg
  cfg="$(node_config hop-t1 "$P_HOP" 1 auto)"
  start_node hop-t1 "$SERVER_CPU" "$cfg"
  one=$LAST_PID
  cfg="$(node_config hop-t2 "$((P_HOP + 1))" 2 auto)"
  start_node hop-t2 "$HOP_CPUS" "$cfg"
  two=$LAST_PID
  # The split without the hop: two threads: 1 nodes, each on the CPU of one of the threads: 2
  # node's workers (HOP_CPUS' first two; its only one twice), each holding every key, the
  # connections dealt between them by cache-client bench. Against it, threads: 2 costs only
  # its hops; against threads: 1 it costs its load split over two CPUs (one shared with the
  # generator when HOP_CPUS includes CLIENT_CPU): smaller batches per wake-up, more parks.
  local cpus split=() nodes="" i
  mapfile -t cpus < <(cpu_list "$HOP_CPUS")
  for i in 0 1; do
    cfg="$(node_config "hop-split$i" "$((P_HOP + 2 + i))" 1 auto)"
    start_node "hop-split$i" "${cpus[$((i < ${#cpus[@]} ? i : 0))]}" "$cfg"
    split+=("$LAST_PID")
    nodes="$nodes${nodes:+,}127.0.0.1:$((P_HOP + 2 + i))"
  done
  for i in 0 1 2 3; do
    wait_http "http://127.0.0.1:$((P_HOP + i))/api/v1/health"
    preload "127.0.0.1:$((P_HOP + i))" "$KEYS"
  done
  qrow hop_t1 hop "ours, threads: 1 (CPU $SERVER_CPU): GET, $KEYS keys uniform" wrk - 0 "$one" -- \
    "$WRK -d\${D}s -s $LUA/get_keys.lua http://127.0.0.1:$P_HOP -- $KEYS uniform"
  qrow hop_t2 hop "ours, threads: 2 (CPUs $HOP_CPUS, half the keys hop): GET, $KEYS keys uniform" wrk hop_t1 0 "$two" -- \
    "$WRK -d\${D}s -s $LUA/get_keys.lua http://127.0.0.1:$((P_HOP + 1)) -- $KEYS uniform"
  # wrk talks to one address, so the split is measured with cache-client bench, and threads: 1
  # and 2 again with it: the three ratios then share one generator. Its epoll driver, so the
  # requests arrive spread out as wrk's do (its io_uring driver sends each round's requests in
  # one submission, and the servers' batches grow with it).
  local cc="taskset -c $CLIENT_CPU $CLIENT_BIN"
  local args="bench -c $CONNS -t $CLIENT_THREADS --keys $KEYS --driver epoll --json -q -d \${D}s"
  qrow hop_t1_cc hop "ours, threads: 1 (CPU $SERVER_CPU): the same, cache-client bench" cc - 0 "$one" -- \
    "$cc --nodes 127.0.0.1:$P_HOP $args"
  qrow hop_t2_cc hop "ours, threads: 2 (CPUs $HOP_CPUS): the same, cache-client bench" cc hop_t1_cc 0 "$two" -- \
    "$cc --nodes 127.0.0.1:$((P_HOP + 1)) $args"
  qrow hop_split_cc hop "two threads: 1 nodes placed as its workers, the connections dealt between them, no hop" \
    cc hop_t1_cc 0 "${split[*]}" -- "$cc --nodes $nodes $args"
  run_queued
  stop_all
}

# The one key of the zipf group's hot-key rows: every request of those rows reads it.
HOT_KEY="bench:hot"

# not_owner BASE ID_PREFIX KEY -> the port of a node of the 3-node cluster on BASE..BASE+2
# (node ids ID_PREFIX1..3) that does not own KEY, after writing KEY through BASE: the node the
# hot-key rows read it through, so that without copies every read is a forward.
not_owner() {
  local base="$1" prefix="$2" key="$3" owner
  put_hit_key "$base" "/api/v1/cache/$key"
  owner="$(curl -sfi "http://127.0.0.1:$base/api/v1/cache/$key" | tr -d '\r' |
    awk -F': ' 'tolower($1) == "x-cache-node" {print $2}')"
  case "$owner" in
    "${prefix}1" | "${prefix}2" | "${prefix}3") echo $((base + ${owner#"$prefix"} % 3)) ;;
    *) die "GET $key through 127.0.0.1:$base named no node of ${prefix}1..3 (X-Cache-Node: '$owner')" ;;
  esac
}

scenario_zipf() {
  local on i port base pids nodes cfg members v=0
  for on in false true; do
    base=$((P_ZIPF + v * 3))
    members="hot_keys:
  enabled: $on${HOT_MIN_READS:+
  min_reads_per_sec: $HOT_MIN_READS}
cluster_nodes:
  z${v}n1: \"127.0.0.1:$base\"
  z${v}n2: \"127.0.0.1:$((base + 1))\"
  z${v}n3: \"127.0.0.1:$((base + 2))\""
    pids=() nodes=""
    for i in 1 2 3; do
      port=$((base + i - 1))
      cfg="$(node_config "z${v}n$i" "$port" 1 auto "$members")"
      start_node "z${v}n$i" "$SERVER_CPU" "$cfg"
      pids+=("$LAST_PID")
      nodes="$nodes${nodes:+,}127.0.0.1:$port"
    done
    for i in 0 1 2; do wait_http "http://127.0.0.1:$((base + i))/api/v1/health"; done
    wait_cluster "$base"
    preload "127.0.0.1:$base" "$KEYS"
    local cmp=- label="hot_keys off" hot_cmp=- via
    [ "$on" = false ] || { cmp=zipf_off; label="hot_keys on"; hot_cmp=zipf_hot_off; }
    qrow "zipf_${label##* }" zipf "3 nodes on one CPU, $label: GET, $KEYS keys Zipf $ZIPF_S via all 3 (cache-client bench)" \
      cc "$cmp" 0 "${pids[*]}" -- \
      "taskset -c $CLIENT_CPU $CLIENT_BIN --nodes $nodes bench -c $CONNS -t $CLIENT_THREADS --keys $KEYS --dist zipf --zipf-s $ZIPF_S --json -q -d \${D}s"
    via="$(not_owner "$base" "z${v}n" "$HOT_KEY")"
    qrow "zipf_hot_${label##* }" zipf "3 nodes on one CPU, $label: GET of one key through a node that does not own it (cache-client bench)" \
      cc "$hot_cmp" 0 "${pids[*]}" -- \
      "taskset -c $CLIENT_CPU $CLIENT_BIN --nodes 127.0.0.1:$via bench -c $CONNS -t $CLIENT_THREADS --key $HOT_KEY --json -q -d \${D}s"
    v=$((v + 1))
  done
  run_queued
  for i in $(seq 0 5); do
    curl -s "http://127.0.0.1:$((P_ZIPF + i))/admin/metrics" | grep -E '^cache_hot' >"$OUT/raw/zipf_metrics_$i.txt" || true
  done
  stop_all
}
