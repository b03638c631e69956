#include "cli/signals.hpp"

#include "cli/privileges.hpp"

#include <pthread.h>

#include <ctime>

namespace cgscope::cli {

SignalStop::SignalStop() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  watcher_ = std::jthread([this](const std::stop_token& self) {
    // Capabilities belong to threads: this one, started before the command loads anything and
    // drops what it no longer needs (which changes the calling thread only), needs none.
    drop_all_capabilities();
    while (!self.stop_requested()) {
      timespec timeout{0, 100'000'000};
      siginfo_t info{};
      if (sigtimedwait(&set_, &info, &timeout) > 0) stop_.request_stop();
    }
  });
}

}  // namespace cgscope::cli
