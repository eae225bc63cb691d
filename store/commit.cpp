// The write queue (group commit) and the syncer of deferred commits; see
// store_impl.hpp for the design.
#include <algorithm>
#include <utility>

#include "store/store_impl.hpp"

namespace berth::store {

void Store::Impl::submit(WriteJob& job) {
  std::unique_lock lock(queueMutex);
  queued.push_back(&job);
  while (!job.done) {
    if (committing) {
      queueDone.wait(lock);
      continue;
    }
    // No commit runs: take everything queued, this job included (a job is
    // only taken by a batch that started after it was queued).
    committing = true;
    std::vector<WriteJob*> batch = std::exchange(queued, {});
    lock.unlock();
    commitBatch(batch);
    lock.lock();
    for (WriteJob* done : batch) done->done = true;
    committing = false;
    queueDone.notify_all();
  }
}

namespace {

void failEvery(const std::vector<WriteJob*>& jobs, const Error& error) {
  for (WriteJob* job : jobs) job->fail(error);
}

}  // namespace

void Store::Impl::commitBatch(const std::vector<WriteJob*>& batch) {
  for (unsigned attempt = 0;; ++attempt) {
    size_t seen = 0;
    {
      auto lock = shareMap();
      MDB_txn* raw = nullptr;
      int rc = mdb_txn_begin(env, nullptr, 0, &raw);
      if (rc == MDB_MAP_RESIZED) {
        lock.unlock();
        if (auto adopted = adoptResized(); !adopted) return failEvery(batch, adopted.error());
        continue;
      }
      if (rc != 0) return failEvery(batch, lmdbError(rc, "begin write transaction in " + dir));
      Txn txn(raw, true);
      bool mapFull = false;
      std::vector<WriteJob*> succeeded;
      if (batch.size() == 1) {
        if (batch.front()->run(txn)) succeeded.push_back(batch.front());
        mapFull = txn.mapFull();
      } else {
        for (WriteJob* job : batch) {
          MDB_txn* rawChild = nullptr;
          if (int childRc = mdb_txn_begin(env, raw, 0, &rawChild); childRc != 0) {
            Error error = txn.failure(childRc, "begin nested write transaction in " + dir);
            if (txn.mapFull()) break;
            job->fail(error);
            continue;
          }
          Txn child(rawChild, true);
          bool ok = job->run(child);  // a failed body keeps its own answer; its child aborts with it
          if (child.mapFull()) {
            mapFull = true;
            break;
          }
          if (!ok) continue;
          if (auto committed = child.commit(); !committed) {
            if (child.mapFull()) {
              mapFull = true;
              break;
            }
            job->fail(committed.error());
            continue;
          }
          succeeded.push_back(job);
        }
        mapFull = mapFull || txn.mapFull();
      }
      if (!mapFull) {
        if (succeeded.empty()) return;  // nothing to write: txn aborts
        bool deferred = std::all_of(succeeded.begin(), succeeded.end(), [](const WriteJob* j) { return j->deferred; });
        auto committed = commit(txn, deferred);
        if (committed) {
          writes += succeeded.size();
          ++transactions;
          return;
        }
        if (!txn.mapFull()) return failEvery(succeeded, committed.error());
      }
      seen = mapSize();
    }  // aborted, lock released: the resize may take the mutex exclusive
    if (attempt >= kMaxGrowths)
      return failEvery(batch, Error{Errc::resource_exhausted, 0,
                                    "lmdb map of " + dir + " is full at " + std::to_string(seen) +
                                        " bytes and may not grow further"});
    if (auto grown = grow(seen); !grown) return failEvery(batch, grown.error());
  }
}

Result<void> Store::Impl::commit(Txn& txn, bool deferred) {
  if (!options.syncOnCommit) return txn.commit();  // the environment never syncs
  {
    std::lock_guard lock(syncMutex);
    deferred = deferred && !syncFailing;
  }
  if (!deferred) {
    BERTH_TRYV(txn.commit());
    // LMDB flushed every page written before this commit's meta page: the
    // deferred commits before it are on the disk too.
    std::lock_guard lock(syncMutex);
    unsynced = false;
    return {};
  }
  // Only this thread commits (submit), so the flag holds for exactly this
  // commit. mdb_env_set_flags writes env->me_flags, which a read transaction
  // beginning meanwhile reads for bits that do not change here.
  if (int rc = mdb_env_set_flags(env, MDB_NOSYNC, 1); rc != 0)
    return tl::unexpected(lmdbError(rc, "set MDB_NOSYNC for a deferred commit in " + dir));
  auto committed = txn.commit();
  if (int rc = mdb_env_set_flags(env, MDB_NOSYNC, 0); rc != 0 && committed)
    committed = tl::unexpected(lmdbError(rc, "clear MDB_NOSYNC after a deferred commit in " + dir));
  if (!committed) return committed;
  ++deferredTransactions;
  std::lock_guard lock(syncMutex);
  ++deferredCommits;
  if (!unsynced) {
    unsynced = true;
    unsyncedSince = std::chrono::steady_clock::now();
    syncWake.notify_one();
  }
  return {};
}

// --- the syncer --------------------------------------------------------------

void Store::Impl::startSyncer() { syncer = std::thread([this] { syncLoop(); }); }

void Store::Impl::stopSyncer() {
  if (!syncer.joinable()) return;
  {
    std::lock_guard lock(syncMutex);
    stopping = true;
  }
  syncWake.notify_one();
  syncer.join();
}

void Store::Impl::syncLoop() {
  std::unique_lock lock(syncMutex);
  for (;;) {
    syncWake.wait(lock, [&] { return stopping || unsynced; });
    if (!unsynced) return;  // stopping with nothing to flush
    // Wait out the delay, so that deferred commits arriving meanwhile share
    // the flush; a synced commit meanwhile may make it unnecessary.
    syncWake.wait_until(lock, unsyncedSince + options.deferredSyncDelay, [&] { return stopping || !unsynced; });
    if (!unsynced) continue;
    uint64_t covered = deferredCommits;
    auto started = std::chrono::steady_clock::now();
    lock.unlock();
    int rc = mdb_env_sync(env, 1);  // fdatasync of the data file: the pages and the meta pages
    lock.lock();
    syncFailing = rc != 0;
    if (rc != 0) {
      // Nobody waits for this flush to answer; later writes are synced (and
      // report the disk's refusal) until a flush succeeds. Try again after the delay.
      unsyncedSince = std::chrono::steady_clock::now();
      if (stopping) return;
      continue;
    }
    ++flushes;
    if (deferredCommits == covered) {
      unsynced = false;
    } else {
      unsyncedSince = started;  // those that came during the flush are no older than it
    }
    if (stopping && !unsynced) return;
  }
}

WriteStats Store::writeStats() const {
  return {impl_->writes.load(), impl_->transactions.load(), impl_->deferredTransactions.load(), impl_->flushes.load()};
}

}  // namespace berth::store
