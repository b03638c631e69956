#include "collector/profile/symbolize/symbolizer.hpp"

#include <cxxabi.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "collector/profile/profile.h"

namespace cgscope::collector {
namespace {

constexpr std::size_t kMaxErrors = 5;
constexpr int kEexist = 17, kEnomem = 12;

std::string demangle(const char* name) {
  if (name[0] == '_' && name[1] == 'Z') {
    int status = 0;
    char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
    if (status == 0 && d) {
      std::string s(d);
      std::free(d);
      return s;
    }
    std::free(d);
  }
  return name;
}

// Where threads start: a user stack that reaches one of these is complete; one that stops
// before is short (code without frame pointers broke the walk). main counts: callers of main
// are libc internals that are often built without frame pointers.
bool is_thread_entry(std::string_view fn) {
  static const std::unordered_set<std::string_view> kEntries = {"_start",
                                                                "__libc_start_main",
                                                                "__libc_start_call_main",
                                                                "main",
                                                                "start_thread",
                                                                "clone",
                                                                "clone3",
                                                                "__clone",
                                                                "__clone3",
                                                                "__clone_internal",
                                                                "thread_start",
                                                                "_dl_start_user",
                                                                "_dl_start"};
  return kEntries.contains(fn);
}

std::string read_file(const std::string& path, bool* ok) {
  std::ifstream f(path);
  *ok = static_cast<bool>(f);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string fmt_unknown(const std::string& module, std::uint64_t function_start) {
  char hex[24];
  std::snprintf(hex, sizeof hex, "+0x%llx", static_cast<unsigned long long>(function_start));
  return "[unknown] (" + module + hex + ")";
}

model::ProfileFrame lost_frame(const char* what, int err) {
  model::ProfileFrame f;
  f.kind = model::FrameKind::kLost;
  f.function = std::string("[") + what +
               " stack lost: " + (err == -kEexist ? "stack map hash collision" : "stack map full") + "]";
  return f;
}

}  // namespace

Result<std::unique_ptr<Symbolizer>> Symbolizer::create(const SymbolizerOptions& options) {
  std::unique_ptr<Symbolizer> s(new Symbolizer(options));
  if (!options.kallsyms_path.empty()) {
    auto k = KernelSymbols::load(options.kallsyms_path);
    if (k)
      s->kernel_ = std::move(*k);
    else
      s->stats_.kernel_symbols_error = k.error();  // kernel frames stay unnamed, said so
  }
  return s;
}

Symbolizer::~Symbolizer() = default;

void Symbolizer::note_error(std::string e) {
  if (stats_.errors.size() < kMaxErrors) stats_.errors.push_back(std::move(e));
}

const ElfModule* Symbolizer::module_for(std::uint32_t tgid, const Mapping& m) {
  const std::string pid_dir = options_.proc_root + "/" + std::to_string(tgid);
  // The file the process mapped: through its root (containers), checked by inode; else the
  // kernel's link to the mapped file itself (also works for deleted or replaced files).
  std::string path = pid_dir + "/root" + m.path;
  struct stat st {};
  bool found = stat(path.c_str(), &st) == 0;
  if (!found || st.st_ino != m.inode) {
    char range[64];
    std::snprintf(range, sizeof range, "/map_files/%llx-%llx", static_cast<unsigned long long>(m.start),
                  static_cast<unsigned long long>(m.end));
    struct stat mst {};
    if (stat((pid_dir + range).c_str(), &mst) == 0) {
      path = pid_dir + range;
      st = mst;
      found = true;
    }
  }
  if (!found) {
    ++stats_.module_errors;
    note_error("cannot open " + m.path + " of process " + std::to_string(tgid) + ": " + std::strerror(errno));
    return nullptr;
  }
  const auto identity =
      std::make_tuple(static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                      static_cast<std::int64_t>(st.st_size),
                      static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec);
  if (auto it = by_file_.find(identity); it != by_file_.end()) return it->second;

  // Separate debuginfo: the host's, and for a process in another root (a container) its own.
  std::string debuginfo;
  struct stat root_st {
  }, our_root{};
  if (stat((pid_dir + "/root").c_str(), &root_st) == 0 && stat("/", &our_root) == 0 &&
      (root_st.st_dev != our_root.st_dev || root_st.st_ino != our_root.st_ino))
    debuginfo = ":.debug:/usr/lib/debug:" + pid_dir + "/root/usr/lib/debug";
  auto opened = ElfModule::open(path, m.path, debuginfo);
  if (!opened) {
    ++stats_.module_errors;
    note_error(opened.error());
    by_file_[identity] = nullptr;  // do not retry for every process mapping it
    return nullptr;
  }
  std::unique_ptr<ElfModule> module = std::move(*opened);
  ++stats_.modules_opened;
  const ElfModule* out = module.get();
  if (!module->build_id().empty()) {
    auto [it, inserted] = modules_by_build_id_.try_emplace(module->build_id(), nullptr);
    if (inserted) {
      it->second = std::move(module);
    } else {
      ++stats_.module_build_id_hits;  // same binary under another path or in another container
    }
    out = it->second.get();
  } else {
    modules_without_build_id_.push_back(std::move(module));
  }
  by_file_[identity] = out;
  return out;
}

bool Symbolizer::read_maps(std::uint32_t tgid, AddressSpace& space) {
  bool ok = false;
  const std::string text = read_file(options_.proc_root + "/" + std::to_string(tgid) + "/maps", &ok);
  if (!ok || text.empty()) return false;
  space.regions.clear();
  for (const Mapping& m : parse_proc_maps(text)) {
    if (!m.executable) continue;
    const ElfModule* module = m.is_file() ? module_for(tgid, m) : nullptr;
    space.regions.push_back({m.start, m.end, m.offset, module, mapping_display_name(m)});
  }
  std::sort(space.regions.begin(), space.regions.end(),
            [](const Region& a, const Region& b) { return a.start < b.start; });
  space.read_at = std::chrono::steady_clock::now();
  return true;
}

void Symbolizer::add_process(std::uint32_t tgid, std::uint32_t instance) {
  const std::uint64_t key = (static_cast<std::uint64_t>(tgid) << 32) | instance;
  if (spaces_.contains(key)) return;
  AddressSpace space;
  if (!read_maps(tgid, space)) {
    ++stats_.processes_gone;
    return;
  }
  // A process in a PID namespace names its perf map by the PID it sees: the last of NSpid.
  const std::string pid_dir = options_.proc_root + "/" + std::to_string(tgid);
  bool ok = false;
  std::string own_pid = std::to_string(tgid);
  const std::string status = read_file(pid_dir + "/status", &ok);
  if (const auto at = status.find("\nNSpid:"); ok && at != std::string::npos) {
    const auto eol = status.find('\n', at + 1);
    const std::string line = status.substr(at + 7, eol == std::string::npos ? std::string::npos : eol - at - 7);
    const auto last = line.find_last_of(" \t");
    if (last != std::string::npos && last + 1 < line.size()) own_pid = line.substr(last + 1);
  }
  space.perf_map_path = pid_dir + "/root/tmp/perf-" + own_pid + ".map";
  read_perf_map(space);
  ++stats_.processes;
  spaces_.emplace(key, std::move(space));
}

void Symbolizer::read_perf_map(AddressSpace& space) {
  std::ifstream f(space.perf_map_path, std::ios::binary);
  if (!f) return;  // no JIT, or not one that writes a perf map
  f.seekg(static_cast<std::streamoff>(space.perf_map_read));
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (text.empty()) return;
  const std::size_t before = space.jit.size();
  if (space.perf_map_read == 0) ++stats_.perf_maps;
  space.perf_map_read += space.jit.add(text);
  stats_.jit_symbols += space.jit.size() >= before ? space.jit.size() - before : 0;
}

void Symbolizer::refresh() {
  std::unordered_set<const ElfModule*> mapped;
  for (auto& [key, space] : spaces_) {
    const std::string pid_dir = options_.proc_root + "/" + std::to_string(key >> 32);
    if (access(pid_dir.c_str(), F_OK) != 0) continue;  // exited
    read_perf_map(space);
    for (const Region& r : space.regions)
      if (r.module) mapped.insert(r.module);
  }
  auto release = [&](const ElfModule* m) {
    if (!mapped.contains(m) && m->release_frame_rules()) ++stats_.unwind_tables_released;
  };
  for (const auto& [id, m] : modules_by_build_id_) release(m.get());
  for (const auto& m : modules_without_build_id_) release(m.get());
}

std::uint32_t Symbolizer::frame(model::Profile& p, model::ProfileFrame f) {
  std::string key = std::to_string(static_cast<int>(f.kind)) + '\x1f' + f.module + '\x1f' + f.function +
                    '\x1f' + f.file + '\x1f' + std::to_string(f.line);
  auto [it, inserted] = frame_ids_.try_emplace(std::move(key), static_cast<std::uint32_t>(p.frames.size()));
  if (inserted) p.frames.push_back(std::move(f));
  return it->second;
}

const Symbolizer::Region* Symbolizer::find_region(const AddressSpace& space, std::uint64_t ip) {
  auto it = std::upper_bound(space.regions.begin(), space.regions.end(), ip,
                             [](std::uint64_t a, const Region& r) { return a < r.start; });
  if (it != space.regions.begin() && ip < std::prev(it)->end) return &*std::prev(it);
  return nullptr;
}

UnwoundStack Symbolizer::unwind(const StackSample& sample) {
  ++stats_.unwound;
  auto sit = spaces_.find((static_cast<std::uint64_t>(sample.tgid) << 32) | sample.instance);
  if (sit == spaces_.end()) {
    ++stats_.unwind_without_maps;
    // The sampled IP alone; it is then named "[process exited before its maps were read]".
    return {{sample.regs[kDwarfRip]}, UnwindMethod::kDwarf, "maps of the process unknown"};
  }
  AddressSpace& space = sit->second;
  const auto lookup_code = [&](std::uint64_t lookup) {
    CodeAt at;
    const Region* r = find_region(space, lookup);
    if (!r) return at;
    at.mapped = true;
    if (r->module) {
      if (auto vaddr = r->module->vaddr_of_file_offset(lookup - r->start + r->offset))
        if (const auto& rules = r->module->frame_rules(*vaddr)) at.rules = &*rules;
    }
    return at;
  };
  UnwindOutcome out = unwind_stack(sample, lookup_code);
  // Code mapped since the maps were read (JIT code, a dlopen()ed library): read them again,
  // at most once a second per process, and retry.
  if (out.stop == UnwindStop::kUnmapped && std::chrono::steady_clock::now() - space.read_at > std::chrono::seconds(1)) {
    if (read_maps(sample.tgid, space)) {  // leaves the space as it was when the process is gone
      ++stats_.maps_rereads;
      out = unwind_stack(sample, lookup_code);
    } else {
      space.read_at = std::chrono::steady_clock::now();  // gone: do not try again for each sample
    }
  }
  stats_.unwind_frames += out.ips.size();
  ++stats_.unwind_stops[static_cast<int>(out.stop)];
  UnwoundStack u{std::move(out.ips), out.method, {}};
  if (out.stop != UnwindStop::kOutermost) {
    const Region* r = find_region(space, out.stop_ip);
    const std::string where = r ? (r->module ? r->module->name() : r->name) : "[unmapped]";
    ++stats_.unwind_stop_modules[where];
    u.stopped = std::string(to_string(out.stop)) + " in " + where;
  }
  return u;
}

std::uint32_t Symbolizer::user_frame(model::Profile& p, const AddressSpace* space, std::uint64_t ip,
                                     bool caller) {
  ++stats_.user_frames;
  model::ProfileFrame f;
  f.kind = model::FrameKind::kUnknown;
  const Region* region = space ? find_region(*space, ip) : nullptr;
  if (!region) {
    ++stats_.user_frames_unknown;
    f.module = space ? "[unmapped]" : "[process exited before its maps were read]";
    f.function = "[unknown] (" + f.module + ")";
    return frame(p, std::move(f));
  }
  if (!region->module) {
    if (const std::string* jit = space->jit.lookup(ip - (caller ? 1 : 0))) {
      ++stats_.jit_frames;
      f.kind = model::FrameKind::kUser;
      f.module = "[perf map]";
      f.function = *jit;
      f.address = ip;
      return frame(p, std::move(f));
    }
    ++stats_.user_frames_unknown;
    f.module = region->name;
    f.function = "[unknown] (" + region->name + ")";
    return frame(p, std::move(f));
  }
  const ElfModule& m = *region->module;
  const auto vaddr = m.vaddr_of_file_offset(ip - region->start + region->offset);
  // A return address points after the call: look up the call itself.
  const std::uint64_t lookup = vaddr ? *vaddr - (caller ? 1 : 0) : 0;
  if (vaddr) {
    auto [it, inserted] = user_cache_.try_emplace({&m, lookup}, 0);
    if (!inserted) {
      if (p.frames[it->second].kind == model::FrameKind::kUnknown) ++stats_.user_frames_unknown;
      return it->second;
    }
  }
  f.module = m.name();
  f.build_id = m.build_id();
  f.address = vaddr.value_or(0);
  const ElfModule::Function* fn = vaddr ? m.function_at(lookup) : nullptr;
  if (fn) {
    f.kind = model::FrameKind::kUser;
    f.function = demangle(fn->name);
    if (f.function != fn->name) f.system_name = fn->name;
    const auto src = m.source_line(lookup);
    if (src.file) {
      f.file = src.file;
      f.line = static_cast<std::uint32_t>(std::max(src.line, 0));
    }
  } else {
    ++stats_.user_frames_unknown;
    // No symbol (a stripped binary): its CFI still knows where the function starts, so each
    // function keeps its own frame, named by its address in the binary.
    const auto start = vaddr ? m.cfi_function_start(lookup) : std::nullopt;
    f.function = start ? fmt_unknown(region->name, *start) : "[unknown] (" + region->name + ")";
  }
  const std::uint32_t id = frame(p, std::move(f));
  if (vaddr) user_cache_[{&m, lookup}] = id;
  return id;
}

bool Symbolizer::is_bpf_machinery(std::uint64_t ip) const {
  const auto sym = kernel_ ? kernel_->lookup(ip) : std::nullopt;
  if (!sym) return false;
  return sym->module == "bpf" || sym->name.starts_with("bpf_trace_run") ||
         sym->name.starts_with("__bpf_trace_") || sym->name.starts_with("bpf_prog_");
}

std::uint32_t Symbolizer::kernel_frame(model::Profile& p, std::uint64_t ip, bool caller) {
  ++stats_.kernel_frames;
  const std::uint64_t lookup = ip - (caller ? 1 : 0);
  if (auto it = kernel_cache_.find(lookup); it != kernel_cache_.end()) return it->second;
  model::ProfileFrame f;
  f.address = ip;
  const auto sym = kernel_ ? kernel_->lookup(lookup) : std::nullopt;
  if (sym) {
    f.kind = model::FrameKind::kKernel;
    f.function = std::string(sym->name);
    f.module = sym->module.empty() ? "[kernel.kallsyms]" : "[" + std::string(sym->module) + "]";
  } else {
    ++stats_.kernel_frames_unknown;
    f.kind = model::FrameKind::kUnknown;
    f.module = "[kernel]";
    f.function = "[unknown] ([kernel])";
  }
  const std::uint32_t id = frame(p, std::move(f));
  kernel_cache_[lookup] = id;
  return id;
}

model::Profile Symbolizer::symbolize(const std::vector<RawStack>& stacks, const SymbolizeRequest& request) {
  refresh();
  model::Profile p;
  frame_ids_.clear();
  user_cache_.clear();
  kernel_cache_.clear();
  const bool on_cpu = request.mode == ProfileMode::kOnCpu;
  if (on_cpu) {
    p.sample_types = {{"samples", "count"}, {"cpu", "nanoseconds"}};
    p.default_value = 0;
    p.period_type = {"cpu", "nanoseconds"};
    p.period = static_cast<std::int64_t>(request.period_ns);
  } else {
    p.sample_types = {{"blocks", "count"}, {"off_cpu", "nanoseconds"}};
    p.default_value = 1;
    p.period_type = {"off_cpu", "nanoseconds"};
    p.period = 1;
  }
  std::unordered_map<std::uint64_t, CgroupName> names;
  p.samples.reserve(stacks.size());
  for (const RawStack& raw : stacks) {
    model::ProfileSample s;
    s.cgroup_id = raw.cgroup_id;
    auto [nit, fresh] = names.try_emplace(raw.cgroup_id);
    if (fresh && request.cgroup_name) nit->second = request.cgroup_name(raw.cgroup_id);
    s.cgroup = nit->second.path.empty() ? "cgroup#" + std::to_string(raw.cgroup_id) : nit->second.path;
    s.container = nit->second.container;
    s.comm = raw.comm;
    s.pid = raw.tgid;
    s.values = {static_cast<std::int64_t>(raw.count),
                static_cast<std::int64_t>(on_cpu ? raw.count * request.period_ns : raw.off_cpu_ns)};

    if (raw.kernel_stack_error == -kEexist || raw.kernel_stack_error == -kEnomem)
      s.frames.push_back(frame(p, lost_frame("kernel", raw.kernel_stack_error)));
    // Stacks taken from a tracepoint program (off-CPU) start inside the BPF program and its
    // dispatcher: those frames are ours, not the task's.
    std::size_t first_kernel = 0;
    while (first_kernel < raw.kernel_ips.size() && is_bpf_machinery(raw.kernel_ips[first_kernel]))
      ++first_kernel;
    for (std::size_t i = first_kernel; i < raw.kernel_ips.size(); ++i)
      s.frames.push_back(kernel_frame(p, raw.kernel_ips[i], i > first_kernel));

    if (raw.user_stack_error == -kEexist || raw.user_stack_error == -kEnomem)
      s.frames.push_back(frame(p, lost_frame("user", raw.user_stack_error)));
    if (raw.user_ips.empty() && !raw.unwind_stopped.empty()) {
      model::ProfileFrame lost;
      lost.kind = model::FrameKind::kLost;
      lost.function = "[user stack lost: " + raw.unwind_stopped + "]";
      s.frames.push_back(frame(p, std::move(lost)));
    }
    if (!raw.user_ips.empty()) {
      const std::uint64_t key = (static_cast<std::uint64_t>(raw.tgid) << 32) | raw.instance;
      auto sit = spaces_.find(key);
      const AddressSpace* space = sit == spaces_.end() ? nullptr : &sit->second;
      if (!space) stats_.samples_without_maps += raw.count;
      const std::size_t first_user = s.frames.size();
      for (std::size_t i = 0; i < raw.user_ips.size(); ++i) {
        const std::uint32_t id = user_frame(p, space, raw.user_ips[i], i > 0);
        // Runs of the same unknown frame (JIT code calling JIT code) collapse into one.
        if (s.frames.size() > first_user && s.frames.back() == id &&
            p.frames[id].kind == model::FrameKind::kUnknown)
          continue;
        s.frames.push_back(id);
      }
      stats_.user_stack_samples += raw.count;
      const model::ProfileFrame& outermost = p.frames[s.frames.back()];
      const bool unwound = raw.unwind == UnwindMethod::kDwarf || raw.unwind == UnwindMethod::kDwarfAndFp;
      if (raw.user_ips.size() >= PROFILE_MAX_STACK_DEPTH) {
        stats_.max_depth_user_stack_samples += raw.count;
      } else if (unwound ? !raw.unwind_stopped.empty()  // CFI itself marks the outermost frame
                         : outermost.kind != model::FrameKind::kUser ||
                 !is_thread_entry(outermost.system_name.empty() ? outermost.function
                                                                : outermost.system_name)) {
        stats_.short_user_stack_samples += raw.count;
        stats_.short_stack_modules[outermost.module] += raw.count;
      }
      // Where and why the unwinder stopped short shows at the root of the stack (as lost
      // stacks do), so a flame graph groups what could not be walked.
      if (!raw.unwind_stopped.empty()) {
        model::ProfileFrame stop;
        stop.kind = model::FrameKind::kLost;
        stop.function = "[unwind stopped: " + raw.unwind_stopped + "]";
        s.frames.push_back(frame(p, std::move(stop)));
      }
    }
    switch (raw.unwind) {
      case UnwindMethod::kFramePointers:
        stats_.unwind_fp_samples += raw.count;
        break;
      case UnwindMethod::kDwarf:
        stats_.unwind_dwarf_samples += raw.count;
        break;
      case UnwindMethod::kDwarfAndFp:
        stats_.unwind_joined_samples += raw.count;
        break;
      case UnwindMethod::kNone:
        break;
    }
    s.unwind = raw.unwind == UnwindMethod::kNone ? std::string() : std::string(to_string(raw.unwind));
    p.samples.push_back(std::move(s));
  }
  return p;
}

}  // namespace cgscope::collector
