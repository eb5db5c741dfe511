# shellcheck shell=bash
# The environment of a script that runs its own pair of local emulators (scripts/local-stack.sh): its
# ports (each suite has its own, so that they can run side by side), local-stack.sh's run directory,
# the endpoints, and dummy credentials, so that a real AWS profile in the environment is never used.
# Source it, then: use_local_emulators KINESIS_PORT KINESIS_TLS_PORT DYNAMODB_PORT RUN_DIR
use_local_emulators() {
  export KINESIS_PORT="$1" KINESIS_TLS_PORT="$2" DYNAMODB_PORT="$3" LOCAL_STACK_RUN_DIR="$4"
  export KINESIS_ENDPOINT="http://127.0.0.1:$KINESIS_PORT" DYNAMODB_ENDPOINT="http://127.0.0.1:$DYNAMODB_PORT"
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1
  unset AWS_SESSION_TOKEN AWS_PROFILE
}
