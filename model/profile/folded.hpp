// Folded stacks ("a;b;c 42" per line, root first): the input format of flame graph tools
// (flamegraph.pl, inferno, speedscope), and the stack rendering the SVG writer shares.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/profile/profile.hpp"
#include "model/result.hpp"

namespace cgscope::model {

// What a rendered stack element stands for; the SVG writer colours by it.
enum class StackElementKind : std::uint8_t { kCgroup, kProcess, kUser, kKernel, kUnknown, kLost };

struct StackElement {
  std::string name;
  StackElementKind kind;
};

struct StackOptions {
  bool cgroup_frame = true;   // the cgroup path as the root frame (one tower per cgroup)
  bool process_frame = true;  // then the thread name
  bool kernel_suffix = true;  // kernel frames end in "_[k]" (the flame graph tools' convention)
};

// Root first: [cgroup] [comm] user frames (outermost first) kernel frames (leaf last). Names
// are made safe for the folded format: ';' becomes ':', line breaks become spaces.
std::vector<StackElement> render_stack(const Profile& profile, const ProfileSample& sample,
                                       const StackOptions& options = {});

// One line per distinct rendered stack with the sum of Profile::default_value, sorted; samples
// whose value is 0 are left out.
std::string to_folded(const Profile& profile, const StackOptions& options = {});

struct FoldedLine {
  std::vector<std::string> frames;  // root first
  std::int64_t value = 0;
};
// Reads folded text back. Errors name the line: a missing or non-numeric count, an empty frame.
Result<std::vector<FoldedLine>> parse_folded(std::string_view text);

}  // namespace cgscope::model
