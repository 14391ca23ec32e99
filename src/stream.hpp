// The streaming rollout behind the opaque attnroll_stream.
#pragma once

#include <cstdint>
#include <memory>

#include "attnroll.h"
#include "config.hpp"
#include "tensor.hpp"

struct attnroll_stream {
    virtual ~attnroll_stream() = default;
    virtual void push(const attnroll_tensor *layer, const attnroll_tensor *grad) = 0;
    virtual void result(const attnroll_tensor *out) = 0;
    virtual int64_t layers_pushed() const = 0;
    virtual int64_t bytes_held() const = 0;
};

namespace attnroll {
std::unique_ptr<attnroll_stream> make_stream(const attnroll_config *config, int64_t frames,
                                             int64_t tokens, int32_t dtype);
}
