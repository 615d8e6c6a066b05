#!/usr/bin/env bash
# Apache Kafka for the platform's events (T4.4) and the tests: one KRaft node (broker and
# controller) on loopback, from Maven Central (scripts/kafka/pom.xml), cached outside the checkout
# in ~/.cache/avb-kafka keyed by the pom's hash.
#   scripts/kafka.sh install   fetch the jars (idempotent; ~1 min the first time)
#   scripts/kafka.sh up        format the storage once, start the node, wait for it (idempotent)
#   scripts/kafka.sh down      stop it
#   scripts/kafka.sh status    whether it answers
# KAFKA_PORT (9092) and KAFKA_CONTROLLER_PORT (9093) move it.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
POM="$HERE/kafka/pom.xml"
KEY="$(sha256sum "$POM" | cut -c1-10)"
CACHE="${AVB_KAFKA_CACHE:-$HOME/.cache/avb-kafka}"
DIR="$CACHE/kafka-$KEY"
LIBS="$DIR/libs"
RUN="$CACHE/run"
PORT="${KAFKA_PORT:-9092}"
CPORT="${KAFKA_CONTROLLER_PORT:-9093}"
PIDFILE="$RUN/kafka-$PORT.pid"

install_kafka() {
  if [ -f "$DIR/installed" ]; then return 0; fi
  if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless maven >/dev/null
  fi
  echo "fetching Apache Kafka from Maven Central into $DIR" >&2
  mkdir -p "$LIBS"
  mvn -q -B -f "$POM" -Dmaven.repo.local="$CACHE/m2" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIBS" >&2
  touch "$DIR/installed"
}

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

kafka_up() {
  install_kafka
  if answers; then echo "Kafka is up on 127.0.0.1:$PORT"; return 0; fi
  mkdir -p "$RUN"
  local data="$RUN/data-$PORT" props="$RUN/server-$PORT.properties"
  cat > "$props" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$data
num.partitions=3
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
  local java=(java -Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$LIBS/*")
  if [ ! -f "$data/meta.properties" ]; then
    local id
    id="$("${java[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
    "${java[@]}" kafka.tools.StorageTool format -t "$id" -c "$props" >"$RUN/format.log" 2>&1 \
      || { cat "$RUN/format.log" >&2; exit 1; }
  fi
  setsid nohup "${java[@]}" kafka.Kafka "$props" >"$RUN/kafka-$PORT.log" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  for _ in $(seq 1 120); do
    if answers; then echo "Kafka is up on 127.0.0.1:$PORT"; return 0; fi
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then break; fi
    sleep 0.5
  done
  echo "Kafka did not start; the end of its log:" >&2
  tail -30 "$RUN/kafka-$PORT.log" >&2
  exit 1
}

kafka_down() {
  if [ -f "$PIDFILE" ]; then
    local pid; pid="$(cat "$PIDFILE")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$PIDFILE"
  fi
}

case "${1:-}" in
  install) install_kafka ;;
  up) kafka_up ;;
  down) kafka_down ;;
  status) if answers; then echo "up on 127.0.0.1:$PORT"; else echo "down"; exit 1; fi ;;
  *) echo "usage: $0 install | up | down | status" >&2; exit 2 ;;
esac
