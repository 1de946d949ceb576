package loader

// The flags are pinned: CI regenerates and fails when the committed outputs differ.
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -cflags "-O2 -g -Wall -Werror -mcpu=v3 -I/usr/include/x86_64-linux-gnu" -type endpoint -type service -type real -type real_counters -type reason_counters -type if_slot -type sched_state -type flow_key -type flow -type method -type sched -type flow_dir -type real_flags -type conn_counts -type persist_key -type persist xlb ../bpf/xlb.c
