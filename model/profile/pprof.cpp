#include "model/profile/pprof.hpp"

#include <zlib.h>

#include <map>
#include <tuple>
#include <unordered_map>

#include "profile.pb.h"

namespace cgscope::model {
namespace {

namespace pb = perftools::profiles;

// The string table: index 0 is "" as the format requires.
class Strings {
 public:
  explicit Strings(pb::Profile& p) : p_(p) { index(""); }
  std::int64_t index(const std::string& s) {
    auto [it, inserted] = ids_.try_emplace(s, static_cast<std::int64_t>(ids_.size()));
    if (inserted) p_.add_string_table(s);
    return it->second;
  }

 private:
  pb::Profile& p_;
  std::unordered_map<std::string, std::int64_t> ids_;
};

}  // namespace

Result<std::string> to_pprof(const Profile& profile) {
  pb::Profile out;
  Strings strings(out);

  for (const auto& t : profile.sample_types) {
    auto* vt = out.add_sample_type();
    vt->set_type(strings.index(t.type));
    vt->set_unit(strings.index(t.unit));
  }
  if (profile.default_value < profile.sample_types.size())
    out.set_default_sample_type(strings.index(profile.sample_types[profile.default_value].type));
  out.mutable_period_type()->set_type(strings.index(profile.period_type.type));
  out.mutable_period_type()->set_unit(strings.index(profile.period_type.unit));
  out.set_period(profile.period);
  out.set_time_nanos(profile.time_nanos);
  out.set_duration_nanos(profile.duration_nanos);
  for (const auto& c : profile.comments) out.add_comment(strings.index(c));

  // Mappings: one per binary (or pseudo mapping such as "[anon]"), keyed by name + build id.
  std::map<std::pair<std::string, std::string>, pb::Mapping*> mappings;
  std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> functions;
  for (std::size_t i = 0; i < profile.frames.size(); ++i) {
    const ProfileFrame& f = profile.frames[i];
    std::uint64_t mapping_id = 0;
    if (!f.module.empty()) {
      auto& m = mappings[{f.module, f.build_id}];
      if (!m) {
        m = out.add_mapping();
        m->set_id(static_cast<std::uint64_t>(out.mapping_size()));
        m->set_filename(strings.index(f.module));
        if (!f.build_id.empty()) m->set_build_id(strings.index(f.build_id));
        m->set_has_functions(true);
      }
      if (!f.file.empty()) m->set_has_filenames(true);
      if (f.line != 0) m->set_has_line_numbers(true);
      mapping_id = m->id();
    }
    const std::string& system = f.system_name.empty() ? f.function : f.system_name;
    auto [fit, inserted] = functions.try_emplace({f.function, system, f.file}, 0);
    if (inserted) {
      auto* fn = out.add_function();
      fn->set_id(static_cast<std::uint64_t>(out.function_size()));
      fn->set_name(strings.index(f.function));
      fn->set_system_name(strings.index(system));
      if (!f.file.empty()) fn->set_filename(strings.index(f.file));
      fit->second = fn->id();
    }
    auto* loc = out.add_location();
    loc->set_id(i + 1);  // frame index + 1: ids must be non-zero
    loc->set_mapping_id(mapping_id);
    loc->set_address(f.address);
    auto* line = loc->add_line();
    line->set_function_id(fit->second);
    line->set_line(f.line);
  }

  const std::int64_t k_cgroup = strings.index("cgroup"), k_container = strings.index("container"),
                     k_comm = strings.index("comm"), k_pid = strings.index("pid"),
                     k_unwind = strings.index("unwind");
  for (const auto& s : profile.samples) {
    if (s.values.size() != profile.sample_types.size())
      return Error{"pprof: a sample has " + std::to_string(s.values.size()) + " values for " +
                   std::to_string(profile.sample_types.size()) + " sample types"};
    auto* ps = out.add_sample();
    for (std::uint32_t f : s.frames) {
      if (f >= profile.frames.size()) return Error{"pprof: a sample refers to a frame that does not exist"};
      ps->add_location_id(f + 1);
    }
    for (std::int64_t v : s.values) ps->add_value(v);
    auto label = [&](std::int64_t key, const std::string& value) {
      if (value.empty()) return;
      auto* l = ps->add_label();
      l->set_key(key);
      l->set_str(strings.index(value));
    };
    label(k_cgroup, s.cgroup);
    label(k_container, s.container);
    label(k_comm, s.comm);
    label(k_unwind, s.unwind);
    auto* pid = ps->add_label();
    pid->set_key(k_pid);
    pid->set_num(s.pid);
  }

  std::string bytes;
  if (!out.SerializeToString(&bytes)) return Error{"pprof: serializing the profile failed"};
  return gzip_compress(bytes);
}

Result<std::string> gzip_compress(std::string_view data) {
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer instead of a zlib one (pprof reads gzip).
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return Error{"gzip: deflateInit2 failed"};
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  const std::size_t written = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return Error{"gzip: deflate did not finish (" + std::to_string(rc) + ")"};
  out.resize(written);
  return out;
}

Result<std::string> gzip_decompress(std::string_view data) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) return Error{"gunzip: inflateInit2 failed"};  // +32: gzip or zlib
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[65536];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;  // truncated input
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) return Error{"gunzip: the data is not a complete gzip stream"};
  return out;
}

}  // namespace cgscope::model
