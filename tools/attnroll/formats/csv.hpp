// The two-column CSVs the plot script writes with pandas: a header
// "column_index,<value_header>", then "index,value" per column, '\n' line
// ends.  Values are written as Python writes a float64 (its shortest
// round-trip repr: 0.5, 1.0, 1e-05), so the text is the scripts' own.
#pragma once

#include <string>
#include <vector>

namespace cli {

// Python's repr(float(value)).
std::string python_float_text(double value);
std::string column_csv(const std::vector<double> &values, const std::string &value_header);

}  // namespace cli
