// Unit tests of the tool's file-name rules (dump_layout.hpp, temp_owner in
// io/atomic_file.hpp): hand cases in the users' spellings, then 200,000
// names assembled at random from the names' own pieces, each parsed by the
// tool and by std::regex with the documented pattern (the oracle: what the
// names mean, written the obvious slow way), which must agree on every field
// and on every refusal.
// Usage: test_names

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstdio>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "cli_error.hpp"
#include "dump_layout.hpp"
#include "io/atomic_file.hpp"

namespace {

int g_passed = 0, g_failed = 0;

void check(bool ok, const std::string &what, int line) {
    if (ok) {
        ++g_passed;
    } else {
        ++g_failed;
        std::fprintf(stderr, "test_names.cpp:%d: FAILED: %s\n", line, what.c_str());
    }
}
#define CHECK(cond, what) check((cond), (what), __LINE__)

std::string window_text(const std::string &vid, long first, long last, long layer) {
    return "vid=" + vid + " " + std::to_string(first) + "-" + std::to_string(last) + " layer " + std::to_string(layer);
}

// What a parse gave: no match, a match (its fields), or an error (a number
// too large), as one comparable string.
template <class Name, class Parse, class Describe>
std::string tool_result(const std::string &name, Parse parse, Describe describe) {
    Name fields;
    try {
        if (!parse(name, fields)) return "none";
    } catch (const cli::Error &e) {
        return std::string("error ") + e.what();
    }
    return describe(fields);
}

std::string spatial_tool(const std::string &name) {
    return tool_result<cli::SpatialLayerName>(name, cli::parse_spatial_layer_name, [](const cli::SpatialLayerName &s) {
        return window_text(s.vid, s.first, s.last, s.layer) + (s.collapsed ? " collapsed" : "") + (s.npy ? " npy" : " npz");
    });
}

std::string temporal_tool(const std::string &name) {
    return tool_result<cli::TemporalLayerName>(name, cli::parse_temporal_layer_name, [](const cli::TemporalLayerName &t) {
        return window_text(t.vid, t.first, t.last, t.layer);
    });
}

std::string index_tool(const std::string &layer) {
    try {
        return std::to_string(cli::self_attention_index(layer));
    } catch (const cli::Error &e) {
        return std::string("error ") + e.what();
    }
}

// The oracle's numbers: digits that fit a long, or the tool's message.
bool fits(const std::string &digits, long &value) {
    errno = 0;
    char *end = nullptr;
    const unsigned long long v = std::strtoull(digits.c_str(), &end, 10);
    if (errno == ERANGE || v > static_cast<unsigned long long>(LONG_MAX)) return false;
    value = static_cast<long>(v);
    return true;
}

// The oracle for a layer file name: `re` with groups 1-4 the video id, the
// frames and the layer; "none", the fields (and `extra` of the match), or
// the error for the first number too large.
template <class Extra>
std::string window_oracle(const std::regex &re, const std::string &name, Extra extra) {
    std::smatch m;
    if (!std::regex_match(name, m, re)) return "none";
    long n[3];
    const char *what[3] = {"frame number", "frame number", "layer number"};
    for (int i = 0; i < 3; ++i)
        if (!fits(m[i + 2], n[i])) return "error " + name + ": " + what[i] + " " + m[i + 2].str() + " is too large";
    return window_text(m[1].str(), n[0], n[1], n[2]) + extra(m);
}

std::string spatial_oracle(const std::string &name) {
    static const std::regex re(
        R"(^video_(.+)_frames(\d+)-(\d+)_(?:backbone_vit_layer_|layer_backbone_vit_module_blocks_)(\d+)_attn(_collapsed)?\.(npz|npy)$)");
    return window_oracle(re, name, [](const std::smatch &m) {
        return std::string(m[5].matched ? " collapsed" : "") + (m[6] == "npy" ? " npy" : " npz");
    });
}

std::string temporal_oracle(const std::string &name) {
    static const std::regex re(R"(^video_(.+)_frames(\d+)-(\d+)_refiner_temporal_layer_(\d+)_attn\.npz$)");
    return window_oracle(re, name, [](const std::smatch &) { return std::string(); });
}

std::string index_oracle(const std::string &layer) {
    static const std::regex re(R"(self_attention_layers\.(\d+))");
    std::smatch m;
    if (!std::regex_search(layer, m, re)) return "-1";
    long n = 0;
    if (!fits(m[1], n)) return "error layer '" + layer + "': index " + m[1].str() + " is too large";
    return std::to_string(n);
}

long temp_oracle(const std::string &name) {
    static const std::regex re(R"(^\..+\.tmp-([0-9]{1,9})-[0-9]+(\.[A-Za-z0-9]{6})?$)");
    std::smatch m;
    return std::regex_match(name, m, re) ? std::stol(m[1].str()) : -1;
}

void hand_cases() {
    CHECK(spatial_tool("video_12_frames0-31_backbone_vit_layer_23_attn.npz") == "vid=12 0-31 layer 23 npz",
          "the users' spatial name");
    CHECK(spatial_tool("video_a_b_frames32-63_layer_backbone_vit_module_blocks_0_attn_collapsed.npy") ==
              "vid=a_b 32-63 layer 0 collapsed npy",
          "the older spelling, collapsed, .npy");
    CHECK(spatial_tool("video_x_frames1-2_backbone_vit_layer_3_attn.npz_frames4-5_backbone_vit_layer_6_attn.npz") ==
              "vid=x_frames1-2_backbone_vit_layer_3_attn.npz 4-5 layer 6 npz",
          "the video id is everything in front of the last window");
    CHECK(spatial_tool("video_v_frames007-010_backbone_vit_layer_02_attn.npz") == "vid=v 7-10 layer 2 npz",
          "leading zeros");
    CHECK(spatial_tool("video__frames0-1_backbone_vit_layer_2_attn.npz") == "none", "an empty video id is no match");
    CHECK(spatial_tool("video_a\nb_frames0-1_backbone_vit_layer_2_attn.npz") == "none", "a line break in the id");
    CHECK(spatial_tool("video_v_frames0-1_backbone_vit_layer_2_collapsed.npz") == "none", "_collapsed without _attn");
    CHECK(spatial_tool("video_v_frames0-1_backbone_vit_layer__attn.npz") == "none", "no layer number");
    CHECK(spatial_tool("video_v_frames0-99999999999999999999_backbone_vit_layer_1_attn.npz") ==
              "error video_v_frames0-99999999999999999999_backbone_vit_layer_1_attn.npz: frame number "
              "99999999999999999999 is too large",
          "a frame number too large names the file");
    CHECK(temporal_tool("video_3_frames0-63_refiner_temporal_layer_1_attn.npz") == "vid=3 0-63 layer 1",
          "the users' temporal name");
    CHECK(temporal_tool("video_3_frames0-63_refiner_temporal_layer_1_attn.npy") == "none", "temporal is .npz only");
    CHECK(index_tool("refiner.self_attention_layers.x.self_attention_layers.12.attn") == "12",
          "the first self_attention_layers.<digits>");
    CHECK(index_tool("cross_attention_layers.3") == "-1", "no self-attention index");
    CHECK(cli::temp_owner(".out.npz.tmp-4242-7") == 4242, "our temporary name");
    CHECK(cli::temp_owner(".out.npz.tmp-4242-7.aZ09xy") == 4242, "libzip's temporary name beside it");
    CHECK(cli::temp_owner(".out.npz.tmp-1234567890-7") == -1, "a pid of 10 digits is not ours");
    CHECK(cli::temp_owner("out.npz.tmp-4242-7") == -1, "not hidden");
    CHECK(cli::temp_owner("..tmp-4242-7") == -1, "no name in front");
}

// Names assembled from the pieces the patterns are made of: one of the
// names' skeletons with its fields filled (mostly with what belongs there),
// then a few pieces inserted anywhere, so that many come close to matching
// and many do.
std::string random_name(std::mt19937 &rng) {
    static const std::vector<std::string> pieces = {
        "video_", "_frames", "0", "7", "12", "007", "99999999999999999999", "-", "_", ".", "a", "x_y",
        "_backbone_vit_layer_", "_layer_backbone_vit_module_blocks_", "_refiner_temporal_layer_", "_attn",
        "_collapsed", ".npz", ".npy", "\n", "self_attention_layers.", ".tmp-", "123456789", "1234567890",
        ".aZ09xy", ".a-b", "Z"};
    static const std::vector<std::string> numbers = {"0", "7", "12", "007", "123456789", "99999999999999999999"};
    static const std::vector<std::string> texts = {"a", "x_y", "_frames0-1", "Z.b", "video_"};
    // Each skeleton: literals, with a field after each ('#' a number, '*' text, ' ' none).
    static const std::vector<std::vector<std::pair<std::string, char>>> skeletons = {
        {{"video_", '*'}, {"_frames", '#'}, {"-", '#'}, {"_backbone_vit_layer_", '#'}, {"_attn", ' '}, {".npz", ' '}},
        {{"video_", '*'}, {"_frames", '#'}, {"-", '#'}, {"_layer_backbone_vit_module_blocks_", '#'},
         {"_attn_collapsed", ' '}, {".npy", ' '}},
        {{"video_", '*'}, {"_frames", '#'}, {"-", '#'}, {"_refiner_temporal_layer_", '#'}, {"_attn.npz", ' '}},
        {{"refiner.", '*'}, {"self_attention_layers.", '#'}, {".attn", ' '}},
        {{".", '*'}, {".tmp-", '#'}, {"-", '#'}, {"", ' '}},
        {{".", '*'}, {".tmp-", '#'}, {"-", '#'}, {".aZ09xy", ' '}},
    };
    std::uniform_int_distribution<size_t> pick(0, pieces.size() - 1);
    std::string name;
    for (const auto &part : skeletons[rng() % skeletons.size()]) {
        name += part.first;
        if (part.second == ' ') continue;
        const auto &fill = part.second == '#' ? numbers : texts;
        for (size_t i = 1 + rng() % 2; i > 0; --i) name += rng() % 8 ? fill[rng() % fill.size()] : pieces[pick(rng)];
    }
    for (size_t i = rng() % 4 == 0 ? 1 + rng() % 3 : 0; i > 0; --i)
        name.insert(rng() % (name.size() + 1), pieces[pick(rng)]);
    return name;
}

void random_cases() {
    std::mt19937 rng(20261202);
    long matched = 0;
    int reported = 0;
    for (int i = 0; i < 200000; ++i) {
        const std::string name = random_name(rng);
        const std::string s = spatial_tool(name), so = spatial_oracle(name);
        const std::string t = temporal_tool(name), to = temporal_oracle(name);
        const std::string k = index_tool(name), ko = index_oracle(name);
        const long p = cli::temp_owner(name), po = temp_oracle(name);
        matched += (so != "none") + (to != "none") + (ko != "-1") + (po != -1);
        const bool same = s == so && t == to && k == ko && p == po;
        if (!same && reported++ < 10)
            std::fprintf(stderr, "name '%s': spatial %s | %s; temporal %s | %s; index %s | %s; temp %ld | %ld\n",
                         name.c_str(), s.c_str(), so.c_str(), t.c_str(), to.c_str(), k.c_str(), ko.c_str(), p, po);
        g_failed += !same;
        g_passed += same;
    }
    std::printf("random names: %ld matches in 200000 names, each against the oracle\n", matched);
    // The generator must reach the matches, or the comparison proves little.
    CHECK(matched > 50000, "random names: " + std::to_string(matched) + " matches in 200000 names");
}

}  // namespace

int main() {
    hand_cases();
    random_cases();
    std::printf("test_names: %d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
