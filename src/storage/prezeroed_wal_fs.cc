#include "src/storage/prezeroed_wal_fs.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/storage/power_cut.h"

namespace raftkv::storage {

namespace {

using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;

IOStatus ErrnoStatus(const std::string& what, const std::string& path, int err) {
  std::string msg = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  return err == ENOSPC ? IOStatus::NoSpace(msg) : IOStatus::IOError(msg);
}

// A spare is written in chunks of kChunkBytes, kChunkPause apart, at idle
// I/O priority (ioprio_set(2); glibc has no wrapper or constants).
constexpr size_t kChunkBytes = PrezeroedWalFileSystem::kChunkBytes;
constexpr std::chrono::milliseconds kChunkPause{1};
constexpr int kIoprioWhoProcess = 1;  // IOPRIO_WHO_PROCESS: a thread id, 0 = self
constexpr int kIoprioIdle = 3 << 13;  // IOPRIO_PRIO_VALUE(IOPRIO_CLASS_IDLE, 0)

// RocksDB names its write-ahead logs NNNNNN.log (its info log is "LOG").
bool IsWalFile(const std::string& path) {
  std::string::size_type slash = path.rfind('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (!absl::EndsWith(name, ".log") || name.size() == 4) return false;
  for (std::string::size_type i = 0; i + 4 < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
  }
  return true;
}

// Writes all of data at offset; errno on failure.
int PwriteAll(int fd, const char* data, size_t n, uint64_t offset) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, data, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return 0;
}

// A WAL file written with pwrite at its own offset, so that writes into a
// zero-filled file overwrite it from the start. Close trims the zeros.
class WalFile final : public rocksdb::FSWritableFile {
 public:
  WalFile(int fd, std::string path, PrezeroedWalFileSystem* fs, bool prezeroed)
      : fd_(fd),
        path_(std::move(path)),
        fs_(fs),
        prezeroed_(prezeroed),
        power_cut_(power_cut::WalTracker::IfEnabled(fd_, path_)) {}
  ~WalFile() override { Close(IOOptions(), nullptr).PermitUncheckedError(); }

  IOStatus Append(const rocksdb::Slice& data, const IOOptions&, IODebugContext*) override {
    int err = 0;
    auto write = [&] { return (err = PwriteAll(fd_, data.data(), data.size(), size_)) == 0; };
    if (power_cut_ ? !power_cut_->Write(size_ + data.size(), write) : !write()) {
      return ErrnoStatus("writing", path_, err);
    }
    size_ += data.size();
    if (!asked_for_spare_ && size_ >= fs_->prepare_after_bytes()) {
      asked_for_spare_ = true;
      fs_->PrepareSpareSoon();
    }
    return IOStatus::OK();
  }
  IOStatus Truncate(uint64_t size, const IOOptions&, IODebugContext*) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return ErrnoStatus("truncating", path_, errno);
    }
    size_ = size;
    if (power_cut_) power_cut_->Truncated(size, false);
    return IOStatus::OK();
  }
  IOStatus Close(const IOOptions&, IODebugContext*) override {
    if (fd_ < 0) return IOStatus::OK();
    IOStatus s;
    // Trim the zeros and make the trimmed size durable (tidiness: recovery
    // reads past zeros on any WAL; see the header).
    if (prezeroed_ && (::ftruncate(fd_, static_cast<off_t>(size_)) != 0 || ::fdatasync(fd_) != 0)) {
      s = ErrnoStatus("trimming", path_, errno);
    }
    if (power_cut_) {
      if (prezeroed_ && s.ok()) power_cut_->Truncated(size_, true);
      if (power_cut_->AllSynced()) {
        power_cut_.reset();
      } else {
        power_cut::WalTracker::Retire(std::move(power_cut_));
      }
    }
    if (::close(fd_) != 0 && s.ok()) s = ErrnoStatus("closing", path_, errno);
    fd_ = -1;
    return s;
  }
  IOStatus Flush(const IOOptions&, IODebugContext*) override { return IOStatus::OK(); }
  IOStatus Sync(const IOOptions&, IODebugContext*) override { return SyncWith(::fdatasync); }
  IOStatus Fsync(const IOOptions&, IODebugContext*) override { return SyncWith(::fsync); }
  bool IsSyncThreadSafe() const override { return true; }
  uint64_t GetFileSize(const IOOptions&, IODebugContext*) override { return size_; }
  // The space is either zero-filled already or grown by the writes.
  IOStatus Allocate(uint64_t, uint64_t, const IOOptions&, IODebugContext*) override {
    return IOStatus::OK();
  }

 private:
  IOStatus SyncWith(int (*sync)(int)) {
    const uint64_t covered = power_cut_ ? power_cut_->BeginSync() : 0;
    if (sync(fd_) != 0) return ErrnoStatus("syncing", path_, errno);
    if (power_cut_) power_cut_->EndSync(covered);
    return IOStatus::OK();
  }

  int fd_;
  const std::string path_;
  PrezeroedWalFileSystem* const fs_;
  const bool prezeroed_;
  uint64_t size_ = 0;  // bytes written; the offset of the next Append
  bool asked_for_spare_ = false;
  // Set in power-cut tests only (power_cut.h): what a cut would drop.
  std::unique_ptr<power_cut::WalTracker> power_cut_;
};

}  // namespace

PrezeroedWalFileSystem::PrezeroedWalFileSystem(std::string dir, uint64_t file_bytes)
    : FileSystemWrapper(rocksdb::FileSystem::Default()),
      spare_path_(absl::StrCat(dir, "/", kSpareName)),
      file_bytes_((file_bytes + kChunkBytes - 1) / kChunkBytes * kChunkBytes) {}

PrezeroedWalFileSystem::~PrezeroedWalFileSystem() {
  std::thread preparer;
  {
    std::unique_lock<std::mutex> lock(mu_);
    prepared_.wait(lock, [this] { return !preparing_; });
    preparer = std::move(preparer_);
  }
  if (preparer.joinable()) preparer.join();
}

void PrezeroedWalFileSystem::AdoptLeftoverSpare() {
  const std::string& spare = spare_path_;
  ::unlink((spare + ".tmp").c_str());
  struct stat st;
  if (::stat(spare.c_str(), &st) != 0) return;
  // A spare left by an earlier run is whole (it was renamed only after its
  // zeros were synced); one of another size is from another setting.
  if (static_cast<uint64_t>(st.st_size) == file_bytes_) {
    spare_ready_ = true;
  } else {
    ::unlink(spare.c_str());
  }
}

rocksdb::IOStatus PrezeroedWalFileSystem::NewWritableFile(
    const std::string& fname, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSWritableFile>* result, rocksdb::IODebugContext* dbg) {
  if (!IsWalFile(fname) || options.use_direct_writes) {
    return target()->NewWritableFile(fname, options, result, dbg);
  }
  bool prezeroed = false;
  {
    // Never waits for a spare being prepared: then this WAL grows as usual.
    std::lock_guard<std::mutex> lock(mu_);
    if (!adopted_leftovers_) {
      // Only now: RocksDB holds the directory's lock before its first WAL.
      AdoptLeftoverSpare();
      adopted_leftovers_ = true;
    }
    if (spare_ready_) {
      spare_ready_ = false;
      const std::string& spare = spare_path_;
      prezeroed = ::rename(spare.c_str(), fname.c_str()) == 0;
      if (!prezeroed) {
        spdlog::warn("cannot use the spare WAL file {}: {}; writing {} without one", spare,
                     std::strerror(errno), fname);
      }
    }
    newest_wal_grows_ = !prezeroed;
    wal_switch_due_.store(false);
  }
  int flags = O_WRONLY | O_CLOEXEC | (prezeroed ? 0 : O_CREAT | O_TRUNC);
  int fd = ::open(fname.c_str(), flags, 0644);
  if (fd < 0) return ErrnoStatus("creating", fname, errno);
  // A spare this run wrote is in the page cache already; one an earlier run
  // left is read in ahead of the writes (see PrepareSpare). Advice only.
  if (prezeroed) ::posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
  result->reset(new WalFile(fd, fname, this, prezeroed));
  return IOStatus::OK();
}

void PrezeroedWalFileSystem::PrepareSpareSoon() {
  std::lock_guard<std::mutex> lock(mu_);
  if (spare_ready_ || preparing_) return;
  if (preparer_.joinable()) preparer_.join();  // finished: preparing_ is false
  preparing_ = true;
  preparer_ = std::thread([this] { PrepareSpare(); });
}

bool PrezeroedWalFileSystem::WaitForSpare() {
  std::unique_lock<std::mutex> lock(mu_);
  prepared_.wait(lock, [this] { return !preparing_; });
  return spare_ready_;
}

void PrezeroedWalFileSystem::PrepareSpare() {
  // The zeros go to the disk at idle I/O priority (mq-deadline and bfq serve
  // every other request first), a chunk at a time with a pause between, so
  // that the log's own syncs queue behind them as little as possible.
  ::syscall(SYS_ioprio_set, kIoprioWhoProcess, 0, kIoprioIdle);
  const std::string& spare = spare_path_;
  std::string tmp = spare + ".tmp";
  int err = 0;
  // Buffered, so that the zeros stay in the page cache: a WAL write that
  // starts inside a 4 KiB page the cache lacks makes the kernel read that
  // block from the disk first, synchronously, in the log's own write (with
  // O_DIRECT zeros that was one disk read per 4 KiB of log, on the leader's
  // and each follower's critical path). Each chunk is written back now by
  // this thread, at its priority, not later by the kernel's write-back.
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    err = errno;
  } else {
    const std::string zeros(kChunkBytes, '\0');
    for (uint64_t off = 0; off < file_bytes_; off += kChunkBytes) {
      err = PwriteAll(fd, zeros.data(), kChunkBytes, off);
      if (err != 0) break;
      // Only says when the zeros go to the disk; the fdatasync below is what
      // makes them durable and reports a failure (some file systems refuse
      // sync_file_range, and then write-back takes the zeros later).
      (void)::sync_file_range(
          fd, static_cast<off_t>(off), kChunkBytes,
          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
      std::this_thread::sleep_for(kChunkPause);
    }
    // Commits the file's size and blocks.
    if (err == 0 && ::fdatasync(fd) != 0) err = errno;
    if (::close(fd) != 0 && err == 0) err = errno;
    if (err == 0 && ::rename(tmp.c_str(), spare.c_str()) != 0) err = errno;
  }
  if (err != 0) {
    ::unlink(tmp.c_str());
    spdlog::warn("cannot prepare a spare WAL file {}: {}; the next WAL grows as it is written",
                 spare, std::strerror(err));
  }
  std::lock_guard<std::mutex> lock(mu_);
  spare_ready_ = err == 0;
  if (spare_ready_ && newest_wal_grows_) wal_switch_due_.store(true);
  preparing_ = false;
  prepared_.notify_all();
}

}  // namespace raftkv::storage
