// Attaches empty programs, prints "ready" and waits for SIGINT/SIGTERM: the floor that any
// collector on the same tracepoints pays.
// Usage: cgscope_empty_tracer [sched] [block] [filemap] [--tp NAME]... [--fexit NAME]...
//   sched, block, filemap: the CPU, I/O and page-cache collectors' tracepoints (default: all
//   three when nothing is named); --tp NAME: tp_btf on tracepoint NAME (module tracepoints
//   too); --fexit NAME: fexit on kernel function NAME.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

#include "empty.skel.h"

namespace {

void disable_all(empty_bpf* skel) {
  bpf_program* p = nullptr;
  bpf_object__for_each_program(p, skel->obj) bpf_program__set_autoload(p, false);
}

// The next unused copy of empty_tpNM (N 0-5, M 0-7: 48) or empty_fexitN (4) of empty.bpf.c.
bpf_program* next_copy(empty_bpf* skel, bool fexit, int& used) {
  char name[32];
  if (fexit)
    std::snprintf(name, sizeof(name), "empty_fexit%d", used);
  else
    std::snprintf(name, sizeof(name), "empty_tp%d%d", used / 8, used % 8);
  ++used;
  return bpf_object__find_program_by_name(skel->obj, name);
}

}  // namespace

int main(int argc, char** argv) {
  bool sched = false, block = false, filemap = false;
  std::vector<std::pair<bool, std::string>> targets;  // (fexit, name)
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "sched") == 0) sched = true;
    else if (std::strcmp(argv[i], "block") == 0) block = true;
    else if (std::strcmp(argv[i], "filemap") == 0) filemap = true;
    else if ((std::strcmp(argv[i], "--tp") == 0 || std::strcmp(argv[i], "--fexit") == 0) && i + 1 < argc) {
      targets.emplace_back(argv[i][2] == 'f', argv[i + 1]);
      ++i;
    } else {
      std::fprintf(stderr, "usage: %s [sched] [block] [filemap] [--tp NAME]... [--fexit NAME]...\n", argv[0]);
      return 2;
    }
  }
  if (!sched && !block && !filemap && targets.empty()) sched = block = filemap = true;

  empty_bpf* skel = empty_bpf__open();
  if (!skel) {
    std::fprintf(stderr, "empty_tracer: cannot open the BPF object\n");
    return 1;
  }
  disable_all(skel);
  for (bpf_program* p : {skel->progs.empty_switch, skel->progs.empty_wakeup, skel->progs.empty_wakeup_new})
    bpf_program__set_autoload(p, sched);
  for (bpf_program* p : {skel->progs.empty_io_start, skel->progs.empty_rq_issue, skel->progs.empty_rq_complete})
    bpf_program__set_autoload(p, block);
  bpf_program__set_autoload(skel->progs.empty_get_pages, filemap);
  int tps = 0, fexits = 0;
  for (const auto& [fexit, name] : targets) {
    bpf_program* p = next_copy(skel, fexit, fexit ? fexits : tps);
    if (!p) {
      std::fprintf(stderr, "empty_tracer: more %s targets than empty.bpf.c has programs for\n",
                   fexit ? "fexit" : "tp_btf");
      empty_bpf__destroy(skel);
      return 2;
    }
    bpf_program__set_autoload(p, true);
    if (bpf_program__set_attach_target(p, 0, name.c_str()) != 0) {
      std::fprintf(stderr, "empty_tracer: no %s target %s\n", fexit ? "fexit" : "tp_btf", name.c_str());
      empty_bpf__destroy(skel);
      return 1;
    }
  }
  if (empty_bpf__load(skel) != 0 || empty_bpf__attach(skel) != 0) {
    std::fprintf(stderr,
                 "empty_tracer: cannot load or attach (need root and a BTF kernel; does it have every "
                 "tracepoint and function named?)\n");
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
