#include "runtime/kernel_layers.hpp"

#include <unistd.h>

#include "storage/pool.hpp"

namespace berth::runtime {

namespace {

// Operations on one layer are serialized by the manager (its container's
// lock); the pool takes different layers at once.
class KernelLayers final : public LayerStore {
 public:
  explicit KernelLayers(storage::Pool pool) : pool_(std::move(pool)) {}

  Result<void> create(const std::string& id) override { return pool_.createLayer(id); }
  Result<void> destroy(const std::string& id) override { return pool_.destroyLayer(id); }
  bool exists(const std::string& id) const override { return pool_.hasLayer(id); }
  std::string upperDir(const std::string& id) const override { return pool_.upperDir(id); }
  std::string workDir(const std::string& id) const override { return pool_.workDir(id); }
  Result<void> setLimit(const std::string& id, std::optional<uint64_t> bytes) override {
    return pool_.setLimit(id, bytes);
  }
  Result<uint64_t> usage(const std::string& id) override { return pool_.usage(id); }
  Result<void> setOwner(const std::string& id, uint32_t uid, uint32_t gid) override {
    for (const std::string& dir : {pool_.upperDir(id), pool_.workDir(id)}) {
      if (::chown(dir.c_str(), uid, gid) != 0) return sysFail(Errc::host_refused, "chown " + dir);
    }
    return {};
  }
  Result<uint64_t> snapshot(const std::string& id, const std::string& snapshotId) override {
    return pool_.snapshot(id, snapshotId);
  }
  Result<void> restore(const std::string& id, const std::string& snapshotId) override {
    return pool_.restore(id, snapshotId);
  }
  Result<void> deleteSnapshot(const std::string& id, const std::string& snapshotId) override {
    return pool_.deleteSnapshot(id, snapshotId);
  }
  Result<void> deleteSnapshots(const std::string& id) override { return pool_.deleteSnapshots(id); }
  Result<void> copy(const std::string& fromId, const std::string& toId) override {
    return pool_.copyLayer(fromId, toId);
  }

 private:
  storage::Pool pool_;
};

}  // namespace

Result<std::unique_ptr<LayerStore>> kernelLayers(const RuntimeConfig& config) {
  BERTH_TRY(auto pool, withContext(storage::Pool::open({config.dataDir + "/storage", config.storagePoolBytes}),
                                   "storage pool"));
  return std::unique_ptr<LayerStore>(std::make_unique<KernelLayers>(std::move(pool)));
}

}  // namespace berth::runtime
