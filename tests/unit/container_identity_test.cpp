#include <gtest/gtest.h>

#include <string>

#include "model/cgroup_identity.hpp"

using namespace cgscope::model;

namespace {
const std::string kId = "8f2c4e6a1b3d5f7a9c0e2b4d6f8a1c3e5b7d9f0a2c4e6b8d0f1a3c5e7b9d1f3a";
const std::string kUid = "4c2a7b1e-9f3d-4e8a-b6c1-2d5e8f0a1b3c";
const std::string kUidUnderscored = "4c2a7b1e_9f3d_4e8a_b6c1_2d5e8f0a1b3c";
}  // namespace

TEST(ContainerIdentityTest, DockerCgroupfsDriver) {
  const auto c = parse_container_identity("/docker/" + kId);
  EXPECT_EQ(c.runtime, Runtime::kDocker);
  EXPECT_EQ(c.container_id, kId);
  EXPECT_EQ(c.display_name("/docker/" + kId), "docker:8f2c4e6a1b3d");
}

TEST(ContainerIdentityTest, DockerSystemdDriver) {
  const auto c = parse_container_identity("/system.slice/docker-" + kId + ".scope");
  EXPECT_EQ(c.runtime, Runtime::kDocker);
  EXPECT_EQ(c.container_id, kId);
  EXPECT_EQ(c.systemd_slice, "system.slice");
}

TEST(ContainerIdentityTest, KubernetesCgroupfsDriverAllQosClasses) {
  const auto g = parse_container_identity("/kubepods/pod" + kUid + "/" + kId);
  EXPECT_EQ(g.qos, QosClass::kGuaranteed);
  EXPECT_EQ(g.pod_uid, kUid);
  EXPECT_EQ(g.container_id, kId);
  EXPECT_EQ(g.runtime, Runtime::kContainerd);  // not visible in the path: the common default
  EXPECT_EQ(g.display_name(""), "pod:4c2a7b1e/8f2c4e6a1b3d");
  EXPECT_EQ(parse_container_identity("/kubepods/burstable/pod" + kUid + "/" + kId).qos, QosClass::kBurstable);
  EXPECT_EQ(parse_container_identity("/kubepods/besteffort/pod" + kUid + "/" + kId).qos, QosClass::kBestEffort);
}

TEST(ContainerIdentityTest, KubernetesPodCgroupWithoutContainer) {
  const auto p = parse_container_identity("/kubepods/burstable/pod" + kUid);
  EXPECT_EQ(p.pod_uid, kUid);
  EXPECT_TRUE(p.container_id.empty());
  EXPECT_FALSE(p.is_container());
  EXPECT_EQ(p.display_name(""), "pod:4c2a7b1e");
}

TEST(ContainerIdentityTest, KubernetesSystemdDriverRuntimes) {
  const std::string pod = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidUnderscored + ".slice";
  const auto containerd = parse_container_identity(pod + "/cri-containerd-" + kId + ".scope");
  EXPECT_EQ(containerd.runtime, Runtime::kContainerd);
  EXPECT_EQ(containerd.pod_uid, kUid);  // underscores become dashes
  EXPECT_EQ(containerd.qos, QosClass::kBurstable);
  EXPECT_EQ(containerd.container_id, kId);
  const auto crio = parse_container_identity(pod + "/crio-" + kId + ".scope");
  EXPECT_EQ(crio.runtime, Runtime::kCrio);
  EXPECT_EQ(crio.container_id, kId);
  const auto conmon = parse_container_identity(pod + "/crio-conmon-" + kId + ".scope");
  EXPECT_EQ(conmon.runtime, Runtime::kCrio);
  EXPECT_EQ(conmon.container_id, kId);
  EXPECT_EQ(parse_container_identity(pod + "/docker-" + kId + ".scope").runtime, Runtime::kDocker);
  const auto guaranteed =
      parse_container_identity("/kubepods.slice/kubepods-pod" + kUidUnderscored + ".slice/cri-containerd-" + kId + ".scope");
  EXPECT_EQ(guaranteed.qos, QosClass::kGuaranteed);
  EXPECT_EQ(guaranteed.pod_uid, kUid);
  const auto besteffort = parse_container_identity("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
                                                   kUidUnderscored + ".slice/crio-" + kId + ".scope");
  EXPECT_EQ(besteffort.qos, QosClass::kBestEffort);
}

TEST(ContainerIdentityTest, CrioCgroupfsDriver) {
  const auto c = parse_container_identity("/kubepods/burstable/pod" + kUid + "/crio-" + kId);
  EXPECT_EQ(c.runtime, Runtime::kCrio);
  EXPECT_EQ(c.container_id, kId);
  EXPECT_EQ(c.pod_uid, kUid);
}

TEST(ContainerIdentityTest, ContainerdOutsideKubernetes) {
  const auto c = parse_container_identity("/default/" + kId);
  EXPECT_EQ(c.runtime, Runtime::kContainerd);
  EXPECT_EQ(c.container_id, kId);
}

TEST(ContainerIdentityTest, Podman) {
  const auto system = parse_container_identity("/machine.slice/libpod-" + kId + ".scope");
  EXPECT_EQ(system.runtime, Runtime::kPodman);
  EXPECT_EQ(system.container_id, kId);
  EXPECT_EQ(system.display_name(""), "podman:8f2c4e6a1b3d");
  // cgroup v2 podman puts the payload in a "container" child: still the same container.
  const auto child = parse_container_identity("/machine.slice/libpod-" + kId + ".scope/container");
  EXPECT_EQ(child.runtime, Runtime::kPodman);
  EXPECT_EQ(child.container_id, kId);
  EXPECT_EQ(parse_container_identity("/libpod_parent/libpod-" + kId).container_id, kId);
  const auto rootless = parse_container_identity(
      "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kId + ".scope");
  EXPECT_EQ(rootless.runtime, Runtime::kPodman);
  EXPECT_EQ(rootless.container_id, kId);
  EXPECT_EQ(parse_container_identity("/machine.slice/libpod-conmon-" + kId + ".scope").runtime, Runtime::kPodman);
}

TEST(ContainerIdentityTest, Lxc) {
  for (const char* path : {"/lxc/web1", "/lxc.payload.web1", "/lxc.payload/web1", "/lxc.monitor.web1"}) {
    const auto c = parse_container_identity(path);
    EXPECT_EQ(c.runtime, Runtime::kLxc) << path;
    EXPECT_EQ(c.container_id, "web1") << path;
    EXPECT_EQ(c.display_name(path), "lxc:web1") << path;
  }
  EXPECT_EQ(parse_container_identity("/lxc.payload.web1/system.slice/nginx.service").container_id, "web1");
}

TEST(ContainerIdentityTest, SystemdUnits) {
  const auto svc = parse_container_identity("/system.slice/nginx.service");
  EXPECT_EQ(svc.runtime, Runtime::kSystemd);
  EXPECT_EQ(svc.systemd_unit, "nginx.service");
  EXPECT_EQ(svc.systemd_slice, "system.slice");
  EXPECT_FALSE(svc.is_container());
  EXPECT_EQ(svc.display_name("/system.slice/nginx.service"), "nginx.service");
  const auto getty = parse_container_identity("/system.slice/system-getty.slice/getty@tty1.service");
  EXPECT_EQ(getty.systemd_unit, "getty@tty1.service");
  EXPECT_EQ(getty.systemd_slice, "system-getty.slice");
  EXPECT_EQ(parse_container_identity("/user.slice/user-1000.slice/session-3.scope").systemd_unit, "session-3.scope");
  const auto user_app =
      parse_container_identity("/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service");
  EXPECT_EQ(user_app.systemd_unit, "foo.service");
  EXPECT_EQ(user_app.systemd_slice, "app.slice");
  EXPECT_EQ(parse_container_identity("/init.scope").systemd_unit, "init.scope");
}

TEST(ContainerIdentityTest, RootAndPlainPaths) {
  for (const char* root : {"/", "", "//"}) {
    const auto c = parse_container_identity(root);
    EXPECT_EQ(c.runtime, Runtime::kNone);
    EXPECT_EQ(c.display_name(root), "/");
  }
  const auto plain = parse_container_identity("/cgscope-test/a/");
  EXPECT_EQ(plain.runtime, Runtime::kNone);
  EXPECT_EQ(plain.display_name("/cgscope-test/a/"), "a");
  EXPECT_EQ(parse_container_identity("//docker//" + kId + "/").container_id, kId);
}

TEST(ContainerIdentityTest, NotAnIdIsNotAContainer) {
  const auto c = parse_container_identity("/system.slice/docker-xyz.scope");
  EXPECT_FALSE(c.is_container());
  EXPECT_EQ(c.runtime, Runtime::kSystemd);
  EXPECT_EQ(c.systemd_unit, "docker-xyz.scope");
  EXPECT_FALSE(parse_container_identity("/docker/" + kId.substr(1)).is_container());           // 63 hex
  EXPECT_FALSE(parse_container_identity("/docker/" + std::string(64, 'G')).is_container());   // not hex
  EXPECT_TRUE(parse_container_identity("/kubepods/podnot-a-uid/" + kId).pod_uid.empty());
}

TEST(ContainerIdentityTest, OddInputsNeverCrash) {
  const std::string odd[] = {std::string(10000, '/'), std::string(5000, 'a') + "/" + std::string(5000, 'b'),
                             "\xff\xfe/\x80" "docker-", "/kubepods/pod", "/kubepods.slice/kubepods-.slice",
                             "/lxc/", "/lxc.payload.", std::string("/a\0b", 4), "docker-" + kId + ".scope"};
  for (const auto& path : odd) {
    const auto c = parse_container_identity(path);
    (void)c.display_name(path);
  }
  SUCCEED();
}
