// A caching CPU allocator. Measured on this machine: inside Node, every freed multi-megabyte
// tensor went back to the kernel, so the next step's tensor of the same size page-faulted all of
// its memory again (an out-of-place add of 8 MB took 4.3 ms in Node against 1.1 ms in Python, with
// ~2,000 page faults per op). Training repeats the same sizes every step, so keeping freed large
// blocks for reuse — as PyTorch's CUDA allocator does — removes that cost. Tiny blocks go straight
// to c10's allocator.
//
// Blocks from 4 KiB up are cached too, for a second reason: Node-API defers the finalizers of
// tensor handles to the event loop, so a long synchronous loop (sampling, prior coding, probe
// feature extraction) leaves thousands of small handle objects alive. glibc carves them out of
// freed tensor buffers, the next buffer of the same size no longer fits, and the heap grows
// without bound (measured: a 4-block transformer forward on [1, 65, 128] grew RSS by ~0.9 MB per
// call with 4 KiB–256 KiB buffers freed to malloc, ~13 KB with them cached). Cached buffers are
// never handed back to malloc until evicted, so handles cannot split them.
#include "tessera.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <cstdio>
#include <cstdlib>
#include <list>
#include <malloc.h>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace tessera {

namespace {

constexpr size_t kMinCached = 4 * 1024;      // below this, plain alloc_cpu/free_cpu
constexpr size_t kMmapThreshold = 256 * 1024;  // glibc: blocks from here up are mmapped

// Rounds a size up so near-equal requests share blocks: 4 KiB granules up to 256 KiB, 64 KiB up to
// 16 MiB, then 1 MiB.
size_t roundSize(size_t n) {
  const size_t g = n <= kMmapThreshold ? (4u << 10) : n <= (16u << 20) ? (64u << 10) : (1u << 20);
  return (n + g - 1) / g * g;
}

class CachingCPUAllocator final : public c10::Allocator {
 public:
  CachingCPUAllocator() {
    // Unset or empty: the default. Anything but a whole number of MiB is reported, not read as 0.
    const char* env = std::getenv("TESSERA_CPU_CACHE_MB");
    limit_ = size_t{2048} << 20;
    if (env != nullptr && *env != '\0') {
      char* end = nullptr;
      const unsigned long long mb = std::strtoull(env, &end, 10);
      if (*end == '\0' && env[0] >= '0' && env[0] <= '9') {  // strtoull would take " -1" as 2^64 − 1
        limit_ = static_cast<size_t>(mb) << 20;
      } else {
        std::fprintf(stderr, "tessera: ignoring TESSERA_CPU_CACHE_MB=%s (expected a whole number of MiB); caching up to 2048 MiB\n", env);
      }
    }
  }

  c10::DataPtr allocate(size_t n) const override {
    if (n < kMinCached || limit_ == 0) {
      void* p = c10::alloc_cpu(n);
      return {p, p, &freeSmall, c10::Device(c10::DeviceType::CPU)};
    }
    const size_t size = roundSize(n);
    void* p = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        auto entry = it->second.back();  // the most recently freed block of this size
        it->second.pop_back();
        p = entry->second;
        order_.erase(entry);
        cached_ -= size;
      }
    }
    if (!p) {
      p = c10::alloc_cpu(size);
      std::lock_guard<std::mutex> lock(mu_);
      live_[p] = size;
    } else {
      std::lock_guard<std::mutex> lock(mu_);
      live_[p] = size;
    }
    return {p, p, &freeLarge, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &freeLarge; }

  void release(void* p) {
    std::unique_lock<std::mutex> lock(mu_);
    auto it = live_.find(p);
    if (it == live_.end()) {  // not ours (cannot happen for blocks handed out here)
      lock.unlock();
      c10::free_cpu(p);
      return;
    }
    const size_t size = it->second;
    live_.erase(it);
    if (size > limit_) {
      lock.unlock();
      c10::free_cpu(p);
      return;
    }
    // Full: evict the least recently freed blocks. Sizes that stop recurring (e.g. a growing
    // sequence length) age out instead of pinning the cache forever.
    std::vector<void*> evicted;
    while (cached_ + size > limit_ && !order_.empty()) {
      auto [osize, op] = order_.front();
      auto& same = free_[osize];
      same.erase(same.begin());  // blocks of one size are freed in order: its oldest is first
      order_.pop_front();
      cached_ -= osize;
      evicted.push_back(op);
    }
    order_.emplace_back(size, p);
    free_[size].push_back(std::prev(order_.end()));
    cached_ += size;
    lock.unlock();
    for (void* q : evicted) c10::free_cpu(q);
  }

  size_t emptyCache() {
    std::vector<void*> blocks;
    size_t freed;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& entry : order_) blocks.push_back(entry.second);
      order_.clear();
      free_.clear();
      freed = cached_;
      cached_ = 0;
    }
    for (void* p : blocks) c10::free_cpu(p);
    return freed;
  }

  size_t cachedBytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_;
  }

 private:
  static void freeSmall(void* p) { c10::free_cpu(p); }
  static void freeLarge(void* p);

  mutable std::mutex mu_;
  // Cached blocks, least recently freed first; free_ indexes them by size.
  using Entry = std::list<std::pair<size_t, void*>>::iterator;
  mutable std::list<std::pair<size_t, void*>> order_;
  mutable std::unordered_map<size_t, std::vector<Entry>> free_;
  mutable std::unordered_map<void*, size_t> live_;
  mutable size_t cached_ = 0;
  size_t limit_ = 0;
};

// Never destroyed: tensors may be freed during process teardown after static destructors run.
CachingCPUAllocator& instance() {
  static auto* a = new CachingCPUAllocator();
  return *a;
}

void CachingCPUAllocator::freeLarge(void* p) { instance().release(p); }

}  // namespace

void InstallCachingAllocator() {
  // glibc raises its mmap threshold after large frees, after which big blocks come from the heap
  // and freed ones are kept there: a run whose sizes keep changing (sampling a growing sequence)
  // grew to 9 GB resident with 3 MB of live tensors. A fixed threshold keeps large blocks mmapped,
  // so what this cache evicts goes back to the kernel.
  mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapThreshold));
  // Priority above c10's default registration, so at::empty and friends use it.
  c10::SetAllocator(c10::DeviceType::CPU, &instance(), /*priority=*/10);
}

size_t EmptyAllocatorCache() { return instance().emptyCache(); }
size_t AllocatorCachedBytes() { return instance().cachedBytes(); }

}  // namespace tessera
