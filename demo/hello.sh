#!/bin/sh
echo "hello from a dockyard container"
echo "  hostname: $(hostname)"
echo "  pid:      $$ (PID 1 is $(cat /proc/1/comm))"
echo "  user:     $(id)"
echo "  workdir:  $(pwd)"
echo "  kernel:   $(uname -sr)"
echo "  memory:   $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"
