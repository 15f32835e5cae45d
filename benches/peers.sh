#!/usr/bin/env bash
# Static grading against its peers, measured in pairs on this machine.
#
# Prints figure rows (medians of pairs) and ratios; it passes or fails nothing.
# Targets and the latest figures live in docs/performance.md.
#
#   bash benches/peers.sh            # everything
#   bash benches/peers.sh strong     # one section: strong | synthetic | batch
#
# Each pair runs assay and the peer back to back, so both meet the same load.
# The peers are installed into a venv this script makes (dbt-core pinned to
# 1.11, as in the runner image). Needs python3 with venv and pip, and GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PAIRS=${PAIRS:-5}
SIZES=${SIZES:-"10 100 1000 5000"}
VENV=${ASSAY_BENCH_VENV:-$HOME/.cache/assay/bench-venv}
WORK=$(mktemp -d /tmp/assay-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ONLY=${1:-all}

say() { printf '%s\n' "$*" >&2; }

if [ ! -x "$VENV/bin/dbt-score" ] || [ ! -x "$VENV/bin/sqlfluff" ]; then
  say "== installing dbt-core 1.11, dbt-duckdb, dbt-score, sqlfluff into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'dbt-core~=1.11.0' 'dbt-duckdb' 'dbt-score' 'sqlfluff' 'sqlfluff-templater-dbt'
fi
command -v /usr/bin/time >/dev/null || { say "needs GNU time (apt-get install time)"; exit 1; }

say "== building assay (release)"
cargo build --release -q
ASSAY=$ROOT/target/release/assay

# wall seconds, CPU seconds and peak RSS (KiB) of one command, as "wall cpu rss".
# GNU time's wall figure has 10 ms steps, a fifth of a static grade: the wall
# time is read from the nanosecond clock instead (the figure then includes
# time's own fork, about a millisecond, on both sides of a pair).
measure() {
  local out start end
  out=$(mktemp)
  start=$(date +%s%N)
  /usr/bin/time -f '%e %U %S %M' -o "$out" "$@" >/dev/null 2>&1 || true
  end=$(date +%s%N)
  # A peer that finds lint exits non-zero; time then writes a line before the figures.
  tail -n 1 "$out" | awk -v ns=$((end - start)) '{printf "%.4f %.2f %s\n", ns / 1e9, $2 + $3, $4}'
  rm -f "$out"
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2] + a[NR/2+1]) / 2}'; }

PROFILES=$WORK/profiles
mkdir -p "$PROFILES"
cat > "$PROFILES/profiles.yml" <<'YML'
marketplace:
  target: bench
  outputs:
    bench:
      type: duckdb
      path: "{{ env_var('BENCH_DUCKDB', '/tmp/assay-bench.duckdb') }}"
      schema: analytics
      threads: 1
YML

# A copy of a project, so no tool writes into the repository.
stage() {
  local src=$1 dst=$2
  rm -rf "$dst"
  cp -r "$src" "$dst"
  rm -rf "$dst/target" "$dst/logs" "$dst/dbt_packages"
  cat > "$dst/.sqlfluff" <<CFG
[sqlfluff]
templater = dbt
dialect = duckdb
[sqlfluff:templater:dbt]
project_dir = $dst
profiles_dir = $PROFILES
CFG
}

dbt_parse() {
  (cd "$1" && BENCH_DUCKDB=$WORK/p.duckdb DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    "$VENV/bin/dbt" parse --no-partial-parse --profiles-dir "$PROFILES" --target-path "$1/target" -q)
}

dbt_parse_and_score() {
  dbt_parse "$1" && (cd "$1" && "$VENV/bin/dbt-score" lint --manifest "$1/target/manifest.json")
}

sqlfluff_lint() {
  (cd "$1" && BENCH_DUCKDB=$WORK/s.duckdb "$VENV/bin/sqlfluff" lint models --processes 1)
}

# pairs NAME PROJECT PEER_FN: assay then the peer, PAIRS times; prints a row.
pairs() {
  local name=$1 project=$2 peer=$3 a p
  local aw=() pw=() ac=() pc=() ar=()
  for _ in $(seq "$PAIRS"); do
    # assay is timed as its own process; the peers need a shell to chain their steps.
    read -r w c r < <(measure "$ASSAY" grade "$project" --no-exec --out "$WORK/reports" --force)
    aw+=("$w"); ac+=("$c"); ar+=("$r")
    read -r w c r < <(measure bash -c "$(declare -f dbt_parse dbt_parse_and_score sqlfluff_lint); VENV=$VENV PROFILES=$PROFILES WORK=$WORK $peer '$project'")
    pw+=("$w"); pc+=("$c")
  done
  a=$(printf '%s\n' "${aw[@]}" | median)
  p=$(printf '%s\n' "${pw[@]}" | median)
  local acpu pcpu rss
  acpu=$(printf '%s\n' "${ac[@]}" | median)
  pcpu=$(printf '%s\n' "${pc[@]}" | median)
  rss=$(printf '%s\n' "${ar[@]}" | median)
  awk -v n="$name" -v a="$a" -v p="$p" -v ac="$acpu" -v pc="$pcpu" -v r="$rss" 'BEGIN {
    printf "| %s | %.3f s (%.2f CPU-s, %.0f MiB) | %.2f s (%.2f CPU-s) | %.1fx wall, %.1fx CPU |\n",
      n, a, ac, r / 1024, p, pc, (a > 0 ? p / a : 0), (ac > 0 ? pc / ac : 0) }'
}

header() {
  echo
  echo "| case | assay grade --no-exec | peer | peer / assay |"
  echo "|---|---|---|---|"
}

if [ "$ONLY" = all ] || [ "$ONLY" = strong ]; then
  say "== the strong reference solution"
  stage "$ROOT/reference-solutions/marketplace-elt/strong" "$WORK/strong"
  header
  pairs "strong vs fresh dbt parse + dbt-score lint" "$WORK/strong" dbt_parse_and_score
  pairs "strong vs fresh dbt parse" "$WORK/strong" dbt_parse
  pairs "strong vs sqlfluff lint (dbt templater)" "$WORK/strong" sqlfluff_lint
fi

# A synthetic submission: N models in three layers over the exercise's sources,
# each with a test, and a DAG of N tasks in a chain.
synthetic() {
  local n=$1 dir=$2
  python3 - "$n" "$dir" "$ROOT/reference-solutions/marketplace-elt/strong" <<'PY'
import os, shutil, sys
n, dir, strong = int(sys.argv[1]), sys.argv[2], sys.argv[3]
shutil.rmtree(dir, ignore_errors=True)
os.makedirs(dir + "/models/staging"); os.makedirs(dir + "/models/marts"); os.makedirs(dir + "/dags")
shutil.copy(strong + "/dbt_project.yml", dir)
shutil.copy(strong + "/models/sources.yml", dir + "/models/sources.yml")
stg = max(1, n // 4)
yml = ["version: 2", "models:"]
for i in range(n):
    if i < stg:
        layer, name = "staging", "stg_part_%04d" % i
        sql = ("select order_id, buyer_id, cast(created_at as timestamp) as created_at, status\n"
               "from {{ source('marketplace', 'orders') }}\nwhere order_id %% %d = %d\n" % (stg, i))
    else:
        layer, name = "marts", "fct_part_%04d" % i
        up = "stg_part_%04d" % (i % stg)
        sql = ("with base as (\n  select order_id, buyer_id, created_at, status from {{ ref('%s') }}\n)\n"
               "select buyer_id, count(*) as orders, max(created_at) as last_order_at\n"
               "from base\nwhere status <> 'cancelled'\ngroup by buyer_id\n" % up)
    with open("%s/models/%s/%s.sql" % (dir, layer, name), "w") as f:
        f.write(sql)
    key = "order_id" if i < stg else "buyer_id"
    yml += ["  - name: " + name, "    description: part %d" % i, "    columns:",
            "      - name: " + key, "        data_tests: [not_null]"]
with open(dir + "/models/schema.yml", "w") as f:
    f.write("\n".join(yml) + "\n")
tasks = ["from datetime import datetime, timedelta", "from airflow import DAG",
         "from airflow.operators.bash import BashOperator", "",
         "with DAG('synthetic', start_date=datetime(2026, 1, 1), schedule='@daily', catchup=False,",
         "         default_args={'retries': 2, 'retry_delay': timedelta(minutes=5)}) as dag:"]
for i in range(n):
    tasks.append("    t%d = BashOperator(task_id='build_%04d', bash_command='dbt build --select fct_part_%04d')" % (i, i, i))
for i in range(1, n):
    tasks.append("    t%d >> t%d" % (i - 1, i))
with open(dir + "/dags/synthetic.py", "w") as f:
    f.write("\n".join(tasks) + "\n")
PY
}

if [ "$ONLY" = all ] || [ "$ONLY" = synthetic ]; then
  say "== synthetic projects: $SIZES models"
  header
  for n in $SIZES; do
    synthetic "$n" "$WORK/syn-$n"
    stage "$WORK/syn-$n" "$WORK/syn-$n-staged"
    pairs "$n models, $n DAG tasks vs fresh dbt parse" "$WORK/syn-$n-staged" dbt_parse
  done
fi

if [ "$ONLY" = all ] || [ "$ONLY" = batch ]; then
  say "== a static batch of 100 submissions (20 of each reference solution)"
  M=$WORK/batch.toml
  echo 'exercise = "marketplace-elt"' > "$M"
  for i in $(seq 20); do
    for s in starter weak adequate strong keyword-stuffer; do
      printf '[[submission]]\nid = "%s-%02d"\nsource = "%s"\n' "$s" "$i" "$ROOT/reference-solutions/marketplace-elt/$s" >> "$M"
    done
  done
  ws=()
  for _ in $(seq 3); do
    rm -rf "$WORK/batch"
    read -r w c r < <(measure "$ASSAY" batch "$M" --no-exec --out "$WORK/batch" --force)
    ws+=("$w $c $r")
  done
  printf '%s\n' "${ws[@]}" | sort -g | sed -n 2p | awk -v cores="$(nproc)" '{
    printf "\n| 100 static grades, `assay batch --no-exec` (%d cores) | %.2f s wall, %.2f CPU-s, %.0f MiB peak |\n", cores, $1, $2, $3 / 1024 }'
fi
