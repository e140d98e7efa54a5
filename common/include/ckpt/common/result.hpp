#pragma once
/// Result<T>: the control path's return type, an expected-style value or error (C++20 has no
/// std::expected). The error carries the SA code and a sentence saying what exactly was wrong.
#include "ckpt/common/error.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace ckpt {

/// Aborts with file and line: for broken contracts, never for bad input.
#define CKPT_ENFORCE(cond, msg)                                                                                        \
    do {                                                                                                               \
        if (!(cond)) [[unlikely]] {                                                                                    \
            std::fprintf(stderr, "%s:%d: contract violated: %s (%s)\n", __FILE__, __LINE__, #cond, msg);               \
            std::abort();                                                                                              \
        }                                                                                                              \
    } while (0)

struct Failure {
    Error code;
    std::string message; ///< what was wrong, in words; includes names and values
};

/// Builds a Failure; `fail(Error::kExist, "checkpoint 'x' exists with other attributes")`.
inline Failure fail(Error code, std::string message) {
    return Failure{code, std::move(message)};
}

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    Result(Failure f) : v_(std::in_place_index<1>, std::move(f)) {}

    bool ok() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    T& value() & { return check(), std::get<0>(v_); }
    const T& value() const& { return check(), std::get<0>(v_); }
    T&& value() && { return check(), std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }

    const Failure& failure() const {
        CKPT_ENFORCE(!ok(), "failure() on a success");
        return std::get<1>(v_);
    }
    Error error() const { return failure().code; }
    const std::string& message() const { return failure().message; }

private:
    void check() const {
        if (!ok()) {
            std::fprintf(stderr, "value() on a failed Result: %s\n", std::get<1>(v_).message.c_str());
            std::abort();
        }
    }
    std::variant<T, Failure> v_;
};

struct Ok {};

/// Result of a call that only succeeds or fails.
class [[nodiscard]] Status : public Result<Ok> {
public:
    Status() : Result<Ok>(Ok{}) {}
    Status(Failure f) : Result<Ok>(std::move(f)) {}
};

/// `CKPT_TRY(x, expr)`: evaluates a Result, returns its failure from the enclosing function.
#define CKPT_TRY_ASSIGN(var, expr)                                                                                     \
    auto var##_result_ = (expr);                                                                                       \
    if (!var##_result_.ok()) return var##_result_.failure();                                                           \
    auto var = std::move(var##_result_).value()

#define CKPT_TRY(expr)                                                                                                 \
    do {                                                                                                               \
        auto try_result_ = (expr);                                                                                     \
        if (!try_result_.ok()) return try_result_.failure();                                                           \
    } while (0)

} // namespace ckpt
