#include "io/file_map.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "cli_error.hpp"
#include "io/file_read.hpp"

namespace cli {

namespace {

// The live mappings, for the SIGBUS handler: a fixed table it can read
// without locks or allocation.  A slot is published by storing its end last
// and retired by clearing its end first.
constexpr int kSlots = 256;
struct Slot {
    std::atomic<uintptr_t> begin{0}, end{0};
    std::atomic<int> shrank{0};
};
Slot slots[kSlots];
std::mutex slots_mutex;  // taking and releasing slots (not used by the handler)
bool slot_taken[kSlots];
struct sigaction previous_action;

// Zero pages over the rest of the faulting mapping, so the interrupted
// read resumes and finishes; the owner learns of it through check().  mmap is
// a plain system call on Linux, safe to make here (JVMs do the same).
void on_sigbus(int sig, siginfo_t *info, void *context) {
    const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
    for (Slot &s : slots) {
        const uintptr_t begin = s.begin.load(std::memory_order_acquire), end = s.end.load(std::memory_order_acquire);
        if (end == 0 || addr < begin || addr >= end) continue;
        const uintptr_t page = addr & ~static_cast<uintptr_t>(sysconf(_SC_PAGESIZE) - 1);
        void *fixed = mmap(reinterpret_cast<void *>(page), end - page, PROT_READ,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (fixed == MAP_FAILED) break;
        s.shrank.store(1, std::memory_order_release);
        return;
    }
    // Not one of ours: a real fault; let it take its course.
    sigaction(SIGBUS, &previous_action, nullptr);
    if (!(previous_action.sa_flags & SA_SIGINFO) && previous_action.sa_handler != SIG_DFL &&
        previous_action.sa_handler != SIG_IGN)
        previous_action.sa_handler(sig);
    else if ((previous_action.sa_flags & SA_SIGINFO) && previous_action.sa_sigaction)
        previous_action.sa_sigaction(sig, info, context);
    // SIG_DFL: returning re-runs the access, which now kills the process.
}

void install_handler_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGBUS, &sa, &previous_action);
    });
}

int take_slot(uintptr_t begin, uintptr_t end) {
    std::lock_guard<std::mutex> lock(slots_mutex);
    for (int i = 0; i < kSlots; ++i) {
        if (slot_taken[i]) continue;
        slot_taken[i] = true;
        slots[i].shrank.store(0, std::memory_order_relaxed);
        slots[i].begin.store(begin, std::memory_order_relaxed);
        slots[i].end.store(end, std::memory_order_release);
        return i;
    }
    return -1;
}

void release_slot(int i) {
    std::lock_guard<std::mutex> lock(slots_mutex);
    slots[i].end.store(0, std::memory_order_release);
    slots[i].begin.store(0, std::memory_order_relaxed);
    slot_taken[i] = false;
}

}  // namespace

MappedRange::MappedRange(const std::string &path, uint64_t offset, size_t size) : path_(path), size_(size) {
    install_handler_once();
    struct stat st {};
    const int fd = open_and_stat(path, st);
    const auto file_size = static_cast<uint64_t>(st.st_size);
    device_ = static_cast<uint64_t>(st.st_dev);
    inode_ = static_cast<uint64_t>(st.st_ino);
    bytes_ = file_size;
    modified_s_ = static_cast<int64_t>(st.st_mtim.tv_sec);
    modified_ns_ = static_cast<int64_t>(st.st_mtim.tv_nsec);
    if (offset > file_size || size > file_size - offset) {
        ::close(fd);
        throw Error(path + ": truncated: " + std::to_string(size) + " bytes expected at offset " +
                    std::to_string(offset) + ", the file has " + std::to_string(file_size));
    }
    const auto page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    const uint64_t start = offset / page * page;
    length_ = static_cast<size_t>(offset - start) + size;
    if (length_ == 0) length_ = 1;
    base_ = mmap(nullptr, length_, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, static_cast<off_t>(start));
    const int err = errno;
    ::close(fd);  // the mapping keeps the file
    if (base_ == MAP_FAILED) {
        base_ = nullptr;
        throw Error(path + ": cannot map " + std::to_string(size) + " bytes at offset " + std::to_string(offset) +
                    ": " + errno_text(err));
    }
    data_ = static_cast<const unsigned char *>(base_) + (offset - start);
    const auto b = reinterpret_cast<uintptr_t>(base_);
    slot_ = take_slot(b, b + length_);
    if (slot_ < 0) {
        munmap(base_, length_);
        throw Error(path + ": more than " + std::to_string(kSlots) + " files mapped at once");
    }
}

MappedRange::~MappedRange() {
    if (slot_ >= 0) release_slot(slot_);
    if (base_) munmap(base_, length_);
}

void MappedRange::check() const {
    if (slots[slot_].shrank.load(std::memory_order_acquire))
        throw Error(path_ + ": changed while it was being read (the file shrank); its numbers were not used");
    struct stat now {};
    if (::stat(path_.c_str(), &now) != 0)
        throw Error(path_ + ": removed while it was being read (" + errno_text(errno) +
                    "); its numbers were not used");
    if (static_cast<uint64_t>(now.st_dev) != device_ || static_cast<uint64_t>(now.st_ino) != inode_)
        throw Error(path_ + ": replaced by another file while it was being read; its numbers were not used");
    if (static_cast<uint64_t>(now.st_size) != bytes_ || static_cast<int64_t>(now.st_mtim.tv_sec) != modified_s_ ||
        static_cast<int64_t>(now.st_mtim.tv_nsec) != modified_ns_)
        throw Error(path_ + ": changed while it was being read (written to); its numbers were not used");
}

}  // namespace cli
