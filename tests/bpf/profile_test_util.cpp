#include "tests/bpf/profile_test_util.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace cgscope::test {

Result<std::unique_ptr<Program>> Program::start(TestCgroup& cgroup, const std::vector<std::string>& argv,
                                                int cpu) {
  int go[2];
  if (pipe2(go, O_CLOEXEC) != 0) return Error{std::string("pipe: ") + std::strerror(errno)};
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return Error{std::string("fork: ") + std::strerror(errno)};
  if (pid == 0) {
    close(go[1]);
    if (cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      sched_setaffinity(0, sizeof(set), &set);
    }
    char c;
    if (read(go[0], &c, 1) != 1) _exit(126);  // joined the cgroup: go
    execv(args[0], args.data());
    _exit(127);
  }
  close(go[0]);
  auto p = std::unique_ptr<Program>(new Program());
  p->pid_ = pid;
  if (auto s = cgroup.add(pid); !s) {
    close(go[1]);
    return Error{s.error()};
  }
  const char c = 'g';
  const bool ok = write(go[1], &c, 1) == 1;
  close(go[1]);
  if (!ok) return Error{"program did not start"};
  return p;
}

Program::~Program() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

Result<ProfileRun> profile_until(const collector::ProfilerOptions& options,
                                 const std::function<bool(const collector::ProfilerStats&)>& enough,
                                 std::chrono::milliseconds max,
                                 const std::map<std::uint64_t, std::string>& names) {
  const auto attached = std::chrono::steady_clock::now();
  auto profiler = collector::Profiler::create(options);
  if (!profiler) return Error{profiler.error()};
  auto symbolizer = collector::Symbolizer::create({});
  if (!symbolizer) return Error{symbolizer.error()};
  const std::function<void(const collector::ProcessEvent&)> on_process =
      [&](const collector::ProcessEvent& e) { (*symbolizer)->add_process(e.tgid, e.instance); };
  (*profiler)->set_unwinder([&](const collector::StackSample& s) { return (*symbolizer)->unwind(s); });
  const auto start = std::chrono::steady_clock::now();
  auto next_drain = start + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() - start < max) {
    if (auto s = (*profiler)->poll(100, on_process); !s) return Error{s.error()};
    if (enough && enough((*profiler)->stats())) break;
    if (std::chrono::steady_clock::now() >= next_drain) {  // as the command does
      next_drain += std::chrono::seconds(1);
      if (auto s = (*profiler)->drain(); !s) return Error{s.error()};
      (*symbolizer)->refresh();
    }
  }
  ProfileRun run;
  auto raw = (*profiler)->stop(on_process);
  if (!raw) return Error{raw.error()};
  // From before attaching to after detaching: nothing was counted outside this window.
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - attached).count();
  run.stats = (*profiler)->stats();
  collector::SymbolizeRequest req;
  req.mode = options.mode;
  req.period_ns = (*profiler)->period_ns();
  req.cgroup_name = [&](std::uint64_t id) {
    auto it = names.find(id);
    return collector::CgroupName{it == names.end() ? "" : it->second, ""};
  };
  run.profile = (*symbolizer)->symbolize(*raw, req);
  run.symbolizer = (*symbolizer)->stats();
  return run;
}

std::string user_leaf(const model::Profile& p, const model::ProfileSample& s) {
  for (std::uint32_t f : s.frames) {
    const auto& fr = p.frames[f];
    if (fr.kind == model::FrameKind::kKernel) continue;
    if (fr.kind == model::FrameKind::kLost && fr.function.find("kernel") != std::string::npos) continue;
    return fr.function;
  }
  return {};
}

bool has_frame(const model::Profile& p, const model::ProfileSample& s, const std::string& function) {
  for (std::uint32_t f : s.frames)
    if (p.frames[f].function == function) return true;
  return false;
}

std::int64_t sum_if(const model::Profile& p, const std::function<bool(const model::ProfileSample&)>& pred,
                    std::size_t index) {
  std::int64_t sum = 0;
  for (const auto& s : p.samples)
    if (pred(s) && index < s.values.size()) sum += s.values[index];
  return sum;
}

CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* f = popen(command.c_str(), "r");
  if (!f) return r;
  std::array<char, 4096> buf{};
  while (std::size_t n = fread(buf.data(), 1, buf.size(), f)) r.out.append(buf.data(), n);
  const int status = pclose(f);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string profile_target(bool frame_pointers) {
  return frame_pointers ? CGSCOPE_PROFILE_TARGET : CGSCOPE_PROFILE_TARGET_NOFP;
}

}  // namespace cgscope::test
