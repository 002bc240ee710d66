#!/bin/sh
cat /app/message
echo "running as $(id -un) in $(pwd) on $(uname -s), PID $$"
