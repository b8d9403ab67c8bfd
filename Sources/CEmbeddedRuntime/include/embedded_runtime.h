// Platform functions the Embedded Swift stdlib calls but does not define; linked into the
// worker binaries only (the full runtime in runner-metrics has its own).
#pragma once

/// Double(String): converts the decimal number at `nptr`, stores it in *result and returns
/// where the conversion stopped.
const char *_swift_stdlib_strtod_clocale(const char *nptr, double *result);
