// SnapshotCell: publish a new immutable snapshot; readers refresh a private copy only when it changed.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

namespace apexd::server {

/// Holds the current `shared_ptr<const T>`. Publishing bumps a generation counter; each reader
/// keeps its own copy (a Reader) and re-reads under the mutex only when the generation moved,
/// so the query path touches one relaxed atomic and no shared refcount.
template <class T>
class SnapshotCell {
 public:
  explicit SnapshotCell(std::shared_ptr<const T> initial) : current_(std::move(initial)) {}

  void publish(std::shared_ptr<const T> next) {
    std::lock_guard lock(mutex_);
    current_ = std::move(next);
    generation_.fetch_add(1, std::memory_order_release);
  }

  std::shared_ptr<const T> load() const {
    std::lock_guard lock(mutex_);
    return current_;
  }

  /// A per-thread view: `get()` is cheap and refreshes after a publish.
  class Reader {
   public:
    explicit Reader(const SnapshotCell& cell) : cell_(cell) { refresh(); }
    const T& get() {
      if (cell_.generation_.load(std::memory_order_acquire) != generation_) refresh();
      return *snapshot_;
    }
    /// The same snapshot as a shared pointer, for work that outlives the current call (a zone
    /// transfer holds its zones across many writes).
    std::shared_ptr<const T> shared() {
      get();
      return snapshot_;
    }
    /// The generation of the snapshot get() last returned (changes with every publish seen).
    uint64_t generation() const { return generation_; }

   private:
    void refresh() {
      std::lock_guard lock(cell_.mutex_);
      snapshot_ = cell_.current_;
      generation_ = cell_.generation_.load(std::memory_order_relaxed);
    }
    const SnapshotCell& cell_;
    std::shared_ptr<const T> snapshot_;
    uint64_t generation_ = 0;
  };

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const T> current_;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace apexd::server
