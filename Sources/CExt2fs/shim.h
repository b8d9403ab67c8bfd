// libext2fs (Debian's libext2fs-dev), found with pkg-config "ext2fs". Only CExt2Reader's C
// code uses it; Swift sees the opaque API in CExt2Reader/include/ext2_reader.h instead.
#pragma once
#include <et/com_err.h>
#include <ext2fs/ext2fs.h>
