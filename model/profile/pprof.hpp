// pprof output: the profile as a gzip-compressed perftools.profiles.Profile protobuf (the
// format `go tool pprof`, Pyroscope and Parca read). Frames are already symbolized: every
// mapping says has_functions, so readers do not try to symbolize again.
#pragma once

#include <string>
#include <string_view>

#include "model/profile/profile.hpp"
#include "model/result.hpp"

namespace cgscope::model {

// Serialized and gzipped; samples carry labels "cgroup", "container", "comm" and "pid".
Result<std::string> to_pprof(const Profile& profile);

Result<std::string> gzip_compress(std::string_view data);
Result<std::string> gzip_decompress(std::string_view data);

}  // namespace cgscope::model
