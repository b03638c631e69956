// Attaches the empty programs of empty.bpf.c, prints "ready" and waits for SIGINT/SIGTERM.
// Usage: cgscope_empty_tracer [sched] [block] [filemap]   (default: all)
#include <csignal>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <unistd.h>

#include "empty.skel.h"

int main(int argc, char** argv) {
  bool sched = argc < 2, block = argc < 2, filemap = argc < 2;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "sched") == 0) sched = true;
    else if (std::strcmp(argv[i], "block") == 0) block = true;
    else if (std::strcmp(argv[i], "filemap") == 0) filemap = true;
    else {
      std::fprintf(stderr, "usage: %s [sched] [block] [filemap]\n", argv[0]);
      return 2;
    }
  }
  empty_bpf* skel = empty_bpf__open();
  if (!skel) {
    std::fprintf(stderr, "empty_tracer: cannot open the BPF object\n");
    return 1;
  }
  for (bpf_program* p : {skel->progs.empty_switch, skel->progs.empty_wakeup, skel->progs.empty_wakeup_new})
    bpf_program__set_autoload(p, sched);
  for (bpf_program* p : {skel->progs.empty_io_start, skel->progs.empty_rq_issue, skel->progs.empty_rq_complete})
    bpf_program__set_autoload(p, block);
  bpf_program__set_autoload(skel->progs.empty_get_pages, filemap);
  if (empty_bpf__load(skel) != 0 || empty_bpf__attach(skel) != 0) {
    std::fprintf(stderr, "empty_tracer: cannot load or attach (need root and a BTF kernel)\n");
    empty_bpf__destroy(skel);
    return 1;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  std::puts("ready");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  empty_bpf__destroy(skel);
  return 0;
}
