#!/usr/bin/env bash
# The Kafka client comparison of issue #2, on the broker at $KAFKA_BROKERS (default: the local one,
# started if needed). Each client runs RUNS times on a fresh topic; then kafka-producer-perf-test
# with the same records and settings gives the broker's own ceiling. JSON lines go to
# bench/results/clients-<time>.jsonl. Usage: bench/clients/run.sh   (RECORDS, RUNS to override)
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
export PATH="$root/node_modules/.bin:$PATH"
export RECORDS=${RECORDS:-2000000} KAFKA_BROKERS=${KAFKA_BROKERS:-127.0.0.1:9092}
runs=${RUNS:-3}
[ -d node_modules/@confluentinc/kafka-javascript ] || ./install.sh
if [ "$KAFKA_BROKERS" = 127.0.0.1:9092 ]; then node "$root/bin/ws2kafka.js" kafka start; fi
mkdir -p "$root/bench/results"
out="$root/bench/results/clients-$(date -u +%Y%m%dT%H%M%SZ).jsonl"

for i in $(seq "$runs"); do
  node platformatic.ts | tee -a "$out"
  node confluent.ts | tee -a "$out"
done

libs=$(ls -d "${WS2KAFKA_HOME:-$HOME/.cache/ws2kafka}"/kafka/4.*/libs | sort -V | tail -1)
payloads=$(mktemp)
node payloads.ts "$payloads"
for i in $(seq "$runs"); do
  topic=bench-perftest-$(date +%s%N)
  java -cp "$libs/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BROKERS" --create --topic "$topic" --partitions 6 --replication-factor 1 >/dev/null
  log=$(mktemp)
  /usr/bin/time -f 'TIME %e %U %S %M' -o "$log.time" \
    java -Xmx1g -cp "$libs/*" org.apache.kafka.tools.ProducerPerformance --topic "$topic" --num-records "$RECORDS" \
      --payload-file "$payloads" --record-key-range 500 --key-distribution random --throughput -1 \
      --producer-props bootstrap.servers="$KAFKA_BROKERS" acks=all enable.idempotence=true compression.type=lz4 linger.ms=5 batch.size=262144 >"$log"
  summary=$(grep 'records sent' "$log" | tail -1)
  read -r _ wall user sys rss <"$log.time"
  node -e '
    const [summary, wall, user, sys, rss, records] = process.argv.slice(1);
    const rate = Number(/([\d.]+) records\/sec/.exec(summary)[1]);
    console.log(JSON.stringify({ client: "kafka-producer-perf-test (Java, linger 5 ms, batch 256 KiB)", records: Number(records),
      recordsPerS: Math.round(rate), cpuSeconds: Math.round((Number(user) + Number(sys)) * 100) / 100,
      peakRssMb: Math.round(Number(rss) / 1024), wallSeconds: Number(wall), summary }));
  ' "$summary" "$wall" "$user" "$sys" "$rss" "$RECORDS" | tee -a "$out"
  rm -f "$log" "$log.time"
done
rm -f "$payloads"
echo "results: $out"
