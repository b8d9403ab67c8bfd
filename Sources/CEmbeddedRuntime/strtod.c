// The one platform function the Embedded Swift stdlib leaves to the program: the conversion
// behind Double(String). The decoder only passes lexemes that already passed the RFC 8259
// number grammar (NumberParsing.swift), so this is plain correctly rounded decimal conversion.
// The worker never calls setlocale, so strtod runs in the "C" locale ('.' as decimal point),
// which is what the non-Embedded runtime's version pins explicitly; overflow gives +-HUGE_VAL
// (infinity) and underflow 0 or a subnormal, as there.
#include "embedded_runtime.h"
#include <stdlib.h>

const char *_swift_stdlib_strtod_clocale(const char *nptr, double *result) {
    char *end = NULL;
    *result = strtod(nptr, &end);
    return end;
}
