#!/usr/bin/env bash
source "$(dirname "$0")/common.sh"
stop_cluster "$TARGET/demo"
log "demo cluster stopped"
