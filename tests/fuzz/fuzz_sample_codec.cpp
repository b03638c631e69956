// libFuzzer target: the records of a recording file (model/sample_codec), as a corrupted or
// hostile file would present them. Whatever decodes is encoded again (no crash, no UB).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "model/sample_codec.hpp"

using namespace cgscope::model;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string again;
  switch (data[0] % 3) {
    case 0: {
      CgroupSample base, out;
      if (codec::decode_cgroup(in, base, out).ok()) codec::encode_cgroup(out, base, again);
      break;
    }
    case 1: {
      Sample base, out;
      if (codec::decode_sample_info(in, base, out).ok()) codec::encode_sample_info(out, base, again);
      break;
    }
    default: {
      CgroupIdentity out;
      if (codec::decode_identity(in, out).ok()) codec::encode_identity(out, again);
      break;
    }
  }
  return 0;
}
