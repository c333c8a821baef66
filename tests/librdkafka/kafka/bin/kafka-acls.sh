#!/usr/bin/env bash
# Apache Kafka's `kafka-acls.sh`, as far as librdkafka's tests use it (0109, 0115, 0119 call
# test_kafka_cmd("kafka-acls.sh --bootstrap-server ... --add --deny-principal ... --topic ...")),
# done with `sluice acl`, whose options are kafka-acls.sh's: --bootstrap-server and one of
# --add, --remove, --list, then the principals, hosts, operations and resources as given.
# scripts/librdkafka-tests points KAFKA_PATH at the directory above this one and SLUICE_CLI at
# the CLI. Options `sluice acl` does not know are refused by it, so a test relying on more of the
# real script fails visibly.
set -euo pipefail
sluice=${SLUICE_CLI:?SLUICE_CLI must name the sluice CLI}
action="" args=()
while [ $# -gt 0 ]; do
  case $1 in
    --add) action=add ;;
    --remove) action=remove ;;
    --list) action=list ;;
    --force) ;;
    *) args+=("$1") ;;
  esac
  shift
done
if [ -z "$action" ]; then
  echo "kafka-acls.sh (sluice shim): needs one of --add, --remove, --list" >&2
  exit 2
fi
exec "$sluice" acl "$action" "${args[@]}"
