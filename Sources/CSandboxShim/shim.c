#include "sandbox_shim.h"
