// PNG heat maps through libpng: viridis colours, a colour bar with its tick
// values, axis ticks and labels, titles in a small built-in bitmap font, and
// contact sheets of several maps.  Files are
// written atomically (see write_file_atomic) and refused if present unless
// `force`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cli {

struct HeatmapStyle {
    int cell = 8;               // pixels per matrix element (>= 1)
    bool colour_bar = true;     // a vertical viridis bar to the right, labelled min and max
    bool ticks = false;         // numbered ticks every `tick_step` rows/columns (frame ticks)
    int tick_step = 5;
    std::string title;          // drawn above in the small font, may be empty; '\n' starts a line
    std::string x_label;        // drawn centred under the map (and its ticks), may be empty
    std::string y_label;        // drawn left of the map, one letter under the other, may be empty
};

// values: rows x cols, row-major.  Colours map [min, max] of the finite
// values onto viridis (a constant map is drawn in the lowest colour).
void write_heatmap(const std::string &path, const float *values, int rows, int cols,
                   const HeatmapStyle &style, bool force);

// Several maps of the same rows x cols side by side in a grid (as square as
// possible), each scaled on its own, with its index written under it.
void write_contact_sheet(const std::string &path, const std::vector<const float *> &maps, int rows,
                         int cols, int cell, bool force);

// A line plot: one line per series (series[k][i] is the value at x = x0 + i;
// all series the same length >= 1), coloured along viridis, on axes from
// x0 to the last x and from 0 to the largest finite value, with numbered
// ticks, the axis labels and a title ('\n' starts a line).
void write_line_plot(const std::string &path, const std::vector<std::vector<double>> &series, long x0,
                     const std::string &title, const std::string &x_label, const std::string &y_label,
                     bool force);

// Encodes 8-bit RGB pixels (width*height*3) as PNG bytes.
std::vector<unsigned char> encode_png(const std::vector<unsigned char> &rgb, int width, int height);

}  // namespace cli
