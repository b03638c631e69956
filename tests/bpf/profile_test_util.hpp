// Helpers of the profiler's root tests: test programs started inside a test cgroup, a
// profiling run through the library (profiler + symbolizer, as the command wires them), and
// ways to read the resulting profile.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "collector/profile/profile.hpp"
#include "collector/profile/symbolize/symbolizer.hpp"
#include "model/profile/profile.hpp"
#include "model/result.hpp"
#include "tests/bpf/workload.hpp"

namespace cgscope::test {

// A program exec'd inside `cgroup` (it joins before exec), optionally pinned to a CPU.
class Program {
 public:
  static Result<std::unique_ptr<Program>> start(TestCgroup& cgroup, const std::vector<std::string>& argv,
                                                int cpu = -1);
  ~Program();  // SIGKILL + reap
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

struct ProfileRun {
  model::Profile profile;
  collector::ProfilerStats stats;
  collector::SymbolizerStats symbolizer;
  double seconds = 0;  // from before attaching to after detaching
};

// Profiles until `enough` says so (checked every 100 ms) or `max` elapsed, draining the maps
// every second as the command does. `names` maps the test cgroups' ids to their paths.
Result<ProfileRun> profile_until(const collector::ProfilerOptions& options,
                                 const std::function<bool(const collector::ProfilerStats&)>& enough,
                                 std::chrono::milliseconds max,
                                 const std::map<std::uint64_t, std::string>& names);

// The innermost user-space frame of a sample ("" if none).
std::string user_leaf(const model::Profile& p, const model::ProfileSample& s);
bool has_frame(const model::Profile& p, const model::ProfileSample& s, const std::string& function);
// Sum of value `index` of the samples matching `pred`.
std::int64_t sum_if(const model::Profile& p, const std::function<bool(const model::ProfileSample&)>& pred,
                    std::size_t index = 0);

// Output of a shell command and its exit status.
struct CommandResult {
  int status = -1;
  std::string out;
};
CommandResult run_command(const std::string& command);

std::string profile_target(bool frame_pointers = true);  // path of the test program

}  // namespace cgscope::test
