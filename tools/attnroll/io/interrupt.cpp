#include "io/interrupt.hpp"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace cli {

namespace {

std::mutex registry_mutex;
std::set<std::string> files;                      // guarded by registry_mutex
std::vector<std::string> folders;                 // in creation order; guarded too

const int kSignals[] = {SIGINT, SIGTERM, SIGHUP};

void remove_with_siblings(const std::string &path) {
    ::unlink(path.c_str());
    // libzip writes "<path>.XXXXXX" and renames it to <path> when done.
    const size_t slash = path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + (slash == 0));
    const std::string prefix = (slash == std::string::npos ? path : path.substr(slash + 1)) + ".";
    if (DIR *d = ::opendir(dir.c_str())) {
        while (const dirent *e = ::readdir(d))
            if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) == 0)
                ::unlink((dir + "/" + e->d_name).c_str());
        ::closedir(d);
    }
}

[[noreturn]] void clean_up_and_exit(int sig) {
    std::lock_guard<std::mutex> lock(registry_mutex);  // held until _exit: no new registrations
    size_t removed = 0;
    for (const std::string &f : files) {
        remove_with_siblings(f);
        ++removed;
    }
    for (auto it = folders.rbegin(); it != folders.rend(); ++it) ::rmdir(it->c_str());
    std::fprintf(stderr, "attnroll: interrupted by %s; %zu unfinished output%s removed\n",
                 sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP", removed, removed == 1 ? "" : "s");
    std::fflush(stderr);
    ::_exit(128 + sig);
}

}  // namespace

void start_interrupt_cleanup() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : kSignals) sigaddset(&set, s);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread([set] {
        int sig = 0;
        while (sigwait(&set, &sig) != 0) {
        }
        clean_up_and_exit(sig);
    }).detach();
}

void remove_on_interrupt(const std::string &path) {
    std::lock_guard<std::mutex> lock(registry_mutex);
    files.insert(path);
}

void remove_folder_on_interrupt(const std::string &path) {
    std::lock_guard<std::mutex> lock(registry_mutex);
    folders.push_back(path);
}

void keep_on_interrupt(const std::string &path) {
    std::lock_guard<std::mutex> lock(registry_mutex);
    files.erase(path);
    for (auto it = folders.begin(); it != folders.end();)
        it = *it == path ? folders.erase(it) : it + 1;
}

}  // namespace cli
