#!/usr/bin/env bash
# Apache Kafka's `kafka-topics.sh`, as far as librdkafka's tests use it (test_kafka_topics() in
# its tests/test.c: --create, --alter --partitions, --delete, with --topic, --partitions,
# --replication-factor and --config), done with the `sluice` CLI. scripts/librdkafka-tests points
# KAFKA_PATH at the directory above this one and SLUICE_CLI at the CLI. Anything else is refused,
# so a test relying on more of the real script fails visibly instead of passing by accident.
set -euo pipefail
sluice=${SLUICE_CLI:?SLUICE_CLI must name the sluice CLI}
bootstrap="" action="" topic="" partitions="" replication="" configs=()
while [ $# -gt 0 ]; do
  case $1 in
    --bootstrap-server) bootstrap=$2; shift ;;
    --create|--alter|--delete) action=${1#--} ;;
    --topic) topic=$2; shift ;;
    --partitions) partitions=$2; shift ;;
    --replication-factor) replication=$2; shift ;;
    --config) configs+=("$2"); shift ;;
    *) echo "kafka-topics.sh (sluice shim): unsupported argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$bootstrap" ] || [ -z "$topic" ]; then
  echo "kafka-topics.sh (sluice shim): needs --bootstrap-server and --topic" >&2
  exit 2
fi
case $action in
  create)
    args=(topic create "$topic")
    [ -z "$partitions" ] || args+=(-p "$partitions")
    [ -z "$replication" ] || args+=(-r "$replication")
    for c in "${configs[@]}"; do args+=(-c "$c"); done
    exec "$sluice" -b "$bootstrap" "${args[@]}" ;;
  alter)
    if [ -z "$partitions" ] || [ ${#configs[@]} -gt 0 ]; then
      echo "kafka-topics.sh (sluice shim): --alter takes --partitions only" >&2
      exit 2
    fi
    exec "$sluice" -b "$bootstrap" topic add-partitions "$topic" -p "$partitions" ;;
  delete)
    exec "$sluice" -b "$bootstrap" topic delete "$topic" ;;
  *) echo "kafka-topics.sh (sluice shim): needs --create, --alter or --delete" >&2; exit 2 ;;
esac
