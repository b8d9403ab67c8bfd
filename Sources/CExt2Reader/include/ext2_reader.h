// Reads the runner's four metric files out of an ext4 image FILE in userspace with libext2fs,
// so a crafted filesystem meets only the sandboxed worker, never the host kernel's ext4 driver.
//
// The image is read through an already-open descriptor with pread only: the io_manager below
// never opens anything by name and refuses every write. libext2fs types stay behind an opaque
// handle, so Swift imports only this header.
//
// Single-threaded, no threads started, no signals, no global state apart from constant tables:
// safe to call in a forked child. All memory comes from malloc (libext2fs's ext2fs_get_mem).
#pragma once
#include <stddef.h>

/// An open, read-only view of one image. Freed by rm_ext2_close.
typedef struct rm_ext2_image rm_ext2_image;

/// Outcomes. 0 is success; the others are distinct refusals.
enum {
    RM_EXT2_OK = 0,
    /// No entry of that name in the root directory.
    RM_EXT2_ABSENT = 1,
    /// The inode is not a regular file; *why is its type bits (mode & 0170000).
    RM_EXT2_NOT_REGULAR = 2,
    /// A regular file whose link count is not 1; *why is the link count.
    RM_EXT2_LINK_COUNT = 3,
    /// More than `limit` bytes (by i_size, or by bytes actually read); *why is the size seen.
    RM_EXT2_TOO_LARGE = 4,
    /// Inconsistent metadata (bad superblock, checksum, extent tree, reserved inode, duplicate
    /// names, inline-data/extent flags without the feature...); *why is the ext2fs error code or 0.
    RM_EXT2_CORRUPT = 5,
    /// A feature this reader does not read (unknown or refused incompat/ro_compat bits,
    /// encryption, casefold, journal device); *why is the offending feature bits.
    RM_EXT2_UNSUPPORTED = 6,
    /// The journal says it needs recovery; reading without replaying it could show a mix of
    /// old and new metadata, and the reader never replays. *why is 0.
    RM_EXT2_NEEDS_RECOVERY = 7,
    /// pread failed or the image ended early; *why is the ext2fs error code (errno-valued
    /// codes are the errno).
    RM_EXT2_IO = 8,
    /// Bad argument from the caller (descriptor < 0, NULL pointers, name too long).
    RM_EXT2_INVALID = 9,
};

/// Opens the filesystem in the image on `fd` (not closed by this library, never written).
/// Read-only, EXT2_FLAG_64BITS, no journal replay, checksums enforced. On success stores the
/// handle in *image and returns RM_EXT2_OK; otherwise returns a code above and sets *why.
int rm_ext2_open(int fd, rm_ext2_image **image, long *why);

/// Looks `name` up in the root directory only (no path walking, no symlink following) and
/// reads it: at most `cap` bytes into `buf`, *len set to the count. `limit` is the largest
/// acceptable file size (cap should be limit + 1, so growth is seen on the bytes read too).
int rm_ext2_read_file(rm_ext2_image *image, const char *name, size_t limit,
                      unsigned char *buf, size_t cap, size_t *len, long *why);

/// Frees everything; never writes. Accepts NULL.
void rm_ext2_close(rm_ext2_image *image);
