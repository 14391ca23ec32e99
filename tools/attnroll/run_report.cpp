#include "run_report.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>

#include "attnroll.h"
#include "io/atomic_file.hpp"

namespace cli {

namespace {
std::vector<std::string> &command_line() {
    static std::vector<std::string> words;
    return words;
}
}  // namespace

void remember_command_line(int argc, char **argv) { command_line().assign(argv, argv + argc); }

RunReport::RunReport(std::string command, nlohmann::json options)
    : command_(std::move(command)), options_(std::move(options)) {}

void RunReport::input(const std::string &path) {
    struct stat st {};
    nlohmann::json entry = {{"path", path}};
    if (::stat(path.c_str(), &st) == 0) {
        entry["size"] = static_cast<long long>(st.st_size);
        entry["mtime"] = static_cast<double>(st.st_mtim.tv_sec) + 1e-9 * static_cast<double>(st.st_mtim.tv_nsec);
    }
    inputs_.push_back(entry);
}

void RunReport::video_done(const std::string &video, const std::vector<std::string> &outputs, const std::string &note) {
    videos_.push_back({{"video", video}, {"status", "done"}, {"note", note}, {"outputs", outputs}});
    outputs_.insert(outputs_.end(), outputs.begin(), outputs.end());
}

void RunReport::video_failed(const std::string &video, const std::string &reason) {
    videos_.push_back({{"video", video}, {"status", "failed"}, {"reason", reason}});
}

bool RunReport::any_failed() const {
    for (const auto &v : videos_)
        if (v["status"] == "failed") return true;
    return false;
}

int RunReport::finish(const std::string &manifest_path) const {
    for (const std::string &f : outputs_) std::printf("wrote %s\n", f.c_str());
    std::vector<std::string> done, failed;
    for (const auto &v : videos_) {
        if (v["status"] == "done") {
            done.push_back(v["video"].get<std::string>());
            std::printf("video %s: done (%s)\n", v["video"].get<std::string>().c_str(), v["note"].get<std::string>().c_str());
        }
    }
    for (const auto &v : videos_)
        if (v["status"] == "failed") {
            failed.push_back(v["video"].get<std::string>());
            std::printf("video %s: FAILED: %s\n", v["video"].get<std::string>().c_str(),
                        v["reason"].get<std::string>().c_str());
        }
    std::printf("attnroll %s: %zu video%s done, %zu failed\n", command_.c_str(), done.size(), done.size() == 1 ? "" : "s",
                failed.size());
    const nlohmann::json manifest = {
        {"tool", "attnroll " ATTNROLL_TOOL_VERSION},
        {"library", std::string("libattnroll ") + attnroll_version_string()},
        {"command", command_},
        {"command_line", command_line()},
        {"options", options_},
        {"inputs", inputs_},
        {"outputs", outputs_},
        {"videos", videos_},
    };
    // A run that wrote nothing creates no folder just for its manifest.
    if (done.empty() && !std::filesystem::is_directory(std::filesystem::path(manifest_path).parent_path()))
        return failed.empty() ? 0 : 1;
    const std::string text = manifest.dump(1) + "\n";
    write_file_atomic(manifest_path, text.data(), text.size(), true);
    return failed.empty() ? 0 : 1;
}

}  // namespace cli
