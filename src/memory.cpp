#include "memory.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "attnroll.h"
#include "error.hpp"

namespace attnroll {

namespace {

// First unsigned number after `key` in the text file `path`, or SIZE_MAX.
size_t number_after(const char *path, const char *key) noexcept {
    FILE *f = std::fopen(path, "re");
    if (!f) return SIZE_MAX;
    char line[256];
    size_t value = SIZE_MAX;
    const size_t key_length = std::strlen(key);
    while (std::fgets(line, sizeof line, f)) {
        if (std::strncmp(line, key, key_length) != 0) continue;
        unsigned long long v = 0;
        if (std::sscanf(line + key_length, " %llu", &v) == 1) value = static_cast<size_t>(v);
        break;
    }
    std::fclose(f);
    return value;
}

// The headroom under this process's cgroup v2 limit, or SIZE_MAX.
size_t cgroup_headroom() noexcept {
    FILE *f = std::fopen("/proc/self/cgroup", "re");
    if (!f) return SIZE_MAX;
    char line[512], group[512] = "";
    while (std::fgets(line, sizeof line, f))
        if (std::strncmp(line, "0::", 3) == 0) {
            std::snprintf(group, sizeof group, "%s", line + 3);
            group[std::strcspn(group, "\n")] = '\0';
            break;
        }
    std::fclose(f);
    if (group[0] != '/') return SIZE_MAX;
    char path[640];
    std::snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.max", group);
    const size_t limit = number_after(path, "");  // "max" parses as no number: SIZE_MAX
    if (limit == SIZE_MAX) return SIZE_MAX;
    std::snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.current", group);
    const size_t used = number_after(path, "");
    if (used == SIZE_MAX) return SIZE_MAX;
    return used < limit ? limit - used : 0;
}

}  // namespace

size_t available_memory() noexcept {
    const size_t kib = number_after("/proc/meminfo", "MemAvailable:");
    const size_t meminfo = kib == SIZE_MAX || kib > SIZE_MAX / 1024 ? SIZE_MAX : kib * 1024;
    const size_t cgroup = cgroup_headroom();
    return meminfo < cgroup ? meminfo : cgroup;
}

void reserve_or_fail(size_t bytes) {
    if (bytes < kCheckedBytes) return;
    const size_t available = available_memory();
    if (bytes > available)
        fail(ATTNROLL_E_MEMORY,
             "working memory: %zu bytes (%.1f GiB) needed at once, more than the %zu bytes (%.1f GiB) "
             "available (MemAvailable, cgroup memory.max)",
             bytes, static_cast<double>(bytes) / (1u << 30), available,
             static_cast<double>(available) / (1u << 30));
}

}  // namespace attnroll
