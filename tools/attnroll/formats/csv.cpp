#include "formats/csv.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <system_error>

namespace cli {

std::string python_float_text(double value) {
    if (std::isnan(value)) return "nan";
    if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
    // The shortest digits that read back to the value, as "d.ddde±XX".
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
    const std::string sci(buf, res.ptr);
    const size_t e = sci.find('e');
    std::string mantissa = sci.substr(0, e);
    const int exponent = std::atoi(sci.c_str() + e + 1);
    std::string sign;
    if (mantissa[0] == '-') {
        sign = "-";
        mantissa.erase(0, 1);
    }
    std::string digits;
    for (const char c : mantissa)
        if (c != '.') digits += c;
    // Python: fixed notation for -4 <= exponent < 16, else scientific.
    if (exponent < -4 || exponent >= 16) {
        std::string out = sign + digits.substr(0, 1);
        if (digits.size() > 1) out += "." + digits.substr(1);
        char exp_text[16];
        std::snprintf(exp_text, sizeof exp_text, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
        return out + exp_text;
    }
    const int point = exponent + 1;  // digits before the decimal point
    std::string whole, fraction;
    if (point <= 0) {
        whole = "0";
        fraction = std::string(static_cast<size_t>(-point), '0') + digits;
    } else if (static_cast<size_t>(point) >= digits.size()) {
        whole = digits + std::string(static_cast<size_t>(point) - digits.size(), '0');
    } else {
        whole = digits.substr(0, static_cast<size_t>(point));
        fraction = digits.substr(static_cast<size_t>(point));
    }
    return sign + whole + "." + (fraction.empty() ? "0" : fraction);
}

std::string column_csv(const std::vector<double> &values, const std::string &value_header) {
    std::string text = "column_index," + value_header + "\n";
    for (size_t j = 0; j < values.size(); ++j) text += std::to_string(j) + "," + python_float_text(values[j]) + "\n";
    return text;
}

}  // namespace cli
