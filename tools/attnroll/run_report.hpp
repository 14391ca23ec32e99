// What a run did, video by video: the summary printed at the end and the run
// manifest (attnroll_run.json), written atomically after everything else.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cli {

// The whole command line, recorded by main() for the manifest.
void remember_command_line(int argc, char **argv);

class RunReport {
public:
    // `command` ("spatial"), its options as they were understood.
    RunReport(std::string command, nlohmann::json options);

    // An input file: its size and modification time go into the manifest.
    void input(const std::string &path);
    void video_done(const std::string &video, const std::vector<std::string> &outputs, const std::string &note);
    void video_failed(const std::string &video, const std::string &reason);
    bool any_failed() const;

    // Prints "wrote ..." for every output, then the summary lines (videos
    // done, videos failed with their reasons) on stdout, and writes the
    // manifest to `manifest_path` (replacing an older one; not when nothing
    // was done and its folder does not exist).  Returns the exit
    // status: 0, or 1 when a video failed.
    int finish(const std::string &manifest_path) const;

private:
    std::string command_;
    nlohmann::json options_;
    nlohmann::json inputs_ = nlohmann::json::array();
    nlohmann::json videos_ = nlohmann::json::array();
    std::vector<std::string> outputs_;
};

}  // namespace cli
