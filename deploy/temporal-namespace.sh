#!/bin/sh
# One-shot: wait until the Temporal frontend answers, then make sure the namespace and the
# crew-hitl search attributes exist. Idempotent: an existing namespace is left alone, and the
# server accepts re-adding a search attribute with the same type.
set -eu

ADDRESS=${TEMPORAL_ADDRESS:-temporal:7233}
NAMESPACE=${CREW_HITL_TEMPORAL_NAMESPACE:-default}
KEYWORD_ATTRIBUTES=${KEYWORD_ATTRIBUTES:-CrewName CrewState PendingTaskId}
DATETIME_ATTRIBUTES=${DATETIME_ATTRIBUTES:-ReviewDeadline}
TRIES=${SETUP_TRIES:-90}

# retry <what> <command...>: run the command every 2s until it succeeds or TRIES run out.
retry() {
  what=$1
  shift
  n=1
  until "$@" >/dev/null 2>&1; do
    if [ "$n" -ge "$TRIES" ]; then
      echo "gave up: $what; last attempt said:" >&2
      "$@" >&2 || true
      exit 1
    fi
    n=$((n + 1))
    sleep 2
  done
  echo "ok: $what"
}

ensure_namespace() {
  temporal operator namespace describe --address "$ADDRESS" -n "$NAMESPACE" ||
    temporal operator namespace create --address "$ADDRESS" -n "$NAMESPACE"
}

# One attribute per call: older CLIs pair each --name with its own --type.
ensure_attribute() {
  temporal operator search-attribute create --address "$ADDRESS" -n "$NAMESPACE" \
    --name "$1" --type "$2"
}

retry "cluster health at $ADDRESS" temporal operator cluster health --address "$ADDRESS"
retry "namespace $NAMESPACE" ensure_namespace
for name in $KEYWORD_ATTRIBUTES; do
  retry "search attribute $name (Keyword)" ensure_attribute "$name" Keyword
done
for name in $DATETIME_ATTRIBUTES; do
  retry "search attribute $name (Datetime)" ensure_attribute "$name" Datetime
done
echo "Temporal is ready for crew-hitl"
