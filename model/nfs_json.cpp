// JSON of the NFS part of a snapshot ("nfs" in cgscope snapshot --json).
#include <unordered_map>

#include "model/json.hpp"
#include "model/nfs.hpp"
#include "model/nfs_hazards.hpp"
#include "model/snapshot.hpp"

namespace cgscope::model {
namespace {

nlohmann::json hist_json(const Log2Histogram& h) {
  return {{"p50", h.percentile(0.5)}, {"p90", h.percentile(0.9)}, {"p99", h.percentile(0.99)}, {"max", h.max()}};
}

nlohmann::json mount_json(const NfsMount& m) {
  return {{"dev", dev_name(m.dev)},
          {"sb_instance", m.sb_instance},
          {"mount_id", m.mount_id},
          {"vanished", m.vanished},
          {"mount_point", m.mount_point},
          {"export", m.server + ":" + m.export_path},
          {"fstype", m.fstype},
          {"vers", m.vers},
          {"acregmin_s", m.acregmin_s},
          {"acregmax_s", m.acregmax_s},
          {"acdirmin_s", m.acdirmin_s},
          {"acdirmax_s", m.acdirmax_s},
          {"attribute_cache", m.attribute_cache},
          {"close_to_open", m.close_to_open},
          {"lookupcache", m.lookupcache},
          {"nconnect", m.nconnect},
          {"rsize", m.rsize ? nlohmann::json(*m.rsize) : nlohmann::json()},
          {"wsize", m.wsize ? nlohmann::json(*m.wsize) : nlohmann::json()},
          {"options", m.options}};
}

}  // namespace

nlohmann::json nfs_to_json(const Snapshot& s) {
  std::unordered_map<std::uint64_t, std::string> names;
  for (const auto& cg : s.cgroups) names[cg.identity.id] = cg.identity.display_name();
  auto name = [&](std::uint64_t id) {
    auto it = names.find(id);
    return it != names.end() ? it->second : "cgroup#" + std::to_string(id);
  };
  const NfsInterval& n = s.nfs;
  nlohmann::json mounts = nlohmann::json::array();
  for (const auto& m : n.mounts) mounts.push_back(mount_json(m));

  nlohmann::json cgroups = nlohmann::json::array();
  for (const auto& c : n.cgroups) {
    nlohmann::json ops = nlohmann::json::object();
    for (std::size_t i = 0; i < kNfsOps; ++i) {
      const auto& o = c.ops[i];
      if (o.count == 0) continue;
      nlohmann::json errors = nlohmann::json::object();
      for (std::size_t e = 0; e < kNfsErrors; ++e)
        if (o.errors[e]) errors[std::string(kNfsErrorNames[e])] = o.errors[e];
      ops[std::string(to_string(static_cast<NfsOp>(i)))] = {
          {"count", o.count}, {"time_ns", o.time_ns}, {"errors", errors}, {"time_ns_hist", hist_json(o.time_ns_hist)}};
    }
    const NfsMount* m = n.mount(c.dev, c.sb_instance);
    cgroups.push_back({{"cgroup_id", c.cgroup_id},
                       {"cgroup", name(c.cgroup_id)},
                       {"dev", dev_name(c.dev)},
                       {"sb_instance", c.sb_instance},
                       {"mount_point", m ? m->mount_point : ""},
                       {"mount_vanished", m ? m->vanished : true},
                       {"export", nfs_export_name(n.mounts, c.dev, c.sb_instance)},
                       {"stall_ns", c.stall_ns()},
                       {"ops", ops},
                       {"read_bytes", c.read_bytes},
                       {"write_bytes", c.write_bytes},
                       {"dirtied_pages", c.dirtied_pages},
                       {"invalidated_pages", c.invalidated_pages},
                       {"lookup_negative", c.lookup_negative},
                       {"negative_trusted", c.negative_trusted},
                       {"negative_rejected", c.negative_rejected},
                       {"negative_stale", c.negative_stale},
                       {"silly_renames", c.silly_renames}});
  }
  nlohmann::json rpc = nlohmann::json::array();
  for (const auto& r : n.rpc)
    rpc.push_back({{"cgroup_id", r.cgroup_id},
                   {"cgroup", name(r.cgroup_id)},
                   {"program", r.prog},
                   {"version", r.vers},
                   {"procedure", r.procedure},
                   {"count", r.count},
                   {"rtt_us", r.rtt_us},
                   {"execute_us", r.execute_us},
                   {"retransmits", r.retransmits},
                   {"timeouts", r.timeouts},
                   {"rtt_us_hist", hist_json(r.rtt_us_hist)},
                   {"execute_us_hist", hist_json(r.execute_us_hist)}});
  auto file_cg = [&](const NfsFileCgroup& c) {
    const NfsMount* m = n.mount(c.dev, c.sb_instance);
    return nlohmann::json{{"cgroup_id", c.cgroup_id},
                          {"cgroup", name(c.cgroup_id)},
                          {"dev", dev_name(c.dev)},
                          {"sb_instance", c.sb_instance},
                          {"mount_point", m ? m->mount_point : dev_name(c.dev)},
                          {"written_bytes", c.written_bytes},
                          {"dirtied_pages", c.dirtied_pages},
                          {"reads", c.reads},
                          {"revalidations", c.revalidations},
                          {"invalidations", c.invalidations}};
  };
  nlohmann::json shared = nlohmann::json::array();
  for (const auto& h : n.shared_writers) {
    nlohmann::json writers = nlohmann::json::array(), readers = nlohmann::json::array();
    for (const auto& w : h.writers) writers.push_back(file_cg(w));
    for (const auto& r : h.readers) {
      auto j = file_cg(r);
      if (const NfsMount* m = n.mount(r.dev, r.sb_instance)) j["mount"] = mount_json(*m);
      readers.push_back(std::move(j));
    }
    shared.push_back({{"export", h.export_name}, {"fileid", h.fileid}, {"writers", writers}, {"readers", readers}});
  }
  nlohmann::json negative = nlohmann::json::array();
  for (const auto& h : n.negative_lookups) {
    const NfsMount* m = n.mount(h.victim_dev, h.victim_sb_instance);
    negative.push_back({{"export", h.export_name},
                        {"victim_cgroup_id", h.victim_cgroup_id},
                        {"victim", name(h.victim_cgroup_id)},
                        {"creator_cgroup_id", h.creator_cgroup_id},
                        {"creator", name(h.creator_cgroup_id)},
                        {"victim_mount", m ? mount_json(*m) : nlohmann::json()},
                        {"stale_lookups", h.stale_lookups},
                        {"names", h.names},
                        {"directories", h.directories},
                        {"remedy", negative_lookup_remedy(n, h)}});
  }
  nlohmann::json mountstats = nlohmann::json::array();
  for (const auto& m : n.mountstats_delta) {
    nlohmann::json ops = nlohmann::json::object();
    for (const auto& [proc, o] : m.ops)
      if (o.ops)
        ops[proc] = {{"ops", o.ops},           {"transmissions", o.transmissions}, {"major_timeouts", o.major_timeouts},
                     {"rtt_ms", o.rtt_ms},     {"execute_ms", o.execute_ms},       {"queue_ms", o.queue_ms},
                     {"bytes_sent", o.bytes_sent}, {"bytes_received", o.bytes_received}};
    mountstats.push_back({{"source", m.source},
                          {"mount_point", m.mount_point},
                          {"events", m.events},
                          {"bytes", m.bytes},
                          {"ops", ops}});
  }
  return {{"active", n.active},
          {"negative_lookups_visible", n.negative_lookups_visible},
          {"mounts", mounts},
          {"cgroups", cgroups},
          {"rpc", rpc},
          {"shared_writer_hazards", shared},
          {"shared_files_not_shown", n.shared_files_not_shown},
          {"negative_lookup_hazards", negative},
          {"mountstats", mountstats}};
}

}  // namespace cgscope::model
