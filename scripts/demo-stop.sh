#!/usr/bin/env bash
source "$(dirname "$0")/common.sh"
stop_cluster "$ROOT/target/demo"
log "demo cluster stopped"
