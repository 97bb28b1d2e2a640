// Counter: a per-thread metrics counter, incremented without atomic read-modify-write.
#pragma once
#include <atomic>
#include <cstdint>

namespace apexd::server {

/// A counter owned by one thread: increments are a plain load and store (no lock prefix);
/// other threads may read it at any time.
class Counter {
 public:
  void add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

}  // namespace apexd::server
