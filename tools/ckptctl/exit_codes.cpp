#include "exit_codes.hpp"

#include <iostream>
#include <string>

namespace ckpt::tools {

int report_failure(const Failure& f) {
    // The SA name after the words lets an operator look the code up in the spec or in a script's log.
    std::cerr << "ckptctl: " << f.message << " (" << error_name(f.code) << ")\n";
    return f.code == Error::kUnavailable ? kExitNoEngine : kExitError;
}

int report_error(std::string_view message, int exit_code) {
    std::cerr << "ckptctl: " << message << '\n';
    return exit_code;
}

} // namespace ckpt::tools
